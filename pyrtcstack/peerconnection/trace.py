"""A narrated timeline of every protocol step, for learners (``pyrtcstack demo --trace``).

The core calls :class:`Tracer` with each datagram it sends or receives (before
encryption for SCTP, which rides inside DTLS) and with notable transitions; the tracer
describes it in one line with the RFC section that defines it and hands a
:class:`TraceRecord` to the user's callback. Decoding here is best effort and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..common.core import Address
from ..demux import PacketKind, classify
from ..sctp.chunks import (
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    decode_packet,
)
from ..stun import AttributeType, MessageClass, Method, StunParseError, decode

__all__ = ["TraceRecord", "Tracer", "describe_dtls", "describe_sctp", "describe_stun"]

_HANDSHAKE = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    3: "HelloVerifyRequest",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}
_CONTENT = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
_PPID = {50: "DCEP", 51: "string", 53: "binary", 56: "empty string", 57: "empty binary"}


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One step: ``time`` (seconds, the driver's clock), ``layer`` (ICE, DTLS, SCTP,
    SRTP...), ``direction`` ("send", "recv" or "note"), ``peer`` and a description."""

    time: float
    layer: str
    direction: str
    text: str
    local: Address | None = None
    peer: Address | None = None


def describe_stun(data: bytes) -> str:
    """A STUN message as a learner reads it (RFC 8445 §7: checks; RFC 7675: consent)."""
    try:
        msg = decode(data, check_fingerprint=False)
    except StunParseError:
        return "malformed STUN"
    method = Method(msg.method).name if msg.method in Method._value2member_map_ else hex(msg.method)
    cls = MessageClass(msg.message_class).name.lower().replace("_", " ")
    parts = [f"STUN {method} {cls}"]
    if msg.method == Method.BINDING and msg.message_class is MessageClass.REQUEST:
        user = msg.get_text(AttributeType.USERNAME)
        if user:
            parts.append(f"USERNAME={user}")
        if msg.has(AttributeType.USE_CANDIDATE):
            parts.append("USE-CANDIDATE (nomination, RFC 8445 §7.2.2)")
        elif msg.has(AttributeType.ICE_CONTROLLING):
            parts.append("ICE-CONTROLLING (connectivity check, RFC 8445 §7.2.4)")
        elif msg.has(AttributeType.ICE_CONTROLLED):
            parts.append("ICE-CONTROLLED (connectivity check, RFC 8445 §7.2.4)")
    elif msg.method == Method.BINDING and msg.message_class is MessageClass.SUCCESS:
        mapped = msg.get_address(AttributeType.XOR_MAPPED_ADDRESS)
        if mapped:
            parts.append(f"XOR-MAPPED-ADDRESS={mapped[0]}:{mapped[1]} (RFC 8489 §14.2)")
    elif msg.message_class is MessageClass.INDICATION:
        parts.append("(keepalive, RFC 8445 §11)")
    return " ".join(parts)


def describe_dtls(data: bytes) -> str:
    """The records of a DTLS datagram (RFC 6347 §4.1; handshake types §4.2.2)."""
    out: list[str] = []
    pos = 0
    while pos + 13 <= len(data):
        ctype = data[pos]
        epoch = int.from_bytes(data[pos + 3 : pos + 5], "big")
        length = int.from_bytes(data[pos + 11 : pos + 13], "big")
        body = data[pos + 13 : pos + 13 + length]
        name = _CONTENT.get(ctype, f"type {ctype}")
        if ctype == 22 and epoch == 0 and len(body) >= 12:
            hs = _HANDSHAKE.get(body[0], f"handshake {body[0]}")
            frag_len = int.from_bytes(body[9:12], "big")
            total = int.from_bytes(body[1:4], "big")
            frag = "" if frag_len == total else " (fragment)"
            out.append(hs + frag)
        elif ctype == 22:
            out.append(f"encrypted Handshake (Finished), epoch {epoch}")
        elif ctype == 23:
            out.append(f"ApplicationData {length} B")
        else:
            out.append(name)
        pos += 13 + length
    return "DTLS " + (", ".join(out) if out else "(malformed)")


