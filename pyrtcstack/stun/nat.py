"""NAT behaviour discovery (RFC 5780 §4.3 mapping, §4.4 filtering) as a sans-I/O core.

:class:`NatBehaviorDiscovery` runs these tests, one after another, from one socket against
a server that returns OTHER-ADDRESS (an RFC 5780 server: two IPs, two ports):

1. Test I — Binding to the primary address: mapped address M1, OTHER-ADDRESS (IP2, P2).
   No OTHER-ADDRESS: the server cannot classify; the report has the mapping only.
2. Filtering test II (§4.4) — CHANGE-REQUEST "change IP and port": an answer means
   endpoint-independent filtering.
3. Filtering test III — CHANGE-REQUEST "change port": an answer means address-dependent
   filtering, silence address-and-port-dependent.
4. Mapping (§4.3): M1 equal to the local address means no NAT. Test II — Binding to
   (IP2, P1): M2 == M1 means endpoint-independent mapping. Test III — Binding to
   (IP2, P2): M3 == M2 means address-dependent, otherwise address-and-port-dependent.

The filtering tests run *before* the mapping tests II/III: sending to IP2 first would open
the NAT's filter for IP2 and turn a port-restricted NAT into a seemingly open one.

"No answer" is a transaction timeout, so the retransmission policy for the filtering
probes (``probe_policy``) decides how long a classification takes.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from enum import Enum

from ..common.core import Address, Event
from .constants import AttributeType
from .errors import StunParseError, StunUsageError
from .transaction import (
    UDP_POLICY,
    RetransmissionPolicy,
    StunClient,
    TransactionFailed,
    TransactionSucceeded,
    TransactionTimedOut,
)

__all__ = ["Filtering", "Mapping", "NatBehaviorDiscovery", "NatReport"]


class Mapping(Enum):
    """RFC 4787 §4.1 mapping behaviour, as measured by RFC 5780 §4.3."""

    NO_NAT = "no NAT (mapped address is the local address)"
    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address and port-dependent"
    UNKNOWN = "unknown"


class Filtering(Enum):
    """RFC 4787 §5 filtering behaviour, as measured by RFC 5780 §4.4."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address and port-dependent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NatReport(Event):
    """The outcome of :class:`NatBehaviorDiscovery` (emitted once, as its last event)."""

    server: Address
    local: Address | None
    mapped: Address | None
    response_origin: Address | None
    other_address: Address | None
    mapping: Mapping
    filtering: Filtering
    error: str | None = None

    @property
    def verdict(self) -> str:
        """``"direct"``, ``"direct-mostly"``, ``"needs-turn"`` or ``"unknown"``."""
        if self.mapping is Mapping.UNKNOWN or self.filtering is Filtering.UNKNOWN:
            return "unknown"
        if self.mapping in (Mapping.NO_NAT, Mapping.ENDPOINT_INDEPENDENT):
            if self.filtering is Filtering.ENDPOINT_INDEPENDENT:
                return "direct"
            return "direct-mostly"
        return "needs-turn"

    def explain(self) -> str:
        """What the classification means for a WebRTC (ICE) connection."""
        v = self.verdict
        if v == "unknown":
            return (
                "The server did not allow a full RFC 5780 classification (it needs "
                "OTHER-ADDRESS and CHANGE-REQUEST support). Plan for a TURN server."
            )
        if v == "direct":
            if self.mapping is Mapping.NO_NAT:
                what = "You are not behind a NAT and nothing filters inbound UDP"
            else:
                what = (
                    "Your NAT keeps one mapping for every destination and lets any host send to it"
                )
            return (
                f"{what}: ICE connects directly (host or server-reflexive candidates) with "
                "peers behind any NAT; no TURN relay is needed on your side."
            )
        if v == "direct-mostly":
            return (
                "Your mapping is the same for every destination, so the server-reflexive "
                "candidate you advertise is reachable once you have sent to the peer: ICE "
                "hole punching connects directly with most peers. Against a peer behind a "
                "symmetric NAT (address- or port-dependent mapping) "
                + (
                    "direct connectivity fails with your port-dependent filtering: a TURN "
                    "relay is needed."
                    if self.filtering is Filtering.ADDRESS_AND_PORT_DEPENDENT
                    else "it still works through peer-reflexive candidates."
                )
            )
        return (
            "Your NAT is symmetric: it picks a new external port for each destination, so "
            "the server-reflexive candidate a STUN server sees is useless to a peer. ICE "
            "connects directly only when the peer's NAT filters endpoint-independently or "
            "address-dependently (prflx candidates); with peers behind port-restricted or "
            "symmetric NATs you need a TURN relay."
        )


