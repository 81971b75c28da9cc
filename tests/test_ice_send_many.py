"""``IceAgent.send_many``: the batch form of ``send`` (what the peer connection's data path
uses) queues the same datagrams, in order, with the same counters; through a TURN relay too."""

from __future__ import annotations

from pyrtcstack.ice import DataReceived, IceAgent, IceConfig
from pyrtcstack.testing.icenet import build

PAYLOADS = [b"\x17one", b"\x17" + bytes(1200), b"\x17", b"\x80rtp"]


def test_send_many_queues_what_send_queues() -> None:
    world = build(None, None, stun=False)
    world.start()
    assert world.run(10)
    left = world.left.agent
    now = world.net.now
    left.transmits(now)
    assert all(left.send(p, now) for p in PAYLOADS)
    one_by_one = left.transmits(now)
    assert left.send_many(PAYLOADS, now) and left.send_many([], now)
    assert left.transmits(now) == one_by_one
    assert len(one_by_one) == len(PAYLOADS)


def test_send_many_without_a_pair_counts_every_datagram() -> None:
    agent = IceAgent(IceConfig(controlling=True))
    agent.close(0.0)  # before, they would wait for a valid pair (test_ice_held_data.py)
    assert not agent.send_many(PAYLOADS, 0.0)
    assert agent.stats["send_no_pair"] == len(PAYLOADS)
    assert agent.transmits(0.0) == []


def test_send_many_through_a_relay_arrives_in_order() -> None:
    world = build(
        "full-cone",
        "full-cone",
        turn=True,
        left_config=IceConfig(controlling=True, relay_only=True),
    )
    world.start()
    assert world.run(20) and world.connected()
    assert world.selected_types()[0][0] == "relay"
    assert world.left.agent.send_many(PAYLOADS, world.net.now)
    world.net.run_for(1)
    got = [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert got[-len(PAYLOADS) :] == PAYLOADS
