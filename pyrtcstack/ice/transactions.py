"""The agent's outstanding STUN requests: a :class:`~pyrtcstack.stun.ClientTransaction`
(the RFC 8489 §6.2.1 schedule and Karn's rule, written once in :mod:`pyrtcstack.stun`)
plus what the agent needs to know about it (which pair, which generation, which socket).

Schedules, all through :class:`~pyrtcstack.stun.transaction.RetransmissionPolicy`:

* gathering (§5.1.1.2): the RFC 8489 defaults, RTO 0.5 s, Rc 7, Rm 16 — sends at 0, 0.5,
  1.5, 3.5, 7.5, 15.5, 31.5 s, failure at 39.5 s (:func:`gather_policy`);
* checks: RTO = max(500 ms, Ta × (Waiting + In-Progress pairs)) (RFC 8445 §14.3), the
  same doubling, Rc and Rm (:func:`check_policy`);
* consent (RFC 7675): three sends at 0, 0.5, 1.5 s and a final wait that ends at
  ``consent_miss_after`` (:func:`consent_policy`).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.core import Address
from ..stun import (
    UDP_POLICY,
    ClientTransaction,
    Message,
    MessageClass,
    Method,
    RetransmissionPolicy,
    TransactionState,
)
from ..stun import AttributeType as A
from .candidates import CandidateType, candidate_priority

if TYPE_CHECKING:
    from .checklist import CandidatePair, Generation
    from .relays import Relays

__all__ = [
    "CONSENT_TRANSMISSIONS",
    "RequestTemplate",
    "Transaction",
    "Transactions",
    "binding_request",
    "check_policy",
    "consent_policy",
    "gather_policy",
    "request_template",
]

#: RFC 7675 §5.1 leaves the consent retransmissions to us: three sends (0, 0.5, 1.5 s).
CONSENT_TRANSMISSIONS = 3


def gather_policy(max_transmissions: int) -> RetransmissionPolicy:
    """RFC 8445 §5.1.1.2 / RFC 8489 §6.2.1: a Binding request to a STUN server."""
    if max_transmissions == UDP_POLICY.rc:
        return UDP_POLICY
    return RetransmissionPolicy(rc=max_transmissions)


def check_policy(ta: float, busy: int, max_transmissions: int) -> RetransmissionPolicy:
    """RFC 8445 §14.3: RTO = max(500 ms, Ta × N), N the Waiting and In-Progress pairs."""
    return RetransmissionPolicy(rto=max(UDP_POLICY.rto, ta * busy), rc=max_transmissions)


@functools.lru_cache(maxsize=8)
def consent_policy(miss_after: float) -> RetransmissionPolicy:
    """Consent checks (RFC 7675 §5.1): :data:`CONSENT_TRANSMISSIONS` sends, then a final
    wait of Rm × RTO that ends at ``miss_after`` (2.5 s by default: Rm = 2). The
    "disconnected" verdict itself is time-based (docs/ice.md); this only bounds the
    transaction's life."""
    rto = UDP_POLICY.rto
    last_send = rto * ((1 << (CONSENT_TRANSMISSIONS - 1)) - 1)
    rm = max(1, math.ceil((miss_after - last_send) / rto - 1e-9))
    return RetransmissionPolicy(rto=rto, rc=CONSENT_TRANSMISSIONS, rm=rm)


@dataclass(slots=True, eq=False)
class Transaction:
    """One outstanding Binding request of the agent: the STUN client transaction and its
    ICE context."""

    kind: str  #: "check", "consent" or "gather"
    client: ClientTransaction
    local: Address  #: host socket or relayed address it leaves from
    pair: CandidatePair | None = None
    generation: Generation | None = None
    use_candidate: bool = False
    controlling: bool = False
    #: the PRIORITY attribute sent (the peer-reflexive priority, RFC 8445 §7.2.5.3.1)
    priority: int = 0
    server: Address | None = None
    #: RFC 8445 §7.3.1.4: a cancelled check is not retransmitted and its timeout is not a
    #: failure, but its response is still processed until the schedule runs out.
    cancelled: bool = False

    @property
    def transaction_id(self) -> bytes:
        return self.client.transaction_id

    @property
    def data(self) -> bytes:
        return self.client.data

    @property
    def remote(self) -> Address:
        return self.client.addr

    @property
    def first_sent(self) -> float:
        return self.client.first_sent

    @property
    def transmissions(self) -> int:
        return self.client.sends

    @property
    def next_at(self) -> float | None:
        """When the agent must call :meth:`timer` (None once settled)."""
        return self.client.deadline

    @property
    def timed_out(self) -> bool:
        return self.client.state is TransactionState.TIMED_OUT

    def settle(self, response: Message, now: float) -> float | None:
        """Settle the STUN transaction with ``response`` (already authenticated and read
        by the agent). Returns the round-trip time, or None under Karn's rule (the request
        was retransmitted: the sample is ambiguous)."""
        self.client.handle_response(response, now)
        return now - self.client.first_sent if self.client.sends == 1 else None

    def timer(self, now: float) -> bytes | None:
        """The retransmission due at ``now`` (None if none, or if cancelled; then check
        :attr:`timed_out`)."""
        data = self.client.handle_timer(now)
        return None if self.cancelled else data


_USERNAME = int(A.USERNAME)
_PRIORITY = int(A.PRIORITY)
_ICE_CONTROLLING = int(A.ICE_CONTROLLING)
_ICE_CONTROLLED = int(A.ICE_CONTROLLED)
_USE_CANDIDATE = int(A.USE_CANDIDATE)
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


