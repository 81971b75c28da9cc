"""Whole-stack peer connection benchmark: ours beside aiortc, same run, real loopback UDP.

* Data channel throughput, one process: two peer connections (ICE, DTLS with our default
  settings — 1.3, AES-128-GCM — SCTP, a reliable ordered channel) move ``--mib`` MiB
  (default 32, as PERFORMANCE.md's aiortc anchor; at our rate a few MiB measure mostly slow
  start) in 16 KiB and in 1,200-byte
  messages; the sender keeps at most 1 MiB buffered (``buffered_amount`` with the
  ``bufferedamountlow`` event), as a browser application would.
* ``--dtls13``: the throughput rows also for ours forced to DTLS 1.2
  (``Settings(dtls_versions=("1.2",))``), and ours (DTLS 1.3, the default, RFC 9147) as a
  share of it in the same run. Each repetition starts with another stack (ours, aiortc,
  ours12; then aiortc, ours12, ours; ...), so none always runs first in the process.
* ``--no-sack-at-batch-end``: the throughput rows also for ours with
  ``Settings(sctp_sack_at_batch_end=False)`` (the delayed SACK for a batch's odd last
  packet), and the default as a share of it.
* The same with the receiving peer in a child process (signalling over a pipe), with the
  share of a core each side used during the transfer (the side near 100 % is the limit).
* 100 pairs (``--pairs``; ``--pairs 1000 --aiortc-pairs 200`` for the scale run) set up at
  once: the time until all channels are open, the RSS growth per connection (read after
  one message each way on every pair, so that what a connection in use keeps is
  resident; the figure when the channels had just opened in brackets) and the CPU the
  process uses while they all sit idle for ``--idle`` seconds (consent checks and
  heartbeats only), each stack in a fresh process of its own (median of ``--repeat``);
  with ``--dtls13`` also ours forced to DTLS 1.2.
* Setup time: ``create_offer`` → channel ``open`` on the offerer (non-trickle: both sides
  wait for gathering to complete, loopback host candidates only), median of ``--setups``,
  and the CPU time of the process per setup (both peers and their close: in one process
  the setup is CPU-bound, and CPU time is steadier than wall time on a shared machine);
  beside them Pion's peers doing the same in Go (``bench_setup.py``'s ``compare`` has
  alternating rounds, and ``timeline`` where the milliseconds go).

aiortc runs with ``RTCConfiguration(iceServers=[])`` and aioice pinned to 127.0.0.1
(INTEROP.md). Run: ``.venv/bin/python bench/bench_pc.py [--repeat 3] [--sections ...]``. The
machine is shared and noisy: compare the stacks only within one run, and run it a few
times.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import sys
import time
from typing import Any

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.peerconnection import Settings

HIGH_WATER = 1 << 20
LOW_WATER = 1 << 18

# Our stack's rows: the name of each and what it changes in our default settings.
OURS: dict[str, dict[str, Any]] = {
    "ours": {},
    "ours12": {"dtls_versions": ("1.2",)},
    "ours-nosab": {"sctp_sack_at_batch_end": False},
}


async def _ours_pair(
    ta: float = 0.05, stack: str = "ours", timeout: float = 30.0
) -> tuple[Any, Any, Any]:
    settings = dataclasses.replace(_settings(stack), ice_ta=ta)
    a = PeerConnection(settings=settings)
    b = PeerConnection(settings=settings)
    channel = a.create_data_channel("bench")
    remote: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    b.on("datachannel", lambda c: remote.done() or remote.set_result(c))
    await a.set_local_description()
    await a.wait_gathering_complete()
    assert a.local_description is not None
    await b.set_remote_description(a.local_description)
    await b.set_local_description()
    await b.wait_gathering_complete()
    assert b.local_description is not None
    await a.set_remote_description(b.local_description)
    await channel.wait_open(timeout)
    return a, b, (channel, await asyncio.wait_for(remote, timeout))


async def _aiortc_pair(timeout: float = 30.0) -> tuple[Any, Any, Any]:
    import aioice.ice
    import aiortc

    aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
    a = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    b = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    channel = a.createDataChannel("bench")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    remote: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    b.on("datachannel", lambda c: remote.done() or remote.set_result(c))
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    await asyncio.wait_for(opened.wait(), timeout)
    return a, b, (channel, await asyncio.wait_for(remote, timeout))


async def _close(stack: str, a: Any, b: Any) -> None:
    await a.close()
    await b.close()


def _buffered(channel: Any) -> int:
    value = getattr(channel, "buffered_amount", None)
    return int(value if value is not None else channel.bufferedAmount)


def _set_low(channel: Any, value: int) -> None:
    if hasattr(channel, "buffered_amount_low_threshold"):
        channel.buffered_amount_low_threshold = value
    else:
        channel.bufferedAmountLowThreshold = value


async def throughput(stack: str, size: int, total: int) -> tuple[float, float]:
    """(wall MB/s, CPU MB/s) for ``total`` bytes in messages of ``size`` bytes. CPU MB/s
    divides by the process CPU time (both peers): fairer on a loaded, shared machine."""
    pair = _ours_pair(stack=stack) if stack in OURS else _aiortc_pair()
    a, b, (channel, remote) = await pair
    done = asyncio.Event()
    received = [0]
    count = total // size

    def on_message(message: Any) -> None:
        received[0] += 1
        if received[0] == count:
            done.set()

    remote.on("message", on_message)
    low = asyncio.Event()
    channel.on("bufferedamountlow", low.set)
    _set_low(channel, LOW_WATER)
    payload = bytes(size)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(count):
        if _buffered(channel) > HIGH_WATER:
            low.clear()
            await low.wait()
        channel.send(payload)
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await _close(stack, a, b)
    return count * size / elapsed / 1e6, count * size / cpu / 1e6


async def setup_time(stack: str) -> float:
    t0 = time.perf_counter()
    if stack == "ours-ta5":
        a, b, _ = await _ours_pair(0.005)
    else:
        a, b, _ = await (_ours_pair() if stack == "ours" else _aiortc_pair())
    elapsed = time.perf_counter() - t0
    await _close(stack, a, b)
    return elapsed


async def _child(stack: str, count: int) -> None:
    """The answering peer of the two-process run: signalling on stdin/stdout (JSON lines),
    prints "done" once ``count`` messages arrived."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    offer = json.loads(await reader.readline())
    done = asyncio.Event()
    received = [0]

    def on_channel(channel: Any) -> None:
        def on_message(message: Any) -> None:
            received[0] += 1
            if received[0] == count:
                done.set()

        channel.on("message", on_message)

    if stack in OURS:
        from pyrtcstack.peerconnection import Description

        pc: Any = PeerConnection(settings=_settings(stack))
        pc.on("datachannel", on_channel)
        await pc.set_remote_description(Description.from_dict(offer))
        await pc.set_local_description()
        await pc.wait_gathering_complete()
        answer = pc.local_description.to_dict()
    else:
        import aioice.ice
        import aiortc

        aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        pc.on("datachannel", on_channel)
        await pc.setRemoteDescription(aiortc.RTCSessionDescription(**offer))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp}
    print(json.dumps(answer), flush=True)
    await asyncio.wait_for(done.wait(), 300)
    # the receiver's CPU seconds since it started (its setup is a small, fixed part)
    print(f"done {time.process_time():.4f}", flush=True)
    await pc.close()


