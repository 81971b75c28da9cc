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
import sys
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pc import _exchange, _ours_pair


def _consent_sent(pcs: list[Any]) -> int:
    total = 0
    for pc in pcs:
        agent = pc.core.agent
        if agent is not None:
            total += agent.stats["consent_requests_sent"]
    return total


def _datagrams(pcs: list[Any]) -> int:
    return sum(pc.datagrams_sent for pc in pcs)


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
    timeout = max(30.0, 0.12 * args.pairs)
    pairs = await asyncio.gather(*[_ours_pair(timeout=timeout) for _ in range(args.pairs)])
    await asyncio.gather(*[_exchange(channel, remote) for _, _, (channel, remote) in pairs])
    pcs = [pc for a, b, _ in pairs for pc in (a, b)]
    gc.collect()
    await asyncio.sleep(args.settle)
    checks0, dgrams0 = _consent_sent(pcs), _datagrams(pcs)
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
        "pairs": args.pairs,
        "idle_cpu_percent": round(100 * cpu / wall, 2),
        "consent_checks": checks,
        "cpu_us_per_check": round(cpu / per * 1e6),
        "datagrams_per_check": round((_datagrams(pcs) - dgrams0) / per, 3),
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
    return result


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
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
