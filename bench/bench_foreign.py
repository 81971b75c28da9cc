"""Another stack sends to us: aiortc → ours beside aiortc → aiortc, same run, loopback UDP.

Issue 15: with both peers in one process and 64 KiB messages, aiortc → ours fell to
0.6-0.7 MB/s while aiortc → aiortc moved 9-10 MB/s. aiortc's sender grows its window only
when it is full and sends at most 4 packets beyond the flight per SACK (Max.Burst), so
it starves when a receiver acknowledges a whole read batch with one SACK; ours now builds
a SACK for every second full-sized packet of a batch (RFC 9260 §6.2, docs/sctp.md).

For each message size (16 KiB and 64 KiB) and each receiver (ours, aiortc), an aiortc
``RTCPeerConnection`` offers, opens a reliable ordered channel and sends ``--mib`` MiB,
keeping at most 1 MiB buffered (``bufferedAmount`` with ``bufferedamountlow``), in one
process and with the receiver in a child process (signalling over a pipe). Printed: MB/s
(wall, median of ``--repeat``), the ratio aiortc → ours / aiortc → aiortc, and for our
receiver the DATA packets per SACK it sent (§6.2: a SACK per two full-sized packets, so a
little over 2: a message's shorter last fragment counts as its share of one).

Run: ``.venv/bin/python bench/bench_foreign.py [--mib 16] [--repeat 3] [--sections one,two]``
in a private network namespace (``unshare -n``, loopback up). The machine is shared and
noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.peerconnection import Description, Settings

HIGH_WATER = 1 << 20
LOW_WATER = 1 << 18
SIZES = (16384, 65536)
RECEIVERS = ("ours", "aiortc")


def _aiortc() -> Any:
    import aioice.ice
    import aiortc

    # INTEROP.md: aioice skips loopback when gathering; pin it to 127.0.0.1.
    aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
    return aiortc


class Receiver:
    """The answering peer: ours or aiortc; counts messages, ``done`` after ``count``."""

    def __init__(self, stack: str, count: int) -> None:
        self.stack = stack
        self.count = count
        self.received = 0
        self.done = asyncio.Event()
        if stack == "ours":
            self.pc: Any = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        else:
            aiortc = _aiortc()
            self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.pc.on("datachannel", self._on_channel)

    def _on_channel(self, channel: Any) -> None:
        channel.on("message", self._on_message)

    def _on_message(self, message: Any) -> None:
        self.received += 1
        if self.received == self.count:
            self.done.set()

    async def answer(self, offer: dict[str, str]) -> dict[str, str]:
        if self.stack == "ours":
            await self.pc.set_remote_description(Description.from_dict(offer))
            await self.pc.set_local_description()
            await self.pc.wait_gathering_complete()
            return dict(self.pc.local_description.to_dict())
        aiortc = _aiortc()
        await self.pc.setRemoteDescription(aiortc.RTCSessionDescription(**offer))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"type": "answer", "sdp": self.pc.localDescription.sdp}

    def packets_per_sack(self) -> float | None:
        """DATA-carrying packets received per packet sent (all SACKs in a one-way transfer)."""
        if self.stack != "ours":
            return None
        stats = self.pc.core.sctp.association.stats
        return float(stats.packets_received / max(1, stats.packets_sent))


async def _sender() -> tuple[Any, Any, dict[str, str]]:
    aiortc = _aiortc()
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("bench")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, channel, {"type": "offer", "sdp": pc.localDescription.sdp}


async def _send(channel: Any, size: int, count: int) -> None:
    low = asyncio.Event()
    channel.on("bufferedamountlow", low.set)
    channel.bufferedAmountLowThreshold = LOW_WATER
    payload = bytes(size)
    for _ in range(count):
        if channel.bufferedAmount > HIGH_WATER:
            low.clear()
            await low.wait()
        channel.send(payload)


async def _opened(channel: Any) -> None:
    opened = asyncio.Event()
    channel.on("open", opened.set)
    if channel.readyState != "open":
        await asyncio.wait_for(opened.wait(), 60)


async def one_process(receiver_stack: str, size: int, total: int) -> tuple[float, float | None]:
    """(wall MB/s, DATA packets per SACK of our receiver)."""
    count = total // size
    pc, channel, offer = await _sender()
    receiver = Receiver(receiver_stack, count)
    answer = await receiver.answer(offer)
    await pc.setRemoteDescription(_aiortc().RTCSessionDescription(**answer))
    await _opened(channel)
    t0 = time.perf_counter()
    await _send(channel, size, count)
    await asyncio.wait_for(receiver.done.wait(), 600)
    elapsed = time.perf_counter() - t0
    per_sack = receiver.packets_per_sack()
    await pc.close()
    await receiver.pc.close()
    return count * size / elapsed / 1e6, per_sack


async def _child(stack: str, count: int) -> None:
    """The receiver of the two-process run: offer on stdin, answer and "done" on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    offer = json.loads(await reader.readline())
    receiver = Receiver(stack, count)
    print(json.dumps(await receiver.answer(offer)), flush=True)
    await asyncio.wait_for(receiver.done.wait(), 600)
    print(json.dumps(["done", receiver.packets_per_sack()]), flush=True)
    await receiver.pc.close()


async def two_processes(receiver_stack: str, size: int, total: int) -> tuple[float, float | None]:
    count = total // size
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", receiver_stack, "--count", str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        pc, channel, offer = await _sender()
        child.stdin.write((json.dumps(offer) + "\n").encode())
        await child.stdin.drain()
        answer = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
        await pc.setRemoteDescription(_aiortc().RTCSessionDescription(**answer))
        await _opened(channel)
        t0 = time.perf_counter()
        await _send(channel, size, count)
        line = json.loads(await asyncio.wait_for(child.stdout.readline(), 600))
        elapsed = time.perf_counter() - t0
        assert line[0] == "done"
        await pc.close()
        return count * size / elapsed / 1e6, line[1]
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def main(args: argparse.Namespace) -> None:
    total = int(args.mib * (1 << 20))
    runs = {"one": one_process, "two": two_processes}
    titles = {"one": "one process", "two": "two processes (receiver in a child process)"}
    for section in args.sections.split(","):
        run = runs[section]
        print(f"aiortc as the sender, {titles[section]}, {args.mib} MiB, wall MB/s")
        for size in SIZES:
            rates: dict[str, list[float]] = {r: [] for r in RECEIVERS}
            per_sack: list[float] = []
            for _ in range(args.repeat):
                for receiver in RECEIVERS:
                    rate, ratio = await run(receiver, size, total)
                    rates[receiver].append(rate)
                    if ratio is not None:
                        per_sack.append(ratio)
            ours = statistics.median(rates["ours"])
            theirs = statistics.median(rates["aiortc"])
            print(
                f"  {size:>5} B messages: aiortc→ours {ours:7.2f}   aiortc→aiortc {theirs:7.2f}"
                f"   ratio {ours / theirs:5.2f}x   our DATA packets per SACK"
                f" {statistics.median(per_sack):4.2f}"
            )


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=16.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per pair (medians)")
    parser.add_argument("--sections", default="one,two", help="comma-separated subset of: one, two")
    parser.add_argument("--child", choices=RECEIVERS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mib <= 0 or args.repeat < 1:
        parser.error("--mib and --repeat must be positive")
    unknown = set(args.sections.split(",")) - {"one", "two"}
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    arguments = _parse(sys.argv[1:])
    if arguments.child:
        asyncio.run(_child(arguments.child, arguments.count))
    else:
        asyncio.run(main(arguments))
