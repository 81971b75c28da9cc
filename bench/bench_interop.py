"""Data channel throughput between our stack and other stacks' processes (issue 15, part 3).

Section ``pion`` (the first): Pion 3.1.56 (Go, the interop peer program built from Debian's
sources, pyrtcstack/interop/pion/) in its own process, signalling through the interop
harness (pyrtcstack.interop.session), loopback UDP, DTLS 1.2, one reliable ordered channel:

* Pion → us: on a channel labelled ``bench-source:N:SIZE`` Pion sends N bytes in SIZE-byte
  binary messages (at most 1 MiB buffered, as bench_pc.py's senders); timed from our
  ``create_data_channel`` to the last byte received.
* us → Pion: on ``bench-sink:N`` we send N bytes (same flow control); timed until Pion
  answers ``done N`` on the channel.
* Pion → Pion: the same program's ``-self-bench``: two Pion peer connections in one process.
* ours → ours: bench_pc.py's one-process figure, the anchor of the same run.

Each with the CPU seconds per MB of each side (ours: this process; Pion: its process's
utime + stime from /proc). Medians of ``--repeat``. Run inside a private namespace:
``unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/bench_interop.py'``.
The machine is shared and noisy: compare only within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any

from bench_pc import HIGH_WATER, LOW_WATER, throughput

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.interop.launchers import build_pion_peer, launch
from pyrtcstack.interop.matrix import loopback_settings
from pyrtcstack.interop.scenarios import scenario_spec
from pyrtcstack.interop.session import PeerSession
from pyrtcstack.peerconnection import Description

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """utime + stime of process ``pid`` in seconds (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _PionLink:
    """One Pion process, one connection with us (we offer, non-trickle)."""

    def __init__(self) -> None:
        spec = scenario_spec("bench", "we-offer", trickle=False)
        spec["timeoutMs"] = 600_000
        self.session = PeerSession([spec])
        self.pc = PeerConnection(settings=loopback_settings())
        self.process: Any = None
        self.log_dir = tempfile.mkdtemp(prefix="pyrtcstack-bench-pion-")

    async def start(self) -> None:
        url = await self.session.start()
        self.process = await launch("pion", url, log_dir=self.log_dir)
        first = self.pc.create_data_channel("chat")  # the association needs one channel
        await self.pc.set_local_description()
        await self.pc.wait_gathering_complete()
        assert self.pc.local_description is not None
        self.session.send(
            0, {"kind": "description", "description": self.pc.local_description.to_dict()}
        )
        inbox = self.session.inbox(0)
        async with asyncio.timeout(30):
            while True:
                msg = await inbox.get()
                if msg.get("kind") == "description":
                    await self.pc.set_remote_description(Description.from_dict(msg["description"]))
                    break
            await first.wait_open(30)

    async def close(self) -> None:
        self.session.send(0, {"kind": "end"})
        await asyncio.sleep(0.2)
        await self.pc.close()
        if self.process is not None:
            await self.process.stop()
        await self.session.close()
        for name in os.listdir(self.log_dir):
            os.unlink(os.path.join(self.log_dir, name))
        os.rmdir(self.log_dir)

    async def pion_to_us(self, total: int, size: int) -> tuple[float, float, float]:
        """(MB/s, our CPU s/MB, Pion's CPU s/MB)."""
        done = asyncio.Event()
        got = [0]

        def on_message(message: str | bytes) -> None:
            got[0] += len(message)
            if got[0] >= total:
                done.set()

        p0, c0, t0 = _cpu_of(self.process.process.pid), time.process_time(), time.perf_counter()
        channel = self.pc.create_data_channel(f"bench-source:{total}:{size}")
        channel.on("message", on_message)
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - t0
        mb = got[0] / 1e6  # whole messages: at least total
        ours, pion = time.process_time() - c0, _cpu_of(self.process.process.pid) - p0
        channel.close()
        return mb / elapsed, ours / mb, pion / mb

    async def us_to_pion(self, total: int, size: int) -> tuple[float, float, float]:
        count = total // size
        channel = self.pc.create_data_channel(f"bench-sink:{count * size}")
        answer: asyncio.Future[str | bytes] = asyncio.get_running_loop().create_future()
        channel.on("message", lambda m: answer.done() or answer.set_result(m))
        await channel.wait_open(30)
        low = asyncio.Event()
        channel.on("bufferedamountlow", low.set)
        channel.buffered_amount_low_threshold = LOW_WATER
        payload = bytes(size)
        p0, c0, t0 = _cpu_of(self.process.process.pid), time.process_time(), time.perf_counter()
        for _ in range(count):
            if channel.buffered_amount > HIGH_WATER:
                low.clear()
                await low.wait()
            channel.send(payload)
        reply = await asyncio.wait_for(answer, 300)
        elapsed = time.perf_counter() - t0
        if reply != f"done {count * size}":
            raise RuntimeError(f"Pion's sink answered {reply!r}")
        mb = count * size / 1e6
        ours, pion = time.process_time() - c0, _cpu_of(self.process.process.pid) - p0
        channel.close()
        return mb / elapsed, ours / mb, pion / mb


def pion_to_pion(total: int, size: int) -> tuple[float, float]:
    """(MB/s, CPU s/MB of the one Pion process holding both ends)."""
    binary = build_pion_peer()
    done = subprocess.run(
        [str(binary), "-self-bench", str(total), str(size)],
        capture_output=True,
        timeout=600,
        check=True,
    )
    result = json.loads(done.stdout)
    mb = result["bytes"] / 1e6
    return mb / result["seconds"], result["cpuSeconds"] / mb


async def pion_section(args: argparse.Namespace) -> None:
    total = int(args.mib * (1 << 20))
    size = args.size
    print(f"Pion 3.1.56 (Go, own process), {args.mib} MiB in {size} B messages, loopback UDP")
    rows: dict[str, list[tuple[float, ...]]] = {
        "pion->us": [],
        "us->pion": [],
        "pion->pion": [],
        "ours->ours": [],
    }
    for _ in range(args.repeat):
        link = _PionLink()
        try:
            await link.start()
            rows["pion->us"].append(await link.pion_to_us(total, size))
            rows["us->pion"].append(await link.us_to_pion(total, size))
        finally:
            await link.close()
        rows["pion->pion"].append(await asyncio.to_thread(pion_to_pion, total, size))
        rate, cpu_rate = await throughput("ours", size, total)
        # bench_pc reports CPU MB/s for both of our ends in one process: as s/MB.
        rows["ours->ours"].append((rate, 1 / cpu_rate))
    anchor = statistics.median(r[0] for r in rows["pion->pion"])
    for name, values in rows.items():
        rate = statistics.median(r[0] for r in values)
        if name in ("pion->us", "us->pion"):
            cpu = (
                f"ours {statistics.median(r[1] for r in values):.4f}, "
                f"Pion {statistics.median(r[2] for r in values):.4f}"
            )
        elif name == "pion->pion":
            cpu = f"Pion (both ends) {statistics.median(r[1] for r in values):.4f}"
        else:
            cpu = f"ours (both ends) {statistics.median(r[1] for r in values):.4f}"
        print(f"  {name:<11} {rate:8.2f} MB/s   {rate / anchor:5.2f}x Pion->Pion   CPU s/MB: {cpu}")


async def main(args: argparse.Namespace) -> None:
    sections = set(args.sections.split(","))
    if "pion" in sections:
        await pion_section(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--mib", type=float, default=32.0)
    parser.add_argument("--size", type=int, default=16384, help="message size in bytes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sections", default="pion")
    asyncio.run(main(parser.parse_args()))
