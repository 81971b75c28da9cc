"""Slow start and Max.Burst when packets and SACKs come in batches.

RFC 9260 §7.2.1 grows cwnd by at most min(acknowledged bytes, MTU) per SACK while the
window is in use, and §6.2 has the receiver SACK every second packet. A receiver fed a
batch of packets builds one SACK per two packets, all leaving at the batch's end; the
sender reads them at once, with no send in between: each still counts as a transmission
opportunity of Max.Burst packets (§6.1 D) and sees the window as in use if the last send
left it so. Against receivers that acknowledge more per SACK the sender counts bytes: half
of what a SACK acknowledges, never more than that (docs/sctp.md, Deviations).
"""

from __future__ import annotations

import itertools
import random

from pyrtcstack.sctp import Association, SctpConfig
from tests.sctp_pairs import handshake


def _established(max_burst: int = 4) -> tuple[Association, Association]:
    cfg = SctpConfig(remote_max_message_size=0, max_burst=max_burst)
    a = Association(cfg, rng=random.Random(1))
    b = Association(SctpConfig(max_burst=max_burst), rng=random.Random(2))
    handshake(a, b)
    return a, b


def _rounds(a: Association, b: Association, n: int, sacks: list[int] | None = None) -> list[int]:
    """Packets a sends per round; each round's packets reach b as one batch, and b's
    answer reaches a as one batch."""
    sizes = []
    now = 0.0
    for _ in range(n):
        now += 0.001
        packets = a.packets_to_send(now)
        sizes.append(len(packets))
        b.receive_packets(packets, now)
        answer = b.packets_to_send(now)
        if sacks is not None:
            sacks.append(len(answer))
        a.receive_packets(answer, now)
        while b.next_event() is not None:
            pass
    return sizes


def test_batch_sacks_grow_the_window_geometrically() -> None:
    """Max.Burst 4 (RFC 9260 §16) and batches both ways: slow start still grows the window
    x1.5 per round, as with one packet and one SACK at a time."""
    a, b = _established()
    for _ in range(400):
        a.send(1, bytes(16384), 53)
    sacks: list[int] = []
    sizes = _rounds(a, b, 12, sacks)
    # §6.2: a SACK for every second packet, also when the packets come in one batch, and
    # one for an odd one out at the batch's end (SctpConfig.sack_at_batch_end, the
    # default): never more than one per two packets, rounded up.
    assert all(s == (n + 1) // 2 for s, n in zip(sacks, sizes, strict=True))
    # 4 packets at first (the initial cwnd), then about x1.5 per round.
    assert sizes[0] == 4
    assert all(later >= earlier for earlier, later in itertools.pairwise(sizes))
    assert all(later >= 1.3 * earlier for earlier, later in itertools.pairwise(sizes[2:10]))
    assert sizes[10] > 150


def test_growth_per_sack_is_bounded_by_the_acknowledged_bytes() -> None:
    a, _ = _established(max_burst=1000)
    s = a.sender
    for _ in range(50):
        a.send(1, bytes(16384), 53)
    a.packets_to_send(0.0)
    before = s.cwnd
    mtu = s.mtu
    # A SACK that acknowledges one chunk of a full window: at most that chunk's bytes.
    s.on_sack(s.cum_ack + 1 & 0xFFFFFFFF, 1 << 20, (), 0.01)
    assert 0 < s.cwnd - before <= mtu
    # Fill the window again; a SACK for all of it adds half of it.
    a.packets_to_send(0.01)
    before = s.cwnd
    flight = s.flight
    assert flight + mtu >= before  # the window is in use (§7.2.1)
    s.on_sack((s.next_tsn - 1) & 0xFFFFFFFF, 1 << 20, (), 0.02)
    assert s.cwnd - before == flight // 2


def test_no_growth_when_the_window_is_not_used() -> None:
    a, b = _established()
    s = a.sender
    a.send(1, bytes(100), 53)
    before = s.cwnd
    _rounds(a, b, 3)
    assert s.cwnd == before


def test_max_burst_is_per_transmission_opportunity() -> None:
    """§6.1 D: Max.Burst packets beyond the flight when the time comes to transmit (new
    messages, each SACK), not at every call: a driver that asks again gets nothing more."""
    a, b = _established()
    s = a.sender
    s.cwnd = 100 * s.mtu  # a window that would allow far more
    for _ in range(20):
        a.send(1, bytes(16384), 53)
    first = a.packets_to_send(0.01)
    assert len(first) == 4
    assert a.packets_to_send(0.01) == []
    assert a.packets_to_send(0.011) == []
    b.receive_packets(first, 0.02)
    sacks = b.packets_to_send(0.02)
    assert len(sacks) == 2
    a.receive_packets(sacks, 0.03)
    # Two SACKs, two opportunities: 2 x 4 packets beyond the (now empty) flight.
    assert len(a.packets_to_send(0.03)) == 8
