"""The retransmission schedule of the agent's STUN requests (RFC 8489 §6.2.1).

A request is sent at ``t``, then again after RTO, 2·RTO, 4·RTO, ... until ``Rc`` sends;
after the last one the client waits ``Rm``·RTO for a response before giving up. With the
defaults (RTO 0.5 s, Rc 7, Rm 16) the sends are at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s and
the transaction fails at 39.5 s. ICE checks use RTO = max(500 ms, Ta × (waiting +
in-progress pairs)) (RFC 8445 §14.3); consent checks a short schedule (docs/ice.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.core import Address

if TYPE_CHECKING:
    from .checklist import CandidatePair, Generation

__all__ = ["RC_DEFAULT", "RM_DEFAULT", "RTO_DEFAULT", "Transaction"]

#: RFC 8489 §6.2.1 initial RTO (seconds).
RTO_DEFAULT = 0.5
#: RFC 8489 §6.2.1 Rc: number of transmissions.
RC_DEFAULT = 7
#: RFC 8489 §6.2.1 Rm: the final wait is Rm × RTO.
RM_DEFAULT = 16


@dataclass(slots=True, eq=False)
class Transaction:
    """One outstanding Binding request of the agent."""

    kind: str  #: "check", "consent" or "gather"
    transaction_id: bytes
    data: bytes
    local: Address  #: host socket or relayed address it leaves from
    remote: Address
    rto: float
    max_transmissions: int
    final_wait: float
    next_at: float = 0.0
    transmissions: int = 0
    pair: CandidatePair | None = None
    generation: Generation | None = None
    use_candidate: bool = False
    controlling: bool = False
    #: the PRIORITY attribute sent (the peer-reflexive priority, RFC 8445 §7.2.5.3.1)
    priority: int = 0
    server: Address | None = None
    #: when the first transmission left
    first_sent: float = 0.0
    #: RFC 8445 §7.3.1.4: a cancelled check is not retransmitted and its timeout is not a
    #: failure, but its response is still processed.
    cancelled: bool = False

    def sent(self, now: float) -> None:
        """Account one transmission at ``now`` and compute the next deadline."""
        if not self.transmissions:
            self.first_sent = now
        self.transmissions += 1
        if self.transmissions < self.max_transmissions:
            self.next_at = now + self.rto * (1 << (self.transmissions - 1))
        else:
            self.next_at = now + self.final_wait

    @property
    def exhausted(self) -> bool:
        """True when the deadline that is due is the final timeout, not a retransmission."""
        return self.transmissions >= self.max_transmissions
