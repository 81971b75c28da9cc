"""RTCP feedback messages (RFC 4585 §6): transport-layer (RTPFB, PT 205) and
payload-specific (PSFB, PT 206).

Common layout after the 4-byte RTCP header (the FMT field is the count field)::

    | SSRC of packet sender | SSRC of media source | feedback control information (FCI) |

Modelled: Generic NACK (RTPFB 1, RFC 4585 §6.2.1), transport-wide congestion control
feedback (RTPFB 15, draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), PLI (PSFB 1,
RFC 4585 §6.3.1), FIR (PSFB 4, RFC 5104 §4.3.1) and REMB (PSFB 15 with the "REMB"
identifier, draft-alvestrand-rmcat-remb §2). Every other FMT decodes to
:class:`RtcpFeedback` with its FCI bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..common.buffer import Reader
from .errors import RtcpParseError, RtpUsageError
from .rtcp import RTCP_PSFB, RTCP_RTPFB, RtcpPacket, _header

__all__ = [
    "PSFB_AFB",
    "PSFB_FIR",
    "PSFB_PLI",
    "RTPFB_NACK",
    "RTPFB_TWCC",
    "FirEntry",
    "FullIntraRequest",
    "GenericNack",
    "PictureLossIndication",
    "ReceiverEstimatedMaxBitrate",
    "RtcpFeedback",
    "TransportWideCc",
    "nack_pairs",
]

RTPFB_NACK = 1
RTPFB_TWCC = 15
PSFB_PLI = 1
PSFB_FIR = 4
PSFB_AFB = 15

#: TWCC packet status symbols (draft-holmer §3.1.1).
TWCC_NOT_RECEIVED = 0
TWCC_SMALL_DELTA = 1
TWCC_LARGE_DELTA = 2


@dataclass
class RtcpFeedback(RtcpPacket):
    """A feedback message of a FMT not modelled here (kept with its raw FCI)."""

    ptype: int
    fmt: int
    sender_ssrc: int
    media_ssrc: int
    fci: bytes = b""

    @property
    def packet_type(self) -> int:  # type: ignore[override]
        return self.ptype

    def serialize(self) -> bytes:
        body = struct.pack("!II", self.sender_ssrc, self.media_ssrc) + self.fci
        return _header(self.fmt, self.ptype, body)


def nack_pairs(lost: list[int]) -> list[tuple[int, int]]:
    """Pack sequence numbers into RFC 4585 §6.2.1 ``(PID, BLP)`` pairs: BLP bit i set
    means PID + i + 1 is lost too. Handles wrap-around (sequence arithmetic mod 2^16)."""
    pairs: list[tuple[int, int]] = []
    for value in lost:
        seq = value & 0xFFFF
        if pairs:
            pid, blp = pairs[-1]
            diff = (seq - pid) & 0xFFFF
            if diff == 0:
                continue
            if 1 <= diff <= 16:
                pairs[-1] = (pid, blp | (1 << (diff - 1)))
                continue
        pairs.append((seq, 0))
    return pairs


@dataclass
class GenericNack(RtcpPacket):
    """Generic NACK (RFC 4585 §6.2.1): the lost sequence numbers, packed as PID/BLP."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int] = field(default_factory=list)
    packet_type = RTCP_RTPFB

    def serialize(self) -> bytes:
        if not self.lost:
            raise RtpUsageError("a Generic NACK needs at least one sequence number")
        fci = b"".join(struct.pack("!HH", pid, blp) for pid, blp in nack_pairs(self.lost))
        return _header(
            RTPFB_NACK, RTCP_RTPFB, struct.pack("!II", self.sender_ssrc, self.media_ssrc) + fci
        )


