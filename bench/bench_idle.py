"""Where an idle second goes: ``--pairs`` connected peer-connection pairs in one process,
each with an open data channel that carried one message each way, then left alone
(consent checks, RFC 7675, and SCTP heartbeats, RFC 9260 §8.3, only).

After ``--settle`` seconds (every consent clock has fired once: the steady state) it
measures ``--idle`` seconds and prints one JSON line:

* ``idle_cpu_percent``: the process CPU (user + system) as a share of one core;
* ``consent_checks``: consent requests sent by all the agents in the window; per check:
  ``cpu_us_per_check`` (process CPU), ``wakeups_per_check`` (loop callbacks run: timer
  handles and socket readers), ``timers_per_check`` (``call_at`` handles made),
  ``cancels_per_check`` and ``datagrams_per_check`` (sent by the drivers; a request and
  its answer are two);
* with ``--profile``: cProfile over the window instead of the timing (the CPU figure is
  then the profiler's), ``calls_per_check`` (Python and C calls per consent check, the
  deterministic figure to compare trees with) and the top functions by own time.

A check cycle is one request built, sent, read and answered by the peer, and the answer
read and verified: the figure ``bench_asyncio_floor.py`` gives for bare asyncio sockets
(``cpu_us_per_cycle``), so the two compare directly. The bench counts by wrapping the
loop's ``call_at`` and the handles' ``_run`` (a few hundred ns each; the timing mode does
not count, run it with ``--count`` for the counts).

Memory, two figures, both per connection (one pair is two connections), never one
without the other:

* ``rss_kib_per_connection``: the RSS growth once every pair is connected and carried one
  message each way (after a garbage collection), the pairs opened in waves of ``--wave``
  (default 50) pairs, as a server sees them arrive: what a connection keeps;
* ``concurrent_peak_rss_kib_per_connection``: the peak RSS (VmHWM) of a fresh child
  process that opens all ``--pairs`` at once: the handshakes' working memory, all of it
  in flight together (the allocator keeps most of that peak afterwards:
  ``concurrent_rss_kib_per_connection`` is that child's RSS once all are connected).
  ``--no-concurrent`` skips the child.

``--tracemalloc`` (with ``--idle 0``) prints instead the Python allocations that stay
per connection once connected, by source line.

``--stack aiortc`` (or ``ours12``: ours with DTLS 1.2 only) measures that stack the same
way (aiortc has no consent counters: compare ``idle_cpu_percent_per_pair``).
Heartbeats (RFC 9260 §8.3: HB.interval 30 s + RTO) start half a minute after the last
data: with ``--settle 35 --idle 31`` every association sends one in the window, and
``heartbeats`` counts those answered.

``--sans-io``: no sockets, no loop: two connected ``PeerConnectionCore``s on a virtual
clock, woken every 0.5 virtual seconds for 620 (each core's due timer, the datagrams
delivered at once and each drained as a driver does), and two connected ``IceAgent``s
doing forced consent rounds: calls per consent check (cProfile, deterministic) and the
best µs per check of several hot batches, for the cores and the agents alone.

Run on a tree (A/B: ``PYTHONPATH=/tmp/base`` for the other one)::

    unshare -n sh -c 'ip link set lo up && python bench/bench_idle.py --pairs 300 --count'
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pc import _aiortc_pair, _exchange, _ours_pair, _rss_kib


def _status_kib(field: str) -> int:
    for line in open("/proc/self/status"):  # noqa: SIM115
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _consent_sent(pcs: list[Any]) -> int:
    total = 0
    for pc in pcs:
        agent = getattr(getattr(pc, "core", None), "agent", None)
        if agent is not None:
            total += agent.stats["consent_requests_sent"]
    return total


def _datagrams(pcs: list[Any]) -> int:
    return sum(getattr(pc, "datagrams_sent", 0) for pc in pcs)


_HEARTBEATS = [0]


def _count_heartbeats() -> None:
    """Count the HEARTBEATs answered (RFC 9260 §8.3), by wrapping the class's method."""
    from pyrtcstack.sctp.heartbeat import Heartbeat

    on_request = Heartbeat.on_request

    def counted(self: Any, value: bytes) -> None:
        _HEARTBEATS[0] += 1
        on_request(self, value)

    Heartbeat.on_request = counted  # type: ignore[method-assign]


