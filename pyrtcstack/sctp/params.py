"""SCTP parameters and error causes: generic TLVs and the typed ones WebRTC uses.

Parameters (RFC 9260 §3.2.1) and error causes (§3.3.10) share one layout: type (16 bits),
length (16 bits, header included, padding excluded), value, zero padding to 4 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .errors import SctpParseError

__all__ = [
    "AddIncomingStreamsRequest",
    "AddOutgoingStreamsRequest",
    "CauseCode",
    "ErrorCause",
    "IncomingResetRequest",
    "OutgoingResetRequest",
    "ParamType",
    "Parameter",
    "ReconfigParam",
    "ReconfigResponse",
    "ReconfigResult",
    "SsnTsnResetRequest",
    "decode_reconfig_params",
    "decode_tlvs",
    "encode_tlv",
    "encode_tlvs",
]

_TLV = struct.Struct("!HH")


class ParamType(IntEnum):
    """Parameter types this stack reads or writes."""

    HEARTBEAT_INFO = 1  # RFC 9260 §3.3.5
    STATE_COOKIE = 7  # RFC 9260 §3.3.3.1
    UNRECOGNIZED_PARAMETER = 8  # RFC 9260 §3.3.3.1
    COOKIE_PRESERVATIVE = 9  # RFC 9260 §3.3.2.1
    OUTGOING_SSN_RESET_REQUEST = 13  # RFC 6525 §4.1
    INCOMING_SSN_RESET_REQUEST = 14  # RFC 6525 §4.2
    SSN_TSN_RESET_REQUEST = 15  # RFC 6525 §4.3
    RECONFIGURATION_RESPONSE = 16  # RFC 6525 §4.4
    ADD_OUTGOING_STREAMS_REQUEST = 17  # RFC 6525 §4.5
    ADD_INCOMING_STREAMS_REQUEST = 18  # RFC 6525 §4.6
    ZERO_CHECKSUM_ACCEPTABLE = 0x8001  # RFC 9653 §5.1
    RANDOM = 0x8002  # RFC 4895 (AUTH; recognised, not used)
    CHUNK_LIST = 0x8003  # RFC 4895
    REQUESTED_HMAC_ALGORITHM = 0x8004  # RFC 4895
    SUPPORTED_EXTENSIONS = 0x8008  # RFC 5061 §4.2.7
    FORWARD_TSN_SUPPORTED = 0xC000  # RFC 3758 §3.1


class CauseCode(IntEnum):
    """Error cause codes (RFC 9260 §3.3.10)."""

    INVALID_STREAM_IDENTIFIER = 1
    MISSING_MANDATORY_PARAMETER = 2
    STALE_COOKIE = 3
    OUT_OF_RESOURCE = 4
    UNRESOLVABLE_ADDRESS = 5
    UNRECOGNIZED_CHUNK_TYPE = 6
    INVALID_MANDATORY_PARAMETER = 7
    UNRECOGNIZED_PARAMETERS = 8
    NO_USER_DATA = 9
    COOKIE_RECEIVED_WHILE_SHUTTING_DOWN = 10
    RESTART_WITH_NEW_ADDRESSES = 11
    USER_INITIATED_ABORT = 12
    PROTOCOL_VIOLATION = 13


class ReconfigResult(IntEnum):
    """Re-configuration Response result codes (RFC 6525 §4.4)."""

    SUCCESS_NOTHING_TO_DO = 0
    SUCCESS_PERFORMED = 1
    DENIED = 2
    ERROR_WRONG_SSN = 3
    ERROR_REQUEST_ALREADY_IN_PROGRESS = 4
    ERROR_BAD_SEQUENCE_NUMBER = 5
    IN_PROGRESS = 6


@dataclass(frozen=True, slots=True)
class Parameter:
    """A generic type-length-value parameter (RFC 9260 §3.2.1)."""

    type: int
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class ErrorCause:
    """An error cause (RFC 9260 §3.3.10); ``info`` is the cause-specific body."""

    code: int
    info: bytes = b""


def encode_tlv(type_: int, value: bytes) -> bytes:
    """One TLV with its padding (RFC 9260 §3.2.1)."""
    length = 4 + len(value)
    if length > 0xFFFF:
        raise SctpParseError(f"parameter too long ({length} bytes)")
    return _TLV.pack(type_, length) + value + b"\x00" * (-length % 4)


def encode_tlvs(items: list[tuple[int, bytes]]) -> bytes:
    return b"".join(encode_tlv(t, v) for t, v in items)


def decode_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """Split ``data`` into ``(type, value)`` TLVs; the final padding may be absent."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise SctpParseError("truncated parameter header")
        type_, length = _TLV.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            raise SctpParseError(f"invalid parameter length {length}")
        out.append((type_, data[pos + 4 : pos + length]))
        pos += length + (-length % 4)
    return out


# -- RE-CONFIG parameters (RFC 6525 §4) -------------------------------------------------


def _stream_list(value: bytes, offset: int) -> tuple[int, ...]:
    rest = value[offset:]
    if len(rest) % 2:
        raise SctpParseError("odd stream list length")
    return struct.unpack(f"!{len(rest) // 2}H", rest)


