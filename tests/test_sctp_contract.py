"""The association as a PacketCore (pyrtcstack.common.core): one input, and pending output
counts as a deadline, so no driver needs a flush() or a wake-up of its own."""

from __future__ import annotations

import random

from pyrtcstack.common.core import PacketCore
from pyrtcstack.sctp import Association, BufferedAmountLow, SctpConfig


def _pump(a: Association, b: Association, now: float) -> int:
    moved = 0
    for src, dst in ((a, b), (b, a)):
        packets = src.packets_to_send(now)
        moved += len(packets)
        if packets:
            dst.receive_packets(packets, now)
    return moved


def _pair(**config: int) -> tuple[Association, Association]:
    a = Association(SctpConfig(**config), rng=random.Random(1))  # type: ignore[arg-type]
    b = Association(SctpConfig(**config), rng=random.Random(2))  # type: ignore[arg-type]
    a.connect(0.0)
    while _pump(a, b, 0.0):
        pass
    assert a.is_established and b.is_established
    while a.next_event() or b.next_event():
        pass
    return a, b


def test_the_association_is_a_packet_core() -> None:
    assert isinstance(Association(), PacketCore)


def test_an_api_call_that_queues_output_makes_the_timer_now() -> None:
    """send, reset_streams and shutdown queue output outside any input: get_timer() is
    then the last now (a driver that only watches the timer sends it), and once the output
    is drained the timer is a real deadline again (no busy loop)."""
    a, b = _pair()
    now = 1.0
    a.handle_timer(now)
    assert (a.get_timer() or 0) > now  # nothing pending: the heartbeat's deadline
    a.send(1, b"hello", 51)
    assert a.get_timer() == now
    a.handle_timer(now)
    assert a.get_timer() == now  # still pending until packets_to_send drains it
    _pump(a, b, now)
    assert (a.get_timer() or 0) > now
    a.reset_streams([1])
    assert a.get_timer() == now
    while _pump(a, b, now):
        pass
    assert (a.get_timer() or 0) > now
    # Shutdown waits for our data to be acknowledged (§9.2): b acknowledged it at the end
    # of the batch that carried it (SctpConfig.sack_at_batch_end, the default).
    assert a.sender.idle() and (a.get_timer() or 0) > now
    a.shutdown()
    assert a.get_timer() == now


def test_a_window_limited_sender_is_not_woken_for_data_it_may_not_send() -> None:
    """Queued data the window (or Max.Burst) holds back is not pending output: the timer
    is T3, not now, until a SACK opens the window."""
    a, b = _pair(max_burst=2)
    now = 1.0
    a.handle_timer(now)
    for _ in range(64):
        a.send(1, bytes(1000), 51)
    assert a.get_timer() == now
    packets = a.packets_to_send(now)
    assert packets and a.sender.pending
    assert (a.get_timer() or 0) > now
    b.receive_packets(packets, now)
    a.receive_packets(b.packets_to_send(now), now)
    assert a.get_timer() == now  # the SACKs opened the window: a transmission opportunity


def test_receive_packet_is_receive_packets_with_one_packet() -> None:
    """One route: the same packets fed one call each or in one batch give the same state."""
    results = []
    for batch in (False, True):
        a, b = _pair()
        a.send(1, bytes(range(256)) * 64, 51)
        now = 1.0
        packets = a.packets_to_send(now) + a.packets_to_send(now)
        if batch:
            b.receive_packets(packets, now)
        else:
            for p in packets:
                b.receive_packet(p, now)
        assert b.receiver is not None
        results.append((b.receiver.cum_tsn, b.stats.packets_received, b.packets_to_send(now)))
    assert results[0] == results[1]


def test_the_sack_that_lowers_the_buffered_amount_queues_bufferedamountlow() -> None:
    """The event comes with the input that lowered the amount (the SACK), before the
    owner asks for packets: an owner that reads events after each input and then sends
    (the peer connection's pump) sees it though nothing is left to send. has_events()
    says whether one waits (for events that packets_to_send itself queues)."""
    a, b = _pair()
    now = 1.0
    a.set_buffered_amount_low_threshold(1, 100)
    a.send(1, b"x" * 500, 51)
    b.receive_packets(a.packets_to_send(now), now)
    assert not a.has_events()
    now = b.get_timer() or 0.0  # the receiver's delayed SACK for a lone packet
    b.handle_timer(now)
    sack = b.packets_to_send(now)
    assert sack
    a.receive_packets(sack, now)
    assert a.buffered_amount(1) == 0
    assert a.has_events()
    event = a.next_event()
    assert isinstance(event, BufferedAmountLow) and event.stream_id == 1
    assert not a.has_events()
    assert a.packets_to_send(now) == []
    assert a.next_event() is None  # not queued a second time
