"""JSEP offer/answer as pure functions (RFC 9429 §5.2, §5.3; RFC 3264; BUNDLE RFC 9143).

Nothing here does I/O or keeps state: a peer connection passes in what it has (local
capabilities, transport parameters, the previous descriptions) and gets a
:class:`~pyrtcstack.sdp.model.SessionDescription` back. Randomness (session ids, ICE
credentials) comes from an injected :class:`random.Random`.

* :func:`create_offer` — initial and subsequent offers (§5.2.1, §5.2.2): ``o=`` with a
  random session id kept across the session, version +1 whenever the body changes;
  ``a=setup:actpass``; one BUNDLE group over every live section; ICE restart.
* :func:`create_answer` — §5.3.1: one answer section per offered section in the same
  order; codec intersection with the offerer's payload types; direction matrix
  (RFC 3264 §6.1); DTLS role (RFC 5763 §5); BUNDLE acceptance with the answerer-tagged
  transport (RFC 9143 §7.3); rejected sections with port 0; data channel section with
  ``sctp-port`` and ``max-message-size`` (RFC 8841); ICE restart detection (RFC 8839 §4.4).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from pyrtcstack.sdp.attributes import ICE_CHARS, ExtMap, Fingerprint, Msid, RtcpFeedback
from pyrtcstack.sdp.candidate import Candidate
from pyrtcstack.sdp.codecs import CodecCapability, codecs_match, negotiate_codecs
from pyrtcstack.sdp.errors import OfferAnswerError
from pyrtcstack.sdp.model import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Codec,
    Connection,
    MediaDescription,
    Origin,
    SessionDefaults,
    SessionDescription,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_SCTP_PORT",
    "DataChannelCapabilities",
    "LocalCapabilities",
    "MediaCapabilities",
    "OfferSection",
    "TransportParameters",
    "answer_direction",
    "answer_setup",
    "create_answer",
    "create_offer",
    "ice_restart_requested",
    "new_ice_credentials",
    "remote_max_message_size",
    "remote_sctp_port",
    "validate_answer",
]

#: RFC 8841 §5: the SCTP port when ``a=sctp-port`` is absent.
DEFAULT_SCTP_PORT = 5000
#: RFC 8841 §6: the max message size assumed when ``a=max-message-size`` is absent.
DEFAULT_MAX_MESSAGE_SIZE = 65536
_ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_RTP_PROTOCOLS = ("RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF")
_DTLS_SCTP_PROTOCOLS = ("UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP")
_DTLS_PREFIXES = ("UDP/TLS/", "TCP/TLS/", "UDP/DTLS/", "TCP/DTLS/", "DTLS/")
_SEND = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_RECV = {"sendrecv": True, "sendonly": False, "recvonly": True, "inactive": False}


# ---------------------------------------------------------------- inputs


@dataclass(slots=True)
class TransportParameters:
    """The local ICE/DTLS parameters written into every (bundled) section.

    ``ice_ufrag``/``ice_pwd`` left ``None`` are generated with the injected rng (RFC 8839
    §5.4 lengths: 4 and 24 ice-chars), or kept from the previous description.
    """

    fingerprints: list[Fingerprint]
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    ice_options: list[str] = field(default_factory=lambda: ["trickle"])
    ice_lite: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    end_of_candidates: bool = False


@dataclass(slots=True)
class MediaCapabilities:
    """What we can do for one kind of media, and what we want (``direction``)."""

    kind: str  #: "audio" or "video"
    codecs: list[CodecCapability]
    header_extensions: list[str] = field(default_factory=list)  #: RFC 8285 URIs
    direction: str = "sendrecv"
    msid: Msid | None = None
    ssrc: int | None = None
    rtx_ssrc: int | None = None
    cname: str | None = None
    rtcp_rsize: bool = True


@dataclass(slots=True)
class DataChannelCapabilities:
    """The ``m=application`` data channel section (RFC 8841)."""

    sctp_port: int = DEFAULT_SCTP_PORT
    max_message_size: int = 262144


@dataclass(slots=True)
class OfferSection:
    """One m= section of an offer: a transceiver (media) or the data channel."""

    mid: str
    capabilities: MediaCapabilities | DataChannelCapabilities
    stopped: bool = False  #: a stopped transceiver is offered with port 0 (§5.2.2)


@dataclass(slots=True)
class LocalCapabilities:
    """What the answerer supports (one entry per media kind) and its preferences."""

    transport: TransportParameters
    media: list[MediaCapabilities] = field(default_factory=list)
    datachannel: DataChannelCapabilities | None = None
    #: DTLS role when the offer says ``actpass``; RFC 5763 §5 recommends ``active``.
    setup: str = "active"
    #: RFC 9429 §4.1.1 rtcp-mux-policy "require": an RTP section without rtcp-mux fails.
    require_rtcp_mux: bool = True
    extmap_allow_mixed: bool = True


# ---------------------------------------------------------------- small pure helpers


def new_ice_credentials(rng: random.Random) -> tuple[str, str]:
    """A fresh ``(ufrag, pwd)``: 4 and 24 ice-chars (RFC 8839 §5.4: ≥24 bits / ≥128 bits)."""
    ufrag = "".join(rng.choice(_ICE_CHARS) for _ in range(4))
    pwd = "".join(rng.choice(_ICE_CHARS) for _ in range(24))
    return ufrag, pwd


def answer_direction(offered: str, wish: str) -> str:
    """RFC 3264 §6.1 direction matrix: what we may answer to ``offered`` given our ``wish``.

    We send only if the offerer receives and we want to send; we receive only if the
    offerer sends and we want to receive.
    """
    send = _RECV[offered] and _SEND[wish]
    recv = _SEND[offered] and _RECV[wish]
    return {(True, True): "sendrecv", (True, False): "sendonly"}.get(
        (send, recv), "recvonly" if recv else "inactive"
    )


def answer_setup(
    offered: str | None, preferred: str = "active", previous: str | None = None
) -> str:
    """RFC 5763 §5 / RFC 8842 §5: our ``a=setup`` in an answer.

    ``actpass`` → our preference (``active`` recommended) or our previous role on an
    existing association; ``active`` → ``passive``; ``passive`` → ``active``. An absent
    attribute means ``active`` (RFC 4145 §4's default), so we answer ``passive``.
    """
    if offered is None:
        offered = "active"
    if offered == "actpass":
        role = previous if previous in ("active", "passive") else preferred
        if role not in ("active", "passive"):
            raise OfferAnswerError(f"an answer's setup must be active or passive, not {role!r}")
        return role
    if offered == "active":
        return "passive"
    if offered == "passive":
        return "active"
    raise OfferAnswerError(f"cannot answer a=setup:{offered}")


def ice_restart_requested(previous: SessionDescription | None, offer: SessionDescription) -> bool:
    """RFC 8839 §4.4.1.1.1: an offer with new ICE credentials for a section asks a restart."""
    if previous is None:
        return False
    by_mid, level, old_level = previous.mid_index(), offer.defaults(), previous.defaults()
    for media in offer.media:
        mid = media.mid
        old = by_mid.get(mid) if mid is not None else None
        if old is None or media.rejected:
            continue
        if (media.effective_ice_ufrag(level), media.effective_ice_pwd(level)) != (
            old.effective_ice_ufrag(old_level),
            old.effective_ice_pwd(old_level),
        ):
            return True
    return False


def remote_sctp_port(media: MediaDescription) -> int:
    """RFC 8841 §5: ``a=sctp-port``, else a legacy ``a=sctpmap`` number, else 5000."""
    if media.sctp_port is not None:
        return media.sctp_port
    sctpmap = media.sctpmap
    return sctpmap.number if sctpmap is not None else DEFAULT_SCTP_PORT


def remote_max_message_size(media: MediaDescription) -> int:
    """RFC 8841 §6: absent → 65536; 0 means "no limit" and is returned as 0."""
    size = media.max_message_size
    return DEFAULT_MAX_MESSAGE_SIZE if size is None else size


# ---------------------------------------------------------------- section writers


def _transport_attributes(
    media: MediaDescription,
    *,
    transport: TransportParameters,
    ufrag: str,
    pwd: str,
    setup: str,
    with_candidates: bool,
) -> None:
    add = media.attributes.append
    if with_candidates:
        for c in transport.candidates:
            add(Attribute("candidate", c.value))
    add(Attribute("ice-ufrag", ufrag))
    add(Attribute("ice-pwd", pwd))
    if transport.ice_options:
        add(Attribute("ice-options", " ".join(transport.ice_options)))
    for fp in transport.fingerprints:
        add(Attribute("fingerprint", str(fp)))
    add(Attribute("setup", setup))


def _default_address(transport: TransportParameters, with_candidates: bool) -> tuple[int, str]:
    # RFC 9429 §5.2.1: port 9 and c=IN IP4 0.0.0.0 until a default candidate exists.
    if with_candidates:
        for c in transport.candidates:
            if c.component == 1:
                return c.port, c.address
    return 9, "0.0.0.0"


def _connection_for(address: str) -> Connection:
    return Connection("IN", "IP6" if ":" in address else "IP4", address)


def _rtp_body(
    media: MediaDescription,
    *,
    caps: MediaCapabilities,
    codecs: list[Codec],
    extmaps: list[ExtMap],
    direction: str,
    rtcp_rsize: bool,
) -> None:
    add = media.attributes.append
    for ext in extmaps:
        add(Attribute("extmap", str(ext)))
    add(Attribute(direction))
    sending = _SEND[direction]
    if sending and caps.msid is not None:
        add(Attribute("msid", str(caps.msid)))
    add(Attribute("rtcp-mux"))
    if rtcp_rsize:
        add(Attribute("rtcp-rsize"))
    for codec in codecs:
        channels = f"/{codec.channels}" if codec.channels else ""
        add(Attribute("rtpmap", f"{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}"))
        for fb in codec.feedback:
            add(Attribute("rtcp-fb", f"{codec.payload_type} {fb.value}"))
        if codec.parameters:
            params = ";".join(k if v == "" else f"{k}={v}" for k, v in codec.parameters.items())
            add(Attribute("fmtp", f"{codec.payload_type} {params}"))
    if sending and caps.ssrc is not None:
        has_rtx = caps.rtx_ssrc is not None and any(c.name.lower() == "rtx" for c in codecs)
        if has_rtx:
            add(Attribute("ssrc-group", f"FID {caps.ssrc} {caps.rtx_ssrc}"))
        for ssrc in (caps.ssrc, caps.rtx_ssrc) if has_rtx else (caps.ssrc,):
            if caps.cname is not None:
                add(Attribute("ssrc", f"{ssrc} cname:{caps.cname}"))
            if caps.msid is not None:
                add(Attribute("ssrc", f"{ssrc} msid:{caps.msid}"))


_CodecKey = tuple[str, int, int, tuple[tuple[str, str], ...]]


def _codec_key(name: str, clock: int, channels: int | None, params: dict[str, str]) -> _CodecKey:
    return (name.lower(), clock, channels or 1, tuple(sorted(params.items())))


def _remembered_payload_types(
    caps: MediaCapabilities, previous: MediaDescription | None
) -> dict[tuple[str, int], int]:
    """Payload types the previous description of this section used for our codecs, so a
    subsequent offer keeps them (RFC 9429 §5.2.2): ``("codec"|"rtx", index) → pt``."""
    out: dict[tuple[str, int], int] = {}
    if previous is None or previous.rejected:
        return out
    old = previous.codecs()
    used: set[int] = set()
    for index, cap in enumerate(caps.codecs):
        match = next(
            (
                c
                for c in old
                if c.payload_type not in used and c.name.lower() != "rtx" and codecs_match(c, cap)
            ),
            None,
        )
        if match is None:
            continue
        used.add(match.payload_type)
        out[("codec", index)] = match.payload_type
        rtx = next(
            (
                c
                for c in old
                if c.name.lower() == "rtx" and c.parameters.get("apt") == str(match.payload_type)
            ),
            None,
        )
        if rtx is not None and cap.rtx:
            out[("rtx", index)] = rtx.payload_type
    return out


def _offer_codecs(
    caps: MediaCapabilities,
    taken: dict[int, _CodecKey],
    remembered: dict[tuple[str, int], int],
) -> list[Codec]:
    """Payload types for our offer: the ones this section used before (``remembered``),
    else preferred or static ones, else dynamic 96-127 and 35-63 (RFC 3551 §3). ``taken``
    is shared by every section of the offer: inside a BUNDLE group one payload type must
    mean one codec configuration (RFC 9143 §9.1)."""
    static = {
        (name.lower(), clock, channels or 1): pt
        for pt, (name, clock, channels) in STATIC_PAYLOAD_TYPES.items()
    }
    by_key = {key: pt for pt, key in taken.items()}

    def allocate(key: _CodecKey, wanted: int | None) -> int:
        if wanted is not None and taken.get(wanted) == key:
            return wanted
        if key in by_key:
            return by_key[key]
        if wanted is not None and wanted not in taken:
            pt = wanted
        else:
            pt = next((p for p in [*range(96, 128), *range(35, 64)] if p not in taken), -1)
            if pt < 0:
                raise OfferAnswerError("out of dynamic payload types")
        taken[pt] = key
        by_key[key] = pt
        return pt

    out: list[Codec] = []
    for index, cap in enumerate(caps.codecs):
        key = _codec_key(cap.name, cap.clock_rate, cap.channels, cap.parameters)
        wanted = remembered.get(("codec", index), cap.payload_type)
        if wanted is None:
            wanted = static.get((cap.name.lower(), cap.clock_rate, cap.channels or 1))
        pt = allocate(key, wanted)
        feedback = [RtcpFeedback(str(pt), *_split_fb(v)) for v in cap.feedback]
        out.append(
            Codec(pt, cap.name, cap.clock_rate, cap.channels, dict(cap.parameters), feedback)
        )
        if cap.rtx:
            rtx = {"apt": str(pt)}
            rtx_pt = allocate(
                _codec_key("rtx", cap.clock_rate, None, rtx), remembered.get(("rtx", index))
            )
            out.append(Codec(rtx_pt, "rtx", cap.clock_rate, None, rtx))
    return out


def _split_fb(value: str) -> tuple[str, str | None]:
    kind, _, param = value.partition(" ")
    return kind, param or None


def _versioned_origin(
    desc: SessionDescription, previous: SessionDescription | None, rng: random.Random
) -> Origin:
    """RFC 9429 §5.2.1/§5.2.2 (RFC 3264 §5, §8): keep the session id, bump the version
    by one when anything but the ``o=`` line changed; a new session gets a random id
    below 2**63 and version 0."""
    if previous is None:
        return Origin("-", rng.randrange(1 << 61, 1 << 63), 0, "IN", "IP4", "127.0.0.1")
    origin = replace(previous.origin)
    desc.origin = previous.origin
    changed = str(desc) != str(previous)
    origin.session_version = previous.origin.session_version + (1 if changed else 0)
    return origin


# ---------------------------------------------------------------- offers


def create_offer(
    sections: list[OfferSection],
    transport: TransportParameters,
    *,
    rng: random.Random,
    previous: SessionDescription | None = None,
    ice_restart: bool = False,
    bundle: bool = True,
) -> SessionDescription:
    """Build an offer (RFC 9429 §5.2.1 initial, §5.2.2 subsequent).

    ``previous`` is our last local description (offer or answer) in this session: its
    session id is kept, its version is bumped by one if the new body differs, and its ICE
    credentials are reused unless ``ice_restart`` (§5.2.3.1) or ``transport`` sets new ones.
    """
    mids = [s.mid for s in sections]
    if len(set(mids)) != len(mids):
        raise OfferAnswerError("duplicate mid in offer sections")
    ufrag, pwd = _credentials(transport, previous, restart=ice_restart, rng=rng)
    desc = SessionDescription()
    live = [s.mid for s in sections if not s.stopped]
    if bundle and live:
        desc.add_attribute("group", " ".join(["BUNDLE", *live]))
    if transport.ice_lite:
        desc.add_attribute("ice-lite")
    if any(isinstance(s.capabilities, MediaCapabilities) for s in sections):
        desc.add_attribute("extmap-allow-mixed")
        desc.add_attribute("msid-semantic", " WMS")
    first_live = True
    taken: dict[int, _CodecKey] = {}
    remembered: dict[str, dict[tuple[str, int], int]] = {}
    previous_by_mid = previous.mid_index() if previous is not None else {}
    for section in sections:
        caps = section.capabilities
        if previous is None or section.stopped or not isinstance(caps, MediaCapabilities):
            continue
        memory = _remembered_payload_types(caps, previous_by_mid.get(section.mid))
        remembered[section.mid] = memory
        # Reserve them first, so no other section's new codec takes them.
        for (what, index), pt in memory.items():
            cap = caps.codecs[index]
            key = (
                _codec_key(cap.name, cap.clock_rate, cap.channels, cap.parameters)
                if what == "codec"
                else _codec_key("rtx", cap.clock_rate, None, {"apt": str(memory[("codec", index)])})
            )
            taken.setdefault(pt, key)
    for section in sections:
        caps = section.capabilities
        with_candidates = not section.stopped and (first_live or not bundle)
        if isinstance(caps, DataChannelCapabilities):
            media = MediaDescription("application", 9, "UDP/DTLS/SCTP", ["webrtc-datachannel"])
        else:
            codecs = _offer_codecs(caps, taken, remembered.get(section.mid, {}))
            media = MediaDescription(
                caps.kind, 9, "UDP/TLS/RTP/SAVPF", [str(c.payload_type) for c in codecs]
            )
        if section.stopped:
            media.port = 0
            media.connections.append(Connection())
            media.add_attribute("mid", section.mid)
            desc.media.append(media)
            continue
        port, address = _default_address(transport, with_candidates)
        media.port = port
        media.connections.append(_connection_for(address))
        if isinstance(caps, MediaCapabilities):
            media.add_attribute("rtcp", "9 IN IP4 0.0.0.0")
        _transport_attributes(
            media,
            transport=transport,
            ufrag=ufrag,
            pwd=pwd,
            setup="actpass",
            with_candidates=with_candidates,
        )
        media.add_attribute("mid", section.mid)
        if isinstance(caps, DataChannelCapabilities):
            media.add_attribute("sctp-port", caps.sctp_port)
            media.add_attribute("max-message-size", caps.max_message_size)
        else:
            extmaps = [ExtMap(i, uri) for i, uri in enumerate(caps.header_extensions, 1)]
            _rtp_body(
                media,
                caps=caps,
                codecs=codecs,
                extmaps=extmaps,
                direction=caps.direction,
                rtcp_rsize=caps.rtcp_rsize,
            )
        if with_candidates and transport.end_of_candidates:
            media.add_attribute("end-of-candidates")
        desc.media.append(media)
        first_live = False
    desc.origin = _versioned_origin(desc, previous, rng)
    return desc


def _credentials(
    transport: TransportParameters,
    previous: SessionDescription | None,
    *,
    restart: bool,
    rng: random.Random,
) -> tuple[str, str]:
    if transport.ice_ufrag is not None and transport.ice_pwd is not None:
        given = (transport.ice_ufrag, transport.ice_pwd)
    else:
        given = None
    old: tuple[str, str] | None = None
    if previous is not None:
        level = previous.defaults()
        for m in previous.media:
            u, p = m.effective_ice_ufrag(level), m.effective_ice_pwd(level)
            if u is not None and p is not None:
                old = (u, p)
                break
    if restart:
        # RFC 8839 §4.4.1.1.1: a restart needs a new ufrag AND a new pwd.
        if given is not None and given != old:
            return given
        fresh = new_ice_credentials(rng)
        while old is not None and (fresh[0] == old[0] or fresh[1] == old[1]):
            fresh = new_ice_credentials(rng)
        return fresh
    if given is not None:
        return given
    return old if old is not None else new_ice_credentials(rng)


# ---------------------------------------------------------------- answers


def create_answer(
    offer: SessionDescription,
    local: LocalCapabilities,
    *,
    rng: random.Random,
    previous: SessionDescription | None = None,
    previous_offer: SessionDescription | None = None,
) -> SessionDescription:
    """Answer ``offer`` (RFC 9429 §5.3.1).

    ``previous`` is our last local description and ``previous_offer`` the remote offer it
    answered, for renegotiation: the session id and DTLS role are kept, the version is
    bumped on change, and a changed remote ufrag/pwd (ICE restart) gets new local ones.

    Raises :class:`~pyrtcstack.sdp.errors.OfferAnswerError` when the offer cannot be
    answered at all (e.g. rtcp-mux required but absent, an unanswerable ``a=setup``, ICE
    credentials outside RFC 8839 §5.4, one payload type for two codecs in a bundle).
    """
    _check_bundle_payload_types(offer)
    _check_ice_credentials(offer, "offer")
    restart = ice_restart_requested(previous_offer, offer)
    ufrag, pwd = _credentials(local.transport, previous, restart=restart, rng=rng)
    previous_setup = None
    if previous is not None and previous.media:
        previous_setup = previous.media[0].effective_setup(previous)

    level = offer.defaults()
    answers: list[MediaDescription] = []
    accepted: dict[int, bool] = {}
    for index, offered in enumerate(offer.media):
        media = _answer_section(level, offered, local)
        answers.append(media)
        accepted[index] = media.port != 0

    # BUNDLE (RFC 9143 §7.3): the answer's group lists the accepted mids in offer order;
    # the first is the answerer-tagged section whose transport the group uses. If the
    # offerer-tagged section is rejected, the group is not accepted (§7.3.3 moves the
    # others out; bundle-only sections cannot live outside a bundle and are rejected).
    desc = SessionDescription()
    bundled_mids: set[str] = set()
    tagged: set[str] = set()
    index_of: dict[str, int] = {}
    for i, m in enumerate(offer.media):
        if m.mid is not None:
            index_of.setdefault(m.mid, i)
    claimed: set[str] = set()
    for group in offer.bundle_groups:
        # RFC 9143 §7: a mid is in one BUNDLE group; a later group naming it again (or a
        # group repeated N times) does not count for it, so each section is handled once.
        members = [mid for mid in group.mids if mid in index_of and mid not in claimed]
        claimed.update(members)
        keep = [mid for mid in members if accepted[index_of[mid]]]
        if not keep or not members or keep[0] != members[0]:
            for mid in members:
                i = index_of[mid]
                if offer.media[i].bundle_only and accepted[i]:
                    answers[i] = _rejected(offer.media[i])
            continue
        desc.add_attribute("group", " ".join(["BUNDLE", *keep]))
        bundled_mids.update(keep)
        tagged.add(keep[0])
    if local.transport.ice_lite:
        desc.add_attribute("ice-lite")
    if local.extmap_allow_mixed and offer.extmap_allow_mixed:
        desc.add_attribute("extmap-allow-mixed")
    if any(m.kind in ("audio", "video") and m.port for m in answers):
        desc.add_attribute("msid-semantic", " WMS")

    for offered, media in zip(offer.media, answers, strict=True):
        if media.port == 0:
            desc.media.append(media)
            continue
        section_mid = offered.mid
        with_candidates = (
            section_mid is None or section_mid not in bundled_mids or section_mid in tagged
        )
        setup = answer_setup(offered.effective_setup(level), local.setup, previous_setup)
        port, address = _default_address(local.transport, with_candidates)
        media.port = port
        media.connections.append(_connection_for(address))
        body = media.attributes
        media.attributes = []
        if media.kind in ("audio", "video"):
            media.add_attribute("rtcp", "9 IN IP4 0.0.0.0")
        _transport_attributes(
            media,
            transport=local.transport,
            ufrag=ufrag,
            pwd=pwd,
            setup=setup,
            with_candidates=with_candidates,
        )
        if section_mid is not None:
            media.add_attribute("mid", section_mid)
        media.attributes.extend(body)
        if with_candidates and local.transport.end_of_candidates:
            media.add_attribute("end-of-candidates")
        desc.media.append(media)
    desc.origin = _versioned_origin(desc, previous, rng)
    return desc


def _check_ice_credentials(desc: SessionDescription, what: str) -> None:
    """RFC 8839 §5.4 (SDP-08): a usable ICE section has a 4-256 char ufrag and a 22-256
    char pwd of ice-chars; like a browser's setRemoteDescription we refuse anything else
    (parsing alone accepts them, see docs/sdp.md)."""
    level = desc.defaults()
    for index, media in enumerate(desc.media, 1):
        if media.port == 0 and not media.bundle_only:
            continue
        if not media.protocol.startswith(_DTLS_PREFIXES):
            continue
        ufrag, pwd = media.effective_ice_ufrag(level), media.effective_ice_pwd(level)
        if ufrag is None or pwd is None:
            raise OfferAnswerError(f"{what} section {index} has no ICE ufrag/pwd (RFC 8839 §5.4)")
        if not (4 <= len(ufrag) <= 256 and ICE_CHARS.issuperset(ufrag)) or not (
            22 <= len(pwd) <= 256 and ICE_CHARS.issuperset(pwd)
        ):
            raise OfferAnswerError(
                f"{what} section {index}: ICE ufrag must be 4-256 and pwd 22-256 ice-chars "
                "(RFC 8839 §5.4)"
            )


def _check_bundle_payload_types(offer: SessionDescription) -> None:
    """RFC 9143 §9.1: inside a BUNDLE group a payload type names one codec (OA-08).

    Linear in the offer: each section's codecs are read once, for the first BUNDLE group
    naming it (an offer repeating a group N times used to cost N codec walks of every
    section, issue 14)."""
    group_of = offer.bundle_group_index()
    meanings: dict[int, dict[int, tuple[str, int, int]]] = {}
    level = offer.defaults()
    done: set[str] = set()
    for media in offer.media:
        mid = media.mid
        if mid is None or mid in done or media.rejected:
            continue
        group = group_of.get(mid)
        if group is None:
            continue
        done.add(mid)
        meaning = meanings.setdefault(id(group), {})
        for codec in media.codecs(level):
            key = (codec.name.lower(), codec.clock_rate, codec.channels or 1)
            if meaning.setdefault(codec.payload_type, key) != key:
                raise OfferAnswerError(
                    f"BUNDLE {' '.join(group.mids)}: payload type {codec.payload_type} "
                    "means two different codecs (RFC 9143 §9.1)"
                )


def _rejected(offered: MediaDescription) -> MediaDescription:
    """RFC 3264 §6 / RFC 9429 §5.3.1: same media type and proto, port 0, offered formats."""
    media = MediaDescription(offered.kind, 0, offered.protocol, list(offered.formats) or ["0"])
    media.connections.append(Connection())
    if offered.mid is not None:
        media.add_attribute("mid", offered.mid)
    return media


def _answer_section(
    offer: SessionDefaults, offered: MediaDescription, local: LocalCapabilities
) -> MediaDescription:
    """The body of one answer section (transport attributes are added by the caller)."""
    if offered.rejected:
        return _rejected(offered)
    proto = offered.protocol
    if offered.kind == "application" and proto.endswith(_DTLS_SCTP_PROTOCOLS):
        dc = local.datachannel
        if dc is None:
            return _rejected(offered)
        media = MediaDescription("application", 9, proto, list(offered.formats))
        if proto == "DTLS/SCTP":
            # Legacy syntax (draft-ietf-mmusic-sctp-sdp-05): port in the format list.
            media.formats = [str(dc.sctp_port)]
            media.add_attribute("sctpmap", f"{dc.sctp_port} webrtc-datachannel 1024")
        else:
            media.add_attribute("sctp-port", dc.sctp_port)
        media.add_attribute("max-message-size", dc.max_message_size)
        return media
    if offered.kind not in ("audio", "video") or not proto.endswith(_RTP_PROTOCOLS):
        return _rejected(offered)
    caps = next((c for c in local.media if c.kind == offered.kind), None)
    if caps is None:
        return _rejected(offered)
    if local.require_rtcp_mux and not offered.rtcp_mux:
        raise OfferAnswerError(
            f"section {offered.mid!r} lacks a=rtcp-mux and the policy requires it"
        )
    codecs = negotiate_codecs(offered.codecs(offer), caps.codecs)
    if not any(
        c.name.lower() not in ("rtx", "red", "ulpfec", "cn", "telephone-event") for c in codecs
    ):
        return _rejected(offered)
    direction = answer_direction(offered.effective_direction(offer), caps.direction)
    supported = set(caps.header_extensions)
    # RFC 8285 §6 / RFC 9429 §5.3.1: reuse the offer's id for each URI we support.
    extmaps = [ExtMap(e.id, e.uri) for e in offered.extmaps if e.uri in supported]
    media = MediaDescription(offered.kind, 9, proto, [str(c.payload_type) for c in codecs])
    _rtp_body(
        media,
        caps=caps,
        codecs=codecs,
        extmaps=extmaps,
        direction=direction,
        rtcp_rsize=caps.rtcp_rsize and offered.rtcp_rsize,
    )
    return media


def validate_answer(offer: SessionDescription, answer: SessionDescription) -> None:
    """Check a remote ``answer`` against the ``offer`` it answers (what SRD(answer) checks).

    Raises :class:`~pyrtcstack.sdp.errors.OfferAnswerError` naming the rule when:

    * the m= sections differ in number, order, kind or mid (RFC 3264 §6, OA-01);
    * an accepted section's ``a=setup`` is not ``active``/``passive`` (RFC 5763 §5, SET-02);
    * an accepted RTP section lists a payload type the offer did not (RFC 3264 §6.1);
    * an answered direction is not allowed by the offered one (RFC 3264 §6.1, OA-02);
    * the answer's BUNDLE group names mids the offer did not bundle (RFC 9143 §7.3);
    * an accepted section lacks valid ICE credentials (RFC 8839 §5.4).
    """
    _check_ice_credentials(answer, "answer")
    offer_level, answer_level = offer.defaults(), answer.defaults()
    if len(answer.media) != len(offer.media):
        raise OfferAnswerError(
            f"answer has {len(answer.media)} m= sections, the offer {len(offer.media)} "
            "(RFC 3264 §6)"
        )
    for i, (o, a) in enumerate(zip(offer.media, answer.media, strict=True), 1):
        if a.kind != o.kind or a.mid != o.mid:
            raise OfferAnswerError(
                f"answer section {i} is {a.kind}/{a.mid}, offered {o.kind}/{o.mid} (RFC 3264 §6)"
            )
        if a.port == 0:
            continue
        setup = a.effective_setup(answer_level)
        if o.protocol.startswith(_DTLS_PREFIXES) and setup not in ("active", "passive"):
            raise OfferAnswerError(
                f"answer section {i} has a=setup:{setup}; an answer must say active or "
                "passive (RFC 5763 §5)"
            )
        if a.kind in ("audio", "video") and not set(a.formats) <= set(o.formats):
            extra = sorted(set(a.formats) - set(o.formats))
            raise OfferAnswerError(
                f"answer section {i} adds payload types {extra} not in the offer (RFC 3264 §6.1)"
            )
        offered = o.effective_direction(offer_level)
        answered = a.effective_direction(answer_level)
        if (_SEND[answered] and not _RECV[offered]) or (_RECV[answered] and not _SEND[offered]):
            raise OfferAnswerError(
                f"answer section {i} says {answered} to an offered {offered} (RFC 3264 §6.1)"
            )
    # Each mid belongs to one offered BUNDLE group (RFC 9143 §7: the first naming it), so
    # an answer group is valid when all its mids map to the same one: O(size) per group.
    owner = offer.bundle_group_index()
    offered_any = bool(owner) or bool(offer.bundle_groups)
    for group in answer.bundle_groups:
        first = owner.get(group.mids[0]) if group.mids else None
        valid = (
            all(owner.get(mid) is first for mid in group.mids)
            if first is not None
            else not group.mids and offered_any
        )
        if not valid:
            raise OfferAnswerError(
                f"answer BUNDLE {' '.join(group.mids)} was not offered (RFC 9143 §7.3)"
            )