def describe_sctp(packet: bytes) -> str:
    """The chunks of one SCTP packet (RFC 9260 §3.3) inside a DTLS record (RFC 8261)."""
    try:
        decoded = decode_packet(packet)
    except ValueError:
        return "malformed SCTP"
    out: list[str] = []
    for chunk in decoded.chunks:
        if isinstance(chunk, DataChunk):
            what = _PPID.get(chunk.ppid, f"PPID {chunk.ppid}")
            if chunk.ppid == 50 and chunk.data:
                what = {3: "DATA_CHANNEL_OPEN", 2: "DATA_CHANNEL_ACK"}.get(chunk.data[0], "DCEP")
                what += " (RFC 8832 §5)"
            out.append(f"DATA tsn={chunk.tsn} stream={chunk.stream_id} {what} {len(chunk.data)} B")
        elif isinstance(chunk, InitAckChunk):
            out.append("INIT-ACK (RFC 9260 §5.1 B, carries the state cookie)")
        elif isinstance(chunk, InitChunk):
            out.append("INIT (RFC 9260 §5.1 A)")
        elif isinstance(chunk, CookieEchoChunk):
            out.append("COOKIE-ECHO (RFC 9260 §5.1 C)")
        elif isinstance(chunk, CookieAckChunk):
            out.append("COOKIE-ACK (RFC 9260 §5.1 E)")
        elif isinstance(chunk, SackChunk):
            out.append(f"SACK cum_tsn={chunk.cumulative_tsn} a_rwnd={chunk.a_rwnd}")
        elif isinstance(chunk, HeartbeatAckChunk):
            out.append("HEARTBEAT-ACK")
        elif isinstance(chunk, HeartbeatChunk):
            out.append("HEARTBEAT (RFC 9260 §8.3)")
        elif isinstance(chunk, ForwardTsnChunk):
            out.append("FORWARD-TSN (RFC 3758 §3.2)")
        elif isinstance(chunk, ReconfigChunk):
            out.append("RE-CONFIG stream reset (RFC 6525, closes a channel RFC 8831 §6.7)")
        elif isinstance(chunk, AbortChunk):
            out.append("ABORT (RFC 9260 §9.1)")
        elif isinstance(chunk, ShutdownCompleteChunk):
            out.append("SHUTDOWN-COMPLETE")
        elif isinstance(chunk, ShutdownAckChunk):
            out.append("SHUTDOWN-ACK")
        elif isinstance(chunk, ShutdownChunk):
            out.append("SHUTDOWN (RFC 9260 §9.2)")
        else:
            out.append(type(chunk).__name__)
    return "SCTP " + ", ".join(out)


class Tracer:
    """Turns raw steps into :class:`TraceRecord` objects for ``callback``."""

    def __init__(self, callback: Callable[[object], None]) -> None:
        self.callback = callback
        self.media_packets = {"send": 0, "recv": 0}

    def note(self, now: float, layer: str, text: str) -> None:
        self.callback(TraceRecord(now, layer, "note", text))

    def datagram(
        self, direction: str, data: bytes, peer: Address, local: Address | None, now: float
    ) -> None:
        kind = classify(data)
        if kind is PacketKind.STUN:
            self.callback(TraceRecord(now, "ICE", direction, describe_stun(data), local, peer))
        elif kind is PacketKind.DTLS:
            text = describe_dtls(data)
            if data[0] == 23:
                return  # application data: the SCTP line says what is inside
            self.callback(TraceRecord(now, "DTLS", direction, text, local, peer))
        elif kind in (PacketKind.RTP, PacketKind.RTCP):
            count = self.media_packets[direction] = self.media_packets[direction] + 1
            if count <= 3 or kind is PacketKind.RTCP:
                label = "SRTP" if kind is PacketKind.RTP else "SRTCP"
                text = (
                    f"{label} {len(data)} B, PT {data[1] & 0x7F}, SSRC "
                    f"{int.from_bytes(data[8:12], 'big'):08x} (RFC 3711)"
                    if kind is PacketKind.RTP
                    else f"{label} {len(data)} B (RFC 3711 §3.4)"
                )
                self.callback(TraceRecord(now, "SRTP", direction, text, local, peer))
        elif kind is PacketKind.TURN_CHANNEL:
            self.callback(
                TraceRecord(now, "TURN", direction, "ChannelData (RFC 8656 §12.4)", local, peer)
            )

    def sctp(self, direction: str, packet: bytes, now: float) -> None:
        self.callback(TraceRecord(now, "SCTP", direction, describe_sctp(packet)))
