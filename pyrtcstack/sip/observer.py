"""What the SIP cores tell an observer (``pyrtcstack sip call --trace``), at one point per
boundary.

The same idea as the peer connection's observer (:mod:`pyrtcstack.peerconnection.trace`):
the cores are not woven with narration; each boundary calls the observer when one is set,
at the cost of one ``None`` test, and the observer only reads. Points:

* the wire, in: :meth:`SipObserver.message_received`, a datagram's bytes (before they are
  parsed: a malformed one is seen too) or a message a stream framer cut, in
  :class:`~pyrtcstack.sip.TransactionLayer`'s ``receive_datagram`` / ``receive_message``;
* the wire, out: :meth:`SipObserver.message_sent`, each message as it is queued for
  ``datagrams_to_send`` (so it is told in the order it was made): in the transaction
  layer, and where the user agent sends bytes again outside any transaction (its 2xx
  until the ACK, §13.3.1.4; its ACK to a 2xx seen again, §13.2.2.4);
* the transactions (RFC 3261 §17): :meth:`SipObserver.transaction_state` for every state
  a transaction enters and :meth:`SipObserver.timer_fired` for every timer A-M that fires,
  in the transaction layer;
* the calls: :meth:`SipObserver.event`, each event of the user agent as it is made
  (the agent's event queue tells the observer when one is set), and
  :meth:`SipObserver.digest_retry`, each request the agent makes again with credentials
  after a 401/407 (§22.2; calls, registrations and requests inside a dialog alike).

:class:`~pyrtcstack.sip.SipTracer` is the observer that turns these into narrated
records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pyrtcstack.common.core import Address, Event

if TYPE_CHECKING:
    from pyrtcstack.sip.message import Message, Request
    from pyrtcstack.sip.transaction import TxState

__all__ = ["SipObserver"]


class SipObserver(Protocol):
    """What the SIP cores tell an observer (see the module docstring)."""

    def message_received(self, data: bytes | Message, source: Address, now: float) -> None: ...

    def message_sent(self, data: bytes, destination: Address, now: float) -> None: ...

    def transaction_state(
        self, key: str, method: str, old: TxState | None, new: TxState, now: float
    ) -> None: ...

    def timer_fired(self, key: str, method: str, timer: str, now: float) -> None: ...

    def event(self, source: object, event: Event, now: float) -> None: ...

    def digest_retry(self, request: Request, status: int, now: float) -> None: ...