def _settings(stack: str) -> Settings:
    """Our settings for the row ``stack`` (:data:`OURS`), loopback host candidates only."""
    return Settings(host_addresses=["127.0.0.1"], **OURS[stack])


async def two_process_throughput(stack: str, size: int, total: int) -> tuple[float, float, float]:
    """(wall MB/s, the sender's and the receiver's CPU share of the transfer's wall time)
    with the receiver in a child process (both peers of the same stack): the side near
    one core is the limit."""
    count = total // size
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", stack, "--count", str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        if stack in OURS:
            pc: Any = PeerConnection(settings=_settings(stack))
            channel = pc.create_data_channel("bench")
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            offer = pc.local_description.to_dict()
        else:
            import aioice.ice
            import aiortc

            aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
            pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
            channel = pc.createDataChannel("bench")
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        opened = asyncio.Event()
        channel.on("open", opened.set)
        child.stdin.write((json.dumps(offer) + "\n").encode())
        await child.stdin.drain()
        answer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
        if stack in OURS:
            from pyrtcstack.peerconnection import Description

            await pc.set_remote_description(Description.from_dict(answer))
        else:
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(**answer))
        await asyncio.wait_for(opened.wait(), 60)
        low = asyncio.Event()
        channel.on("bufferedamountlow", low.set)
        _set_low(channel, LOW_WATER)
        payload = bytes(size)
        child_cpu0 = _child_cpu(child.pid)
        t0 = time.perf_counter()
        c0 = time.process_time()
        for _ in range(count):
            if _buffered(channel) > HIGH_WATER:
                low.clear()
                await low.wait()
            channel.send(payload)
        line = await asyncio.wait_for(child.stdout.readline(), 300)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        word, _, child_cpu = line.decode().partition(" ")
        assert word == "done"
        receiver = float(child_cpu) - child_cpu0
        await pc.close()
        return count * size / elapsed / 1e6, cpu / elapsed, receiver / elapsed
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


