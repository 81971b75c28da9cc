"""A full receive window (RFC 9260 §6.2), on a virtual clock.

"When the receiver's advertised window is 0, the receiver MUST drop any new incoming DATA
chunk with a TSN larger than the largest TSN received so far. However, if the new
incoming DATA chunk holds a TSN value less than the largest TSN received so far, then the
receiver SHOULD drop the largest TSN held for reordering and accept the new incoming DATA
chunk." docs/interop.md ("A zero-window episode") shows what not doing it cost: Chromium
lost packets inside itself, kept sending past the holes until our window was 0, then
probed once per RTO with a packet of gap-filling tails of which we took only the chunk at
the cumulative TSN + 1: one message per RTO.

How we do it: a gap filler may use half of the reserve kept past the advertised window
(the other half stays for the chunk at the cumulative TSN + 1), and only when that is full
are the largest TSNs held dropped — only TSNs no SACK of ours has reported yet. dcSCTP
(Chromium) never sends again a chunk a SACK once reported, so dropping one of those
stalled Chromium → us for good (docs/interop.md, 2026-12-07).

Here: the episode's probe, crafted (1,200-byte messages as a 1,163-byte first fragment
and a 37-byte tail; a window filled past the holes; one packet of 21 gap-filling tails),
on both receive paths, then resent as dcSCTP does (never what a SACK reported); a hostile
peer that sends gap fillers forever; and our own sender against a peer that reneges.
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
    TSN + 1 is missing, and one packet brings 21 missing tails. §6.2: all 21 are taken
    (in the gap fillers' half of the reserve), nothing a SACK reported is dropped, a SACK
    goes back at once, the bound holds; then everything, resent, is delivered intact and
    in order. Before the reserve took gap fillers: the 21 were dropped, or (with the first
    renege) taken by dropping reported TSNs, which dcSCTP never resends."""
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
    assert r.buffered <= r.capacity - (r.reserve >> 1)  # half the reserve stays
    sack = _sack(b, 0.1)
    assert sack is not None, "no SACK at once (§6.2)"
    now_held = _reported(sack)
    assert {c.tsn for c in tails} <= now_held  # all 21 taken
    assert b.get_stats()["data_dropped"] == dropped_before
    assert held_before <= now_held  # nothing reported was dropped
    assert b.get_stats()["receive_reneged"] == 0
    # The sender resends, as dcSCTP (Chromium) does: the hole at the cumulative TSN, then
    # what no SACK ever reported (a chunk once reported in a gap block is never sent
    # again, net/dcsctp/tx/outstanding_data.cc). A receiver that dropped a reported TSN
    # would wait for it for good.
    ever = held_before | now_held
    received: list[bytes] = []
    now = 0.2
    while len(received) < count:
        assert now < 5.0, "the transfer stalled"
        missing = [c for c in chunks if ((c.tsn - sack.cumulative_tsn) & MASK32) < 0x80000000]
        missing = [c for c in missing if c.tsn != sack.cumulative_tsn and c.tsn not in ever]
        _feed(b, [_packet(b, [c]) for c in missing[:200]], now, batched)
        while (event := b.next_event()) is not None:
            if isinstance(event, MessageReceived):
                received.append(event.data)
        assert r.buffered <= r.capacity
        b.acks.due = True
        sack = _sack(b, now)
        assert sack is not None
        ever |= _reported(sack)
        now += 0.01
    assert received == [_message(m) for m in range(count)]