@dataclass(frozen=True, slots=True)
class OutgoingResetRequest:
    """Outgoing SSN Reset Request (RFC 6525 §4.1): "I reset these outgoing streams"."""

    request_seq: int
    response_seq: int
    last_tsn: int
    streams: tuple[int, ...] = field(default=())

    def encode(self) -> bytes:
        body = struct.pack("!III", self.request_seq, self.response_seq, self.last_tsn)
        body += struct.pack(f"!{len(self.streams)}H", *self.streams)
        return encode_tlv(ParamType.OUTGOING_SSN_RESET_REQUEST, body)

    @classmethod
    def decode(cls, value: bytes) -> OutgoingResetRequest:
        if len(value) < 12:
            raise SctpParseError("short Outgoing SSN Reset Request")
        req, resp, last = struct.unpack_from("!III", value)
        return cls(req, resp, last, _stream_list(value, 12))


@dataclass(frozen=True, slots=True)
class IncomingResetRequest:
    """Incoming SSN Reset Request (RFC 6525 §4.2): "please reset your outgoing streams"."""

    request_seq: int
    streams: tuple[int, ...] = field(default=())

    def encode(self) -> bytes:
        body = struct.pack("!I", self.request_seq)
        body += struct.pack(f"!{len(self.streams)}H", *self.streams)
        return encode_tlv(ParamType.INCOMING_SSN_RESET_REQUEST, body)

    @classmethod
    def decode(cls, value: bytes) -> IncomingResetRequest:
        if len(value) < 4:
            raise SctpParseError("short Incoming SSN Reset Request")
        return cls(struct.unpack_from("!I", value)[0], _stream_list(value, 4))


@dataclass(frozen=True, slots=True)
class SsnTsnResetRequest:
    """SSN/TSN Reset Request (RFC 6525 §4.3); we always deny it."""

    request_seq: int

    def encode(self) -> bytes:
        return encode_tlv(ParamType.SSN_TSN_RESET_REQUEST, struct.pack("!I", self.request_seq))

    @classmethod
    def decode(cls, value: bytes) -> SsnTsnResetRequest:
        if len(value) != 4:
            raise SctpParseError("bad SSN/TSN Reset Request length")
        return cls(struct.unpack("!I", value)[0])


@dataclass(frozen=True, slots=True)
class ReconfigResponse:
    """Re-configuration Response (RFC 6525 §4.4); the TSN fields are optional."""

    response_seq: int
    result: int
    sender_next_tsn: int | None = None
    receiver_next_tsn: int | None = None

    def encode(self) -> bytes:
        body = struct.pack("!II", self.response_seq, self.result)
        if self.sender_next_tsn is not None:
            body += struct.pack("!II", self.sender_next_tsn, self.receiver_next_tsn or 0)
        return encode_tlv(ParamType.RECONFIGURATION_RESPONSE, body)

    @classmethod
    def decode(cls, value: bytes) -> ReconfigResponse:
        if len(value) == 8:
            return cls(*struct.unpack("!II", value))
        if len(value) == 16:
            return cls(*struct.unpack("!IIII", value))
        raise SctpParseError("bad Re-configuration Response length")


@dataclass(frozen=True, slots=True)
class AddOutgoingStreamsRequest:
    """Add Outgoing Streams Request (RFC 6525 §4.5); we answer it with "denied"."""

    request_seq: int
    new_streams: int

    def encode(self) -> bytes:
        body = struct.pack("!IHH", self.request_seq, self.new_streams, 0)
        return encode_tlv(ParamType.ADD_OUTGOING_STREAMS_REQUEST, body)

    @classmethod
    def decode(cls, value: bytes) -> AddOutgoingStreamsRequest:
        if len(value) != 8:
            raise SctpParseError("bad Add Outgoing Streams Request length")
        req, n, _ = struct.unpack("!IHH", value)
        return cls(req, n)


@dataclass(frozen=True, slots=True)
class AddIncomingStreamsRequest:
    """Add Incoming Streams Request (RFC 6525 §4.6); we answer it with "denied"."""

    request_seq: int
    new_streams: int

    def encode(self) -> bytes:
        body = struct.pack("!IHH", self.request_seq, self.new_streams, 0)
        return encode_tlv(ParamType.ADD_INCOMING_STREAMS_REQUEST, body)

    @classmethod
    def decode(cls, value: bytes) -> AddIncomingStreamsRequest:
        if len(value) != 8:
            raise SctpParseError("bad Add Incoming Streams Request length")
        req, n, _ = struct.unpack("!IHH", value)
        return cls(req, n)


ReconfigParam = (
    OutgoingResetRequest
    | IncomingResetRequest
    | SsnTsnResetRequest
    | ReconfigResponse
    | AddOutgoingStreamsRequest
    | AddIncomingStreamsRequest
    | Parameter
)

_RECONFIG_DECODERS = {
    ParamType.OUTGOING_SSN_RESET_REQUEST: OutgoingResetRequest.decode,
    ParamType.INCOMING_SSN_RESET_REQUEST: IncomingResetRequest.decode,
    ParamType.SSN_TSN_RESET_REQUEST: SsnTsnResetRequest.decode,
    ParamType.RECONFIGURATION_RESPONSE: ReconfigResponse.decode,
    ParamType.ADD_OUTGOING_STREAMS_REQUEST: AddOutgoingStreamsRequest.decode,
    ParamType.ADD_INCOMING_STREAMS_REQUEST: AddIncomingStreamsRequest.decode,
}


def decode_reconfig_params(data: bytes) -> list[ReconfigParam]:
    """The parameters of a RE-CONFIG chunk (RFC 6525 §3.1); unknown ones stay generic."""
    out: list[ReconfigParam] = []
    for type_, value in decode_tlvs(data):
        decoder = _RECONFIG_DECODERS.get(type_)  # type: ignore[call-overload]
        out.append(decoder(value) if decoder is not None else Parameter(type_, value))
    return out
