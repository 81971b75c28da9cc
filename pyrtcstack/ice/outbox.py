"""Where the parts of the ICE agent put what they produce.

Every part (gathering, checks, consent, relays) is handed the agent's one :class:`Outbox`
when it is made, and writes to it; only the agent reads it (``transmits()``,
``next_event()``, ``stats``). That is the whole of what the parts share: none of them
holds another's state.
"""

from __future__ import annotations

from collections import Counter
from itertools import repeat

from ..common.core import Address, EventQueue, Transmit

__all__ = ["Outbox"]


class Outbox:
    """Datagrams to send (:data:`~pyrtcstack.common.core.Transmit`: data, the local socket
    or relayed address it leaves from, the destination), the event FIFO, and the counters
    (``stats``: what was dropped and why, what was sent)."""

    __slots__ = ("events", "stats", "transmits")

    def __init__(self) -> None:
        self.transmits: list[Transmit] = []
        self.events = EventQueue()
        self.stats: Counter[str] = Counter()

    def send(self, data: bytes, local: Address, remote: Address) -> None:
        """Queue ``data`` from the host socket (or TURN stream) ``local`` to ``remote``."""
        self.transmits.append((data, local, remote))

    def send_many(self, datagrams: list[bytes], local: Address, remote: Address) -> None:
        """:meth:`send` for each of ``datagrams``, in order (the tuples made in C: this is
        every record of a transfer)."""
        self.transmits.extend(zip(datagrams, repeat(local), repeat(remote)))
