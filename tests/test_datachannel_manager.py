"""Data channels over an in-memory SCTP association pair (RFC 8831, RFC 8832)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pyrtcstack.common.core import Event
from pyrtcstack.datachannel import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelClosing,
    ChannelMessage,
    ChannelOpen,
    DataChannel,
    DataChannelManager,
    DataChannelOpened,
    InvalidStateError,
    TransportClosed,
)
from pyrtcstack.sctp import DatagramAdapter, MessageTooLargeError, SctpConfig, decode_packet
from pyrtcstack.sctp.chunks import DataChunk
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

A = ("10.0.0.1", 5000)
B = ("10.0.0.2", 5000)


class DcPair:
    def __init__(
        self,
        seed: int = 0,
        impairment: Impairment | None = None,
        config_a: SctpConfig | None = None,
        config_b: SctpConfig | None = None,
        roles: tuple[str | None, str | None] = ("client", "server"),
    ) -> None:
        self.a = DataChannelManager(config_a, dtls_role=roles[0], rng=random.Random(seed))
        self.b = DataChannelManager(config_b, dtls_role=roles[1], rng=random.Random(seed + 99))
        self.net = MemoryNetwork(impairment or Impairment(delay=0.005), seed=seed)
        self.net.add(A, DatagramAdapter(self.a, B))
        self.net.add(B, DatagramAdapter(self.b, A))

    def connect(self) -> None:
        self.a.connect(self.net.now)
        self.b.connect(self.net.now)
        assert self.net.run(
            lambda: self.a.association.is_established and self.b.association.is_established, 30
        )

    def events(self, addr: Any, kind: type[Event]) -> list[Any]:
        return [e for e in self.net.events[addr] if isinstance(e, kind)]

    def messages(self, addr: Any) -> list[Any]:
        return [e.data for e in self.events(addr, ChannelMessage)]

    def remote(self, addr: Any, label: str) -> DataChannel:
        for e in self.events(addr, DataChannelOpened):
            if e.channel.label == label:
                return e.channel  # type: ignore[no-any-return]
        raise AssertionError(f"no channel {label!r} opened at {addr}")


def test_open_from_both_sides_with_parameters_and_parity() -> None:
    p = DcPair()
    p.connect()
    ca = p.a.create_data_channel("chat", protocol="p", ordered=False, max_retransmits=3)
    cb = p.b.create_data_channel("timed", max_packet_life_time=1500, priority=512)
    assert (ca.id, cb.id) == (0, 1)  # DC-01: client even, server odd
    assert p.net.run(
        lambda: bool(p.events(A, DataChannelOpened) and p.events(B, DataChannelOpened)), 5
    )
    rb = p.remote(B, "chat")
    assert (rb.id, rb.protocol, rb.ordered, rb.max_retransmits, rb.max_packet_life_time) == (
        0,
        "p",
        False,
        3,
        None,
    )
    ra = p.remote(A, "timed")
    assert (ra.id, ra.ordered, ra.max_packet_life_time, ra.priority) == (1, True, 1500, 512)
    assert ca.ready_state == cb.ready_state == ra.ready_state == rb.ready_state == "open"
    assert [type(e) for e in p.net.events[B] if isinstance(e, DataChannelOpened | ChannelOpen)][
        -2:
    ] == [DataChannelOpened, ChannelOpen]
    second = p.a.create_data_channel("second")
    assert second.id == 2


def test_id_assigned_when_role_becomes_known() -> None:
    p = DcPair(roles=(None, None))
    early = p.a.create_data_channel("early")
    assert early.id is None and early.ready_state == "connecting"
    p.a.set_dtls_role("server")
    p.b.set_dtls_role("client")
    assert early.id == 1
    p.connect()
    assert p.net.run(lambda: bool(p.events(B, DataChannelOpened)), 5)
    assert p.remote(B, "early").id == 1


def test_messages_strings_binary_and_empty() -> None:
    p = DcPair()
    ca = p.a.create_data_channel("m")
    p.connect()
    p.net.run(lambda: ca.ready_state == "open", 5)
    sent: list[str | bytes] = ["héllo", b"\x00\x01", "", b"", "x" * 70000, bytes(65536)]
    with pytest.raises(MessageTooLargeError):
        ca.send(b"x" * 65537)  # the peer's default max-message-size (RFC 8841 §6.1)
    assert p.b.max_message_size == 262144
    p.a.remote_max_message_size = p.b.max_message_size
    for m in sent:
        ca.send(m)
    assert p.net.run(lambda: len(p.messages(B)) == len(sent), 30)
    assert p.messages(B) == sent
    ppids = [
        c.ppid
        for d in p.net.sent
        if d.src == A
        for c in decode_packet(d.data).chunks
        if isinstance(c, DataChunk)
    ]
    assert 56 in ppids and 57 in ppids and 51 in ppids and 53 in ppids
    empties = [
        c.data
        for d in p.net.sent
        for c in decode_packet(d.data).chunks
        if isinstance(c, DataChunk) and c.ppid in (56, 57)
    ]
    assert empties == [b"\x00", b"\x00"]


def test_ordered_until_ack_then_unordered() -> None:
    """DC-04: the opener sends ordered until DATA_CHANNEL_ACK (or any message) arrives."""
    p = DcPair(impairment=Impairment(delay=0.05))
    p.connect()
    ca = p.a.create_data_channel("u", ordered=False)
    for i in range(3):
        ca.send(f"early {i}")
    p.net.run(lambda: len(p.messages(B)) == 3, 5)
    p.net.run(lambda: ca.stream_state.acked, 5)
    ca.send("late")
    p.net.run(lambda: len(p.messages(B)) == 4, 5)
    flags = {
        c.data: c.unordered
        for d in p.net.sent
        if d.src == A
        for c in decode_packet(d.data).chunks
        if isinstance(c, DataChunk) and c.ppid == 51
    }
    assert flags == {b"early 0": False, b"early 1": False, b"early 2": False, b"late": True}


def test_data_before_ack_is_an_implicit_ack() -> None:
    p = DcPair()
    p.connect()
    ca = p.a.create_data_channel("implicit", ordered=False)

    # Drop B's DATA_CHANNEL_ACK; B's first user message then acknowledges the channel.
    def drop_ack(data: bytes, src: Any, dst: Any) -> bool:
        return src == B and any(
            isinstance(c, DataChunk) and c.ppid == 50 for c in decode_packet(data).chunks
        )

    p.net.impairment.drop_if = drop_ack
    p.net.run(lambda: bool(p.events(B, DataChannelOpened)), 5)
    p.net.impairment.drop_if = None
    rb = p.remote(B, "implicit")
    assert not ca.stream_state.acked
    rb.send("hi")
    p.net.run(lambda: bool(p.messages(A)), 5)
    assert ca.stream_state.acked


def test_negotiated_channels_send_no_dcep() -> None:
    p = DcPair()
    na = p.a.create_data_channel("neg", negotiated=True, id=5)
    nb = p.b.create_data_channel("neg", negotiated=True, id=5)
    p.connect()
    assert p.net.run(lambda: na.ready_state == nb.ready_state == "open", 5)
    na.send("x")
    nb.send(b"y")
    p.net.run(lambda: bool(p.messages(A) and p.messages(B)), 5)
    assert p.messages(B) == ["x"] and p.messages(A) == [b"y"]
    ppids = {
        c.ppid for d in p.net.sent for c in decode_packet(d.data).chunks if isinstance(c, DataChunk)
    }
    assert 50 not in ppids
    with pytest.raises(InvalidStateError):
        p.a.create_data_channel("dup", negotiated=True, id=5)


@pytest.mark.parametrize("closer", ["a", "b"])
def test_close_resets_both_directions_and_frees_the_id(closer: str) -> None:
    p = DcPair(impairment=Impairment(loss=0.05, delay=0.01), seed=3)
    ca = p.a.create_data_channel("c")
    p.connect()
    p.net.run(lambda: bool(p.events(B, DataChannelOpened)), 10)
    rb = p.remote(B, "c")
    for i in range(10):
        ca.send(f"m{i}")
    (ca if closer == "a" else rb).close()
    assert (ca if closer == "a" else rb).ready_state == "closing"
    with pytest.raises(InvalidStateError):
        (ca if closer == "a" else rb).send("after close")
    assert p.net.run(lambda: ca.ready_state == rb.ready_state == "closed", 60)
    if closer == "a":
        assert p.messages(B) == [f"m{i}" for i in range(10)]  # queued data went first
    other = B if closer == "a" else A
    assert p.events(other, ChannelClosing) and p.events(other, ChannelClosed)
    assert p.events(A if closer == "a" else B, ChannelClosed)
    again = p.a.create_data_channel("again")
    assert again.id == ca.id
    p.net.run(lambda: bool([c for c in p.b.channels if c.label == "again"]), 10)
    again.send("fresh")
    p.net.run(lambda: "fresh" in p.messages(B), 10)


def test_buffered_amount_falls_on_ack_with_low_event() -> None:
    p = DcPair(impairment=Impairment(delay=0.05))
    ca = p.a.create_data_channel("b")
    p.connect()
    p.net.run(lambda: ca.ready_state == "open", 5)
    p.net.run(lambda: ca.buffered_amount == 0, 5)
    ca.buffered_amount_low_threshold = 5000
    for _ in range(10):
        ca.send(b"x" * 1000)
    assert ca.buffered_amount == 10_000  # queued: nothing acknowledged yet
    p.net.flush()  # sent, not yet acknowledged
    assert ca.buffered_amount == 10_000
    p.net.run(lambda: ca.buffered_amount == 0, 5)
    lows = p.events(A, ChannelBufferedAmountLow)
    assert len(lows) == 1 and lows[0].channel is ca


def test_back_pressure_keeps_memory_bounded() -> None:
    """A sender that waits for bufferedamountlow never queues more than its high-water mark,
    and a slow network does not make the receiver hold more than its window."""
    p = DcPair(impairment=Impairment(delay=0.02, loss=0.02), seed=5)
    ca = p.a.create_data_channel("bp")
    p.connect()
    p.net.run(lambda: ca.ready_state == "open", 5)
    ca.buffered_amount_low_threshold = 64 * 1024
    high = 256 * 1024
    total = 300
    sent = 0
    peak = 0
    while len(p.messages(B)) < total:
        while sent < total and ca.buffered_amount < high:
            ca.send(bytes(16384))
            sent += 1
        peak = max(peak, ca.buffered_amount, p.a.association.sender.total_buffered)
        more = sent < total
        assert p.net.run(
            lambda more=more: (
                (more and bool(p.events(A, ChannelBufferedAmountLow)))
                or len(p.messages(B)) == total
            ),
            60,
        )
        p.net.events[A].clear()
    assert peak < high + 16384
    assert len(p.messages(B)) == total


def test_open_on_a_used_or_wrong_parity_id_is_refused() -> None:
    """DC-08: an OPEN on a stream in use (or of our parity) resets that stream only."""
    p = DcPair()
    ca = p.a.create_data_channel("first")
    p.connect()
    p.net.run(lambda: bool(p.events(B, DataChannelOpened)), 5)
    # B (server, odd ids) receives an OPEN for id 0 again, then one for id 1 (its parity).
    from pyrtcstack.datachannel.dcep import DataChannelOpen

    p.a.association.send(0, DataChannelOpen(label="dup").encode(), 50)
    p.a.association.send(1, DataChannelOpen(label="parity").encode(), 50)
    p.net.run(lambda: False, 2)
    labels = [e.channel.label for e in p.events(B, DataChannelOpened)]
    assert labels == ["first"]
    assert ca.ready_state == "open" and p.remote(B, "first").ready_state == "open"
    assert p.b.dropped_messages == 2


def test_transport_close_closes_every_channel() -> None:
    p = DcPair()
    channels = [p.a.create_data_channel(f"c{i}") for i in range(3)]
    p.connect()
    p.net.run(lambda: len(p.events(B, DataChannelOpened)) == 3, 5)
    p.a.association.abort("done")
    p.net.run(lambda: bool(p.events(B, TransportClosed)), 5)
    assert all(c.ready_state == "closed" for c in channels)
    assert all(
        c.ready_state == "closed" for c in (e.channel for e in p.events(B, DataChannelOpened))
    )
    assert len(p.events(B, ChannelClosed)) == 3


def test_never_reading_application_bounds_memory() -> None:
    """Messages wait inside the association until next_event(): the window bounds them."""
    window = 300_000
    p = DcPair(config_b=SctpConfig(receive_window=window))
    ca = p.a.create_data_channel("deaf")
    p.connect()
    p.net.run(lambda: ca.ready_state == "open", 5)
    b_core = p.net.cores[B]

    class Deaf:
        def receive_datagram(self, data: bytes, addr: Any, now: float) -> None:
            b_core.receive_datagram(data, addr, now)

        def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]:
            return b_core.datagrams_to_send(now)

        def get_timer(self) -> float | None:
            return b_core.get_timer()

        def handle_timer(self, now: float) -> None:
            b_core.handle_timer(now)

        def next_event(self) -> Event | None:
            return None

    p.net.cores[B] = Deaf()
    for _ in range(100):
        ca.send(bytes(10_000))
    p.net.run(lambda: False, 60)
    receiver = p.b.association.receiver
    assert receiver is not None and receiver.buffered <= window
    assert ca.buffered_amount > 0


@pytest.mark.parametrize("seed", range(10))
def test_random_channel_lifecycles_under_impairment(seed: int) -> None:
    """Channels of every kind opened from both sides, messages, closes and re-opens on a
    lossy, duplicating, reordering link: reliable ordered channels deliver everything in
    order; nothing else is delivered twice; the association survives."""
    r = random.Random(seed)
    imp = Impairment(
        loss=r.uniform(0, 0.2), duplicate=r.uniform(0, 0.1), reorder=r.uniform(0, 0.2), delay=0.01
    )
    p = DcPair(seed, imp)
    p.connect()
    channels = []
    for i in range(4):
        kind = r.randrange(3)
        kwargs: dict[str, Any] = {"ordered": kind == 0 or r.random() < 0.5}
        if kind == 1:
            kwargs["max_retransmits"] = r.randrange(0, 3)
        elif kind == 2:
            kwargs["max_packet_life_time"] = r.randrange(20, 200)
        side = p.a if i % 2 == 0 else p.b
        channels.append((side, side.create_data_channel(f"c{i}", **kwargs), kind))
    assert p.net.run(lambda: all(c.ready_state == "open" for _, c, _ in channels), 60)
    sent: dict[str, list[bytes]] = {}
    for _ in range(40):
        side, ch, _kind = r.choice(channels)
        if ch.ready_state != "open":
            continue
        msg = f"{ch.label}:{len(sent.get(ch.label, []))}:".encode() + r.randbytes(
            r.choice([1, 500, 3000])
        )
        ch.send(msg)
        sent.setdefault(ch.label, []).append(msg)
        if r.random() < 0.2:
            p.net.run(lambda: False, 0.05)
    victim = channels[r.randrange(4)][1]
    victim.close()
    assert p.net.run(
        lambda: (
            victim.ready_state == "closed"
            and p.a.association.sender.idle()
            and p.b.association.sender.idle()
        ),
        600,
    )
    for side, ch, kind in channels:
        addr = B if side is p.a else A
        got = [
            e.data
            for e in p.net.events[addr]
            if isinstance(e, ChannelMessage) and e.channel.label == ch.label
        ]
        assert len(set(got)) == len(got)
        assert set(got) <= set(sent.get(ch.label, []))
        if kind == 0 and ch.ordered:
            assert got == sent.get(ch.label, [])
    assert p.a.association.is_established and p.b.association.is_established
    again = p.a.create_data_channel("reborn")
    assert p.net.run(
        lambda: again.ready_state == "open" and bool(p.events(B, DataChannelOpened)), 30
    )


def test_open_and_abort_in_one_burst_drops_the_open() -> None:
    """A DATA_CHANNEL_OPEN followed by an ABORT in the same burst: by the time the OPEN is
    read the association is closed, so it is dropped (counted), not answered (no raise)."""
    a = DataChannelManager(dtls_role="client", rng=random.Random(1))
    b = DataChannelManager(dtls_role="server", rng=random.Random(2))
    a.connect(0.0)
    b.connect(0.0)
    for _ in range(10):
        for packet in a.packets_to_send(0.0):
            b.receive_packet(packet, 0.0)
        for packet in b.packets_to_send(0.0):
            a.receive_packet(packet, 0.0)
        while a.next_event() is not None or b.next_event() is not None:
            pass
    a.create_data_channel("late")
    burst = a.packets_to_send(0.0)
    a.association.abort("bye")
    burst += a.packets_to_send(0.0)
    for packet in burst:
        b.receive_packet(packet, 0.0)
    events = []
    while (event := b.next_event()) is not None:
        events.append(event)
    assert [type(e) for e in events] == [TransportClosed]
    assert b.dropped_messages == 1 and not b.channels
