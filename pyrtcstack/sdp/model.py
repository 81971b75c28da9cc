"""The SDP data model (RFC 8866 §5) with typed accessors for what WebRTC uses.

A :class:`SessionDescription` keeps every line of the text it was parsed from: the fixed
``v= o= s= i= u= e= p= c= b= t= r= z= k=`` fields as typed values, and every ``a=`` line
as an :class:`Attribute` (name, raw value) *in order*, known or not. Typed accessors
(``media.mid``, ``media.candidates``, ``media.codecs()``...) read those attributes, so
writing back (``str(desc)``) loses nothing and the model has one source of truth.

Session-level values that apply to every media section (ICE credentials, fingerprints,
setup, connection, direction) are reachable as ``media.effective_*(desc)``.

**Linear work.** Each accessor scans the attribute lines it needs once. Code that visits
every media section must not rescan the session level (or every section) per section: it
takes ``level = desc.defaults()`` once (a :class:`SessionDefaults` snapshot) and passes it
to ``media.effective_*(level)`` / ``media.codecs(level)``, and looks sections and BUNDLE
groups up by mid with ``desc.mid_index()`` / ``desc.bundle_group_index()``. A payload
format collects at most :data:`MAX_FEEDBACK_PER_CODEC` ``a=rtcp-fb`` entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pyrtcstack.sdp.attributes import (
    DIRECTIONS,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    Msid,
    Rid,
    Rtcp,
    RtcpFeedback,
    RtpMap,
    SctpMap,
    SsrcAttribute,
    SsrcGroup,
    parse_fmtp_parameters,
)
from pyrtcstack.sdp.candidate import Candidate

__all__ = [
    "MAX_FEEDBACK_PER_CODEC",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Codec",
    "Connection",
    "FeedbackIndex",
    "MediaDescription",
    "Origin",
    "SessionDefaults",
    "SessionDescription",
    "Timing",
]

#: ``a=rtcp-fb`` entries one payload format collects (its own, ``*`` and session-level
#: ones); real peers send at most 6 (nack, nack pli, ccm fir, goog-remb, transport-cc,
#: rrtr). Without a cap, N wildcard lines × N formats would be quadratic work and output.
MAX_FEEDBACK_PER_CODEC = 64

#: RFC 3551 §6 static payload types: pt → (encoding, clock rate, channels).
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, None),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, None),
    26: ("JPEG", 90000, None),
    28: ("nv", 90000, None),
    31: ("H261", 90000, None),
    32: ("MPV", 90000, None),
    33: ("MP2T", 90000, None),
    34: ("H263", 90000, None),
}


@dataclass(slots=True)
class Attribute:
    """One ``a=`` line: ``a=<name>`` (a flag, ``value is None``) or ``a=<name>:<value>``.

    The value is kept exactly as written (RFC 8866 §5.13), including leading spaces.
    """

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`` (§5.2)."""

    username: str = "-"
    session_id: int = 0
    session_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>`` (§5.7); multicast ``/ttl/count`` stay in address."""

    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (§5.8): ``AS``/``CT`` in kbit/s, ``TIAS`` (RFC 3890) in bit/s."""

    type: str
    value: int

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(slots=True)
class Timing:
    """``t=<start> <stop>`` (§5.9) and its ``r=`` repeat lines (§5.10), kept as text."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Codec:
    """One RTP payload format of a media section: rtpmap + fmtp + rtcp-fb together."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    feedback: list[RtcpFeedback] = field(default_factory=list)
    fmtp: str | None = None  #: the raw fmtp parameters, when there is an ``a=fmtp`` line

    @property
    def mime_type(self) -> str:
        return self.name.lower()