class NatBehaviorDiscovery:
    """RFC 5780 §4.3/§4.4 classifier (a DatagramCore; call :meth:`start` first).

    ``server`` is the primary address (IP1, P1); ``local`` the address our socket is bound
    to, when known (needed to recognise "no NAT"). ``policy`` applies to tests whose
    answer is expected, ``probe_policy`` to the filtering probes whose silence is the
    answer (RFC 8489's 39.5 s by default; the CLI uses a shorter one).
    """

    def __init__(
        self,
        server: Address,
        *,
        local: Address | None = None,
        rng: random.Random | None = None,
        policy: RetransmissionPolicy = UDP_POLICY,
        probe_policy: RetransmissionPolicy | None = None,
    ) -> None:
        self.server = server
        self.local = local
        self.policy = policy
        self.probe_policy = probe_policy or policy
        self.client = StunClient(rng=rng, policy=policy)
        self.report: NatReport | None = None
        self._events: deque[Event] = deque()
        self._phase = "idle"
        self._tid: bytes | None = None
        self._mapped1: Address | None = None
        self._mapped2: Address | None = None
        self._origin: Address | None = None
        self._other: Address | None = None
        self._filtering = Filtering.UNKNOWN

    def start(self, now: float) -> None:
        """Send Test I."""
        if self._phase != "idle":
            raise StunUsageError("discovery already started")
        self._phase = "test1"
        self._tid = self.client.binding(self.server, now)

    # -- DatagramCore ------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.client.receive_datagram(data, addr, now)
        self._pump(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self.client.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        return self.client.get_timer()

    def handle_timer(self, now: float) -> None:
        self.client.handle_timer(now)
        self._pump(now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- the test sequence -------------------------------------------------------------
    def _pump(self, now: float) -> None:
        event = self.client.next_event()
        while event is not None:
            if getattr(event, "transaction_id", None) == self._tid:
                self._step(event, now)
            event = self.client.next_event()

    def _finish(self, mapping: Mapping, error: str | None = None) -> None:
        self._phase = "done"
        self._tid = None
        self.report = NatReport(
            server=self.server,
            local=self.local,
            mapped=self._mapped1,
            response_origin=self._origin,
            other_address=self._other,
            mapping=mapping,
            filtering=self._filtering,
            error=error,
        )
        self._events.append(self.report)

    def _mapped(self, event: TransactionSucceeded) -> Address | None:
        try:
            return event.response.get_address(
                AttributeType.XOR_MAPPED_ADDRESS
            ) or event.response.get_address(AttributeType.MAPPED_ADDRESS)
        except StunParseError:
            return None

    def _step(self, event: Event, now: float) -> None:
        phase = self._phase
        ok = isinstance(event, TransactionSucceeded)
        if phase == "test1":
            if not isinstance(event, TransactionSucceeded):
                why = "timed out" if isinstance(event, TransactionTimedOut) else "error"
                if isinstance(event, TransactionFailed):
                    why = f"error {event.error.code} {event.error.reason}"
                self._finish(Mapping.UNKNOWN, f"Binding request to the server: {why}")
                return
            self._mapped1 = self._mapped(event)
            if self._mapped1 is None:
                self._finish(Mapping.UNKNOWN, "the server's response has no mapped address")
                return
            try:
                self._other = event.response.get_address(AttributeType.OTHER_ADDRESS)
                self._origin = event.response.get_address(AttributeType.RESPONSE_ORIGIN)
            except StunParseError:
                self._other = None
            if self._other is None or self._other[0] == self.server[0]:
                no_nat = self.local is not None and self._mapped1 == self.local
                self._finish(
                    Mapping.NO_NAT if no_nat else Mapping.UNKNOWN,
                    None if no_nat else "the server does not support RFC 5780 (no OTHER-ADDRESS)",
                )
                return
            self._phase = "filter2"
            self._tid = self.client.binding(
                self.server, now, change_ip=True, change_port=True, policy=self.probe_policy
            )
        elif phase == "filter2":
            if ok:
                self._filtering = Filtering.ENDPOINT_INDEPENDENT
                self._start_mapping(now)
            elif isinstance(event, TransactionTimedOut):
                self._phase = "filter3"
                self._tid = self.client.binding(
                    self.server, now, change_port=True, policy=self.probe_policy
                )
            else:
                self._start_mapping(now)  # the server refused CHANGE-REQUEST: unknown
        elif phase == "filter3":
            if ok:
                self._filtering = Filtering.ADDRESS_DEPENDENT
            elif isinstance(event, TransactionTimedOut):
                self._filtering = Filtering.ADDRESS_AND_PORT_DEPENDENT
            self._start_mapping(now)
        elif phase == "map2":
            if not isinstance(event, TransactionSucceeded) or self._mapped(event) is None:
                self._finish(Mapping.UNKNOWN, "no answer from the alternate address")
                return
            self._mapped2 = self._mapped(event)
            if self._mapped2 == self._mapped1:
                self._finish(Mapping.ENDPOINT_INDEPENDENT)
                return
            assert self._other is not None
            self._phase = "map3"
            self._tid = self.client.binding(self._other, now)
        elif phase == "map3":
            if not isinstance(event, TransactionSucceeded) or self._mapped(event) is None:
                self._finish(Mapping.UNKNOWN, "no answer from the alternate address")
                return
            if self._mapped(event) == self._mapped2:
                self._finish(Mapping.ADDRESS_DEPENDENT)
            else:
                self._finish(Mapping.ADDRESS_AND_PORT_DEPENDENT)

    def _start_mapping(self, now: float) -> None:
        if self.local is not None and self._mapped1 == self.local:
            self._finish(Mapping.NO_NAT)
            return
        assert self._other is not None
        self._phase = "map2"
        self._tid = self.client.binding((self._other[0], self.server[1]), now)
