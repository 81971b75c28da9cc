"""Slow start when the receiver acknowledges a whole batch of packets with one SACK.

RFC 9260 §7.2.1 grows cwnd by at most min(acknowledged bytes, MTU) per SACK, which assumes
a SACK every second packet (§6.2). Our receiver (and the peer connection's read batches)
acknowledge many packets at once, so the sender counts bytes: half of what a SACK
acknowledges, never more than that (docs/sctp.md, Deviations).
"""

from __future__ import annotations

import itertools
import random

from pyrtcstack.sctp import Association, SctpConfig
from pyrtcstack.sctp.chunks import SackChunk


def _established(max_burst: int = 64) -> tuple[Association, Association]:
    cfg = SctpConfig(remote_max_message_size=0, max_burst=max_burst)
    a = Association(cfg, rng=random.Random(1))
    b = Association(SctpConfig(max_burst=max_burst), rng=random.Random(2))
    a.connect(0.0)
    for _ in range(10):
        for p in a.packets_to_send(0.0):
            b.receive_packet(p, 0.0)
        for p in b.packets_to_send(0.0):
            a.receive_packet(p, 0.0)
    assert a.is_established and b.is_established
    return a, b


def _rounds(a: Association, b: Association, n: int) -> list[int]:
    """Packets a sends per round when b acknowledges each round with one SACK."""
    sizes = []
    now = 0.0
    for _ in range(n):
        now += 0.001
        packets = a.packets_to_send(now)
        sizes.append(len(packets))
        for p in packets:
            b.receive_packet(p, now)
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
        while b.next_event() is not None:
            pass
    return sizes


def test_batch_sacks_grow_the_window_geometrically() -> None:
    a, b = _established()
    for _ in range(400):
        a.send(1, bytes(16384), 53)
    sizes = _rounds(a, b, 12)
    # 4 packets at first (the initial cwnd), about x1.5 per round, up to Max.Burst + 1.
    assert sizes[0] == 4
    assert all(later >= earlier for earlier, later in itertools.pairwise(sizes))
    assert sizes[4] >= 2 * sizes[1]
    assert max(sizes) == 65 and sizes[-1] == 65


def test_growth_per_sack_is_bounded_by_the_acknowledged_bytes() -> None:
    a, _ = _established(max_burst=1000)
    s = a._sender
    for _ in range(50):
        a.send(1, bytes(16384), 53)
    a.packets_to_send(0.0)
    before = s.cwnd
    mtu = s.mtu
    # A SACK that acknowledges one chunk of a full window: at most that chunk's bytes.
    s.on_sack(SackChunk(s.cum_ack + 1 & 0xFFFFFFFF, 1 << 20), 0.01)
    assert 0 < s.cwnd - before <= mtu
    # Fill the window again; a SACK for all of it adds half of it.
    a.packets_to_send(0.01)
    before = s.cwnd
    flight = s.flight
    assert flight + mtu >= before  # the window is in use (§7.2.1)
    s.on_sack(SackChunk((s.next_tsn - 1) & 0xFFFFFFFF, 1 << 20), 0.02)
    assert s.cwnd - before == flight // 2


def test_no_growth_when_the_window_is_not_used() -> None:
    a, b = _established()
    s = a._sender
    a.send(1, bytes(100), 53)
    before = s.cwnd
    _rounds(a, b, 3)
    assert s.cwnd == before
