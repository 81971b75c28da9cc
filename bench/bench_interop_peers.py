"""bench_interop.py's peers: the other end of each link (aiortc in this process or in a
child process, a peer launched by the interop harness) and each peer's own → itself
transfer (:data:`REMOTES`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import bench_interop_counters as counters
import bench_interop_link as link
from bench_interop_counters import group_cpu, group_cpu_split
from bench_interop_link import Remote, Sample, pin_aioice, send_all

from pyrtcstack.aio.stun import serve_stun
from pyrtcstack.interop import launchers
from pyrtcstack.interop.launchers import build_pion_peer, find_peer, launch
from pyrtcstack.interop.scenarios import scenario_spec
from pyrtcstack.interop.session import PeerSession

#: The script whose ``--aiortc-peer`` runs :func:`aiortc_child` (the two-process rows).
_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_interop.py")


_SOURCES: set[asyncio.Future[None]] = set()  # the running aiortc senders (kept referenced)


def _aiortc_bench_channel(channel: Any) -> None:
    """aiortc's side of the bench protocol (the same as peer.js's and bench.go's)."""
    parts = channel.label.split(":")
    if parts[0] == "bench-source" and len(parts) == 3:
        total, size = int(parts[1]), int(parts[2])
        task = asyncio.ensure_future(send_all(channel, total, size))
        _SOURCES.add(task)
        task.add_done_callback(_SOURCES.discard)
        return
    if parts[0] != "bench-sink" or len(parts) != 2:
        return  # "chat"
    total = int(parts[1])
    got = [0]

    def on_message(message: str | bytes) -> None:
        got[0] += len(message)
        if got[0] >= total and got[0] - len(message) < total:
            channel.send(f"done {got[0]}")

    channel.on("message", on_message)


