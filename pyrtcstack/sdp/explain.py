"""An annotated walk through an SDP, for someone learning WebRTC (``pyrtcstack sdp explain``).

:func:`explain` returns text: every line of the description (in RFC 8866 order, as
``str(desc)`` writes it) followed by what it means and which RFC defines it, with a
summary per media section and for the whole description.
"""

from __future__ import annotations

import datetime
import textwrap
from collections.abc import Callable

from pyrtcstack.sdp.attributes import (
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    Msid,
    Rid,
    RtcpFeedback,
    RtpMap,
    SctpMap,
    SsrcAttribute,
    SsrcGroup,
)
from pyrtcstack.sdp.candidate import Candidate
from pyrtcstack.sdp.check import guess_type
from pyrtcstack.sdp.model import Attribute, MediaDescription, SessionDefaults, SessionDescription

__all__ = ["explain", "explain_attribute", "is_data_channel"]

_WIDTH = 96

_CANDIDATE_TYPES = {
    "host": "an address on the peer's own interface (or an mDNS .local name hiding it)",
    "srflx": "server reflexive: the peer's public address as a STUN server saw it",
    "prflx": "peer reflexive: learned from a connectivity check",
    "relay": "an address on a TURN relay (RFC 8656)",
}
_SETUP = {
    "actpass": "the offerer lets the answerer pick the DTLS role",
    "active": "this side starts the DTLS handshake (sends ClientHello): DTLS client",
    "passive": "this side waits for the handshake: DTLS server",
    "holdconn": "no DTLS connection for now",
}
_DIRECTIONS = {
    "sendrecv": "this side sends and receives media in this section",
    "sendonly": "this side only sends",
    "recvonly": "this side only receives",
    "inactive": "no media either way (the section is kept, e.g. on hold)",
}
_FEEDBACK = {
    "nack": "generic NACK: the receiver asks for lost packets again (RFC 4585 §6.2.1)",
    "nack pli": "Picture Loss Indication: the receiver asks for a key frame (RFC 4585 §6.3.1)",
    "ccm fir": "Full Intra Request: asks for a key frame (RFC 5104 §3.5.1)",
    "goog-remb": "receiver-estimated max bitrate (draft-alvestrand-rmcat-remb)",
    "transport-cc": "transport-wide congestion control feedback (draft-holmer-rmcat-"
    "transport-wide-cc-extensions)",
}
_EXTENSIONS = {
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": "audio level of each packet (RFC 6464)",
    "urn:ietf:params:rtp-hdrext:sdes:mid": "the mid, so a bundled receiver knows the section "
    "(RFC 9143 §15)",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": "the rid of a simulcast stream (RFC 8852)",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": "the rid an RTX stream repairs "
    "(RFC 8852)",
    "urn:ietf:params:rtp-hdrext:toffset": "transmission time offset (RFC 5450)",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": "absolute send time, for "
    "bandwidth estimation (libwebrtc)",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": "transport-"
    "wide sequence number for congestion control feedback",
    "urn:3gpp:video-orientation": "camera orientation (3GPP TS 26.114)",
}
_PROTOCOLS = {
    "UDP/TLS/RTP/SAVPF": "RTP with feedback, secured by DTLS-SRTP, over UDP: the WebRTC "
    "media profile (RFC 5764, RFC 9429 §5.1.2)",
    "TCP/DTLS/RTP/SAVPF": "the same over ICE-TCP (RFC 7850)",
    "RTP/SAVPF": "secure RTP with feedback (RFC 5124); older WebRTC peers write this",
    "UDP/DTLS/SCTP": "SCTP over DTLS over UDP: data channels (RFC 8841)",
    "TCP/DTLS/SCTP": "SCTP over DTLS over ICE-TCP: data channels (RFC 8841)",
    "DTLS/SCTP": "legacy data channel syntax, port in the format list "
    "(draft-ietf-mmusic-sctp-sdp-05)",
    "RTP/AVP": "plain RTP, no encryption and no feedback (RFC 3551): SIP-style, not WebRTC",
    "RTP/AVPF": "plain RTP with feedback (RFC 4585): not encrypted, not WebRTC",
    "RTP/SAVP": "SRTP without feedback (RFC 3711): SIP-style",
    "UDP/TLS/RTP/SAVP": "DTLS-SRTP without feedback, over UDP (RFC 5764)",
    "TCP/BFCP": "BFCP, the binary floor control protocol, over TCP (RFC 8856)",
    "TCP/TLS/BFCP": "BFCP over TLS over TCP (RFC 8856)",
    "UDP/BFCP": "BFCP over UDP (RFC 8856)",
    "UDP/TLS/BFCP": "BFCP over DTLS over UDP (RFC 8856)",
    "udp": "an application protocol directly over UDP, named by the format (RFC 8866 §5.14); "
    "3GPP mission-critical floor control (MCPTT, TS 24.380) looks like this",
    "TCP": "an application protocol directly over TCP (RFC 4145)",
    "TCP/TLS": "an application protocol over TLS over TCP (RFC 8122)",
    "TCP/MSRP": "MSRP instant messaging over TCP (RFC 4975)",
    "TCP/TLS/MSRP": "MSRP over TLS (RFC 4975)",
}
#: m=application protocols that carry WebRTC data channels (RFC 8841)
_DATA_CHANNEL_PROTOCOLS = ("UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP")


