"""Property tests of the TURN cores: hostile datagrams are dropped and counted, never
raised; XOR-PEER-ADDRESS survives any IPv4/IPv6 peer and transaction id (RFC 8656 §16.3)."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import corpus

from pyrtcstack.common import Address
from pyrtcstack.stun import decode
from pyrtcstack.turn import (
    DataReceived,
    PeerPolicy,
    RequestFailed,
    TurnClient,
    TurnRemoteError,
    TurnServer,
)

V4 = (("10.0.0.1", 3478), ("10.0.0.2", 5000))
V6 = (("2001:db8::1", 3478), ("2001:db8::2", 5000))


def pump(client: TurnClient, server: TurnServer, client_addr: Address, now: float) -> None:
    for _ in range(6):
        moved = False
        for data, _dst in client.datagrams_to_send(now):
            server.receive_datagram(data, client_addr, now)
            moved = True
        for data, _dst in server.datagrams_to_send(now):
            client.receive_datagram(data, server.address, now)
            moved = True
        if not moved:
            return


def allocated(family: int, seed: int = 1) -> tuple[TurnClient, TurnServer, Address]:
    server_addr, client_addr = V4 if family == 4 else V6
    # Every address is a peer here (this is about XOR-PEER-ADDRESS, not the peer policy).
    allow_all = PeerPolicy.from_ranges(allowed=["0.0.0.0/0", "::/0"])
    server = TurnServer(
        server_addr, {"u": "p"}, "r", rng=random.Random(seed), peer_policy=allow_all
    )
    client = TurnClient(server_addr, "u", "p", rng=random.Random(seed + 1))
    client.allocate(0.0)
    pump(client, server, client_addr, 0.0)
    assert client.relayed_address is not None
    while client.next_event() is not None:
        pass
    return client, server, client_addr


CLIENT4 = allocated(4)
CLIENT6 = allocated(6)

v4_peers = st.builds(
    lambda ip, port: (str(ipaddress.IPv4Address(ip)), port),
    st.integers(0, 2**32 - 1),
    st.integers(1, 65535),
)
v6_peers = st.builds(
    lambda ip, port: (str(ipaddress.IPv6Address(ip)), port),
    st.integers(0, 2**128 - 1),
    st.integers(1, 65535),
)


@settings(max_examples=150)
@given(st.one_of(v4_peers.map(lambda p: (4, p)), v6_peers.map(lambda p: (6, p))), st.binary())
def test_xor_peer_address_round_trip(peer_info: tuple[int, Address], payload: bytes) -> None:
    family, peer = peer_info
    client, server, client_addr = allocated(family, seed=len(payload))
    relayed = client.relayed_address
    assert relayed is not None
    client.send(payload, peer, 1.0)  # permission first, then the Send indication
    pump(client, server, client_addr, 1.0)
    assert server.relayed_datagrams_to_send() == [(payload, relayed, peer)]
    server.receive_relayed(payload[::-1], peer, relayed, 2.0)
    pump(client, server, client_addr, 2.0)
    events = []
    while (e := client.next_event()) is not None:
        events.append(e)
    assert DataReceived(peer, payload[::-1], None) in events


@given(st.binary(max_size=300))
def test_hostile_datagrams_to_the_client_are_counted(data: bytes) -> None:
    for client, _server, _addr in (CLIENT4, CLIENT6):
        before = sum(client.stats.values())
        client.receive_datagram(data, client.server, 5.0)
        client.receive_datagram(data, ("192.0.2.1", 9), 5.0)
        client.datagrams_to_send(5.0)
        while client.next_event() is not None:
            pass
        assert sum(client.stats.values()) > before  # dropped/stray/data_in, never an exception


@given(st.binary(max_size=300))
def test_hostile_datagrams_to_the_server_are_counted(data: bytes) -> None:
    server = TurnServer(V4[0], {"u": "p"}, "r", rng=random.Random(4))
    server.receive_datagram(data, V4[1], 1.0)
    server.receive_relayed(data, ("10.0.0.3", 1), ("10.0.0.1", 49152), 1.0)
    for out, _dst in server.datagrams_to_send(1.0):
        decode(out)  # whatever the server answers is well-formed STUN
    server.handle_timer(10_000.0)


def test_stale_nonce_is_retried_only_once() -> None:
    # A server whose nonces are stale at once: 401 → credentials → 438 → retry → 438 → fail.
    server = TurnServer(V4[0], {"u": "p"}, "r", nonce_lifetime=0.0, rng=random.Random(1))
    client = TurnClient(V4[0], "u", "p", rng=random.Random(2))
    client.allocate(0.0)
    pump(client, server, V4[1], 0.0)
    failed = client.next_event()
    assert isinstance(failed, RequestFailed) and failed.fatal
    assert isinstance(failed.error, TurnRemoteError) and failed.error.code == 438
    assert client.stats["stale_nonce"] == 1
    assert server.stats["stale_nonce"] == 2


@pytest.mark.corpus
def test_corpus_turn_messages_decode() -> None:
    # The synthetic TURN corpus is only decoded (its bytes were made by a script, not a peer);
    # the real pion/turn captures include a Chrome↔coturn Allocate with its 401.
    for name in ("turn-synthetic.json", "captures.json"):
        doc = json.loads(corpus("stun", name).read_text())
        items = [v for v in doc.values() if isinstance(v, list)]
        messages = [m for group in items for m in group if isinstance(m, dict) and "hex" in m]
        assert messages, name
        for item in messages:
            raw = bytes.fromhex(item["hex"])
            if raw[0] < 4:
                msg = decode(raw)
                assert msg.transaction_id == raw[8:20]