async def aiortc_answer(offer: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """An aiortc peer connection answering ``offer`` that serves the bench channels."""
    import aiortc

    pin_aioice()
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    pc.on("datachannel", _aiortc_bench_channel)
    await pc.setRemoteDescription(aiortc.RTCSessionDescription(**offer))
    await pc.setLocalDescription(await pc.createAnswer())
    return pc, {"type": "answer", "sdp": pc.localDescription.sdp}


class AiortcLocal:
    """aiortc in this process (the one-process rows)."""

    name = "aiortc"

    def __init__(self) -> None:
        self.pcs: list[Any] = []

    async def start(self) -> None:
        pass

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        pc, answer = await aiortc_answer(offer)
        self.pcs.append(pc)
        return answer

    def cpu(self) -> float | None:
        return None

    async def self_bench(self, total: int, size: int) -> Sample | None:
        return None  # aiortc → aiortc is this peer's "→ aiortc" row

    async def end_link(self) -> None:
        while self.pcs:
            await self.pcs.pop().close()

    async def close(self) -> None:
        await self.end_link()


async def aiortc_child() -> None:
    """``--aiortc-peer``: answer each offer line on stdin with an answer line on stdout,
    serve the bench channels; exit when stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pcs: list[Any] = []
    while line := await reader.readline():
        if line.strip() == b"end":
            while pcs:
                await pcs.pop().close()
            continue
        pc, answer = await aiortc_answer(json.loads(line))
        pcs.append(pc)
        print(json.dumps(answer), flush=True)
    for pc in pcs:
        await pc.close()


class AiortcChild:
    """aiortc in a child process of this script (the two-process rows)."""

    name = "aiortc"

    def __init__(self) -> None:
        self.child: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.child = await asyncio.create_subprocess_exec(
            sys.executable, _SCRIPT, "--aiortc-peer",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        assert self.child is not None and self.child.stdin and self.child.stdout
        self.child.stdin.write((json.dumps(offer) + "\n").encode())
        await self.child.stdin.drain()
        return dict(json.loads(await self.child.stdout.readline()))

    def cpu(self) -> float | None:
        assert self.child is not None
        return group_cpu(self.child.pid)

    async def self_bench(self, total: int, size: int) -> Sample | None:
        return None

    async def end_link(self) -> None:
        assert self.child is not None and self.child.stdin
        self.child.stdin.write(b"end\n")
        await self.child.stdin.drain()

    async def close(self) -> None:
        if self.child is None:
            return
        assert self.child.stdin
        self.child.stdin.close()
        try:
            await asyncio.wait_for(self.child.wait(), 10)
        except TimeoutError:
            self.child.kill()
            await self.child.wait()


class HarnessPeer:
    """A peer launched by the interop harness (werift, Pion, Chromium, Firefox): one
    launch, scenarios ``bench`` (we offer, non-trickle) for each link in turn, then the
    ``selfBench`` scenarios (peer.js) for each size."""

    def __init__(self, name: str, links: int, self_sizes: list[tuple[int, int]]) -> None:
        self.name = name
        specs = []
        for _ in range(1 if link.PEER_OFFERS else links):
            role = "peer-offers" if link.PEER_OFFERS else "we-offer"
            spec = scenario_spec("bench", role, trickle=False)
            # peer-offers: the peer's offer needs a channel for its m=application section
            spec["peerChannels"] = [{"label": "chat"}] if link.PEER_OFFERS else []
            spec["timeoutMs"] = 1_800_000
            specs.append(spec)
        # --third: the peer offers a channel bench-source:N:SIZE (it sends on it) to a
        # third receiver, one connection per size, before its → itself scenarios (the peer
        # runs its scenarios in order)
        self.third_index: dict[tuple[int, int], int] = {}
        for total, size in self_sizes if link.THIRD else []:
            self.third_index[total, size] = len(specs)
            spec = scenario_spec("third-bench", "peer-offers", trickle=False)
            spec["peerChannels"] = [{"label": f"bench-source:{total}:{size}"}]
            spec["timeoutMs"] = int(link.TRANSFER_TIMEOUT * 1000) + 60_000
            specs.append(spec)
        self.self_index: dict[tuple[int, int], int] = {}
        for total, size in self_sizes:
            self.self_index[total, size] = len(specs)
            spec = scenario_spec("self-bench", "we-offer", trickle=False)
            spec["peerChannels"] = []
            spec["selfBench"] = {"bytes": total, "size": size}
            specs.append(spec)
        self.specs = specs
        self.link = -1
        self.stun: Any = None
        self.session: PeerSession | None = None
        self.process: Any = None
        self.log_dir = tempfile.mkdtemp(prefix=f"pyrtcstack-bench-{name}-")
        self.splits: list[dict[str, float]] = []

    async def start(self) -> None:
        stun = None
        if self.name == "werift":  # werift falls back to stun.l.google.com without one
            self.stun = await serve_stun(("127.0.0.1", 0))
            stun = f"stun:127.0.0.1:{self.stun.addresses[0][1]}"
        self.session = PeerSession(self.specs, stun=stun, gum_first=self.name == "firefox")
        url = await self.session.start()
        self.process = await launch(self.name, url, log_dir=self.log_dir)

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        self.link += 1
        self.session.send(self.link, {"kind": "description", "description": offer})
        return await self._description(self.link)

    async def offer(self) -> dict[str, Any]:
        """``--peer-offers``: the peer's offer for the next link (its ``chat`` channel)."""
        assert self.session is not None
        self.link += 1
        return await self._description(self.link)

    async def send_answer(self, answer: dict[str, Any]) -> None:
        assert self.session is not None
        self.session.send(self.link, {"kind": "description", "description": answer})

    async def _description(self, link: int) -> dict[str, Any]:
        assert self.session is not None
        inbox = self.session.inbox(link)
        while True:
            msg = await inbox.get()
            if msg.get("kind") == "description":
                return dict(msg["description"])
            if msg.get("kind") == "error":
                raise RuntimeError(f"{self.name}: {msg.get('error')}")

    def cpu(self) -> float | None:
        if counters.ENABLED:  # by process role too (--counters)
            self.splits.append(group_cpu_split(int(self.process.process.pid)))
        return group_cpu(int(self.process.process.pid))

    def split(self, mb: float) -> str:
        """The CPU per MB of each process role between the last two :meth:`cpu` readings
        (``--counters``)."""
        if len(self.splits) < 2:
            return ""
        return " cpu/MB " + counters.split_per_mb(self.splits[-2], self.splits[-1], mb)

    async def end_link(self) -> None:
        assert self.session is not None
        self.session.send(self.link, {"kind": "end"})

    async def third_bench(self, total: int, size: int) -> Sample:
        """``--third pion``: this peer → Pion. The peer's offer (its channel
        ``bench-source:total:size``, on which it sends) goes to a Pion ``-pair-sink`` child
        process, Pion's answer back; MB/s and Pion's CPU are the child's, from the channel's
        opening to the last byte; the peer's CPU is read when the child reports the opening
        and at the end (ours is idle meanwhile: ``ours_cpu`` 0)."""
        assert self.session is not None
        index = self.third_index[total, size]
        child = None
        try:
            # One bound for all of it (there is no progress to watch: Pion reports the end)
            async with asyncio.timeout(link.TRANSFER_TIMEOUT):
                offer = await self._description(index)
                child = await asyncio.create_subprocess_exec(
                    str(build_pion_peer()), "-pair-sink", str(total),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )  # fmt: skip
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write((json.dumps(offer) + "\n").encode())
                await child.stdin.drain()
                answer = json.loads(await child.stdout.readline())
                self.session.send(index, {"kind": "description", "description": answer})
                p0 = None
                while True:
                    line = await child.stdout.readline()
                    if not line:
                        raise RuntimeError("pion -pair-sink ended without a result")
                    result = json.loads(line)
                    if result.get("opened"):
                        p0 = self.cpu()
                        continue
                    if "error" in result or p0 is None:
                        raise RuntimeError(f"pion -pair-sink: {result}")
                    p1 = self.cpu()
                    break
        finally:
            self.session.send(index, {"kind": "end"})  # the peer goes on to its next scenario
            if child is not None:
                assert child.stdin is not None
                child.stdin.close()  # -pair-sink exits when its stdin closes
                try:
                    await asyncio.wait_for(child.wait(), 10)
                except TimeoutError:
                    child.kill()
                    await child.wait()
        mb = result["bytes"] / 1e6
        assert p1 is not None
        sample = Sample(mb / result["seconds"], 0.0, (p1 - p0) / mb)
        sample.third_cpu = result["cpuSeconds"] / mb
        return sample

    async def self_bench(self, total: int, size: int) -> Sample | None:
        if self.name == "pion":
            return await asyncio.to_thread(pion_to_pion, total, size)
        if self.name == "gstreamer":
            return await asyncio.to_thread(gst_to_gst, total, size)
        assert self.session is not None
        inbox = self.session.inbox(self.self_index[total, size])
        p0 = None
        async with asyncio.timeout(link.TRANSFER_TIMEOUT):
            while True:
                msg = await inbox.get()
                kind = msg.get("kind")
                if kind == "self-bench-ready":
                    p0 = self.cpu()
                elif kind == "self-bench":
                    p1 = self.cpu()
                    mb = msg["bytes"] / 1e6
                    assert p0 is not None and p1 is not None
                    return Sample(mb / msg["seconds"], 0.0, (p1 - p0) / mb)
                elif kind == "error":
                    raise RuntimeError(f"{self.name} self-bench: {msg.get('error')}")

    async def close(self) -> None:
        if self.process is not None:
            await self.process.stop()
        if self.session is not None:
            await self.session.close()
        if self.stun is not None:
            self.stun.close()
        for name in os.listdir(self.log_dir):
            os.unlink(os.path.join(self.log_dir, name))
        os.rmdir(self.log_dir)


def pion_to_pion(total: int, size: int) -> Sample:
    """Pion → Pion as Pion → us runs: the peer program's ``-pair-bench`` (the receiver in a
    child process of its own; the CPU is both ends'). ``-self-bench`` (both ends in one
    process, one heap and one scheduler) is cheaper per MB than any two-process transfer,
    so it is no like-for-like anchor for a row whose peer has a process of its own."""
    binary = build_pion_peer()
    done = subprocess.run(
        [str(binary), "-pair-bench", str(total), str(size)],
        capture_output=True,
        timeout=600,
        check=True,
    )
    result = json.loads(done.stdout)
    mb = result["bytes"] / 1e6
    return Sample(mb / result["seconds"], 0.0, result["cpuSeconds"] / mb)


def gst_to_gst(total: int, size: int) -> Sample:
    """GStreamer → GStreamer: ``gst_peer.py --self-bench`` (two webrtcbins, one process),
    run by the interpreter the launcher uses for GStreamer (the system python3)."""
    python = find_peer("gstreamer")
    script = os.path.join(os.path.dirname(launchers.__file__), "gstreamer", "gst_peer.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(python), script, "--self-bench", str(total // size), str(size)],
        capture_output=True, text=True, timeout=600, check=True, env=env,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mb = float(result["bytes"]) / 1e6
    return Sample(mb / float(result["seconds"]), 0.0, float(result["cpu"]) / mb)


#: peer name → (procs label, factory given the (total, size) pairs of the run).
REMOTES: dict[str, list[tuple[str, Callable[[list[tuple[int, int]]], Remote]]]] = {
    "aiortc": [("1 proc", lambda s: AiortcLocal()), ("2 procs", lambda s: AiortcChild())],
    "werift": [("2 procs", lambda s: HarnessPeer("werift", 2, s))],
    "pion": [("2 procs", lambda s: HarnessPeer("pion", 2, []))],
    "chromium": [("2 procs", lambda s: HarnessPeer("chromium", 2, s))],
    "firefox": [("2 procs", lambda s: HarnessPeer("firefox", 2, s))],
    "gstreamer": [("2 procs", lambda s: HarnessPeer("gstreamer", 2, []))],
}
#: Peers that only echo: their rows are a round trip, a table of their own
#: (bench_interop_janus.py).
ECHO_PEERS = ("janus",)
