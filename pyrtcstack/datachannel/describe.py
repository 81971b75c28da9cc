"""What a data channel puts in an SCTP DATA chunk, named for a trace (``pyrtcstack demo
--trace``): the payload protocol identifier (RFC 8831 §8) and, for DCEP (PPID 50), the
message type (RFC 8832 §5). SCTP's :func:`pyrtcstack.sctp.describe` takes
:func:`describe_payload` as its ``payload`` namer.
"""

from __future__ import annotations

from .dcep import MessageType, Ppid

__all__ = ["describe_payload"]

_NAMES: dict[int, str] = {
    Ppid.STRING: "string",
    Ppid.BINARY: "binary",
    Ppid.STRING_EMPTY: "empty string",
    Ppid.BINARY_EMPTY: "empty binary",
    Ppid.STRING_PARTIAL: "string part (deprecated PPID)",
    Ppid.BINARY_PARTIAL: "binary part (deprecated PPID)",
}
_DCEP: dict[int, str] = {
    MessageType.DATA_CHANNEL_OPEN: "DATA_CHANNEL_OPEN (RFC 8832 §5.1)",
    MessageType.DATA_CHANNEL_ACK: "DATA_CHANNEL_ACK (RFC 8832 §5.2)",
}


def describe_payload(ppid: int, data: bytes) -> tuple[str, bool]:
    """``(name, is_user_message)``: "binary", "string"... for a user message; the DCEP
    message type for PPID 50, a control message and not the user's. Never raises."""
    if ppid == Ppid.DCEP:
        kind = data[0] if data else -1
        return _DCEP.get(kind, f"DCEP message type {kind} (RFC 8832 §8.2.1)"), False
    return _NAMES.get(ppid, f"PPID {ppid}"), True