def _child_cpu(pid: int) -> float:
    """A child's CPU seconds so far (utime + stime, /proc/PID/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib() -> int:
    for line in open("/proc/self/status"):  # noqa: SIM115
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _exchange(channel: Any, remote: Any) -> None:
    """One message each way on a pair's channel, so that what a connection in use keeps
    (the SCTP receivers' per-stream state, the DTLS records' buffers) is resident."""
    loop = asyncio.get_running_loop()
    got: list[asyncio.Future[Any]] = [loop.create_future(), loop.create_future()]
    remote.on("message", lambda m: got[0].done() or got[0].set_result(m))
    channel.on("message", lambda m: got[1].done() or got[1].set_result(m))
    channel.send(b"ping")
    await asyncio.wait_for(got[0], 60)
    remote.send(b"pong")
    await asyncio.wait_for(got[1], 60)


async def many_pairs(stack: str, n: int, idle: float) -> tuple[float, ...]:
    """(seconds until ``n`` pairs set up at once all have an open channel, KiB of RSS per
    connection after one message each way on every pair, the share of one core the
    process uses while all of them sit idle for ``idle`` seconds: consent checks and SCTP
    heartbeats only, the CPU milliseconds the set-up cost per pair, KiB of RSS per
    connection when the channels had just opened). RSS is a rough measure: :func:`pairs`
    runs each stack in a fresh process. ``ours12`` is ours forced to DTLS 1.2."""
    gc.collect()
    before = _rss_kib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    # All pairs start at once: on a loaded machine 1,000 of them took 32 s to open.
    timeout = max(30.0, 0.12 * n)
    pairs = await asyncio.gather(
        *[
            (
                _aiortc_pair(timeout)
                if stack == "aiortc"
                else _ours_pair(stack=stack, timeout=timeout)
            )
            for _ in range(n)
        ]
    )
    elapsed = time.perf_counter() - t0
    setup_cpu = (time.process_time() - c0) / n
    gc.collect()
    at_open = (_rss_kib() - before) / (2 * n)
    await asyncio.gather(*[_exchange(channel, remote) for _, _, (channel, remote) in pairs])
    gc.collect()
    per_connection = (_rss_kib() - before) / (2 * n)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(idle)
    idle_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    for a, b, _ in pairs:
        await _close(stack, a, b)
    return elapsed, per_connection, idle_share, setup_cpu * 1000, at_open


async def main(args: argparse.Namespace) -> None:
    total = int(args.mib * (1 << 20))
    sections = set(args.sections.split(","))
    if "one" in sections:
        await one_process(args, total)
    if "two" in sections:
        await two_processes(args, total)
    if "pairs" in sections and args.pairs:
        await pairs(args)
    if "setup" in sections and args.setups:
        await setups(args)


def _rotated(stacks: tuple[str, ...], k: int) -> tuple[str, ...]:
    """The stacks in the order of repetition ``k``: each goes first in turn, so that no
    stack always pays for running first (the first transfer of a process runs 10-15 %
    slower, whichever stack it is) or always follows the same other one."""
    k %= len(stacks)
    return stacks[k:] + stacks[:k]


def _stacks(args: argparse.Namespace) -> tuple[str, ...]:
    """The throughput rows of this run: ours and aiortc, and the variants asked for."""
    return (
        ("ours", "aiortc")
        + (("ours12",) if args.dtls13 else ())
        + (("ours-nosab",) if args.no_sack_at_batch_end else ())
    )


def _variants(rate: dict[str, float]) -> str:
    """The columns of our variants: each one's figure, and ours (default) as a share of it."""
    line = ""
    if "ours12" in rate:
        share = rate["ours"] / rate["ours12"]
        line += f"   ours DTLS 1.2 {rate['ours12']:7.2f} (1.3 = {share:4.2f} of 1.2)"
    if "ours-nosab" in rate:
        line += (
            f"   ours delayed SACK {rate['ours-nosab']:7.2f}"
            f" (default = {rate['ours'] / rate['ours-nosab']:4.2f} of it)"
        )
    return line


