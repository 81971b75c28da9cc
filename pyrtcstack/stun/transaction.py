"""Sans-I/O STUN client transactions (RFC 8489 §6.2, §6.3) and a small client core.

:class:`ClientTransaction` is one request and its retransmissions. It never sends anything
itself: :meth:`~ClientTransaction.start` returns the first datagram,
:meth:`~ClientTransaction.handle_timer` returns a retransmission (or times the transaction
out), :meth:`~ClientTransaction.handle_response` settles it. TURN and ICE embed these in
their own cores; ICE passes its own RTO (RFC 8445 §14.3) through
:class:`RetransmissionPolicy`.

:class:`StunClient` is a complete :class:`~pyrtcstack.common.core.DatagramCore` that runs
any number of transactions from one socket and reports :class:`TransactionSucceeded`,
:class:`TransactionFailed` and :class:`TransactionTimedOut` events.

Schedule over UDP (§6.2.1), with the defaults RTO = 0.5 s, Rc = 7, Rm = 16: sends at
0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s, failure at 31.5 + 16 × 0.5 = 39.5 s. Over TCP/TLS
(§6.2.2, ``reliable=True``) the request is sent once and fails after Ti = 39.5 s.
Retransmissions are scheduled from the previous *deadline*, not from the (possibly late)
``now``, so the schedule is exact on an explicit clock.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from enum import Enum

from ..common.core import Address, Event, default_rng
from .attributes import ErrorCode
from .constants import MessageClass, Method
from .errors import StunParseError, StunUsageError
from .message import Integrity, Message, decode, new_transaction_id

__all__ = [
    "MAX_PENDING_TRANSACTIONS",
    "TCP_POLICY",
    "UDP_POLICY",
    "ClientTransaction",
    "RetransmissionPolicy",
    "StunClient",
    "TransactionFailed",
    "TransactionState",
    "TransactionSucceeded",
    "TransactionTimedOut",
]

#: :class:`StunClient` refuses to start more than this many concurrent transactions.
MAX_PENDING_TRANSACTIONS = 256


@dataclass(frozen=True, slots=True)
class RetransmissionPolicy:
    """Retransmission parameters (RFC 8489 §6.2.1/§6.2.2).

    ``rto`` initial retransmission timeout (doubles after each send, capped at ``rto_max``
    if given), ``rc`` total number of sends, ``rm`` multiple of the *initial* RTO waited
    after the last send. ``reliable`` selects the TCP/TLS behaviour: one send, failure after
    ``ti`` seconds.
    """

    rto: float = 0.5
    rc: int = 7
    rm: int = 16
    reliable: bool = False
    ti: float = 39.5
    rto_max: float | None = None

    def __post_init__(self) -> None:
        if self.rto <= 0 or self.rc < 1 or self.rm < 1 or self.ti <= 0:
            raise StunUsageError("retransmission parameters must be positive")

    def schedule(self) -> tuple[list[float], float]:
        """Send offsets and the timeout offset from the first send (for docs and tests)."""
        if self.reliable:
            return [0.0], self.ti
        sends, t, rto = [0.0], 0.0, self.rto
        for _ in range(self.rc - 1):
            t += rto
            sends.append(t)
            rto = rto * 2 if self.rto_max is None else min(rto * 2, self.rto_max)
        return sends, t + self.rm * self.rto


#: RFC 8489 §6.2.1 defaults over UDP.
UDP_POLICY = RetransmissionPolicy()
#: RFC 8489 §6.2.2 over TCP/TLS.
TCP_POLICY = RetransmissionPolicy(reliable=True)


class TransactionState(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed out"


@dataclass(frozen=True, slots=True, eq=False)
class TransactionSucceeded(Event):
    """A success response arrived. ``rtt`` is None when the request was retransmitted
    (Karn's rule: no RTT sample from an ambiguous exchange)."""

    transaction_id: bytes
    response: Message
    addr: Address
    rtt: float | None


@dataclass(frozen=True, slots=True, eq=False)
class TransactionFailed(Event):
    """An error response arrived (``error`` from its ERROR-CODE), or a response carried
    unknown comprehension-required attributes (RFC 8489 §6.3.3: reported as 420)."""

    transaction_id: bytes
    response: Message
    addr: Address
    error: ErrorCode


@dataclass(frozen=True, slots=True, eq=False)
class TransactionTimedOut(Event):
    """No response within the schedule (RFC 8489 §6.2.1: 39.5 s by default)."""

    transaction_id: bytes


class ClientTransaction:
    """One STUN request/response exchange (RFC 8489 §6.2–§6.3), driven by its owner.

    With ``key``, the request carries MESSAGE-INTEGRITY (``integrity`` chooses SHA-1,
    SHA-256 or both) and responses are authenticated (§9.1.4, §9.2.5): a success response,
    or an error response that carries integrity, is discarded as if never received when it
    does not verify; an error response *without* integrity (401/438 with a new NONCE) is
    accepted, because long-term authentication needs it.
    """

    __slots__ = (
        "_deadline",
        "_first_sent",
        "_interval",
        "addr",
        "data",
        "key",
        "policy",
        "request",
        "response",
        "sends",
        "state",
        "transaction_id",
    )

    def __init__(
        self,
        request: Message,
        addr: Address,
        *,
        key: bytes | None = None,
        fingerprint: bool = True,
        integrity: Integrity = "sha1",
        policy: RetransmissionPolicy = UDP_POLICY,
    ) -> None:
        if request.message_class != MessageClass.REQUEST:
            raise StunUsageError("a client transaction carries a request")
        self.request = request
        self.addr = addr
        self.key = key
        self.policy = policy
        self.transaction_id = request.transaction_id
        self.data = request.encode(key, fingerprint=fingerprint, integrity=integrity)
        self.state = TransactionState.PENDING
        self.sends = 0
        self.response: Message | None = None
        self._deadline: float | None = None
        self._first_sent = 0.0
        self._interval = policy.rto

    @property
    def deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called (None once settled)."""
        return self._deadline if self.state is TransactionState.PENDING else None

    def start(self, now: float) -> bytes:
        """Return the first datagram to send now and arm the retransmission timer."""
        if self.sends:
            raise StunUsageError("transaction already started")
        self.sends = 1
        self._first_sent = now
        policy = self.policy
        if policy.reliable:
            self._deadline = now + policy.ti
        elif policy.rc == 1:
            self._deadline = now + policy.rm * policy.rto
        else:
            self._deadline = now + policy.rto
        return self.data

    def handle_timer(self, now: float) -> bytes | None:
        """Retransmit (returns the datagram) or time out (state becomes TIMED_OUT)."""
        deadline = self._deadline
        if self.state is not TransactionState.PENDING or deadline is None or now < deadline:
            return None
        policy = self.policy
        if policy.reliable or self.sends >= policy.rc:
            self.state = TransactionState.TIMED_OUT
            self._deadline = None
            return None
        self.sends += 1
        if self.sends == policy.rc:
            self._deadline = deadline + policy.rm * policy.rto
        else:
            interval = self._interval * 2
            if policy.rto_max is not None:
                interval = min(interval, policy.rto_max)
            self._interval = interval
            self._deadline = deadline + interval
        return self.data

    def handle_response(self, response: Message, now: float) -> TransactionState | None:
        """Settle the transaction with ``response`` (same transaction id, decoded).

        Returns the new state, or None when the response is ignored: the transaction is
        already settled (a duplicate), it is not a response, or it fails authentication.
        """
        if self.state is not TransactionState.PENDING:
            return None
        if response.transaction_id != self.transaction_id:
            return None
        klass = response.message_class
        if klass is MessageClass.REQUEST or klass is MessageClass.INDICATION:
            return None
        must_verify = klass is MessageClass.SUCCESS or response.integrity is not None
        if self.key is not None and must_verify and not response.verify_integrity(self.key):
            return None
        self.response = response
        self._deadline = None
        if klass is MessageClass.SUCCESS and not response.unknown_required:
            self.state = TransactionState.SUCCEEDED
        else:
            self.state = TransactionState.FAILED
        return self.state

    def error(self) -> ErrorCode | None:
        """The error of a FAILED transaction (420 for unknown attributes in a success)."""
        if self.state is not TransactionState.FAILED or self.response is None:
            return None
        if self.response.message_class is MessageClass.SUCCESS:
            return ErrorCode(420, "Unknown comprehension-required attribute in response")
        try:
            err = self.response.get_error()
        except StunParseError:
            err = None
        return err if err is not None else ErrorCode(500, "Error response without ERROR-CODE")

    @property
    def first_sent(self) -> float:
        """When :meth:`start` was called (for RTT samples when ``sends == 1``)."""
        return self._first_sent


class StunClient:
    """A client core: STUN transactions from one socket (the DatagramCore contract).

    ``request(message, addr, now, ...)`` starts a transaction and returns its id; the
    outcome arrives as an event. Datagrams that are not STUN responses to a pending
    transaction are dropped and counted (``malformed``, ``stray``).
    """

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        policy: RetransmissionPolicy = UDP_POLICY,
        max_pending: int = MAX_PENDING_TRANSACTIONS,
    ) -> None:
        self.rng = default_rng(rng)
        self.policy = policy
        self.max_pending = max_pending
        self._pending: dict[bytes, ClientTransaction] = {}
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        #: datagrams that did not decode as STUN
        self.malformed = 0
        #: responses for no pending transaction (late duplicates, strays) or non-responses
        self.stray = 0
        #: responses that failed authentication
        self.unauthenticated = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def request(
        self,
        message: Message,
        addr: Address,
        now: float,
        *,
        key: bytes | None = None,
        fingerprint: bool = True,
        integrity: Integrity = "sha1",
        policy: RetransmissionPolicy | None = None,
    ) -> bytes:
        """Start a transaction for ``message`` (a request) to ``addr``; returns its id."""
        if len(self._pending) >= self.max_pending:
            raise StunUsageError("too many pending STUN transactions")
        if message.transaction_id in self._pending:
            raise StunUsageError("transaction id already in use")
        tx = ClientTransaction(
            message,
            addr,
            key=key,
            fingerprint=fingerprint,
            integrity=integrity,
            policy=policy or self.policy,
        )
        self._pending[tx.transaction_id] = tx
        self._out.append((tx.start(now), addr))
        return tx.transaction_id

    def binding(
        self,
        addr: Address,
        now: float,
        *,
        change_ip: bool = False,
        change_port: bool = False,
        policy: RetransmissionPolicy | None = None,
    ) -> bytes:
        """Send a Binding request (optionally with RFC 5780 CHANGE-REQUEST)."""
        msg = Message(Method.BINDING, MessageClass.REQUEST, new_transaction_id(self.rng))
        if change_ip or change_port:
            msg.add_change_request(change_ip, change_port)
        return self.request(msg, addr, now, policy=policy)

    def cancel(self, transaction_id: bytes) -> None:
        """Forget a pending transaction (no event); a late response counts as stray."""
        self._pending.pop(transaction_id, None)

    # -- DatagramCore ------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        try:
            msg = decode(data)
        except StunParseError:
            self.malformed += 1
            return
        tx = self._pending.get(msg.transaction_id)
        if tx is None:
            self.stray += 1
            return
        state = tx.handle_response(msg, now)
        if state is None:
            if msg.message_class in (MessageClass.SUCCESS, MessageClass.ERROR):
                self.unauthenticated += 1
            else:
                self.stray += 1
            return
        del self._pending[tx.transaction_id]
        if state is TransactionState.SUCCEEDED:
            rtt = now - tx.first_sent if tx.sends == 1 else None
            self._events.append(TransactionSucceeded(tx.transaction_id, msg, addr, rtt))
        else:
            err = tx.error()
            assert err is not None
            self._events.append(TransactionFailed(tx.transaction_id, msg, addr, err))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        deadlines = [d for d in (tx.deadline for tx in self._pending.values()) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for tid, tx in list(self._pending.items()):
            deadline = tx.deadline
            if deadline is None or deadline > now:
                continue
            data = tx.handle_timer(now)
            if data is not None:
                self._out.append((data, tx.addr))
            elif tx.state is TransactionState.TIMED_OUT:
                del self._pending[tid]
                self._events.append(TransactionTimedOut(tid))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None