def _candidate(value: str) -> str:
    c = Candidate.parse(value)
    text = (
        f"ICE candidate (RFC 8839 §5.1): component {c.component}, {c.transport} "
        f"{c.address} port {c.port}, type {c.type} = {_CANDIDATE_TYPES.get(c.type, 'unknown')}; "
        f"priority {c.priority} (higher is tried first, RFC 8445 §5.1.2)"
    )
    if c.related_address is not None:
        text += f"; related address {c.related_address}:{c.related_port}"
    if c.tcptype is not None:
        text += f"; tcptype {c.tcptype} (RFC 6544: active = only connects out, port 9)"
    if c.extensions:
        text += "; extensions " + ", ".join(f"{k}={v}" for k, v in c.extensions)
    return text


def _fingerprint(value: str) -> str:
    f = Fingerprint.parse(value)
    return (
        f"{f.algorithm} hash of the DTLS certificate this side will present; the handshake "
        "fails unless they match (RFC 8122 §5, RFC 8842 §5)"
    )


def _rtpmap(value: str) -> str:
    r = RtpMap.parse(value)
    ch = f", {r.channels} channel(s)" if r.channels else ""
    extra = {
        "rtx": " — retransmissions of another payload type (RFC 4588)",
        "red": " — redundant audio (RFC 2198)",
        "ulpfec": " — forward error correction (RFC 5109)",
        "telephone-event": " — DTMF tones (RFC 4733)",
        "cn": " — comfort noise (RFC 3389)",
    }.get(r.encoding.lower(), "")
    return (
        f"payload type {r.payload_type} means {r.encoding} at {r.clock_rate} Hz{ch}{extra} "
        "(RFC 8866 §6.6)"
    )


def _fmtp(value: str) -> str:
    f = Fmtp.parse(value)
    params = ", ".join(f"{k}={v}" if v else k for k, v in f.as_dict().items())
    return f"format parameters of payload type {f.format}: {params} (RFC 8866 §6.15)"


def _rtcp_fb(value: str) -> str:
    fb = RtcpFeedback.parse(value)
    target = "every payload type" if fb.payload_type == "*" else f"payload type {fb.payload_type}"
    meaning = _FEEDBACK.get(fb.value, "RTCP feedback")
    return f"{target} supports {meaning} (RFC 4585 §4.2)"


