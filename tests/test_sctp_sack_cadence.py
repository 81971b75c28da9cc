"""SACK cadence (RFC 9260 §6.2) against a window-limited sender, on a virtual clock.

The sender is a sans-I/O model of aiortc's (aiortc 1.16 ``RTCSctpTransport``): one DATA
chunk per packet; cwnd starts at 3 chunks and grows in slow start by min(acknowledged
bytes, one chunk) per SACK, and only when the flight filled cwnd before that SACK;
Max.Burst 4 (at most 4 chunks beyond the flight per transmission); the next message is
cut into chunks only when the previous one is all sent, and that happens on a SACK. It
reads one datagram at a time and transmits after each SACK. Our association receives in
batches: every packet that arrived before its next read, as the peer connection's socket
reads do, and its answer to a batch leaves at the batch's end.

Such a sender starves if a batch of packets gets one SACK: it can then send only Max.Burst
new chunks per SACK and its window never counts as full. With a SACK built for every
second packet of the batch (all leaving at the batch's end), each SACK lets it refill the
window and grow it: the tests below prove the batch answer does not starve it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.sctp import Association, MessageReceived, SctpConfig, decode_packet, encode_packet
from pyrtcstack.sctp.acks import MISS_REPORTS
from pyrtcstack.sctp.chunks import DataChunk, SackChunk
from pyrtcstack.sctp.config import FULL_PACKET
from tests.sctp_pairs import handshake

MASK32 = 0xFFFFFFFF
#: aiortc: (SCTP_MAX_PACKET_LENGTH 1189 - 12 - 16) // 4 * 4.
CHUNK = 1160


class WindowLimitedSender:
    """aiortc's sender rules (see the module docstring), over our chunk codecs."""

    def __init__(self, tag: int, peer_tag: int, tsn: int, peer_rwnd: int) -> None:
        self.tag = tag  # ours (the verification tag of packets to us)
        self.peer_tag = peer_tag
        self.next_tsn = tsn
        self.cum = (tsn - 1) & MASK32
        self.cwnd = 3 * CHUNK
        self.ssthresh = peer_rwnd
        self.rwnd = peer_rwnd
        self.flight = 0
        self.messages: deque[bytes] = deque()
        self.outbound: deque[DataChunk] = deque()
        self.sent: deque[DataChunk] = deque()
        self.ssn = 0
        self.sacks = 0

    def _flush(self) -> None:
        """aiortc's _data_channel_flush: the next message only once the queue is empty."""
        while self.messages and not self.outbound:
            data = self.messages.popleft()
            pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
            for i, piece in enumerate(pieces):
                flags = (2 if i == 0 else 0) | (1 if i == len(pieces) - 1 else 0)
                self.outbound.append(DataChunk(self.next_tsn, 1, self.ssn, 51, piece, flags))
                self.next_tsn = (self.next_tsn + 1) & MASK32
            self.ssn = (self.ssn + 1) & 0xFFFF

    def transmit(self) -> list[bytes]:
        self._flush()
        cwnd = min(self.flight + 4 * CHUNK, self.cwnd)  # Max.Burst 4
        # (aiortc ignores the peer's window; the model keeps within it, as §6.1 B wants,
        # so that the transfer needs no retransmissions.)
        cwnd = min(cwnd, self.rwnd)
        out = []
        while self.outbound and self.flight < cwnd:
            chunk = self.outbound.popleft()
            self.sent.append(chunk)
            self.flight += len(chunk.data)
            out.append(encode_packet(5000, 5000, self.peer_tag, [chunk.encode()]))
        return out

    def receive(self, packet: bytes) -> list[bytes]:
        for chunk in decode_packet(packet).chunks:
            if isinstance(chunk, SackChunk):
                self._on_sack(chunk)
        return self.transmit()

    def _on_sack(self, sack: SackChunk) -> None:
        if ((sack.cumulative_tsn - self.cum) & MASK32) >= 0x80000000:
            return
        self.sacks += 1
        self.cum = sack.cumulative_tsn
        full = self.flight >= self.cwnd
        done = 0
        while self.sent and ((self.cum - self.sent[0].tsn) & MASK32) < 0x80000000:
            done += len(self.sent.popleft().data)
        self.flight -= done
        self.rwnd = max(0, sack.a_rwnd - self.flight)
        if done and full:
            if self.cwnd <= self.ssthresh:
                self.cwnd += min(done, CHUNK)


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    act: Callable[[], None] = field(compare=False)


class Run:
    """The sender and our association joined by a link of ``delay`` seconds each way;
    our side reads a batch ``read_lag`` after the first packet of it arrived."""

    def __init__(self, ours: Association, sender: WindowLimitedSender, delay: float) -> None:
        self.ours = ours
        self.sender = sender
        self.delay = delay
        self.read_lag = delay / 2
        self.now = 0.0
        self.queue: list[_Event] = []
        self.seq = itertools.count()
        self.inbox: list[bytes] = []
        self.read_at: float | None = None
        self.timer_at: float | None = None
        self.data_packets = 0
        self.full_packets = 0.0  # DATA packets counted as full-sized ones (FULL_PACKET)
        self.sack_packets = 0
        self.received = 0
        self.batches = 0
        #: False: each packet handed over alone (``receive_packet``: no batch end seen).
        self.batched = True

    def at(self, t: float, act: Callable[[], None]) -> None:
        heapq.heappush(self.queue, _Event(t, next(self.seq), act))

    def to_ours(self, packets: list[bytes]) -> None:
        self.data_packets += len(packets)
        self.full_packets += sum(min(len(p), FULL_PACKET) for p in packets) / FULL_PACKET
        for p in packets:
            self.at(self.now + self.delay, lambda p=p: self._arrive(p))

    def _arrive(self, packet: bytes) -> None:
        self.inbox.append(packet)
        if self.read_at is None:
            self.read_at = self.now + self.read_lag
            self.at(self.read_at, self._read)

    def _read(self) -> None:
        batch, self.inbox, self.read_at = self.inbox, [], None
        self.batches += 1
        if self.batched:
            self.ours.receive_packets(batch, self.now)
        else:
            for packet in batch:
                self.ours.receive_packet(packet, self.now)
        self._answer()

    def _timer(self, t: float) -> None:
        if self.timer_at == t:
            self.timer_at = None
            self.ours.handle_timer(self.now)
            self._answer()

    def _answer(self) -> None:
        out = self.ours.packets_to_send(self.now)
        self.sack_packets += sum(
            any(isinstance(c, SackChunk) for c in decode_packet(p).chunks) for p in out
        )
        for p in out:
            self.at(self.now + self.delay, lambda p=p: self.to_ours(self.sender.receive(p)))
        while (event := self.ours.next_event()) is not None:
            if isinstance(event, MessageReceived):
                self.received += 1
        t = self.ours.get_timer()
        if t is not None and t != self.timer_at:
            self.timer_at = t
            self.at(max(t, self.now), lambda t=t: self._timer(t))

    def transfer(self, count: int, size: int, limit: float = 600.0) -> float:
        """Virtual seconds until ``count`` messages of ``size`` bytes arrived."""
        for _ in range(count):
            self.sender.messages.append(bytes(size))
        self.to_ours(self.sender.transmit())
        while self.received < count:
            event = heapq.heappop(self.queue)
            assert event.at <= limit, "the transfer stalled"
            self.now = max(self.now, event.at)
            event.act()
        return self.now


def _connected(delay: float, config: SctpConfig | None = None) -> Run:
    ours = Association(config or SctpConfig(), rng=random.Random(1))
    # The handshake with an association of ours; the model then takes over its tags and TSN.
    peer = Association(SctpConfig(zero_checksum=False), rng=random.Random(2))
    peer.connect(0.0)
    for _ in range(4):
        for p in peer.packets_to_send(0.0):
            ours.receive_packet(p, 0.0)
        for p in ours.packets_to_send(0.0):
            peer.receive_packet(p, 0.0)
    assert ours.is_established and peer.is_established
    sender = WindowLimitedSender(
        peer.local_tag, peer.peer_tag, peer.sender.next_tsn, ours.config.receive_window
    )
    return Run(ours, sender, delay)


@pytest.mark.parametrize("at_end", [False, True])
@pytest.mark.parametrize("size", [16384, 65536])
def test_a_window_limited_sender_is_not_starved(size: int, at_end: bool) -> None:
    """Batches of up to a whole window: the sender's window grows to its maximum and the
    rate is the window per round trip, with no delayed-SACK stall on the way (with and
    without the SACK at a batch's end)."""
    run = _connected(delay=0.0005, config=SctpConfig(sack_at_batch_end=at_end))
    total = 8 << 20
    elapsed = run.transfer(total // size, size)
    # §6.2: at least one SACK per two full-sized DATA packets (a message's shorter last
    # fragment counts as its share of one), also when they come in batches.
    # (Credit beyond the threshold is not carried over: a little under one per two.)
    assert run.sack_packets * 2 >= 0.98 * run.full_packets
    assert run.sack_packets * 2 >= 0.9 * run.data_packets
    # ... and at most one more per read batch (the batch's end, Acks.batch_end).
    assert run.sack_packets <= run.full_packets / 2 + run.batches
    # The window grew well past Max.Burst (it stays at 3-7 chunks when starved) ...
    assert run.sender.cwnd > 100 * CHUNK
    # ... and the rate is far from the starved one (a few chunks per round trip, and a
    # 200 ms delayed SACK after a lone last fragment): over 100 MB/s of virtual time on a
    # 1 ms round trip (8 MiB starved: several seconds).
    assert total / elapsed > 100e6


def test_a_lone_packet_is_acknowledged_within_the_sack_delay() -> None:
    """§6.2: the odd packet out of a batch (with sack_at_batch_end off) or a packet handed
    over alone (``receive_packet``: no batch end seen, whatever the config) waits at most
    SACK.Delay (200 ms)."""
    for batched, config in (
        (True, SctpConfig(sack_at_batch_end=False)),
        (False, SctpConfig(sack_at_batch_end=True)),
    ):
        run = _connected(delay=0.0005, config=config)
        run.batched = batched
        run.transfer(1, 100)  # one packet, nothing after it
        assert run.sack_packets == 0  # not at once
        sent_at = run.now
        while run.queue and run.queue[0].at < sent_at + 1.0:
            event = heapq.heappop(run.queue)
            run.now = max(run.now, event.at)
            event.act()
        assert run.sack_packets == 1
        assert run.sender.cum == (run.sender.next_tsn - 1) & MASK32
        assert 0.2 <= run.now - sent_at <= 0.2 + 2 * run.delay


def test_a_lone_packet_is_acknowledged_at_the_end_of_its_batch() -> None:
    """The end of a read batch (``receive_packets``) is a SACK point: the odd packet out
    gets its SACK with the batch's answer, not after SACK.Delay."""
    run = _connected(delay=0.0005, config=SctpConfig(sack_at_batch_end=True))
    run.transfer(1, 100)
    assert run.sack_packets == 1  # with the batch's answer, at the time of the read
    while run.queue and run.queue[0].at <= run.now + run.delay:
        heapq.heappop(run.queue).act()
    assert run.sender.cum == (run.sender.next_tsn - 1) & MASK32
    # Off: the delayed SACK only.
    run = _connected(delay=0.0005, config=SctpConfig(sack_at_batch_end=False))
    run.transfer(1, 100)
    assert run.sack_packets == 0


class DrySender(WindowLimitedSender):
    """A sender that sends its next message only once all it sent is acknowledged, as
    Janus does (its usrsctp glue resends its queue on SCTP_SENDER_DRY_EVENT): here each
    message is ``size`` bytes, an odd number of packets."""

    def transmit(self) -> list[bytes]:
        if self.flight:
            return []
        self._flush()  # the next message
        out = []
        while self.outbound:  # all of it at once (it fits in our window)
            chunk = self.outbound.popleft()
            self.sent.append(chunk)
            self.flight += len(chunk.data)
            out.append(encode_packet(5000, 5000, self.peer_tag, [chunk.encode()]))
        return out


@pytest.mark.parametrize("chunks", [1, 3, 5, 21])
def test_a_sender_that_waits_for_every_ack_is_not_held_by_the_delayed_sack(
    chunks: int,
) -> None:
    """Bursts of an odd number of packets, each sent once the previous one is all
    acknowledged: with a SACK at the batch's end each burst costs a round trip (plus the
    read lag); with the delayed SACK alone (sack_at_batch_end off) it costs SACK.Delay (200 ms)
    each."""
    count = 20
    for at_end in (True, False):
        run = _connected(delay=0.0005, config=SctpConfig(sack_at_batch_end=at_end))
        s = run.sender
        run.sender = DrySender(s.tag, s.peer_tag, s.next_tsn, 1 << 20)
        elapsed = run.transfer(count, chunks * CHUNK)
        assert run.received == count
        if at_end:
            # A round trip of 1 ms and a read lag of 0.25 ms per burst: 25 ms in all.
            assert elapsed < count * 0.005
            # §6.2 kept: a SACK per two packets, and one more at the batch's end.
            assert run.sack_packets <= count * ((chunks + 1) // 2)
        else:
            assert elapsed >= (count - 1) * 0.2  # each burst but the last: SACK.Delay


def test_gaps_and_duplicates_get_their_sack_within_a_batch() -> None:
    """§6.2 in one batch: a SACK at once for the packet that opens a gap and for the
    duplicate, one for the second in-order packet after that, and one for the odd one at
    the batch's end (none, and the delayed SACK's timer, with sack_at_batch_end off)."""
    run = _connected(delay=0.0005)
    s = run.sender
    tsn = s.next_tsn

    def packet(offset: int) -> bytes:
        chunk = DataChunk((tsn + offset) & MASK32, 1, offset, 51, b"x" * 100)
        return encode_packet(5000, 5000, s.peer_tag, [chunk.encode()])

    for at_end in (True, False):
        run = _connected(delay=0.0005, config=SctpConfig(sack_at_batch_end=at_end))
        assert (run.sender.peer_tag, run.sender.next_tsn) == (s.peer_tag, tsn)  # same seeds
        run.ours.receive_packets([packet(o) for o in (0, 2, 2, 1, 3, 4)], 1.0)
        sacks = [
            c
            for p in run.ours.packets_to_send(1.0)
            for c in decode_packet(p).chunks
            if isinstance(c, SackChunk)
        ]
        cums = [(x.cumulative_tsn - tsn) & MASK32 for x in sacks]
        assert cums == ([0, 0, 3, 4] if at_end else [0, 0, 3])
        assert sacks[0].gaps == [(2, 2)] and not sacks[0].duplicates
        assert sacks[1].duplicates == [(tsn + 2) & MASK32]
        assert not sacks[2].gaps and not sacks[2].duplicates
        # Off: the packet at offset 4 waits for the delayed SACK's timer.
        assert (run.ours.acks.at is not None) is not at_end


def test_full_sized_is_the_largest_packet_the_peer_sent() -> None:
    """A SACK per two full-sized packets (RFC 5681 §4.2, which §6.2 follows): for a peer
    with small packets, every second one; tiny packets after full-sized ones count as their
    share (a peer that sends 1,000 unbundled small messages gets ~1 SACK per 2 KiB, not 500
    SACKs that its socket may drop: werift did, docs/sctp.md)."""
    run = _connected(delay=0.0005)
    s = run.sender
    tsn = s.next_tsn

    def packets(first: int, count: int, size: int) -> list[bytes]:
        return [
            encode_packet(
                5000,
                5000,
                s.peer_tag,
                [DataChunk((tsn + i) & MASK32, 1, i, 51, b"x" * size).encode()],
            )
            for i in range(first, first + count)
        ]

    def sacks(batch: list[bytes]) -> int:
        run.ours.receive_packets(batch, 1.0)
        return sum(
            isinstance(c, SackChunk)
            for p in run.ours.packets_to_send(1.0)
            for c in decode_packet(p).chunks
        )

    assert sacks(packets(0, 10, 272)) == 5  # 300-byte packets: the largest so far
    assert sacks(packets(10, 2, 1160)) == 1  # full-sized ones (1,188 bytes)
    assert 1 <= sacks(packets(12, 64, 4)) <= 2  # 64 x 32 bytes = one full-sized packet


def test_the_i_bit_asks_for_a_sack_at_once() -> None:
    """RFC 7053 §4: a DATA chunk with the I bit (SACK-IMMEDIATELY) gets its SACK at once,
    not after SACK.Delay, on each receive path: a whole message in one packet, a middle
    fragment that the batch path would take in line, and a DATA chunk bundled after
    another chunk. Packets handed over alone (``receive_packet``: no batch end seen), so
    only the I bit can make the SACK due."""
    run = _connected(delay=0.0005)
    ours = run.ours
    s = run.sender
    tsn = s.next_tsn
    i_bit = DataChunk.FLAG_IMMEDIATE

    def data(offset: int, flags: int) -> bytes:
        return DataChunk((tsn + offset) & MASK32, 1, 0, 51, b"x" * CHUNK, flags).encode()

    def sacks(*chunks: bytes) -> list[int]:
        ours.receive_packet(encode_packet(5000, 5000, s.peer_tag, list(chunks)), 1.0)
        return [
            (c.cumulative_tsn - tsn) & MASK32
            for p in ours.packets_to_send(1.0)
            for c in decode_packet(p).chunks
            if isinstance(c, SackChunk)
        ]

    assert sacks(data(0, 3)) == []  # B+E, no I: the delayed SACK (one packet of two)
    ours.handle_timer(1.3)
    ours.packets_to_send(1.3)
    assert sacks(data(1, 3 | i_bit)) == [1]  # B+E+I: at once
    assert sacks(data(2, 2)) == []  # B: a message begins
    ours.handle_timer(1.6)  # its delayed SACK
    ours.packets_to_send(1.6)
    assert sacks(data(3, i_bit)) == [3]  # a middle fragment with I (the in-line kind)
    # DATA with I after another chunk (a SACK of nothing of ours: our cumulative TSN).
    ours_cum = (ours.sender.next_tsn - 1) & MASK32
    sack = SackChunk(ours_cum, 1 << 20, [], []).encode()
    assert sacks(sack, data(4, 1 | i_bit)) == [4]
    assert run.ours.acks.at is None


def test_the_settings_switch_reaches_the_association() -> None:
    assert PeerConnectionCore(settings=Settings()).sctp_config.sack_at_batch_end
    pc = PeerConnectionCore(settings=Settings(sctp_sack_at_batch_end=False))
    assert not pc.sctp_config.sack_at_batch_end


def _batch_sacks(config: SctpConfig, offsets: list[int]) -> tuple[list[SackChunk], int]:
    """Our SACKs answering one read batch of DATA packets at these TSN offsets, and the
    first TSN."""
    run = _connected(delay=0.0005, config=config)
    tsn, tag = run.sender.next_tsn, run.sender.peer_tag
    packets = [
        encode_packet(
            5000, 5000, tag, [DataChunk((tsn + o) & MASK32, 1, o, 51, b"x" * CHUNK).encode()]
        )
        for o in offsets
    ]
    run.ours.receive_packets(packets, 1.0)
    sacks = [
        c
        for p in run.ours.packets_to_send(1.0)
        for c in decode_packet(p).chunks
        if isinstance(c, SackChunk)
    ]
    return sacks, tsn


def test_coalesced_sacks_answer_a_batch_with_one() -> None:
    """``sack_coalesce``: the SACKs that fell due in one batch leave as one, built when the
    answer is taken, so it acknowledges the whole batch (the odd last packet too: no
    delayed SACK is left owed). Off: one per two full-sized packets, and one for the odd
    last packet at the batch's end (``sack_at_batch_end``, the default) or none yet."""
    sacks, tsn = _batch_sacks(SctpConfig(), list(range(9)))
    assert [(x.cumulative_tsn - tsn) & MASK32 for x in sacks] == [1, 3, 5, 7, 8]
    sacks, tsn = _batch_sacks(SctpConfig(sack_at_batch_end=False), list(range(9)))
    assert [(x.cumulative_tsn - tsn) & MASK32 for x in sacks] == [1, 3, 5, 7]
    run_config = SctpConfig(sack_coalesce=True)
    sacks, tsn = _batch_sacks(run_config, list(range(9)))
    assert [(x.cumulative_tsn - tsn) & MASK32 for x in sacks] == [8]
    assert not sacks[0].gaps and not sacks[0].duplicates


def test_coalescing_keeps_every_sack_of_a_batch_with_a_gap() -> None:
    """A SACK that reports a gap or a duplicate (§6.2: at once) is never folded away: such
    a batch gets the same SACKs as without ``sack_coalesce``."""
    offsets = [0, 2, 2, 1, 3, 4]
    plain, tsn = _batch_sacks(SctpConfig(), offsets)
    coalesced, tsn2 = _batch_sacks(SctpConfig(sack_coalesce=True), offsets)
    assert tsn == tsn2  # same seeds
    assert [x.encode() for x in coalesced] == [x.encode() for x in plain]
    assert coalesced[0].gaps == [(2, 2)]
    assert coalesced[1].duplicates == [(tsn + 2) & MASK32]


def test_coalescing_starves_a_sender_that_grows_its_window_per_sack() -> None:
    """Why ``sack_coalesce`` is off by default: an aiortc-like sender (module docstring)
    sees one SACK per batch, its window stays near Max.Burst and the rate falls far below
    the default cadence's on the same virtual path."""
    total, size = 4 << 20, 65536
    rates = {}
    for coalesce in (False, True):
        run = _connected(delay=0.0005, config=SctpConfig(sack_coalesce=coalesce))
        rates[coalesce] = total / run.transfer(total // size, size)
        if coalesce:
            assert run.sack_packets <= run.batches
    assert rates[True] < rates[False] / 10


def test_the_coalesce_switch_reaches_the_association() -> None:
    assert not PeerConnectionCore(settings=Settings()).sctp_config.sack_coalesce
    pc = PeerConnectionCore(settings=Settings(sctp_sack_coalesce=True))
    assert pc.sctp_config.sack_coalesce


def test_a_batch_behind_a_hole_sends_the_newest_three_sacks_of_a_run() -> None:
    """A batch of 40 packets behind a lost first one: each opens or widens a gap, so each
    gets a SACK at once (§6.2), all with the same cumulative TSN. Only the newest three
    leave (MISS_REPORTS: §7.2.4's miss indications; they grow no window, §7.2.1), the
    last reporting every gap block; before, 40 left at once (Chromium's socket dropped our
    datagrams in such bursts, and dcSCTP fast-retransmitted the same TSNs on each)."""
    sacks, tsn = _batch_sacks(SctpConfig(), list(range(1, 41)))
    assert len(sacks) == MISS_REPORTS
    assert {(x.cumulative_tsn - tsn) & MASK32 for x in sacks} == {MASK32}  # nothing yet
    assert sacks[-1].gaps == [(2, 41)]  # offsets from the cumulative TSN
    # The hole fills in the same batch: the run before it is thinned, the SACKs after it
    # (each a new cumulative TSN) all stay.
    sacks, tsn = _batch_sacks(SctpConfig(), [*range(1, 21), 0, 21, 22, 23, 24])
    cums = [(x.cumulative_tsn - tsn) & MASK32 for x in sacks]
    assert cums[:MISS_REPORTS] == [MASK32] * MISS_REPORTS
    assert cums[MISS_REPORTS:] == [21, 23, 24]  # every second packet, then the batch end


def test_thinning_keeps_duplicate_reports_and_lets_a_sender_fast_retransmit() -> None:
    """A SACK that reports a duplicate TSN stays whatever its run (§6.7), and the three
    SACKs left behind a hole are enough for our own sender to fast retransmit the lost
    packet at once (§7.2.4), without its T3-rtx timer."""
    offsets = [*range(1, 11), 5, *range(11, 21)]  # a duplicate in the middle
    sacks, tsn = _batch_sacks(SctpConfig(), offsets)
    assert len(sacks) == MISS_REPORTS + 1
    assert [x.duplicates for x in sacks].count([(tsn + 5) & MASK32]) == 1
    a = Association(SctpConfig(), rng=random.Random(1))
    b = Association(SctpConfig(), rng=random.Random(2))
    handshake(a, b)
    for _ in range(60):
        a.send(1, bytes(1100), 51)
    now = 0.0
    flight = [p for p in a.packets_to_send(now) if _has_data(p)]
    b.receive_packets(flight[1:], now)  # the first is lost
    answer = b.packets_to_send(now)
    assert len(answer) <= MISS_REPORTS
    for p in answer:
        a.receive_packet(p, now + 0.001)
    resent = [p for p in a.packets_to_send(now + 0.001) if _has_data(p)]
    assert a.get_stats()["fast_retransmissions"] >= 1
    first = [c.tsn for c in decode_packet(flight[0]).chunks if isinstance(c, DataChunk)]
    assert first[0] in [
        c.tsn for p in resent for c in decode_packet(p).chunks if isinstance(c, DataChunk)
    ]


def _has_data(packet: bytes) -> bool:
    return any(isinstance(c, DataChunk) for c in decode_packet(packet).chunks)