async def _open(args: argparse.Namespace) -> list[Any]:
    """``--pairs`` pairs, in waves of ``--wave`` (0: all at once), each with one message
    each way once open."""
    timeout = max(30.0, 0.12 * args.pairs)
    wave = args.wave or args.pairs
    stack = "ours12" if args.stack == "ours12" else "ours"
    pairs: list[Any] = []
    while len(pairs) < args.pairs:
        n = min(wave, args.pairs - len(pairs))
        if args.stack == "aiortc":
            made = await asyncio.gather(*[_aiortc_pair(timeout) for _ in range(n)])
        else:
            made = await asyncio.gather(
                *[_ours_pair(stack=stack, timeout=timeout) for _ in range(n)]
            )
        await asyncio.gather(*[_exchange(channel, remote) for _, _, (channel, remote) in made])
        pairs += made
    return pairs


def _concurrent(args: argparse.Namespace) -> dict[str, Any]:
    """The same pairs opened all at once in a fresh child process: its peak RSS."""
    cmd = [
        sys.executable, __file__, "--pairs", str(args.pairs), "--stack", args.stack,
        "--wave", "0", "--settle", "0", "--idle", "0", "--no-concurrent",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    lines = out.strip().splitlines()
    if not lines:
        return {"concurrent_error": "the child printed nothing"}
    child = json.loads(lines[-1])
    return {
        "concurrent_peak_rss_kib_per_connection": child["peak_rss_kib_per_connection"],
        "concurrent_rss_kib_per_connection": child["rss_kib_per_connection"],
        "concurrent_open_seconds": child["open_seconds"],
    }


def _tracemalloc_report(before: Any, after: Any, connections: int, top: int) -> None:
    stats = after.compare_to(before, "lineno")
    total = sum(s.size_diff for s in stats)
    print(
        f"Python allocations kept: {total / connections:.0f} B per connection"
        f" ({connections} connections), by line:",
        file=sys.stderr,
    )
    for stat in stats[:top]:
        frame = stat.traceback[0]
        print(
            f"  {stat.size_diff / connections:8.1f} B {stat.count_diff / connections:6.2f} blocks"
            f"  {frame.filename.rsplit('/', 2)[-2:]}:{frame.lineno}",
            file=sys.stderr,
        )
    by_file: Counter[str] = Counter()
    for stat in stats:
        by_file["/".join(stat.traceback[0].filename.rsplit("/", 2)[-2:])] += stat.size_diff
    print("by file:", file=sys.stderr)
    for name, size in by_file.most_common(top):
        print(f"  {size / connections:8.1f} B  {name}", file=sys.stderr)


class _Counts:
    """Counts loop callbacks and timer handles by wrapping asyncio's Python methods."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.counts: Counter[str] = Counter()
        counts = self.counts
        orig_call_at = loop.call_at
        handle_run = asyncio.events.Handle._run
        timer_cancel = asyncio.events.TimerHandle.cancel

        def call_at(when: float, callback: Any, *args: Any, **kw: Any) -> Any:
            counts["call_at"] += 1
            return orig_call_at(when, callback, *args, **kw)

        def run(handle: Any) -> None:
            counts["timer_run" if isinstance(handle, asyncio.TimerHandle) else "handle_run"] += 1
            handle_run(handle)

        def cancel(handle: Any) -> None:
            if not handle._cancelled:
                counts["cancel"] += 1
            timer_cancel(handle)

        loop.call_at = call_at  # type: ignore[method-assign]
        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        asyncio.events.TimerHandle.cancel = cancel  # type: ignore[method-assign]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    counter = _Counts(loop) if args.count else None
    if args.stack != "aiortc":
        _count_heartbeats()
    connections = 2 * args.pairs
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
    rss0 = _rss_kib()
    t_open = time.perf_counter()
    pairs = await _open(args)
    open_seconds = time.perf_counter() - t_open
    pcs = [pc for a, b, _ in pairs for pc in (a, b)]
    gc.collect()
    memory = {
        "open_seconds": round(open_seconds, 2),
        "wave": args.wave or args.pairs,
        "rss_kib_per_connection": round((_rss_kib() - rss0) / connections, 1),
        "peak_rss_kib_per_connection": round((_status_kib("VmHWM") - rss0) / connections, 1),
    }
    if args.tracemalloc:
        _tracemalloc_report(snap0, tracemalloc.take_snapshot(), connections, args.top)
        tracemalloc.stop()
    await asyncio.sleep(args.settle)
    checks0, dgrams0, beats0 = _consent_sent(pcs), _datagrams(pcs), _HEARTBEATS[0]
    counts0 = Counter(counter.counts) if counter is not None else Counter()
    profiler = cProfile.Profile() if args.profile else None
    t0, w0 = os.times(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(args.idle)
    if profiler is not None:
        profiler.disable()
    t1, wall = os.times(), time.perf_counter() - w0
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    checks = _consent_sent(pcs) - checks0
    per = max(checks, 1)
    result: dict[str, Any] = {
        "stack": args.stack,
        "pairs": args.pairs,
        "idle_cpu_percent": round(100 * cpu / wall, 2) if wall else 0.0,
        "idle_cpu_percent_per_pair": round(100 * cpu / wall / args.pairs, 5) if wall else 0.0,
        "consent_checks": checks,
        "heartbeats": _HEARTBEATS[0] - beats0,
        "cpu_us_per_check": round(cpu / per * 1e6),
        "datagrams_per_check": round((_datagrams(pcs) - dgrams0) / per, 3),
        **memory,
    }
    if counter is not None:
        counts = counter.counts - counts0
        result["wakeups_per_check"] = round((counts["timer_run"] + counts["handle_run"]) / per, 3)
        result["timer_wakeups_per_check"] = round(counts["timer_run"] / per, 3)
        result["timers_per_check"] = round(counts["call_at"] / per, 3)
        result["cancels_per_check"] = round(counts["cancel"] / per, 3)
    if profiler is not None:
        stats = pstats.Stats(profiler)
        total_calls = sum(v[1] for v in stats.stats.values())  # type: ignore[attr-defined]
        result["calls_per_check"] = round(total_calls / per, 1)
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(args.sort).print_stats(args.top)
        if args.dump:
            stats.dump_stats(args.dump)
        print(out.getvalue(), file=sys.stderr)
    for a, b, _ in pairs:
        await a.close()
        await b.close()
    if not args.no_concurrent:
        result.update(_concurrent(args))
    return result


def _calls(run: Any, rounds: int) -> int:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        run()
    profiler.disable()
    return sum(v[1] for v in pstats.Stats(profiler).stats.values())  # type: ignore[attr-defined]


def _best(run: Any, rounds: int, checks: Any, batches: int = 10) -> float:
    best = float("inf")
    for _ in range(batches):
        c0, t0 = checks(), time.perf_counter()
        for _ in range(rounds):
            run()
        best = min(best, (time.perf_counter() - t0) / max(checks() - c0, 1))
    return best


def sans_io() -> dict[str, Any]:
    """Idle work without sockets or a loop (see the module docstring)."""
    import random

    from pyrtcstack.datachannel import ChannelOpen
    from pyrtcstack.peerconnection import PeerConnectionCore
    from pyrtcstack.testing.icenet import build

    a_addr, b_addr = ("127.0.0.1", 40000), ("127.0.0.1", 40002)
    a = PeerConnectionCore(rng=random.Random(24))
    b = PeerConnectionCore(rng=random.Random(124))
    a.create_data_channel("idle")
    now = [0.0]
    wire: list[tuple[bytes, Any, Any]] = []
    opened = [False]

    def drain(pc: Any, t: float) -> None:
        wire.extend(pc.transmits(t))
        event = pc.next_event()
        while event is not None:
            if isinstance(event, ChannelOpen):
                opened[0] = True
            event = pc.next_event()
        pc.get_timer()

    def step(dt: float) -> None:
        now[0] += dt
        t = now[0]
        for pc in (a, b):
            due = pc.get_timer()
            if due is not None and due <= t:
                pc.handle_timer(t)
            drain(pc, t)
        while wire:
            data, local, remote = wire.pop(0)
            dst = a if remote == a_addr else b
            dst.receive_datagram(data, local, t, local=remote)
            drain(dst, t)

    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([a_addr], 0.0)
    drain(a, 0.0)
    assert a.local_description is not None
    b.set_remote_description(a.local_description, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([b_addr], 0.0)
    drain(b, 0.0)
    assert b.local_description is not None
    a.set_remote_description(b.local_description, 0.0)
    while not opened[0] and now[0] < 60:
        step(0.001)
    for _ in range(200):
        step(0.5)

    def core_checks() -> int:
        return sum(pc.agent.stats["consent_requests_sent"] for pc in (a, b) if pc.agent)

    def idle_run() -> None:
        step(0.5)

    rounds = 1240  # 620 virtual seconds: 20 heartbeat periods of each association
    c0 = core_checks()
    core_calls = _calls(idle_run, rounds) / max(core_checks() - c0, 1)
    core_best = _best(idle_run, rounds, core_checks, batches=5)

    world = build(None, None, stun=False, seed=3)
    world.start()
    assert world.run(10)
    world.net.run_for(1)
    left, right = world.left.agent, world.right.agent
    clock = [world.net.now + 10]
    left.transmits(clock[0])
    right.transmits(clock[0])

    def consent_round() -> None:
        clock[0] += 5.0
        t = clock[0]
        left.consent.next_at = left.consent.last_ok = t  # due now, consent fresh
        left.handle_timer(t)
        ((data, local, remote),) = left.transmits(t)
        right.receive_datagram(data, local, t, local=remote)
        ((data, local, remote),) = right.transmits(t)
        left.receive_datagram(data, local, t, local=remote)
        left.transmits(t)

    def agent_checks() -> int:
        return int(left.stats["consent_requests_sent"])

    agent_calls = _calls(consent_round, 1000) / 1000
    agent_best = _best(consent_round, 500, agent_checks, batches=30)
    return {
        "cores_calls_per_check": round(core_calls, 1),
        "cores_best_us_per_check": round(core_best * 1e6, 1),
        "agents_calls_per_round": round(agent_calls, 1),
        "agents_best_us_per_round": round(agent_best * 1e6, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds before measuring")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--count", action="store_true", help="count loop callbacks and timers")
    parser.add_argument("--profile", action="store_true", help="cProfile the idle window")
    parser.add_argument("--sort", default="tottime", help="profile order (pstats key)")
    parser.add_argument("--top", type=int, default=40, help="profile rows printed")
    parser.add_argument("--dump", help="write the pstats file here")
    parser.add_argument("--stack", choices=["ours", "ours12", "aiortc"], default="ours")
    parser.add_argument(
        "--wave", type=int, default=50, help="pairs opened together (0: all at once)"
    )
    parser.add_argument(
        "--no-concurrent", action="store_true", help="skip the all-at-once child (peak RSS)"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="Python allocations kept per connection"
    )
    parser.add_argument("--sans-io", action="store_true", help="cores and agents, no loop")
    parsed = parser.parse_args()
    print(json.dumps(sans_io() if parsed.sans_io else asyncio.run(main(parsed))))
