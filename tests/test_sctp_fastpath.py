"""The SCTP fast paths give the same results as the general code they shortcut.

* Receiving: :meth:`Receiver.receive_chunks` (a packet's DATA chunks in one call, in-order
  messages collected as a run) against :meth:`Receiver.receive` chunk by chunk, on
  hypothesis-generated messages cut into fragments, then reordered, duplicated and lost.
* Sending: packets sealed by the association decode with the slow codec, carry a valid
  CRC-32C, and never exceed ``max_packet_size``.
* The association's established-state receive shortcut against the general path, with
  the same packets (a checksum error, a packet of other chunks, a bundled SACK).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.common.core import EventQueue
from pyrtcstack.sctp import (
    Association,
    MessageReceived,
    SctpConfig,
    decode_packet,
    encode_packet,
)
from pyrtcstack.sctp.chunks import DataChunk, SackChunk
from pyrtcstack.sctp.chunks import verify_checksum as chunks_verify
from pyrtcstack.sctp.receiver import MAX_GAP_BLOCKS, Receiver, charge
from tests.sctp_pairs import handshake

INITIAL_TSN = 0xFFFFFFF0  # so generated runs also wrap around 2**32


def _chunks(
    messages: list[tuple[int, bool, int]], frag: int, rng: random.Random
) -> list[DataChunk]:
    """Messages (stream id, unordered, size) cut into DATA chunks with consecutive TSNs."""
    tsn = INITIAL_TSN
    ssn: dict[int, int] = {}
    out = []
    for sid, unordered, size in messages:
        data = rng.randbytes(size)
        s = 0
        if not unordered:
            s = ssn.get(sid, 0)
            ssn[sid] = (s + 1) & 0xFFFF
        pieces = [data[i : i + frag] for i in range(0, size, frag)]
        for i, piece in enumerate(pieces):
            flags = (4 if unordered else 0) | (2 if i == 0 else 0)
            flags |= 1 if i == len(pieces) - 1 else 0
            out.append(DataChunk(tsn, sid, s, 53, piece, flags))
            tsn = (tsn + 1) & 0xFFFFFFFF
    return out


def _impair(
    chunks: list[DataChunk], rng: random.Random, loss: float, dup: float, swap: float
) -> list[DataChunk]:
    """Reorder (swap neighbours), duplicate and drop; a dropped chunk is sent again later
    (the sender's retransmission), so every chunk arrives at least once."""
    order = list(chunks)
    for i in range(len(order) - 1):
        if rng.random() < swap:
            order[i], order[i + 1] = order[i + 1], order[i]
    out: list[DataChunk] = []
    late: list[DataChunk] = []
    for c in order:
        if rng.random() < loss:
            late.append(c)
            continue
        out.append(c)
        if rng.random() < dup:
            out.append(c)
        if late and rng.random() < 0.3:
            out.append(late.pop(0))
    return out + late


def _packets(chunks: list[DataChunk], rng: random.Random) -> list[list[DataChunk]]:
    out = []
    i = 0
    while i < len(chunks):
        n = rng.randint(1, 4)
        out.append(chunks[i : i + n])
        i += n
    return out


def _state(r: Receiver) -> tuple[object, ...]:
    return (r.cum_tsn, sorted(r.ooo), r.buffered, list(r.ready), r.dropped_rwnd, r.too_large)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.integers(1, 700)), min_size=1, max_size=25
    ),
    st.integers(1, 300),
    st.integers(0, 2**32 - 1),
    st.floats(0, 0.3),
    st.floats(0, 0.2),
    st.floats(0, 0.3),
    # A window that never limits (1-byte fragments are charged MIN_CHARGE each), and a
    # small one that drops.
    st.sampled_from([1 << 26, 3000]),
)
def test_receive_chunks_equals_chunk_by_chunk(
    messages: list[tuple[int, bool, int]],
    frag: int,
    seed: int,
    loss: float,
    dup: float,
    swap: float,
    capacity: int,
) -> None:
    rng = random.Random(seed)
    chunks = _impair(_chunks(messages, frag, rng), rng, loss, dup, swap)
    fast = Receiver(INITIAL_TSN, capacity, 1 << 20)
    slow = Receiver(INITIAL_TSN, capacity, 1 << 20)
    for packet in _packets(chunks, rng):
        data = encode_packet(5000, 5000, 1, [c.encode() for c in packet])
        pos, sack_now, dropped = fast.receive_chunks(data, 12, len(data), 3, 1 << 16)
        assert pos == len(data)
        results = [slow.receive(c.tsn, c.stream_id, c.ssn, c.ppid, c.flags, c.data) for c in packet]
        assert sack_now == any(results)
        assert dropped == results.count(3)
        assert _state(fast) == _state(slow)
    # Whatever was delivered is each message once; the ordered streams in order.
    if capacity == 1 << 26:
        assert fast.cum_tsn == (INITIAL_TSN + len({c.tsn for c in chunks}) - 1) & 0xFFFFFFFF
        assert len(fast.ready) == len(messages)
        assert fast.buffered == sum(charge(len(m[2])) for m in fast.ready)


