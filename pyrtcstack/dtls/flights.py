"""Flights and the retransmission timer (RFC 6347 §4.2.4).

DTLS groups handshake messages into *flights* (the client's ClientHello; the server's
ServerHello...ServerHelloDone; the client's Certificate...Finished; the server's
ChangeCipherSpec+Finished). A flight is retransmitted whole, with fresh record sequence
numbers, when the timer expires or when the peer retransmits its previous flight.

The timer starts at :attr:`RetransmitTimer.initial` (1 s by default, §4.2.4.1), doubles on
each expiry up to :attr:`RetransmitTimer.maximum` (60 s), and the handshake gives up after
:attr:`RetransmitTimer.max_retransmissions` expiries without progress. Once a flight got
through without any retransmission, the next one starts again from the initial value.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import ContentType
from .fragments import HANDSHAKE_HEADER_LENGTH, fragment_message
from .record import HEADER_LENGTH, EpochState, pack_datagrams

__all__ = ["Flight", "FlightItem", "RetransmitTimer"]

#: Default initial retransmission timeout (RFC 6347 §4.2.4.1).
INITIAL_TIMEOUT = 1.0
#: Default cap of the doubling timeout (RFC 6347 §4.2.4.1: "at least 60 seconds").
MAX_TIMEOUT = 60.0
#: Expiries without progress before the handshake fails (1+2+4+...+60 s ≈ 2 minutes).
MAX_RETRANSMISSIONS = 7


@dataclass(frozen=True, slots=True)
class FlightItem:
    """One message of a flight: a handshake message (``msg_type`` >= 0) or, with
    ``msg_type == -1``, a ChangeCipherSpec; ``epoch`` is the write epoch it goes out in."""

    epoch: int
    msg_type: int
    message_seq: int = 0
    body: bytes = b""


class Flight:
    """An ordered list of messages that is (re)sent as a unit."""

    def __init__(self, items: list[FlightItem]) -> None:
        self.items = items
        self.transmissions = 0

    def datagrams(self, epochs: dict[int, EpochState], mtu: int, version: int) -> list[bytes]:
        """Encode the flight into datagrams of at most ``mtu`` bytes with fresh record
        sequence numbers; messages are fragmented to fit (RFC 6347 §4.2.3)."""
        records: list[bytes] = []
        for item in self.items:
            state = epochs[item.epoch]
            if item.msg_type < 0:
                records.append(state.protect(ContentType.CHANGE_CIPHER_SPEC, b"\x01", version))
                continue
            overhead = state.cipher.info.overhead if state.cipher is not None else 0
            room = mtu - HEADER_LENGTH - HANDSHAKE_HEADER_LENGTH - overhead
            pieces = fragment_message(item.msg_type, item.message_seq, item.body, room)
            records.extend(state.protect(ContentType.HANDSHAKE, p, version) for p in pieces)
        self.transmissions += 1
        return pack_datagrams(records, mtu)


class RetransmitTimer:
    """The doubling retransmission timer of RFC 6347 §4.2.4.1."""

    def __init__(
        self,
        initial: float = INITIAL_TIMEOUT,
        maximum: float = MAX_TIMEOUT,
        max_retransmissions: int = MAX_RETRANSMISSIONS,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.max_retransmissions = max_retransmissions
        self.timeout = initial
        self.deadline: float | None = None
        self.expiries = 0

    def start(self, now: float, clean: bool) -> None:
        """Arm for a new flight; ``clean`` = the previous flight needed no retransmission."""
        if clean:
            self.timeout = self.initial
        self.expiries = 0
        self.deadline = now + self.timeout

    def restart(self, now: float) -> None:
        """Re-arm with the current timeout (after a retransmission the peer provoked)."""
        if self.deadline is not None:
            self.deadline = now + self.timeout

    def expire(self, now: float) -> bool:
        """The deadline passed: back off. Returns False when the budget is exhausted."""
        self.expiries += 1
        if self.expiries > self.max_retransmissions:
            self.deadline = None
            return False
        self.timeout = min(self.timeout * 2, self.maximum)
        self.deadline = now + self.timeout
        return True

    def stop(self) -> None:
        self.deadline = None