def test_gap_fillers_forever_stay_within_the_window() -> None:
    """A hostile peer keeps the chunk at the cumulative TSN + 1 missing and sends gap
    fillers forever, each below the largest TSN held, several per packet: they fill the
    gap fillers' half of the reserve, then are dropped (every TSN held was reported, so
    none may be dropped to take them); what is held
    never passes the window (RFC 9260 §6.2 and the bound of docs/sctp.md), half the
    reserve stays for the cumulative TSN + 1, and no TSN a SACK reported is ever dropped,
    whatever the mix of fragments and whole messages."""
    b, base = victim()
    r = b.receiver
    assert r is not None
    limit = r.capacity - r.reserve
    # Fill the window from base + 2 on in runs of 12 TSNs with holes of 4 between them
    # (the hole at base stays open): under MAX_GAP_BLOCKS blocks, so a SACK reports all.
    k = 2
    holes = [base, base + 1]
    while r.buffered + 1100 <= limit:
        if k % 16 in (0, 1, 14, 15):
            holes.append(base + k)
        else:
            flags = 3 if k % 3 else 2  # whole messages and first fragments of others
            chunk = DataChunk((base + k) & MASK32, 1 + k % 4, k, 51, bytes(1100), flags)
            b.receive_packet(_packet(b, [chunk]), 0.0)
        k += 1
    rng = random.Random(7)
    reported = _reported(_sack(b, 0.0) or SackChunk(0, 0))  # every TSN a SACK reported
    assert len(reported) > 500
    peak = 0
    for i in range(1000):
        # Fillers in the holes below the largest TSN.
        chunks = []
        for j in range(4):
            t = rng.choice(holes[1:])
            size = rng.choice([1, 1100, 1100, 1100])
            flags = rng.choice([0, 1, 2, 3])
            chunks.append(DataChunk(t & MASK32, 1 + j, 4 * i + j, 51, bytes(size), flags))
        b.receive_packet(_packet(b, chunks), 0.001 * i)
        assert r.buffered <= r.capacity - (r.reserve >> 1)
        peak = max(peak, r.buffered)
        while b.next_event() is not None:
            pass
        assert all(t in r.ooo for t in reported), "a reported TSN was dropped"
        sack = _sack(b, 0.001 * i)
        if sack is not None:
            reported |= _reported(sack)
        held = sum(max(len(f[3]), MIN_CHARGE) for s in r.streams.values() for f in s.frags.values())
        held += sum(
            max(len(m[1]), MIN_CHARGE) for s in r.streams.values() for m in s.pending.values()
        )
        assert held == r.buffered  # the count is what is held
        assert len(r.ooo) <= r.capacity // MIN_CHARGE + 1
    assert peak > limit  # the fillers used their half of the reserve ...
    assert b.get_stats()["data_dropped"] > 0  # ... and then were dropped, not reneged for
    assert not b.closed_for_good


def test_our_sender_resends_what_the_peer_reneged() -> None:
    """RFC 9260 §6.2.1, §6.3.3, §7.2.4: chunks a SACK reported in a gap block and a later
    SACK with the same cumulative TSN no longer reports (the receiver reneged, as usrsctp
    may) are outstanding again: our sender resends them, and everything arrives. Our own
    receiver no longer reneges on reported TSNs, so the renege is played in the middle:
    the first DATA packet and the last two of the first flight are lost, and before the
    receiver's real SACK (which reports only what it holds) the sender gets one that also
    reports the last two: what a receiver that then dropped them would have sent."""
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    handshake(a, b)
    messages = [m.to_bytes(2, "big") * 500 for m in range(40)]
    for m in messages:
        a.send(1, m, 51)
    flight = [p for p in a.packets_to_send(0.0) if _data_tsns(p)]
    assert len(flight) >= 4  # the initial window (RFC 9260 §7.2.1)
    for p in flight[1:-2]:
        b.receive_packet(p, 0.0)
    real = [c for p in b.packets_to_send(0.0) for c in decode_packet(p).chunks]
    sack = [c for c in real if isinstance(c, SackChunk)][-1]
    claimed = [t for p in flight[-2:] for t in _data_tsns(p)]
    top = (claimed[-1] - sack.cumulative_tsn) & MASK32
    forged = SackChunk(sack.cumulative_tsn, sack.a_rwnd, [(sack.gaps[0][0], top)])
    cfg = b.config
    head = (cfg.local_port, cfg.remote_port, a.local_tag)
    a.receive_packet(encode_packet(*head, [forged.encode()]), 0.001)
    a.receive_packet(encode_packet(*head, [sack.encode()]), 0.002)
    assert a.get_stats()["peer_reneged"] > 0
    now = 0.002
    received: list[bytes] = []
    while len(received) < len(messages):
        assert now < 30.0, "the transfer stalled"
        for p in a.packets_to_send(now):
            b.receive_packet(p, now)
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


def _data_tsns(packet: bytes) -> list[int]:
    return [c.tsn for c in decode_packet(packet).chunks if isinstance(c, DataChunk)]
