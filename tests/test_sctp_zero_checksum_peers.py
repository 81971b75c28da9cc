"""Zero Checksum Acceptable (RFC 9653) and peers that cannot parse it.

pion/sctp up to 1.8.x (Pion WebRTC 3.1.56, Debian's) fails to parse an INIT or INIT ACK
that carries the parameter 0x8001 ("Unknown ParamType: 32769") and drops the packet
without an answer, where RFC 9260 §3.2.1 says to skip it (its upper bits are 10). The
fake peer here does the same: our own association with ``zero_checksum=False`` behind a
filter that drops every packet whose INIT or INIT ACK carries the parameter.
"""

from __future__ import annotations

import random

import pytest

from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.sctp import Association, DatagramAdapter, MessageReceived, SctpConfig, decode_packet
from pyrtcstack.sctp.chunks import InitChunk
from pyrtcstack.sctp.params import ParamType
from pyrtcstack.testing.pair import MemoryNetwork

A = ("10.0.0.1", 5000)
B = ("10.0.0.2", 5000)


def _init_chunks(packet: bytes) -> list[InitChunk]:
    """The INIT / INIT ACK chunks of a packet (InitAckChunk is an InitChunk)."""
    return [c for c in decode_packet(packet).chunks if isinstance(c, InitChunk)]


def _announces(packet: bytes) -> bool:
    return any(
        c.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE) is not None for c in _init_chunks(packet)
    )


class PionLike(DatagramAdapter):
    """Drops, unanswered, any packet whose INIT / INIT ACK has Zero Checksum Acceptable."""

    def __init__(self, core: Association, peer: tuple[str, int]) -> None:
        super().__init__(core, peer)
        self.rejected = 0

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if _announces(data):
            self.rejected += 1  # "unable to parse SCTP packet", nothing sent back
            return
        super().receive_datagram(data, addr, now)


def _network(
    ours: SctpConfig, *, both: bool, peer_initiates: bool = True
) -> tuple[MemoryNetwork, Association, Association, PionLike]:
    a = Association(ours, rng=random.Random(1))
    b = Association(SctpConfig(zero_checksum=False), rng=random.Random(2))
    net = MemoryNetwork(seed=0)
    net.add(A, DatagramAdapter(a, B))
    pion = PionLike(b, A)
    net.add(B, pion)
    if both or not peer_initiates:
        a.connect(net.now)
    if both or peer_initiates:
        b.connect(net.now)
    return net, a, b, pion


@pytest.mark.parametrize(("both", "peer_initiates"), [(True, True), (False, False), (False, True)])
def test_a_peer_that_rejects_the_parameter_still_connects(both: bool, peer_initiates: bool) -> None:
    net, a, b, pion = _network(SctpConfig(), both=both, peer_initiates=peer_initiates)
    assert net.run(lambda: a.is_established and b.is_established, 30)
    # Our first INIT or INIT ACK announced it and went unanswered; the next one did not.
    ours = [d.data for d in net.sent if d.src == A and _init_chunks(d.data)]
    assert _announces(ours[0]) and not _announces(ours[-1])
    assert pion.rejected >= 1
    # Within one T1-init (1 s) or the peer's INIT retransmission, not after Max.Init.Retransmits.
    assert net.now < 5.0
    # Data flows, with a CRC-32C: the peer never announced zero checksum.
    a.send(1, b"x" * 3000, 53)
    net.run(lambda: any(isinstance(e, MessageReceived) for e in net.events[B]), 10)
    assert any(isinstance(e, MessageReceived) for e in net.events[B])
    data = [d.data for d in net.sent if d.src == A and d.data[12] == 0]
    assert data and all(p[8:12] != bytes(4) for p in data)


def test_off_never_announces_it() -> None:
    net, a, b, pion = _network(SctpConfig(zero_checksum=False), both=True)
    assert net.run(lambda: a.is_established and b.is_established, 30)
    assert pion.rejected == 0
    assert net.now < 0.5  # no T1 wait


def test_a_peer_that_understands_it_keeps_zero_checksum() -> None:
    """The fallback costs nothing with a peer that answers: one INIT, zero checksum."""
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    net = MemoryNetwork(seed=0)
    net.add(A, DatagramAdapter(a, B))
    net.add(B, DatagramAdapter(b, A))
    a.connect(net.now)
    b.connect(net.now)
    assert net.run(lambda: a.is_established and b.is_established, 30)
    assert all(_announces(d.data) for d in net.sent if _init_chunks(d.data))
    assert a.sends_zero_checksum and b._send_zero_checksum


def test_a_lost_init_only_costs_the_announcement() -> None:
    """T1 cannot tell a lost INIT from a rejected one: the retransmission goes without the
    parameter, and the association works (with CRC-32C)."""
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    a.connect(0.0)
    assert _announces(a.packets_to_send(0.0)[0])  # lost
    a.handle_timer(a.get_timer() or 0.0)
    (again,) = a.packets_to_send(1.0)
    assert not _announces(again)
    b.receive_packet(again, 1.0)
    for _ in range(4):
        for p in b.packets_to_send(1.0):
            a.receive_packet(p, 1.0)
        for p in a.packets_to_send(1.0):
            b.receive_packet(p, 1.0)
    assert a.is_established and b.is_established
    assert not b._send_zero_checksum  # we did not announce it in the end
    assert a.sends_zero_checksum  # b did: we may send 0 to b


def test_settings_switch_reaches_the_association() -> None:
    assert PeerConnectionCore(settings=Settings()).sctp_config.zero_checksum
    pc = PeerConnectionCore(settings=Settings(sctp_zero_checksum=False))
    assert not pc.sctp_config.zero_checksum
