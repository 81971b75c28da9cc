"""Hostile TURN clients against our server core (issue 14, items 1 and 2).

Peer address policy (RFC 8656 §10.2 / §12.2: 403 Forbidden; §11.2: Send discarded), nonces
bound to the client's 5-tuple (a replayed Allocate gets 438, not an allocation), the quotas
and the per-allocation byte rate. All sans-I/O: the clock is an argument.
"""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.common import Address, Event
from pyrtcstack.stun import Message, MessageClass, Method, decode
from pyrtcstack.turn import (
    Allocated,
    PeerDenied,
    PeerPolicy,
    PermissionCreated,
    RequestFailed,
    TurnClient,
    TurnRemoteError,
    TurnServer,
)
from pyrtcstack.turn.policy import TokenBucket, parse_ip_range

SERVER4: Address = ("198.51.100.1", 3478)
SERVER6: Address = ("2001:db8::1", 3478)
CLIENT4: Address = ("203.0.113.7", 50000)
CLIENT6: Address = ("2001:db8::7", 50000)


class Net:
    """One server core, any number of client cores, datagrams moved by hand."""

    def __init__(self, server: TurnServer) -> None:
        self.server = server
        self.clients: dict[Address, TurnClient] = {}
        self.server_events: list[Event] = []

    def client(self, addr: Address, seed: int = 2) -> TurnClient:
        c = TurnClient(self.server.address, "u", "p", rng=random.Random(seed))
        self.clients[addr] = c
        return c

    def pump(self, now: float) -> None:
        for _ in range(10):
            moved = False
            for addr, c in self.clients.items():
                for data, _dst in c.datagrams_to_send(now):
                    self.server.receive_datagram(data, addr, now)
                    moved = True
            for data, dst in self.server.datagrams_to_send(now):
                self.clients[dst].receive_datagram(data, self.server.address, now)
                moved = True
            while (e := self.server.next_event()) is not None:
                self.server_events.append(e)
            if not moved:
                return

    def allocate(self, addr: Address, now: float = 0.0) -> TurnClient:
        c = self.client(addr, seed=addr[1])
        c.allocate(now)
        self.pump(now)
        assert isinstance(c.next_event(), Allocated)
        return c


def events(c: TurnClient) -> list[Event]:
    out = []
    while (e := c.next_event()) is not None:
        out.append(e)
    return out


def forbidden(evs: list[Event], method: str) -> bool:
    return any(
        isinstance(e, RequestFailed)
        and e.method == method
        and isinstance(e.error, TurnRemoteError)
        and e.error.code == 403
        for e in evs
    )


DENIED_V4 = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.251", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private"),
]
DENIED_V6 = [
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("fd00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
]


@pytest.mark.parametrize(("ip", "reason"), DENIED_V4 + DENIED_V6)
def test_internal_peers_get_403_on_create_permission_and_channel_bind(ip: str, reason: str) -> None:
    server_addr, client_addr = (SERVER6, CLIENT6) if ":" in ip else (SERVER4, CLIENT4)
    net = Net(TurnServer(server_addr, {"u": "p"}, "r", rng=random.Random(1)))
    c = net.allocate(client_addr)
    c.create_permission((ip, 9), 1.0)
    net.pump(1.0)
    assert forbidden(events(c), "create-permission")
    c.bind_channel((ip, 9), 2.0)
    net.pump(2.0)
    assert forbidden(events(c), "channel-bind")
    c.send(b"x", (ip, 9), 3.0)  # a Send indication needs a permission: none was made
    net.pump(3.0)
    assert net.server.relayed_datagrams_to_send() == []
    assert net.server.stats["peer_denied"] >= 2
    denied = [e for e in net.server_events if isinstance(e, PeerDenied)]
    assert {(e.reason, e.method) for e in denied} >= {
        (reason, "create-permission"),
        (reason, "channel-bind"),
    }
    assert all(e.client == client_addr for e in denied)


def test_a_public_peer_is_still_relayed() -> None:
    net = Net(TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1)))
    c = net.allocate(CLIENT4)
    c.send(b"hello", ("192.0.2.9", 7), 1.0)
    net.pump(1.0)
    assert [d for d, _r, p in net.server.relayed_datagrams_to_send()] == [b"hello"]
    assert net.server.stats["peer_denied"] == 0


def test_the_servers_own_listening_addresses_are_not_peers() -> None:
    server = TurnServer(
        SERVER4,
        {"u": "p"},
        "r",
        rng=random.Random(1),
        server_addresses=[("198.51.100.1", 443), ("0.0.0.0", 5349)],
    )
    net = Net(server)
    c = net.allocate(CLIENT4)
    relayed = c.relayed_address
    assert relayed is not None and relayed[0] == SERVER4[0]
    for i, own in enumerate([SERVER4, ("198.51.100.1", 443), ("198.51.100.1", 5349)]):
        # The IP is the relay's (a permission is per IP, RFC 8656 §9), the port is not.
        c.send(b"stun-at-myself", own, 1.0 + i)
        net.pump(1.0 + i)
        assert net.server.relayed_datagrams_to_send() == []
    denied = [e for e in net.server_events if isinstance(e, PeerDenied)]
    assert [e.reason for e in denied] == ["server-address"] * 3
    c.bind_channel(SERVER4, 9.0)
    net.pump(9.0)
    assert forbidden(events(c), "channel-bind")
    c.send(b"ok", ("198.51.100.1", 40000), 10.0)  # another port of that IP is a peer
    net.pump(10.0)
    assert [d for d, _r, _p in net.server.relayed_datagrams_to_send()] == [b"ok"]


