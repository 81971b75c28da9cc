"""Association states (RFC 9260 §4) and counters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["AssociationStats", "State"]


class State(Enum):
    """Association states (RFC 9260 §4)."""

    CLOSED = "closed"
    COOKIE_WAIT = "cookie-wait"
    COOKIE_ECHOED = "cookie-echoed"
    ESTABLISHED = "established"
    SHUTDOWN_PENDING = "shutdown-pending"
    SHUTDOWN_SENT = "shutdown-sent"
    SHUTDOWN_RECEIVED = "shutdown-received"
    SHUTDOWN_ACK_SENT = "shutdown-ack-sent"


@dataclass(slots=True)
class AssociationStats:
    """Counters: dropped input is counted here, never raised (docs/architecture.md)."""

    packets_received: int = 0
    packets_sent: int = 0
    bad_checksum: int = 0
    malformed: int = 0
    bad_verification_tag: int = 0
    bad_port: int = 0
    bad_cookie: int = 0
    unexpected_chunks: int = 0
    data_dropped: int = 0
    invalid_stream: int = 0