class _HasAttributes:
    """Attribute look-up shared by session and media level."""

    __slots__ = ()
    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=<name>`` (``None`` if absent or a flag)."""
        for a in self.attributes:
            if a.name == name:
                return a.value
        return None

    def has_attribute(self, name: str) -> bool:
        # a plain loop, not any(): no generator resumed per attribute (setup CPU)
        for a in self.attributes:  # noqa: SIM110
            if a.name == name:
                return True
        return False

    def attribute_values(self, name: str) -> list[str]:
        """Values of every ``a=<name>:<value>`` line, in order."""
        return [a.value for a in self.attributes if a.name == name and a.value is not None]

    def add_attribute(self, name: str, value: object = None) -> None:
        """Append ``a=<name>[:<value>]``; ``value`` is written with ``str()``."""
        self.attributes.append(Attribute(name, None if value is None else str(value)))

    def set_attribute(self, name: str, value: object = None) -> None:
        """Replace every ``a=<name>`` by one line at the first one's place (or append)."""
        new = Attribute(name, None if value is None else str(value))
        for i, a in enumerate(self.attributes):
            if a.name == name:
                self.attributes[i] = new
                self.attributes[i + 1 :] = [b for b in self.attributes[i + 1 :] if b.name != name]
                return
        self.attributes.append(new)

    def remove_attribute(self, name: str) -> None:
        self.attributes[:] = [a for a in self.attributes if a.name != name]

    # Typed accessors valid at both levels.
    @property
    def direction(self) -> str | None:
        """The explicit direction attribute (RFC 8866 §6.7), or ``None``."""
        for a in self.attributes:
            if a.name in DIRECTIONS:
                return a.name
        return None

    @property
    def ice_ufrag(self) -> str | None:
        return self.attribute("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        return self.attribute("ice-pwd")

    @property
    def ice_options(self) -> list[str]:
        """``a=ice-options`` tokens (RFC 8839 §5.6), e.g. ``["trickle"]``."""
        return [t for v in self.attribute_values("ice-options") for t in v.split()]

    @property
    def ice_lite(self) -> bool:
        return self.has_attribute("ice-lite")

    @property
    def fingerprints(self) -> list[Fingerprint]:
        return [Fingerprint.parse(v) for v in self.attribute_values("fingerprint")]

    @property
    def setup(self) -> str | None:
        return self.attribute("setup")

    @property
    def extmaps(self) -> list[ExtMap]:
        return [ExtMap.parse(v) for v in self.attribute_values("extmap")]

    @property
    def extmap_allow_mixed(self) -> bool:
        return self.has_attribute("extmap-allow-mixed")

    @property
    def end_of_candidates(self) -> bool:
        return self.has_attribute("end-of-candidates")


@dataclass(slots=True)
class FeedbackIndex:
    """The ``a=rtcp-fb`` lines of one level, by payload type, each list capped at
    :data:`MAX_FEEDBACK_PER_CODEC` and kept with its line position (for the written order)."""

    specific: dict[str, list[tuple[int, RtcpFeedback]]] = field(default_factory=dict)
    wildcard: list[tuple[int, RtcpFeedback]] = field(default_factory=list)

    @classmethod
    def of(cls, attributes: list[Attribute]) -> FeedbackIndex:
        index = cls()
        for position, a in enumerate(attributes):
            if a.name != "rtcp-fb" or a.value is None:
                continue
            fb = RtcpFeedback.parse(a.value)
            bucket = (
                index.wildcard
                if fb.payload_type == "*"
                else index.specific.setdefault(fb.payload_type, [])
            )
            if len(bucket) < MAX_FEEDBACK_PER_CODEC:
                bucket.append((position, fb))
        return index

    def for_format(self, fmt: str) -> list[RtcpFeedback]:
        """The lines for ``fmt`` or ``*``, in the order written, at most the cap."""
        merged = sorted(self.specific.get(fmt, []) + self.wildcard, key=lambda e: e[0])
        return [fb for _, fb in merged[:MAX_FEEDBACK_PER_CODEC]]


@dataclass(slots=True)
class MediaDescription(_HasAttributes):
    """One ``m=`` section (RFC 8866 §5.14) and the lines under it."""

    kind: str  #: audio | video | application | text | message | image ...
    port: int
    protocol: str
    formats: list[str]
    port_count: int | None = None
    information: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    # ---- identification and direction
    @property
    def mid(self) -> str | None:
        """``a=mid`` (RFC 5888 §4)."""
        return self.attribute("mid")

    @property
    def rejected(self) -> bool:
        """Port 0 without ``a=bundle-only`` (RFC 3264 §6, RFC 9143 §6)."""
        return self.port == 0 and not self.bundle_only

    @property
    def bundle_only(self) -> bool:
        return self.has_attribute("bundle-only")

    @property
    def connection(self) -> Connection | None:
        return self.connections[0] if self.connections else None

    # ---- ICE
    @property
    def candidates(self) -> list[Candidate]:
        return [Candidate.parse(v) for v in self.attribute_values("candidate")]

    def add_candidate(self, candidate: Candidate) -> None:
        self.attributes.append(Attribute("candidate", candidate.value))

    # ---- RTP
    @property
    def rtpmaps(self) -> list[RtpMap]:
        return [RtpMap.parse(v) for v in self.attribute_values("rtpmap")]

    @property
    def fmtps(self) -> list[Fmtp]:
        return [Fmtp.parse(v) for v in self.attribute_values("fmtp")]

    @property
    def rtcp_feedback(self) -> list[RtcpFeedback]:
        return [RtcpFeedback.parse(v) for v in self.attribute_values("rtcp-fb")]

    @property
    def rtcp_mux(self) -> bool:
        return self.has_attribute("rtcp-mux")

    @property
    def rtcp_rsize(self) -> bool:
        return self.has_attribute("rtcp-rsize")

    @property
    def rtcp(self) -> Rtcp | None:
        value = self.attribute("rtcp")
        return None if value is None else Rtcp.parse(value)

    @property
    def msids(self) -> list[Msid]:
        return [Msid.parse(v) for v in self.attribute_values("msid")]

    @property
    def ssrc_attributes(self) -> list[SsrcAttribute]:
        return [SsrcAttribute.parse(v) for v in self.attribute_values("ssrc")]

    @property
    def ssrcs(self) -> list[int]:
        """Distinct SSRCs named by ``a=ssrc`` lines, first-seen order."""
        return list(dict.fromkeys(s.ssrc for s in self.ssrc_attributes))

    @property
    def ssrc_groups(self) -> list[SsrcGroup]:
        return [SsrcGroup.parse(v) for v in self.attribute_values("ssrc-group")]

    @property
    def rids(self) -> list[Rid]:
        return [Rid.parse(v) for v in self.attribute_values("rid")]

    @property
    def simulcast(self) -> str | None:
        """The raw ``a=simulcast`` value (RFC 8853 §5.1)."""
        return self.attribute("simulcast")

    def codecs(self, session: SessionDescription | SessionDefaults | None = None) -> list[Codec]:
        """The payload formats of an RTP section, in ``m=`` order (RFC 8866 §6.6, §6.15).

        Each joins its ``a=rtpmap`` (or the RFC 3551 static table), ``a=fmtp`` and the
        ``a=rtcp-fb`` lines for its payload type or ``*`` (at most
        :data:`MAX_FEEDBACK_PER_CODEC`); session-level ``rtcp-fb`` lines apply when
        ``session`` is given (pass ``desc.defaults()`` when calling this for every
        section). Non-numeric formats are skipped, and so is a format listed twice.
        One pass over the section's lines: linear in its size.
        """
        rtpmaps: dict[int, RtpMap] = {}
        fmtps: dict[str, str] = {}
        for a in self.attributes:
            if a.value is None:
                continue
            if a.name == "rtpmap":
                r = RtpMap.parse(a.value)
                rtpmaps.setdefault(r.payload_type, r)
            elif a.name == "fmtp":
                f = Fmtp.parse(a.value)
                fmtps.setdefault(f.format, f.parameters)
        own = FeedbackIndex.of(self.attributes)
        shared = None if session is None else session.feedback_index
        out = []
        seen: set[str] = set()
        for fmt in self.formats:
            if not (fmt.isascii() and fmt.isdigit()) or fmt in seen:
                continue
            seen.add(fmt)
            pt = int(fmt)
            rtpmap = rtpmaps.get(pt)
            if rtpmap is not None:
                name, clock, channels = rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels
            elif pt in STATIC_PAYLOAD_TYPES:
                name, clock, channels = STATIC_PAYLOAD_TYPES[pt]
            else:
                continue
            feedback = own.for_format(fmt)
            if shared is not None and len(feedback) < MAX_FEEDBACK_PER_CODEC:
                feedback += shared.for_format(fmt)[: MAX_FEEDBACK_PER_CODEC - len(feedback)]
            raw = fmtps.get(fmt)
            out.append(
                Codec(
                    pt,
                    name,
                    clock,
                    channels,
                    parse_fmtp_parameters(raw) if raw is not None else {},
                    feedback,
                    raw,
                )
            )
        return out

    # ---- data channels (RFC 8841)
    @property
    def sctp_port(self) -> int | None:
        value = self.attribute("sctp-port")
        return None if value is None else int(value)

    @property
    def max_message_size(self) -> int | None:
        value = self.attribute("max-message-size")
        return None if value is None else int(value)

    @property
    def sctpmap(self) -> SctpMap | None:
        value = self.attribute("sctpmap")
        return None if value is None else SctpMap.parse(value)

    # ---- effective values (media level, else session level)
    def effective_ice_ufrag(self, session: SessionDescription | SessionDefaults) -> str | None:
        """RFC 8839 §5.4: media-level ``ice-ufrag`` overrides the session-level one."""
        return self.ice_ufrag or session.ice_ufrag

    def effective_ice_pwd(self, session: SessionDescription | SessionDefaults) -> str | None:
        return self.ice_pwd or session.ice_pwd

    def effective_ice_options(self, session: SessionDescription | SessionDefaults) -> list[str]:
        return self.ice_options or session.ice_options

    def effective_ice_lite(self, session: SessionDescription | SessionDefaults) -> bool:
        return session.ice_lite or self.ice_lite

    def effective_fingerprints(
        self, session: SessionDescription | SessionDefaults
    ) -> list[Fingerprint]:
        """RFC 8122 §5: media-level fingerprints replace the session-level ones."""
        return self.fingerprints or session.fingerprints

    def effective_setup(self, session: SessionDescription | SessionDefaults) -> str | None:
        """RFC 4145 §4 / RFC 8842: media-level ``a=setup`` overrides the session one."""
        return self.setup or session.setup

    def effective_connection(
        self, session: SessionDescription | SessionDefaults
    ) -> Connection | None:
        """RFC 8866 §5.7: the media ``c=`` line, else the session one."""
        return self.connection or session.connection

    def effective_direction(self, session: SessionDescription | SessionDefaults) -> str:
        """RFC 8866 §6.7: media direction, else session direction, else ``sendrecv``."""
        return self.direction or session.direction or "sendrecv"

    def effective_extmap_allow_mixed(self, session: SessionDescription | SessionDefaults) -> bool:
        return self.extmap_allow_mixed or session.extmap_allow_mixed

    def effective_end_of_candidates(self, session: SessionDescription | SessionDefaults) -> bool:
        """RFC 8840 §4.1: session-level ``end-of-candidates`` applies to every section."""
        return self.end_of_candidates or session.end_of_candidates


@dataclass(frozen=True, slots=True)
class SessionDefaults:
    """The session-level values every media section inherits, read once
    (:meth:`SessionDescription.defaults`), so that visiting N sections costs N section
    scans and one session scan, not N session scans. It has the attribute names the
    ``media.effective_*`` helpers and ``media.codecs`` read from a session."""

    ice_ufrag: str | None
    ice_pwd: str | None
    ice_options: list[str]
    ice_lite: bool
    fingerprints: list[Fingerprint]
    setup: str | None
    connection: Connection | None
    direction: str | None
    extmap_allow_mixed: bool
    end_of_candidates: bool
    feedback_index: FeedbackIndex


@dataclass(slots=True)
class SessionDescription(_HasAttributes):
    """A whole SDP (RFC 8866 §5): session-level fields, attributes and media sections."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    time_zones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse SDP text (CRLF or LF; bytes must be UTF-8); see :mod:`pyrtcstack.sdp.parser`.

        Raises :class:`pyrtcstack.sdp.ParseError` with the line number and reason.
        """
        from pyrtcstack.sdp.parser import parse_session

        return parse_session(text)

    def __str__(self) -> str:
        """The SDP text, CRLF line endings, a CRLF after the last line (RFC 8866 §5)."""
        from pyrtcstack.sdp.writer import write_session

        return write_session(self)

    def defaults(self) -> SessionDefaults:
        """The session-level values the sections inherit, in one snapshot (see
        :class:`SessionDefaults`); take it again after changing the session level.

        One pass over the session's attributes gives what the typed accessors
        (``ice_ufrag``, ``fingerprints``, ``direction``, ...) read with a scan each: the
        same values (a setup takes a dozen snapshots)."""
        first: dict[str, str | None] = {}  # name -> the value of its first line
        options: list[str] = []
        prints: list[str] = []
        direction: str | None = None
        feedback = False
        for a in self.attributes:
            name = a.name
            value = a.value
            if name not in first:
                first[name] = value
                if direction is None and name in DIRECTIONS:
                    direction = name
            if value is not None:
                if name == "ice-options":
                    options.extend(value.split())
                elif name == "fingerprint":
                    prints.append(value)
                elif name == "rtcp-fb":
                    feedback = True
        return SessionDefaults(
            first.get("ice-ufrag"),
            first.get("ice-pwd"),
            options,
            "ice-lite" in first,
            [Fingerprint.parse(v) for v in prints],
            first.get("setup"),
            self.connection,
            direction,
            "extmap-allow-mixed" in first,
            "end-of-candidates" in first,
            FeedbackIndex.of(self.attributes) if feedback else FeedbackIndex(),
        )

    @property
    def feedback_index(self) -> FeedbackIndex:
        """Session-level ``a=rtcp-fb`` lines (they apply to every RTP section)."""
        return FeedbackIndex.of(self.attributes)

    def mid_index(self) -> dict[str, MediaDescription]:
        """``mid`` → the first section with it, in one pass (for loops over mids)."""
        index: dict[str, MediaDescription] = {}
        for m in self.media:
            mid = m.mid
            if mid is not None:
                index.setdefault(mid, m)
        return index

    def bundle_group_index(self) -> dict[str, Group]:
        """``mid`` → the first BUNDLE group naming it (RFC 9143 §7), in one pass."""
        index: dict[str, Group] = {}
        for g in self.bundle_groups:
            for mid in g.mids:
                index.setdefault(mid, g)
        return index

    @property
    def groups(self) -> list[Group]:
        return [Group.parse(v) for v in self.attribute_values("group")]

    @property
    def bundle_groups(self) -> list[Group]:
        return [g for g in self.groups if g.semantics == "BUNDLE"]

    @property
    def msid_semantic(self) -> str | None:
        return self.attribute("msid-semantic")

    def media_by_mid(self, mid: str) -> MediaDescription | None:
        """The first section with ``mid`` (one scan; use :meth:`mid_index` in loops)."""
        for m in self.media:
            if m.mid == mid:
                return m
        return None

    def bundle_group_of(self, mid: str) -> Group | None:
        """The BUNDLE group naming ``mid`` (RFC 9143 §7), if any (one scan; use
        :meth:`bundle_group_index` in loops)."""
        for g in self.bundle_groups:
            if mid in g.mids:
                return g
        return None

    def __iter__(self) -> Iterator[MediaDescription]:
        return iter(self.media)
