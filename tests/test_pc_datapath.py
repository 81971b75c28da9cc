"""The one data path of the peer connection core and its contract (issue 16).

``receive_datagrams`` (batches, as the asyncio driver delivers them; one datagram is the
trivial case) is the one input, traced or not: DTLS records in runs, their plaintext taken
(``take_application_data``) and handed to SCTP. The SCTP knobs of :class:`Settings` reach
the association. An API call that queues output makes ``get_timer()`` say "now" (there is
no ``flush``), and the events leave in the order they were made (``EventQueue``)."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from pyrtcstack.common.core import Address, MultiSocketCore
from pyrtcstack.datachannel import ChannelMessage
from pyrtcstack.peerconnection import (
    IceGatheringStateChange,
    NegotiationNeeded,
    PeerConnectionCore,
    Settings,
)

A: Address = ("127.0.0.1", 40010)
B: Address = ("127.0.0.1", 40012)


def _run_batched(a: PeerConnectionCore, b: PeerConnectionCore, until: Any) -> None:
    """Lossless wire on a virtual clock (1 ms); everything due for one core arrives in one
    ``receive_datagrams`` call."""
    now = 0.0
    wire: list[tuple[float, bytes, Address, Address]] = []
    cores = {A: a, B: b}
    for _ in range(200000):
        if until():
            return
        moved = False
        for pc in (a, b):
            for data, local, remote in pc.transmits(now):
                wire.append((now + 0.001, data, local, remote))
                moved = True
        if moved:
            continue
        times = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
        times += [w[0] for w in wire]
        assert times, "stalled"
        now = max(now, min(times))
        assert now < 120, "virtual time limit"
        due = [w for w in wire if w[0] <= now]
        wire = [w for w in wire if w[0] > now]
        for dst, pc in cores.items():
            batch = [(data, src) for _t, data, src, d in due if d == dst]
            if batch:
                pc.receive_datagrams(batch, now, local=dst)
        for pc in (a, b):
            t = pc.get_timer()
            if t is not None and t <= now:
                pc.handle_timer(now)
    raise AssertionError("too many steps")


def _connected(traced: bool = False, **settings: Any) -> tuple[Any, ...]:
    records: list[object] = []
    settings_b = Settings(tracer=records.append if traced else None, **settings)
    a = PeerConnectionCore(rng=random.Random(7))
    b = PeerConnectionCore(settings=settings_b, rng=random.Random(8))
    chan = a.create_data_channel("bulk")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A], 0.0)
    _run_batched(a, b, lambda: a.local_description is not None and a.ice.gathering_started)
    offer = a.local_description
    assert offer is not None
    b.set_remote_description(offer, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B], 0.0)
    answer = b.local_description
    assert answer is not None
    a.set_remote_description(answer, 0.0)

    def drain() -> bool:
        for pc in (a, b):
            while pc.next_event() is not None:
                pass
        return False

    _run_batched(a, b, lambda: drain() or chan.ready_state == "open")
    return a, b, chan, records


def test_the_core_is_a_multi_socket_core_without_flush() -> None:
    a, _b, _chan, _records = _connected()
    assert isinstance(a, MultiSocketCore)
    assert not hasattr(a, "flush")
    assert not hasattr(a.sctp, "_wake") and not hasattr(a.sctp, "_flush_at")


def _settle(pc: PeerConnectionCore) -> None:
    """Act as a driver until nothing is due at the core's last time (the peer silent)."""
    for _ in range(10):
        t = pc.get_timer()
        if t is None or t > pc._now:
            return
        pc.handle_timer(pc._now)
        pc.transmits(pc._now)
        while pc.next_event() is not None:
            pass
    raise AssertionError("the core stays due")


def test_an_api_call_that_queues_output_makes_get_timer_say_now() -> None:
    a, _b, chan, _records = _connected()
    _settle(a)
    now = a._now
    t = a.get_timer()
    assert t is not None and t > now  # quiet: only the protocol timers
    chan.send(b"x" * 1000)
    t = a.get_timer()
    assert t is not None and t <= now  # pending output is a deadline
    a.handle_timer(now)  # what a driver does when it fires: drain
    out = a.transmits(now)
    assert out and all(isinstance(tr, tuple) and len(tr) == 3 for tr in out)
    t = a.get_timer()
    assert t is None or t > now  # drained: back to the protocol timers
    a.create_data_channel("second")  # in-band: a DATA_CHANNEL_OPEN waits
    t = a.get_timer()
    assert t is not None and t <= now


def test_events_leave_in_the_order_they_were_made() -> None:
    a = PeerConnectionCore(rng=random.Random(9))
    a.create_data_channel("one")  # negotiation needed (webrtc-pc §4.7.3)
    t = a.get_timer()
    assert t is not None and t <= a._now  # an event waits: the driver comes at once
    assert a.next_event() == NegotiationNeeded()
    made = [IceGatheringStateChange(s) for s in ("gathering", "complete", "new", "x")]
    a.emit_event(made[0])
    a.emit_event(made[1])
    assert a.next_event() is made[0]
    a.emit_event(made[2])  # made while older ones wait: behind them
    assert a.next_event() is made[1]
    a.emit_event(made[3])
    assert [a.next_event(), a.next_event()] == made[2:]
    assert a.next_event() is None and a.next_event() is None  # never raises


