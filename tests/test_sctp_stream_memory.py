"""The receiver's per-stream state grows with the streams a peer uses, not with the
65,535 a WebRTC association negotiates (RFC 9260 §5.1.2, §6.5; RFC 8831 §6.2), and stays
bounded when a peer uses all of them (issue 15 §5, memory per connection).

* an association whose peer sent messages on two streams holds a few hundred bytes of
  receive state, not a 128 KiB table of next SSNs;
* ordered delivery (§6.5) is the same on a stream seen for the first time, at any stream
  id, out of order, after a FORWARD TSN (RFC 3758 §3.6) or a stream reset (RFC 6525);
* a peer that sends on every stream, or only on the highest, makes the table at most one
  entry per negotiated stream (128 KiB), never more.
"""

from __future__ import annotations

import tracemalloc

from pyrtcstack.sctp import MessageReceived, SctpConfig
from pyrtcstack.sctp.receiver import Receiver
from tests.test_sctp_association import A, B, Pair


def _delivered(r: Receiver) -> list[tuple[int, bytes]]:
    out = []
    while (item := r.ready.pop()) is not None:
        out.append((item[0], item[2]))
    return out


def test_an_association_using_two_streams_holds_no_table_for_65535() -> None:
    """The receiver is made when the association learns its peer (§5.1); with the data
    channel default of 65,535 streams each way and a message on streams 0 and 1 (a data
    channel pair's DCEP and data), its memory is far below the 128 KiB a table for every
    stream took (measured with tracemalloc, which counts the array's buffer)."""
    tracemalloc.start()
    try:
        p = Pair()
        before = tracemalloc.get_traced_memory()[0]
        p.connect()
        for sid in (0, 1):
            p.a.send(sid, b"hello", 51)
        assert p.net.run(lambda: len(p.messages(B)) == 2, 10)
        receiver = p.b.receiver
        assert receiver is not None and p.b.inbound_streams == 65535
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Both associations' whole state, handshake included, in far less than one table.
    assert grown < 64 * 1024, grown
    assert len(receiver.next_ssn) <= 64
    assert list(receiver.next_ssn[:2]) == [1, 1]


def test_ordered_delivery_on_a_stream_past_the_table() -> None:
    """§6.5: the first message on a stream the table does not reach yet expects SSN 0; a
    later SSN is held until it arrives, at any stream id below the negotiated count."""
    r = Receiver(1, 1 << 20, 1 << 16, streams=65535)
    r.receive(1, 65534, 1, 51, 3, b"second")  # SSN 1 first: held
    assert _delivered(r) == []
    r.receive(2, 65534, 0, 51, 3, b"first")
    assert _delivered(r) == [(65534, b"first"), (65534, b"second")]
    r.receive(3, 2, 0, 51, 3, b"low")
    r.receive(4, 65534, 2, 51, 3, b"third")
    assert _delivered(r) == [(2, b"low"), (65534, b"third")]
    assert (r.next_ssn[2], r.next_ssn[65534]) == (1, 3)
    assert len(r.next_ssn) == 65535  # never more than the negotiated streams


def test_the_table_grows_with_the_highest_stream_used() -> None:
    r = Receiver(1, 1 << 20, 1 << 16, streams=1000)
    assert len(r.next_ssn) == 0
    tsn = 1
    for sid in range(0, 40, 3):
        r.receive(tsn, sid, 0, 51, 3, b"x")
        tsn += 1
    assert 37 <= len(r.next_ssn) <= 2 * 40
    assert [sid for sid, _ in _delivered(r)] == list(range(0, 40, 3))
    r.receive(tsn, 999, 0, 51, 3, b"x")
    assert len(r.next_ssn) == 1000


def test_forward_tsn_on_a_stream_past_the_table() -> None:
    """RFC 3758 §3.6: a FORWARD TSN's (stream, SSN) for a stream never seen moves its
    next SSN; held later messages are then delivered; a stream id past the negotiated
    count is ignored."""
    r = Receiver(1, 1 << 20, 1 << 16, streams=100)
    r.receive(3, 50, 2, 51, 3, b"after")  # TSN 3, SSN 2: waits for SSN 0 and 1
    assert _delivered(r) == []
    assert r.forward_tsn(2, [(50, 1), (100, 7), (65000, 1)])
    assert _delivered(r) == [(50, b"after")]
    assert r.next_ssn[50] == 3 and len(r.next_ssn) <= 100


def test_reset_of_all_streams_restarts_them_at_ssn_zero() -> None:
    """RFC 6525 §5.2.2: after a reset of every incoming stream each expects SSN 0."""
    r = Receiver(1, 1 << 20, 1 << 16, streams=100)
    r.receive(1, 5, 0, 51, 3, b"a")
    r.receive(2, 70, 0, 51, 3, b"b")
    _delivered(r)
    r.reset_streams(())
    assert len(r.next_ssn) == 0
    r.receive(3, 70, 0, 51, 3, b"c")
    r.reset_streams((70,))
    r.receive(4, 70, 0, 51, 3, b"d")
    assert _delivered(r) == [(70, b"c"), (70, b"d")]


def test_a_peer_using_every_stream_costs_at_most_the_full_table() -> None:
    """A hostile peer that sends one message on each of the 65,535 streams (or only on
    the last): the table is at most one 2-byte entry per negotiated stream."""
    p = Pair(config_b=SctpConfig(receive_window=1 << 24))
    p.connect()
    for sid in range(0, 65535, 97):
        p.a.send(sid, b"x", 51)
    p.a.send(65534, b"x", 51)
    n = len(range(0, 65535, 97)) + 1
    assert p.net.run(lambda: len(p.messages(B)) == n, 60)
    assert all(isinstance(m, MessageReceived) for m in p.messages(B))
    receiver = p.b.receiver
    assert receiver is not None
    assert len(receiver.next_ssn) == 65535
    assert receiver.next_ssn.itemsize * len(receiver.next_ssn) <= 128 * 1024
    assert not receiver.streams  # nothing held: no per-stream objects
    assert p.events(A, MessageReceived) == []
