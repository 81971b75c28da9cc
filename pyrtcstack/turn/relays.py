"""Relayed addresses for drivers without sockets: :class:`SequentialRelayAllocator` hands
them out, :class:`RelayEndpoint` makes one relayed address of a
:class:`~pyrtcstack.turn.server.TurnServer` look like its own core, for address-routed
drivers (MemoryNetwork, the ICE virtual network). Re-exported by :mod:`.server`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..common.core import Address, Event

if TYPE_CHECKING:
    from .server import TurnServer

__all__ = ["RelayEndpoint", "SequentialRelayAllocator"]


class SequentialRelayAllocator:
    """Hands out relayed addresses ``(relay_ip, port)`` with ports counting up from
    ``first_port`` and reused after release; for virtual networks and tests."""

    def __init__(self, relay_ip: str, first_port: int = 49152, last_port: int = 65535) -> None:
        self.relay_ip = relay_ip
        self._free: deque[int] = deque(range(first_port, last_port + 1))

    def __call__(self, client: Address) -> Address | None:
        return (self.relay_ip, self._free.popleft()) if self._free else None

    def release(self, relayed: Address) -> None:
        self._free.append(relayed[1])


class RelayEndpoint:
    """One relayed address of a :class:`TurnServer` seen as its own core, for drivers that
    route datagrams by destination address (MemoryNetwork, the ICE virtual network).

    Datagrams it receives go to :meth:`TurnServer.receive_relayed`; it sends what the
    server queued for this address. Timers and events stay with the server itself.
    """

    def __init__(self, server: TurnServer, relayed: Address) -> None:
        self.server = server
        self.relayed = relayed

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.server.receive_relayed(data, addr, self.relayed, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self.server.take_relayed(self.relayed)

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return None
