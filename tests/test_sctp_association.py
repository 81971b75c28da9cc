"""The SCTP association on an in-memory network with a virtual clock (no sleeping)."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.common.core import Event
from pyrtcstack.sctp import (
    Association,
    AssociationClosed,
    AssociationEstablished,
    DatagramAdapter,
    IncomingStreamsReset,
    MessageReceived,
    MessageTooLargeError,
    OutgoingStreamsReset,
    SctpConfig,
    SctpError,
    State,
    decode_packet,
    encode_packet,
)
from pyrtcstack.sctp.chunks import (
    AbortChunk,
    CookieEchoChunk,
    DataChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitChunk,
    SackChunk,
    UnknownChunk,
)
from pyrtcstack.sctp.cookie import CookieContents, seal_cookie
from pyrtcstack.sctp.handshake import Handshake
from pyrtcstack.sctp.params import Parameter
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

A = ("10.0.0.1", 5000)
B = ("10.0.0.2", 5000)


class Pair:
    """Two associations on a MemoryNetwork."""

    def __init__(
        self,
        seed: int = 0,
        impairment: Impairment | None = None,
        config_a: SctpConfig | None = None,
        config_b: SctpConfig | None = None,
    ) -> None:
        self.a = Association(config_a, rng=random.Random(seed))
        self.b = Association(config_b, rng=random.Random(seed + 10_000))
        self.net = MemoryNetwork(impairment, seed=seed)
        self.net.add(A, DatagramAdapter(self.a, B))
        self.net.add(B, DatagramAdapter(self.b, A))

    def connect(self, both: bool = False) -> None:
        self.a.connect(self.net.now)
        if both:
            self.b.connect(self.net.now)
        assert self.net.run(lambda: self.a.is_established and self.b.is_established, 120)

    def messages(self, addr: Any) -> list[MessageReceived]:
        return [e for e in self.net.events[addr] if isinstance(e, MessageReceived)]

    def events(self, addr: Any, kind: type[Event]) -> list[Any]:
        return [e for e in self.net.events[addr] if isinstance(e, kind)]

    def data_chunks(self, src: Any) -> list[tuple[float, DataChunk]]:
        return [
            (d.at, c)
            for d in self.net.sent
            if d.src == src
            for c in decode_packet(d.data).chunks
            if isinstance(c, DataChunk)
        ]


# -- handshake ---------------------------------------------------------------------------
def test_handshake_and_init_contents() -> None:
    p = Pair()
    p.connect()
    first = decode_packet(p.net.sent[0].data)
    assert first.verification_tag == 0 and (first.source_port, first.destination_port) == (
        5000,
        5000,
    )
    init = first.chunks[0]
    assert isinstance(init, InitChunk)
    # SCTP-04: Forward-TSN-Supported and Supported Extensions (RE-CONFIG, FORWARD-TSN).
    assert init.param(0xC000) == b""
    ext = init.param(0x8008)
    assert ext is not None and 130 in ext and 192 in ext
    assert init.outbound_streams == init.inbound_streams == 65535
    est = p.events(A, AssociationEstablished)[0]
    assert est.partial_reliability and est.stream_reset
    assert est.outbound_streams == 65535


def test_streams_are_the_minimum_of_both_offers() -> None:
    p = Pair(config_a=SctpConfig(outbound_streams=10, inbound_streams=300))
    p.connect()
    assert (p.a.outbound_streams, p.a.inbound_streams) == (10, 300)
    assert (p.b.outbound_streams, p.b.inbound_streams) == (300, 10)
    with pytest.raises(SctpError):
        p.a.send(10, b"x", 53)


@pytest.mark.parametrize("seed", range(8))
def test_simultaneous_init_gives_one_association(seed: int) -> None:
    p = Pair(seed, Impairment(delay=0.01, jitter=0.01))
    p.connect(both=True)
    assert p.a.peer_tag == p.b.local_tag and p.b.peer_tag == p.a.local_tag
    assert not p.events(A, AssociationClosed) and not p.events(B, AssociationClosed)
    assert len(p.events(A, AssociationEstablished)) == len(p.events(B, AssociationEstablished)) == 1
    sent = [c for d in p.net.sent for c in decode_packet(d.data).chunks]
    assert not any(isinstance(c, AbortChunk) for c in sent)
    p.a.send(0, b"ping", 51)
    p.b.send(1, b"pong", 51)
    p.net.run(lambda: bool(p.messages(A) and p.messages(B)), 10)
    assert p.messages(B)[0].data == b"ping" and p.messages(A)[0].data == b"pong"


def test_handshake_survives_loss_of_init_and_cookie() -> None:
    dropped: list[int] = []

    def drop_first_two(data: bytes, src: Any, dst: Any) -> bool:
        if len(dropped) < 2:
            dropped.append(1)
            return True
        return False

    p = Pair(impairment=Impairment(drop_if=drop_first_two))
    p.connect()
    assert p.net.now >= 1.0  # T1-init fired and retransmitted


def test_forged_and_expired_cookies_are_rejected() -> None:
    p = Pair()
    b = p.b
    tag = b.local_tag
    # A cookie signed with another key.
    forged = seal_cookie(b"k" * 32, CookieContents(0.0, tag, 1234, 1, 2, 100000, 10, 10, 3))
    pkt = encode_packet(5000, 5000, tag, [CookieEchoChunk(forged).encode()])
    b.receive_packet(pkt, 0.0)
    assert b.state is State.CLOSED and b.stats.bad_cookie == 1
    # A genuine cookie, echoed after Valid.Cookie.Life.
    p.a.connect(0.0)
    init = p.a.packets_to_send(0.0)[0]
    b.receive_packet(init, 0.0)
    init_ack = decode_packet(b.packets_to_send(0.0)[0]).chunks[0]
    assert isinstance(init_ack, InitChunk)
    cookie = init_ack.param(7)
    assert cookie is not None
    echo = encode_packet(5000, 5000, tag, [CookieEchoChunk(cookie).encode()])
    b.receive_packet(echo, 61.0)
    assert b.state is State.CLOSED and b.stats.bad_cookie == 2
    # Tampered by one bit.
    bad = bytearray(cookie)
    bad[10] ^= 1
    b.receive_packet(encode_packet(5000, 5000, tag, [CookieEchoChunk(bytes(bad)).encode()]), 1.0)
    assert b.state is State.CLOSED and b.stats.bad_cookie == 3
    # The genuine one in time is accepted.
    b.receive_packet(echo, 1.0)
    assert b.state is State.ESTABLISHED


def test_bad_checksum_and_bad_tag_are_dropped_and_counted() -> None:
    p = Pair()
    p.connect()
    pkt = encode_packet(
        5000, 5000, p.b.local_tag, [DataChunk(p.a.sender.next_tsn, 0, 0, 51, b"x").encode()]
    )
    broken = bytearray(pkt)
    broken[-1] ^= 0x40
    p.b.receive_packet(bytes(broken), p.net.now)
    assert p.b.stats.bad_checksum == 1
    wrong_tag = encode_packet(
        5000, 5000, p.b.local_tag ^ 1, [DataChunk(1, 0, 0, 51, b"x").encode()]
    )
    p.b.receive_packet(wrong_tag, p.net.now)
    assert p.b.stats.bad_verification_tag == 1
    p.net.run(timeout=1)
    assert not p.messages(B)


# -- data transfer -------------------------------------------------------------------------
def _transfer(seed: int, impairment: Impairment, count: int, max_size: int) -> Pair:
    rng = random.Random(seed)
    cfg = SctpConfig(remote_max_message_size=max_size)
    p = Pair(seed, impairment, cfg, SctpConfig(remote_max_message_size=max_size))
    p.connect(both=bool(seed % 2))
    sent: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for i in range(count):
        size = rng.choice(
            [1, 2, 3, 100, 1163, 1164, 5000, rng.randrange(1, max_size + 1), max_size]
        )
        data = rng.randbytes(min(size, max_size))
        sid = i % 3
        p.a.send(sid, data, 53, unordered=(sid == 2))
        sent[sid].append(data)
    back = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(10)]
    for data in back:
        p.b.send(7, data, 51)
    assert p.net.run(
        lambda: len(p.messages(B)) == count and len(p.messages(A)) == len(back), 3600
    ), (len(p.messages(B)), count)
    got = p.messages(B)
    for sid in (0, 1):  # ordered: exactly once, intact, in order
        assert [m.data for m in got if m.stream_id == sid] == sent[sid]
    unordered = [m.data for m in got if m.stream_id == 2]
    assert sorted(unordered) == sorted(sent[2]) and all(
        m.unordered for m in got if m.stream_id == 2
    )
    assert [m.data for m in p.messages(A)] == back
    return p


@pytest.mark.parametrize("seed", range(12))
def test_transfer_under_loss_duplication_and_reordering(seed: int) -> None:
    imp = Impairment(loss=0.08, duplicate=0.05, reorder=0.1, delay=0.01, jitter=0.004)
    p = _transfer(seed, imp, 30, 65536)
    assert p.a.sender.retransmissions > 0


@settings(max_examples=60)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 0.2),
    st.floats(0.0, 0.2),
    st.floats(0.0, 0.3),
)
def test_transfer_property(seed: int, loss: float, dup: float, reorder: float) -> None:
    imp = Impairment(loss=loss, duplicate=dup, reorder=reorder, delay=0.005, jitter=0.003)
    _transfer(seed, imp, 12, 20000)


def test_max_message_size_messages_round_trip() -> None:
    _transfer(3, Impairment(loss=0.02, delay=0.01), 6, 262144)


def test_tsn_wraps_around() -> None:
    cfg = SctpConfig(initial_tsn=0xFFFFFFF0)
    p = Pair(1, Impairment(loss=0.1, delay=0.01), config_a=cfg)
    p.connect()
    msgs = [bytes([i]) * (i * 100 + 1) for i in range(64)]
    for m in msgs:
        p.a.send(3, m, 53)
    assert p.net.run(lambda: len(p.messages(B)) == 64, 600)
    assert [m.data for m in p.messages(B)] == msgs
    assert p.a.sender.next_tsn < 0x1000


def test_bundling_fills_packets_and_sack_is_delayed() -> None:
    p = Pair()
    p.connect()
    before = len(p.net.sent)
    for _ in range(50):
        p.a.send(1, b"m" * 100, 53)
    assert p.net.run(lambda: len(p.messages(B)) == 50, 10)
    from_a = [d for d in p.net.sent[before:] if d.src == A]
    from_b = [d for d in p.net.sent[before:] if d.src == B]
    # 50 x (16 + 100) bytes of DATA fit in 5-6 packets of <= 1191 bytes.
    assert len(from_a) <= 8
    assert all(len(d.data) <= 1191 for d in from_a)
    assert len(from_b) <= len(from_a)  # SACK every second packet, or by the timer


def test_fast_retransmit_without_timeout() -> None:
    target: list[int] = []

    def drop_one(data: bytes, src: Any, dst: Any) -> bool:
        if src != A:
            return False
        for c in decode_packet(data).chunks:
            if isinstance(c, DataChunk) and c.ssn == 3 and c.stream_id == 1 and not target:
                target.append(c.tsn)
                return True
        return False

    p = Pair(impairment=Impairment(delay=0.02, drop_if=drop_one))
    p.connect()
    for _ in range(20):
        p.a.send(1, b"z" * 1000, 53)
    assert p.net.run(lambda: len(p.messages(B)) == 20, 10)
    s = p.a.sender
    assert target and s.fast_retransmissions >= 1 and s.t3_expirations == 0
    assert p.net.now < 0.5  # well before any RTO


def test_t3_timeout_collapses_cwnd_and_doubles_rto() -> None:
    p = Pair(impairment=Impairment(delay=0.01))
    p.connect()
    s = p.a.sender
    p.net.impairment.loss = 1.0
    p.a.send(1, b"q" * 5000, 53)
    rto = s.rto
    p.net.run(lambda: s.t3_expirations >= 1, 10)
    assert s.cwnd == s.mtu
    assert s.rto == min(2 * rto, p.a.config.rto_max)
    p.net.impairment.loss = 0.0
    assert p.net.run(lambda: len(p.messages(B)) == 1, 30)


def test_rto_converges_to_min_with_steady_rtt() -> None:
    p = Pair(impairment=Impairment(delay=0.05), config_a=SctpConfig(rto_min=0.4, rto_initial=0.5))
    p.connect()
    for _ in range(40):
        p.a.send(1, b"r" * 500, 53)
        p.net.run(lambda: False, 0.3)
    s = p.a.sender
    assert s.srtt is not None and 0.09 <= s.srtt <= 0.35
    assert s.rto == pytest.approx(0.4)


def test_slow_start_grows_cwnd() -> None:
    p = Pair(impairment=Impairment(delay=0.01))
    p.connect()
    s = p.a.sender
    initial = s.cwnd
    assert initial == min(4 * s.mtu, max(2 * s.mtu, 4380))
    for _ in range(200):
        p.a.send(1, b"s" * 1000, 53)
    p.net.run(lambda: len(p.messages(B)) == 200, 30)
    assert s.cwnd > 4 * initial


def test_heartbeat_when_idle_and_echo() -> None:
    p = Pair(impairment=Impairment(delay=0.01))
    p.connect()
    p.net.run(lambda: False, 40)  # idle past HB.interval + RTO
    hbs = [c for d in p.net.sent for c in decode_packet(d.data).chunks if type(c) is HeartbeatChunk]
    acks = [
        c for d in p.net.sent for c in decode_packet(d.data).chunks if type(c) is HeartbeatAckChunk
    ]
    assert hbs and acks and hbs[0].params == acks[0].params
    # SCTP-15: a 37-byte Heartbeat Info comes back verbatim.
    info = Parameter(1, bytes(range(37)))
    pkt = encode_packet(5000, 5000, p.b.local_tag, [HeartbeatChunk([info]).encode()])
    p.b.receive_packet(pkt, p.net.now)
    out = [decode_packet(x) for x in p.b.packets_to_send(p.net.now)]
    echoed = [c for pk in out for c in pk.chunks if isinstance(c, HeartbeatAckChunk)]
    assert echoed and echoed[0].params == [info]


def test_peer_unreachable_closes_after_max_retransmissions() -> None:
    p = Pair(impairment=Impairment(delay=0.01), config_a=SctpConfig(rto_max=2.0))
    p.connect()
    p.net.impairment.loss = 1.0
    p.a.send(1, b"x", 53)
    p.net.run(lambda: bool(p.events(A, AssociationClosed)), 600)
    closed = p.events(A, AssociationClosed)
    assert closed and "unreachable" in (closed[0].error or "")


# -- limits ----------------------------------------------------------------------------------
def test_peer_max_message_size_enforced_at_send() -> None:
    p = Pair(config_a=SctpConfig(remote_max_message_size=1000))
    p.connect()
    p.a.send(1, b"x" * 1000, 53)
    with pytest.raises(MessageTooLargeError, match="max-message-size"):
        p.a.send(1, b"x" * 1001, 53)


def test_oversized_incoming_message_aborts() -> None:
    small = SctpConfig(max_message_size=10_000, receive_window=200_000)
    p = Pair(config_a=SctpConfig(remote_max_message_size=0), config_b=small)
    p.connect()
    p.a.send(1, b"x" * 20_000, 53)
    p.net.run(lambda: bool(p.events(A, AssociationClosed)), 10)
    assert p.events(B, AssociationClosed) and not p.messages(B)
    assert p.events(A, AssociationClosed)[0].aborted


def test_receiver_that_never_reads_holds_at_most_its_window() -> None:
    window = 64 * 1024 + 8 * 1191
    cfg_b = SctpConfig(receive_window=window + 300_000, max_message_size=65536)
    p = Pair(config_b=cfg_b, impairment=Impairment(delay=0.005))
    cfg_b.receive_window = window + 300_000
    p.connect()
    b_adapter = p.net.cores[B]

    class Deaf:
        """B's core, except the application never pops events."""

        def receive_datagram(self, data: bytes, addr: Any, now: float) -> None:
            b_adapter.receive_datagram(data, addr, now)

        def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]:
            return b_adapter.datagrams_to_send(now)

        def get_timer(self) -> float | None:
            return b_adapter.get_timer()

        def handle_timer(self, now: float) -> None:
            b_adapter.handle_timer(now)

        def next_event(self) -> Event | None:
            return None

    p.net.cores[B] = Deaf()
    for _ in range(200):
        p.a.send(1, b"w" * 10_000, 53)
    p.net.run(lambda: False, 120)
    r = p.b.receiver
    assert r is not None
    assert r.buffered <= cfg_b.receive_window
    assert p.a.buffered_amount(1) > 0  # the sender is held back by the zero window
    assert p.a.sender.peer_rwnd < 10_000
    # Probes stay rare: one chunk per RTO, not a flood.
    assert len(p.net.sent) < 2000


