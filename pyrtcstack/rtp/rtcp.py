"""RTCP packets (RFC 3550 §6) and feedback messages (RFC 4585 §6, RFC 5104 §4.3).

Every RTCP packet starts with the same 4 bytes::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P| RC/FMT  |      PT       |    length (32-bit words - 1)  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

and a *compound* packet is several of them back to back (RFC 3550 §6.1). A compound
packet normally begins with SR or RR; with reduced-size RTCP (RFC 5506) a datagram may
carry a single feedback packet, so :func:`parse_rtcp` accepts any packet type first.

Validation is strict (RFC 3550 A.2 plus exact per-type layouts): every packet's length
field must lie inside the datagram, the body of each type must be consumed exactly, the
padding count must fit. Anything else raises
:class:`~pyrtcstack.rtp.errors.RtcpParseError`. Packet types we do not model (XR, ...)
decode to :class:`RtcpUnknown` so one unknown packet does not lose a whole compound.

The feedback types live in :mod:`pyrtcstack.rtp.feedback`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..common.buffer import BufferReadError, Reader, Writer
from .errors import RtcpParseError, RtpUsageError

__all__ = [
    "RTCP_APP",
    "RTCP_BYE",
    "RTCP_PSFB",
    "RTCP_RR",
    "RTCP_RTPFB",
    "RTCP_SDES",
    "RTCP_SR",
    "SDES_CNAME",
    "ReportBlock",
    "RtcpApp",
    "RtcpBye",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSdes",
    "RtcpSenderReport",
    "RtcpUnknown",
    "SdesChunk",
    "parse_rtcp",
    "serialize_rtcp",
]

# RFC 3550 §12.1 and RFC 4585 §6.1 packet types.
RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_RTPFB = 205
RTCP_PSFB = 206

#: RFC 3550 §6.5.1: canonical end-point identifier.
SDES_CNAME = 1

_REPORT = struct.Struct("!IIIIII")


class RtcpPacket:
    """Base class of every RTCP packet: ``serialize()`` returns its wire bytes."""

    packet_type: int = 0

    def serialize(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError


def _header(count: int, packet_type: int, body: bytes, padding: int = 0) -> bytes:
    """Prefix ``body`` with the common header. A body that is not 32-bit aligned gets
    RTCP padding (P bit, RFC 3550 §6.4.1): zeros then the padding count."""
    if not 0 <= count <= 31:
        raise RtpUsageError(f"RTCP count/FMT {count} out of range")
    if len(body) % 4:
        padding = max(padding, 0) + (-len(body) % 4)
    pad = b""
    if padding:
        if (len(body) + padding) % 4 or not 1 <= padding <= 255:
            raise RtpUsageError("RTCP padding must make the packet 32-bit aligned")
        pad = bytes(padding - 1) + bytes((padding,))
    words = (len(body) + len(pad)) // 4
    if words > 0xFFFF:
        raise RtpUsageError("RTCP packet too long")
    return (
        struct.pack("!BBH", 0x80 | (0x20 if padding else 0) | count, packet_type, words)
        + body
        + pad
    )


@dataclass
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1), 24 bytes.

    ``cumulative_lost`` is a signed 24-bit count (duplicates can make it negative);
    ``lsr`` is the middle 32 bits of the last SR's NTP time, ``dlsr`` the delay since it in
    units of 1/65536 s.
    """

    ssrc: int
    fraction_lost: int = 0
    cumulative_lost: int = 0
    highest_sequence: int = 0
    jitter: int = 0
    lsr: int = 0
    dlsr: int = 0

    @classmethod
    def parse(cls, r: Reader) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT.unpack(r.take(24))
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        if not -(1 << 23) <= self.cumulative_lost < (1 << 23):
            raise RtpUsageError("cumulative_lost does not fit in 24 signed bits")
        lost = ((self.fraction_lost & 0xFF) << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT.pack(
            self.ssrc, lost, self.highest_sequence, self.jitter, self.lsr, self.dlsr
        )


@dataclass
class RtcpSenderReport(RtcpPacket):
    """SR (RFC 3550 §6.4.1): sender info (NTP and RTP timestamps, packet and octet
    counts) then report blocks, then optional profile-specific extension bytes."""

    ssrc: int
    ntp_timestamp: int = 0
    rtp_timestamp: int = 0
    packet_count: int = 0
    octet_count: int = 0
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""
    packet_type = RTCP_SR

    def serialize(self) -> bytes:
        body = struct.pack(
            "!IQIII",
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(rb.serialize() for rb in self.reports) + self.extension
        return _header(len(self.reports), RTCP_SR, body)


@dataclass
class RtcpReceiverReport(RtcpPacket):
    """RR (RFC 3550 §6.4.2): the reporter's SSRC then report blocks."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""
    packet_type = RTCP_RR

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc)
        body += b"".join(rb.serialize() for rb in self.reports) + self.extension
        return _header(len(self.reports), RTCP_RR, body)


@dataclass
class SdesChunk:
    """One SDES chunk (RFC 3550 §6.5): an SSRC and its ``(item type, value)`` items."""

    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)

    def item(self, item_type: int) -> bytes | None:
        for t, v in self.items:
            if t == item_type:
                return v
        return None


@dataclass
class RtcpSdes(RtcpPacket):
    """SDES (RFC 3550 §6.5): chunks, each ended by a null item and padded to 32 bits."""

    chunks: list[SdesChunk] = field(default_factory=list)
    packet_type = RTCP_SDES

    def serialize(self) -> bytes:
        w = Writer()
        for chunk in self.chunks:
            start = len(w)
            w.u32(chunk.ssrc)
            for item_type, value in chunk.items:
                if not 1 <= item_type <= 255 or len(value) > 255:
                    raise RtpUsageError("SDES item type 1..255, value at most 255 bytes")
                w.u8(item_type)
                w.vector(1, value)
            # RFC 3550 §6.5: terminate with one to four null octets up to a 32-bit boundary.
            w.write(bytes(4 - (len(w) - start) % 4))
        return _header(len(self.chunks), RTCP_SDES, w.getvalue())


@dataclass
class RtcpBye(RtcpPacket):
    """BYE (RFC 3550 §6.6): the SSRCs leaving, and an optional reason text."""

    sources: list[int] = field(default_factory=list)
    reason: bytes | None = None
    packet_type = RTCP_BYE

    def serialize(self) -> bytes:
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtpUsageError("BYE reason at most 255 bytes")
            r = bytes((len(self.reason),)) + self.reason
            body += r + bytes(-len(r) % 4)
        return _header(len(self.sources), RTCP_BYE, body)


@dataclass
class RtcpApp(RtcpPacket):
    """APP (RFC 3550 §6.7): subtype, SSRC, a 4-character name and 32-bit aligned data."""

    ssrc: int
    name: bytes = b"    "
    data: bytes = b""
    subtype: int = 0
    packet_type = RTCP_APP

    def serialize(self) -> bytes:
        if len(self.name) != 4:
            raise RtpUsageError("APP name is 4 bytes")
        return _header(self.subtype, RTCP_APP, struct.pack("!I", self.ssrc) + self.name + self.data)


@dataclass
class RtcpUnknown(RtcpPacket):
    """A packet type this module does not model, kept verbatim (body without padding)."""

    packet_type_value: int
    count: int
    body: bytes

    @property
    def packet_type(self) -> int:  # type: ignore[override]
        return self.packet_type_value

    def serialize(self) -> bytes:
        return _header(self.count, self.packet_type_value, self.body)


def _parse_sr(count: int, r: Reader) -> RtcpSenderReport:
    ssrc, ntp, rtp_ts, packets, octets = struct.unpack("!IQIII", r.take(24))
    reports = [ReportBlock.parse(r) for _ in range(count)]
    return RtcpSenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, r.rest())


def _parse_rr(count: int, r: Reader) -> RtcpReceiverReport:
    ssrc = r.u32()
    reports = [ReportBlock.parse(r) for _ in range(count)]
    return RtcpReceiverReport(ssrc, reports, r.rest())


def _parse_sdes(count: int, r: Reader) -> RtcpSdes:
    chunks = []
    for _ in range(count):
        start = r.pos
        chunk = SdesChunk(r.u32())
        while True:
            item_type = r.u8()
            if item_type == 0:
                break
            chunk.items.append((item_type, r.vector(1)))
        # the null item plus padding to the next 32-bit boundary (all zero octets)
        pad = -(r.pos - start) % 4
        if any(r.take(pad)):
            raise RtcpParseError("non-zero SDES chunk padding")
        chunks.append(chunk)
    # Extra null octets after the last chunk are tolerated: aiortc ends every chunk with
    # two nulls *then* pads, which adds a whole zero word when the items end 1 byte short
    # of a boundary. Anything non-zero there is an error.
    if any(r.rest()):
        raise RtcpParseError("trailing bytes after the SDES chunks")
    return RtcpSdes(chunks)


def _parse_bye(count: int, r: Reader) -> RtcpBye:
    sources = [r.u32() for _ in range(count)]
    reason = None
    if not r.eof():
        reason = r.vector(1)
        pad = -(1 + len(reason)) % 4
        r.skip(pad)
    r.expect_end("BYE packet")
    return RtcpBye(sources, reason)


def _parse_app(count: int, r: Reader) -> RtcpApp:
    ssrc = r.u32()
    name = r.take(4)
    return RtcpApp(ssrc, name, r.rest(), count)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Decode a (compound or reduced-size) RTCP datagram into its packets.

    Raises :class:`RtcpParseError` unless every packet is well formed and the packets
    cover the datagram exactly (RFC 3550 A.2).
    """
    from .feedback import parse_psfb, parse_rtpfb

    n = len(data)
    if n < 4:
        raise RtcpParseError("truncated RTCP header")
    packets: list[RtcpPacket] = []
    pos = 0
    try:
        while pos < n:
            if n - pos < 4:
                raise RtcpParseError("truncated RTCP header")
            b0, pt, words = struct.unpack_from("!BBH", data, pos)
            if b0 >> 6 != 2:
                raise RtcpParseError(f"RTCP version {b0 >> 6}, expected 2")
            size = 4 + 4 * words
            if pos + size > n:
                raise RtcpParseError("RTCP packet truncated (length field past the datagram)")
            end = pos + size
            if b0 & 0x20:
                padding = data[end - 1]
                if padding == 0 or padding > size - 4:
                    raise RtcpParseError(f"invalid RTCP padding count {padding}")
                body_end = end - padding
            else:
                body_end = end
            count = b0 & 0x1F
            r = Reader(data, pos + 4, body_end)
            if pt == RTCP_SR:
                packets.append(_parse_sr(count, r))
            elif pt == RTCP_RR:
                packets.append(_parse_rr(count, r))
            elif pt == RTCP_SDES:
                packets.append(_parse_sdes(count, r))
            elif pt == RTCP_BYE:
                packets.append(_parse_bye(count, r))
            elif pt == RTCP_APP:
                packets.append(_parse_app(count, r))
            elif pt == RTCP_RTPFB:
                packets.append(parse_rtpfb(count, r))
            elif pt == RTCP_PSFB:
                packets.append(parse_psfb(count, r))
            elif 192 <= pt <= 223:
                packets.append(RtcpUnknown(pt, count, r.rest()))
            else:
                raise RtcpParseError(f"packet type {pt} is not RTCP (RFC 5761 §4: 192..223)")
            pos = end
    except BufferReadError as exc:
        raise RtcpParseError(f"RTCP packet body malformed: {exc}") from None
    return packets


def serialize_rtcp(packets: list[RtcpPacket]) -> bytes:
    """Concatenate packets into one compound RTCP datagram (RFC 3550 §6.1)."""
    return b"".join(p.serialize() for p in packets)
