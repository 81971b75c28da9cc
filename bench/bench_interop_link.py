"""bench_interop.py's links: our end of one connection with a peer (:class:`Side`: ours or
aiortc), what a peer must offer it (:class:`Remote`), one transfer's figures
(:class:`Sample`) and the sender both ends use (:func:`send_all`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any, Protocol

from bench_interop_counters import ours_counters, ours_ports
from bench_pc import HIGH_WATER, LOW_WATER, _buffered, _set_low

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.interop.matrix import loopback_settings
from pyrtcstack.peerconnection import Description

#: Seconds one transfer may take before the run gives up on it.
TRANSFER_TIMEOUT = 300.0
#: Seconds without progress (no byte received, nothing left the send buffer) after which
#: a transfer counts as failed (the connection is then not used for the rest of the run).
STALL_TIMEOUT = 20.0
#: Changes to our side's :func:`loopback_settings` (``--dtls``, ``--keylog``: to trace).
OURS_SETTINGS: dict[str, Any] = {}
#: ``--peer-offers``: a harness peer offers (its channel ``chat``) and we answer, so the
#: roles flip (DTLS: we are the client; SCTP: both ends send INIT); aiortc still answers us.
PEER_OFFERS = False
#: ``--third pion``: a third receiver of each harness peer's sender, beside us and aiortc
#: (bench_interop_peers.py, :meth:`HarnessPeer.third_bench`); None: no such rows.
THIRD: str | None = None


class TransferFailedError(RuntimeError):
    """A transfer stalled, timed out or its connection failed (a result, shown as such)."""


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
    #: ``--third``: the third receiver's CPU s/MB (its own process).
    third_cpu: float | None = None

    @property
    def peer_share(self) -> float | None:
        """The peer's CPU seconds per wall second during the transfer."""
        return None if self.peer_cpu is None else self.peer_cpu * self.rate


def per_mb(before: float | None, after: float | None, mb: float) -> float | None:
    return None if before is None or after is None else (after - before) / mb


def pin_aioice(address: str = "127.0.0.1") -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda *a, **k: [address]  # INTEROP.md


async def wait_open(channel: Any) -> None:
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


class Remote(Protocol):
    """A peer that answers our offers, one connection per :meth:`answer`."""

    name: str

    async def start(self) -> None: ...
    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]: ...
    def cpu(self) -> float | None: ...  # CPU seconds of the peer's processes; None: ours
    async def self_bench(self, total: int, size: int) -> Sample | None: ...
    async def end_link(self) -> None: ...
    async def close(self) -> None: ...


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
            if not PEER_OFFERS:
                self.first = self.pc.create_data_channel("chat")
        else:
            import aiortc

            pin_aioice(address)
            self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
            self.first = self.pc.createDataChannel("chat")

    async def connect(self, remote: Remote) -> None:
        if self.stack == "ours" and PEER_OFFERS and hasattr(remote, "offer"):
            return await self._answer(remote)
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
        await wait_open(self.first)

    async def _answer(self, remote: Any) -> None:
        """``--peer-offers``: the peer offers (its channel ``chat``), we answer."""
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pc.on("datachannel", lambda ch: opened.done() or opened.set_result(ch))
        offer = await asyncio.wait_for(remote.offer(), 60)
        await self.pc.set_remote_description(Description.from_dict(offer))
        await self.pc.set_local_description()
        await self.pc.wait_gathering_complete()
        await remote.send_answer(self.pc.local_description.to_dict())
        self.first = await asyncio.wait_for(opened, 60)
        await wait_open(self.first)

    def state(self) -> str:
        if self.stack == "ours":
            return str(self.pc.connection_state)
        return str(self.pc.connectionState)

    def counters(self) -> str:
        """Our SCTP sender's counters (``--counters``: who waits for whom)."""
        return ours_counters(self.pc) if self.stack == "ours" else ""

    def ports(self) -> set[int]:
        """Our sockets' local ports (``--counters``: their drops are ours)."""
        return ours_ports(self.pc) if self.stack == "ours" else set()

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
        sample = Sample(mb / elapsed, ours / mb, per_mb(p0, p1, mb))
        sample.opened, sample.first = marks.get("opened"), marks.get("first")
        return sample

    async def send(self, remote: Remote, total: int, size: int) -> Sample:
        """this side → peer."""
        channel = self.channel(f"bench-sink:{total}")
        answer: asyncio.Future[str | bytes] = asyncio.get_running_loop().create_future()
        channel.on("message", lambda m: answer.done() or answer.set_result(m))
        await wait_open(channel)
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
        return Sample(mb / elapsed, ours / mb, per_mb(p0, p1, mb))