def test_send_buffer_is_bounded() -> None:
    p = Pair(config_a=SctpConfig(max_send_buffer=100_000))
    p.connect()
    for _ in range(10):
        p.a.send(1, b"b" * 10_000, 53)
    with pytest.raises(SctpError, match="send buffer"):
        p.a.send(1, b"b", 53)


# -- unknown chunks (§3.2) ----------------------------------------------------------------------
def test_unknown_chunk_upper_bits() -> None:
    p = Pair()
    p.connect()
    tag = p.b.local_tag
    tsn = p.a.sender.next_tsn
    # 0x7F (01): stop processing, report; the DATA after it is not processed.
    pkt = encode_packet(
        5000, 5000, tag, [UnknownChunk(0x7F).encode(), DataChunk(tsn, 1, 0, 53, b"lost").encode()]
    )
    p.b.receive_packet(pkt, p.net.now)
    out = [c for x in p.b.packets_to_send(p.net.now) for c in decode_packet(x).chunks]
    assert any(type(c).__name__ == "ErrorChunk" and c.causes[0].code == 6 for c in out)  # type: ignore[union-attr]
    # 0xBF (10): skip silently, the DATA is delivered.
    pkt = encode_packet(
        5000, 5000, tag, [UnknownChunk(0xBF).encode(), DataChunk(tsn, 1, 0, 53, b"kept").encode()]
    )
    p.b.receive_packet(pkt, p.net.now)
    out = [c for x in p.b.packets_to_send(p.net.now) for c in decode_packet(x).chunks]
    assert not any(type(c).__name__ == "ErrorChunk" for c in out)
    events = []
    while (e := p.b.next_event()) is not None:
        events.append(e)
    assert [e.data for e in events if isinstance(e, MessageReceived)] == [b"kept"]