def _extmap(value: str) -> str:
    e = ExtMap.parse(value)
    meaning = _EXTENSIONS.get(e.uri, "an RTP header extension")
    direction = f", {e.direction} only" if e.direction else ""
    return f"header extension id {e.id}{direction}: {meaning} (RFC 8285 §7)"


def _group(value: str) -> str:
    g = Group.parse(value)
    if g.semantics == "DUP":
        return (
            f"duplication: sections {', '.join(g.mids)} carry the same RTP stream twice, for "
            "redundancy over separate paths (RFC 7104)"
        )
    if g.semantics == "FID":
        return (
            f"flow identification: sections {', '.join(g.mids)} are flows of one stream "
            "(RFC 5888 §8)"
        )
    if g.semantics == "BUNDLE":
        return (
            f"BUNDLE: sections {', '.join(g.mids)} share one transport (one ICE + DTLS "
            f"connection); {g.mids[0] if g.mids else '-'} is the tagged section whose "
            "transport is used (RFC 9143 §7)"
        )
    if g.semantics == "LS":
        return f"lip sync: play sections {', '.join(g.mids)} in sync (RFC 5888 §7)"
    return f"group {g.semantics} of sections {', '.join(g.mids)} (RFC 5888 §5)"


def _msid(value: str) -> str:
    m = Msid.parse(value)
    stream = "no stream" if m.stream_id == "-" else f"stream {m.stream_id}"
    return f"the track sent here belongs to {stream}, track id {m.track_id} (RFC 8830 §2)"


def _ssrc(value: str) -> str:
    s = SsrcAttribute.parse(value)
    return f"RTP source {s.ssrc} has {s.attribute} = {s.value} (RFC 5576 §4.1)"


def _ssrc_group(value: str) -> str:
    g = SsrcGroup.parse(value)
    if g.semantics == "FID" and len(g.ssrcs) == 2:
        return (
            f"source {g.ssrcs[1]} carries retransmissions (RTX) of source {g.ssrcs[0]} "
            "(RFC 5576 §4.2, RFC 4588)"
        )
    return f"sources {', '.join(map(str, g.ssrcs))} form a {g.semantics} group (RFC 5576 §4.2)"


def _rid(value: str) -> str:
    r = Rid.parse(value)
    return f"RTP stream id {r.id!r} in the {r.direction} direction (RFC 8851 §4)"


def _sctpmap(value: str) -> str:
    m = SctpMap.parse(value)
    streams = f", {m.streams} streams" if m.streams is not None else ""
    return (
        f"legacy data channel mapping: SCTP port {m.number}, application {m.app}{streams} "
        "(draft-ietf-mmusic-sctp-sdp-05; RFC 8841 replaced it with a=sctp-port)"
    )


def _simple(text: str) -> Callable[[str | None], str]:
    return lambda _value: text


