"""An in-memory network on a virtual clock, for driving sans-I/O cores in tests.

:class:`MemoryNetwork` holds any number of cores, each at an address. :meth:`MemoryNetwork.run`
repeats: drain every core's datagrams and events; schedule each datagram's delivery
(``delay`` + optional jitter, with seeded loss, duplication and reordering); then jump the
virtual clock to the earliest pending delivery or core timer. Nothing sleeps, and the same
seed gives the same run byte for byte.

It is the simple flat network every protocol's tests use. The ICE issue's NAT-aware
``pyrtcstack.testing.vnet`` builds on the same idea.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.core import Address, DatagramCore, Event

__all__ = ["Delivery", "Impairment", "MemoryNetwork"]


@dataclass
class Impairment:
    """Seeded link impairments applied to every datagram."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.001
    jitter: float = 0.0
    #: An optional filter: return True to drop this datagram (asked after random loss spared it).
    drop_if: Callable[[bytes, Address, Address], bool] | None = None


@dataclass(order=True)
class Delivery:
    at: float
    seq: int
    data: bytes = field(compare=False)
    src: Address = field(compare=False)
    dst: Address = field(compare=False)


class MemoryNetwork:
    """A flat network of sans-I/O cores driven on a virtual clock."""

    def __init__(
        self,
        impairment: Impairment | None = None,
        seed: int = 0,
        now: float = 0.0,
        max_steps: int = 1_000_000,
    ) -> None:
        self.now = now
        self.impairment = impairment or Impairment()
        self.rng = random.Random(seed)
        self.cores: dict[Address, DatagramCore] = {}
        self.events: dict[Address, list[Event]] = {}
        #: Received application data by core address, for cores that hand it up by a
        #: ``take_application_data()`` call (DTLS): taken at every drain, in order.
        self.data: dict[Address, list[bytes]] = {}
        self.on_event: Callable[[Address, Event], None] | None = None
        self.sent: list[Delivery] = []  # every datagram handed to the network, in order
        self.delivered = 0
        self.dropped = 0
        self._queue: list[Delivery] = []
        self._seq = 0
        self._max_steps = max_steps

    def add(self, addr: Address, core: DatagramCore) -> None:
        self.cores[addr] = core
        self.events[addr] = []
        self.data[addr] = []

    # internals ----------------------------------------------------------------------
    def _schedule(self, data: bytes, src: Address, dst: Address) -> None:
        imp = self.impairment
        rng = self.rng
        self._seq += 1
        self.sent.append(Delivery(self.now, self._seq, data, src, dst))
        if imp.loss and rng.random() < imp.loss:
            self.dropped += 1
            return
        if imp.drop_if is not None and imp.drop_if(data, src, dst):
            self.dropped += 1
            return
        copies = 2 if imp.duplicate and rng.random() < imp.duplicate else 1
        for _ in range(copies):
            at = self.now + imp.delay
            if imp.jitter:
                at += rng.random() * imp.jitter
            if imp.reorder and rng.random() < imp.reorder:
                at += imp.delay * 2 + imp.jitter
            self._seq += 1
            heapq.heappush(self._queue, Delivery(at, self._seq, data, src, dst))

    def flush(self) -> bool:
        """Drain every core's output at the current time; True if anything came out."""
        progressed = False
        again = True
        while again:
            again = False
            for addr, core in list(self.cores.items()):
                for data, dst in core.datagrams_to_send(self.now):
                    self._schedule(data, addr, dst)
                    again = progressed = True
                take = getattr(core, "take_application_data", None)
                if take is not None:
                    self.data[addr].extend(take())
                event = core.next_event()
                while event is not None:
                    again = progressed = True
                    self.events[addr].append(event)
                    if self.on_event is not None:
                        self.on_event(addr, event)
                    event = core.next_event()
        return progressed

    def next_time(self) -> float | None:
        """The earliest pending delivery or core deadline."""
        candidates = [t for t in (c.get_timer() for c in self.cores.values()) if t is not None]
        if self._queue:
            candidates.append(self._queue[0].at)
        return min(candidates) if candidates else None

    def step(self) -> bool:
        """Advance to the next instant something happens and process it. False if idle."""
        self.flush()
        t = self.next_time()
        if t is None:
            return False
        self.now = max(self.now, t)
        while self._queue and self._queue[0].at <= self.now:
            d = heapq.heappop(self._queue)
            core = self.cores.get(d.dst)
            if core is None:
                self.dropped += 1
                continue
            self.delivered += 1
            core.receive_datagram(d.data, d.src, self.now)
        for core in list(self.cores.values()):
            deadline = core.get_timer()
            if deadline is not None and deadline <= self.now:
                core.handle_timer(self.now)
        self.flush()
        return True

    def run(self, until: Callable[[], bool] | None = None, timeout: float = 60.0) -> bool:
        """Step until ``until()`` is true (returns True), or the network is idle or
        ``timeout`` virtual seconds have passed (returns ``until()`` then)."""
        deadline = self.now + timeout
        for _ in range(self._max_steps):
            self.flush()
            if until is not None and until():
                return True
            t = self.next_time()
            if t is None or t > deadline:
                self.now = max(self.now, min(deadline, t)) if t is not None else self.now
                break
            self.step()
        else:
            raise RuntimeError("MemoryNetwork.run: step budget exhausted (a core busy-loops?)")
        return until() if until is not None else True

    def pop_events(self, addr: Address) -> list[Event]:
        events, self.events[addr] = self.events[addr], []
        return events
