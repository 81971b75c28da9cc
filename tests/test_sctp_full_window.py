"""A full receive window (RFC 9260 §6.2), on a virtual clock.

"When the receiver's advertised window is 0, the receiver MUST drop any new incoming DATA
chunk with a TSN larger than the largest TSN received so far. However, if the new
incoming DATA chunk holds a TSN value less than the largest TSN received so far, then the
receiver SHOULD drop the largest TSN held for reordering and accept the new incoming DATA
chunk." docs/interop.md ("A zero-window episode") shows what not doing it cost: Chromium
lost packets inside itself, kept sending past the holes until our window was 0, then
probed once per RTO with a packet of gap-filling tails of which we took only the chunk at
the cumulative TSN + 1: one message per RTO.

Here: the episode's probe, crafted (1,200-byte messages as a 1,163-byte first fragment
and a 37-byte tail; a window filled past the holes; one packet of 21 gap-filling tails),
on both receive paths; a hostile peer that sends gap fillers forever; and our own sender
against a receiver (ours) that reneges.
"""

from __future__ import annotations

import random

import pytest

from pyrtcstack.sctp import Association, MessageReceived, SctpConfig
from pyrtcstack.sctp.chunks import DataChunk, SackChunk, decode_packet, encode_packet
from pyrtcstack.sctp.receiver import MIN_CHARGE
from tests.sctp_pairs import handshake, victim

MASK32 = 0xFFFFFFFF
FIRST = 1163
MESSAGE = 1200
MTU = 1200
RTO = 0.4
RTT = 0.001


def _packet(b: Association, chunks: list[DataChunk]) -> bytes:
    cfg = b.config
    return encode_packet(cfg.remote_port, cfg.local_port, b.local_tag, [c.encode() for c in chunks])