def test_two_clients_of_a_private_server_relay_to_each_other_and_nowhere_else() -> None:
    # The server's relay IP is private: relaying between two of its allocations works by
    # default, other ports and other private IPs stay closed.
    server = TurnServer(("10.0.0.1", 3478), {"u": "p"}, "r", rng=random.Random(1))
    net = Net(server)
    a, b = net.allocate(CLIENT4), net.allocate(("203.0.113.8", 50000))
    ra, rb = a.relayed_address, b.relayed_address
    assert ra is not None and rb is not None
    b.create_permission(ra, 1.0)
    a.send(b"a->b", rb, 1.0)
    net.pump(1.0)
    assert events(b) and server.stats["peer_denied"] == 0
    out = server.relayed_datagrams_to_send()
    assert out == [(b"a->b", ra, rb)]
    server.receive_relayed(b"a->b", ra, rb, 1.5)  # what the relay socket of b then reads
    net.pump(1.5)
    assert any(getattr(e, "data", None) == b"a->b" for e in events(b))
    a.send(b"to-ssh", ("10.0.0.1", 22), 2.0)
    net.pump(2.0)
    assert server.relayed_datagrams_to_send() == []
    server.receive_relayed(b"from-a-local-service", ("10.0.0.1", 6379), ra, 2.5)
    assert server.stats["no_permission"] == 1
    a.bind_channel(("10.0.0.1", 6379), 3.0)
    a.create_permission(("10.0.0.2", 1), 3.0)
    net.pump(3.0)
    evs = events(a)
    assert forbidden(evs, "channel-bind") and forbidden(evs, "create-permission")


def test_options_allow_loopback_ranges_and_a_permission_handler() -> None:
    asked: list[tuple[Address, str]] = []

    def handler(client: Address, ip: str) -> bool:
        asked.append((client, ip))
        return ip != "192.0.2.66"

    policy = PeerPolicy.from_ranges(
        allow_loopback=True,
        denied=["192.0.2.0/24", "198.18.0.1-198.18.0.9"],
        allowed=["192.0.2.64/26", "10.9.0.0/16"],
    )
    server = TurnServer(
        SERVER4, {"u": "p"}, "r", rng=random.Random(1), peer_policy=policy,
        permission_handler=handler,
    )  # fmt: skip
    net = Net(server)
    c = net.allocate(CLIENT4)
    verdicts = {}
    for ip in ["127.0.0.1", "192.0.2.1", "192.0.2.65", "192.0.2.66", "198.18.0.5", "10.9.1.1",
               "10.8.1.1"]:  # fmt: skip
        c.create_permission((ip, 1), 1.0)
        net.pump(1.0)
        evs = events(c)
        verdicts[ip] = "denied" if forbidden(evs, "create-permission") else "allowed"
        assert verdicts[ip] == "denied" or PermissionCreated(ip) in evs
    assert verdicts == {
        "127.0.0.1": "allowed",  # allow_loopback
        "192.0.2.1": "denied",  # denied range
        "192.0.2.65": "allowed",  # allowed overrides denied (coturn's rule)
        "192.0.2.66": "denied",  # the handler said no
        "198.18.0.5": "denied",  # coturn's first-last range
        "10.9.1.1": "allowed",  # allowed overrides the private class
        "10.8.1.1": "denied",
    }
    reasons = [e.reason for e in net.server_events if isinstance(e, PeerDenied)]
    assert reasons == ["denied-range", "handler", "denied-range", "private"]
    assert (CLIENT4, "192.0.2.66") in asked and (CLIENT4, "192.0.2.1") not in asked
    with pytest.raises(ValueError):
        parse_ip_range("10.0.0.9-10.0.0.1")


def _authenticated_allocate(net: Net, addr: Address) -> bytes:
    """The bytes of the client's second (authenticated) Allocate, as an eavesdropper saw."""
    c = net.client(addr)
    c.allocate(0.0)
    seen: list[bytes] = []
    for _ in range(4):
        for data, _dst in c.datagrams_to_send(0.0):
            seen.append(data)
            net.server.receive_datagram(data, addr, 0.0)
        for data, _dst in net.server.datagrams_to_send(0.0):
            c.receive_datagram(data, net.server.address, 0.0)
    assert isinstance(c.next_event(), Allocated)
    (auth,) = [d for d in seen if decode(d).integrity is not None]
    return auth


