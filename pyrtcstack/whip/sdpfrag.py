"""SDP fragments for trickle ICE and ICE restarts over HTTP PATCH (RFC 8840 §9, the
``application/trickle-ice-sdpfrag`` media type, as RFC 9725 §4.3.1 uses it).

A fragment is a few SDP lines, no ``v=``/``o=``/``s=``/``t=``::

    a=ice-ufrag:EsAw                       session level: the ICE credentials
    a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
    m=audio 9 UDP/TLS/RTP/SAVPF 111        one m= line per section the candidates are for
    a=mid:0
    a=candidate:1 1 udp 2130706431 192.0.2.1 61764 typ host
    a=end-of-candidates

:func:`parse_sdpfrag` reads one (bounded by :data:`MAX_SDPFRAG_BYTES`, :data:`MAX_SDPFRAG_LINES`,
:data:`MAX_SDPFRAG_CANDIDATES`) into an :class:`SdpFrag`, raising :class:`SdpFragError` (a
:class:`~pyrtcstack.common.errors.ParseError`) on anything else; :meth:`SdpFrag.to_text`
writes one. Candidates are checked with :meth:`pyrtcstack.sdp.Candidate.parse`; lines
a fragment does not need (``a=ice-options``, ``a=group``, unknown attributes) are kept
out, as RFC 8840 §9 lets a receiver ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.errors import ParseError
from ..sdp import Candidate

__all__ = [
    "MAX_SDPFRAG_BYTES",
    "MAX_SDPFRAG_CANDIDATES",
    "MAX_SDPFRAG_LINES",
    "SDPFRAG_TYPE",
    "FragMedia",
    "SdpFrag",
    "SdpFragError",
    "frag_from_sdp",
    "parse_sdpfrag",
    "replace_ice",
]

#: The media type of a PATCH body (RFC 8840 §9.1).
SDPFRAG_TYPE = "application/trickle-ice-sdpfrag"
#: Largest fragment read (a browser's full restart fragment is well under 4 KiB).
MAX_SDPFRAG_BYTES = 16 * 1024
#: Most lines in one fragment.
MAX_SDPFRAG_LINES = 256
#: Most candidates in one fragment, over all its m= sections.
MAX_SDPFRAG_CANDIDATES = 64
_ICE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


class SdpFragError(ParseError):
    """A body that is not a trickle-ice-sdpfrag we accept."""


@dataclass
class FragMedia:
    """One ``m=`` section of a fragment: its m= line, mid, candidates and whether it ends
    with ``a=end-of-candidates`` (RFC 8840 §8.2)."""

    mline: str
    mid: str | None = None
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    end_of_candidates: bool = False


@dataclass
class SdpFrag:
    """A parsed fragment: session-level ICE credentials and the media sections."""

    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    media: list[FragMedia] = field(default_factory=list)
    end_of_candidates: bool = False

    @property
    def ufrag(self) -> str | None:
        """The ICE ufrag at session level, else the first section's."""
        return self.ice_ufrag or next((m.ice_ufrag for m in self.media if m.ice_ufrag), None)

    @property
    def pwd(self) -> str | None:
        return self.ice_pwd or next((m.ice_pwd for m in self.media if m.ice_pwd), None)

    def to_text(self) -> str:
        lines = []
        if self.ice_ufrag is not None:
            lines.append(f"a=ice-ufrag:{self.ice_ufrag}")
        if self.ice_pwd is not None:
            lines.append(f"a=ice-pwd:{self.ice_pwd}")
        for media in self.media:
            lines.append(media.mline)
            if media.mid is not None:
                lines.append(f"a=mid:{media.mid}")
            if media.ice_ufrag is not None:
                lines.append(f"a=ice-ufrag:{media.ice_ufrag}")
            if media.ice_pwd is not None:
                lines.append(f"a=ice-pwd:{media.ice_pwd}")
            lines.extend(f"a={c}" for c in media.candidates)
            if media.end_of_candidates:
                lines.append("a=end-of-candidates")
        if self.end_of_candidates:
            lines.append("a=end-of-candidates")
        return "".join(line + "\r\n" for line in lines)


def _ice_value(value: str, what: str, low: int, high: int) -> str:
    # RFC 8839 §5.4: ice-ufrag 4-256 ice-chars, ice-pwd 22-256 ice-chars
    if not low <= len(value) <= high or not _ICE_CHARS.issuperset(value):
        raise SdpFragError(f"sdpfrag: {what} must be {low}-{high} ice-chars")
    return value


