"""Bounded byte reader and writer with strict length checks, shared by every codec.

:class:`Reader` reads big-endian (network order) integers and byte strings from a
``bytes``/``memoryview`` without copying until asked, and raises
:class:`BufferReadError` — a :class:`~pyrtcstack.common.errors.ParseError` — on any
attempt to read past its end. :meth:`Reader.sub` hands out a bounded reader for a
length-prefixed block, so a nested structure can never read into its neighbour;
:meth:`Reader.expect_end` checks that a block was consumed exactly.

:class:`Writer` appends to a ``bytearray``; :meth:`Writer.length_prefixed` writes a
length-prefixed block whose length is filled in when the block closes.

Hot paths (RTP, SCTP DATA) may use ``struct`` directly where a profile shows it matters;
everything else uses these two classes, so that every length check is written once.
"""

from __future__ import annotations

import struct

from .errors import ParseError

__all__ = ["BufferReadError", "Reader", "Writer"]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class BufferReadError(ParseError):
    """A read went past the end of the data, or a block was not consumed exactly."""


class Reader:
    """A cursor over immutable bytes that never reads outside ``[start, end)``."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(
        self, data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
    ):
        self._data = data if isinstance(data, bytes) else bytes(data)
        self._pos = start
        self._end = len(self._data) if end is None else end
        if not 0 <= start <= self._end <= len(self._data):
            raise BufferReadError("reader bounds outside the data")

    @property
    def pos(self) -> int:
        """Offset of the next byte to read, relative to the start of the whole data."""
        return self._pos

    @property
    def remaining(self) -> int:
        """How many bytes are left before the end of this reader."""
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def _take(self, n: int) -> int:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise BufferReadError(f"need {n} bytes at offset {pos}, only {self._end - pos} left")
        self._pos = pos + n
        return pos

    # u8, u16, take and vector are what every codec reads most: each does _take's check
    # itself (a call fewer per field)

    def u8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise BufferReadError(f"need 1 bytes at offset {pos}, only 0 left")
        self._pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        pos = self._pos
        if pos + 2 > self._end:
            raise BufferReadError(f"need 2 bytes at offset {pos}, only {self._end - pos} left")
        self._pos = pos + 2
        return (self._data[pos] << 8) | self._data[pos + 1]

    def u24(self) -> int:
        pos = self._take(3)
        d = self._data
        return (d[pos] << 16) | (d[pos + 1] << 8) | d[pos + 2]

    def u32(self) -> int:
        pos = self._take(4)
        return int(_U32.unpack_from(self._data, pos)[0])

    def u48(self) -> int:
        pos = self._take(6)
        return int.from_bytes(self._data[pos : pos + 6], "big")

    def u64(self) -> int:
        pos = self._take(8)
        return int(_U64.unpack_from(self._data, pos)[0])

    def take(self, n: int) -> bytes:
        """Read exactly ``n`` bytes."""
        pos = self._pos
        end = pos + n
        if n < 0 or end > self._end:
            raise BufferReadError(f"need {n} bytes at offset {pos}, only {self._end - pos} left")
        self._pos = end
        return self._data[pos:end]

    def peek(self, n: int) -> bytes:
        """Return the next ``n`` bytes without consuming them (fewer at the end)."""
        return self._data[self._pos : min(self._pos + n, self._end)]

    def skip(self, n: int) -> None:
        self._take(n)

    def rest(self) -> bytes:
        """Read everything up to the end of this reader."""
        pos = self._pos
        self._pos = self._end
        return self._data[pos : self._end]

    def sub(self, n: int) -> Reader:
        """Consume ``n`` bytes and return a reader confined to them."""
        pos = self._take(n)
        return Reader(self._data, pos, pos + n)

    def vector(self, length_bytes: int) -> bytes:
        """Read a block prefixed by a big-endian length of ``length_bytes`` bytes (TLS style)."""
        n = int.from_bytes(self.take(length_bytes), "big")
        pos = self._pos
        end = pos + n
        if end > self._end:
            raise BufferReadError(f"need {n} bytes at offset {pos}, only {self._end - pos} left")
        self._pos = end
        return self._data[pos:end]

    def sub_vector(self, length_bytes: int) -> Reader:
        """Like :meth:`vector` but return a bounded reader over the block."""
        n = int.from_bytes(self.take(length_bytes), "big")
        return self.sub(n)

    def expect_end(self, what: str = "block") -> None:
        """Raise unless every byte of this reader has been consumed."""
        if self._pos != self._end:
            raise BufferReadError(f"{self._end - self._pos} trailing bytes after {what}")


class Writer:
    """An append-only big-endian writer over a ``bytearray``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def u8(self, v: int) -> None:
        self._buf.append(v)

    def u16(self, v: int) -> None:
        self._buf += _U16.pack(v)

    def u24(self, v: int) -> None:
        self._buf += v.to_bytes(3, "big")

    def u32(self, v: int) -> None:
        self._buf += _U32.pack(v)

    def u48(self, v: int) -> None:
        self._buf += v.to_bytes(6, "big")

    def u64(self, v: int) -> None:
        self._buf += _U64.pack(v)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def vector(self, length_bytes: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` prefixed by its length in ``length_bytes`` bytes (TLS style)."""
        self._buf += len(data).to_bytes(length_bytes, "big")
        self._buf += data

    def length_prefixed(self, length_bytes: int) -> _LengthPrefix:
        """Write a block whose ``length_bytes``-byte length prefix is filled in on exit
        (``with writer.length_prefixed(2): ...``)."""
        return _LengthPrefix(self._buf, length_bytes)


class _LengthPrefix:
    """:meth:`Writer.length_prefixed`'s context: the prefix is reserved on entry and filled
    in on exit (a class, not a generator: a third of the cost per block)."""

    __slots__ = ("_buf", "_length_bytes", "_start")

    def __init__(self, buf: bytearray, length_bytes: int) -> None:
        self._buf = buf
        self._length_bytes = length_bytes
        self._start = 0

    def __enter__(self) -> None:
        self._start = len(self._buf)
        self._buf += bytes(self._length_bytes)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:  # the block failed: leave it, raise what it raised
            return
        buf = self._buf
        start = self._start
        size = self._length_bytes
        buf[start : start + size] = (len(buf) - start - size).to_bytes(size, "big")
