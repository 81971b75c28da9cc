"""``Association.receive_packets`` (pyrtcstack.sctp.bulk) gives what ``receive_packet`` gives
packet by packet: two identical seeded transfers over the same impaired path, one receiver
fed packet by packet and one fed in bursts, must produce the same SACKs, messages, state
and counters at every step (a difference would also make the two senders diverge)."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyrtcstack.sctp import Association, MessageReceived, SctpConfig, bulk
from pyrtcstack.sctp.chunks import DataChunk, encode_packet
from pyrtcstack.sctp.crc32c import crc32c
from pyrtcstack.sctp.state import State


def _established(
    zero_checksum: bool, max_message_size: int, max_queued: int = 65536, window: int = 1 << 20
) -> tuple[Association, Association]:
    a = Association(SctpConfig(max_burst=8), rng=random.Random(1))
    b = Association(
        SctpConfig(
            zero_checksum=zero_checksum,
            max_message_size=max_message_size,
            max_queued_messages=max_queued,
            receive_window=window,
            # The in-line path against the one-packet path: the SACK at a batch's end (a
            # policy of its own, test_sctp_sack_cadence.py) is left out of the comparison.
            sack_at_batch_end=False,
        ),
        rng=random.Random(2),
    )
    now = 0.0
    a.connect(now)
    for _ in range(20):
        for p in a.packets_to_send(now):
            b.receive_packet(p, now)
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
    assert a.is_established and b.is_established
    while a.next_event() is not None or b.next_event() is not None:
        pass
    return a, b


def _transfer(
    bursts: bool,
    messages: list[tuple[int, bool, int]],
    seed: int,
    impair: tuple[float, float, float, float],
    zero_checksum: bool,
    reset_at: int | None,
    max_queued: int = 65536,
    burst_sizes: tuple[int, int] = (1, 40),
) -> list[object]:
    a, b = _established(zero_checksum, 6000, max_queued)
    rng = random.Random(seed)
    loss, dup, swap, corrupt = impair
    for sid, unordered, size in messages:
        a.send(sid, rng.randbytes(size), 53, unordered=unordered)
    trace: list[object] = []
    now = 0.0
    for step in range(400):
        if step == reset_at:
            a.reset_streams([1])
        out = a.packets_to_send(now)
        wire: list[bytes] = []
        for packet in out:
            if rng.random() < loss:
                continue
            p = packet
            if rng.random() < corrupt:
                i = rng.randrange(len(p))
                p = p[:i] + bytes([p[i] ^ 0x40]) + p[i + 1 :]
            wire.append(p)
            if rng.random() < dup:
                wire.append(p)
        for i in range(len(wire) - 1):
            if rng.random() < swap:
                wire[i], wire[i + 1] = wire[i + 1], wire[i]
        while wire:
            n = rng.randint(*burst_sizes)
            burst, wire = wire[:n], wire[n:]
            if bursts:
                b.receive_packets(burst, now)
            else:
                for p in burst:
                    b.receive_packet(p, now)
            sacks = b.packets_to_send(now)
            trace.append(sacks)
            for s in sacks:
                a.receive_packet(s, now)
        for ev in iter(b.next_event, None) if step % 3 == 2 or not out else ():
            if isinstance(ev, MessageReceived):
                trace.append((ev.stream_id, ev.unordered, len(ev.data), hash(ev.data)))
            else:
                trace.append(type(ev).__name__)
        while a.next_event() is not None:
            pass
        if not out:
            timers = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
            if not timers or b.state is State.CLOSED:
                break
            now = max(now + 0.01, min(timers))
            a.handle_timer(now)
            b.handle_timer(now)
        else:
            now += 0.001
    trace.append(dataclasses.asdict(b.stats))
    trace.append((b.state, b.get_stats()))
    return trace


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.integers(1, 6100)), min_size=1, max_size=12
    ),
    seed=st.integers(0, 2**32 - 1),
    impair=st.tuples(
        st.sampled_from([0.0, 0.05, 0.2]),
        st.sampled_from([0.0, 0.05]),
        st.sampled_from([0.0, 0.1]),
        st.sampled_from([0.0, 0.1]),
    ),
    zero_checksum=st.booleans(),
    reset_at=st.none() | st.integers(0, 6),
    max_queued=st.sampled_from([65536, 1, 2]),
    burst_sizes=st.sampled_from([(1, 40), (2, 2), (1, 3)]),
)
def test_receive_packets_equals_receive_packet(
    messages: list[tuple[int, bool, int]],
    seed: int,
    impair: tuple[float, float, float, float],
    zero_checksum: bool,
    reset_at: int | None,
    max_queued: int,
    burst_sizes: tuple[int, int],
) -> None:
    """Messages on three streams, ordered and unordered, some above the receiver's
    max-message-size (6,000: the association then fails), over loss, duplication,
    reordering and bit flips (caught by the CRC-32C when zero checksum is off), with or
    without a stream reset part-way; the receiver's queue of complete messages bounded
    (``max_queued_messages``, read every third step) and bursts of every size."""
    args = (messages, seed, impair, zero_checksum, reset_at, max_queued, burst_sizes)
    one = _transfer(False, *args)
    assert _transfer(True, *args) == one


def test_a_clean_transfer_takes_the_middle_fragments_in_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bulk path is taken (not only equal): a 16 KiB message arrives in full through
    receive_packets with its middle packets never reaching the one-packet path."""
    a, b = _established(True, 65536)
    a.send(1, bytes(range(256)) * 64, 53)
    calls = 0
    original = bulk.receive_one

    def counting(assoc: Association, data: bytes, now: float) -> None:
        nonlocal calls
        calls += assoc is b
        original(assoc, data, now)

    monkeypatch.setattr(bulk, "receive_one", counting)
    received = 0
    before = b.stats.packets_received
    for _ in range(20):
        packets = a.packets_to_send(0.0)
        received += len(packets)
        b.receive_packets(packets, 0.0)
        for s in b.packets_to_send(0.0):
            a.receive_packet(s, 0.0)
    assert received >= 14
    messages = [e for e in iter(b.next_event, None) if isinstance(e, MessageReceived)]
    assert [m.data for m in messages] == [bytes(range(256)) * 64]
    assert calls == 2  # the first fragment (B) and the last (E)
    assert b.stats.packets_received - before == received