@dataclass
class TransportWideCc(RtcpPacket):
    """Transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).

    ``statuses[i]`` is the symbol of transport sequence ``base_sequence + i`` (0 not
    received, 1 small delta, 2 large or negative delta); ``deltas`` has one receive delta,
    in 250 µs ticks, per received packet; ``reference_time`` counts 64 ms units.
    """

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int = 0
    reference_time: int = 0
    feedback_count: int = 0
    statuses: list[int] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)
    packet_type = RTCP_RTPFB

    def serialize(self) -> bytes:
        n = len(self.statuses)
        if n > 0xFFFF:
            raise RtpUsageError("too many TWCC statuses")
        w = bytearray(
            struct.pack(
                "!IIHHI",
                self.sender_ssrc,
                self.media_ssrc,
                self.base_sequence & 0xFFFF,
                n,
                ((self.reference_time & 0xFFFFFF) << 8) | (self.feedback_count & 0xFF),
            )
        )
        # Chunks: a run-length chunk for runs >= 7 (or the tail), else 2-bit vectors of 7.
        i = 0
        while i < n:
            symbol = self.statuses[i]
            run = 1
            while i + run < n and self.statuses[i + run] == symbol and run < 0x1FFF:
                run += 1
            if run >= 7 or i + run == n:
                w += struct.pack("!H", (symbol << 13) | run)
                i += run
            else:
                chunk = 0xC000
                for k in range(7):
                    s = self.statuses[i + k] if i + k < n else 0
                    chunk |= s << (12 - 2 * k)
                w += struct.pack("!H", chunk)
                i += 7
        k = 0
        for s in self.statuses:
            if s == TWCC_SMALL_DELTA:
                w += struct.pack("!B", self.deltas[k])
                k += 1
            elif s == TWCC_LARGE_DELTA:
                w += struct.pack("!h", self.deltas[k])
                k += 1
        if k != len(self.deltas):
            raise RtpUsageError("one delta per received packet")
        # draft-holmer §3.1: pad to 32 bits (as Chrome does, with the RTCP P bit)
        return _header(RTPFB_TWCC, RTCP_RTPFB, bytes(w))


def _parse_twcc(sender: int, media: int, r: Reader) -> TransportWideCc:
    base, count, ref = struct.unpack("!HHI", r.take(8))
    statuses: list[int] = []
    while len(statuses) < count:
        chunk = r.u16()
        if not chunk & 0x8000:  # run-length chunk
            symbol = (chunk >> 13) & 0x3
            statuses.extend([symbol] * (chunk & 0x1FFF))
        elif not chunk & 0x4000:  # status vector, 14 one-bit symbols
            statuses.extend((chunk >> (13 - k)) & 1 for k in range(14))
        else:  # status vector, 7 two-bit symbols
            statuses.extend((chunk >> (12 - 2 * k)) & 3 for k in range(7))
    del statuses[count:]
    deltas: list[int] = []
    for s in statuses:
        if s == TWCC_SMALL_DELTA:
            deltas.append(r.u8())
        elif s == TWCC_LARGE_DELTA:
            deltas.append(struct.unpack("!h", r.take(2))[0])
        elif s != TWCC_NOT_RECEIVED:
            raise RtcpParseError("reserved TWCC status symbol 3")
    rest = r.rest()
    if len(rest) > 3 or any(rest):
        raise RtcpParseError("trailing bytes after TWCC receive deltas")
    return TransportWideCc(sender, media, base, ref >> 8, ref & 0xFF, statuses, deltas)


@dataclass
class PictureLossIndication(RtcpPacket):
    """PLI (RFC 4585 §6.3.1): no FCI; asks the sender of ``media_ssrc`` for a keyframe."""

    sender_ssrc: int
    media_ssrc: int
    packet_type = RTCP_PSFB

    def serialize(self) -> bytes:
        return _header(PSFB_PLI, RTCP_PSFB, struct.pack("!II", self.sender_ssrc, self.media_ssrc))


@dataclass(frozen=True)
class FirEntry:
    """One FIR FCI entry (RFC 5104 §4.3.1.1): target SSRC and command sequence number."""

    ssrc: int
    sequence: int


