"""Interop with an independent SCTP + DCEP implementation: aiortc's RTCSctpTransport.

aiortc's own tests run RTCSctpTransport over a pair of DTLS transports; here one end is
aiortc and the other is our DataChannelManager, joined by an in-process byte pipe that
plays the DTLS transport for aiortc (SCTP packets are DTLS application data, RFC 8261).
No crypto: this checks SCTP and DCEP, both directions, on real asyncio time.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from peers import require_module

from pyrtcstack.datachannel import (
    ChannelClosed,
    ChannelMessage,
    DataChannel,
    DataChannelManager,
    DataChannelOpened,
    TransportClosed,
)
from pyrtcstack.sctp import SctpConfig

pytestmark = pytest.mark.interop


class PipeDtls:
    """What RTCSctpTransport needs from an RTCDtlsTransport: a role, a state, a data
    receiver and ``_send_data``; here ``_send_data`` hands the packet to our side."""

    def __init__(self, role: str, deliver: Any) -> None:
        self._role = role
        self.state = "connected"
        self._data_receiver: Any = None
        self._deliver = deliver

    def _register_data_receiver(self, receiver: Any) -> None:
        self._data_receiver = receiver

    def _unregister_data_receiver(self, receiver: Any) -> None:
        self._data_receiver = None

    async def _send_data(self, data: bytes) -> None:
        self._deliver(data)


class OurSide:
    """Drives our DataChannelManager on the event loop: a timer handle re-armed from
    get_timer() after every drain, packets forwarded to aiortc in order."""

    def __init__(self, manager: DataChannelManager) -> None:
        self.manager = manager
        self.loop = asyncio.get_running_loop()
        self.events: list[Any] = []
        self.dtls: PipeDtls | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.timer: asyncio.TimerHandle | None = None
        self.changed = asyncio.Event()
        self.task = self.loop.create_task(self._forward())
        #: Optional filter on our packets to aiortc: return True to lose that packet.
        self.drop: Any = None

    async def _forward(self) -> None:
        while True:
            data = await self.queue.get()
            if self.drop is not None and self.drop(data):
                continue
            assert self.dtls is not None
            receiver = self.dtls._data_receiver
            if receiver is not None:
                await receiver._handle_data(data)

    def receive(self, data: bytes) -> None:
        self.manager.receive_packet(data, self.loop.time())
        self.pump()

    def pump(self) -> None:
        m = self.manager
        for p in m.packets_to_send(self.loop.time()):
            self.queue.put_nowait(p)
        event = m.next_event()
        while event is not None:
            self.events.append(event)
            event = m.next_event()
        for p in m.packets_to_send(self.loop.time()):
            self.queue.put_nowait(p)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        deadline = m.get_timer()
        if deadline is not None:
            self.timer = self.loop.call_at(deadline, self._on_timer)
        self.changed.set()

    def _on_timer(self) -> None:
        self.timer = None
        self.manager.handle_timer(self.loop.time())
        self.pump()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def close(self) -> None:
        self.task.cancel()
        if self.timer is not None:
            self.timer.cancel()


async def make_pair(
    our_role: str, we_initiate: bool, their_limit: int | None = None
) -> tuple[OurSide, Any, Any]:
    """``their_limit``: the max-message-size aiortc is told we accept (default: its own)."""
    aiortc = require_module("aiortc")
    from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport

    manager = DataChannelManager(
        SctpConfig(remote_max_message_size=262144, rto_initial=0.5, rto_min=0.2),
        dtls_role=our_role,
        rng=random.Random(7),
    )
    ours = OurSide(manager)
    their_role = "server" if our_role == "client" else "client"
    dtls = PipeDtls(their_role, ours.receive)
    ours.dtls = dtls
    sctp = RTCSctpTransport(dtls)  # type: ignore[arg-type]
    assert aiortc is not None
    if we_initiate:
        manager.connect(ours.loop.time())
        ours.pump()
    caps = sctp.getCapabilities()
    if their_limit is not None:
        caps = RTCSctpCapabilities(maxMessageSize=their_limit)
    await sctp.start(caps, 5000)
    await ours.wait_for(lambda: manager.association.is_established)
    return ours, sctp, aiortc


async def scenario(our_role: str, we_initiate: bool) -> None:
    ours, sctp, _aiortc = await make_pair(our_role, we_initiate)
    try:
        from aiortc import RTCDataChannel, RTCDataChannelParameters

        rng = random.Random(1)
        # 1. aiortc opens a channel: we see DATA_CHANNEL_OPEN, answer ACK.
        their_received: list[Any] = []
        theirs = RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc", protocol="x"))
        theirs.on("message", their_received.append)
        await ours.wait_for(lambda: any(isinstance(e, DataChannelOpened) for e in ours.events))
        opened = next(e.channel for e in ours.events if isinstance(e, DataChannelOpened))
        assert opened.label == "from-aiortc" and opened.protocol == "x"
        assert (opened.id or 0) % 2 == (0 if our_role == "server" else 1)
        # 2. we open a channel; aiortc emits "datachannel".
        remote_channels: list[Any] = []
        sctp.on("datachannel", remote_channels.append)
        mine = ours.manager.create_data_channel("from-us", ordered=True)
        ours.pump()
        for _ in range(200):
            if remote_channels and remote_channels[0].readyState == "open":
                break
            await asyncio.sleep(0.01)
        assert remote_channels and remote_channels[0].label == "from-us"
        assert (mine.id or 0) % 2 == (0 if our_role == "client" else 1)
        got_on_aiortc: list[Any] = []
        remote_channels[0].on("message", got_on_aiortc.append)
        # 3. messages both ways, small and large (up to aiortc's 256 KiB limit).
        sizes = [1, 2, 1000, 1200, 5000, 65536, 200_000, 262_144]
        payloads = [rng.randbytes(n) for n in sizes]
        for p in payloads:
            theirs.send(p)
        theirs.send("text message é")
        await ours.wait_for(
            lambda: (
                len([e for e in ours.events if isinstance(e, ChannelMessage)]) == len(sizes) + 1
            ),
            timeout=20,
        )
        msgs = [e.data for e in ours.events if isinstance(e, ChannelMessage)]
        assert msgs[:-1] == payloads and msgs[-1] == "text message é"
        for p in payloads:
            mine.send(p)
        mine.send("")
        mine.send("hello")
        ours.pump()
        for _ in range(2000):
            if len(got_on_aiortc) == len(sizes) + 2:
                break
            await asyncio.sleep(0.01)
        assert got_on_aiortc[: len(sizes)] == payloads
        assert got_on_aiortc[len(sizes) :] == ["", "hello"]
        # 4. close from each side: stream reset, both ends end up closed.
        mine.close()
        ours.pump()
        await ours.wait_for(lambda: mine.ready_state == "closed")
        for _ in range(300):
            if remote_channels[0].readyState == "closed":
                break
            await asyncio.sleep(0.01)
        assert remote_channels[0].readyState == "closed"
        theirs.close()
        await ours.wait_for(lambda: opened.ready_state == "closed")
        assert any(isinstance(e, ChannelClosed) and e.channel is opened for e in ours.events)
        for _ in range(300):
            if theirs.readyState == "closed":
                break
            await asyncio.sleep(0.01)
        assert theirs.readyState == "closed"
        # 5. the freed id is usable again.
        again: DataChannel = ours.manager.create_data_channel("again")
        ours.pump()
        assert again.id == mine.id
    finally:
        await sctp.stop()
        ours.close()


@pytest.mark.parametrize("our_role", ["client", "server"])
@pytest.mark.parametrize("we_initiate", [False, True], ids=["aiortc-inits", "both-init"])
def test_aiortc_interop(our_role: str, we_initiate: bool) -> None:
    asyncio.run(asyncio.wait_for(scenario(our_role, we_initiate), 60))


async def partial_reliability_scenario() -> None:
    """We lose the first transmission of a maxRetransmits=0 message: we must abandon it and
    send FORWARD TSN, and aiortc must skip it and deliver the next message."""
    from pyrtcstack.sctp import decode_packet
    from pyrtcstack.sctp.chunks import DataChunk

    ours, sctp, _aiortc = await make_pair("client", True)
    try:
        remote: list[Any] = []
        sctp.on("datachannel", remote.append)
        channel = ours.manager.create_data_channel("pr", max_retransmits=0)
        ours.pump()
        for _ in range(200):
            if remote and remote[0].readyState == "open":
                break
            await asyncio.sleep(0.01)
        assert remote and remote[0].maxRetransmits == 0 and remote[0].ordered
        got: list[Any] = []
        remote[0].on("message", got.append)

        def lose_doomed(data: bytes) -> bool:
            return any(
                isinstance(c, DataChunk) and c.data.startswith(b"doomed")
                for c in decode_packet(data).chunks
            )

        ours.drop = lose_doomed
        channel.send(b"doomed " * 10)
        ours.pump()
        await asyncio.sleep(0.05)
        channel.send(b"survivor")
        ours.pump()
        for _ in range(500):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [b"survivor"]
        assert ours.manager.association.sender.abandoned_messages == 1
    finally:
        await sctp.stop()
        ours.close()


def test_aiortc_skips_what_we_abandon() -> None:
    asyncio.run(asyncio.wait_for(partial_reliability_scenario(), 30))


async def lossy_scenario() -> None:
    """Every 7th packet we send to aiortc is lost: our retransmissions (fast retransmit on
    aiortc's gap reports, T3) must still deliver everything, in order, exactly once."""
    ours, sctp, _aiortc = await make_pair("server", False)
    try:
        remote: list[Any] = []
        sctp.on("datachannel", remote.append)
        channel = ours.manager.create_data_channel("lossy")
        ours.pump()
        for _ in range(200):
            if remote and remote[0].readyState == "open":
                break
            await asyncio.sleep(0.01)
        got: list[Any] = []
        remote[0].on("message", got.append)
        counter = {"n": 0}

        def every_seventh(data: bytes) -> bool:
            counter["n"] += 1
            return counter["n"] % 7 == 0

        ours.drop = every_seventh
        rng = random.Random(3)
        payloads = [rng.randbytes(rng.choice([10, 1500, 9000, 40000])) for _ in range(40)]
        for p in payloads:
            channel.send(p)
        ours.pump()
        for _ in range(3000):
            if len(got) == len(payloads):
                break
            await asyncio.sleep(0.01)
        assert got == payloads
        assert ours.manager.association.get_stats()["retransmissions"]
    finally:
        await sctp.stop()
        ours.close()


def test_lossy_link_to_aiortc() -> None:
    asyncio.run(asyncio.wait_for(lossy_scenario(), 60))


async def oversized_scenario() -> None:
    """A foreign sender past our max-message-size (issue 14 item 8): aiortc, told we take
    any size, sends 4 MiB on a channel. We abort (Protocol Violation) once the partial
    message passes our 256 KiB, holding no more than the window meanwhile; aiortc closes."""
    ours, sctp, _aiortc = await make_pair("server", False, their_limit=0)
    try:
        from aiortc import RTCDataChannel, RTCDataChannelParameters

        theirs = RTCDataChannel(sctp, RTCDataChannelParameters(label="big"))
        await ours.wait_for(lambda: any(isinstance(e, DataChannelOpened) for e in ours.events))
        receiver = ours.manager.association.receiver
        assert receiver is not None and ours.dtls is not None
        peak = 0

        def watch(data: bytes) -> None:
            nonlocal peak
            ours.receive(data)
            peak = max(peak, receiver.buffered)

        ours.dtls._deliver = watch
        theirs.send(bytes(4 << 20))
        await ours.wait_for(
            lambda: any(isinstance(e, TransportClosed) for e in ours.events), timeout=20
        )
        closed = next(e for e in ours.events if isinstance(e, TransportClosed))
        assert closed.error is not None and "max-message-size" in closed.error
        assert 0 < peak <= receiver.capacity
        for _ in range(300):
            if sctp.state == "closed":
                break
            await asyncio.sleep(0.01)
        assert sctp.state == "closed"
    finally:
        await sctp.stop()
        ours.close()


def test_aiortc_message_over_our_limit_aborts() -> None:
    asyncio.run(asyncio.wait_for(oversized_scenario(), 60))
