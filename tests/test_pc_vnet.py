"""Two of our peer connections (the whole stack: ICE, DTLS, SCTP, data channel) through
selected cases of the virtual network's RFC 4787 NAT matrix, with our STUN/TURN server."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pyrtcstack.common.core import Event
from pyrtcstack.datachannel import ChannelMessage, DataChannelOpened
from pyrtcstack.ice import TurnServer
from pyrtcstack.peerconnection import Configuration, PeerConnectionCore
from pyrtcstack.testing.icenet import SERVER, TURN_PASSWORD, TURN_USER, TurnServerNode
from pyrtcstack.testing.vnet import NAT_PRESETS, Link, Node, VirtualNetwork
from pyrtcstack.turn.server import TurnServer as TurnServerCore


def _world(
    left: str | None, right: str | None, relay: bool, seed: int, internet: Link | None = None
) -> Any:
    net = VirtualNetwork(seed=seed, internet=internet or Link(delay=0.02))
    net.add_host("server", SERVER[0])
    turn = TurnServerCore(SERVER, {TURN_USER: TURN_PASSWORD}, rng=random.Random(seed))
    net.attach_wildcard(TurnServerNode(turn), SERVER[0], name="server")
    cores = []
    for index, (name, nat) in enumerate((("left", left), ("right", right)), start=1):
        if nat is None:
            ip = f"198.51.100.{20 + index}"
            net.add_host(name, ip)
        else:
            inside = net.add_nat(name, NAT_PRESETS[nat], f"203.0.113.{index}", link=Link(0.001))
            ip = f"10.0.{index}.2"
            net.add_host(name, ip, inside)
        config = Configuration(ice_transport_policy="relay" if relay else "all")
        core = PeerConnectionCore(config, rng=random.Random(seed * 10 + index))
        core.ice.stun_servers = [SERVER]
        core.ice.turn_servers = [TurnServer(SERVER, TURN_USER, TURN_PASSWORD)]
        net.attach(core, [(ip, 40000 + index)], name=name)
        cores.append((core, (ip, 40000 + index)))
    return net, cores


@pytest.mark.parametrize(
    ("left", "right", "relay", "expect"),
    [
        (None, None, False, "host"),
        ("full-cone", "symmetric", False, "srflx"),
        ("port-restricted", "port-restricted", False, "srflx"),
        ("restricted", "symmetric", False, "srflx"),
        ("symmetric", "symmetric", False, "relay"),
        ("full-cone", "port-restricted", True, "relay"),
    ],
)
def test_data_channel_through_nats(
    left: str | None, right: str | None, relay: bool, expect: str
) -> None:
    net, [(a, sock_a), (b, sock_b)] = _world(left, right, relay, seed=7)
    got: list[Any] = []
    remote: list[Any] = []

    def on_event(node: Node, event: Event) -> None:
        if isinstance(event, DataChannelOpened):
            remote.append(event.channel)
            event.channel.send("pong")
        elif isinstance(event, ChannelMessage):
            got.append((node.name, event.data))

    net.on_event = on_event
    channel = a.create_data_channel("nat")
    a.set_local_description(a.create_offer(net.now), net.now)
    a.gather([sock_a], net.now)
    net.flush()
    assert net.run(lambda: a.ice_gathering_state == "complete", timeout=30)
    assert a.local_description is not None
    b.set_remote_description(a.local_description, net.now)
    b.set_local_description(b.create_answer(net.now), net.now)
    b.gather([sock_b], net.now)
    net.flush()
    assert net.run(lambda: b.ice_gathering_state == "complete", timeout=30)
    assert b.local_description is not None
    a.set_remote_description(b.local_description, net.now)
    net.flush()
    assert net.run(lambda: channel.ready_state == "open" and bool(remote), timeout=60)
    channel.send("ping")
    net.flush()
    assert net.run(lambda: len(got) == 2, timeout=30)
    assert sorted(got) == [("left", "pong"), ("right", "ping")]
    assert a.connection_state == b.connection_state == "connected"
    pair = a.agent.selected_pair if a.agent else None
    assert pair is not None
    local = pair.valid_local or pair.local
    kinds = {local.type.value, pair.remote.type.value}
    if expect == "relay":
        assert "relay" in kinds
    elif expect == "srflx":
        assert "relay" not in kinds and kinds & {"srflx", "prflx"}
    else:
        assert kinds == {"host"}


@pytest.mark.parametrize("seed", range(8))
def test_thousand_messages_through_a_lossy_reordering_internet(seed: int) -> None:
    """5 % loss, 2 % duplication, 5 % reordering with jitter on the internet segment:
    every STUN, DTLS and SCTP retransmission path runs; 1,000 messages arrive in order."""
    lossy = Link(delay=0.02, jitter=0.005, loss=0.05, duplicate=0.02, reorder=0.05)
    net, [(a, sock_a), (b, sock_b)] = _world("full-cone", "port-restricted", False, seed, lossy)
    got: list[Any] = []
    net.on_event = lambda node, ev: (
        got.append(ev.data) if isinstance(ev, ChannelMessage) and node.name == "right" else None
    )
    channel = a.create_data_channel("lossy")
    a.set_local_description(a.create_offer(net.now), net.now)
    a.gather([sock_a], net.now)
    net.flush()
    assert net.run(lambda: a.ice_gathering_state == "complete", timeout=60)
    assert a.local_description is not None
    b.set_remote_description(a.local_description, net.now)
    b.set_local_description(b.create_answer(net.now), net.now)
    b.gather([sock_b], net.now)
    net.flush()
    assert net.run(lambda: b.ice_gathering_state == "complete", timeout=60)
    assert b.local_description is not None
    a.set_remote_description(b.local_description, net.now)
    net.flush()
    assert net.run(lambda: channel.ready_state == "open", timeout=120)
    for i in range(1000):
        channel.send(f"m{i}:" + "x" * 300)
    net.flush()
    assert net.run(lambda: len(got) == 1000, timeout=300)
    assert got == [f"m{i}:" + "x" * 300 for i in range(1000)]
