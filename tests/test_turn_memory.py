"""TURN client ↔ our TURN server on the virtual-clock MemoryNetwork (RFC 8656)."""

from __future__ import annotations

import random
from collections import deque

import pytest

from pyrtcstack.common import Address, Event
from pyrtcstack.stun import AttributeType, Method, decode
from pyrtcstack.testing.pair import Impairment, MemoryNetwork
from pyrtcstack.turn.client import ClientState, TurnClient
from pyrtcstack.turn.errors import (
    AllocationMismatchError,
    AllocationQuotaError,
    InsufficientCapacityError,
    TurnRemoteError,
    TurnUsageError,
)
from pyrtcstack.turn.events import (
    Allocated,
    AllocationExpired,
    ChannelBound,
    DataReceived,
    Deallocated,
    PermissionCreated,
    Refreshed,
    RelayClosed,
    RelayOpened,
    RequestFailed,
)
from pyrtcstack.turn.server import TurnServer

SERVER: Address = ("10.0.0.1", 3478)
CLIENT: Address = ("10.0.0.2", 5000)
PEER: Address = ("10.0.0.3", 6000)
PASSWORD = "s3cret-pa55"


class Peer:
    """A plain UDP peer: records what it gets and echoes it back with a prefix."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, Address]] = []
        self._out: list[tuple[bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.got.append((data, addr))
        self._out.append((b"echo:" + data, addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return None


class Setup:
    def __init__(
        self,
        impairment: Impairment | None = None,
        seed: int = 1,
        password: str = PASSWORD,
        server_addr: Address = SERVER,
        client_addr: Address = CLIENT,
        peer_addr: Address = PEER,
        **server_kwargs: object,
    ) -> None:
        self.net = MemoryNetwork(impairment or Impairment(delay=0.01), seed=seed)
        # The peers of these tests live in 10.0.0.0/8, which the server refuses by default.
        server_kwargs.setdefault("allow_private_peers", True)
        self.server = TurnServer(
            server_addr,
            {"alice": PASSWORD},
            "example.org",
            rng=random.Random(seed),
            **server_kwargs,
        )  # type: ignore[arg-type]
        self.client = TurnClient(server_addr, "alice", password, rng=random.Random(seed + 1))
        self.peer = Peer()
        self.client_addr, self.peer_addr = client_addr, peer_addr
        self.net.add(server_addr, self.server)
        self.net.add(client_addr, self.client)
        self.net.add(peer_addr, self.peer)
        self.server_events: list[Event] = []
        self.client_events: list[Event] = []
        self.net.on_event = self._on_event

    def _on_event(self, addr: Address, event: Event) -> None:
        if addr == self.client_addr:
            self.client_events.append(event)
        else:
            self.server_events.append(event)
        if isinstance(event, RelayOpened):
            self.net.add(event.relayed_address, self.server.relay_endpoint(event.relayed_address))
        elif isinstance(event, RelayClosed):
            self.net.cores.pop(event.relayed_address, None)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.client_events if isinstance(e, kind)]

    def allocate(self) -> Allocated:
        self.client.allocate(self.net.now)
        assert self.net.run(until=lambda: bool(self.of(Allocated)), timeout=60)
        event = self.of(Allocated)[0]
        assert isinstance(event, Allocated)
        return event

    def requests(self, method: Method) -> list[float]:
        out = []
        for d in self.net.sent:
            if d.dst == SERVER and d.data[0] < 4:
                msg = decode(d.data)
                if msg.method == method and msg.message_class == 0:
                    out.append(d.at)
        return out


def test_allocate_with_long_term_credentials() -> None:
    s = Setup()
    event = s.allocate()
    assert event.relayed_address == ("10.0.0.1", 49152)
    assert event.mapped_address == CLIENT
    assert event.lifetime == 600
    assert s.client.state is ClientState.ALLOCATED
    assert s.server.stats["unauthenticated"] == 1  # the first Allocate got the 401 challenge
    first = decode(s.net.sent[0].data)
    assert first.method == Method.ALLOCATE and first.integrity is None
    second = decode(s.net.sent[2].data)
    assert second.integrity == "sha1" and second.get_text(AttributeType.USERNAME) == "alice"
    assert s.server.allocations == {CLIENT: ("10.0.0.1", 49152)}


def test_send_and_data_indications_with_permission() -> None:
    s = Setup()
    relayed = s.allocate().relayed_address
    s.client.send(b"hello", PEER, s.net.now)  # queued until the permission exists
    assert s.net.run(until=lambda: bool(s.of(DataReceived)), timeout=10)
    assert s.peer.got == [(b"hello", relayed)]
    assert s.of(PermissionCreated) == [PermissionCreated("10.0.0.3")]
    data = s.of(DataReceived)[0]
    assert data == DataReceived(PEER, b"echo:hello", None)
    # The client's send went as a Send indication (0x0016), the reply as a Data indication.
    kinds = {decode(d.data).method for d in s.net.sent if d.data[0] < 4 and d.dst == SERVER}
    assert Method.SEND in kinds
    send_ind = next(
        decode(d.data) for d in s.net.sent if d.data[:2] == b"\x00\x16" and d.dst == SERVER
    )
    assert send_ind.get_address(AttributeType.XOR_PEER_ADDRESS) == PEER


def test_no_permission_no_relay() -> None:
    s = Setup()
    relayed = s.allocate().relayed_address
    # A stranger writes to the relayed address: dropped by the server (RFC 8656 §11.3).
    s.net._schedule(b"unsolicited", ("10.0.0.9", 1), relayed)
    s.net.run(timeout=1)
    assert s.server.stats["no_permission"] == 1
    assert not s.of(DataReceived)


def test_channel_bind_and_channel_data_both_ways() -> None:
    s = Setup()
    relayed = s.allocate().relayed_address
    channel = s.client.bind_channel(PEER, s.net.now)
    assert channel == 0x4000
    assert s.net.run(until=lambda: bool(s.of(ChannelBound)), timeout=10)
    assert s.client.channel_for(PEER) == 0x4000
    s.client.send(b"over-channel", PEER, s.net.now)
    assert s.net.run(until=lambda: bool(s.of(DataReceived)), timeout=10)
    assert s.peer.got == [(b"over-channel", relayed)]
    assert s.of(DataReceived)[0] == DataReceived(PEER, b"echo:over-channel", 0x4000)
    channel_frames = [d for d in s.net.sent if d.data[0] == 0x40]
    assert len(channel_frames) == 2  # one each way, no Send/Data indications
    assert channel_frames[0].data == b"\x40\x00\x00\x0cover-channel"
    assert not [d for d in s.net.sent if d.data[:2] in (b"\x00\x16", b"\x00\x17")]


def test_refresh_timing_and_long_lived_permissions() -> None:
    s = Setup()
    s.allocate()
    start = s.net.now
    s.client.bind_channel(PEER, s.net.now)
    s.client.create_permission(("10.0.0.4", 0), s.net.now)
    s.net.run(timeout=2000)  # half an hour of virtual time, nothing else to do
    refreshes = [t - start for t in s.requests(Method.REFRESH)]
    assert refreshes and 530 <= refreshes[0] <= 541  # 60 s before the 600 s lifetime
    assert len(refreshes) == 3
    perms = [t - start for t in s.requests(Method.CREATE_PERMISSION)]
    assert perms[1] == pytest.approx(240, abs=1)  # 60 s before the 300 s permission
    binds = [t - start for t in s.requests(Method.CHANNEL_BIND)]
    assert binds[1] == pytest.approx(540, abs=1)
    assert len(s.of(Refreshed)) == 3
    # The relay still works after half an hour: permission and channel never lapsed.
    before = len(s.of(DataReceived))
    s.client.send(b"late", PEER, s.net.now)
    assert s.net.run(until=lambda: len(s.of(DataReceived)) > before, timeout=5)
    assert s.of(DataReceived)[-1] == DataReceived(PEER, b"echo:late", 0x4000)
    assert not s.of(RequestFailed)


def test_expiry_when_the_server_goes_silent() -> None:
    s = Setup()
    s.allocate()
    # From now on nothing reaches the server: refreshes time out, the allocation expires.
    s.net.impairment.drop_if = lambda data, src, dst: dst == SERVER
    assert s.net.run(until=lambda: bool(s.of(AllocationExpired)), timeout=700)
    assert s.client.state is ClientState.CLOSED
    failures = s.of(RequestFailed)
    assert failures and all(isinstance(f, RequestFailed) and not f.fatal for f in failures)
    # The server expired it too at 600 s and released the relayed port.
    assert s.net.run(until=lambda: any(isinstance(e, RelayClosed) for e in s.server_events))
    closed = [e for e in s.server_events if isinstance(e, RelayClosed)]
    assert closed[0].reason == "expired"
    assert s.server.allocations == {}


def test_stale_nonce_recovery() -> None:
    s = Setup(nonce_lifetime=100.0)
    s.allocate()
    s.client.create_permission(PEER, s.net.now)
    s.net.run(timeout=700)
    assert s.server.stats["stale_nonce"] >= 2  # permission refresh at 240 s, refresh at 540 s
    assert s.client.stats["stale_nonce"] == s.server.stats["stale_nonce"]
    assert not s.of(RequestFailed)
    assert len(s.of(Refreshed)) == 1
    s.client.send(b"still-here", PEER, s.net.now)
    assert s.net.run(until=lambda: bool(s.of(DataReceived)), timeout=5)


def test_deallocate() -> None:
    s = Setup()
    relayed = s.allocate().relayed_address
    s.client.close(s.net.now)
    assert s.net.run(until=lambda: bool(s.of(Deallocated)), timeout=10)
    refresh = [decode(d.data) for d in s.net.sent if d.dst == SERVER and d.data[:2] == b"\x00\x04"][
        -1
    ]
    assert refresh.get_uint32(AttributeType.LIFETIME) == 0
    assert s.client.state is ClientState.CLOSED
    assert s.client.get_timer() is None
    assert RelayClosed(relayed, "deallocated") in s.server_events
    with pytest.raises(TurnUsageError):
        s.client.send(b"x", PEER, s.net.now)


def test_wrong_password_is_fatal_401() -> None:
    s = Setup(password="wrong")
    s.client.allocate(0.0)
    assert s.net.run(until=lambda: bool(s.of(RequestFailed)), timeout=10)
    failed = s.of(RequestFailed)[0]
    assert isinstance(failed, RequestFailed) and failed.fatal
    assert isinstance(failed.error, TurnRemoteError) and failed.error.code == 401
    assert s.client.state is ClientState.FAILED


def test_second_allocation_on_same_five_tuple_is_437() -> None:
    s = Setup()
    s.allocate()
    again = TurnClient(SERVER, "alice", PASSWORD, rng=random.Random(9))
    s.net.cores[CLIENT] = again
    again.allocate(s.net.now)
    assert s.net.run(until=lambda: again.state is ClientState.FAILED, timeout=10)
    failed = [e for e in s.client_events if isinstance(e, RequestFailed)]
    assert failed and isinstance(failed[-1].error, AllocationMismatchError)
    assert failed[-1].error.code == 437


def test_quota_and_capacity_errors() -> None:
    s = Setup(user_quota=0)
    s.client.allocate(0.0)
    assert s.net.run(until=lambda: bool(s.of(RequestFailed)), timeout=10)
    assert isinstance(s.of(RequestFailed)[0].error, AllocationQuotaError)  # type: ignore[attr-defined]
    s2 = Setup(relay_allocator=lambda client: None)
    s2.client.allocate(0.0)
    assert s2.net.run(until=lambda: bool(s2.of(RequestFailed)), timeout=10)
    error = s2.of(RequestFailed)[0].error  # type: ignore[attr-defined]
    assert isinstance(error, InsufficientCapacityError) and error.code == 508


def test_lossy_network_still_relays_deterministically() -> None:
    def run(seed: int) -> tuple[int, float]:
        s = Setup(Impairment(loss=0.2, delay=0.02, jitter=0.01), seed=seed)
        s.allocate()
        s.client.bind_channel(PEER, s.net.now)
        assert s.net.run(until=lambda: bool(s.of(ChannelBound)), timeout=60)
        got = 0
        for i in range(20):
            s.client.send(b"m%d" % i, PEER, s.net.now)
            s.net.run(timeout=0.2)
        got = len(s.of(DataReceived))
        return got, s.net.now

    first = run(5)
    assert first == run(5)
    assert 0 < first[0] < 20  # some loss, some delivery, same every time


def test_ipv6_peer_and_relay() -> None:
    server = ("2001:db8::1", 3478)
    client = ("2001:db8::2", 5000)
    peer = ("2001:db8::3", 6000)
    s = Setup(server_addr=server, client_addr=client, peer_addr=peer)
    s.client = TurnClient(server, "alice", PASSWORD, rng=random.Random(3))
    s.net.cores[client] = s.client
    event = s.allocate()
    assert event.relayed_address == ("2001:db8::1", 49152)
    assert event.mapped_address == client
    s.client.bind_channel(peer, s.net.now)
    s.client.send(b"v6-indication", peer, s.net.now)
    assert s.net.run(until=lambda: bool(s.of(DataReceived)), timeout=10)
    assert s.of(DataReceived)[0].peer == peer  # type: ignore[attr-defined]
    assert s.net.run(until=lambda: bool(s.of(ChannelBound)), timeout=10)
    s.client.send(b"v6-channel", peer, s.net.now)
    assert s.net.run(until=lambda: len(s.of(DataReceived)) == 2, timeout=10)
    assert s.of(DataReceived)[1] == DataReceived(peer, b"echo:v6-channel", 0x4000)


def test_credentials_stay_out_of_reprs_and_events() -> None:
    s = Setup()
    s.allocate()
    text = repr(s.client) + repr(s.server) + repr(s.client_events) + repr(s.server_events)
    assert PASSWORD not in text
    assert "nonce" not in text.lower()
    assert "example.org" not in repr(s.client)


def test_usage_errors() -> None:
    client = TurnClient(SERVER, "alice", PASSWORD, rng=random.Random(1))
    with pytest.raises(TurnUsageError):
        client.send(b"x", PEER, 0.0)
    with pytest.raises(TurnUsageError):
        client.bind_channel(PEER, 0.0)
    client.allocate(0.0)
    with pytest.raises(TurnUsageError):
        client.allocate(0.0)
    client.close(0.0)
    assert client.state is ClientState.CLOSED


def test_client_drops_junk_and_strays() -> None:
    s = Setup()
    s.allocate()
    c = s.client
    c.receive_datagram(b"\x01\x01\x00\x00\x21\x12\xa4\x42" + bytes(12), SERVER, s.net.now)
    c.receive_datagram(b"\xff\xff", SERVER, s.net.now)
    c.receive_datagram(b"\x40\x01\x00\x01x", SERVER, s.net.now)  # unbound channel
    c.receive_datagram(b"\x00\x01", ("10.9.9.9", 1), s.net.now)
    assert c.stats["stray"] == 1
    assert c.stats["dropped"] == 3
    assert c.next_event() is None


def test_reliable_client_pads_channel_data_and_does_not_retransmit() -> None:
    c = TurnClient(SERVER, "alice", PASSWORD, reliable=True, rng=random.Random(1))
    c.allocate(0.0)
    assert len(c.datagrams_to_send(0.0)) == 1
    assert c.get_timer() == pytest.approx(39.5)
    c.handle_timer(39.5)
    failed = c.next_event()
    assert isinstance(failed, RequestFailed) and failed.fatal
    # Over UDP the same request is sent 7 times and fails at 39.5 s (RFC 8489 §6.2.1).
    u = TurnClient(SERVER, "alice", PASSWORD, rng=random.Random(1))
    u.allocate(0.0)
    sends = [0.0]
    u.datagrams_to_send(0.0)
    while (t := u.get_timer()) is not None:
        u.handle_timer(t)
        if u.datagrams_to_send(t):
            sends.append(t)
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert isinstance(u.next_event(), RequestFailed)


def test_events_queue_is_plain_deque() -> None:
    # The server's outgoing queue is bounded (MAX_QUEUED_DATAGRAMS) and drains fully.
    s = Setup()
    s.allocate()
    assert isinstance(s.server._events, deque)
    assert s.server.datagrams_to_send(s.net.now) == []


def test_requested_address_family() -> None:
    # TURN-11: asking a v4-only relay for an IPv6 address gets 440; IPv4 is granted.
    s = Setup()
    s.client = TurnClient(SERVER, "alice", PASSWORD, address_family=6, rng=random.Random(4))
    s.net.cores[CLIENT] = s.client
    s.client.allocate(0.0)
    assert s.net.run(until=lambda: bool(s.of(RequestFailed)), timeout=10)
    failed = s.of(RequestFailed)[0]
    assert isinstance(failed, RequestFailed) and isinstance(failed.error, TurnRemoteError)
    assert failed.error.code == 440
    s4 = Setup()
    s4.client = TurnClient(SERVER, "alice", PASSWORD, address_family=4, rng=random.Random(4))
    s4.net.cores[CLIENT] = s4.client
    assert s4.allocate().relayed_address == ("10.0.0.1", 49152)
    with pytest.raises(TurnUsageError):
        TurnClient(SERVER, "alice", PASSWORD, address_family=5)


def test_401_with_a_fresh_nonce_is_retried_once() -> None:
    # An RFC 5389-era server answers an expired nonce with 401 and a new NONCE, not 438.
    from pyrtcstack.stun import Message, MessageClass

    s = Setup()
    s.allocate()
    c = s.client
    c.refresh(s.net.now)
    (request, _dst), *_ = c.datagrams_to_send(s.net.now)
    first = decode(request)

    def answer_401(req: Message, nonce: bytes) -> bytes:
        err = Message(req.method, MessageClass.ERROR, req.transaction_id).add_error(401)
        err.add_text(AttributeType.REALM, "example.org").add(AttributeType.NONCE, nonce)
        return err.encode(fingerprint=True)

    c.receive_datagram(answer_401(first, b"fresh-nonce-1"), SERVER, s.net.now)
    (retry, _dst), *_ = c.datagrams_to_send(s.net.now)
    second = decode(retry)
    assert second.transaction_id != first.transaction_id
    assert second.get(AttributeType.NONCE) == b"fresh-nonce-1"
    assert c.stats["stale_nonce"] == 1
    # A second 401, even with yet another nonce, is final.
    c.receive_datagram(answer_401(second, b"fresh-nonce-2"), SERVER, s.net.now)
    failed = c.next_event()
    assert isinstance(failed, RequestFailed) and not failed.fatal
    assert isinstance(failed.error, TurnRemoteError) and failed.error.code == 401


def test_password_algorithms_sha256_is_chosen_and_echoed() -> None:
    # RFC 8489 §9.2.4 (STUN-12/13): echo PASSWORD-ALGORITHMS, name SHA-256 in
    # PASSWORD-ALGORITHM and key the integrity with SHA-256(user:realm:password).
    from pyrtcstack.stun import Message, MessageClass, long_term_key

    c = TurnClient(SERVER, "alice", PASSWORD, rng=random.Random(1))
    c.allocate(0.0)
    (first, _), *_ = c.datagrams_to_send(0.0)
    req = decode(first)
    challenge = Message(req.method, MessageClass.ERROR, req.transaction_id).add_error(401)
    challenge.add_text(AttributeType.REALM, "example.org")
    challenge.add(AttributeType.NONCE, b"obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA")
    challenge.add_password_algorithms([(2, b""), (1, b"")])
    c.receive_datagram(challenge.encode(), SERVER, 0.0)
    (second, _), *_ = c.datagrams_to_send(0.0)
    retry = decode(second)
    assert retry.get(AttributeType.PASSWORD_ALGORITHMS) == challenge.get(
        AttributeType.PASSWORD_ALGORITHMS
    )
    assert retry.get_password_algorithm() == (2, b"")
    assert retry.verify_integrity(long_term_key("alice", "example.org", PASSWORD, 2))
    with pytest.raises(TurnUsageError):
        TurnClient(SERVER, "alice", "bell\x07")  # SASLprep refuses control characters


def test_malformed_allocate_success_fails_instead_of_hanging() -> None:
    from pyrtcstack.stun import Message, MessageClass

    c = TurnClient(SERVER, "alice", PASSWORD, rng=random.Random(1))
    c.allocate(0.0)
    (first, _), *_ = c.datagrams_to_send(0.0)
    req = decode(first)
    ok = Message(req.method, MessageClass.SUCCESS, req.transaction_id)
    ok.add(AttributeType.XOR_RELAYED_ADDRESS, b"\x00\x07\x00\x01")  # unknown family
    c.receive_datagram(ok.encode(), SERVER, 0.0)
    failed = c.next_event()
    assert isinstance(failed, RequestFailed) and failed.fatal
    assert c.state is ClientState.FAILED and c.get_timer() is None
