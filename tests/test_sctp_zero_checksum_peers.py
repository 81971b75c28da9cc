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
from pyrtcstack.sctp import Association, DatagramAdapter, MessageReceived, SctpConfig
from pyrtcstack.sctp.chunks import InitAckChunk
from pyrtcstack.sctp.handshake import Handshake
from pyrtcstack.testing.pair import MemoryNetwork
from tests.sctp_pairs import announces_zero_checksum, init_chunks

A = ("10.0.0.1", 5000)
B = ("10.0.0.2", 5000)


class PionLike(DatagramAdapter):
    """Drops, unanswered, any packet whose INIT / INIT ACK has Zero Checksum Acceptable;
    counts the INIT ACKs it takes in COOKIE-WAIT (the only place pion/sctp sets its
    ssthresh, from the INIT ACK's a_rwnd)."""

    def __init__(self, core: Association, peer: tuple[str, int]) -> None:
        super().__init__(core, peer)
        self.rejected = 0
        self.init_acks_taken = 0

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if announces_zero_checksum(data):
            self.rejected += 1  # "unable to parse SCTP packet", nothing sent back
            return
        if self.core.state.name == "COOKIE_WAIT" and any(
            isinstance(c, InitAckChunk) for c in init_chunks(data)
        ):
            self.init_acks_taken += 1
        super().receive_datagram(data, addr, now)


def _network(
    ours: SctpConfig, *, both: bool, peer_initiates: bool = True, peer_rto: float = 1.0
) -> tuple[MemoryNetwork, Association, Association, PionLike]:
    a = Association(ours, rng=random.Random(1))
    peer = SctpConfig(zero_checksum=False, rto_initial=peer_rto)
    b = Association(peer, rng=random.Random(2))
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
    ours = [d.data for d in net.sent if d.src == A and init_chunks(d.data)]
    if both or not peer_initiates:
        # Our first INIT announced it and went unanswered; the next one did not.
        assert announces_zero_checksum(ours[0]) and not announces_zero_checksum(ours[-1])
        assert pion.rejected >= 1
    else:
        # Our INIT ACK answers an INIT that did not announce it: without it, at once.
        assert not any(announces_zero_checksum(p) for p in ours)
        assert pion.rejected == 0 and net.now < 0.5
    # Within one T1-init (1 s) or the peer's INIT retransmission, not after Max.Init.Retransmits.
    assert net.now < 5.0
    # Data flows, with a CRC-32C: the peer never announced zero checksum.
    a.send(1, b"x" * 3000, 53)
    net.run(lambda: any(isinstance(e, MessageReceived) for e in net.events[B]), 10)
    assert any(isinstance(e, MessageReceived) for e in net.events[B])
    data = [d.data for d in net.sent if d.src == A and d.data[12] == 0]
    assert data and all(p[8:12] != bytes(4) for p in data)


def test_a_pion_like_peer_takes_our_init_ack_at_once() -> None:
    """Both ends send INIT (RFC 8841 §9.3), the peer's T1-init is pion/sctp's 3 s. Our
    INIT ACK must be one the peer can parse: else its own handshake never completes, its
    association opens through our COOKIE ECHO about 1 s later (our INIT's first
    retransmission), and pion/sctp, which sets its ssthresh only from an INIT ACK, keeps
    ssthresh 0: no slow start towards us for the association's life (docs/sctp.md)."""
    net, a, b, pion = _network(SctpConfig(), both=True, peer_rto=3.0)
    assert net.run(lambda: a.is_established and b.is_established, 30)
    assert pion.init_acks_taken == 1
    assert net.now < 0.5  # no T1 wait
    assert pion.rejected == 1  # our INIT, which announces it; never our INIT ACK
    assert not a.sends_zero_checksum and not b._send_zero_checksum


def test_our_init_ack_announces_it_only_to_an_init_that_did() -> None:
    """RFC 9653 §5.1: the INIT ACK mirrors the INIT's Zero Checksum Acceptable."""
    for peer_announces in (False, True):
        ours = Association(SctpConfig(), rng=random.Random(1))
        peer = Association(SctpConfig(zero_checksum=peer_announces), rng=random.Random(2))
        peer.connect(0.0)
        (init,) = peer.packets_to_send(0.0)
        assert announces_zero_checksum(init) is peer_announces
        ours.receive_packet(init, 0.0)
        (ack,) = ours.packets_to_send(0.0)
        assert isinstance(init_chunks(ack)[0], InitAckChunk)
        assert announces_zero_checksum(ack) is peer_announces
    assert Handshake.extension_params  # the INIT itself still announces it (above, ours)


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
    assert all(announces_zero_checksum(d.data) for d in net.sent if init_chunks(d.data))
    assert a.sends_zero_checksum and b._send_zero_checksum


def test_a_lost_init_only_costs_the_announcement() -> None:
    """T1 cannot tell a lost INIT from a rejected one: the retransmission goes without the
    parameter, the INIT ACK answering it too, and the association works (with CRC-32C)."""
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    a.connect(0.0)
    assert announces_zero_checksum(a.packets_to_send(0.0)[0])  # lost
    a.handle_timer(a.get_timer() or 0.0)
    (again,) = a.packets_to_send(1.0)
    assert not announces_zero_checksum(again)
    b.receive_packet(again, 1.0)
    for _ in range(4):
        for p in b.packets_to_send(1.0):
            a.receive_packet(p, 1.0)
        for p in a.packets_to_send(1.0):
            b.receive_packet(p, 1.0)
    assert a.is_established and b.is_established
    assert not b._send_zero_checksum  # we did not announce it in the end
    # b's INIT ACK mirrors the INIT it answers (RFC 9653 §5.1): neither way uses 0 then.
    assert not a.sends_zero_checksum


def test_settings_switch_reaches_the_association() -> None:
    assert PeerConnectionCore(settings=Settings()).sctp_config.zero_checksum
    pc = PeerConnectionCore(settings=Settings(sctp_zero_checksum=False))
    assert not pc.sctp_config.zero_checksum