@dataclass
class FullIntraRequest(RtcpPacket):
    """FIR (RFC 5104 §4.3.1): one entry per target SSRC; a repeated sequence number is a
    retransmission of the same request (§4.3.1.2), not a new one."""

    sender_ssrc: int
    media_ssrc: int = 0
    entries: list[FirEntry] = field(default_factory=list)
    packet_type = RTCP_PSFB

    def serialize(self) -> bytes:
        body = struct.pack("!II", self.sender_ssrc, self.media_ssrc) + b"".join(
            struct.pack("!IB3x", e.ssrc, e.sequence & 0xFF) for e in self.entries
        )
        return _header(PSFB_FIR, RTCP_PSFB, body)


@dataclass
class ReceiverEstimatedMaxBitrate(RtcpPacket):
    """REMB (draft-alvestrand-rmcat-remb §2.2): bitrate = mantissa * 2^exp bits/s."""

    sender_ssrc: int
    bitrate: int
    ssrcs: list[int] = field(default_factory=list)
    packet_type = RTCP_PSFB

    def serialize(self) -> bytes:
        exp = 0
        mantissa = self.bitrate
        while mantissa >= (1 << 18):
            mantissa >>= 1
            exp += 1
        if exp > 63 or len(self.ssrcs) > 255:
            raise RtpUsageError("REMB bitrate or SSRC count out of range")
        body = struct.pack(
            "!II4sBBH",
            self.sender_ssrc,
            0,
            b"REMB",
            len(self.ssrcs),
            (exp << 2) | (mantissa >> 16),
            mantissa & 0xFFFF,
        )
        body += b"".join(struct.pack("!I", s) for s in self.ssrcs)
        return _header(PSFB_AFB, RTCP_PSFB, body)


def parse_rtpfb(fmt: int, r: Reader) -> RtcpPacket:
    """Decode a transport-layer feedback message body (RFC 4585 §6.2)."""
    sender, media = r.u32(), r.u32()
    if fmt == RTPFB_NACK:
        if r.remaining == 0 or r.remaining % 4:
            # RFC 4585 §6.2.1: the FCI holds at least one 4-byte PID/BLP entry.
            raise RtcpParseError("Generic NACK FCI must be one or more 4-byte entries")
        lost: list[int] = []
        while not r.eof():
            pid, blp = r.u16(), r.u16()
            lost.append(pid)
            lost.extend((pid + i + 1) & 0xFFFF for i in range(16) if blp >> i & 1)
        return GenericNack(sender, media, lost)
    if fmt == RTPFB_TWCC:
        return _parse_twcc(sender, media, r)
    return RtcpFeedback(RTCP_RTPFB, fmt, sender, media, r.rest())


def parse_psfb(fmt: int, r: Reader) -> RtcpPacket:
    """Decode a payload-specific feedback message body (RFC 4585 §6.3)."""
    sender, media = r.u32(), r.u32()
    if fmt == PSFB_PLI:
        r.expect_end("PLI (RFC 4585 §6.3.1: no FCI)")
        return PictureLossIndication(sender, media)
    if fmt == PSFB_FIR:
        if r.remaining == 0 or r.remaining % 8:
            raise RtcpParseError("FIR FCI must be one or more 8-byte entries")
        entries = []
        while not r.eof():
            ssrc, seq = struct.unpack("!IB3x", r.take(8))
            entries.append(FirEntry(ssrc, seq))
        return FullIntraRequest(sender, media, entries)
    if fmt == PSFB_AFB and r.peek(4) == b"REMB":
        r.skip(4)
        num, b1, mantissa_low = struct.unpack("!BBH", r.take(4))
        exp = b1 >> 2
        mantissa = ((b1 & 3) << 16) | mantissa_low
        ssrcs = [r.u32() for _ in range(num)]
        r.expect_end("REMB")
        return ReceiverEstimatedMaxBitrate(sender, mantissa << exp, ssrcs)
    return RtcpFeedback(RTCP_PSFB, fmt, sender, media, r.rest())
