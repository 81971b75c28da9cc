"""The Janus rows of bench_interop.py: a round trip through Janus's echotest (issue 15, §3).

Janus's echotest plugin sends every data-channel message back on the channel it came on
(janus_echotest.c; binary as is, text with a prefix), so it has no source, no sink and no
"→ itself". What it can carry is a round trip, and that is what these rows time:

* **us ⇄ Janus**: on a channel ``bench-echo:N:SIZE`` we send N bytes in SIZE-byte binary
  messages and count the N bytes echoed back; timed from the first send to the last
  echoed byte. At most 1 MiB (bench_pc.py's ``HIGH_WATER``) is sent and not yet echoed:
  that also bounds our ``bufferedAmount`` as the other rows do, and it bounds what Janus
  holds, because Janus queues a message its SCTP socket refuses (EAGAIN) in an unbounded
  list (``pending_messages``, sctp.c) rather than pushing back.
* **aiortc ⇄ Janus**: the same with aiortc in our place (in this process), against the
  same Janus, in the same launch.
* MB/s is N / time: the bytes of one direction (each direction carries N).
* CPU seconds per MB (of N) of our process and of Janus's process (utime + stime of its
  process group, ``/proc``), and both as a share of the wall time.

Every echoed message must have the size sent and the byte count must come out exact:
a message Janus dropped stalls the transfer (no progress for ``STALL_TIMEOUT``), a
truncated or merged one is counted and fails it.

Janus gathers no ICE candidate on loopback (docs/interop.md, Janus quirks): the run needs
one non-loopback IPv4 address in its namespace (a veth pair, docs/interop.md
"Throughput"); we and aiortc gather on that same address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import bench_interop_counters as counters
import bench_interop_link as link
from bench_interop_link import Sample, Side, TransferFailedError, per_mb, wait_open
from bench_interop_table import fmt, median_of, rate_cell, ratio_cell
from bench_pc import HIGH_WATER, LOW_WATER

from pyrtcstack.interop.janus import Janus, JanusClient, ice_address, start_janus
from pyrtcstack.interop.launchers import PeerUnavailableError
from pyrtcstack.interop.remote import EndpointError

ECHO_HEADER = (
    "| peer | msg B | us⇄p | aiortc⇄p | us⇄p ÷ aiortc⇄p | us⇄p CPU s/MB us / p "
    "| us⇄p CPU % us / p | aiortc⇄p CPU s/MB aiortc / p |\n" + "|---" * 8 + "|"
)


class JanusRemote:
    """One Janus (echotest and HTTP transport only, :func:`start_janus`) per launch; one
    Janus session with an echotest handle per connection."""

    name = "janus"

    def __init__(self) -> None:
        self.janus: Janus | None = None
        self.client: JanusClient | None = None
        self.address = ""
        self.log_dir = tempfile.mkdtemp(prefix="pyrtcstack-bench-janus-")

    async def start(self) -> None:
        self.address = ice_address()  # PeerUnavailableError without a non-loopback address
        self.janus = await start_janus(self.log_dir, self.address)

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        assert self.janus is not None
        self.client = JanusClient(self.janus.url)
        await self.client.open()
        body = {"audio": False, "video": False, "data": True}
        await self.client.message(body, {**offer, "trickle": False})
        async with asyncio.timeout(30):
            event = await self.client.wait_event(lambda e: "jsep" in e)
        jsep = event["jsep"]
        if not isinstance(jsep, dict) or jsep.get("type") != "answer":
            raise EndpointError(f"janus sent {str(jsep)[:100]} where an answer belongs")
        return {"type": "answer", "sdp": str(jsep.get("sdp"))}

    def cpu(self) -> float | None:
        assert self.janus is not None
        return counters.group_cpu(self.janus.process.pid)

    async def self_bench(self, total: int, size: int) -> Sample | None:
        return None  # an echo has no "→ itself"

    async def end_link(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def log_counts(self) -> str:
        """How often Janus's SCTP sender met a full usrsctp send buffer (EAGAIN: the
        message is queued) and queued a message behind others (``--counters``)."""
        eagain = queued = 0
        with contextlib.suppress(OSError), open(os.path.join(self.log_dir, "janus.log")) as f:
            for line in f:
                eagain += "EAGAIN" in line
                queued += "queueing new message" in line
        return f"EAGAIN {eagain}, queued behind others {queued}"

    async def close(self) -> None:
        await self.end_link()
        if self.janus is not None:
            await self.janus.stop()
        shutil.rmtree(self.log_dir, ignore_errors=True)


async def echo(side: Side, remote: JanusRemote, total: int, size: int) -> Sample:
    """``total`` bytes in ``size``-byte messages to Janus and back, at most HIGH_WATER
    bytes sent and not yet echoed."""
    channel = side.channel(f"bench-echo:{total}:{size}")
    await wait_open(channel)
    sent, got, wrong = [0], [0], [0]
    moved = asyncio.Event()

    def on_message(message: str | bytes) -> None:
        got[0] += len(message)
        if len(message) != size or isinstance(message, str):
            wrong[0] += 1
        if sent[0] - got[0] <= LOW_WATER or got[0] >= total:
            moved.set()

    channel.on("message", on_message)
    payload = bytes(size)
    p0, c0, t0 = remote.cpu(), time.process_time(), time.perf_counter()
    seen, since = 0, t0

    async def until(ready: Any) -> None:
        nonlocal seen, since
        while not ready():
            moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(moved.wait(), 1)
            now = time.perf_counter()
            if got[0] != seen:
                seen, since = got[0], now
            elif now - since > link.STALL_TIMEOUT or now - t0 > link.TRANSFER_TIMEOUT:
                raise TransferFailedError(
                    f"stalled: {got[0] / 1e6:.2f} of {sent[0] / 1e6:.2f} MB sent came back"
                )

    for _ in range(total // size):
        if sent[0] - got[0] > HIGH_WATER:
            await until(lambda: sent[0] - got[0] <= LOW_WATER)
        channel.send(payload)
        sent[0] += size
    await until(lambda: got[0] >= sent[0])
    elapsed = time.perf_counter() - t0
    ours, p1 = time.process_time() - c0, remote.cpu()
    side.done.append(channel)
    if wrong[0] or got[0] != sent[0]:
        raise TransferFailedError(
            f"{wrong[0]} echoed messages were not {size}-byte binary; "
            f"{got[0]} bytes back for {sent[0]} sent"
        )
    mb = total / 1e6
    return Sample(mb / elapsed, ours / mb, per_mb(p0, p1, mb))


async def measure_echo(
    remote: JanusRemote, plan: list[tuple[int, int]], rows: dict[int, dict[str, list[Sample]]]
) -> None:
    """One launch of Janus: the round trips of us, then of aiortc, for each size."""
    await remote.start()
    try:
        for stack in ("ours", "aiortc"):
            side = Side(stack, "janus", address=remote.address)
            failed: str | None = None
            try:
                await side.connect(remote)
            except (OSError, RuntimeError, TimeoutError) as exc:
                failed = f"no connection: {exc!r}"
            try:
                for total, size in plan:
                    if failed is not None:
                        rows[size][stack].append(Sample(0.0, 0.0, None, failed))
                        continue
                    drops0 = counters.udp_drops() if counters.ENABLED else {}
                    try:
                        sample = await echo(side, remote, total, size)
                    except (OSError, RuntimeError, TimeoutError) as exc:
                        why = f"{exc}; {stack}'s connection {side.state()}"
                        sample = Sample(0.0, 0.0, None, why)
                        failed = "not run: an earlier transfer on this connection failed"
                    rows[size][stack].append(sample)
                    if counters.ENABLED:
                        drops = counters.udp_drops()
                        lost = {p: d - drops0.get(p, 0) for p, d in drops.items()}
                        mine = side.ports()
                        print(f"  janus {stack}<->p {size}: {sample.rate:.1f} MB/s "
                              f"{side.counters()} udp_drops ours={sum(lost[p] for p in mine)}"
                              f" others={sum(v for p, v in lost.items() if p not in mine)}",
                              file=sys.stderr)  # fmt: skip
            finally:
                await side.close()
                await remote.end_link()
    finally:
        if counters.ENABLED:
            print(f"  janus's log: {remote.log_counts()}", file=sys.stderr)
        await remote.close()


def format_echo_row(size: int, row: dict[str, list[Sample]]) -> str:
    ours, theirs = row["ours"], row["aiortc"]
    rate, anchor = median_of(ours, "rate"), median_of(theirs, "rate")
    cpu = median_of(ours, "ours_cpu")
    share = median_of(ours, "peer_share")
    ours_pct = None if rate is None or cpu is None else 100 * rate * cpu
    cells = [
        "janus (2 procs)",
        f"{size:,}",
        rate_cell(ours),
        rate_cell(theirs),
        ratio_cell(rate, anchor),
        f"{fmt(cpu, '.4f')} / {fmt(median_of(ours, 'peer_cpu'), '.4f')}",
        f"{fmt(ours_pct, '.0f')} / {fmt(None if share is None else 100 * share, '.0f')}",
        f"{fmt(median_of(theirs, 'ours_cpu'), '.4f')}"
        f" / {fmt(median_of(theirs, 'peer_cpu'), '.4f')}",
    ]
    return "| " + " | ".join(cells) + " |"


async def run_echo(plan: list[tuple[int, int]], repeat: int) -> tuple[list[str], list[str]]:
    """The echo table's lines and the failed transfers' notes (none when Janus cannot run
    here: it says why on stderr)."""
    rows = {size: {"ours": [], "aiortc": []} for _, size in plan}
    try:
        for _ in range(repeat):
            await measure_echo(JanusRemote(), plan, rows)
    except PeerUnavailableError as exc:
        print(f"janus: skipped ({exc})", file=sys.stderr)
        return [], []
    lines = ["", "Round trip through Janus's echotest (N bytes out and back, MB/s of N):"]
    lines.append(ECHO_HEADER)
    notes = []
    for _, size in plan:
        line = format_echo_row(size, rows[size])
        print(line, flush=True)
        lines.append(line)
        for stack, samples in rows[size].items():
            notes += [
                f"janus, {size:,} B, {stack} ⇄ Janus: {s.failure}" for s in samples if s.failure
            ]
    return lines, notes