_ATTRIBUTES: dict[str, Callable[[str], str]] = {
    "candidate": _candidate,
    "fingerprint": _fingerprint,
    "rtpmap": _rtpmap,
    "fmtp": _fmtp,
    "rtcp-fb": _rtcp_fb,
    "extmap": _extmap,
    "group": _group,
    "msid": _msid,
    "ssrc": _ssrc,
    "ssrc-group": _ssrc_group,
    "rid": _rid,
    "ice-ufrag": lambda v: (
        f"ICE username fragment {v!r}: identifies this side in STUN checks (RFC 8839 §5.4)"
    ),
    "ice-pwd": lambda v: "ICE password: keys the STUN checks' MESSAGE-INTEGRITY (RFC 8839 §5.4)",
    "ice-options": lambda v: (
        f"ICE options {v}: 'trickle' = candidates may arrive after the SDP (RFC 8840)"
    ),
    "setup": lambda v: f"DTLS role: {_SETUP.get(v, v)} (RFC 4145 §4, RFC 8842 §5)",
    "mid": lambda v: f"media id {v!r}: names this section for BUNDLE and RTP (RFC 5888 §4)",
    "rtcp": lambda v: f"RTCP port {v} (RFC 3605); with rtcp-mux it is not used",
    "sctp-port": lambda v: f"the SCTP port inside DTLS is {v} (RFC 8841 §5)",
    "max-message-size": lambda v: (
        f"largest data channel message this side accepts: {v} bytes, 0 = no limit (RFC 8841 §6)"
    ),
    "sctpmap": _sctpmap,
    "msid-semantic": lambda v: f"legacy stream semantics{v} (Plan B era, ignored by JSEP)",
    "simulcast": lambda v: f"simulcast streams {v} (RFC 8853)",
    "crypto": lambda v: "SDES-SRTP keys in the clear: not used by WebRTC (RFC 4568, RFC 8827)",
    "rtcp-xr": lambda v: f"RTCP extended report blocks {v} (RFC 3611)",
    "ptime": lambda v: f"packet time: {v} ms of media in each packet (RFC 8866 §6.4)",
    "maxptime": lambda v: f"at most {v} ms of media in one packet (RFC 8866 §6.5)",
    "label": lambda v: f"label {v!r}: names this section for applications (RFC 4574)",
    "source-filter": lambda v: (
        f"source filter {v.strip()}: which senders of a multicast group to accept or "
        "refuse (RFC 4570)"
    ),
    "connection": lambda v: (
        f"TCP connection: {v} = "
        + ("open a new one" if v == "new" else "reuse the existing one")
        + " (RFC 4145 §5)"
    ),
    "floorctrl": lambda v: f"BFCP floor control roles: {v} (RFC 8856)",
    "confid": lambda v: f"BFCP conference id {v} (RFC 8856)",
    "userid": lambda v: f"BFCP user id {v} (RFC 8856)",
    "floorid": lambda v: f"BFCP floor {v}: a floor and the streams (mstrm) it controls (RFC 8856)",
    "bfcpver": lambda v: f"BFCP versions supported: {v} (RFC 8856)",
    "framerate": lambda v: f"at most {v} video frames per second (RFC 8866 §6.13)",
    "tool": lambda v: f"made by {v} (RFC 8866 §6.3)",
    "content": lambda v: f"content of this stream: {v} (RFC 4796)",
}
_FLAGS: dict[str, str] = {
    **{d: f"direction: {t} (RFC 8866 §6.7)" for d, t in _DIRECTIONS.items()},
    "rtcp-mux": "RTP and RTCP share one port (RFC 8035, RFC 5761)",
    "rtcp-rsize": "reduced-size RTCP packets are allowed (RFC 5506)",
    "ice-lite": "this side runs ICE lite: it only answers checks (RFC 8445 §2.5)",
    "end-of-candidates": "no more candidates will trickle in (RFC 8840 §4.1)",
    "bundle-only": "only usable inside BUNDLE (port 0 until accepted, RFC 9143 §6)",
    "extmap-allow-mixed": "one- and two-byte header extensions may be mixed (RFC 8285 §6)",
}


def explain_attribute(attribute: Attribute) -> str:
    """One sentence on what ``attribute`` means, with its RFC."""
    if attribute.value is None:
        return _FLAGS.get(attribute.name, "an attribute this tool does not know; kept as is")
    describe = _ATTRIBUTES.get(attribute.name)
    if describe is None:
        return "an attribute this tool does not know; kept as is (RFC 8866 §5.13)"
    return describe(attribute.value)


#: what JSEP writes in o= (RFC 9429 §5.2.1) and other stacks as a "no address" value
_PLACEHOLDER_ADDRESSES = frozenset({"127.0.0.1", "0.0.0.0", "::1", "::", "localhost"})
#: seconds from 1900-01-01 (NTP, RFC 8866 §5.9) to 1970-01-01
_NTP_UNIX_OFFSET = 2_208_988_800