def _message(m: int) -> bytes:
    return m.to_bytes(4, "big") * (MESSAGE // 4)


def _fragments(base: int, m: int) -> tuple[DataChunk, DataChunk]:
    """Message ``m`` as its two chunks (TSNs base + 2m, base + 2m + 1, SSN m)."""
    data = _message(m)
    tsn = (base + 2 * m) & MASK32
    return (
        DataChunk(tsn, 1, m, 51, data[:FIRST], 2),
        DataChunk((tsn + 1) & MASK32, 1, m, 51, data[FIRST:], 1),
    )


def _sack(b: Association, now: float) -> SackChunk | None:
    """The last SACK ``b`` sends now, without asking for one (None: nothing due)."""
    sacks = [
        c
        for p in b.packets_to_send(now)
        for c in decode_packet(p).chunks
        if isinstance(c, SackChunk)
    ]
    return sacks[-1] if sacks else None


def _reported(sack: SackChunk) -> set[int]:
    cum = sack.cumulative_tsn
    return {(cum + off) & MASK32 for s, e in sack.gaps for off in range(s, e + 1)}


def _feed(b: Association, packets: list[bytes], now: float, batched: bool) -> None:
    if batched:
        b.receive_packets(packets, now)
    else:
        for p in packets:
            b.receive_packet(p, now)


@pytest.mark.parametrize("batched", [False, True])
def test_a_probe_of_gap_fillers_is_taken_whole(batched: bool) -> None:
    """docs/interop.md's probe: the window is 0, the first fragment at the cumulative
    TSN + 1 is missing, and one packet brings 21 missing tails. §6.2: all 21 are taken,
    the largest TSNs held are dropped to make room (a message whole, or the fragments of
    one), a SACK goes back at once that no longer reports them, the bound holds; then
    everything, resent, is delivered intact and in order. Before: the 21 were dropped."""
    b, base = victim()
    r = b.receiver
    assert r is not None
    count = 800
    lost = {base} | {(base + 2 * m + 1) & MASK32 for m in range(1, 22)}
    chunks = [c for m in range(count) for c in _fragments(base, m)]
    _feed(b, [_packet(b, [c]) for c in chunks if c.tsn not in lost], 0.0, batched)
    sack = _sack(b, 0.0)
    assert sack is not None and sack.a_rwnd < MIN_CHARGE  # the window is full ...
    dropped_before = b.get_stats()["data_dropped"]
    assert dropped_before > 0  # ... and what came past it was dropped
    held_before = _reported(sack)
    tails = [c for c in chunks if c.tsn in lost and c.tsn != base]
    assert len(tails) == 21 and 12 + 21 * 56 <= MTU
    _feed(b, [_packet(b, tails)], 0.1, batched)
    assert r.buffered <= r.capacity - r.reserve  # never past the window
    sack = _sack(b, 0.1)
    assert sack is not None, "no SACK at once (§6.2)"
    now_held = _reported(sack)
    assert {c.tsn for c in tails} <= now_held  # all 21 taken
    assert b.get_stats()["data_dropped"] == dropped_before
    gone = held_before - now_held
    reneged = b.get_stats()["receive_reneged"]
    assert gone and len(gone) == reneged  # the dropped TSNs are no longer reported ...
    assert min(gone) > max(now_held)  # ... and they were the largest held
    # The sender resends: the hole at the cumulative TSN, then what is not acknowledged.
    received: list[bytes] = []
    now = 0.2
    while len(received) < count:
        assert now < 5.0, "the transfer stalled"
        missing = [c for c in chunks if ((c.tsn - sack.cumulative_tsn) & MASK32) < 0x80000000]
        missing = [c for c in missing if c.tsn != sack.cumulative_tsn and c.tsn not in now_held]
        _feed(b, [_packet(b, [c]) for c in missing[:200]], now, batched)
        while (event := b.next_event()) is not None:
            if isinstance(event, MessageReceived):
                received.append(event.data)
        assert r.buffered <= r.capacity
        b.acks.due = True
        sack = _sack(b, now)
        assert sack is not None
        now_held = _reported(sack)
        now += 0.01
    assert received == [_message(m) for m in range(count)]


def test_gap_fillers_forever_stay_within_the_window() -> None:
    """A hostile peer keeps the chunk at the cumulative TSN + 1 missing and sends gap
    fillers forever, each below the largest TSN held: each one is taken by dropping the
    largest held, and what is held never passes the window (RFC 9260 §6.2 and the bound
    of docs/sctp.md), whatever the mix of fragments and whole messages."""
    b, base = victim()
    r = b.receiver
    assert r is not None
    limit = r.capacity - r.reserve
    # Fill the window with every other TSN from base + 2 on (the hole at base stays open).
    tsn = base + 2
    k = 0
    while r.buffered + 1100 <= limit:
        flags = 3 if k % 3 else 2  # whole messages and first fragments of others
        b.receive_packet(
            _packet(b, [DataChunk(tsn & MASK32, 1 + k % 4, k, 51, bytes(1100), flags)]), 0.0
        )
        tsn += 2
        k += 1
    top = tsn
    rng = random.Random(7)
    for i in range(4000):
        # A filler in a gap below the largest TSN (odd offsets were never sent).
        t = base + 1 + 2 * rng.randrange((top - base) // 2)
        size = rng.choice([1, 37, 300, 1100])
        flags = rng.choice([0, 1, 2, 3])
        b.receive_packet(
            _packet(b, [DataChunk(t & MASK32, 1 + i % 4, i, 51, bytes(size), flags)]), 0.001 * i
        )
        assert r.buffered <= r.capacity
        while b.next_event() is not None:
            pass
        held = sum(max(len(f[3]), MIN_CHARGE) for s in r.streams.values() for f in s.frags.values())
        held += sum(
            max(len(m[1]), MIN_CHARGE) for s in r.streams.values() for m in s.pending.values()
        )
        assert held == r.buffered  # the count is what is held
        assert len(r.ooo) <= r.capacity // MIN_CHARGE + 1
    assert r.reneged > 0
    assert not b.closed_for_good


def test_our_sender_resends_what_the_peer_reneged() -> None:
    """RFC 9260 §6.2.1, §6.3.3, §7.2.4: chunks a SACK reported in a gap block and a later
    SACK no longer reports (the receiver reneged) are outstanding again: our sender
    resends them, and everything arrives. The receiver is ours with a small window; two
    packets are lost on the way, the second is replayed once the window is full (a gap
    filler below the largest TSN: the receiver reneges), then the link is clean."""
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(
        SctpConfig(receive_window=96 * 1024, max_message_size=16 * 1024), rng=random.Random(2)
    )
    handshake(a, b)
    messages = [m.to_bytes(2, "big") * 20 for m in range(3000)]  # charged 256 bytes each
    for m in messages:
        a.send(1, m, 51)
    now = 0.0
    count = 0  # DATA packets sent
    gone: set[int] = set()  # TSNs lost until the replay: DATA packets 1, 3, 5, 7, 9
    held_back: list[bytes] = []  # packets 3, 5, 7, 9
    replayed = False
    received: list[bytes] = []
    while len(received) < len(messages):
        assert now < 60.0, "the transfer stalled"
        for p in a.packets_to_send(now):
            tsns = [c.tsn for c in decode_packet(p).chunks if isinstance(c, DataChunk)]
            if tsns:
                count += 1
                if count in (1, 3, 5, 7, 9):
                    gone.update(tsns)
                    if count > 1:
                        held_back.append(p)
            if not replayed and any(t in gone for t in tsns):
                continue  # lost (and its resends, until the replay)
            b.receive_packet(p, now)
        if not replayed and now >= 2.0:
            # Our window is full (the sender keeps its flight within it, the lost packets
            # counted): the held-back gap fillers do not all fit, the receiver reneges.
            for p in held_back:
                b.receive_packet(p, now)
            replayed = True
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
        while (event := b.next_event()) is not None:
            if isinstance(event, MessageReceived):
                received.append(event.data)
        timers = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
        now = max(now + 0.001, min(timers)) if timers else now + 0.001
        for x in (a, b):
            t = x.get_timer()
            if t is not None and t <= now:
                x.handle_timer(now)
    assert received == messages
    assert b.get_stats()["receive_reneged"] > 0
    assert a.get_stats()["peer_reneged"] > 0