_VARIANTS = ["good", "sid", "type", "gap", "dup", "crc", "tag", "unordered", "immediate"]


def _crafted(a: Association, b: Association, zero: bool, plan: list[str]) -> list[bytes]:
    """A first fragment, then middle fragments of 1,100 bytes bent by ``plan``: on another
    stream, another chunk type, a TSN gap, a duplicate, a bad checksum, another
    verification tag, the U or the I bit; then the last fragment."""
    tsn = a.sender.next_tsn
    tag = b.local_tag

    def packet(chunk: DataChunk, variant: str = "good") -> bytes:
        encoded = bytearray(chunk.encode())
        if variant == "type":
            encoded[0] = 0x40  # an unknown chunk type (skipped, §3.2)
        p = bytearray(
            encode_packet(5000, 5000, 0xBAD if variant == "tag" else tag, [bytes(encoded)])
        )
        if zero and variant != "crc":
            p[8:12] = bytes(4)  # RFC 9653: no checksum
        elif variant == "crc":
            p[-1] ^= 1
        return bytes(p)

    out = [packet(DataChunk(tsn, 1, 0, 53, b"B" * 1100, 0x02))]
    for i, variant in enumerate(plan):
        n = tsn + 1 + i + (1 if variant == "gap" else 0)
        flags = {"unordered": 4, "immediate": 8}.get(variant, 0)
        sid = 2 if variant == "sid" else 1
        out.append(packet(DataChunk(n, sid, 0, 53, bytes([i % 256]) * 1100, flags), variant))
        if variant == "dup":
            out.append(out[-1])
    out.append(packet(DataChunk(tsn + 1 + len(plan), 1, 0, 53, b"E" * 10, 0x01)))
    return out


def _after(b: Association) -> list[object]:
    r = b.receiver
    assert r is not None
    return [
        dataclasses.asdict(b.stats),
        b.state,
        (r.cum_tsn, sorted(r.ooo), r.buffered, r.run),
        [(type(e).__name__, getattr(e, "data", None)) for e in iter(b.next_event, None)],
        b.packets_to_send(0.0),
    ]


@settings(max_examples=150, deadline=None)
@given(
    plan=st.lists(st.sampled_from(_VARIANTS), max_size=90),
    zero=st.booleans(),
    window=st.sampled_from([1 << 20, 72000]),
    cuts=st.lists(st.integers(0, 40), max_size=5),
)
@example(plan=["good"] * 80, zero=True, window=72000, cuts=[])  # 16 fragments over the window
@example(plan=["good"] * 80, zero=False, window=72000, cuts=[30])
def test_crafted_middle_fragments_take_the_same_way(
    plan: list[str], zero: bool, window: int, cuts: list[int]
) -> None:
    """Packets that look almost like the in-line case, and a receive window (72,000
    bytes: 65 fragments) that the sender ignores, give the same state, events, counters and
    SACKs through receive_packets (cut into bursts anywhere) as packet by packet."""
    one_a, one = _established(zero, 65536, window=window)
    bulk_a, bulk = _established(zero, 65536, window=window)
    packets = _crafted(one_a, one, zero, plan)
    assert packets == _crafted(bulk_a, bulk, zero, plan)
    for p in packets:
        one.receive_packet(p, 0.0)
    bounds = sorted({0, len(packets), *(c for c in cuts if c < len(packets))})
    for lo, hi in itertools.pairwise(bounds):
        bulk.receive_packets(packets[lo:hi], 0.0)
    assert _after(bulk) == _after(one)


