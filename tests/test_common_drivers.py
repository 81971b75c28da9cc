"""The two drivers every core runs under: the virtual-clock MemoryNetwork and the asyncio
CoreEndpoint. A tiny ping/pong core with a retransmission timer exercises both."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from pyrtcstack.aio import open_endpoint
from pyrtcstack.common import Address, DatagramCore, Event
from pyrtcstack.testing.pair import Impairment, MemoryNetwork


@dataclass(frozen=True, slots=True)
class Pong(Event):
    seq: int
    at: float


class PingCore:
    """Sends PING n to a peer until PONG n arrives, retransmitting every 0.5 s."""

    def __init__(self, peer: Address | None, count: int) -> None:
        self.peer = peer
        self.count = count
        self.seq = 0
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self._deadline: float | None = None if peer is None else 0.0
        self.retransmissions = 0
        self._sent_seq = -1

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        kind, _, n = data.partition(b" ")
        if kind == b"PING":
            self._out.append((b"PONG " + n, addr))
        elif kind == b"PONG" and int(n) == self.seq:
            self._events.append(Pong(self.seq, now))
            self.seq += 1
            self._deadline = now if self.seq < self.count else None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline and self.peer is not None:
            if self._sent_seq == self.seq:
                self.retransmissions += 1
            self._sent_seq = self.seq
            self._out.append((b"PING %d" % self.seq, self.peer))
            self._deadline = now + 0.5

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None


def test_ping_core_satisfies_the_contract() -> None:
    assert isinstance(PingCore(None, 0), DatagramCore)


def _run(seed: int, loss: float) -> tuple[list[Event], float, int]:
    a, b = ("10.0.0.1", 1000), ("10.0.0.2", 2000)
    net = MemoryNetwork(Impairment(loss=loss, delay=0.01, jitter=0.005), seed=seed)
    pinger = PingCore(b, count=20)
    net.add(a, pinger)
    net.add(b, PingCore(None, 0))
    assert net.run(until=lambda: pinger.seq == 20, timeout=600)
    return net.events[a], net.now, pinger.retransmissions


def test_memory_network_is_deterministic_and_recovers_loss() -> None:
    first = _run(seed=7, loss=0.3)
    assert first == _run(seed=7, loss=0.3)  # same seed, same run
    events, _now, retransmissions = first
    assert [e.seq for e in events if isinstance(e, Pong)] == list(range(20))
    assert retransmissions > 0  # 30 % loss forced the timer path
    assert first != _run(seed=8, loss=0.3)


def test_memory_network_lossless_timing_is_exact() -> None:
    _events, now, retransmissions = _run(seed=1, loss=0.0)
    assert retransmissions == 0
    # each round trip is two 10 ms hops plus at most 2 x 5 ms jitter
    assert 20 * 0.02 <= now <= 20 * 0.03


def test_asyncio_endpoint_drives_a_core_over_loopback_udp() -> None:
    async def main() -> list[Event]:
        server = await open_endpoint(PingCore(None, 0))
        got: list[Event] = []
        pinger = PingCore(server.local_address, count=5)
        client = await open_endpoint(pinger, on_event=got.append)
        for _ in range(200):
            if pinger.seq == 5:
                break
            await asyncio.sleep(0.01)
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()
        return got

    events = asyncio.run(main())
    assert [e.seq for e in events if isinstance(e, Pong)] == [0, 1, 2, 3, 4]


def test_core_timer_rearms_and_fires_with_the_deadline() -> None:
    from pyrtcstack.aio import CoreTimer

    async def main() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        fired: list[float] = []
        kept: list[float] = []
        plain = CoreTimer(loop, fired.append)
        keep = CoreTimer(loop, kept.append, keep_earlier=True)
        t0 = loop.time()
        plain.arm(t0 + 0.02)
        plain.arm(t0 + 0.04)  # moved later: re-armed at the new deadline
        keep.arm(t0 + 0.02)
        keep.arm(t0 + 0.04)  # moved later: keeps the earlier handle
        assert plain.armed and keep.armed
        await asyncio.sleep(0.08)
        assert not plain.armed and not keep.armed
        plain.arm(t0 + 10)
        plain.cancel()
        assert not plain.armed
        return [f - t0 for f in fired], [k - t0 for k in kept]

    fired, kept = asyncio.run(main())
    assert len(fired) == 1 and fired[0] >= 0.04
    assert len(kept) == 1 and 0.02 <= kept[0] < 0.04 + 0.03


def test_core_timer_keeps_an_earlier_handle_only_within_the_slack() -> None:
    """keep_earlier keeps the armed handle for a small move (SCTP T3 per SACK), but a
    deadline that jumped further than ``keep_slack`` (an idle connection's answered
    consent check) is re-armed: no wake-up per idle connection at the old time."""
    from pyrtcstack.aio import CoreTimer

    async def main() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        near: list[float] = []
        far: list[float] = []
        small = CoreTimer(loop, near.append, keep_earlier=True, keep_slack=0.05)
        jump = CoreTimer(loop, far.append, keep_earlier=True, keep_slack=0.05)
        t0 = loop.time()
        small.arm(t0 + 0.02)
        small.arm(t0 + 0.04)  # within the slack: the earlier handle stays
        jump.arm(t0 + 0.02)
        jump.arm(t0 + 0.12)  # beyond the slack: re-armed at the new deadline
        await asyncio.sleep(0.08)
        assert not small.armed and jump.armed
        await asyncio.sleep(0.1)
        return [f - t0 for f in near], [f - t0 for f in far]

    near, far = asyncio.run(main())
    assert len(near) == 1 and near[0] < 0.04
    assert len(far) == 1 and far[0] >= 0.12


def test_core_timer_says_when_a_wake_up_may_be_early() -> None:
    """``early`` is True only when the handle fired while a later deadline had been asked
    for (kept by keep_earlier): the driver reads the core's deadline again then, and not
    when the handle fires at the deadline it was last armed for (one get_timer fewer per
    idle consent check)."""
    from pyrtcstack.aio import CoreTimer

    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        seen: list[bool] = []
        timer: CoreTimer

        def fire(_now: float) -> None:
            seen.append(timer.early)

        timer = CoreTimer(loop, fire, keep_earlier=True)
        t0 = loop.time()
        timer.arm(t0 + 0.01)
        timer.arm(t0 + 0.01)  # the same deadline again: not a kept later one
        await asyncio.sleep(0.04)
        timer.arm(loop.time() + 0.01)
        timer.arm(loop.time() + 0.03)  # later, within the slack: kept, may fire early
        await asyncio.sleep(0.06)
        timer.arm(loop.time() + 0.01)  # a fresh handle: exact again
        await asyncio.sleep(0.04)
        return seen

    assert asyncio.run(main()) == [False, True, False]


def test_core_timers_of_one_loop_share_one_loop_handle() -> None:
    """A thousand connections' timers are one heap behind one ``call_at`` handle: the
    loop's own heap holds one live handle, re-arming a timer cancels none, and the
    timers fire in deadline order with the deadline they were armed for."""
    from pyrtcstack.aio import CoreTimer

    async def main() -> tuple[list[int], int, int]:
        loop = asyncio.get_running_loop()
        fired: list[int] = []
        t0 = loop.time()
        timers = [CoreTimer(loop, lambda now, i=i: fired.append(i)) for i in range(500)]
        for i, timer in enumerate(timers):
            timer.arm(t0 + 0.05 + 0.0001 * ((i * 7) % 500))
        for i, timer in enumerate(timers):  # moved later, as an answered consent check
            timer.arm(t0 + 0.06 + 0.0001 * ((i * 7) % 500))
        live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        cancelled = sum(h.cancelled() for h in loop._scheduled)  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        return fired, len(live), cancelled

    fired, live, cancelled = asyncio.run(main())
    assert live == 1 and cancelled == 0
    assert fired == sorted(range(500), key=lambda i: (i * 7) % 500)


def test_a_failing_core_timer_is_reported_and_the_others_still_fire() -> None:
    from pyrtcstack.aio import CoreTimer

    async def main() -> tuple[list[str], list[dict[str, object]]]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        fired: list[str] = []

        def boom(now: float) -> None:
            raise RuntimeError("a core bug")

        t0 = loop.time()
        CoreTimer(loop, boom).arm(t0 + 0.01)
        CoreTimer(loop, lambda now: fired.append("after")).arm(t0 + 0.01)
        await asyncio.sleep(0.05)
        return fired, reported

    fired, reported = asyncio.run(main())
    assert fired == ["after"]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)


def test_a_core_timer_armed_while_timers_fire_waits_for_the_next_iteration() -> None:
    """A timer that re-arms itself at "now" from its own fire (a core with pending
    output) runs once per loop iteration, as a ``call_at`` would: other callbacks
    still run in between, and nothing loops inside one wake-up."""
    from pyrtcstack.aio import CoreTimer

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        counts = {"timer": 0, "soon": 0}
        timer: CoreTimer

        def again(now: float) -> None:
            counts["timer"] += 1
            if counts["timer"] < 50:
                timer.arm(loop.time())

        def soon() -> None:
            counts["soon"] += 1
            if counts["soon"] < 50:
                loop.call_soon(soon)

        timer = CoreTimer(loop, again)
        timer.arm(loop.time())
        loop.call_soon(soon)
        for _ in range(10):
            await asyncio.sleep(0)
        return counts["timer"], counts["soon"]

    fired, soon = asyncio.run(main())
    assert 5 <= fired <= 15 and 5 <= soon <= 15


def test_cancelled_core_timers_do_not_pile_up() -> None:
    """Every cancel leaves an entry behind until it reaches the top of the heap; they
    are swept once they are many and most of the heap, so the heap stays bounded by
    the live timers (an API call re-arming at "now" on every send, far from T3)."""
    from pyrtcstack.aio import CoreTimer
    from pyrtcstack.aio.endpoint import _loop_timers

    async def main() -> int:
        loop = asyncio.get_running_loop()
        timers = [CoreTimer(loop, lambda now: None) for _ in range(10)]
        t0 = loop.time()
        for round_ in range(5000):
            for timer in timers:
                timer.arm(t0 + 100 + round_)  # each a move of more than the slack
        size = len(_loop_timers(loop)._heap)
        for timer in timers:
            timer.cancel()
        return size

    size = asyncio.run(main())
    assert size <= 2 * 256 + 10


def test_an_event_loop_whose_timers_were_used_is_freed_once_closed() -> None:
    """The loop's heap of timers is the value of the loop's weak key (aio.endpoint's
    _LOOP_TIMERS): it must not hold the loop, nor must a timer left in it (a closed
    driver's, until its deadline), or every loop that ever drove a core stays alive for
    good with its timers (an application or a test suite calling asyncio.run repeatedly)."""
    import gc
    import weakref

    from pyrtcstack.aio import CoreTimer
    from pyrtcstack.aio.endpoint import _LOOP_TIMERS

    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loops.append(weakref.ref(loop))
        fired: list[float] = []
        timer = CoreTimer(loop, fired.append)
        timer.arm(loop.time())
        await asyncio.sleep(0.01)
        assert fired
        left = CoreTimer(loop, fired.append)
        left.arm(loop.time() + 60)  # still in the heap when the loop closes
        left.close()

    for _ in range(3):
        asyncio.run(main())
    gc.collect()  # asyncio's loop has cycles of its own: the collector frees it
    assert [ref() for ref in loops] == [None, None, None]
    assert not any(ref() in _LOOP_TIMERS for ref in loops if ref() is not None)
