"""Demultiplexing one socket's datagrams by their first byte (RFC 7983 §7, RFC 9443).

A WebRTC peer connection sends STUN, DTLS, TURN ChannelData, RTP and RTCP over one UDP
5-tuple. RFC 7983 §7 assigns disjoint ranges of the *first byte* to each protocol, so a
receiver classifies a datagram with one comparison and no trial parsing. RFC 9443 updates
that table: it narrows TURN ChannelData to 64..79 (RFC 8656 §12 allows only the channel
numbers 0x4000..0x4FFF) and gives the bytes no one else uses to QUIC (RFC 9000 §17: a short
header starts 0b01, a long header 0b11)::

    +----------------+
    |        [0..3] -+--> STUN           (RFC 8489: the two top bits of a STUN message are 0)
    |      [16..19] -+--> ZRTP           (not used by WebRTC: dropped)
    |      [20..63] -+--> DTLS           (content types 20..63; DTLS 1.3's unified header
    |                |                    0b001xxxxx, RFC 9147 §4, is 32..63)
    |      [64..79] -+--> TURN Channel   (channel numbers 0x4000..0x4FFF)
    |     [80..127] -+--> QUIC           (RFC 9443; not used by WebRTC: dropped)
    |    [128..191] -+--> RTP/RTCP       (version 2 in the top two bits)
    |    [192..255] -+--> QUIC           (RFC 9443; not used by WebRTC: dropped)
    |   everything else (4..15) -> drop
    +----------------+

Inside the RTP/RTCP range, RFC 5761 §4 separates RTCP from RTP by the *second* byte:
RTCP packet types 192..223 (200 SR, 201 RR, ... 206 PSFB) land there, which is why RTP
payload types 64..95 must never be used when RTP and RTCP share a port (with the marker bit,
an RTP second byte of 192..223 is PT 64..95).

This is the one place the ranges are written. :func:`classify` is the general entry; the
receive paths index the 256-entry tables instead (one tuple index per datagram, no call):
:data:`FIRST_BYTE_KIND` (the kind, RTP not yet refined to RTCP), :data:`FOR_ICE` (the bytes
the ICE agent consumes: STUN and TURN ChannelData) and :data:`FOR_DTLS`.

This module sits at the bottom of the layer stack and imports nothing from pyrtcstack; the
peer connection and the ICE/TURN layers use it.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "FIRST_BYTE_KIND",
    "FOR_DTLS",
    "FOR_ICE",
    "Demultiplexer",
    "PacketKind",
    "classify",
    "is_rtcp",
]


class PacketKind(IntEnum):
    """What a datagram is, by RFC 7983 §7 (and RFC 5761 §4 for RTP versus RTCP)."""

    DROP = 0
    STUN = 1
    DTLS = 2
    TURN_CHANNEL = 3
    RTP = 4
    RTCP = 5


def _build_table() -> tuple[PacketKind, ...]:
    # RFC 7983 §7 as updated by RFC 9443 (the figure above). ZRTP (16..19), QUIC (80..127,
    # 192..255) and the unassigned 4..15 are DROP: a WebRTC peer speaks none of them.
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


#: The kind of a datagram by its first byte (index 0..255); RTP-range bytes say RTP, which
#: :func:`classify` refines to RTCP by the second byte.
FIRST_BYTE_KIND: tuple[PacketKind, ...] = _build_table()

#: ``FOR_ICE[first]``: the datagram is the ICE agent's own (STUN or TURN ChannelData);
#: everything else is handed on to the peer connection, which keeps DTLS and SRTP/SRTCP.
FOR_ICE: tuple[bool, ...] = tuple(
    k is PacketKind.STUN or k is PacketKind.TURN_CHANNEL for k in FIRST_BYTE_KIND
)

#: ``FOR_DTLS[first]``: the datagram is a DTLS record (RFC 7983 §7, 20..63).
FOR_DTLS: tuple[bool, ...] = tuple(k is PacketKind.DTLS for k in FIRST_BYTE_KIND)


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
    kind = FIRST_BYTE_KIND[data[0]]
    if kind is PacketKind.RTP:
        if len(data) < 2:
            return PacketKind.DROP
        if 192 <= data[1] <= 223:
            return PacketKind.RTCP
    return kind


class Demultiplexer:
    """:func:`classify` plus per-kind counters, for a driver that wants statistics.

    ``counts[kind]`` counts every datagram seen of that kind, ``counts[PacketKind.DROP]``
    those dropped (4..15, ZRTP 16..19, QUIC 80..127 and 192..255, empty, or a 1-byte
    RTP-range datagram).
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
