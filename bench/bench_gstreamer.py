"""Data channel throughput with GStreamer webrtcbin 1.22, beside ours → ours in the same run.

* GStreamer → us: the GStreamer peer (``pyrtcstack/interop/gstreamer/gst_peer.py``, run
  by the system python3) sends ``--mib`` MiB in 16 KiB binary messages on a reliable
  ordered channel (``__bulk__``, at most 1 MiB buffered in webrtcbin); timed from our
  command to the last byte received.
* us → GStreamer: we send the same with at most 1 MiB buffered (``buffered_amount`` and
  ``bufferedamountlow``); the peer counts (``__sink__``) and reports the seconds from its
  first byte to its last; we also time from our first send to its report.
* GStreamer → GStreamer: two webrtcbins in one process (``gst_peer.py --self-bench``).
* ours → ours: two of our peer connections in one process (``bench_pc.throughput``).

Two processes for the first two (ours and the peer's), one for the others; loopback; run
it inside a private network namespace:
``unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/bench_gstreamer.py'``.
The machine is shared and noisy: compare within one run (medians of ``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from pyrtcstack.aio.peerconnection import DataChannel, PeerConnection
from pyrtcstack.interop.launchers import PeerProcess, find_peer, launch
from pyrtcstack.interop.matrix import loopback_settings
from pyrtcstack.interop.scenarios import scenario_spec
from pyrtcstack.interop.session import PeerSession
from pyrtcstack.peerconnection import Description

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pc import HIGH_WATER, LOW_WATER
from bench_pc import throughput as ours_throughput

SIZE = 16384


async def _connect(session: PeerSession, index: int) -> tuple[PeerConnection, DataChannel]:
    """We offer (non-trickle) on a fresh scenario of the launched peer; the channel opens."""
    pc = PeerConnection(settings=loopback_settings())
    channel = pc.create_data_channel("bulk")
    await pc.set_local_description()
    await pc.wait_gathering_complete()
    assert pc.local_description is not None
    session.send(index, {"kind": "description", "description": pc.local_description.to_dict()})
    inbox = session.inbox(index)
    while True:
        msg = await asyncio.wait_for(inbox.get(), 20)
        if msg.get("kind") == "description":
            await pc.set_remote_description(Description.from_dict(msg["description"]))
            break
    await channel.wait_open(20)
    return pc, channel


async def gst_to_us(session: PeerSession, index: int, total: int) -> float:
    pc, channel = await _connect(session, index)
    count = total // SIZE
    received = [0]
    done = asyncio.Event()

    def on_message(message: Any) -> None:
        if isinstance(message, bytes):
            received[0] += len(message)
        elif message == "__bulk_done__" and received[0] >= count * SIZE:
            done.set()

    channel.on("message", on_message)
    t0 = time.perf_counter()
    channel.send(f"__bulk__ {count} {SIZE}")
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t0
    session.send(index, {"kind": "end"})
    await pc.close()
    return count * SIZE / elapsed / 1e6


async def us_to_gst(session: PeerSession, index: int, total: int) -> tuple[float, float]:
    """(MB/s from our first send to the peer's report, MB/s over the peer's own span)."""
    pc, channel = await _connect(session, index)
    count = total // SIZE
    report: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    channel.on(
        "message",
        lambda m: isinstance(m, str) and m.startswith("__sunk__") and report.set_result(m),
    )
    channel.send(f"__sink__ {count * SIZE}")
    low = asyncio.Event()
    channel.on("bufferedamountlow", low.set)
    channel.buffered_amount_low_threshold = LOW_WATER
    payload = bytes(SIZE)
    t0 = time.perf_counter()
    for _ in range(count):
        if channel.buffered_amount > HIGH_WATER:
            low.clear()
            await low.wait()
        channel.send(payload)
    answer = await asyncio.wait_for(report, 300)
    elapsed = time.perf_counter() - t0
    theirs = float(answer.split()[1])
    session.send(index, {"kind": "end"})
    await pc.close()
    return count * SIZE / elapsed / 1e6, count * SIZE / theirs / 1e6


def gst_to_gst(total: int) -> float:
    python = find_peer("gstreamer")
    script = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "pyrtcstack", "interop", "gstreamer", "gst_peer.py",
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run(
        [python, script, "--self-bench", str(total // SIZE), str(SIZE)],
        check=True, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["bytes"]) / float(result["seconds"]) / 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = args.mib << 20
    rows: dict[str, list[float]] = {
        "gst->us": [],
        "us->gst": [],
        "us->gst (peer's span)": [],
        "gst->gst": [],
        "ours->ours": [],
    }
    scenarios = [scenario_spec("bulk", "we-offer", trickle=False) for _ in range(2 * args.repeat)]
    for spec in scenarios:
        spec["peerChannels"] = []
        spec["timeoutMs"] = 300000
    session = PeerSession(scenarios)
    url = await session.start()
    log_dir = tempfile.mkdtemp(prefix="pyrtcstack-bench-gst-")
    process: PeerProcess | None = None
    try:
        process = await launch("gstreamer", url, log_dir=log_dir)
        await asyncio.wait_for(session.config_fetched.wait(), 30)
        for r in range(args.repeat):
            rows["gst->us"].append(await gst_to_us(session, 2 * r, total))
            wall, span = await us_to_gst(session, 2 * r + 1, total)
            rows["us->gst"].append(wall)
            rows["us->gst (peer's span)"].append(span)
            rows["gst->gst"].append(await asyncio.to_thread(gst_to_gst, total))
            rows["ours->ours"].append((await ours_throughput("ours", SIZE, total))[0])
    finally:
        if process is not None:
            await process.stop()
        await session.close()
    anchor = statistics.median(rows["ours->ours"])
    print(f"{args.mib} MiB in {SIZE}-byte messages, MB/s (median of {args.repeat}), loopback")
    for name, values in rows.items():
        med = statistics.median(values)
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:24s} {med:7.1f}   x{med / anchor:.3f} of ours->ours   ({shown})")
    with contextlib.suppress(OSError):
        for name in os.listdir(log_dir):
            os.unlink(os.path.join(log_dir, name))
        os.rmdir(log_dir)


if __name__ == "__main__":
    asyncio.run(main())