def _ntp_time(seconds: int) -> str:
    unix = seconds - _NTP_UNIX_OFFSET
    if not 0 <= unix < 253_402_300_800:  # outside years 1970..9999
        return f"{seconds} (NTP seconds)"
    moment = datetime.datetime.fromtimestamp(unix, datetime.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _timing(value: str) -> str:
    start_text, _, stop_text = value.partition(" ")
    if not (start_text.isdigit() and stop_text.isdigit()):
        return "active time (RFC 8866 §5.9)"
    start, stop = int(start_text), int(stop_text)
    if start == 0 and stop == 0:
        return "active time '0 0' = unbounded: the session is permanent (RFC 8866 §5.9)"
    if stop == 0:
        return (
            f"active from {_ntp_time(start)} with no end: unbounded once started "
            "(RFC 8866 §5.9; times are NTP seconds since 1900)"
        )
    if start == 0:
        return f"active until {_ntp_time(stop)} (RFC 8866 §5.9; times are NTP seconds since 1900)"
    return (
        f"active from {_ntp_time(start)} to {_ntp_time(stop)} "
        "(RFC 8866 §5.9; times are NTP seconds since 1900)"
    )


def _origin_line(desc: SessionDescription) -> str:
    o = desc.origin
    text = (
        f"origin: user {o.username!r}, session id {o.session_id}, version "
        f"{o.session_version} (bumped on every change) (RFC 8866 §5.2); "
    )
    if o.address in _PLACEHOLDER_ADDRESSES:
        return text + (
            f"the address {o.address} is a placeholder, as JSEP writes it (RFC 9429 §5.2.1)"
        )
    return text + (
        f"the address {o.address} is the host that created the session: SIP user agents "
        "write their own address here (WebRTC writes a placeholder)"
    )


def _session_line(prefix: str, value: str, desc: SessionDescription) -> str:
    if prefix == "t":
        return _timing(value)
    if prefix == "o":
        return _origin_line(desc)
    return {
        "v": "SDP version, always 0 (RFC 8866 §5.1)",
        "s": "session name; WebRTC writes '-' (RFC 8866 §5.3)",
        "c": "connection address (RFC 8866 §5.7): where media goes without ICE; WebRTC "
        "writes a placeholder and uses ICE candidates instead",
        "b": "bandwidth limit (RFC 8866 §5.8; AS in kbit/s, TIAS in bit/s per RFC 3890)",
        "i": "free-text information (RFC 8866 §5.4)",
        "u": "URI with more information (RFC 8866 §5.5)",
        "e": "email contact (RFC 8866 §5.6)",
        "p": "phone contact (RFC 8866 §5.6)",
        "r": "repeat times (RFC 8866 §5.10)",
        "z": "time zone adjustments (RFC 8866 §5.11)",
        "k": "encryption key: obsolete (RFC 8866 §5.12)",
    }.get(prefix, "")


def _named(m: MediaDescription) -> str:
    return (
        f"{m.kind} section, mid {m.mid!r}" if m.mid is not None else f"{m.kind} section (no a=mid)"
    )


def is_data_channel(m: MediaDescription) -> bool:
    """An ``m=application`` section that carries WebRTC data channels (RFC 8841)."""
    return m.kind == "application" and (
        m.protocol in _DATA_CHANNEL_PROTOCOLS or "webrtc-datachannel" in m.formats
    )


def _media_summary(m: MediaDescription, level: SessionDefaults, bundles: dict[str, Group]) -> str:
    if m.port == 0 and not m.bundle_only:
        return f"{_named(m)}: rejected or stopped (port 0, RFC 3264 §6)"
    parts = [_named(m)]
    if m.kind != "application":
        parts[0] += f", {m.effective_direction(level)}"
    group = bundles.get(m.mid) if m.mid is not None else None
    if group is not None and group.mids and group.mids[0] != m.mid:
        parts.append(
            f"bundled: once BUNDLE is accepted it uses the transport of mid {group.mids[0]!r},"
            " so its own port and candidates are only a fallback"
        )
    if m.kind in ("audio", "video"):
        names = [c.name for c in m.codecs() if c.name.lower() not in ("rtx",)]
        parts.append("codecs " + ", ".join(dict.fromkeys(names)))
    if is_data_channel(m):
        parts.append(f"data channels over SCTP port {_sctp_port(m)}")
    elif m.kind == "application":
        formats = " ".join(m.formats) or "none"
        parts.append(
            f"an application protocol, not a data channel: {m.protocol} "
            f"({_PROTOCOLS.get(m.protocol, 'a profile this tool does not know')}), "
            f"format {formats}"
        )
    parts.append(f"{len(m.candidates)} candidate(s)")
    return "; ".join(parts)


def _sctp_port(m: MediaDescription) -> str:
    """RFC 8841 §5 ``a=sctp-port``; the legacy syntax names it in ``a=sctpmap`` and in the
    format list (draft-ietf-mmusic-sctp-sdp-05); 5000 is the default."""
    if m.sctp_port is not None:
        return str(m.sctp_port)
    sctpmap = m.sctpmap
    if sctpmap is not None:
        return f"{sctpmap.number} (legacy a=sctpmap)"
    if m.protocol == "DTLS/SCTP" and m.formats and m.formats[0].isdigit():
        return f"{m.formats[0]} (legacy: the format list)"
    return "5000 (the default: no a=sctp-port)"


def _wrap(text: str, indent: str = "      ") -> list[str]:
    return textwrap.wrap(
        text, _WIDTH, initial_indent=indent + "↳ ", subsequent_indent=indent + "  "
    )


def explain(desc: SessionDescription) -> str:
    """The annotated walk; see the module docstring."""
    out: list[str] = []
    kind = guess_type(desc)
    what = {
        "offer": "probably an OFFER — inferred, the SDP does not say: a section has "
        "a=setup:actpass, which an answer may not use (RFC 5763 §5)",
        "answer": "probably an ANSWER — inferred, the SDP does not say: every section says "
        "a=setup:active or passive and none actpass (RFC 5763 §5)",
    }
    out.append(
        f"This SDP has {len(desc.media)} media section(s); it is "
        f"{what.get(kind or '', 'an offer or an answer: nothing in it tells which')}. SDP is "
        "RFC 8866; WebRTC's use of it is JSEP (RFC 9429)."
    )
    out.append("")
    out.append("── session level (applies to every section unless a section overrides it)")
    lines = str(desc).split("\r\n")[:-1]
    level, bundle_index = desc.defaults(), desc.bundle_group_index()
    section = -1
    for line in lines:
        letter, value = line[0], line[2:]
        shown = line if len(line) <= _WIDTH else line[: _WIDTH - 3] + "..."
        if letter == "m":
            section += 1
            m = desc.media[section]
            out.append("")
            out.append(f"── media section {section + 1}: {_media_summary(m, level, bundle_index)}")
            out.append(f"  {shown}")
            out.extend(
                _wrap(
                    f"media line: kind {m.kind}, port {m.port}, protocol {m.protocol} = "
                    f"{_PROTOCOLS.get(m.protocol, 'another profile')}; formats "
                    f"{' '.join(m.formats)} (RFC 8866 §5.14)"
                )
            )
            continue
        out.append(f"  {shown}")
        if letter == "a":
            name, sep, attr_value = value.partition(":")
            text = explain_attribute(Attribute(name, attr_value if sep else None))
        else:
            text = _session_line(letter, value, desc)
        if text:
            out.extend(_wrap(text))
    out.append("")
    bundles = desc.bundle_groups
    if bundles:
        out.append(
            f"Summary: BUNDLE {' '.join(bundles[0].mids)} → one ICE/DTLS transport for all of "
            "them; media is told apart by the mid header extension and SSRCs."
        )
    return "\n".join(out) + "\n"
