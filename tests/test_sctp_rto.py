"""RTO.Min for data channels (docs/sctp.md "RTO.Min for data channels").

The PeerConnection gives SCTP ``Settings.sctp_rto_min`` (0.4 s, as dcSCTP) instead of
RFC 9260 §16's 1 s. These tests hold both sides of that choice on the virtual clock: a
lost last packet of a burst (no later SACKs, so no §7.2.4 fast retransmit) is resent by
T3-rtx after 0.4 s, and on a 50 ms RTT path whose receiver delays its SACKs by the full
200 ms the timer never fires spuriously.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pyrtcstack.common.core import Address
from pyrtcstack.peerconnection.config import Settings
from pyrtcstack.sctp import (
    Association,
    DatagramAdapter,
    MessageReceived,
    SctpConfig,
    decode_packet,
)
from pyrtcstack.sctp.chunks import DataChunk
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

A = ("10.0.0.1", 5000)
B = ("10.0.0.2", 5000)


def _pair(impairment: Impairment) -> tuple[Association, Association, MemoryNetwork]:
    cfg = SctpConfig(rto_min=Settings().sctp_rto_min, rto_initial=Settings().sctp_rto_initial)
    a = Association(cfg, rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    net = MemoryNetwork(impairment, seed=3)
    net.add(A, DatagramAdapter(a, B))
    net.add(B, DatagramAdapter(b, A))
    a.connect(net.now)
    assert net.run(lambda: a.is_established and b.is_established, 120)
    return a, b, net


def _delivered(net: MemoryNetwork) -> int:
    return sum(1 for e in net.events[B] if isinstance(e, MessageReceived))


def _reached(net: MemoryNetwork, count: int) -> Callable[[], bool]:
    return lambda: _delivered(net) == count


def test_data_channel_rto_min_is_dcsctps() -> None:
    assert Settings().sctp_rto_min == 0.4
    assert SctpConfig().rto_min == 1.0  # the bare SCTP core keeps RFC 9260 §16's value


def test_lost_tail_of_a_burst_is_resent_after_rto_min() -> None:
    dropped: list[float] = []
    target_tsn: list[int] = []

    def drop_tail(data: bytes, src: Address, dst: Address) -> bool:
        if src != A or dropped or not target_tsn:
            return False
        for chunk in decode_packet(data).chunks:
            if isinstance(chunk, DataChunk) and chunk.tsn == target_tsn[0]:
                dropped.append(net.now)
                return True
        return False

    a, _, net = _pair(Impairment(delay=0.025, drop_if=drop_tail))
    # Learn the RTT with a few small messages, then send one burst and lose its last packet.
    for _ in range(10):
        a.send(1, b"w" * 500, 53)
        net.run(lambda: False, 0.3)
    assert a.sender.srtt is not None and a.sender.rto == 0.4
    base = _delivered(net)
    target_tsn.append(a.sender.next_tsn + 2)
    for _ in range(3):
        a.send(1, b"t" * 1000, 53)
    assert net.run(lambda: _delivered(net) == base + 3, 10)
    assert dropped and a.sender.t3_expirations == 1
    # RTO 0.4 s, restarted by the SACK of the burst's first packets (RFC 9260 §6.3.2 R3),
    # plus the hops: ~0.53 s. RFC 9260 §16's 1 s takes > 1 s here.
    assert net.now - dropped[0] < 0.8


def test_no_spurious_retransmission_on_a_50_ms_path_with_delayed_sacks() -> None:
    a, _, net = _pair(Impairment(delay=0.025))
    sent = 0
    # Bulk transfers (SACK every second packet: RTT samples of ~50 ms pull RTO down to
    # RTO.Min), each followed by a lone small message that the receiver SACKs only when its
    # 200 ms delayed-SACK timer fires (RFC 9260 §6.2): ~250 ms, the worst case for RTO.Min.
    for _ in range(15):
        for _ in range(40):
            a.send(1, b"y" * 16384, 53)
        sent += 40
        assert net.run(_reached(net, sent), 60)
        a.send(1, b"x" * 300, 53)
        sent += 1
        net.run(lambda: False, 0.6)
    assert _delivered(net) == sent
    assert a.sender.t3_expirations == 0
    assert a.sender.retransmissions == 0
    assert a.sender.fast_retransmissions == 0