def test_receive_chunks_stops_at_what_it_does_not_take() -> None:
    r = Receiver(100, 1 << 20, 1 << 16)
    good = DataChunk(100, 1, 0, 53, b"a").encode()
    sack = SackChunk(5, 1000).encode()
    data = encode_packet(5000, 5000, 1, [good, sack])
    assert r.receive_chunks(data, 12, len(data), 2, 10) == (12 + len(good), False, 0)
    assert list(r.ready) == [(1, 53, b"a", False)]
    # A stream id beyond the negotiated ones, and a full ready queue, stop it too.
    data = encode_packet(5000, 5000, 1, [DataChunk(101, 7, 0, 53, b"b").encode()])
    assert r.receive_chunks(data, 12, len(data), 2, 10)[0] == 12
    data = encode_packet(5000, 5000, 1, [DataChunk(101, 1, 1, 53, b"b").encode()])
    assert r.receive_chunks(data, 12, len(data), 2, 1)[0] == 12
    assert r.cum_tsn == 100


def _run_of(r: Receiver) -> list[bytes] | None:
    return r.run


def test_run_is_spilled_for_forward_tsn_and_reset() -> None:
    """A partly received in-order message (the run) is dropped by FORWARD TSN and by a
    stream reset exactly like fragments held in the table."""
    for action in ("forward", "reset"):
        r = Receiver(10, 1 << 20, 1 << 16)
        data = encode_packet(
            5000,
            5000,
            1,
            [
                DataChunk(10, 1, 0, 53, b"x" * 300, 2).encode(),
                DataChunk(11, 1, 0, 53, b"y" * 300, 0).encode(),
            ],
        )
        r.receive_chunks(data, 12, len(data), 2, 10)
        assert _run_of(r) is not None and r.buffered == 600
        if action == "forward":
            # The sender abandoned the message (its last fragment, TSN 12, never came).
            assert r.forward_tsn(12, [(1, 0)])
            tsn, ssn = 13, 1
        else:
            r.reset_streams((1,))
            tsn, ssn = 12, 0
        assert _run_of(r) is None and r.buffered == 0
        data = encode_packet(5000, 5000, 1, [DataChunk(tsn, 1, ssn, 53, b"z").encode()])
        r.receive_chunks(data, 12, len(data), 2, 10)
        assert [m[2] for m in r.ready] == [b"z"]


def _pair(**kw: object) -> tuple[Association, Association]:
    kw.setdefault("zero_checksum", False)
    a = Association(SctpConfig(remote_max_message_size=0, **kw), rng=random.Random(1))  # type: ignore[arg-type]
    b = Association(SctpConfig(**kw), rng=random.Random(2))  # type: ignore[arg-type]
    handshake(a, b)
    while a.next_event() or b.next_event():
        pass
    return a, b


@pytest.mark.parametrize("zero", [False, True])
def test_sealed_packets_decode_and_fit_the_packet_size(zero: bool) -> None:
    for mps in (1191, 1200, 1163, 301):
        a, b = _pair(max_packet_size=mps, zero_checksum=zero)
        sizes = [16384, 1200, 3, 1, 700, 5000]
        for n in sizes:
            a.send(1, bytes([n & 0xFF]) * n, 53)
        got: list[bytes] = []
        for _ in range(200):
            for p in a.packets_to_send(0.0):
                assert len(p) <= mps
                # RFC 9653: checksum 0 once both announced zero checksum, else CRC-32C.
                assert p[8:12] == bytes(4) if zero else chunks_verify(p)
                decode_packet(p)  # the slow codec accepts it
                b.receive_packet(p, 0.0)
            for p in b.packets_to_send(0.0):
                a.receive_packet(p, 0.0)
            while (e := b.next_event()) is not None:
                if isinstance(e, MessageReceived):
                    got.append(e.data)
            if len(got) == len(sizes):
                break
        assert [len(g) for g in got] == sizes


def test_established_shortcut_counts_what_the_general_path_counts() -> None:
    a, b = _pair()
    a.send(1, b"hello", 53)
    (packet,) = a.packets_to_send(0.0)
    damaged = packet[:-1] + bytes([packet[-1] ^ 1])
    b.receive_packet(damaged, 0.0)
    assert b.stats.bad_checksum == 1 and b.next_event() is None
    b.receive_packet(packet, 0.0)
    event = b.next_event()
    assert isinstance(event, MessageReceived) and event.data == b"hello"
    # A SACK bundled with DATA (SACK first): the general path takes the packet.
    b.send(1, b"x", 53)
    (packet,) = b.packets_to_send(0.1)
    assert [type(c) for c in decode_packet(packet).chunks] == [SackChunk, DataChunk]
    a.receive_packet(packet, 0.1)
    assert a.sender.outstanding == 0
    event = a.next_event()
    assert isinstance(event, MessageReceived) and event.data == b"x"


