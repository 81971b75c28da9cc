"""The STUN codec operations the TURN cores use, in one narrow place.

TURN messages are STUN messages (RFC 8656 §4), encoded and decoded by
:mod:`pyrtcstack.stun`. This module only adapts that codec to the cores: decoding errors
become :class:`~pyrtcstack.turn.errors.TurnParseError`, and a message is built from an
attribute list in one call.
"""

from __future__ import annotations

from ..common.core import Address
from ..stun import (
    Message,
    MessageClass,
    StunParseError,
    decode,
    long_term_key,
    pack_xor_address,
    unpack_error_code,
    unpack_xor_address,
)
from .errors import TurnParseError

__all__ = [
    "ERROR",
    "INDICATION",
    "REQUEST",
    "SUCCESS",
    "Message",
    "build",
    "long_term_key",
    "pack_xor_address",
    "parse",
    "unpack_error_code",
    "xor_address",
]

REQUEST = MessageClass.REQUEST
INDICATION = MessageClass.INDICATION
SUCCESS = MessageClass.SUCCESS
ERROR = MessageClass.ERROR


def parse(data: bytes) -> Message:
    """Decode one STUN message (FINGERPRINT checked when present, RFC 8489 §14.7)."""
    try:
        return decode(data)
    except StunParseError as exc:
        raise TurnParseError(str(exc)) from None


def build(
    method: int,
    cls: MessageClass,
    transaction_id: bytes,
    attributes: list[tuple[int, bytes]],
    key: bytes | None = None,
    *,
    fingerprint: bool = True,
) -> bytes:
    """Encode a message: ``attributes`` in order, then MESSAGE-INTEGRITY (with ``key``) and
    FINGERPRINT (RFC 8489 §14.5, §14.7)."""
    return Message(method, cls, transaction_id, attributes).encode(key, fingerprint=fingerprint)


def xor_address(value: bytes, transaction_id: bytes) -> Address:
    """Decode an XOR-*-ADDRESS value (RFC 8489 §14.2, RFC 8656 §16.3/§16.4)."""
    try:
        return unpack_xor_address(value, transaction_id)
    except StunParseError as exc:
        raise TurnParseError(str(exc)) from None
