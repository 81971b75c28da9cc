"""The agent's TURN allocations (RFC 8656) and the one way out for every datagram.

A relayed candidate (RFC 8445 §5.1.1.2) is an allocation on a TURN server made from one
host socket (or one TCP/TLS stream, RFC 8656 §3.1) by a :class:`~pyrtcstack.turn.TurnClient`.
:class:`Relays` owns those clients. Whatever a part of the agent sends goes through
:meth:`Relays.send_from`: from a host socket it is queued as is; from a relayed address
it is handed to that allocation's client (a Send indication or ChannelData to the
server, RFC 8656 §10-§12).

What the clients report (``Allocated``, ``DataReceived``, ``RequestFailed``) is collected
and handed to the agent by :meth:`Relays.take_events`, which decides who acts on it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..common.core import Address, Event
from ..turn import ClientState, TurnClient
from .candidates import IceCandidate
from .config import TurnServer
from .outbox import Outbox

__all__ = ["Relay", "Relays"]


@dataclass(slots=True, eq=False)
class Relay:
    """One TURN allocation made from one host socket (or stream pseudo socket)."""

    socket: Address
    server: TurnServer
    client: TurnClient
    #: the relayed candidate, once allocated (RFC 8656 §7.3: XOR-RELAYED-ADDRESS)
    candidate: IceCandidate | None = None
    #: the allocation succeeded or failed for good (gathering counts it as answered)
    done: bool = False


class Relays:
    """The allocations of one agent, and the way out of every datagram it sends."""

    __slots__ = ("_by_address", "_events", "_list", "_out", "_rng", "in_use")

    def __init__(self, out: Outbox, rng: random.Random) -> None:
        self._out = out
        self._rng = rng
        self._list: list[Relay] = []
        self._by_address: dict[Address, Relay] = {}  # relayed address -> its relay
        self._events: list[tuple[Relay, Event]] = []
        #: at least one allocation was started (an attribute, not ``len()``: the agent
        #: asks on every input, and most agents never have one)
        self.in_use = False

    def __iter__(self) -> Iterator[Relay]:
        return iter(self._list)

    def start(self, sock: Address, server: TurnServer, now: float, *, reliable: bool) -> Relay:
        """RFC 8656 §7.1: allocate on ``server`` from ``sock``."""
        client = TurnClient(
            server.address,
            server.username,
            server.password,
            reliable=reliable,
            # RFC 8489 §6: transaction ids from a CSPRNG; the agent's own rng is one by
            # default (tests inject a seeded one, which is then used here too).
            rng=self._rng,
        )
        relay = Relay(sock, server, client)
        self._list.append(relay)
        self.in_use = True
        client.allocate(now)
        self._drain(relay, now)
        return relay

    def allocated(self, relay: Relay, candidate: IceCandidate) -> None:
        """Record the relayed candidate: datagrams from its address now go through it."""
        relay.candidate = candidate
        self._by_address[candidate.address] = relay

    def relay_of(self, address: Address) -> Relay | None:
        """The relay whose relayed address is ``address``, or None (a host socket)."""
        return self._by_address.get(address)

    def send_from(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        """Send ``data`` from ``local`` (a host socket, stream, or relayed address)."""
        relay = self._by_address.get(local)
        if relay is None:
            self._out.send(data, local, remote)
        elif relay.client.state is ClientState.ALLOCATED:
            relay.client.send(data, remote, now)  # RFC 8656 §11-§12
            self._drain(relay, now)
        else:
            self._out.stats["relay_send_dropped"] += 1

    def receive(self, data: bytes, addr: Address, local: Address, now: float) -> bool:
        """Give a datagram from a TURN server to the allocation it belongs to (RFC 8656
        §10.3 Data indications, §12.5 ChannelData, and the client's own responses).
        False when no allocation on socket ``local`` has ``addr`` as its server."""
        for relay in self._list:
            if relay.socket == local and relay.client.is_from_server(data, addr):
                relay.client.receive_datagram(data, addr, now)
                self._drain(relay, now)
                return True
        return False

    def handle_timer(self, now: float) -> None:
        """Refreshes and retransmissions of every client that is due (RFC 8656 §7.3, §9)."""
        for relay in self._list:
            deadline = relay.client.get_timer()
            if deadline is not None and deadline <= now:
                relay.client.handle_timer(now)
                self._drain(relay, now)

    def deadline(self) -> float | None:
        """The earliest timer of the clients."""
        times = [t for t in (r.client.get_timer() for r in self._list) if t is not None]
        return min(times) if times else None

    def close(self, now: float) -> None:
        """RFC 8656 §8: release every allocation (Refresh with LIFETIME 0)."""
        for relay in self._list:
            relay.client.close(now)
            self._drain(relay, now)

    def take_events(self) -> list[tuple[Relay, Event]]:
        """The clients' events since the last call, each with its relay, oldest first."""
        events, self._events = self._events, []
        return events

    def _drain(self, relay: Relay, now: float) -> None:
        client = relay.client
        for data, dst in client.datagrams_to_send(now):
            self._out.send(data, relay.socket, dst)
        event = client.next_event()
        while event is not None:
            self._events.append((relay, event))
            event = client.next_event()
