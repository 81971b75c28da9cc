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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.core import Address
from ..stun.message import Message
from ..stun.transaction import (
    UDP_POLICY,
    ClientTransaction,
    RetransmissionPolicy,
    TransactionState,
)

if TYPE_CHECKING:
    from .checklist import CandidatePair, Generation

__all__ = [
    "CONSENT_TRANSMISSIONS",
    "Transaction",
    "check_policy",
    "consent_policy",
    "gather_policy",
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
