"""The TURN ChannelData message (RFC 8656 §12.4–12.6).

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |         Channel Number        |            Length             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /                       Application Data                        /
    +-------------------------------+-------------------------------+

A 4-byte header instead of a 36-byte Send/Data indication: once a channel is bound
(ChannelBind, §12.1), data to and from that peer travels in this form. The channel number
is 0x4000–0x4FFF (§12), so the first byte is 64–79, which is how RFC 7983 demultiplexes it
from STUN (0–3), DTLS and RTP. ``Length`` counts the application data only.

Padding (§12.5): over TCP/TLS the message MUST be padded to a multiple of four bytes so the
next message starts aligned; over UDP padding is optional and a receiver accepts either.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import TurnParseError, TurnUsageError

__all__ = [
    "CHANNEL_DATA_HEADER_SIZE",
    "CHANNEL_NUMBER_MAX",
    "CHANNEL_NUMBER_MIN",
    "LEGACY_CHANNEL_NUMBER_MAX",
    "MAX_CHANNEL_DATA_LENGTH",
    "ChannelData",
    "decode_channel_data",
    "encode_channel_data",
    "is_channel_data",
    "is_valid_channel_number",
    "padded_length",
]

#: First and last channel number a client may bind (RFC 8656 §12).
CHANNEL_NUMBER_MIN = 0x4000
CHANNEL_NUMBER_MAX = 0x4FFF
#: RFC 5766 §11 allowed 0x4000–0x7FFF; RFC 8656 §12 reserves 0x5000–0x7FFF. Old clients
#: (coturn's ``turnutils_uclient`` among them) still use the upper part, so the server
#: accepts it (a documented deviation); the client never sends it.
LEGACY_CHANNEL_NUMBER_MAX = 0x7FFF
#: Channel number + length (RFC 8656 §12.4).
CHANNEL_DATA_HEADER_SIZE = 4
#: The 16-bit Length field bounds the payload.
MAX_CHANNEL_DATA_LENGTH = 0xFFFF

_HEADER = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class ChannelData:
    """One decoded ChannelData message."""

    channel: int
    data: bytes


def is_valid_channel_number(channel: int) -> bool:
    """True for 0x4000–0x4FFF, the only numbers ChannelBind may use (RFC 8656 §12)."""
    return CHANNEL_NUMBER_MIN <= channel <= CHANNEL_NUMBER_MAX


def is_channel_data(data: bytes | bytearray | memoryview) -> bool:
    """First byte 64–79: a ChannelData message by RFC 7983 §7 (no trial parsing)."""
    return len(data) > 0 and 64 <= data[0] <= 79


def padded_length(length: int) -> int:
    """``length`` rounded up to a multiple of four (RFC 8656 §12.5)."""
    return (length + 3) & ~3


def encode_channel_data(
    channel: int, data: bytes, *, pad: bool = False, max_channel: int = CHANNEL_NUMBER_MAX
) -> bytes:
    """Frame ``data`` for ``channel``; ``pad=True`` for TCP/TLS (RFC 8656 §12.5).

    Raises :class:`TurnUsageError` for a channel outside 0x4000–0x4FFF or data longer than
    the 16-bit Length field allows.
    """
    if not CHANNEL_NUMBER_MIN <= channel <= max_channel:
        raise TurnUsageError(f"channel number {channel:#06x} outside 0x4000-{max_channel:#06x}")
    n = len(data)
    if n > MAX_CHANNEL_DATA_LENGTH:
        raise TurnUsageError(f"ChannelData payload of {n} bytes exceeds 65535")
    out = _HEADER.pack(channel, n) + data
    if pad and n & 3:
        out += b"\x00" * (4 - (n & 3))
    return out


def decode_channel_data(
    buf: bytes | bytearray | memoryview,
    *,
    stream: bool = False,
    max_channel: int = CHANNEL_NUMBER_MAX,
) -> ChannelData:
    """Decode one ChannelData message that fills ``buf``.

    Over UDP (``stream=False``) trailing bytes after the announced length are padding and
    ignored, whatever their number (RFC 8656 §12.6 only discards datagrams that are too
    short). Over a stream (``stream=True``) ``buf`` must be exactly the padded frame,
    as :class:`~pyrtcstack.turn.framing.StreamFramer` cuts it. Raises
    :class:`TurnParseError` for a short buffer or a channel number outside 0x4000–0x4FFF
    (0x4000–``max_channel`` for a server accepting :data:`LEGACY_CHANNEL_NUMBER_MAX`).
    """
    total = len(buf)
    if total < CHANNEL_DATA_HEADER_SIZE:
        raise TurnParseError(f"ChannelData needs 4 header bytes, got {total}")
    channel, length = _HEADER.unpack_from(buf, 0)
    if not CHANNEL_NUMBER_MIN <= channel <= max_channel:
        raise TurnParseError(f"channel number {channel:#06x} outside 0x4000-{max_channel:#06x}")
    end = CHANNEL_DATA_HEADER_SIZE + length
    if total < end:
        raise TurnParseError(f"ChannelData announces {length} bytes, only {total - 4} present")
    if stream and total != padded_length(end):
        raise TurnParseError("ChannelData on a stream must be padded to 4 bytes exactly")
    return ChannelData(channel, bytes(buf[CHANNEL_DATA_HEADER_SIZE:end]))
