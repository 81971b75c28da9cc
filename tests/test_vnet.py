"""The virtual network: RFC 4787 NAT behaviours, impairments, determinism, pcap."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pyrtcstack.common import Address, DatagramCore, Event, LocalProtocolError
from pyrtcstack.testing.vnet import (
    NAT_PRESETS,
    Link,
    MultiSocketCore,
    Nat,
    VirtualNetwork,
)


@dataclass(frozen=True, slots=True)
class Got(Event):
    data: bytes
    src: Address
    at: float


class Reflector:
    """Answers every datagram with the source address it saw (a STUN server's job)."""

    def __init__(self) -> None:
        self.out: list[tuple[bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if data.startswith(b"?"):
            self.out.append((f"{addr[0]}:{addr[1]}".encode(), addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def next_event(self) -> Event | None:
        return None


class Script:
    """Sends scripted datagrams at given times and reports what it receives."""

    def __init__(self, plan: list[tuple[float, Address, bytes]] | None = None) -> None:
        self.plan = deque(sorted(plan or [], key=lambda p: p[0]))
        self.out: list[tuple[bytes, Address]] = []
        self.events: deque[Event] = deque()
        self.got: list[Got] = []

    def send(self, at: float, dst: Address, data: bytes) -> None:
        self.plan.append((at, dst, data))
        self.plan = deque(sorted(self.plan, key=lambda p: p[0]))

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        got = Got(data, addr, now)
        self.got.append(got)
        self.events.append(got)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return self.plan[0][0] if self.plan else None

    def handle_timer(self, now: float) -> None:
        while self.plan and self.plan[0][0] <= now:
            _, dst, data = self.plan.popleft()
            self.out.append((data, dst))

    def next_event(self) -> Event | None:
        return self.events.popleft() if self.events else None


S1 = ("198.51.100.1", 3478)
S1B = ("198.51.100.1", 3479)
S2 = ("198.51.100.2", 3478)
HOST = ("10.0.0.2", 5000)


def _world(nat: Nat, seed: int = 0) -> tuple[VirtualNetwork, Script, dict[Address, Script]]:
    net = VirtualNetwork(seed=seed)
    lan = net.add_nat("home", nat, "203.0.113.1")
    net.add_host("alice", HOST[0], lan)
    net.add_host("s1", S1[0])
    net.add_host("s2", S2[0])
    alice = Script()
    net.attach(alice, HOST, name="alice")
    servers: dict[Address, Script] = {}
    for addr in (S1, S1B, S2):
        servers[addr] = Script()
        net.attach(servers[addr], addr, name=f"{addr}")
    return net, alice, servers


def test_cores_fit_the_protocols() -> None:
    assert isinstance(Reflector(), DatagramCore)
    assert not isinstance(Reflector(), MultiSocketCore)


@pytest.mark.parametrize(
    ("preset", "same_mapping"),
    [
        ("full-cone", True),
        ("restricted", True),
        ("port-restricted", True),
        ("symmetric", False),
        ("one-to-one", True),
    ],
)
def test_mapping_behaviour_rfc4787_4_1(preset: str, same_mapping: bool) -> None:
    net = VirtualNetwork(seed=3)
    lan = net.add_nat("home", NAT_PRESETS[preset], "203.0.113.1")
    net.add_host("alice", HOST[0], lan)
    net.add_host("s1", S1[0])
    net.add_host("s2", S2[0])
    net.attach(Reflector(), S1)
    net.attach(Reflector(), S2)
    alice = Script([(0.0, S1, b"?"), (0.1, S2, b"?")])
    net.attach(alice, HOST)
    net.run(timeout=1)
    seen = [g.data for g in alice.got]
    assert len(seen) == 2
    assert all(s.startswith(b"203.0.113.1:") for s in seen)
    assert (seen[0] == seen[1]) is same_mapping
    if preset != "symmetric":
        assert seen[0] == b"203.0.113.1:5000"  # port preserved


@pytest.mark.parametrize(
    ("preset", "same_ip_other_port", "other_ip"),
    [
        ("full-cone", True, True),
        ("restricted", True, False),
        ("port-restricted", False, False),
        ("symmetric", False, False),
    ],
)
def test_filtering_behaviour_rfc4787_5(
    preset: str, same_ip_other_port: bool, other_ip: bool
) -> None:
    net, alice, servers = _world(NAT_PRESETS[preset])
    alice.send(0.0, S1, b"hello")
    net.run(timeout=0.5)
    (hello,) = servers[S1].got
    mapped = hello.src
    servers[S1].send(1.0, mapped, b"from-s1")
    servers[S1B].send(1.0, mapped, b"from-s1b")
    servers[S2].send(1.0, mapped, b"from-s2")
    net.run(timeout=2)
    got = {g.data for g in alice.got}
    assert ("from-s1" in {d.decode() for d in got}) is True
    assert (b"from-s1b" in got) is same_ip_other_port
    assert (b"from-s2" in got) is other_ip
    assert all(g.src[0].startswith("198.51.100.") for g in alice.got)


def test_mapping_timeout_and_refresh() -> None:
    nat = Nat.port_restricted_cone()
    net, alice, servers = _world(Nat(nat.mapping, nat.filtering, mapping_timeout=30.0))
    alice.send(0.0, S1, b"a")
    alice.send(20.0, S1, b"keepalive")  # outbound refreshes (RFC 4787 REQ-6)
    net.run(timeout=1)
    mapped = servers[S1].got[0].src
    servers[S1].send(45.0, mapped, b"still-open")  # 25 s after the refresh
    servers[S1].send(80.0, mapped, b"expired")  # 60 s after: gone
    net.run(timeout=100)
    assert [g.data for g in alice.got] == [b"still-open"]
    assert net.stats["nat_no_mapping"] == 1
    assert net.routers["home"].mappings(net.now) == []


def test_unsolicited_inbound_is_dropped_but_one_to_one_is_open() -> None:
    net, alice, servers = _world(Nat.full_cone())
    servers[S1].send(0.0, ("203.0.113.1", 5000), b"knock")
    net.run(timeout=1)
    assert alice.got == []
    assert net.stats["nat_no_mapping"] == 1

    net, alice, servers = _world(Nat.static_one_to_one())
    servers[S1].send(0.0, ("203.0.113.1", 5000), b"knock")
    net.run(timeout=1)
    assert [(g.data, g.src) for g in alice.got] == [(b"knock", S1)]


def test_udp_blocked() -> None:
    net, alice, servers = _world(Nat.udp_blocked())
    alice.send(0.0, S1, b"x")
    net.run(timeout=1)
    assert servers[S1].got == []
    assert net.stats["nat_udp_blocked"] == 1


def test_hairpinning_rfc4787_6() -> None:
    net = VirtualNetwork()
    lan = net.add_nat("home", Nat.port_restricted_cone(), "203.0.113.1")
    net.add_host("a", "10.0.0.2", lan)
    net.add_host("b", "10.0.0.3", lan)
    net.add_host("s1", S1[0])
    net.attach(Reflector(), S1)
    a = Script([(0.0, S1, b"?")])
    b = Script([(0.0, S1, b"?")])
    net.attach(a, ("10.0.0.2", 4000))
    net.attach(b, ("10.0.0.3", 4000))
    net.run(timeout=1)
    a_mapped = a.got[0].data.decode()
    b_mapped = b.got[0].data.decode()
    assert a_mapped == "203.0.113.1:4000"
    host, port = b_mapped.rsplit(":", 1)
    assert (host, int(port)) != ("203.0.113.1", 4000)
    # a -> b's public mapping -> hairpinned back inside, from a's public mapping; b must
    # have sent to a's mapping first (port-restricted filtering)
    b.send(2.0, ("203.0.113.1", 4000), b"open")
    a.send(3.0, (host, int(port)), b"hairpin")
    net.run(timeout=5)
    assert [(g.data, g.src) for g in b.got[1:]] == [(b"hairpin", ("203.0.113.1", 4000))]
    # b's "open" was filtered by a's mapping (a had only talked to S1): port-restricted
    assert a.got[1:] == []
    assert net.stats["nat_filtered"] == 1


def test_nested_nat_carrier_grade() -> None:
    net = VirtualNetwork()
    cgn = net.add_nat("isp", Nat.symmetric(), "203.0.113.1")
    home = net.add_nat("home", Nat.full_cone(), "100.64.0.5", outside=cgn)
    net.add_host("alice", HOST[0], home)
    net.add_host("s1", S1[0])
    net.attach(Reflector(), S1)
    alice = Script([(0.0, S1, b"?")])
    net.attach(alice, HOST)
    net.run(timeout=1)
    assert alice.got[0].data.startswith(b"203.0.113.1:")
    assert net.routers["home"].mappings(net.now) == [(HOST, ("100.64.0.5", 5000))]


def test_link_impairments_and_mtu() -> None:
    net = VirtualNetwork(seed=5, internet=Link(delay=0.01, loss=0.2, duplicate=0.1, reorder=0.1))
    net.add_host("a", "198.51.100.10")
    net.add_host("b", "198.51.100.20")
    plan = [(i * 0.001, ("198.51.100.20", 1), b"%d" % i) for i in range(1000)]
    plan.append((2.0, ("198.51.100.20", 1), b"x" * 1473))  # 1473 + 28 > 1500
    a, b = Script(plan), Script()
    net.attach(a, ("198.51.100.10", 1))
    net.attach(b, ("198.51.100.20", 1))
    net.run(timeout=5)
    assert net.stats["too_big"] == 1
    assert 150 < net.stats["lost"] < 250
    assert net.stats["duplicated"] > 50
    assert len(b.got) == 1000 - net.stats["lost"] + net.stats["duplicated"]
    order = [int(g.data) for g in b.got]
    assert order != sorted(order)  # some reordering happened
    assert all(0.01 - 1e-9 <= g.at - int(g.data) * 0.001 <= 0.03 + 1e-9 for g in b.got)


def test_bottleneck_rate_and_drop_tail_queue() -> None:
    """Link(rate, queue): datagrams leave one after the other at ``rate`` bits per second
    (28 bytes of IPv4+UDP counted), a full queue drops, each direction queues alone."""
    net = VirtualNetwork(seed=1, internet=Link(delay=0.01, rate=1e6, queue=10))
    net.add_host("a", "198.51.100.10")
    net.add_host("b", "198.51.100.20")
    # 20 datagrams of 97 + 28 = 125 bytes (1 ms each at 1 Mbit/s) sent at once, and one
    # the other way.
    burst = [(0.0, ("198.51.100.20", 1), b"%02d" % i + bytes(95)) for i in range(20)]
    a, b = Script(burst), Script([(0.0, ("198.51.100.10", 1), b"back")])
    net.attach(a, ("198.51.100.10", 1))
    net.attach(b, ("198.51.100.20", 1))
    net.run(timeout=5)
    assert net.stats["queue_drop"] == 10
    assert [int(g.data[:2]) for g in b.got] == list(range(10))
    assert [round(g.at, 6) for g in b.got] == [round(0.01 + 0.001 * (i + 1), 6) for i in range(10)]
    (back,) = a.got
    assert round(back.at, 6) == round(0.01 + 32 * 8 / 1e6, 6)  # its own queue, empty
    # Once the queue drained, a datagram goes through again.
    a.send(1.0, ("198.51.100.20", 1), b"later")
    net.run(timeout=5)
    assert b.got[-1].data == b"later" and net.stats["queue_drop"] == 10


def _impaired_run(seed: int) -> tuple[str, list[Got]]:
    nat = Nat.symmetric()
    net, alice, _servers = _world(nat, seed=seed)
    net.internet.link = Link(delay=0.02, jitter=0.01, loss=0.1, duplicate=0.05, reorder=0.05)
    net.attach(Reflector(), ("198.51.100.2", 1))
    for i in range(50):
        alice.send(i * 0.01, ("198.51.100.2", 1), b"?%d" % i)
    net.run(timeout=5)
    return net.trace_digest(), alice.got


def test_same_seed_same_run_byte_for_byte() -> None:
    first = _impaired_run(11)
    assert first == _impaired_run(11)
    assert first[0] != _impaired_run(12)[0]


class TwoSockets:
    """A multi-socket core: echoes on the socket a datagram arrived on."""

    def __init__(self) -> None:
        self.out: list[tuple[bytes, Address, Address]] = []
        self.seen: list[Address] = []

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        assert local is not None
        for data, addr in batch:
            self.seen.append(local)
            self.out.append((data, local, addr))

    def transmits(self, now: float) -> list[tuple[bytes, Address, Address]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        pass

    def next_event(self) -> Event | None:
        return None


def test_multi_socket_core_and_wildcard() -> None:
    net = VirtualNetwork()
    net.add_host("srv", "198.51.100.7")
    net.add_host("srv2", "198.51.100.8")
    net.add_host("c", "198.51.100.9")
    core = TwoSockets()
    assert isinstance(core, MultiSocketCore)
    net.attach(core, [("198.51.100.7", 1), ("198.51.100.7", 2)])
    wild = TwoSockets()
    net.attach_wildcard(wild, "198.51.100.8")
    c = Script(
        [
            (0, ("198.51.100.7", 1), b"1"),
            (0, ("198.51.100.7", 2), b"2"),
            (0, ("198.51.100.7", 3), b"3"),
            (0, ("198.51.100.8", 4242), b"w"),
        ]
    )
    net.attach(c, ("198.51.100.9", 9))
    net.run(timeout=1)
    assert sorted((g.data, g.src) for g in c.got) == [
        (b"1", ("198.51.100.7", 1)),
        (b"2", ("198.51.100.7", 2)),
        (b"w", ("198.51.100.8", 4242)),
    ]
    assert net.stats["no_socket"] == 1
    with pytest.raises(LocalProtocolError):
        net.attach(Reflector(), ("198.51.100.7", 1))
    with pytest.raises(LocalProtocolError):
        net.attach(Reflector(), ("192.0.2.99", 1))


def test_pcap_is_well_formed() -> None:
    net, alice, _servers = _world(Nat.port_restricted_cone())
    alice.send(0.0, S1, b"abc")
    net.run(timeout=1)
    data = net.pcap()
    magic, _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 101)
    records = []
    offset = 24
    while offset < len(data):
        _s, _us, incl, _orig = struct.unpack_from("<IIII", data, offset)
        records.append(data[offset + 16 : offset + 16 + incl])
        offset += 16 + incl
    assert len(records) == 2  # on the LAN, then on the internet after translation
    assert records[0][-3:] == b"abc"
    assert records[1][12:16] == bytes([203, 0, 113, 1])  # translated source
    assert len(net.pcap("home")) < len(data)
