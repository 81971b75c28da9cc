"""Demultiplexing one socket's datagrams by their first byte (RFC 7983 §7).

A WebRTC peer connection sends STUN, DTLS, TURN ChannelData, RTP and RTCP over one UDP
5-tuple. RFC 7983 §7 assigns disjoint ranges of the *first byte* to each protocol, so a
receiver classifies a datagram with one comparison and no trial parsing::

    +----------------+
    |        [0..3] -+--> STUN           (RFC 8489: the two top bits of a STUN message are 0)
    |      [16..19] -+--> ZRTP           (not used by WebRTC: dropped)
    |      [20..63] -+--> DTLS           (TLS content types 20..63)
    |      [64..79] -+--> TURN Channel   (channel numbers 0x4000..0x4FFF)
    |    [128..191] -+--> RTP/RTCP       (version 2 in the top two bits)
    |   everything else -> drop
    +----------------+

Inside the RTP/RTCP range, RFC 5761 §4 separates RTCP from RTP by the *second* byte:
RTCP packet types 192..223 (200 SR, 201 RR, ... 206 PSFB) land there, which is why RTP
payload types 64..95 must never be used when RTP and RTCP share a port (with the marker bit,
an RTP second byte of 192..223 is PT 64..95).

This module sits at the bottom of the layer stack and imports nothing from pyrtcstack but
``common``; the peer connection and the ICE/TURN layers call :func:`classify`.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Demultiplexer", "PacketKind", "classify", "is_rtcp"]


class PacketKind(IntEnum):
    """What a datagram is, by RFC 7983 §7 (and RFC 5761 §4 for RTP versus RTCP)."""

    DROP = 0
    STUN = 1
    DTLS = 2
    TURN_CHANNEL = 3
    RTP = 4
    RTCP = 5


def _build_table() -> tuple[PacketKind, ...]:
    table = [PacketKind.DROP] * 256
    for b in range(256):
        if b <= 3:
            table[b] = PacketKind.STUN
        elif 20 <= b <= 63:
            table[b] = PacketKind.DTLS
        elif 64 <= b <= 79:
            table[b] = PacketKind.TURN_CHANNEL
        elif 128 <= b <= 191:
            table[b] = PacketKind.RTP  # refined to RTCP by the second byte
    return tuple(table)


_FIRST_BYTE = _build_table()


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4: an RTP/RTCP datagram is RTCP when its second byte is 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def classify(data: bytes | bytearray | memoryview) -> PacketKind:
    """Classify one datagram by its first byte (RFC 7983 §7); empty data is dropped.

    An RTP-range datagram shorter than 2 bytes is dropped: neither RTP nor RTCP can be
    that short, and RFC 5761 needs the second byte.
    """
    if not data:
        return PacketKind.DROP
    kind = _FIRST_BYTE[data[0]]
    if kind is PacketKind.RTP:
        if len(data) < 2:
            return PacketKind.DROP
        if 192 <= data[1] <= 223:
            return PacketKind.RTCP
    return kind


class Demultiplexer:
    """:func:`classify` plus per-kind counters, for a driver that wants statistics.

    ``counts[kind]`` counts every datagram seen of that kind, ``counts[PacketKind.DROP]``
    those dropped (ZRTP, 4..15, 80..127, 192..255, empty, or a 1-byte RTP-range datagram).
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[PacketKind, int] = dict.fromkeys(PacketKind, 0)

    def classify(self, data: bytes | bytearray | memoryview) -> PacketKind:
        kind = classify(data)
        self.counts[kind] += 1
        return kind

    @property
    def dropped(self) -> int:
        return self.counts[PacketKind.DROP]