# -- shutdown and abort (§9) ---------------------------------------------------------------------
def test_graceful_shutdown_delivers_queued_data_first() -> None:
    p = Pair(impairment=Impairment(loss=0.1, delay=0.01))
    p.connect()
    for i in range(20):
        p.a.send(1, bytes([i]) * 3000, 53)
    p.a.shutdown()
    with pytest.raises(SctpError):
        p.a.send(1, b"late", 53)
    assert p.net.run(lambda: p.a.state is State.CLOSED and p.b.state is State.CLOSED, 120)
    assert len(p.messages(B)) == 20
    assert p.events(A, AssociationClosed)[0].error is None
    assert p.events(B, AssociationClosed)[0].error is None


def test_abort_closes_both_sides() -> None:
    p = Pair()
    p.connect()
    p.a.abort("bye")
    assert p.net.run(lambda: bool(p.events(B, AssociationClosed)), 5)
    ev = p.events(B, AssociationClosed)[0]
    assert ev.aborted and "bye" in (ev.error or "")
    assert p.a.state is State.CLOSED and p.b.state is State.CLOSED


# -- stream reset (RFC 6525) ------------------------------------------------------------------
def test_stream_reset_both_directions_and_ssn_restarts() -> None:
    p = Pair(impairment=Impairment(loss=0.05, delay=0.01), seed=4)
    p.connect()
    for i in range(5):
        p.a.send(2, bytes([i]) * 2000, 53)
    p.a.reset_streams([2])
    with pytest.raises(SctpError):
        p.a.send(2, b"during reset", 53)
    assert p.net.run(lambda: bool(p.events(A, OutgoingStreamsReset)), 60)
    assert p.events(A, OutgoingStreamsReset)[0].stream_ids == (2,)
    assert p.events(B, IncomingStreamsReset)[0].stream_ids == (2,)
    # Every message sent before the reset was delivered before the reset event.
    b_events = [e for e in p.net.events[B] if isinstance(e, MessageReceived | IncomingStreamsReset)]
    assert [type(e) for e in b_events] == [MessageReceived] * 5 + [IncomingStreamsReset]
    # The stream is usable again, its SSN starting at 0.
    p.a.send(2, b"again", 53)
    p.net.run(lambda: len(p.messages(B)) == 6, 30)
    assert p.messages(B)[-1].data == b"again"
    assert any(c.ssn == 0 and c.data == b"again" for _, c in p.data_chunks(A))


