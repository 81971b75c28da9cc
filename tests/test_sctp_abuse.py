"""A hostile SCTP peer against the receive side (issue 14, items 7 and 8).

Our association is driven sans-I/O with crafted DATA chunks on a virtual clock; what it
holds is measured independently of its own counter (by walking the reassembly, the ordered
queues and the unread messages) and, for floods of tiny chunks, with ``tracemalloc``.

* Item 7: the receive window is a hard bound (RFC 9260 §6.2). Whatever arrives, the bytes
  held stay within ``receive_window``; chunks beyond it are dropped and not acknowledged;
  tiny chunks are charged at least ``MIN_CHARGE`` bytes each, so their Python objects are
  bounded too. Both receive paths: ``receive_packet`` and the burst ``receive_packets``.
* Item 8: a message is checked against ``max_message_size`` while it is reassembled: the
  association aborts (Protocol Violation, RFC 9260 §3.3.10.13) as soon as a partial
  message passes the limit, in order, reordered, or through the burst path.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.sctp import Association, AssociationClosed
from pyrtcstack.sctp.chunks import AbortChunk, DataChunk, SackChunk, decode_packet, encode_packet
from pyrtcstack.sctp.params import CauseCode
from pyrtcstack.sctp.receiver import MIN_CHARGE, Receiver
from tests.sctp_pairs import victim

WINDOW = 1 << 20  # the default receive_window
MAX_MESSAGE = 262144  # the default max_message_size


def _packet(b: Association, *chunks: DataChunk) -> bytes:
    cfg = b.config
    return encode_packet(cfg.remote_port, cfg.local_port, b.local_tag, [c.encode() for c in chunks])


def _held(b: Association) -> tuple[int, int]:
    """(user-data bytes, pieces) held by the receiver, counted by walking its structures:
    the run, fragments, complete messages waiting for an earlier SSN, unread messages."""
    r = b.receiver
    assert r is not None
    pieces = [*(r.run or [])]
    for stream in r.streams.values():
        pieces += [f[3] for f in stream.frags.values()]
        pieces += [m[1] for m in stream.pending.values()]
    pieces += [e[2] for e in b.outbox.events if type(e) is tuple]
    return sum(map(len, pieces)), len(pieces)


def _charged(b: Association) -> int:
    """What the held pieces cost against the window, each at least MIN_CHARGE bytes."""
    r = b.receiver
    assert r is not None
    total = sum(max(len(p), MIN_CHARGE) for p in r.run or [])
    for stream in r.streams.values():
        total += sum(max(len(f[3]), MIN_CHARGE) for f in stream.frags.values())
        total += sum(max(len(m[1]), MIN_CHARGE) for m in stream.pending.values())
    total += sum(max(len(e[2]), MIN_CHARGE) for e in b.outbox.events if type(e) is tuple)
    return total


def _acked(b: Association, now: float) -> tuple[int, set[int]]:
    """The cumulative TSN and the gap-acked TSNs of the newest SACK ``b`` sends now (the
    SACKs that fell due earlier, each as of its packet, RFC 9260 §6.2, leave before it)."""
    b.acks.due = True
    sacks = [
        chunk
        for p in b.packets_to_send(now)
        for chunk in decode_packet(p).chunks
        if isinstance(chunk, SackChunk)
    ]
    if not sacks:
        raise AssertionError("no SACK")
    cum = sacks[-1].cumulative_tsn
    gaps = {
        (cum + off) & 0xFFFFFFFF for start, end in sacks[-1].gaps for off in range(start, end + 1)
    }
    return cum, gaps


def _feeders(b: Association) -> dict[str, Callable[[list[bytes], float], None]]:
    def one_by_one(packets: list[bytes], now: float) -> None:
        for p in packets:
            b.receive_packet(p, now)

    return {"receive_packet": one_by_one, "receive_packets": b.receive_packets}


@pytest.mark.parametrize("path", ["receive_packet", "receive_packets"])
@pytest.mark.parametrize("begin", [False, True])
def test_gap_fillers_cannot_push_past_the_window(path: str, begin: bool) -> None:
    """Item 7, the audit's attack scaled down: one-byte chunks out of order, then 16 KB
    chunks filling each gap, of a message that never ends (or never began). Before the fix
    every gap-filler was taken even with the window full (48 MB held here)."""
    b, base = victim()
    feed = _feeders(b)[path]
    n = 3000
    ooo = [_packet(b, DataChunk(base + 2 * k + 1, 1, 0, 53, b"x", 0)) for k in range(n)]
    feed(ooo, 0.0)
    big = bytes(16 * 1024)
    peak = 0
    for k in range(n):
        flags = 2 if begin and k == 0 else 0
        feed([_packet(b, DataChunk(base + 2 * k, 1, 0, 53, big, flags))], 0.001 * k)
        if k % 100 == 0:
            peak = max(peak, _held(b)[0])
    held, _ = _held(b)
    assert peak <= WINDOW
    assert held <= WINDOW
    assert b.receiver is not None and b.receiver.buffered == _charged(b)
    if begin:
        # The chain from the B fragment passed max_message_size: the association aborted.
        assert b.closed_for_good
    else:
        assert b.get_stats()["data_dropped"] > 0
        # What was dropped is not acknowledged (§6.2): the SACK covers only what is held.
        cum, gaps = _acked(b, 10.0)
        r = b.receiver
        assert r is not None
        held_tsns = {t for s in r.streams.values() for t in s.frags}
        for k in range(n):
            tsn = (base + 2 * k) & 0xFFFFFFFF
            if tsn not in held_tsns:
                assert 0 < ((tsn - cum) & 0xFFFFFFFF) < 0x80000000 and tsn not in gaps
                break
        else:
            raise AssertionError("nothing was dropped")


def test_a_full_window_drops_even_the_chunk_at_the_cumulative_tsn() -> None:
    """Item 7: with the window full, the chunk right after the cumulative TSN is dropped
    and the SACK does not acknowledge it (before: always accepted)."""
    b, base = victim()
    far = (base + 5000) & 0xFFFFFFFF
    b.receive_packet(_packet(b, DataChunk(far, 2, 0, 53, b"gap")), 0.0)  # a gap stays open
    # The window filled in order by ordered messages that wait for SSN 0 (never sent),
    # the reserve included (a_rwnd, which leaves the reserve out, is 0 before that).
    tsn = base
    ssn = 1
    r = b.receiver
    while r is not None and r.capacity - r.buffered >= 1100:
        b.receive_packet(_packet(b, DataChunk(tsn, 1, ssn, 53, bytes(1100))), 0.0)
        tsn += 1
        ssn += 1
    cum_before, _ = _acked(b, 0.1)
    for i in range(50):
        b.receive_packet(_packet(b, DataChunk(tsn + i, 1, ssn + i, 53, bytes(1100))), 0.2)
    cum, gaps = _acked(b, 0.3)
    assert cum == cum_before and gaps == {far}
    assert _held(b)[0] <= _charged(b) <= WINDOW


@pytest.mark.parametrize("kind", ["out_of_order", "pending", "fragments"])
def test_tiny_chunks_are_charged_per_piece(kind: str) -> None:
    """Item 7, per-chunk overhead: tens of thousands of one-byte chunks cost ~150-250 bytes
    of memory each. Charged MIN_CHARGE apiece, they stop at the window, and the memory
    really allocated stays within twice the window (before: 30,000 pieces held)."""
    b, base = victim()
    r = b.receiver
    assert r is not None
    n = 30000
    if kind == "out_of_order":  # whole one-byte messages after a gap that never fills
        chunks = [DataChunk(base + 1 + k, 1 + k % 7, 0, 53, b"x", 7) for k in range(n)]
    elif kind == "pending":  # in order, each waiting for an SSN that never comes
        chunks = [DataChunk(base + k, 1, 1 + k, 53, b"x") for k in range(n)]
    else:  # middle fragments, never connected to a first fragment
        chunks = [DataChunk(base + 1 + k, 1, 0, 53, b"x", 0) for k in range(n)]
    packets = [_packet(b, c) for c in chunks]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for p in packets:
            b.receive_packet(p, 0.0)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    _, pieces = _held(b)
    assert pieces <= WINDOW // MIN_CHARGE
    assert r.buffered == _charged(b) <= WINDOW
    assert grown < 2 * WINDOW, f"{grown} bytes allocated for {pieces} held pieces"


def test_burst_path_holds_the_window_with_unread_messages() -> None:
    """The burst path's in-line check is the receiver's (run_room): with unread messages
    holding most of the window, a message arriving in order stops at the window."""
    b, base = victim()
    feed = b.receive_packets
    tsn = base
    for ssn in range(4):  # four unread 240 KB messages, in max-size fragments
        size = 240_000
        pieces = [bytes(1100)] * (size // 1100) + [bytes(size % 1100)]
        packets = []
        for i, piece in enumerate(pieces):
            flags = (2 if i == 0 else 0) | (1 if i == len(pieces) - 1 else 0)
            packets.append(_packet(b, DataChunk(tsn, 1, ssn, 53, piece, flags)))
            tsn += 1
        feed(packets, 0.0)
    assert sum(1 for e in b.outbox.events if type(e) is tuple) == 4
    packets = [_packet(b, DataChunk(tsn, 1, 4, 53, bytes(1100), 2))]
    packets += [_packet(b, DataChunk(tsn + i, 1, 4, 53, bytes(1100), 0)) for i in range(1, 200)]
    feed(packets, 0.1)
    assert b.receiver is not None
    assert _held(b)[0] <= b.receiver.buffered == _charged(b) <= WINDOW
    assert b.get_stats()["data_dropped"] > 0
    assert not b.closed_for_good


def _abort_cause(packets: list[bytes]) -> int | None:
    for p in packets:
        for chunk in decode_packet(p).chunks:
            if isinstance(chunk, AbortChunk):
                return chunk.causes[0].code
    return None


@pytest.mark.parametrize("order", ["in_order", "burst", "reversed", "swapped"])
def test_a_message_past_max_message_size_aborts_while_partial(order: str) -> None:
    """Item 8: a 4 MiB message (max-message-size 256 KiB) aborts the association with a
    Protocol Violation cause as soon as its fragments pass the limit, before it completes
    and before it fills the window (before: 1 MiB held, window 0, stalled for good)."""
    b, base = victim()
    size = 4 << 20
    piece = 1100
    count = size // piece
    chunks = []
    for i in range(count):
        flags = (2 if i == 0 else 0) | (1 if i == count - 1 else 0)
        chunks.append(DataChunk(base + i, 1, 0, 51, bytes(piece), flags))
    if order == "reversed":  # B arrives last; the window holds the rest meanwhile
        limit = (MAX_MESSAGE // piece) + 2
        chunks = [*chunks[1:limit][::-1], chunks[0], *chunks[limit:]]
    elif order == "swapped":
        for i in range(0, count - 1, 2):
            chunks[i], chunks[i + 1] = chunks[i + 1], chunks[i]
    packets = [_packet(b, c) for c in chunks]
    fed = 0
    if order == "burst":
        for i in range(0, len(packets), 64):
            b.receive_packets(packets[i : i + 64], 0.0)
            fed += 64
            if b.closed_for_good:
                break
    else:
        for p in packets:
            b.receive_packet(p, 0.0)
            fed += 1
            if b.closed_for_good:
                break
    assert b.closed_for_good, "the association did not abort"
    assert fed * piece <= MAX_MESSAGE + 64 * piece
    assert _abort_cause(b.packets_to_send(0.0)) == CauseCode.PROTOCOL_VIOLATION
    events = []
    while (event := b.next_event()) is not None:
        events.append(event)
    closed = [e for e in events if isinstance(e, AssociationClosed)]
    assert closed and closed[0].error is not None and "max-message-size" in closed[0].error


def test_receiver_chain_work_is_linear() -> None:
    """Fragments arriving in reverse order are each walked once (before: each arrival
    walked all the fragments after it, quadratic in the window)."""
    steps = 0

    class Counting(dict[int, tuple[int, int, int, bytes]]):
        def get(self, key: int, default: object = None) -> object:  # type: ignore[override]
            nonlocal steps
            steps += 1
            return super().get(key, default)

        def __contains__(self, key: object) -> bool:
            nonlocal steps
            steps += 1
            return super().__contains__(key)

    def run(n: int) -> int:
        nonlocal steps
        steps = 0
        r = Receiver(0, 1 << 30, 1 << 30)
        r.receive(0, 1, 0, 53, 0, bytes(300))  # creates stream 1
        r.streams[1].frags = Counting()
        for t in range(n, 1, -1):  # middle fragments, last to first
            r.receive(t, 1, 0, 53, 0, bytes(300))
        r.receive(1, 1, 0, 53, 2, bytes(300))  # the first fragment
        return steps

    small, large = run(500), run(1000)
    assert large <= 2.5 * small, (small, large)


def _receiver_charged(r: Receiver) -> int:
    pieces = [*(r.run or [])]
    for stream in r.streams.values():
        pieces += [f[3] for f in stream.frags.values()]
        pieces += [m[1] for m in stream.pending.values()]
    pieces += [m[2] for m in r.ready]
    return sum(max(len(p), MIN_CHARGE) for p in pieces)


_ops = st.lists(
    st.one_of(
        # A packet of DATA chunks: (TSN offset from the cumulative TSN, stream, SSN, flags,
        # size); offsets may repeat, lag or jump.
        st.lists(
            st.tuples(
                st.integers(-3, 40),
                st.integers(0, 2),
                st.integers(0, 4),
                st.integers(0, 7),
                st.sampled_from([1, 2, 200, 255, 256, 257, 700, 1100, 3000]),
            ),
            min_size=1,
            max_size=4,
        ),
        st.just("read"),
        st.just("forward"),
        st.just("reset"),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(_ops, st.sampled_from([(8192, 2048), (4096, 3000), (1 << 16, 1 << 14)]))
def test_window_count_is_what_is_held(ops: list[object], limits: tuple[int, int]) -> None:
    """Whatever arrives — duplicates, gaps, tiny and big pieces, chains that never end,
    FORWARD TSN, stream resets, the application reading — the receiver's count equals
    what it holds (each piece charged at least MIN_CHARGE) and never exceeds the window."""
    capacity, max_message = limits
    r = Receiver(1000, capacity, max_message)
    for op in ops:
        if op == "read":
            while r.ready:
                r.release(len(r.ready.pop()[2]))
        elif op == "forward":
            r.forward_tsn((r.cum_tsn + 3) & 0xFFFFFFFF, [(1, 0)])
        elif op == "reset":
            r.reset_streams((2,))
        else:
            assert isinstance(op, list)
            chunks = [
                DataChunk((r.cum_tsn + off) & 0xFFFFFFFF, sid, ssn, 53, bytes(size), flags)
                for off, sid, ssn, flags, size in op
            ]
            data = encode_packet(5000, 5000, 1, [c.encode() for c in chunks])
            r.receive_chunks(data, 12, len(data), 3, 1 << 16)
        assert r.buffered == _receiver_charged(r)
        assert r.buffered <= capacity
        # The SACK reports exactly the TSNs held past the cumulative TSN, also after the
        # receiver dropped the largest of them for a gap filler (§6.2, Receiver._renege).
        sack = r.build_sack()
        if len(sack.gaps) < 64:
            cum = sack.cumulative_tsn
            reported = {(cum + o) & 0xFFFFFFFF for s, e in sack.gaps for o in range(s, e + 1)}
            assert reported == set(r.ooo)


def test_one_message_on_every_stream_costs_no_stream_objects() -> None:
    """One-byte ordered messages on each of 65,535 streams, read by the application: the
    receiver keeps each stream's next SSN in two bytes, and no per-stream object (before:
    an object and three dicts per stream, 21 MB for 64 KB of user data)."""
    b, base = victim()
    r = b.receiver
    assert r is not None
    packets = [_packet(b, DataChunk(base + sid, sid, 0, 53, b"x")) for sid in range(65535)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(0, len(packets), 64):
            b.receive_packets(packets[i : i + 64], 0.0)
            while b.next_item() is not None:
                pass
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert b.get_stats()["data_dropped"] == 0 and r.buffered == 0
    assert not r.streams
    assert grown < 1 << 20, f"{grown} bytes for 65,535 streams"
