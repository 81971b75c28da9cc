"""RFC 8445 §12.1: data goes on a valid pair only, and what is sent before the first pair
is valid waits for it (bounded) instead of being dropped.

The case that showed it (docs/interop.md, "A clean setup"): Chromium, answering our offer,
checks our candidate before our answer reached it, gets our response, and sends its DTLS
ClientHello at once; our server flight answering it was dropped (``send_no_pair``),
because our own check of that pair had not been answered yet, and only Chromium's
ClientHello retransmission brought the handshake on."""

from __future__ import annotations

from pyrtcstack.ice import DataReceived, IceAgent, IceConfig
from pyrtcstack.ice.agent import MAX_HELD_BYTES, MAX_HELD_DATAGRAMS
from pyrtcstack.testing.icenet import build


def test_data_sent_before_any_valid_pair_arrives_once_one_is() -> None:
    world = build(None, None, stun=False)
    world.start()
    left, right = world.left.agent, world.right.agent
    early: list[bool] = []

    def step() -> bool:
        # the peer's check is answered, ours is not yet: no pair to send on
        if not early and left.stats["checks_received"] and left.selected_pair is None:
            early.append(left.send(b"\x17first", world.net.now))
            early.append(left.send_many([b"\x17second", b"\x17third"], world.net.now))
        return world.settled()

    assert world.net.run(step, timeout=10) and world.connected()
    assert early == [True, True]
    assert left.send(b"\x17after", world.net.now)
    world.net.run_for(1)
    got = [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert got == [b"\x17first", b"\x17second", b"\x17third", b"\x17after"]
    assert left.stats["send_held"] == 3 and left.stats["send_no_pair"] == 0
    assert right.stats["send_no_pair"] == 0


def test_held_data_is_bounded() -> None:
    agent = IceAgent(IceConfig(controlling=True))
    assert agent.send_many([b"\x17" * 100] * MAX_HELD_DATAGRAMS, 0.0)
    assert not agent.send(b"\x17", 0.0)  # the hold is full: dropped, counted
    assert agent.stats["send_held"] == MAX_HELD_DATAGRAMS
    assert agent.stats["send_no_pair"] == 1
    other = IceAgent(IceConfig(controlling=True))
    assert not other.send(bytes(MAX_HELD_BYTES + 1), 0.0)
    assert other.send(bytes(MAX_HELD_BYTES), 0.0)
    assert not other.send(b"\x17", 0.0)
    assert other.stats["send_no_pair"] == 2


def test_a_closed_agent_holds_nothing() -> None:
    agent = IceAgent(IceConfig(controlling=True))
    assert agent.send(b"\x17held", 0.0)
    agent.close(0.0)
    assert not agent._held  # forgotten with the agent
    assert not agent.send_many([b"\x17late"], 0.0)
    assert agent.stats["send_no_pair"] == 1
    assert agent.transmits(0.0) == []