@pytest.mark.parametrize("traced", [False, True])
def test_bulk_transfer_over_batches_through_the_one_path(traced: bool) -> None:
    records: list[object] = []
    settings_b = Settings(tracer=records.append if traced else None, sctp_max_burst=8)
    a = PeerConnectionCore(rng=random.Random(7))
    b = PeerConnectionCore(settings=settings_b, rng=random.Random(8))
    assert b.sctp_config.max_burst == 8
    assert a.sctp_config.max_burst == Settings().sctp_max_burst
    chan = a.create_data_channel("bulk")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A], 0.0)
    got: list[bytes] = []

    def drain_b() -> bool:
        ev = b.next_event()
        while ev is not None:
            if isinstance(ev, ChannelMessage):
                assert isinstance(ev.data, bytes)
                got.append(ev.data)
            ev = b.next_event()
        while a.next_event() is not None:
            pass
        return False

    _run_batched(a, b, lambda: a.local_description is not None and a.ice.gathering_started)
    offer = a.local_description
    assert offer is not None
    b.set_remote_description(offer, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B], 0.0)
    answer = b.local_description
    assert answer is not None
    a.set_remote_description(answer, 0.0)
    _run_batched(a, b, lambda: drain_b() or chan.ready_state == "open")
    assert b.dtls.take_application_data() == []  # everything went on to SCTP
    rng = random.Random(1)
    messages = [rng.randbytes(rng.choice((1, 1200, 16384, 65536))) for _ in range(120)]
    for m in messages:
        chan.send(m)
    _run_batched(a, b, lambda: drain_b() or len(got) == len(messages))
    assert hashlib.sha256(b"".join(got)).digest() == hashlib.sha256(b"".join(messages)).digest()
    assert got == messages
    assert b.counters["dtls_records_received"] > 100
    assert b.packets_received >= b.counters["dtls_records_received"]
    if traced:
        assert any("SCTP" in repr(r) for r in records)


@pytest.mark.parametrize("odd", ["rtp", "stun", "empty", "other-address"])
def test_a_batch_of_records_with_one_odd_datagram_is_demultiplexed_datagram_by_datagram(
    odd: str,
) -> None:
    """A batch that is not all DTLS records from the selected pair (RFC 7983 §7) is split
    datagram by datagram, wherever the odd one sits: the records reach DTLS and SCTP, the odd
    one goes where its first byte and source say (media, the ICE agent) and no record is
    counted for it. (The receive path checks a whole batch at once in the usual case.)"""
    a, b, chan, _records = _connected()
    for i in range(4):
        chan.send(bytes([i]) * 1000)
    now = a._now
    a.handle_timer(now)
    out = a.transmits(now)
    assert len(out) >= 3 and all(data[0] in range(20, 64) for data, _l, _r in out)
    source = out[0][1]
    stranger: Address = ("127.0.0.1", 40999)
    datagram, addr = {
        "rtp": (bytes([0x80, 96]) + bytes(30), source),  # SRTP by its first byte, no media
        "stun": (bytes(20), source),  # STUN by its first byte, not a valid message
        "empty": (b"", source),
        "other-address": (out[1][0], stranger),  # a record, but not from the selected pair
    }[odd]
    for position in (0, len(out) // 2, len(out)):
        batch = [(data, src) for data, src, _dst in out]
        batch.insert(position, (datagram, addr))
        records = b.counters["dtls_records_received"]
        received = b.packets_received
        b.receive_datagrams(batch, now, local=B)
        assert b.packets_received == received + len(batch)
        assert b.counters["dtls_records_received"] == records + len(out)
    got = []
    ev = b.next_event()
    while ev is not None:
        if isinstance(ev, ChannelMessage):
            got.append(ev.data)
        ev = b.next_event()
    assert got == [bytes([i]) * 1000 for i in range(4)]  # the first copy; the rest replays


def test_the_buffered_amount_of_each_channel_falls_when_its_chunks_are_acknowledged() -> None:
    """A SACK that acknowledges the chunks of several streams at once releases each
    channel's buffered amount by its own chunks' bytes (RFC 8831 §6.6, webrtc-pc
    bufferedAmount), whatever the interleaving."""
    a, b, chan, _records = _connected()
    other = a.create_data_channel("other")
    _run_batched(a, b, lambda: other.ready_state == "open")
    sizes = {chan: chan.buffered_amount, other: other.buffered_amount}
    for i in range(40):
        ch = chan if i % 3 else other
        ch.send(bytes(300 + i))
        sizes[ch] += 300 + i
    assert chan.buffered_amount == sizes[chan] and other.buffered_amount == sizes[other]
    got: list[Any] = []

    def drain() -> bool:
        ev = b.next_event()
        while ev is not None:
            if isinstance(ev, ChannelMessage):
                got.append(ev)
            ev = b.next_event()
        while a.next_event() is not None:
            pass
        return len(got) == 40 and chan.buffered_amount == 0 == other.buffered_amount

    _run_batched(a, b, drain)
    assert sorted(ev.data for ev in got) == sorted(bytes(300 + i) for i in range(40))