def test_a_replayed_allocate_from_other_ports_gets_438_not_an_allocation() -> None:
    server = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1))
    net = Net(server)
    captured = _authenticated_allocate(net, CLIENT4)
    assert server.stats["allocations"] == 1
    for port in range(1, 16):
        server.receive_datagram(captured, (CLIENT4[0], CLIENT4[1] + port), 1.0)
    server.receive_datagram(captured, ("192.0.2.50", CLIENT4[1]), 1.0)
    answers = [decode(d) for d, _dst in server.datagrams_to_send(1.0)]
    assert len(answers) == 16
    assert all(a.message_class == MessageClass.ERROR for a in answers)
    assert {a.get_error()[0] for a in answers} == {438}  # type: ignore[index]
    assert len(server.allocations) == 1 and server.stats["allocations"] == 1


def test_a_nonce_given_over_udp_is_refused_over_tcp_from_the_same_address() -> None:
    server = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1))
    udp_nonce = server._nonce(0.0, CLIENT4)
    assert server._nonce_valid(udp_nonce, CLIENT4, 1.0)
    server.connection_opened(CLIENT4, "tcp")
    assert not server._nonce_valid(udp_nonce, CLIENT4, 1.0)
    server.connection_closed(CLIENT4, 1.0)
    assert server._nonce_valid(udp_nonce, CLIENT4, 1.0)
    assert not server._nonce_valid(udp_nonce, CLIENT4, 601.0)  # short-lived: 600 s


def test_user_and_total_quotas_are_configurable() -> None:
    server = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1), user_quota=2)
    net = Net(server)
    for port in (1, 2):
        net.allocate(("203.0.113.7", port))
    c = net.client(("203.0.113.7", 3))
    c.allocate(0.0)
    net.pump(0.0)
    (failed,) = events(c)
    assert isinstance(failed, RequestFailed) and failed.error.code == 486  # type: ignore[attr-defined]
    server2 = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1), total_quota=1)
    net2 = Net(server2)
    net2.allocate(("203.0.113.7", 1))
    c2 = net2.client(("203.0.113.7", 2))
    c2.allocate(0.0)
    net2.pump(0.0)
    (failed,) = events(c2)
    assert isinstance(failed, RequestFailed) and failed.error.code == 508  # type: ignore[attr-defined]


def test_max_bps_limits_each_allocation_each_way() -> None:
    server = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1), max_bps=10_000)
    net = Net(server)
    c = net.allocate(CLIENT4)
    peer: Address = ("192.0.2.9", 7)
    c.create_permission(peer, 1.0)
    net.pump(1.0)
    events(c)
    relayed = c.relayed_address
    assert relayed is not None
    for _ in range(100):
        c.send(b"x" * 1000, peer, 1.0)
    net.pump(1.0)
    assert len(server.relayed_datagrams_to_send()) == 10
    assert server.stats["rate_limited"] == 90
    for _ in range(100):
        c.send(b"x" * 1000, peer, 1.5)
    net.pump(1.5)
    assert len(server.relayed_datagrams_to_send()) == 5  # half a second refilled half
    for _ in range(100):
        server.receive_relayed(b"y" * 1000, peer, relayed, 1.5)
    assert server.stats["relayed_to_client"] == 10  # the other direction has its own bucket


def test_token_bucket_lets_a_large_datagram_through_and_repays_it() -> None:
    bucket = TokenBucket(1000, 0.0)
    assert bucket.take(5000, 0.0)  # the bucket was not empty
    assert not bucket.take(1, 1.0)  # 4000 bytes of debt minus 1000 refilled
    assert bucket.take(1, 5.0)


def test_unauthenticated_requests_cannot_be_turned_into_permissions() -> None:
    # A CreatePermission without credentials never reaches the policy: 401 first.
    server = TurnServer(SERVER4, {"u": "p"}, "r", rng=random.Random(1))
    msg = Message(Method.CREATE_PERMISSION, MessageClass.REQUEST, bytes(12))
    msg.add_address(0x0012, ("127.0.0.1", 1))  # XOR-PEER-ADDRESS
    server.receive_datagram(msg.encode(fingerprint=True), CLIENT4, 0.0)
    (answer,) = [decode(d) for d, _ in server.datagrams_to_send(0.0)]
    error = answer.get_error()
    assert error is not None and error[0] == 401 and server.stats["peer_denied"] == 0


@given(st.text(max_size=60))
def test_parse_ip_range_raises_only_value_error(text: str) -> None:
    try:
        nets = parse_ip_range(text)
    except ValueError:
        return
    assert nets and all(n.num_addresses >= 1 for n in nets)


@given(
    st.one_of(
        st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i))),
        st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i))),
        st.text(max_size=40),
    )
)
def test_classify_never_raises_and_mapped_addresses_match_ipv4(ip: str) -> None:
    policy = PeerPolicy()
    reason = policy.classify(ip)
    assert reason in (None, "invalid", "unspecified", "loopback", "link-local", "multicast",
                      "broadcast", "private")  # fmt: skip
    if reason != "invalid" and ":" not in ip:
        assert policy.classify(f"::ffff:{ip}") == reason  # IPv4-mapped: the same verdict