def test_reset_request_before_last_data_is_deferred() -> None:
    # The DATA is delayed so the RE-CONFIG overtakes it: the reset waits for the data.
    def hold_data(data: bytes, src: Any, dst: Any) -> bool:
        return False

    p = Pair(impairment=Impairment(delay=0.01, drop_if=hold_data))
    p.connect()
    held: list[bytes] = []

    def drop_first_data(data: bytes, src: Any, dst: Any) -> bool:
        if (
            src == A
            and not held
            and any(isinstance(c, DataChunk) for c in decode_packet(data).chunks)
        ):
            held.append(data)
            return True
        return False

    p.net.impairment.drop_if = drop_first_data
    p.a.send(5, b"last words", 53)
    p.a.reset_streams([5])
    p.net.run(lambda: False, 0.5)
    assert held and not p.events(B, IncomingStreamsReset)  # deferred: data missing
    p.net.run(lambda: bool(p.events(A, OutgoingStreamsReset)), 30)
    b_events = [e for e in p.net.events[B] if isinstance(e, MessageReceived | IncomingStreamsReset)]
    assert [type(e) for e in b_events] == [MessageReceived, IncomingStreamsReset]


# -- partial reliability (RFC 3758, RFC 7496) ----------------------------------------------
@pytest.mark.parametrize(
    ("max_retransmits", "ordered"),
    [(0, True), (0, False), (1, True), (3, True), (3, False)],
)
def test_max_retransmits_bound_and_abandonment(max_retransmits: int, ordered: bool) -> None:
    """maxRetransmits N: each chunk is sent at most 1 + N times (RFC 7496 §4); messages
    the sender abandoned are skipped with FORWARD TSN and later messages still arrive."""
    loss = 0.25 + 0.05 * max_retransmits
    p = Pair(seed=max_retransmits, impairment=Impairment(loss=loss, delay=0.01, reorder=0.05))
    p.connect()
    rng = random.Random(max_retransmits)
    msgs = [rng.randbytes(rng.randrange(1, 4000)) for _ in range(60)]
    for m in msgs:
        p.a.send(4, m, 53, unordered=not ordered, max_retransmits=max_retransmits)
    p.a.send(6, b"reliable tail", 53)  # a reliable message after all of them
    p.net.run(lambda: any(m.stream_id == 6 for m in p.messages(B)) and p.a.sender.idle(), 600)
    counts: dict[int, int] = {}
    for _, c in p.data_chunks(A):
        if c.stream_id == 4:
            counts[c.tsn] = counts.get(c.tsn, 0) + 1
    assert max(counts.values()) <= 1 + max_retransmits
    got = [m.data for m in p.messages(B) if m.stream_id == 4]
    assert len(set(got)) == len(got)  # never twice
    assert set(got) <= set(msgs)  # only intact messages
    if ordered:
        order = [msgs.index(g) for g in got]
        assert order == sorted(order)
    assert p.a.sender.abandoned_messages > 0
    assert any(
        type(c).__name__ == "ForwardTsnChunk"
        for d in p.net.sent
        if d.src == A
        for c in decode_packet(d.data).chunks
    )