def test_next_item_gives_messages_as_tuples_and_frees_the_window() -> None:
    a, b = _pair()
    a.send(3, b"abc", 51, unordered=True)
    for p in a.packets_to_send(0.0):
        b.receive_packet(p, 0.0)
    receiver = b.receiver
    assert receiver is not None and receiver.buffered == charge(3) == 256  # MIN_CHARGE
    assert b.next_item() == (3, 51, b"abc", True)
    assert receiver.buffered == 0
    assert b.next_item() is None


def test_ready_is_the_event_queue() -> None:
    """Messages and events share one queue, so a message completed before an event is
    handed over before it."""
    q: EventQueue[object] = EventQueue()
    r = Receiver(1, 1 << 20, 1 << 16, q)
    r.receive(1, 0, 0, 53, 3, b"m")
    assert list(q) == [(0, 53, b"m", False)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.integers(1, 5000)), min_size=1, max_size=20
    ),
    st.integers(256, 2000),
    st.booleans(),
)
def test_sent_chunks_decode_to_the_messages(
    messages: list[tuple[int, bool, int]], mps: int, zero: bool
) -> None:
    """Whatever the packet size, the packets the sender builds decode with the slow codec
    into DATA chunks (consecutive TSNs, B/E/U flags, per-stream SSNs) that put the messages
    back together, and the peer delivers exactly them."""
    a, b = _pair(max_packet_size=mps, zero_checksum=zero)
    rng = random.Random(len(messages) * mps)
    sent = []
    for sid, unordered, size in messages:
        data = rng.randbytes(size)
        a.send(sid, data, 53, unordered=unordered)
        sent.append((sid, unordered, data))
    chunks: list[DataChunk] = []
    got: list[tuple[int, bytes]] = []
    now = 0.0
    for _ in range(500):
        now += 0.01
        for p in a.packets_to_send(now):
            assert len(p) <= mps
            assert p[8:12] == bytes(4) if zero else chunks_verify(p)
            chunks += [c for c in decode_packet(p).chunks if isinstance(c, DataChunk)]
            b.receive_packet(p, now)
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
        while (e := b.next_event()) is not None:
            if isinstance(e, MessageReceived):
                got.append((e.stream_id, e.data))
        if len(got) == len(sent):
            break
    # Chunks in TSN order rebuild the messages in the order they were sent.
    tsns = [c.tsn for c in chunks]
    assert tsns == [(tsns[0] + i) & 0xFFFFFFFF for i in range(len(tsns))]
    rebuilt: list[tuple[int, bool, bytes]] = []
    parts: list[bytes] = []
    ssn: dict[int, int] = {}
    for c in chunks:
        parts.append(c.data)
        if c.flags & 2:
            assert len(parts) == 1
        if c.flags & 1:
            rebuilt.append((c.stream_id, bool(c.flags & 4), b"".join(parts)))
            parts = []
            if not c.flags & 4:
                assert c.ssn == ssn.get(c.stream_id, 0)
                ssn[c.stream_id] = c.ssn + 1
    assert sorted(rebuilt, key=lambda m: m[2]) == sorted(sent, key=lambda m: m[2])
    assert sorted(got, key=lambda m: m[1]) == sorted(
        ((s, d) for s, _, d in sent), key=lambda m: m[1]
    )


def _gaps_of(cum: int, ooo: set[int]) -> list[tuple[int, int]]:
    """The gap blocks (§3.3.4) of ``ooo`` above ``cum``, derived the slow way: sorted."""
    gaps: list[tuple[int, int]] = []
    for off in sorted((t - cum) & 0xFFFFFFFF for t in ooo):
        if gaps and gaps[-1][1] == off - 1:
            gaps[-1] = (gaps[-1][0], off)
        else:
            gaps.append((off, off))
    return gaps[:MAX_GAP_BLOCKS]


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from([1, 0xFFFFFF00, 0x7FFFFFF0]),
    steps=st.lists(
        st.tuples(st.sampled_from(["data", "ack_only", "forward"]), st.integers(0, 24)),
        max_size=300,
    ),
)
def test_gap_blocks_kept_as_tsns_arrive_match_a_sort(
    start: int, steps: list[tuple[str, int]]
) -> None:
    """The receiver keeps its gap blocks as TSNs arrive (so a SACK costs its blocks, not
    a sort of every out-of-order TSN): after any mix of in-order, out-of-order, duplicate
    and discarded chunks and FORWARD TSNs, across the 2^32 wrap, the SACK's blocks are
    those a sort of the out-of-order TSNs gives."""
    r = Receiver(start, 1 << 30, 1 << 20)
    for kind, ahead in steps:
        tsn = (r.cum_tsn + ahead) & 0xFFFFFFFF
        if kind == "data":
            r.receive(tsn, 0, 0, 53, 3 | 4, b"x")  # unordered whole messages
        elif kind == "ack_only":
            r.ack_only(tsn)
        else:
            r.forward_tsn((r.cum_tsn + ahead // 8) & 0xFFFFFFFF, [])
        sack = r.build_sack()
        assert sack.cumulative_tsn == r.cum_tsn
        assert sack.gaps == _gaps_of(r.cum_tsn, r.ooo)
