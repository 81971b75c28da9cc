"""The STUN server core (RFC 8489 §6.3, §9.1.3; RFC 5780 §6.1) and the RFC 5780 NAT
classifier driven through it on the virtual networks (MemoryNetwork, and vnet's RFC 4787
NATs for every behaviour)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_stun_codec import messages

from pyrtcstack.common.core import DatagramCore
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import (
    Message,
    MessageClass,
    Method,
    StunClient,
    StunUsageError,
    TransactionSucceeded,
    decode,
)
from pyrtcstack.stun.nat import Filtering, Mapping, NatBehaviorDiscovery, NatReport
from pyrtcstack.stun.server import StunServer
from pyrtcstack.testing.pair import MemoryNetwork
from pyrtcstack.testing.vnet import NAT_PRESETS, VirtualNetwork

SERVER = ("198.51.100.1", 3478)
OTHER = ("198.51.100.2", 3479)
CLIENT = ("203.0.113.5", 50000)


def _ask(server: StunServer, request: Message, *, key: bytes | None = None) -> Message:
    server.receive_datagram(request.encode(key), CLIENT, 0.0)
    [(data, dst)] = server.datagrams_to_send(0.0)
    assert dst == CLIENT
    return decode(data)


def test_binding_success_and_software() -> None:
    server = StunServer(SERVER, software="pyrtcstack test")
    assert isinstance(server, DatagramCore)
    req = Message(Method.BINDING).add(0xC057, b"\x00\x01\x00\x0a")  # Chrome: ignored
    resp = _ask(server, req)
    assert resp.message_class is MessageClass.SUCCESS
    assert resp.transaction_id == req.transaction_id
    assert resp.get_address(A.XOR_MAPPED_ADDRESS) == CLIENT
    assert resp.get_text(A.SOFTWARE) == "pyrtcstack test"
    assert not resp.has_fingerprint and A.OTHER_ADDRESS not in resp


def test_fingerprint_echoed_and_indications_dropped() -> None:
    server = StunServer(SERVER)
    server.receive_datagram(Message(Method.BINDING).encode(fingerprint=True), CLIENT, 0)
    [(data, _)] = server.datagrams_to_send(0)
    assert decode(data).has_fingerprint
    server.receive_datagram(Message(Method.BINDING, MessageClass.INDICATION).encode(), CLIENT, 0)
    server.receive_datagram(b"\x00\x01garbage", CLIENT, 0)
    assert server.datagrams_to_send(0) == [] and server.dropped == 2


def test_unknown_comprehension_required_gets_420() -> None:
    resp = _ask(StunServer(SERVER), Message(Method.BINDING).add(0x7FFE, b"x"))
    assert resp.get_error() == (420, "")  # unauthenticated: no reason phrase (small)
    assert resp.get_unknown_attributes() == [0x7FFE]


def test_other_methods_get_400() -> None:
    resp = _ask(StunServer(SERVER), Message(Method.ALLOCATE).add_requested_transport())
    assert resp.get_error().code == 400  # type: ignore[union-attr]


def test_change_request_without_alternate_gets_420() -> None:
    resp = _ask(StunServer(SERVER), Message(Method.BINDING).add_change_request(True, True))
    assert resp.get_error().code == 420  # type: ignore[union-attr]
    assert resp.get_unknown_attributes() == [A.CHANGE_REQUEST]


def test_short_term_authentication() -> None:
    users = {"alice:bob": b"pwd"}
    server = StunServer(SERVER, credentials=users.get)
    no_mi = Message(Method.BINDING).add_text(A.USERNAME, "alice:bob")
    assert _ask(server, no_mi).get_error().code == 400  # type: ignore[union-attr]
    wrong = Message(Method.BINDING).add_text(A.USERNAME, "alice:bob")
    assert _ask(server, wrong, key=b"bad").get_error().code == 401  # type: ignore[union-attr]
    unknown = Message(Method.BINDING).add_text(A.USERNAME, "eve")
    assert _ask(server, unknown, key=b"pwd").get_error().code == 401  # type: ignore[union-attr]
    good = Message(Method.BINDING).add_text(A.USERNAME, "alice:bob")
    resp = _ask(server, good, key=b"pwd")
    assert resp.message_class is MessageClass.SUCCESS and resp.verify_integrity(b"pwd")


def test_rfc5780_attributes_and_change_request() -> None:
    server = StunServer(SERVER, other=OTHER)
    eps = server.endpoints()
    assert set(eps) == {SERVER, OTHER, (SERVER[0], OTHER[1]), (OTHER[0], SERVER[1])}
    for change, origin in [
        ((False, False), SERVER),
        ((True, True), OTHER),
        ((False, True), (SERVER[0], OTHER[1])),
        ((True, False), (OTHER[0], SERVER[1])),
    ]:
        req = Message(Method.BINDING).add_change_request(*change)
        eps[SERVER].receive_datagram(req.encode(), CLIENT, 0)
        [(data, local, dst)] = server.transmits(0)
        resp = decode(data)
        assert (local, dst) == (origin, CLIENT)
        assert resp.get_address(A.RESPONSE_ORIGIN) == origin
        assert resp.get_address(A.OTHER_ADDRESS) == OTHER
    # OTHER-ADDRESS is relative to where the request arrived
    eps[OTHER].receive_datagram(Message(Method.BINDING).encode(), CLIENT, 0)
    [(data, local, _)] = server.transmits(0)
    assert local == OTHER and decode(data).get_address(A.OTHER_ADDRESS) == SERVER
    with pytest.raises(StunUsageError):
        StunServer(SERVER, other=(SERVER[0], 4000))
    with pytest.raises(StunUsageError):
        StunServer(SERVER, software="x" * 129)


def test_response_port() -> None:
    server = StunServer(SERVER, other=OTHER)
    req = Message(Method.BINDING).add(A.RESPONSE_PORT, b"\x13\x88\x00\x00")
    server.receive_datagram(req.encode(), CLIENT, 0)
    [(_, _, dst)] = server.transmits(0)
    assert dst == (CLIENT[0], 5000)


def test_client_and_server_on_memory_network() -> None:
    net = MemoryNetwork(seed=1)
    client = StunClient(rng=random.Random(1))
    net.add(CLIENT, client)
    net.add(SERVER, StunServer(SERVER))
    client.binding(SERVER, net.now)
    net.run(until=lambda: bool(net.events[CLIENT]), timeout=5)
    [ev] = net.pop_events(CLIENT)
    assert isinstance(ev, TransactionSucceeded)
    assert ev.response.get_address(A.XOR_MAPPED_ADDRESS) == CLIENT


def test_classifier_without_nat_on_memory_network() -> None:
    net = MemoryNetwork(seed=2)
    server = StunServer(SERVER, other=OTHER)
    for addr, endpoint in server.endpoints().items():
        net.add(addr, endpoint)
    disco = NatBehaviorDiscovery(SERVER, local=CLIENT, rng=random.Random(2))
    net.add(CLIENT, disco)
    disco.start(net.now)
    net.run(until=lambda: disco.report is not None, timeout=200)
    report = disco.report
    assert report is not None and report.error is None
    assert (report.mapping, report.filtering) == (Mapping.NO_NAT, Filtering.ENDPOINT_INDEPENDENT)
    assert report.mapped == CLIENT and report.other_address == OTHER
    assert report.verdict == "direct"
    assert net.events[CLIENT] == [report]


def test_classifier_against_plain_server_reports_unknown() -> None:
    net = MemoryNetwork(seed=3)
    net.add(SERVER, StunServer(SERVER))
    disco = NatBehaviorDiscovery(SERVER, rng=random.Random(3))
    net.add(CLIENT, disco)
    disco.start(net.now)
    net.run(until=lambda: disco.report is not None, timeout=200)
    assert disco.report is not None
    assert disco.report.mapped == CLIENT and disco.report.mapping is Mapping.UNKNOWN
    assert "RFC 5780" in (disco.report.error or "") and disco.report.verdict == "unknown"


EXPECTED = {
    "full-cone": (Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT, "direct"),
    "restricted": (Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_DEPENDENT, "direct-mostly"),
    "port-restricted": (
        Mapping.ENDPOINT_INDEPENDENT,
        Filtering.ADDRESS_AND_PORT_DEPENDENT,
        "direct-mostly",
    ),
    "symmetric": (
        Mapping.ADDRESS_AND_PORT_DEPENDENT,
        Filtering.ADDRESS_AND_PORT_DEPENDENT,
        "needs-turn",
    ),
    "addr-symmetric": (Mapping.ADDRESS_DEPENDENT, Filtering.ADDRESS_DEPENDENT, "needs-turn"),
    "one-to-one": (Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT, "direct"),
}


def _classify_behind(nat_name: str | None, seed: int = 0) -> NatReport:
    vnet = VirtualNetwork(seed=seed)
    vnet.add_host("stun", SERVER[0])
    vnet.add_host("stun", OTHER[0])
    server = StunServer(SERVER, other=OTHER)
    vnet.attach(server, list(server.endpoints()), name="stun")
    if nat_name is None:
        vnet.add_host("client", CLIENT[0])
        local = CLIENT
    else:
        inside = vnet.add_nat("nat", NAT_PRESETS[nat_name], "203.0.113.1")
        vnet.add_host("client", "10.0.0.2", inside)
        local = ("10.0.0.2", 40000)
    disco = NatBehaviorDiscovery(SERVER, local=local, rng=random.Random(seed))
    vnet.attach(disco, local, name="client")
    disco.start(vnet.now)
    vnet.run(until=lambda: disco.report is not None, timeout=400)
    assert disco.report is not None
    return disco.report


@pytest.mark.parametrize("nat_name", sorted(EXPECTED))
def test_classifier_behind_every_rfc4787_nat(nat_name: str) -> None:
    report = _classify_behind(nat_name)
    assert report.error is None
    assert (report.mapping, report.filtering, report.verdict) == EXPECTED[nat_name]
    assert report.mapped is not None and report.mapped[0] == "203.0.113.1"
    assert report.explain()


def test_classifier_on_the_open_internet_and_udp_blocked() -> None:
    report = _classify_behind(None)
    assert (report.mapping, report.filtering) == (Mapping.NO_NAT, Filtering.ENDPOINT_INDEPENDENT)
    blocked = _classify_behind("udp-blocked")
    assert blocked.mapping is Mapping.UNKNOWN and "timed out" in (blocked.error or "")


@given(messages(), st.booleans())
def test_server_answers_any_request_with_valid_stun(request: Message, rfc5780: bool) -> None:
    request.message_class = MessageClass.REQUEST
    server = StunServer(SERVER, other=OTHER if rfc5780 else None, software="s")
    for local in server.endpoints():
        server.receive_datagram(request.encode(fingerprint=True), CLIENT, 0, local=local)
    for data, _local, _dst in server.transmits(0):
        resp = decode(data)
        assert resp.transaction_id == request.transaction_id
        assert resp.message_class in (MessageClass.SUCCESS, MessageClass.ERROR)
        assert resp.has_fingerprint


def test_computed_attributes_rejected_in_constructor() -> None:
    with pytest.raises(StunUsageError):
        Message(Method.BINDING, attributes=[(A.FINGERPRINT, bytes(4))])