@dataclass(frozen=True, slots=True, eq=False)
class RequestTemplate:
    """What every Binding request on one pair, in one generation and one role carries
    (RFC 8445 §7.2.2) but its transaction id. A consent request (RFC 7675 §5.1) is the
    same every ~5 s: the consent clock builds this once per selected pair."""

    pair: CandidatePair
    generation: Generation
    controlling: bool
    use_candidate: bool
    #: USERNAME, PRIORITY, ICE-CONTROLLING/ICE-CONTROLLED[, USE-CANDIDATE], in order
    attributes: tuple[tuple[int, bytes], ...]
    #: the PRIORITY sent (the peer-reflexive priority, RFC 8445 §7.2.5.3.1)
    priority: int


def request_template(
    gen: Generation,
    pair: CandidatePair,
    *,
    controlling: bool,
    tie_breaker: int,
    use_candidate: bool = False,
) -> RequestTemplate:
    """RFC 8445 §7.2.2: USERNAME ``remote:local`` ufrags, PRIORITY (the peer-reflexive
    priority of the pair's base, §7.1.1), ICE-CONTROLLING or ICE-CONTROLLED with the
    tie-breaker (§7.1.3), USE-CANDIDATE when nominating (§8.1.1). MESSAGE-INTEGRITY with
    the peer's password and FINGERPRINT are added when the request is encoded."""
    local = pair.local
    ptype = CandidateType.RELAY if local.type is CandidateType.RELAY else CandidateType.PRFLX
    priority = candidate_priority(ptype, (local.priority >> 8) & 0xFFFF)
    attributes = [
        (_USERNAME, f"{gen.remote_ufrag}:{gen.local_ufrag}".encode()),
        (_PRIORITY, _U32.pack(priority)),
    ]
    if controlling:
        attributes.append((_ICE_CONTROLLING, _U64.pack(tie_breaker)))
        if use_candidate:
            attributes.append((_USE_CANDIDATE, b""))
    else:
        attributes.append((_ICE_CONTROLLED, _U64.pack(tie_breaker)))
    return RequestTemplate(
        pair, gen, controlling, use_candidate and controlling, tuple(attributes), priority
    )


def binding_request(
    kind: str, template: RequestTemplate, transaction_id: bytes, policy: RetransmissionPolicy
) -> Transaction:
    """The Binding request of a connectivity check (``kind`` "check", RFC 8445 §7.2.2) or
    of a consent check ("consent", RFC 7675 §5.1), MESSAGE-INTEGRITY keyed with the peer's
    password (§7.2.2), FINGERPRINT, on the retransmission schedule ``policy``."""
    gen = template.generation
    pair = template.pair
    assert gen.remote_key is not None
    msg = Message(Method.BINDING, MessageClass.REQUEST, transaction_id)
    msg.attributes = list(template.attributes)
    client = ClientTransaction(
        msg, pair.remote.address, key=gen.remote_key, fingerprint=True, policy=policy
    )
    return Transaction(
        kind,
        client,
        pair.local.address,
        pair=pair,
        generation=gen,
        use_candidate=template.use_candidate,
        controlling=template.controlling,
        priority=template.priority,
    )


class Transactions:
    """The agent's outstanding Binding requests by transaction id (checks, consent and
    gathering alike): started here, retransmitted here on their schedules (RFC 8489
    §6.2.1), and looked up here when a response arrives."""

    __slots__ = ("_by_id", "_relays", "_stats")

    def __init__(self, relays: Relays, stats: dict[str, int]) -> None:
        self._by_id: dict[bytes, Transaction] = {}
        self._relays = relays
        self._stats = stats

    def __contains__(self, transaction_id: bytes) -> bool:
        return transaction_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Transaction]:
        return iter(list(self._by_id.values()))

    def get(self, transaction_id: bytes) -> Transaction | None:
        return self._by_id.get(transaction_id)

    def start(self, tx: Transaction, now: float) -> None:
        """Send the request's first transmission and keep it until answered or timed out."""
        client = tx.client
        self._by_id[client.transaction_id] = tx
        self._relays.send_from(client.start(now), tx.local, client.addr, now)

    def remove(self, tx: Transaction | None) -> None:
        """Forget ``tx`` (answered, superseded or abandoned); a late answer is a stray."""
        if tx is not None:
            tid = tx.client.transaction_id
            if self._by_id.get(tid) is tx:
                del self._by_id[tid]

    def remove_generation(self, generation: Generation, *, keep: Transaction | None = None) -> None:
        """Forget every request of ``generation`` (an ICE restart or its rollback, RFC 8445
        §9), except ``keep``."""
        for tid, tx in list(self._by_id.items()):
            if tx.generation is generation and tx is not keep:
                del self._by_id[tid]

    def clear(self) -> None:
        """Forget every request (the agent closes). A check still in flight and its pair
        refer to each other (``pair.transaction``, ``tx.pair``): the pair lets go of it
        here, or the two would wait for the cyclic garbage collector."""
        for tx in self._by_id.values():
            pair = tx.pair
            if pair is not None and pair.transaction is tx:
                pair.transaction = None
        self._by_id.clear()

    def handle_timer(self, now: float) -> list[Transaction]:
        """Retransmit every request that is due; return (and forget) those that timed out."""
        due = []
        for tx in self._by_id.values():
            deadline = tx.client.deadline
            if deadline is not None and deadline <= now:
                due.append(tx)
        timed_out: list[Transaction] = []
        for tx in due:
            data = tx.timer(now)
            if data is not None:
                self._stats["retransmissions"] += 1
                self._relays.send_from(data, tx.local, tx.remote, now)
            elif tx.timed_out:
                del self._by_id[tx.transaction_id]
                timed_out.append(tx)
        return timed_out

    def deadline(self) -> float | None:
        """The earliest retransmission or timeout."""
        deadline = None
        for tx in self._by_id.values():
            t = tx.client.deadline
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline
