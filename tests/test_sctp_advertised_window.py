"""The window we advertise is what we take (RFC 9260 §6.2), also past a loss.

A sender that keeps its flight within our a_rwnd must never see a chunk dropped for lack of
room. Before, a_rwnd counted the ``reserve`` that only chunks advancing the cumulative TSN
may use: after one lost packet, Firefox (usrsctp) filled the advertised window with data
past the hole, and we dropped 7,953 chunks of an 8 MiB transfer (0.4 MB/s; docs/interop.md
"Throughput").
"""

from __future__ import annotations

import pytest

from pyrtcstack.sctp.chunks import DataChunk, encode_packet
from pyrtcstack.sctp.receiver import Receiver

WINDOW = 1 << 20
MAX_MESSAGE = 262144


def _feed(r: Receiver, tsn: int, size: int) -> int:
    chunk = DataChunk(tsn & 0xFFFFFFFF, 1, 0, 53, bytes(size), 3 | 4)  # unordered, B+E
    data = encode_packet(5000, 5000, 1, [chunk.encode()])
    _, _, dropped = r.receive_chunks(data, 12, len(data), 3, 1 << 16)
    return dropped


@pytest.mark.parametrize("size", [1200, 1148])
def test_a_sender_within_our_window_loses_nothing_after_a_gap(size: int) -> None:
    r = Receiver(1000, WINDOW, MAX_MESSAGE)
    advertised = r.a_rwnd
    # TSN 1000 is lost on the way; the sender fills what we advertised with the next ones.
    dropped, tsn, flight = 0, 1001, size  # the lost chunk is in flight too
    while flight + size <= advertised:
        dropped += _feed(r, tsn, size)
        tsn += 1
        flight += size
    assert tsn - 1001 > 500  # the window was used
    assert dropped == 0 and r.dropped_rwnd == 0
    # The hole is filled (a retransmission): everything is delivered.
    assert _feed(r, 1000, size) == 0
    assert r.cum_tsn == tsn - 1
    # Nothing held: the next SACK offers the whole window again once the data is read.
    while (message := r.ready.pop()) is not None:
        r.release(len(message[2]))
    assert r.a_rwnd == advertised


def test_the_reserve_still_takes_the_chunk_at_the_cumulative_tsn() -> None:
    """With the advertised window used up by data past a hole, the hole-filler still fits
    (the reserve), so the transfer never deadlocks."""
    r = Receiver(1000, WINDOW, MAX_MESSAGE)
    tsn = 1001
    while r.a_rwnd >= 1200:
        assert _feed(r, tsn, 1200) == 0
        tsn += 1
    assert r.a_rwnd < 1200
    assert _feed(r, 1000, 1200) == 0
    assert r.cum_tsn == tsn - 1


def test_the_sack_without_gaps_advertises_the_same_window() -> None:
    """The SACK that leaves in the common case (nothing out of order: packed directly by
    ``Acks.build``) carries ``Receiver.a_rwnd`` too, and a sender that fills what it says
    behind a loss has nothing dropped. Before, that path advertised the reserve as well
    (``capacity - buffered``): the window of nearly every SACK of a transfer, so a sender
    that filled it and then lost a packet had a quarter of its flight dropped."""
    from pyrtcstack.sctp import decode_packet
    from pyrtcstack.sctp.chunks import SackChunk
    from tests.sctp_pairs import victim

    b, base = victim()
    r = b.receiver
    assert r is not None
    size = 1100
    cfg = b.config

    def packet(tsn: int) -> bytes:
        chunk = DataChunk(tsn & 0xFFFFFFFF, 1, 0, 53, bytes(size), 3 | 4)
        return encode_packet(cfg.remote_port, cfg.local_port, b.local_tag, [chunk.encode()])

    b.receive_packets([packet(base), packet(base + 1)], 0.0)  # in order: a pure SACK
    sacks = [
        c for p in b.packets_to_send(0.0) for c in decode_packet(p).chunks
        if isinstance(c, SackChunk)
    ]  # fmt: skip
    assert sacks and not sacks[-1].gaps
    advertised = sacks[-1].a_rwnd
    assert advertised == r.a_rwnd  # the two messages still held (not read) counted
    # TSN base + 2 is lost; the sender fills what that SACK advertised with the next ones.
    tsn, flight = base + 3, size
    packets = []
    while flight + size <= advertised:
        packets.append(packet(tsn))
        tsn += 1
        flight += size
    b.receive_packets(packets, 0.1)
    assert b.get_stats()["data_dropped"] == 0