@pytest.mark.parametrize("zero", [False, True])
def test_a_middle_fragment_with_another_tag_is_never_taken_in_line(zero: bool) -> None:
    """§8.5: a packet with another verification tag is discarded, also when it continues
    the run exactly (the next TSN, the same stream, a good checksum or none): the message
    never completes with it, and the drop is counted."""
    a, b = _established(zero, 65536)
    packets = _crafted(a, b, zero, ["good", "tag", "good"])
    r = b.receiver
    assert r is not None
    b.receive_packets(packets[:2], 0.0)
    cum = r.cum_tsn
    b.receive_packets(packets[2:], 0.0)
    assert b.stats.bad_verification_tag == 1
    assert r.cum_tsn == cum  # the TSN of the bad packet stays missing
    assert not [e for e in iter(b.next_event, None) if isinstance(e, MessageReceived)]


def _sender_state(a: Association) -> tuple[object, ...]:
    s = a.sender
    return (
        s.cum_ack,
        s.flight,
        s.peer_rwnd,
        s.total_buffered,
        s.sacks_since_fill,
        s.t3,
        s.timed_tsn,
        dataclasses.astuple(a.stats),
    )


def test_a_burst_of_sacks_gives_what_they_give_one_by_one() -> None:
    """The other side of a transfer: the SACKs of a burst (one per two packets, RFC 9260
    §6.2), applied in one row by receive_packets, leave the sender as they do one by one;
    cwnd within 16 bytes a SACK (min(acked, MTU) per SACK against half the bytes)."""
    for zero in (False, True):
        for corrupt in (False, True):
            states = []
            for bursts in (False, True):
                # The receiver announces zero checksum (or not): its SACKs then carry 0.
                a, b = _established(zero, 6000)
                a.sender.cwnd = 200 * a.sender.mtu
                a.config.max_burst = a.sender.max_burst = 200
                for _ in range(200):
                    a.send(1, bytes(4000), 53)
                now = 0.01
                for _ in range(3):
                    data = a.packets_to_send(now)
                    b.receive_packets(data, now)
                    sacks = b.packets_to_send(now)
                    assert len(sacks) >= len(data) // 2 > 10
                    if corrupt:  # one bad SACK in the middle of the row
                        bad = bytearray(sacks[5])
                        bad[20] ^= 1
                        sacks[5] = bytes(bad)
                    now += 0.01
                    if bursts:
                        a.receive_packets(sacks, now)
                    else:
                        for p in sacks:
                            a.receive_packet(p, now)
                    states.append((_sender_state(a), a.sender.cwnd))
            one, burst = states[:3], states[3:]
            for (s1, c1), (s2, c2) in zip(one, burst, strict=True):
                assert s1 == s2
                assert abs(c1 - c2) <= 16 * 200


@pytest.mark.parametrize("zero", [False, True])
def test_pure_sacks_are_taken_in_line_and_a_bad_one_is_dropped(
    monkeypatch: pytest.MonkeyPatch, zero: bool
) -> None:
    """The sender's side of a transfer: a burst of SACKs without gap blocks or duplicates
    (§3.3.4, chunk length 16) never reaches the one-packet path; one with a bad CRC-32C
    (§6.8, when the peer sends checksums) is counted and dropped in line, and the newest
    good one is applied; one with chunk flags set or a gap-block count goes to receive_one,
    which handles it as it handles any SACK."""
    a, b = _established(zero, 65536)
    a.sender.cwnd = 64 * a.sender.mtu
    a.config.max_burst = a.sender.max_burst = 64
    for _ in range(20):
        a.send(1, bytes(3000), 53)
    data = a.packets_to_send(0.0)
    b.receive_packets(data, 0.0)
    sacks = b.packets_to_send(0.0)
    assert len(sacks) >= 10 and all(len(s) == 28 for s in sacks)
    calls = 0
    original = bulk.receive_one

    def counting(assoc: Association, packet: bytes, now: float) -> None:
        nonlocal calls
        calls += 1
        original(assoc, packet, now)

    monkeypatch.setattr(bulk, "receive_one", counting)
    before = dataclasses.replace(a.stats)
    if zero:  # (no checksum to fail: DTLS authenticates these packets)
        a.receive_packets(sacks[:-1], 0.01)
    else:
        bad = bytearray(sacks[-1])
        bad[19] ^= 1  # its cumulative TSN: a bad CRC-32C
        a.receive_packets([*sacks[:-1], bytes(bad), sacks[-2]], 0.01)
    assert calls == 0
    if not zero:
        assert a.stats.bad_checksum == before.bad_checksum + 1
        assert a.stats.packets_received == before.packets_received + len(sacks) + 1
        # the newest good SACK acknowledged all but the packets after it
        assert a.sender.cum_ack == int.from_bytes(sacks[-2][16:20], "big")
    for variant in ("flags", "gaps"):
        odd = bytearray(sacks[-1])
        if variant == "flags":
            odd[13] = 0x01  # chunk flags (§3.3.4: set to 0, ignored by the receiver)
        else:
            odd[25] = 1  # one gap block announced, none present: a malformed SACK
        if not zero:  # a good checksum for the packet as bent
            odd[8:12] = bytes(4)
            odd[8:12] = crc32c(bytes(odd)).to_bytes(4, "little")
        a.receive_packets([bytes(odd)], 0.02)
    assert calls == 2
    assert a.stats.bad_checksum == before.bad_checksum + (not zero)
    assert a.sender.cum_ack == int.from_bytes(sacks[-1][16:20], "big")
