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
    #: Setup anomalies, 0 on a clean handshake (docs/interop.md, "A clean setup"):
    #: T1-init / T1-cookie expiries (RFC 9260 §6.3.3: our INIT or COOKIE ECHO unanswered)
    t1_expirations: int = 0
    #: the peer sent again an INIT we had answered (our INIT ACK lost, or one it could not
    #: parse: pion/sctp 1.8.x and Zero Checksum Acceptable)
    inits_repeated: int = 0
    #: INIT ACKs discarded outside COOKIE-WAIT (§5.2.3): one is normal after an INIT
    #: collision, the peer's COOKIE ECHO having established us first
    init_acks_discarded: int = 0
    #: ERROR chunks received (§3.3.10), and parameters the peer reported it did not
    #: recognise (§3.2.1: an INIT ACK's Unrecognized Parameter, an ERROR's cause 8)
    errors_received: int = 0
    unrecognized_parameters: int = 0