def parse_sdpfrag(body: bytes | str) -> SdpFrag:
    """Parse a trickle-ice-sdpfrag body (see the module docstring)."""
    if len(body) > MAX_SDPFRAG_BYTES:
        raise SdpFragError(f"sdpfrag: more than {MAX_SDPFRAG_BYTES} bytes")
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SdpFragError("sdpfrag: not UTF-8") from None
    else:
        text = body
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_SDPFRAG_LINES:
        raise SdpFragError(f"sdpfrag: more than {MAX_SDPFRAG_LINES} lines")
    frag = SdpFrag()
    media: FragMedia | None = None
    candidates = 0
    for number, line in enumerate(lines, 1):
        if len(line) < 2 or line[1] != "=":
            raise SdpFragError(f"sdpfrag line {number}: not 'x=value'")
        kind, value = line[0], line[2:]
        if kind == "m":
            if len(value.split()) < 3:
                raise SdpFragError(f"sdpfrag line {number}: m= needs media, port and proto")
            media = FragMedia(line)
            frag.media.append(media)
            continue
        if kind != "a":
            raise SdpFragError(f"sdpfrag line {number}: only m= and a= lines belong here")
        name, _, attr = value.partition(":")
        if name == "ice-ufrag":
            ufrag = _ice_value(attr, "ice-ufrag", 4, 256)
            if media is None:
                frag.ice_ufrag = ufrag
            else:
                media.ice_ufrag = ufrag
        elif name == "ice-pwd":
            pwd = _ice_value(attr, "ice-pwd", 22, 256)
            if media is None:
                frag.ice_pwd = pwd
            else:
                media.ice_pwd = pwd
        elif name == "mid":
            if media is None:
                raise SdpFragError(f"sdpfrag line {number}: a=mid before any m= line")
            if not 0 < len(attr) <= 32 or any(c.isspace() for c in attr):
                raise SdpFragError(f"sdpfrag line {number}: bad a=mid")
            media.mid = attr
        elif name == "candidate":
            if media is None:
                raise SdpFragError(f"sdpfrag line {number}: a=candidate before any m= line")
            candidates += 1
            if candidates > MAX_SDPFRAG_CANDIDATES:
                raise SdpFragError(f"sdpfrag: more than {MAX_SDPFRAG_CANDIDATES} candidates")
            try:
                media.candidates.append(Candidate.parse(attr))
            except ParseError as exc:
                raise SdpFragError(f"sdpfrag line {number}: {exc}") from None
        elif name == "end-of-candidates":
            if media is None:
                frag.end_of_candidates = True
            else:
                media.end_of_candidates = True
        # anything else (a=ice-options, a=group, extensions): ignored (RFC 8840 §9)
    if (frag.ice_ufrag is None) != (frag.ice_pwd is None):
        raise SdpFragError("sdpfrag: a=ice-ufrag and a=ice-pwd go together")
    return frag


def frag_from_sdp(sdp: str) -> SdpFrag:
    """The ICE part of a whole SDP as a fragment: credentials, and the first m= section
    with its mid and candidates (RFC 9725 §4.3.1: with max-bundle, only the first section
    gathers). Used to answer an ICE restart and to ask for one."""
    frag = SdpFrag()
    media: FragMedia | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if media is not None:
                break
            media = FragMedia(line)
            frag.media.append(media)
        elif line.startswith("a=ice-ufrag:") and frag.ice_ufrag is None:
            frag.ice_ufrag = line[12:]
        elif line.startswith("a=ice-pwd:") and frag.ice_pwd is None:
            frag.ice_pwd = line[10:]
        elif media is not None and line.startswith("a=mid:"):
            media.mid = line[6:]
        elif media is not None and line.startswith("a=candidate:"):
            media.candidates.append(Candidate.parse(line))
        elif media is not None and line == "a=end-of-candidates":
            media.end_of_candidates = True
    return frag


def replace_ice(sdp: str, frag: SdpFrag) -> str:
    """``sdp`` with the ICE credentials of ``frag`` and its candidates (at the section of
    the same mid, else the first), the old candidates removed, and the ``o=`` version one
    higher (RFC 8866 §5.2): the description a restart would have exchanged, built from
    the PATCH (RFC 9725 §4.3.2: no new offer/answer is sent over HTTP)."""
    by_mid = {m.mid: m for m in frag.media}
    first = frag.media[0] if frag.media else None
    out: list[str] = []
    section = -1
    pending: FragMedia | None = None

    def flush() -> None:
        if pending is not None:
            out.extend(f"a={c}" for c in pending.candidates)
            if pending.end_of_candidates or frag.end_of_candidates:
                out.append("a=end-of-candidates")

    for raw in sdp.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("m="):
            flush()
            pending = None
            section += 1
            if section == 0 and None in by_mid:
                pending = by_mid[None]
        elif line.startswith("o="):
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                parts[2] = str(int(parts[2]) + 1)
                line = " ".join(parts)
        elif line.startswith("a=ice-ufrag:") and frag.ufrag is not None:
            line = f"a=ice-ufrag:{frag.ufrag}"
        elif line.startswith("a=ice-pwd:") and frag.pwd is not None:
            line = f"a=ice-pwd:{frag.pwd}"
        elif line.startswith(("a=candidate:", "a=end-of-candidates")):
            continue
        elif line.startswith("a=mid:"):
            mid = line[6:]
            if mid in by_mid:
                pending = by_mid[mid]
            elif section == 0 and pending is None and first is not None and first.mid is None:
                pending = first
        out.append(line)
    flush()
    return "".join(line + "\r\n" for line in out if line)
