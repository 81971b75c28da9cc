"""Data channel throughput both ways between our stack and every other stack (issue 15, part 3).

For each peer (aiortc, werift, Pion, Chromium, Firefox, GStreamer webrtcbin) and each
message size (16 KiB and 1,200 bytes), in one run:

* **peer → us**: we create a channel labelled ``bench-source:N:SIZE``; the peer sends N
  bytes on it in SIZE-byte binary messages, keeping at most 1 MiB buffered (as
  bench_pc.py's senders); timed from our ``create_data_channel`` to the last byte.
* **us → peer**: on ``bench-sink:N`` we send N bytes (same flow control); timed until the
  peer answers ``done N`` on the channel.
* **peer → aiortc** and **aiortc → peer**: the same two transfers with aiortc in our place
  (the anchors of the targets "peer → us ≥ peer → aiortc" and "us → peer ≥ aiortc → peer").
* **peer → itself**: aiortc → aiortc (one process: both in ours; two processes: aiortc →
  an aiortc child process, i.e. its peer → aiortc row); werift, Chromium and Firefox: two
  peer connections in one werift process / one page (``selfBench`` scenarios of
  ``assets/peer.js``); Pion: its peer program's ``-self-bench``; GStreamer: two webrtcbins
  in one process (``gst_peer.py --self-bench``).
* **ours → ours** (one process, bench_pc.py) as the usual anchor.

Janus's echotest only echoes: its rows (``--peers janus``) are a round trip, us ⇄ Janus
beside aiortc ⇄ Janus, in a table of their own (bench_interop_janus.py).

Each transfer also has the CPU seconds per MB of each side: ours from this process
(``time.process_time``; with aiortc in one process that is both ends), the peer's from
``/proc/PID/stat`` (utime + stime) summed over its process group (a browser's every
process), and the peer's CPU as a share of the wall time (near 100 % or above: its own
sender is the limit; browsers spread over several processes and threads).

The peers other than aiortc are launched by the interop harness (pyrtcstack.interop), one
launch per repetition, and signal through it (we offer, non-trickle). aiortc is the
in-process ``RTCPeerConnection`` (one process) or a child process of this script (two
processes). Run inside a private namespace, loopback only::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/bench_interop.py \\
        [--peers aiortc,werift,pion,chromium,firefox] [--mib 32] [--repeat 3]'

The machine is shared and noisy: compare only within one run (the ratios).

To see who waits for whom: ``--counters`` prints our SCTP sender's counters after each of
our transfers and the datagrams each side's UDP socket dropped (``/proc/net/udp``: ours,
and the others', i.e. the peer's); ``--dtls 1.2 --keylog FILE`` lets tshark decrypt a
capture of the run (docs/interop.md, "Throughput"); ``--socket-buffer N`` changes our
sockets' buffer request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, Protocol

from bench_pc import HIGH_WATER, LOW_WATER, _buffered, _set_low, throughput

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.aio.stun import serve_stun
from pyrtcstack.interop import launchers
from pyrtcstack.interop.launchers import (
    PeerUnavailableError,
    build_pion_peer,
    find_peer,
    launch,
)
from pyrtcstack.interop.matrix import loopback_settings
from pyrtcstack.interop.scenarios import scenario_spec
from pyrtcstack.interop.session import PeerSession
from pyrtcstack.peerconnection import Description

SIZES = (16384, 1200)
DEFAULT_PEERS = ("aiortc", "werift", "pion", "chromium", "firefox")
#: Seconds one transfer may take before the run gives up on it.
TRANSFER_TIMEOUT = 300.0
#: Seconds without progress (no byte received, nothing left the send buffer) after which
#: a transfer counts as failed (the connection is then not used for the rest of the run).
STALL_TIMEOUT = 20.0


class TransferFailedError(RuntimeError):
    """A transfer stalled, timed out or its connection failed (a result, shown as such)."""


_TICK = os.sysconf("SC_CLK_TCK")


# --- CPU from /proc ----------------------------------------------------------------------


def _stat_fields(pid: str | int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()  # the name may hold spaces and ")"


def group_cpu(leader: int) -> float:
    """utime + stime (seconds) of every live process in process group ``leader`` (the
    launchers start each peer as a group leader: a browser's every process is in it)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = _stat_fields(name)
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == leader:  # field 5, pgrp
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15
    return total / _TICK


def udp_drops() -> dict[int, int]:
    """Datagrams each UDP socket of this namespace dropped (full receive buffer), by local
    port (/proc/net/udp's last column); a diagnostic of ``--counters``."""
    drops: dict[int, int] = {}
    with open("/proc/net/udp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            port = int(fields[1].rpartition(":")[2], 16)
            drops[port] = drops.get(port, 0) + int(fields[-1])
    return drops


# --- our end of a link: ours or aiortc ---------------------------------------------------


@dataclasses.dataclass
class Sample:
    """One transfer: MB/s, CPU s/MB of our process and of the peer's (None: in ours)."""

    rate: float
    ours_cpu: float
    peer_cpu: float | None
    #: Why the transfer failed (then the figures are meaningless).
    failure: str | None = None
    #: peer → us: seconds from our create_data_channel to the channel's "open" and to
    #: the first byte (``--counters``).
    opened: float | None = None
    first: float | None = None

    @property
    def peer_share(self) -> float | None:
        """The peer's CPU seconds per wall second during the transfer."""
        return None if self.peer_cpu is None else self.peer_cpu * self.rate


def _per_mb(before: float | None, after: float | None, mb: float) -> float | None:
    return None if before is None or after is None else (after - before) / mb


def _pin_aioice(address: str = "127.0.0.1") -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda *a, **k: [address]  # INTEROP.md


async def _wait_open(channel: Any) -> None:
    if hasattr(channel, "wait_open"):
        await channel.wait_open(30)
        return
    if channel.readyState == "open":
        return
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await asyncio.wait_for(opened.wait(), 30)


async def send_all(channel: Any, total: int, size: int) -> None:
    """``total`` bytes in ``size``-byte messages, at most HIGH_WATER buffered."""
    low = asyncio.Event()
    channel.on("bufferedamountlow", low.set)
    _set_low(channel, LOW_WATER)
    payload = bytes(size)
    for _ in range(total // size):
        since, level = time.monotonic(), _buffered(channel)
        while _buffered(channel) > HIGH_WATER:
            low.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(low.wait(), 0.1)
            if _buffered(channel) != level:
                since, level = time.monotonic(), _buffered(channel)
            elif time.monotonic() - since > STALL_TIMEOUT:
                raise TransferFailedError(f"the send buffer did not move for {STALL_TIMEOUT:g} s")
        channel.send(payload)


#: ``--counters``: print our SCTP counters after each transfer (stderr).
COUNTERS = False
#: Changes to our side's :func:`loopback_settings` (``--dtls``, ``--keylog``: to trace).
OURS_SETTINGS: dict[str, Any] = {}


class Side:
    """Our end of one connection with a peer: ``ours`` (pyrtcstack) or ``aiortc``. We
    offer (non-trickle) with one channel ``chat``; :class:`Remote` answers. Both gather on
    ``address`` alone (loopback; Janus needs another, bench_interop_janus.py)."""

    def __init__(self, stack: str, peer: str, address: str = "127.0.0.1") -> None:
        self.stack = stack
        #: Channels whose transfer is over. They stay open until the connection closes:
        #: GStreamer 1.22 aborts the association when a new channel reuses the stream id
        #: of one closed before it (docs/interop.md, GStreamer quirks), and the browsers
        #: and Pion do not care.
        self.done: list[Any] = []
        if stack == "ours":
            settings = dataclasses.replace(loopback_settings(), **OURS_SETTINGS)
            settings = dataclasses.replace(settings, host_addresses=[address])
            self.pc: Any = PeerConnection(settings=settings)
            self.first = self.pc.create_data_channel("chat")
        else:
            import aiortc

            _pin_aioice(address)
            self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
            self.first = self.pc.createDataChannel("chat")

    async def connect(self, remote: Remote) -> None:
        if self.stack == "ours":
            await self.pc.set_local_description()
            await self.pc.wait_gathering_complete()
            offer = self.pc.local_description.to_dict()
        else:
            await self.pc.setLocalDescription(await self.pc.createOffer())
            offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        answer = await asyncio.wait_for(remote.answer(offer), 60)
        if self.stack == "ours":
            await self.pc.set_remote_description(Description.from_dict(answer))
        else:
            import aiortc

            await self.pc.setRemoteDescription(aiortc.RTCSessionDescription(**answer))
        await _wait_open(self.first)

    def state(self) -> str:
        if self.stack == "ours":
            return str(self.pc.connection_state)
        return str(self.pc.connectionState)

    def counters(self) -> str:
        """Our SCTP sender's counters (``--counters``: who waits for whom)."""
        if self.stack != "ours":
            return ""
        a = self.pc.core.sctp.association
        s = a.sender
        srtt = -1.0 if s.srtt is None else s.srtt
        return (
            f"t3={s.t3_expirations} fast_rtx={s.fast_retransmissions} rtx={s.retransmissions}"
            f" cwnd={s.cwnd} ssthresh={s.ssthresh} rto={s.rto:.3f} srtt={srtt:.4f}"
            f" peer_rwnd={s.peer_rwnd} rx={a.stats.packets_received} tx={a.stats.packets_sent}"
            f" dropped={a.stats.data_dropped} flight={s.flight} outstanding={s.outstanding}"
            f" pending={s.pending} t3_at={s.t3} state={a.state.name}"
            # datagrams in ÷ out while a peer sends to us: our read batch (our SACKs of
            # a batch leave in one datagram); cumulative over the connection
            f" udp_in={self.pc._driver.datagrams_received} udp_out={self.pc._driver.datagrams_sent}"
        )

    def ports(self) -> set[int]:
        if self.stack != "ours":
            return set()
        return {addr[1] for addr in self.pc._sockets}  # a diagnostic read

    def channel(self, label: str) -> Any:
        if self.stack == "ours":
            return self.pc.create_data_channel(label)
        return self.pc.createDataChannel(label)

    async def close(self) -> None:
        await self.pc.close()

    async def receive(self, remote: Remote, total: int, size: int) -> Sample:
        """peer → this side."""
        done = asyncio.Event()
        got = [0]
        marks: dict[str, float] = {}

        def on_message(message: str | bytes) -> None:
            if not got[0]:
                marks["first"] = time.perf_counter() - t0
            got[0] += len(message)
            if got[0] >= total:
                done.set()

        p0, c0, t0 = remote.cpu(), time.process_time(), time.perf_counter()
        channel = self.channel(f"bench-source:{total}:{size}")
        channel.on("message", on_message)
        channel.on("open", lambda *_: marks.setdefault("opened", time.perf_counter() - t0))
        seen, since = 0, t0
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1)
            now = time.perf_counter()
            if got[0] != seen:
                seen, since = got[0], now
            elif now - since > STALL_TIMEOUT or now - t0 > TRANSFER_TIMEOUT:
                raise TransferFailedError(f"stalled at {got[0] / 1e6:.2f} of {total / 1e6:.2f} MB")
        elapsed = time.perf_counter() - t0
        ours, p1 = time.process_time() - c0, remote.cpu()
        self.done.append(channel)  # closed with the connection (see :meth:`close`)
        mb = got[0] / 1e6
        sample = Sample(mb / elapsed, ours / mb, _per_mb(p0, p1, mb))
        sample.opened, sample.first = marks.get("opened"), marks.get("first")
        return sample

    async def send(self, remote: Remote, total: int, size: int) -> Sample:
        """this side → peer."""
        channel = self.channel(f"bench-sink:{total}")
        answer: asyncio.Future[str | bytes] = asyncio.get_running_loop().create_future()
        channel.on("message", lambda m: answer.done() or answer.set_result(m))
        await _wait_open(channel)
        p0, c0, t0 = remote.cpu(), time.process_time(), time.perf_counter()
        await send_all(channel, total, size)
        try:
            reply = await asyncio.wait_for(answer, STALL_TIMEOUT + HIGH_WATER / 1e5)
        except TimeoutError:
            raise TransferFailedError("all sent, no answer from the sink") from None
        elapsed = time.perf_counter() - t0
        ours, p1 = time.process_time() - c0, remote.cpu()
        if reply != f"done {total}":
            raise RuntimeError(f"the {remote.name} sink answered {reply!r}")
        self.done.append(channel)
        mb = total / 1e6
        return Sample(mb / elapsed, ours / mb, _per_mb(p0, p1, mb))


# --- the peers ---------------------------------------------------------------------------


class Remote(Protocol):
    """A peer that answers our offers, one connection per :meth:`answer`."""

    name: str

    async def start(self) -> None: ...
    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]: ...
    def cpu(self) -> float | None: ...  # CPU seconds of the peer's processes; None: ours
    async def self_bench(self, total: int, size: int) -> Sample | None: ...
    async def end_link(self) -> None: ...
    async def close(self) -> None: ...


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

    _pin_aioice()
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


async def _aiortc_child() -> None:
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
            sys.executable, os.path.abspath(__file__), "--aiortc-peer",
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
        for _ in range(links):
            spec = scenario_spec("bench", "we-offer", trickle=False)
            spec["peerChannels"] = []
            spec["timeoutMs"] = 1_800_000
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
        inbox = self.session.inbox(self.link)
        while True:
            msg = await inbox.get()
            if msg.get("kind") == "description":
                return dict(msg["description"])
            if msg.get("kind") == "error":
                raise RuntimeError(f"{self.name}: {msg.get('error')}")

    def cpu(self) -> float | None:
        return group_cpu(int(self.process.process.pid))

    async def end_link(self) -> None:
        assert self.session is not None
        self.session.send(self.link, {"kind": "end"})

    async def self_bench(self, total: int, size: int) -> Sample | None:
        if self.name == "pion":
            return await asyncio.to_thread(pion_to_pion, total, size)
        if self.name == "gstreamer":
            return await asyncio.to_thread(gst_to_gst, total, size)
        assert self.session is not None
        inbox = self.session.inbox(self.self_index[total, size])
        p0 = None
        async with asyncio.timeout(TRANSFER_TIMEOUT):
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
    """Pion → Pion: the peer program's ``-self-bench`` (two peer connections, one process)."""
    binary = build_pion_peer()
    done = subprocess.run(
        [str(binary), "-self-bench", str(total), str(size)],
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


# --- the run -----------------------------------------------------------------------------

#: One row's transfers: name → samples (one per repetition).
Row = dict[str, list[Sample]]


async def measure(remote: Remote, sizes: list[tuple[int, int]], rows: dict[int, Row]) -> None:
    """One launch: peer ↔ us and peer ↔ aiortc for each size, then peer → itself."""
    await remote.start()
    try:
        for stack in ("ours", "aiortc"):
            side = Side(stack, remote.name)
            failed: str | None = None
            try:
                await side.connect(remote)
            except (OSError, RuntimeError, TimeoutError) as exc:
                failed = f"no connection: {exc!r}"
            try:
                for total, size in sizes:
                    for name, transfer in (
                        (f"p->{stack}", side.receive),
                        (f"{stack}->p", side.send),
                    ):
                        if failed is not None:
                            rows[size][name].append(Sample(0.0, 0.0, None, failed))
                            continue
                        drops0 = udp_drops() if COUNTERS else {}
                        try:
                            sample = await transfer(remote, total, size)
                        except (OSError, RuntimeError, TimeoutError) as exc:
                            # A result (the connection is not used again): shown as such.
                            why = f"{exc}; {stack}'s connection {side.state()}"
                            sample = Sample(0.0, 0.0, None, why + _peer_note(remote))
                            failed = "not run: an earlier transfer on this connection failed"
                        rows[size][name].append(sample)
                        if COUNTERS and stack == "ours":
                            mine = side.ports()
                            drops = udp_drops()
                            ours_d = sum(drops[p] - drops0.get(p, 0) for p in drops if p in mine)
                            other = sum(drops[p] - drops0.get(p, 0) for p in drops if p not in mine)
                            start = ""
                            if sample.first is not None:
                                start = (f"open +{_fmt(sample.opened, '.3f')} s, first byte "
                                         f"+{sample.first:.3f} s ")  # fmt: skip
                            print(f"  {remote.name} {name} {size}: {sample.rate:.1f} MB/s {start}"
                                  f"{side.counters()} udp_drops ours={ours_d} others={other}",
                                  file=sys.stderr)  # fmt: skip
            finally:
                await side.close()
                await remote.end_link()
        for total, size in sizes:
            try:
                sample = await remote.self_bench(total, size)
            except TimeoutError:
                sample = Sample(0.0, 0.0, None, f"no result within {TRANSFER_TIMEOUT:g} s")
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                sample = Sample(0.0, 0.0, None, f"{exc}")
            if sample is None:  # aiortc: → itself is → aiortc
                sample = rows[size]["p->aiortc"][-1]
            rows[size]["p->self"].append(sample)
            if COUNTERS:
                print(f"  {remote.name} p->self {size}: {sample.rate:.1f} MB/s, "
                      f"{_fmt(sample.peer_cpu, '.4f')} CPU s/MB", file=sys.stderr)  # fmt: skip
    finally:
        await remote.close()


def _peer_note(remote: Remote) -> str:
    """The last connection state the launched peer logged, if it is one (a failed one
    says whose side gave up)."""
    log = getattr(getattr(remote, "process", None), "log_tail", None)
    if log is None:
        return ""
    states = [line for line in log(200).splitlines() if " pc " in line]
    return f"; the peer's log: {states[-1].strip()!r}" if states else ""


def _median(samples: list[Sample], what: str) -> float | None:
    """The median over the transfers that did not fail (None: none did, or no figure)."""
    values = [getattr(s, what) for s in samples if s.failure is None]
    if not values or any(v is None for v in values):
        return None
    return statistics.median(values)


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}×"


def _rate(samples: list[Sample]) -> str:
    """The median MB/s; "fail" when every repetition failed, a "*" when some did."""
    value = _median(samples, "rate")
    if value is None:
        return "fail"
    return f"{value:.1f}" + ("*" if any(s.failure for s in samples) else "")


def failures(label: str, size: int, row: Row) -> list[str]:
    """One note per failed transfer of the row."""
    return [
        f"{label}, {size:,} B, {name.replace('->', ' → ').replace('p', 'peer', 1)}: {s.failure}"
        for name, samples in row.items()
        for s in samples
        if s.failure
    ]


def format_row(label: str, size: int, row: Row) -> str:
    r = {name: _median(samples, "rate") for name, samples in row.items()}
    pus, usp = row["p->ours"], row["ours->p"]
    share = _median(pus, "peer_share")
    ours_share = _median(pus, "rate")
    ours_cpu = _median(pus, "ours_cpu")
    # → itself in our process (aiortc, one process): both of its ends are our process's.
    self_cpu = _median(row["p->self"], "peer_cpu") or _median(row["p->self"], "ours_cpu")
    ours_pct = None if ours_share is None or ours_cpu is None else 100 * ours_share * ours_cpu
    cells = [
        label,
        f"{size:,}",
        _rate(row["p->ours"]),
        _rate(row["p->aiortc"]),
        _rate(row["p->self"]),
        _ratio(r["p->ours"], r["p->aiortc"]),
        _ratio(r["p->ours"], r["p->self"]),
        _rate(row["ours->p"]),
        _rate(row["aiortc->p"]),
        _ratio(r["ours->p"], r["aiortc->p"]),
        f"{_fmt(ours_cpu, '.4f')} / {_fmt(_median(pus, 'peer_cpu'), '.4f')}",
        f"{_fmt(ours_pct, '.0f')} / {_fmt(None if share is None else 100 * share, '.0f')}",
        f"{_fmt(_median(usp, 'ours_cpu'), '.4f')} / {_fmt(_median(usp, 'peer_cpu'), '.4f')}",
        _fmt(self_cpu, ".4f"),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| peer | msg B | p→us | p→aiortc | p→self | p→us ÷ p→aiortc | p→us ÷ p→self "
    "| us→p | aiortc→p | us→p ÷ aiortc→p | p→us CPU s/MB us / p | p→us CPU % us / p "
    "| us→p CPU s/MB us / p | p→self CPU s/MB |\n" + "|---" * 14 + "|"
)


async def run(peers: list[str], mib: float, repeat: int, sizes: tuple[int, ...] = SIZES) -> str:
    """The whole table (markdown) for ``peers``; MB/s are medians of ``repeat`` launches."""
    plan = [(size * (int(mib * (1 << 20)) // size), size) for size in sizes]
    lines = [
        f"{mib:g} MiB per transfer, MB/s (medians of {repeat}); CPU: ours / the peer's",
        HEADER,
    ]
    notes: list[str] = []
    echo_lines: list[str] = []
    for peer in peers:
        if peer in ECHO_PEERS:
            from bench_interop_janus import run_echo

            more, failed = await run_echo(plan, repeat)
            echo_lines += more
            notes += failed
            continue
        for label, factory in REMOTES[peer]:
            rows: dict[int, Row] = {
                size: {k: [] for k in ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self")}
                for size in sizes
            }
            try:
                for _ in range(repeat):
                    await measure(factory(plan), plan, rows)
            except PeerUnavailableError as exc:
                print(f"{peer}: skipped ({exc})", file=sys.stderr)
                continue
            for size in sizes:
                line = format_row(f"{peer} ({label})", size, rows[size])
                print(line, flush=True)
                lines.append(line)
                notes += failures(f"{peer} ({label})", size, rows[size])
    if len(lines) == 2:  # only echo peers: no row of the main table
        lines = [lines[0].partition(";")[0]]
    lines += echo_lines
    if notes:
        lines += ["", "Failed transfers (fail, or * beside a median of the others):"]
        lines += [f"- {note}" for note in notes]
    anchor = []
    for total, size in plan:
        values = [await throughput("ours", size, total) for _ in range(repeat)]
        rate = statistics.median(v[0] for v in values)
        cpu = statistics.median(1 / v[1] for v in values)
        anchor.append(f"ours → ours (1 proc), {size:,} B: {rate:.1f} MB/s, {cpu:.4f} CPU s/MB")
    lines.append("")
    lines.extend(anchor)
    return "\n".join(lines)


if __name__ == "__main__":
    # bench_interop_janus.py imports this module by name: let it see this run's settings
    # (COUNTERS, OURS_SETTINGS) rather than a second copy of the module.
    sys.modules.setdefault("bench_interop", sys.modules["__main__"])
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS), help="comma-separated")
    parser.add_argument("--mib", type=float, default=32.0, help="MiB per transfer")
    parser.add_argument("--repeat", type=int, default=3, help="launches per peer (medians)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="message sizes")
    parser.add_argument("--dtls", help="our DTLS versions, e.g. 1.2 (default: ours)")
    parser.add_argument("--keylog", help="append our DTLS key log here (to decrypt a trace)")
    parser.add_argument("--counters", action="store_true", help="our SCTP counters (stderr)")
    parser.add_argument("--socket-buffer", type=int, help="our SO_RCVBUF/SO_SNDBUF request")
    parser.add_argument(
        "--no-sack-at-batch-end",
        action="store_true",
        help="ours: Settings(sctp_sack_at_batch_end=False), the delayed SACK",
    )
    parser.add_argument(
        "--sack-coalesce", action="store_true", help="ours: Settings.sctp_sack_coalesce"
    )
    parser.add_argument("--aiortc-peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aiortc_peer:
        asyncio.run(_aiortc_child())
        sys.exit(0)
    names = [p for p in args.peers.split(",") if p]
    unknown = [p for p in names if p not in REMOTES and p not in ECHO_PEERS]
    if unknown or args.mib <= 0 or args.repeat < 1:
        known = ", ".join([*REMOTES, *ECHO_PEERS])
        print(f"bench_interop: bad --peers/--mib/--repeat (peers: {known})",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    COUNTERS = args.counters
    if args.socket_buffer:
        import pyrtcstack.aio.peerconnection as aio_pc

        aio_pc.SOCKET_BUFFER = args.socket_buffer
    if args.dtls:
        OURS_SETTINGS["dtls_versions"] = tuple(args.dtls.split(","))
    if args.keylog:
        OURS_SETTINGS["keylog_file"] = args.keylog
    if args.no_sack_at_batch_end:
        OURS_SETTINGS["sctp_sack_at_batch_end"] = False
    if args.sack_coalesce:
        OURS_SETTINGS["sctp_sack_coalesce"] = True
    table = asyncio.run(
        run(names, args.mib, args.repeat, tuple(int(s) for s in args.sizes.split(",")))
    )
    print()
    print(table)