def test_lifetime_bounds_transmissions() -> None:
    lifetime = 0.15
    p = Pair(seed=9, impairment=Impairment(loss=0.3, delay=0.02))
    p.connect()
    start = p.net.now
    msgs = [bytes([i]) * 3000 for i in range(40)]
    for m in msgs:
        p.a.send(8, m, 53, lifetime=lifetime)
    p.a.send(9, b"tail", 53)
    p.net.run(lambda: any(m.stream_id == 9 for m in p.messages(B)) and p.a.sender.idle(), 600)
    # No DATA of stream 8 leaves after its lifetime (all were queued at `start`).
    late = [at for at, c in p.data_chunks(A) if c.stream_id == 8 and at > start + lifetime + 1e-9]
    assert not late
    got = [m.data for m in p.messages(B) if m.stream_id == 8]
    assert set(got) <= set(msgs) and len(got) < len(msgs)
    order = [msgs.index(g) for g in got]
    assert order == sorted(order)


def test_partial_reliability_is_reliable_without_peer_support(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = Pair(impairment=Impairment(loss=0.2, delay=0.01))
    p.a.connect(0.0)

    # Strip FORWARD-TSN from B's INIT-ACK as a peer without RFC 3758 would (A's INIT is
    # already built).
    with monkeypatch.context() as m:
        m.setattr(Handshake, "extension_params", lambda self, *_: [Parameter(0x8008, bytes([130]))])
        assert p.net.run(lambda: p.a.is_established and p.b.is_established, 60)
    assert not p.a.partial_reliability
    for i in range(20):
        p.a.send(1, bytes([i]) * 2000, 53, max_retransmits=0)
    assert p.net.run(lambda: len(p.messages(B)) == 20, 300)


def test_sack_reports_gaps_and_duplicates() -> None:
    p = Pair()
    p.connect()
    tag = p.b.local_tag
    base = p.a.sender.next_tsn
    now = p.net.now
    p.b.packets_to_send(now)
    for off in (0, 2, 2, 4):
        chunk = DataChunk((base + off) & 0xFFFFFFFF, 1, off, 53, b"d")
        p.b.receive_packet(encode_packet(5000, 5000, tag, [chunk.encode()]), now)
    sacks = [
        c
        for x in p.b.packets_to_send(now)
        for c in decode_packet(x).chunks
        if isinstance(c, SackChunk)
    ]
    assert sacks
    last = sacks[-1]
    assert last.cumulative_tsn == base
    assert last.gaps == [(2, 2), (4, 4)]
    assert any(d == (base + 2) & 0xFFFFFFFF for s in sacks for d in s.duplicates)


def test_data_without_user_data_aborts() -> None:
    p = Pair()
    p.connect()
    raw = struct.pack("!BBHIHHI", 0, 3, 16, p.a.sender.next_tsn, 1, 0, 53)
    p.b.receive_packet(encode_packet(5000, 5000, p.b.local_tag, [raw]), p.net.now)
    assert p.b.state is State.CLOSED


@pytest.mark.parametrize(("max_retransmits", "transmissions"), [(0, 1), (1, 2), (2, 3), (5, 6)])
def test_max_retransmits_table(max_retransmits: int, transmissions: int) -> None:
    """RFC 7496 §4: maxRetransmits N means N retransmissions, so 1 + N transmissions of a
    chunk that is always lost; then the message is abandoned and FORWARD TSN skips it."""
    doomed = b"D" * 3000  # three chunks

    def drop_doomed(data: bytes, src: Any, dst: Any) -> bool:
        return src == A and any(
            isinstance(c, DataChunk) and c.stream_id == 4 and c.ppid == 99
            for c in decode_packet(data).chunks
        )

    p = Pair(impairment=Impairment(delay=0.01, drop_if=drop_doomed))
    p.connect()
    p.a.send(4, doomed, 99, max_retransmits=max_retransmits)
    p.a.send(4, b"after", 53)  # reliable, same ordered stream, may share a lost packet
    assert p.net.run(lambda: len(p.messages(B)) == 1 and p.a.sender.idle(), 300)
    assert [m.data for m in p.messages(B)] == [b"after"]
    counts: dict[int, int] = {}
    for _, c in p.data_chunks(A):
        if c.ppid == 99:
            counts[c.tsn] = counts.get(c.tsn, 0) + 1
    # The first chunk to exceed its bound abandons the whole message (RFC 3758 §3.5), so
    # no chunk goes out more than 1 + N times and at least one went exactly that often.
    assert len(counts) == 3 and max(counts.values()) == transmissions
    assert p.a.sender.abandoned_messages == 1
    fwd = [
        c
        for d in p.net.sent
        if d.src == A
        for c in decode_packet(d.data).chunks
        if type(c).__name__ == "ForwardTsnChunk"
    ]
    assert fwd and fwd[0].streams == [(4, 0)]  # type: ignore[union-attr]


def test_send_after_close_raises() -> None:
    p = Pair()
    p.connect()
    p.a.abort()
    with pytest.raises(SctpError, match="closed"):
        p.a.send(1, b"x", 53)


def test_data_queued_before_the_handshake_is_sent_after_it() -> None:
    p = Pair()
    p.a.send(1, b"early bird", 51)
    p.connect()
    assert p.net.run(lambda: bool(p.messages(B)), 5)
    assert p.messages(B)[0].data == b"early bird"


def test_data_bundled_after_cookie_ack_is_accepted() -> None:
    p = Pair()
    a, b = p.a, p.b
    a.connect(0.0)
    b.receive_packet(a.packets_to_send(0.0)[0], 0.0)  # INIT
    a.receive_packet(b.packets_to_send(0.0)[0], 0.0)  # INIT ACK
    b.receive_packet(a.packets_to_send(0.0)[0], 0.0)  # COOKIE ECHO
    b.send(1, b"bundled", 51)
    out = b.packets_to_send(0.0)
    chunks = [type(c).__name__ for c in decode_packet(out[0]).chunks]
    assert chunks[:2] == ["CookieAckChunk", "DataChunk"]
    a.receive_packet(out[0], 0.0)
    events = []
    while (e := a.next_event()) is not None:
        events.append(e)
    assert [e.data for e in events if isinstance(e, MessageReceived)] == [b"bundled"]


def test_streams_are_served_round_robin() -> None:
    """A backlog on one stream does not hold back another stream's message."""
    p = Pair(impairment=Impairment(delay=0.01))
    p.connect()
    for _ in range(100):
        p.a.send(1, bytes(16384), 53)
    p.a.send(2, b"urgent", 51)
    assert p.net.run(lambda: any(m.stream_id == 2 for m in p.messages(B)), 30)
    order = [m.stream_id for m in p.messages(B)]
    assert order.index(2) <= 2
    assert p.net.run(lambda: len(p.messages(B)) == 101, 60)


def test_ssn_wraps_around() -> None:
    from pyrtcstack.sctp.receiver import Receiver

    r = Receiver(100, 1 << 20, 1 << 16)
    r.next_ssn.fromlist([0, 0, 0, 65534])  # stream 3 expects 65534
    tsn = 100
    for ssn in (65535, 65534, 0, 1):  # one arrives early, then the wrap
        r.receive(tsn, 3, ssn, 53, 3, bytes([ssn & 0xFF]))
        tsn += 1
    assert [d for _, _, d, _ in r.ready] == [bytes([0xFE]), bytes([0xFF]), b"\x00", b"\x01"]


def test_hostile_sack_with_overlapping_gap_blocks_is_cheap() -> None:
    p = Pair()
    p.connect()
    for _ in range(20):
        p.a.send(1, b"x" * 1000, 53)
    p.a.packets_to_send(p.net.now)  # in flight, never delivered
    cum = p.a.sender.cum_ack
    sack = SackChunk(cum, 100_000, [(1, 65535)] * 300, [])
    p.a.receive_packet(encode_packet(5000, 5000, p.a.local_tag, [sack.encode()]), p.net.now)
    assert p.a.sender.flight == 0  # the first block acknowledged everything once


def test_get_stats() -> None:
    p = Pair(impairment=Impairment(loss=0.1, delay=0.01))
    p.connect()
    for _ in range(20):
        p.a.send(1, bytes(3000), 53)
    p.net.run(lambda: len(p.messages(B)) == 20 and p.a.sender.idle(), 60)
    stats = p.a.get_stats()
    assert stats["packets_sent"] and stats["retransmissions"] and stats["srtt"]
    assert stats["send_buffered"] == 0 and stats["flight_size"] == 0


def test_handshake_gives_up_after_max_init_retransmissions() -> None:
    p = Pair(impairment=Impairment(loss=1.0), config_a=SctpConfig(max_init_retransmissions=3))
    p.a.connect(0.0)
    assert p.net.run(lambda: bool(p.events(A, AssociationClosed)), 600)
    inits = [d for d in p.net.sent if d.src == A]
    assert len(inits) == 4  # the INIT and 3 retransmissions (1, 2, 4 s apart)
    assert "Max.Init.Retransmits" in (p.events(A, AssociationClosed)[0].error or "")


def test_duplicate_cookie_echo_is_acknowledged_again() -> None:
    p = Pair()
    a, b = p.a, p.b
    a.connect(0.0)
    b.receive_packet(a.packets_to_send(0.0)[0], 0.0)
    a.receive_packet(b.packets_to_send(0.0)[0], 0.0)
    echo = a.packets_to_send(0.0)[0]
    b.receive_packet(echo, 0.0)
    b.packets_to_send(0.0)  # this COOKIE ACK is lost
    b.receive_packet(echo, 90.0)  # retransmitted long after, past Valid.Cookie.Life
    out = [type(c).__name__ for x in b.packets_to_send(90.0) for c in decode_packet(x).chunks]
    assert "CookieAckChunk" in out
    assert b.stats.bad_cookie == 0


def _checksums(p: Pair, src: Any) -> list[tuple[int, bytes]]:
    return [(d.data[12], d.data[8:12]) for d in p.net.sent if d.src == src]


def test_zero_checksum_when_both_announce_it() -> None:
    """RFC 9653: after the handshake, packets carry checksum 0; INIT always a real CRC."""
    p = Pair(config_a=SctpConfig(zero_checksum=True), config_b=SctpConfig(zero_checksum=True))
    p.connect()
    init = decode_packet(p.net.sent[0].data).chunks[0]
    assert isinstance(init, InitChunk) and init.param(0x8001) == b"\x00\x00\x00\x01"
    before = len(p.net.sent)
    p.a.send(1, b"z" * 3000, 53)
    p.net.run(lambda: bool(p.messages(B)), 5)
    after = p.net.sent[before:]
    assert after and all(d.data[8:12] == b"\x00\x00\x00\x00" for d in after)
    first_type, first_crc = _checksums(p, A)[0]
    assert first_type == 1 and first_crc != b"\x00\x00\x00\x00"
    # A zero-checksum INIT is refused even so.
    fake_init = bytearray(p.net.sent[0].data)
    fake_init[8:12] = bytes(4)
    fresh = Association(SctpConfig(zero_checksum=True), rng=random.Random(5))
    fresh.receive_packet(bytes(fake_init), 0.0)
    assert fresh.stats.bad_checksum == 1


def test_no_zero_checksum_unless_the_peer_announced_it() -> None:
    p = Pair(config_a=SctpConfig(zero_checksum=True), config_b=SctpConfig(zero_checksum=False))
    p.connect()
    init_ack = next(c for d in p.net.sent if d.src == B for c in decode_packet(d.data).chunks)
    assert isinstance(init_ack, InitChunk) and init_ack.param(0x8001) is None
    before = len(p.net.sent)
    p.a.send(1, b"z" * 3000, 53)
    p.b.send(1, b"y" * 3000, 53)
    p.net.run(lambda: bool(p.messages(B) and p.messages(A)), 5)
    after = p.net.sent[before:]
    # A may not send 0 (B did not announce it); B has the feature off, so sends CRCs too.
    assert after and all(d.data[8:12] != bytes(4) for d in after)
    # B, which did not announce it, drops a packet with checksum 0.
    pkt = bytearray(
        encode_packet(5000, 5000, p.b.local_tag, [DataChunk(1, 1, 0, 51, b"x").encode()])
    )
    pkt[8:12] = bytes(4)
    p.b.receive_packet(bytes(pkt), p.net.now)
    assert p.b.stats.bad_checksum == 1
