"""Encoders and decoders for STUN attribute *values* (the bytes after type and length).

Each ``pack_*`` returns the value bytes (no padding: the message encoder pads), each
``unpack_*`` takes the value bytes and raises :class:`StunParseError` on anything malformed.
:class:`~pyrtcstack.stun.message.Message` wraps these in its typed get/add helpers; they are
public for code that handles attribute values on their own (TURN, ICE).
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from typing import NamedTuple

from ..common.core import Address
from .constants import MAGIC_COOKIE, MAX_REASON_CHARS
from .errors import StunParseError, StunUsageError

__all__ = [
    "ErrorCode",
    "pack_address",
    "pack_error_code",
    "pack_unknown_attributes",
    "pack_xor_address",
    "unpack_address",
    "unpack_error_code",
    "unpack_unknown_attributes",
    "unpack_xor_address",
]

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
_ADDR_HEAD = struct.Struct("!xBH")
_U16 = struct.Struct("!H")


class ErrorCode(NamedTuple):
    """A decoded ERROR-CODE attribute (RFC 8489 §14.8): ``code`` 300–699 and the reason."""

    code: int
    reason: str


@functools.lru_cache(maxsize=1024)
def _host_bytes(host: str) -> bytes:
    # every check and consent response packs its source address: the parse is cached
    # (bounded; a refused text raises again each time)
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).packed
    except ValueError:
        raise StunUsageError(f"not an IP address: {host!r}") from None


def pack_address(addr: Address) -> bytes:
    """MAPPED-ADDRESS-style value (RFC 8489 §14.1): 0, family, port, address."""
    host, port = addr
    packed = _host_bytes(host)
    if not 0 <= port <= 0xFFFF:
        raise StunUsageError(f"port out of range: {port}")
    family = FAMILY_IPV4 if len(packed) == 4 else FAMILY_IPV6
    return _ADDR_HEAD.pack(family, port) + packed


def _host_text(raw: bytes) -> str:
    if len(raw) == 4:
        return "%d.%d.%d.%d" % (raw[0], raw[1], raw[2], raw[3])  # noqa: UP031 (hot path)
    return str(ipaddress.IPv6Address(raw))


def unpack_address(value: bytes) -> Address:
    """Decode a MAPPED-ADDRESS-style value (RFC 8489 §14.1)."""
    if len(value) < 4:
        raise StunParseError("address attribute shorter than 4 bytes")
    family, port = _ADDR_HEAD.unpack_from(value)
    if family == FAMILY_IPV4:
        size = 4
    elif family == FAMILY_IPV6:
        size = 16
    else:
        raise StunParseError(f"unknown address family {family:#x}")
    if len(value) != 4 + size:
        raise StunParseError("address attribute length does not match its family")
    return (_host_text(value[4:]), port)


def _xor_mask(transaction_id: bytes, size: int) -> bytes:
    return _COOKIE_BYTES if size == 4 else _COOKIE_BYTES + transaction_id


def pack_xor_address(addr: Address, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS-style value (RFC 8489 §14.2): port XOR the cookie's top 16 bits,
    IPv4 XOR the cookie, IPv6 XOR cookie ‖ transaction id."""
    host, port = addr
    packed = _host_bytes(host)
    if not 0 <= port <= 0xFFFF:
        raise StunUsageError(f"port out of range: {port}")
    mask = _xor_mask(transaction_id, len(packed))
    xored = (int.from_bytes(packed, "big") ^ int.from_bytes(mask, "big")).to_bytes(
        len(packed), "big"
    )
    family = FAMILY_IPV4 if len(packed) == 4 else FAMILY_IPV6
    return _ADDR_HEAD.pack(family, port ^ (MAGIC_COOKIE >> 16)) + xored


def unpack_xor_address(value: bytes, transaction_id: bytes) -> Address:
    """Decode an XOR-MAPPED-ADDRESS-style value (RFC 8489 §14.2)."""
    if len(value) < 4:
        raise StunParseError("address attribute shorter than 4 bytes")
    family, xport = _ADDR_HEAD.unpack_from(value)
    if family == FAMILY_IPV4:
        size = 4
    elif family == FAMILY_IPV6:
        size = 16
    else:
        raise StunParseError(f"unknown address family {family:#x}")
    if len(value) != 4 + size:
        raise StunParseError("address attribute length does not match its family")
    mask = _xor_mask(transaction_id, size)
    raw = (int.from_bytes(value[4:], "big") ^ int.from_bytes(mask, "big")).to_bytes(size, "big")
    return (_host_text(raw), xport ^ (MAGIC_COOKIE >> 16))


def pack_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE value (RFC 8489 §14.8): 21 zero bits, class (hundreds), number, reason."""
    if not 300 <= code <= 699:
        raise StunUsageError(f"error code out of range 300-699: {code}")
    if len(reason) > MAX_REASON_CHARS:
        raise StunUsageError("reason phrase longer than 128 characters")
    return bytes((0, 0, code // 100, code % 100)) + reason.encode()


def unpack_error_code(value: bytes) -> ErrorCode:
    """Decode ERROR-CODE (RFC 8489 §14.8). The class must be 3–6 and the number < 100."""
    if len(value) < 4:
        raise StunParseError("ERROR-CODE shorter than 4 bytes")
    klass, number = value[2] & 0x07, value[3]
    if not 3 <= klass <= 6 or number > 99:
        raise StunParseError("ERROR-CODE class or number out of range")
    try:
        reason = value[4:].decode()
    except UnicodeDecodeError:
        raise StunParseError("ERROR-CODE reason is not UTF-8") from None
    return ErrorCode(klass * 100 + number, reason)


def pack_unknown_attributes(types: list[int]) -> bytes:
    """UNKNOWN-ATTRIBUTES value (RFC 8489 §14.13): a list of 16-bit types."""
    return b"".join(_U16.pack(t) for t in types)


def unpack_unknown_attributes(value: bytes) -> list[int]:
    """Decode UNKNOWN-ATTRIBUTES (RFC 8489 §14.13)."""
    if len(value) % 2:
        raise StunParseError("UNKNOWN-ATTRIBUTES length is odd")
    return [t for (t,) in _U16.iter_unpack(value)]