async def one_process(args: argparse.Namespace, total: int) -> None:
    print(f"whole-stack data channel throughput, one process, {args.mib} MiB, loopback UDP")
    for size in (16384, 1200):
        stacks = _stacks(args)
        results: dict[str, list[tuple[float, float]]] = {s: [] for s in stacks}
        for k in range(args.repeat):
            for stack in _rotated(stacks, k):
                results[stack].append(await throughput(stack, size, total))
        for i, what in ((0, "wall"), (1, "CPU ")):
            rate = {s: statistics.median(r[i] for r in v) for s, v in results.items()}
            ours, theirs = rate["ours"], rate["aiortc"]
            line = (
                f"  {size:>5} B messages, {what} MB/s: ours {ours:7.2f}   aiortc {theirs:7.2f}"
                f"   ratio {ours / theirs:5.2f}x"
            )
            print(line + _variants(rate))


async def two_processes(args: argparse.Namespace, total: int) -> None:
    print(f"two processes (receiver in a child process), {args.mib} MiB, wall MB/s")
    for size in (16384, 1200):
        stacks = _stacks(args)
        two: dict[str, list[tuple[float, float, float]]] = {s: [] for s in stacks}
        for k in range(args.repeat):
            for stack in _rotated(stacks, k):
                two[stack].append(await two_process_throughput(stack, size, total))
        rate = {s: statistics.median(r[0] for r in v) for s, v in two.items()}
        ours, theirs = rate["ours"], rate["aiortc"]
        line = (
            f"  {size:>5} B messages: ours {ours:7.2f}   aiortc {theirs:7.2f}"
            f"   ratio {ours / theirs:5.2f}x"
        )
        print(line + _variants(rate))
        # the share of a core each side used during the transfer (medians): which is the limit
        shares = "   ".join(
            f"{s} sender {100 * statistics.median(r[1] for r in v):3.0f} %"
            f" receiver {100 * statistics.median(r[2] for r in v):3.0f} %"
            for s, v in two.items()
        )
        print(f"    CPU per side: {shares}")


async def pairs(args: argparse.Namespace) -> None:
    """Each stack in a fresh process of its own (RSS depends on what the heap held before:
    measured after earlier sections in one process, it mostly told which stack ran
    second), the median of ``--repeat`` such processes."""
    print(
        f"{args.pairs} pairs set up at once, each stack in a fresh process, median of {args.repeat}"
    )
    stacks = ("ours", "aiortc", "ours12") if args.dtls13 else ("ours", "aiortc")
    results: dict[str, list[tuple[float, ...]]] = {s: [] for s in stacks}
    counts = {"ours": args.pairs, "ours12": args.pairs, "aiortc": args.aiortc_pairs or args.pairs}
    for _ in range(args.repeat):
        for stack in stacks:
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--pairs-child", stack,
                "--pairs", str(counts[stack]), "--idle", str(args.idle),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await child.communicate()
            lines = out.decode().strip().splitlines()
            if child.returncode or not lines:
                print(f"  {stack}: the child failed (exit {child.returncode}); see above")
                continue
            results[stack].append(tuple(json.loads(lines[-1])))
    if not all(results.values()):
        return
    kib, idle, idle_per = {}, {}, {}
    for stack, values in results.items():
        elapsed = statistics.median(v[0] for v in values)
        kib[stack] = statistics.median(v[1] for v in values)
        at_open = statistics.median(v[4] for v in values)
        idle[stack] = statistics.median(v[2] for v in values)
        idle_per[stack] = idle[stack] / counts[stack]
        cpu = statistics.median(v[3] for v in values)
        print(
            f"  {stack:<7} {counts[stack]:>5} pairs open in {elapsed:6.2f} s"
            f" ({cpu:5.1f} CPU ms per pair)"
            f"   ~{kib[stack]:7.1f} KiB RSS per connection ({at_open:5.1f} at open)"
            f"   idle CPU {100 * idle[stack]:5.1f} % of a core"
        )
    ratio = idle_per["ours"] / idle_per["aiortc"] if idle_per["aiortc"] > 0 else float("nan")
    print(
        f"  memory per connection ours/aiortc {kib['ours'] / kib['aiortc']:4.2f}"
        f"   idle CPU per pair ours/aiortc {ratio:4.2f}"
    )


