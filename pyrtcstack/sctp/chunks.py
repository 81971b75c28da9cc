"""SCTP packet and chunk codecs (RFC 9260 §3, RFC 3758 §3.2, RFC 6525 §3.1).

A packet is a 12-byte common header (§3.1) followed by chunks. Every chunk is
type (8) · flags (8) · length (16, header included, padding excluded) · value, padded with
zeros to a multiple of 4 bytes. :func:`decode_packet` turns bytes into a :class:`Packet` of
chunk objects and raises :class:`~pyrtcstack.sctp.errors.SctpParseError` on anything
malformed; every chunk object has ``encode()`` giving its padded bytes, and
:func:`encode_packet` adds the header and the CRC-32C checksum.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .crc32c import crc32c, crc32c_extend
from .errors import SctpParseError
from .params import (
    ErrorCause,
    Parameter,
    ReconfigParam,
    decode_reconfig_params,
    decode_tlvs,
    encode_tlv,
)

__all__ = [
    "AbortChunk",
    "Chunk",
    "ChunkType",
    "CookieAckChunk",
    "CookieEchoChunk",
    "DataChunk",
    "ErrorChunk",
    "ForwardTsnChunk",
    "HeartbeatAckChunk",
    "HeartbeatChunk",
    "InitAckChunk",
    "InitChunk",
    "Packet",
    "ReconfigChunk",
    "SackChunk",
    "ShutdownAckChunk",
    "ShutdownChunk",
    "ShutdownCompleteChunk",
    "UnknownChunk",
    "decode_chunk",
    "decode_packet",
    "encode_packet",
    "packet_checksum",
    "verify_checksum",
]

_HEADER = struct.Struct("!HHI")
_CHUNK = struct.Struct("!BBH")
_DATA = struct.Struct("!BBHIHHI")
_INIT = struct.Struct("!IIHHI")
_SACK = struct.Struct("!IIHH")
_U32 = struct.Struct("!I")
_LE32 = struct.Struct("<I")
_ZERO4 = b"\x00\x00\x00\x00"
_PAD = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


class ChunkType(IntEnum):
    """Chunk types (RFC 9260 §3.2, RFC 3758 §3.2, RFC 6525 §3.1)."""

    DATA = 0
    INIT = 1
    INIT_ACK = 2
    SACK = 3
    HEARTBEAT = 4
    HEARTBEAT_ACK = 5
    ABORT = 6
    SHUTDOWN = 7
    SHUTDOWN_ACK = 8
    ERROR = 9
    COOKIE_ECHO = 10
    COOKIE_ACK = 11
    SHUTDOWN_COMPLETE = 14
    RECONFIG = 130
    FORWARD_TSN = 192


def _strip_last_pad(value: bytes, last_start: int) -> bytes:
    """Drop the padding of the final parameter: RFC 9260 §3.2 counts it in the chunk's
    padding, not in its length."""
    if last_start < 0 or len(value) - last_start < 4:
        return value
    return value[: last_start + struct.unpack_from("!H", value, last_start + 2)[0]]


def _tlv_area(encoded: list[bytes]) -> bytes:
    if not encoded:
        return b""
    value = b"".join(encoded)
    return _strip_last_pad(value, len(value) - len(encoded[-1]))


def _chunk(type_: int, flags: int, value: bytes) -> bytes:
    length = 4 + len(value)
    if length > 0xFFFF:
        raise SctpParseError(f"chunk too long ({length} bytes)")
    return _CHUNK.pack(type_, flags, length) + value + _PAD[length & 3]


@dataclass(slots=True)
class DataChunk:
    """DATA (RFC 9260 §3.3.1). ``flags`` holds I (8), U (4), B (2), E (1)."""

    tsn: int
    stream_id: int
    ssn: int
    ppid: int
    data: bytes
    flags: int = 0x03

    FLAG_END = 0x01
    FLAG_BEGIN = 0x02
    FLAG_UNORDERED = 0x04
    FLAG_IMMEDIATE = 0x08

    @property
    def unordered(self) -> bool:
        return bool(self.flags & 0x04)

    @property
    def beginning(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def ending(self) -> bool:
        return bool(self.flags & 0x01)

    def encode(self) -> bytes:
        length = 16 + len(self.data)
        return (
            _DATA.pack(0, self.flags, length, self.tsn, self.stream_id, self.ssn, self.ppid)
            + self.data
            + _PAD[length & 3]
        )

    @classmethod
    def decode(cls, flags: int, value: bytes) -> DataChunk:
        # §3.3.1: a DATA chunk carries at least one byte of user data (else cause 9).
        if len(value) <= 12:
            raise SctpParseError("DATA chunk without user data")
        tsn, sid, ssn, ppid = struct.unpack_from("!IHHI", value)
        return cls(tsn, sid, ssn, ppid, value[12:], flags & 0x0F)


@dataclass(slots=True)
class InitChunk:
    """INIT (RFC 9260 §3.3.2); optional parameters kept as generic TLVs."""

    initiate_tag: int
    a_rwnd: int
    outbound_streams: int
    inbound_streams: int
    initial_tsn: int
    params: list[Parameter] = field(default_factory=list)

    TYPE = ChunkType.INIT

    def encode(self) -> bytes:
        value = _INIT.pack(
            self.initiate_tag,
            self.a_rwnd,
            self.outbound_streams,
            self.inbound_streams,
            self.initial_tsn,
        ) + _tlv_area([encode_tlv(p.type, p.value) for p in self.params])
        return _chunk(self.TYPE, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> InitChunk:
        if len(value) < 16:
            raise SctpParseError("short INIT/INIT-ACK chunk")
        tag, rwnd, os_, mis, tsn = _INIT.unpack_from(value)
        params = [Parameter(t, v) for t, v in decode_tlvs(value[16:])]
        return cls(tag, rwnd, os_, mis, tsn, params)

    def param(self, type_: int) -> bytes | None:
        """The value of the first parameter of ``type_``, or None."""
        for p in self.params:
            if p.type == type_:
                return p.value
        return None


@dataclass(slots=True)
class InitAckChunk(InitChunk):
    """INIT ACK (RFC 9260 §3.3.3): same layout as INIT, must carry a State Cookie."""

    TYPE = ChunkType.INIT_ACK


@dataclass(slots=True)
class SackChunk:
    """SACK (RFC 9260 §3.3.4). Gap blocks are ``(start, end)`` offsets from the cum TSN."""

    cumulative_tsn: int
    a_rwnd: int
    gaps: list[tuple[int, int]] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        ngaps = len(self.gaps)
        ndups = len(self.duplicates)
        value = _SACK.pack(self.cumulative_tsn, self.a_rwnd, ngaps, ndups)
        if ngaps:
            value += struct.pack(f"!{2 * ngaps}H", *(x for g in self.gaps for x in g))
        if ndups:
            value += struct.pack(f"!{ndups}I", *self.duplicates)
        return _chunk(ChunkType.SACK, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> SackChunk:
        if len(value) < 12:
            raise SctpParseError("short SACK chunk")
        cum, rwnd, ngaps, ndups = _SACK.unpack_from(value)
        if len(value) != 12 + 4 * ngaps + 4 * ndups:
            raise SctpParseError("SACK length does not match its gap/dup counts")
        raw = struct.unpack_from(f"!{2 * ngaps}H", value, 12)
        gaps = [(raw[i], raw[i + 1]) for i in range(0, 2 * ngaps, 2)]
        dups = list(struct.unpack_from(f"!{ndups}I", value, 12 + 4 * ngaps))
        return cls(cum, rwnd, gaps, dups)


@dataclass(slots=True)
class HeartbeatChunk:
    """HEARTBEAT (RFC 9260 §3.3.5): one Heartbeat Info parameter, opaque to the peer."""

    params: list[Parameter] = field(default_factory=list)

    TYPE = ChunkType.HEARTBEAT

    def encode(self) -> bytes:
        value = _tlv_area([encode_tlv(p.type, p.value) for p in self.params])
        return _chunk(self.TYPE, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> HeartbeatChunk:
        return cls([Parameter(t, v) for t, v in decode_tlvs(value)])


@dataclass(slots=True)
class HeartbeatAckChunk(HeartbeatChunk):
    """HEARTBEAT ACK (RFC 9260 §3.3.6): echoes the Heartbeat Info parameter verbatim."""

    TYPE = ChunkType.HEARTBEAT_ACK


@dataclass(slots=True)
class AbortChunk:
    """ABORT (RFC 9260 §3.3.7). ``t_bit``: the verification tag is the sender's own."""

    causes: list[ErrorCause] = field(default_factory=list)
    t_bit: bool = False

    TYPE = ChunkType.ABORT

    def encode(self) -> bytes:
        value = _tlv_area([encode_tlv(c.code, c.info) for c in self.causes])
        return _chunk(self.TYPE, 1 if self.t_bit else 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> AbortChunk:
        return cls([ErrorCause(t, v) for t, v in decode_tlvs(value)], bool(flags & 1))


@dataclass(slots=True)
class ErrorChunk:
    """ERROR (RFC 9260 §3.3.10): one or more error causes, the association stays up."""

    causes: list[ErrorCause] = field(default_factory=list)

    def encode(self) -> bytes:
        value = _tlv_area([encode_tlv(c.code, c.info) for c in self.causes])
        return _chunk(ChunkType.ERROR, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ErrorChunk:
        return cls([ErrorCause(t, v) for t, v in decode_tlvs(value)])


@dataclass(slots=True)
class ShutdownChunk:
    """SHUTDOWN (RFC 9260 §3.3.8): carries the cumulative TSN ack."""

    cumulative_tsn: int

    def encode(self) -> bytes:
        return _chunk(ChunkType.SHUTDOWN, 0, _U32.pack(self.cumulative_tsn))

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ShutdownChunk:
        if len(value) != 4:
            raise SctpParseError("bad SHUTDOWN length")
        return cls(_U32.unpack(value)[0])


@dataclass(slots=True)
class ShutdownAckChunk:
    """SHUTDOWN ACK (RFC 9260 §3.3.9)."""

    def encode(self) -> bytes:
        return _chunk(ChunkType.SHUTDOWN_ACK, 0, b"")

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ShutdownAckChunk:
        return cls()


@dataclass(slots=True)
class ShutdownCompleteChunk:
    """SHUTDOWN COMPLETE (RFC 9260 §3.3.13); ``t_bit`` as for ABORT."""

    t_bit: bool = False

    def encode(self) -> bytes:
        return _chunk(ChunkType.SHUTDOWN_COMPLETE, 1 if self.t_bit else 0, b"")

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ShutdownCompleteChunk:
        return cls(bool(flags & 1))


@dataclass(slots=True)
class CookieEchoChunk:
    """COOKIE ECHO (RFC 9260 §3.3.11): the State Cookie returned verbatim."""

    cookie: bytes

    def encode(self) -> bytes:
        return _chunk(ChunkType.COOKIE_ECHO, 0, self.cookie)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> CookieEchoChunk:
        return cls(value)


@dataclass(slots=True)
class CookieAckChunk:
    """COOKIE ACK (RFC 9260 §3.3.12)."""

    def encode(self) -> bytes:
        return _chunk(ChunkType.COOKIE_ACK, 0, b"")

    @classmethod
    def decode(cls, flags: int, value: bytes) -> CookieAckChunk:
        return cls()


@dataclass(slots=True)
class ForwardTsnChunk:
    """FORWARD TSN (RFC 3758 §3.2): new cumulative TSN + ``(stream, ssn)`` of ordered
    streams whose abandoned messages the receiver must skip."""

    new_cumulative_tsn: int
    streams: list[tuple[int, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        value = _U32.pack(self.new_cumulative_tsn)
        if self.streams:
            value += struct.pack(
                f"!{2 * len(self.streams)}H", *(x for s in self.streams for x in s)
            )
        return _chunk(ChunkType.FORWARD_TSN, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ForwardTsnChunk:
        if len(value) < 4 or len(value) % 4:
            raise SctpParseError("bad FORWARD TSN length")
        n = (len(value) - 4) // 2
        raw = struct.unpack_from(f"!I{n}H", value)
        return cls(raw[0], [(raw[i], raw[i + 1]) for i in range(1, n + 1, 2)])


@dataclass(slots=True)
class ReconfigChunk:
    """RE-CONFIG (RFC 6525 §3.1): one or two request/response parameters."""

    params: list[ReconfigParam] = field(default_factory=list)

    def encode(self) -> bytes:
        value = _tlv_area(
            [
                encode_tlv(p.type, p.value) if isinstance(p, Parameter) else p.encode()
                for p in self.params
            ]
        )
        return _chunk(ChunkType.RECONFIG, 0, value)

    @classmethod
    def decode(cls, flags: int, value: bytes) -> ReconfigChunk:
        return cls(decode_reconfig_params(value))


@dataclass(slots=True)
class UnknownChunk:
    """A chunk type we do not implement, kept so §3.2's "upper two bits" rule can act."""

    type: int
    flags: int = 0
    value: bytes = b""

    def encode(self) -> bytes:
        return _chunk(self.type, self.flags, self.value)


Chunk = (
    DataChunk
    | InitChunk
    | InitAckChunk
    | SackChunk
    | HeartbeatChunk
    | HeartbeatAckChunk
    | AbortChunk
    | ErrorChunk
    | ShutdownChunk
    | ShutdownAckChunk
    | ShutdownCompleteChunk
    | CookieEchoChunk
    | CookieAckChunk
    | ForwardTsnChunk
    | ReconfigChunk
    | UnknownChunk
)

_DECODERS = {
    ChunkType.DATA: DataChunk.decode,
    ChunkType.INIT: InitChunk.decode,
    ChunkType.INIT_ACK: InitAckChunk.decode,
    ChunkType.SACK: SackChunk.decode,
    ChunkType.HEARTBEAT: HeartbeatChunk.decode,
    ChunkType.HEARTBEAT_ACK: HeartbeatAckChunk.decode,
    ChunkType.ABORT: AbortChunk.decode,
    ChunkType.SHUTDOWN: ShutdownChunk.decode,
    ChunkType.SHUTDOWN_ACK: ShutdownAckChunk.decode,
    ChunkType.ERROR: ErrorChunk.decode,
    ChunkType.COOKIE_ECHO: CookieEchoChunk.decode,
    ChunkType.COOKIE_ACK: CookieAckChunk.decode,
    ChunkType.SHUTDOWN_COMPLETE: ShutdownCompleteChunk.decode,
    ChunkType.RECONFIG: ReconfigChunk.decode,
    ChunkType.FORWARD_TSN: ForwardTsnChunk.decode,
}
_DECODER_BY_INT: dict[int, object] = {int(k): v for k, v in _DECODERS.items()}


def decode_chunk(type_: int, flags: int, value: bytes) -> Chunk:
    """Decode one chunk body; unknown types give :class:`UnknownChunk`."""
    decoder = _DECODER_BY_INT.get(type_)
    if decoder is None:
        return UnknownChunk(type_, flags, value)
    if type_ == ChunkType.INIT_ACK:
        init = InitChunk.decode(flags, value)
        return InitAckChunk(
            init.initiate_tag,
            init.a_rwnd,
            init.outbound_streams,
            init.inbound_streams,
            init.initial_tsn,
            init.params,
        )
    if type_ == ChunkType.HEARTBEAT_ACK:
        return HeartbeatAckChunk(HeartbeatChunk.decode(flags, value).params)
    return decoder(flags, value)  # type: ignore[operator, no-any-return]


def iter_raw_chunks(data: bytes, offset: int = 12) -> list[tuple[int, int, bytes]]:
    """Split the chunk area into ``(type, flags, value)``; the last padding may be absent."""
    out: list[tuple[int, int, bytes]] = []
    end = len(data)
    pos = offset
    unpack = _CHUNK.unpack_from
    while pos < end:
        if end - pos < 4:
            raise SctpParseError("truncated chunk header")
        type_, flags, length = unpack(data, pos)
        if length < 4 or pos + length > end:
            raise SctpParseError(f"invalid chunk length {length}")
        out.append((type_, flags, data[pos + 4 : pos + length]))
        pos += (length + 3) & ~3
    return out


@dataclass(slots=True)
class Packet:
    """A decoded SCTP packet (RFC 9260 §3)."""

    source_port: int
    destination_port: int
    verification_tag: int
    chunks: list[Chunk] = field(default_factory=list)
    checksum: int = 0

    def encode(self) -> bytes:
        return encode_packet(
            self.source_port,
            self.destination_port,
            self.verification_tag,
            [c.encode() for c in self.chunks],
        )


def decode_packet(data: bytes) -> Packet:
    """Decode a whole packet (checksum not verified: see :func:`verify_checksum`)."""
    if len(data) < 12:
        raise SctpParseError("packet shorter than the common header")
    src, dst, tag = _HEADER.unpack_from(data)
    checksum = _LE32.unpack_from(data, 8)[0]
    chunks = [decode_chunk(t, f, v) for t, f, v in iter_raw_chunks(data)]
    return Packet(src, dst, tag, chunks, checksum)


def packet_checksum(data: bytes) -> int:
    """CRC-32C of ``data`` with its checksum field taken as zero (RFC 9260 App. A)."""
    return crc32c_extend(crc32c(data[:8] + _ZERO4), data[12:])


def verify_checksum(data: bytes) -> bool:
    """True when the checksum field (little-endian, App. A) matches the packet."""
    return len(data) >= 12 and _LE32.unpack_from(data, 8)[0] == packet_checksum(data)


def encode_packet(src: int, dst: int, tag: int, chunks: list[bytes]) -> bytes:
    """Common header + already-encoded (padded) chunks, with the CRC-32C filled in."""
    head = _HEADER.pack(src, dst, tag)
    crc = crc32c(head + _ZERO4)
    for c in chunks:
        crc = crc32c_extend(crc, c)
    return b"".join((head, _LE32.pack(crc), *chunks))
