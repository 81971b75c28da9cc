"""Cutting a TCP/TLS byte stream into STUN messages and ChannelData (RFC 8656 §5, §12.5).

Over TCP or TLS the connection to a TURN server carries STUN messages and ChannelData
messages back to back with no outer framing. Each one announces its own size:

* a STUN message (first two bits ``00``, RFC 8489 §5) is a 20-byte header plus the
  header's Length field, which is already a multiple of four;
* a ChannelData message (first two bits ``01``, channel 0x4000–0x4FFF) is 4 bytes plus its
  Length field rounded up to a multiple of four, because RFC 8656 §12.5 makes padding
  mandatory on streams.

Anything else (first bits ``10``/``11``, a STUN length that is not a multiple of four, a
channel number outside 0x4000–0x4FFF) means the stream lost its framing, which no amount of
further reading can fix: :class:`~pyrtcstack.turn.errors.TurnFramingError` is raised and the
connection has to be closed.

The framer holds at most one incomplete frame, bounded by :data:`MAX_FRAME_SIZE` (or the
smaller ``max_frame`` the caller passes): a frame that announces more is refused as soon as
its header arrives, so a hostile peer cannot make it buffer without limit.
"""

from __future__ import annotations

from .channeldata import (
    CHANNEL_NUMBER_MAX,
    CHANNEL_NUMBER_MIN,
    LEGACY_CHANNEL_NUMBER_MAX,
    padded_length,
)
from .errors import TurnFramingError

__all__ = [
    "MAX_FRAME_SIZE",
    "STUN_HEADER_SIZE",
    "StreamFramer",
    "frame_for_stream",
]

#: Size of a STUN header (RFC 8489 §5).
STUN_HEADER_SIZE = 20
#: The largest frame either kind can announce: a STUN header plus the biggest 4-aligned
#: 16-bit length (65532), or 4 + 65535 padded (65540) for ChannelData.
MAX_FRAME_SIZE = 4 + padded_length(0xFFFF)


def frame_for_stream(message: bytes) -> bytes:
    """Pad a ChannelData message to four bytes for a stream (RFC 8656 §12.5).

    STUN messages are always 4-aligned already and pass through unchanged.
    """
    extra = len(message) & 3
    return message + b"\x00" * (4 - extra) if extra else message


class StreamFramer:
    """Reassemble STUN and ChannelData frames from arbitrary chunks of a byte stream.

    ``feed(chunk)`` returns every frame completed by ``chunk`` (possibly none, possibly
    several); ChannelData frames keep their padding and decode with
    ``decode_channel_data(frame, stream=True)``.
    """

    __slots__ = ("_buf", "_max_channel", "_max_frame", "frames", "octets")

    def __init__(self, max_frame: int = MAX_FRAME_SIZE, *, legacy_channels: bool = False) -> None:
        if not 24 <= max_frame <= MAX_FRAME_SIZE:
            raise ValueError(f"max_frame must be within 24..{MAX_FRAME_SIZE}")
        self._buf = bytearray()
        self._max_frame = max_frame
        # A server accepts RFC 5766's 0x4000–0x7FFF (see channeldata.LEGACY_CHANNEL_NUMBER_MAX).
        self._max_channel = LEGACY_CHANNEL_NUMBER_MAX if legacy_channels else CHANNEL_NUMBER_MAX
        #: Number of frames returned so far, and of bytes fed.
        self.frames = 0
        self.octets = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held right now (never more than ``max_frame``)."""
        return len(self._buf)

    def _frame_size(self, buf: bytearray, pos: int) -> int:
        kind = buf[pos] >> 6
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if kind == 0:
            # RFC 8489 §5: STUN; the Length field is a multiple of four.
            if length & 3:
                raise TurnFramingError(f"STUN length {length} is not a multiple of 4")
            if pos + 8 <= len(buf) and buf[pos + 4 : pos + 8] != b"\x21\x12\xa4\x42":
                raise TurnFramingError("STUN frame without the magic cookie")
            size = STUN_HEADER_SIZE + length
        elif kind == 1:
            # RFC 8656 §12.5: ChannelData, padded to a multiple of four on streams.
            channel = (buf[pos] << 8) | buf[pos + 1]
            if not CHANNEL_NUMBER_MIN <= channel <= self._max_channel:
                raise TurnFramingError(f"channel number {channel:#06x} out of range")
            size = 4 + padded_length(length)
        else:
            raise TurnFramingError(f"first byte {buf[pos]:#04x} is neither STUN nor ChannelData")
        if size > self._max_frame:
            raise TurnFramingError(f"frame of {size} bytes exceeds the {self._max_frame} limit")
        return size

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``chunk`` to the stream and return the frames it completed, in order."""
        self.octets += len(chunk)
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            size = self._frame_size(buf, pos)
            if n - pos < size:
                break
            out.append(bytes(buf[pos : pos + size]))
            pos += size
        if pos:
            del buf[:pos]
        self.frames += len(out)
        return out