async def setups(args: argparse.Namespace) -> None:
    print(f"setup time create_offer -> channel open, median of {args.setups}")
    times: dict[str, list[float]] = {"ours": [], "ours-ta5": [], "aiortc": []}
    cpus: dict[str, list[float]] = {stack: [] for stack in times}
    for _ in range(args.setups):
        for stack, values in times.items():
            c0 = time.process_time()
            values.append(await setup_time(stack))
            cpus[stack].append(time.process_time() - c0)  # both peers, and the close
    theirs = statistics.median(times["aiortc"])
    theirs_cpu = statistics.median(cpus["aiortc"])
    print(
        f"  aiortc                          {theirs * 1000:7.1f} ms"
        f"   (CPU {theirs_cpu * 1000:5.1f} ms)"
    )
    for stack, label in (("ours", "ours (RFC 8445 Ta = 50 ms)"), ("ours-ta5", "ours (Ta = 5 ms)")):
        ours = statistics.median(times[stack])
        cpu = statistics.median(cpus[stack])
        print(
            f"  {label:<31} {ours * 1000:7.1f} ms   ours/aiortc {ours / theirs:4.2f}"
            f"   (CPU {cpu * 1000:5.1f} ms, ours/aiortc {cpu / theirs_cpu:4.2f})"
        )
    # Pion's own peers in its own process, the same sequence (bench_setup.py has the
    # per-phase timeline and alternating rounds)
    from bench_setup import _pion_setup

    pion = _pion_setup(args.setups)
    if pion is not None:
        ours = statistics.median(times["ours"]) * 1000
        print(
            f"  {'Pion (Go, -setup-bench)':<31} {pion['medianMs']:7.1f} ms   ours/Pion"
            f" {ours / pion['medianMs']:4.2f}   (CPU {pion['cpuMsPerSetup']:5.1f} ms)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=float, default=32.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stack (medians)")
    parser.add_argument("--setups", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=100, help="simultaneous pairs (0: skip)")
    parser.add_argument(
        "--dtls13",
        action="store_true",
        help="also ours forced to DTLS 1.2: the default DTLS 1.3 as a share of it "
        "(throughput), and a pairs row for it",
    )
    parser.add_argument(
        "--aiortc-pairs", type=int, default=0, help="aiortc's count, if lower (default: --pairs)"
    )
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds the pairs sit idle (CPU measured)"
    )
    parser.add_argument(
        "--sections",
        default="one,two,pairs,setup",
        help="comma-separated subset of: one (one-process throughput), two (two processes), "
        "pairs (--pairs simultaneous pairs: open time, RSS, idle CPU), setup (setup time)",
    )
    parser.add_argument(
        "--no-sack-at-batch-end",
        action="store_true",
        help="also ours with Settings(sctp_sack_at_batch_end=False) in the throughput rows, "
        "and the default as a share of it",
    )
    parser.add_argument("--child", choices=[*OURS, "aiortc"], help=argparse.SUPPRESS)
    parser.add_argument("--pairs-child", choices=[*OURS, "aiortc"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        asyncio.run(_child(parsed.child, parsed.count))
    elif parsed.pairs_child:
        print(json.dumps(asyncio.run(many_pairs(parsed.pairs_child, parsed.pairs, parsed.idle))))
    else:
        asyncio.run(main(parsed))
