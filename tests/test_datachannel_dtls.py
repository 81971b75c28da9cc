"""Data channels over our own DTLS, end to end: in memory and on loopback UDP.

SCTP packets are DTLS application data (RFC 8261 §5). The small composite below is what
the peer connection will do: DTLS records in and out, their plaintext fed to the data
channel manager, the SCTP association started once the handshake completes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from pyrtcstack.aio.endpoint import open_endpoint
from pyrtcstack.common.core import Address, Event
from pyrtcstack.datachannel import (
    ChannelClosed,
    ChannelMessage,
    DataChannelManager,
    DataChannelOpened,
)
from pyrtcstack.dtls import DtlsConnection, DtlsRole
from pyrtcstack.dtls.events import HandshakeCompleted
from pyrtcstack.sctp import SctpConfig
from pyrtcstack.testing.pair import Impairment, MemoryNetwork
from tests.test_dtls_helpers import certificate


class DtlsDataChannels:
    """DTLS + data channels as one datagram core."""

    def __init__(self, dtls: DtlsConnection, role: str, seed: int) -> None:
        self.dtls = dtls
        self.dcm = DataChannelManager(
            SctpConfig(remote_max_message_size=262144), dtls_role=role, rng=random.Random(seed)
        )
        self.handshake_done = False

    def _pump(self, now: float) -> None:
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.handshake_done = True
                self.dcm.connect(now)  # both ends INIT (RFC 8841 §9.3)
        if self.handshake_done:
            self.dcm.receive_packets(self.dtls.take_application_data(), now)

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.dtls.receive_datagram(data, addr, now)
        self._pump(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        self._pump(now)
        if self.handshake_done:
            for packet in self.dcm.packets_to_send(now):
                self.dtls.send(packet)
        return self.dtls.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        timers = [self.dtls.get_timer()]
        if self.handshake_done:
            timers.append(self.dcm.get_timer())
        due = [t for t in timers if t is not None]
        return min(due) if due else None

    def handle_timer(self, now: float) -> None:
        self.dtls.handle_timer(now)
        if self.handshake_done:
            self.dcm.handle_timer(now)

    def next_event(self) -> Event | None:
        return self.dcm.next_event()


def _pair(seed: int, client_addr: Address, server_addr: Address) -> tuple[Any, Any]:
    ccert, scert = certificate(3000 + seed), certificate(4000 + seed)
    client = DtlsConnection(
        DtlsRole.CLIENT,
        certificate=ccert,
        remote_fingerprints=[scert.fingerprint()],
        remote_address=server_addr,
        rng=random.Random(seed),
    )
    server = DtlsConnection(
        DtlsRole.SERVER,
        certificate=scert,
        remote_fingerprints=[ccert.fingerprint()],
        remote_address=client_addr,
        rng=random.Random(seed + 1),
    )
    return DtlsDataChannels(client, "client", seed), DtlsDataChannels(server, "server", seed + 7)


def _script(a: DtlsDataChannels, b: DtlsDataChannels) -> tuple[Any, Any, list[bytes]]:
    ca = a.dcm.create_data_channel("from-client")
    cb = b.dcm.create_data_channel("from-server", ordered=False)
    rng = random.Random(5)
    payloads = [rng.randbytes(n) for n in (1, 1200, 16384, 100_000, 262_144)]
    return ca, cb, payloads


@pytest.mark.parametrize("seed", [1, 2])
def test_over_dtls_in_memory_with_loss(seed: int) -> None:
    caddr, saddr = ("10.0.0.1", 4000), ("10.0.0.2", 5000)
    a, b = _pair(seed, caddr, saddr)
    net = MemoryNetwork(Impairment(loss=0.05, reorder=0.05, delay=0.01), seed=seed)
    net.add(caddr, a)
    net.add(saddr, b)
    ca, cb, payloads = _script(a, b)
    b.dtls.start(net.now)
    a.dtls.start(net.now)

    def received(addr: Address) -> list[Any]:
        return [e.data for e in net.events[addr] if isinstance(e, ChannelMessage)]

    assert net.run(lambda: ca.ready_state == cb.ready_state == "open", 60)
    for p in payloads:
        ca.send(p)
        cb.send(p)
    ca.send("done")
    assert net.run(
        lambda: len(received(saddr)) == len(payloads) + 1 and len(received(caddr)) == len(payloads),
        300,
    )
    assert received(saddr) == [*payloads, "done"]
    assert sorted(received(caddr)) == sorted(payloads)
    labels = {e.channel.label for e in net.events[saddr] if isinstance(e, DataChannelOpened)}
    assert labels == {"from-client"}
    ca.close()
    assert net.run(lambda: ca.ready_state == "closed", 60)
    assert net.run(lambda: any(isinstance(e, ChannelClosed) for e in net.events[saddr]), 60)


def test_over_dtls_on_loopback_udp() -> None:
    async def main() -> None:
        a, b = _pair(3, ("127.0.0.1", 0), ("127.0.0.1", 0))
        events_a: list[Event] = []
        events_b: list[Event] = []
        ea = await open_endpoint(a, on_event=events_a.append)
        eb = await open_endpoint(b, on_event=events_b.append)
        try:
            a.dtls.remote_address = eb.local_address
            b.dtls.remote_address = ea.local_address
            ca, cb, payloads = _script(a, b)
            loop = asyncio.get_running_loop()
            b.dtls.start(loop.time())
            a.dtls.start(loop.time())
            ea.drain()
            eb.drain()

            async def until(predicate: Any, timeout: float = 20.0) -> None:
                deadline = loop.time() + timeout
                while not predicate():
                    assert loop.time() < deadline, "timed out"
                    await asyncio.sleep(0.005)

            await until(lambda: ca.ready_state == cb.ready_state == "open")
            for p in payloads:
                ca.send(p)
                cb.send(p)
            ea.drain()
            eb.drain()
            got_b = lambda: [e.data for e in events_b if isinstance(e, ChannelMessage)]  # noqa: E731
            got_a = lambda: [e.data for e in events_a if isinstance(e, ChannelMessage)]  # noqa: E731
            await until(lambda: len(got_b()) == len(payloads) and len(got_a()) == len(payloads))
            assert got_b() == payloads
            assert sorted(got_a()) == sorted(payloads)
            cb.close()
            eb.drain()
            await until(lambda: cb.ready_state == "closed")
        finally:
            ea.close()
            eb.close()

    asyncio.run(asyncio.wait_for(main(), 60))
