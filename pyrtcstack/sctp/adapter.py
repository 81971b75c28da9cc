r"""Run a bytes-only layered core (an SCTP association, a data channel endpoint) where a
:class:`~pyrtcstack.common.core.DatagramCore` is expected, e.g. on
:class:`pyrtcstack.testing.pair.MemoryNetwork`.

The layered cores are :class:`~pyrtcstack.common.core.PacketCore`\ s: the datagram
contract's shape with packets instead of ``(datagram, address)`` pairs
(docs/architecture.md); this adapter adds the one address they talk to.
"""

from __future__ import annotations

from ..common.core import Address, Event, PacketCore

__all__ = ["DatagramAdapter", "PacketCore"]


class DatagramAdapter:
    """A :class:`PacketCore` seen as a datagram core that always sends to ``peer``."""

    def __init__(self, core: PacketCore, peer: Address) -> None:
        self.core = core
        self.peer = peer

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.core.receive_packets((data,), now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        peer = self.peer
        return [(p, peer) for p in self.core.packets_to_send(now)]

    def get_timer(self) -> float | None:
        return self.core.get_timer()

    def handle_timer(self, now: float) -> None:
        self.core.handle_timer(now)

    def next_event(self) -> Event | None:
        return self.core.next_event()
