"""The one asyncio driver of the multi-socket family (``aio.multisocket``): a burst read from
a socket is one ``receive_datagrams`` call, API calls that queue output are picked up by the
timer ``get_timer()`` reports (no flush; many calls in one loop tick leave in one drain),
and the timer is re-read after every mutation."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from pyrtcstack.aio.multisocket import MultiSocketDriver
from pyrtcstack.aio.udp import UdpSocket
from pyrtcstack.common.core import Address, Event, EventQueue, MultiSocketCore, Transmit


@dataclass(frozen=True, slots=True)
class Got(Event):
    data: bytes
    local: Address


class EchoCore:
    """Echoes every datagram back from the socket it came in on; ``send`` is an API call
    that queues output (so ``get_timer`` says "now" until it is drained)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queued: list[tuple[bytes, Address, Address]] = []
        self.out: list[Transmit] = []
        self.events = EventQueue()
        self.batches: list[int] = []
        self.timer_calls = 0

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        assert local is not None
        self.now = now
        self.batches.append(len(batch))
        for data, addr in batch:
            self.events.push(Got(data, local))
            if data.startswith(b"ping"):
                self.out.append((b"echo " + data, local, addr))

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        self.queued.append((data, source, destination))

    def transmits(self, now: float) -> list[Transmit]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return self.now if self.queued or self.events else None

    def handle_timer(self, now: float) -> None:
        self.now = now
        self.timer_calls += 1
        self.out.extend(self.queued)
        self.queued = []

    def next_event(self) -> Event | None:
        return self.events.pop()


def _udp(loop: asyncio.AbstractEventLoop, on_batch: object) -> UdpSocket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.setblocking(False)
    raw.bind(("127.0.0.1", 0))
    return UdpSocket(loop, raw, on_batch)  # type: ignore[arg-type]


def test_the_echo_core_is_a_multi_socket_core() -> None:
    assert isinstance(EchoCore(), MultiSocketCore)


def test_api_calls_in_one_tick_leave_in_one_drain_and_bursts_are_one_input() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        core = EchoCore()
        got: list[Event] = []
        driver = MultiSocketDriver(loop, core, got.append)
        ours = _udp(loop, driver.receive_batch)
        driver.sockets[ours.local] = ours
        peer_in: list[bytes] = []
        peer = _udp(loop, lambda batch, local: peer_in.extend(d for d, _ in batch))
        core.now = loop.time()
        for i in range(50):  # API calls: no flush, only the timer
            core.send(b"m%d" % i, ours.local, peer.local)
            if not driver.wake_pending():
                driver.rearm()
        assert driver.wake_pending() and core.timer_calls == 0 and peer_in == []
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(peer_in) == 50:
                break
        assert peer_in == [b"m%d" % i for i in range(50)]
        assert core.timer_calls == 1  # the 50 calls left in one drain
        assert driver.datagrams_sent == 50
        # a burst read from one socket is one receive_datagrams call
        for i in range(5):
            peer.sendto(b"ping %d" % i, ours.local)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(peer_in) == 55:
                break
        assert peer_in[50:] == [b"echo ping %d" % i for i in range(5)]
        assert sum(core.batches) == 5 and len(core.batches) <= 5
        assert driver.datagrams_received == 5
        assert [e.data for e in got if isinstance(e, Got)] == [b"ping %d" % i for i in range(5)]
        # the events were delivered in the drain: nothing due, no timer armed
        assert core.get_timer() is None and not driver.wake_pending()
        driver.cancel()
        ours.close()
        peer.close()

    asyncio.run(main())
