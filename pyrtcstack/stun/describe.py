"""One line per STUN message, for people reading a trace (``pyrtcstack demo --trace``).

:func:`describe` names the method and class (RFC 8489 §5) and the attributes that tell a
learner what the message is for in ICE (RFC 8445 §7: connectivity checks, nomination) or
consent (RFC 7675). Best effort: it never raises, whatever the bytes.
"""

from __future__ import annotations

from .constants import AttributeType, MessageClass, Method
from .errors import StunParseError
from .message import decode

__all__ = ["describe"]

#: Longest text taken from the wire (USERNAME, an error reason) into a line.
MAX_TEXT = 64


def _printable(text: str) -> str:
    """Text from the peer, safe for a terminal: control characters escaped, bounded."""
    clipped = text[:MAX_TEXT]
    safe = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in clipped)
    return safe + ("…" if len(text) > MAX_TEXT else "")


def describe(data: bytes) -> str:
    """A STUN message as a learner reads it, e.g. ``STUN BINDING request
    USERNAME=ab:cd ICE-CONTROLLING (connectivity check, RFC 8445 §7.2.4)``."""
    try:
        msg = decode(data, check_fingerprint=False)
        method = (
            Method(msg.method).name if msg.method in Method._value2member_map_ else hex(msg.method)
        )
        cls = MessageClass(msg.message_class).name.lower()
        parts = [f"STUN {method} {cls}"]
        if msg.method == Method.BINDING and msg.message_class is MessageClass.REQUEST:
            user = msg.get_text(AttributeType.USERNAME)
            if user:
                parts.append(f"USERNAME={_printable(user)}")
            if msg.has(AttributeType.USE_CANDIDATE):
                # Regular nomination (RFC 8445 §8.1.1): the controlling agent nominates a
                # pair whose check already succeeded, so the pair was selected (and carried
                # data, §12.1) before this request.
                parts.append(
                    "USE-CANDIDATE (regular nomination of a pair already valid and in use, "
                    "RFC 8445 §8.1.1, §7.2.2)"
                )
            elif msg.has(AttributeType.ICE_CONTROLLING):
                parts.append("ICE-CONTROLLING (connectivity check, RFC 8445 §7.2.4)")
            elif msg.has(AttributeType.ICE_CONTROLLED):
                parts.append("ICE-CONTROLLED (connectivity check, RFC 8445 §7.2.4)")
        elif msg.method == Method.BINDING and msg.message_class is MessageClass.SUCCESS:
            mapped = msg.get_address(AttributeType.XOR_MAPPED_ADDRESS)
            if mapped:
                parts.append(f"XOR-MAPPED-ADDRESS={mapped[0]}:{mapped[1]} (RFC 8489 §14.2)")
        elif msg.message_class is MessageClass.ERROR:
            error = msg.get_error()
            if error is not None:
                parts.append(f"{error.code} {_printable(error.reason)} (RFC 8489 §14.8)")
        elif msg.method == Method.BINDING and msg.message_class is MessageClass.INDICATION:
            parts.append("(keepalive, RFC 8445 §11)")
    except StunParseError:
        return "malformed STUN"
    return " ".join(parts)
