"""The Data Channel Establishment Protocol (RFC 8832): DATA_CHANNEL_OPEN and _ACK.

Both travel on the channel's own stream with PPID 50 (RFC 8832 §8.1), ordered and
reliable. OPEN (§5.1)::

    message type (1) = 0x03 | channel type (1) | priority (2) | reliability parameter (4)
    label length (2) | protocol length (2) | label | protocol      (UTF-8, no NUL)

ACK (§5.2) is the single byte 0x02 (pion writes 4 bytes; we accept trailing bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from ..common.errors import ParseError

__all__ = [
    "ChannelType",
    "DataChannelAck",
    "DataChannelOpen",
    "DcepParseError",
    "MessageType",
    "Ppid",
    "decode_dcep",
]

_OPEN = struct.Struct("!BBHIHH")


class DcepParseError(ParseError):
    """A DCEP message could not be decoded (RFC 8832 §5)."""


class MessageType(IntEnum):
    """DCEP message types (RFC 8832 §8.2.1)."""

    DATA_CHANNEL_ACK = 0x02
    DATA_CHANNEL_OPEN = 0x03


class ChannelType(IntEnum):
    """DCEP channel types (RFC 8832 §5.1, §8.2.2); bit 0x80 means unordered."""

    RELIABLE = 0x00
    RELIABLE_UNORDERED = 0x80
    PARTIAL_RELIABLE_REXMIT = 0x01
    PARTIAL_RELIABLE_REXMIT_UNORDERED = 0x81
    PARTIAL_RELIABLE_TIMED = 0x02
    PARTIAL_RELIABLE_TIMED_UNORDERED = 0x82


class Ppid(IntEnum):
    """SCTP payload protocol identifiers of WebRTC (RFC 8831 §8, RFC 8832 §8.1)."""

    DCEP = 50
    STRING = 51
    BINARY_PARTIAL = 52  # deprecated
    BINARY = 53
    STRING_PARTIAL = 54  # deprecated
    STRING_EMPTY = 56
    BINARY_EMPTY = 57


@dataclass(frozen=True, slots=True)
class DataChannelOpen:
    """DATA_CHANNEL_OPEN (RFC 8832 §5.1)."""

    channel_type: int = ChannelType.RELIABLE
    priority: int = 256
    reliability: int = 0
    label: str = ""
    protocol: str = ""

    def encode(self) -> bytes:
        label = self.label.encode("utf-8")
        protocol = self.protocol.encode("utf-8")
        if len(label) > 0xFFFF or len(protocol) > 0xFFFF:
            raise DcepParseError("label or protocol longer than 65535 bytes")
        return (
            _OPEN.pack(
                MessageType.DATA_CHANNEL_OPEN,
                self.channel_type,
                self.priority,
                self.reliability,
                len(label),
                len(protocol),
            )
            + label
            + protocol
        )

    @property
    def ordered(self) -> bool:
        return not self.channel_type & 0x80

    @property
    def max_retransmits(self) -> int | None:
        return self.reliability if self.channel_type & 0x7F == 0x01 else None

    @property
    def max_packet_life_time(self) -> int | None:
        """Milliseconds (RFC 8832 §5.1)."""
        return self.reliability if self.channel_type & 0x7F == 0x02 else None


@dataclass(frozen=True, slots=True)
class DataChannelAck:
    """DATA_CHANNEL_ACK (RFC 8832 §5.2)."""

    def encode(self) -> bytes:
        return bytes([MessageType.DATA_CHANNEL_ACK])


def decode_dcep(data: bytes) -> DataChannelOpen | DataChannelAck:
    """Decode a PPID-50 payload; raises :class:`DcepParseError` when malformed."""
    if not data:
        raise DcepParseError("empty DCEP message")
    kind = data[0]
    if kind == MessageType.DATA_CHANNEL_ACK:
        return DataChannelAck()
    if kind != MessageType.DATA_CHANNEL_OPEN:
        raise DcepParseError(f"unknown DCEP message type {kind}")
    if len(data) < _OPEN.size:
        raise DcepParseError("short DATA_CHANNEL_OPEN")
    _, ctype, priority, reliability, llen, plen = _OPEN.unpack_from(data)
    if ctype & 0x7F not in (0, 1, 2):
        raise DcepParseError(f"unknown channel type {ctype:#x}")
    if len(data) != _OPEN.size + llen + plen:
        raise DcepParseError("DATA_CHANNEL_OPEN length mismatch")
    try:
        label = data[12 : 12 + llen].decode("utf-8")
        protocol = data[12 + llen :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DcepParseError(f"label/protocol not UTF-8: {exc}") from None
    return DataChannelOpen(ctype, priority, reliability, label, protocol)
