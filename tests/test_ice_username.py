"""RFC 8445 §7.3: a check's USERNAME is valid when its first part is our ufrag; the part
after the colon (the sender's ufrag) is not a reason to drop it. werift 0.24.4 keeps its
OLD ufrag there after its own ICE restart (docs/interop.md); libwebrtc accepts any. These
tests replay that on the virtual network."""

from __future__ import annotations

import random
from collections.abc import Callable

from pyrtcstack.ice import DataReceived, IceAgent, IceConfig
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, MessageClass, Method, decode, short_term_key
from pyrtcstack.testing.icenet import build

_COMPUTED = {A.MESSAGE_INTEGRITY, A.MESSAGE_INTEGRITY_SHA256, A.FINGERPRINT}


def _keep_sender_ufrag(agent: IceAgent, ufrag: str, peer: IceAgent) -> None:
    """Make ``agent`` send its checks with ``ufrag`` after the colon (as werift does after
    its restart), re-signed with the peer's current password."""
    transmits: Callable[[float], list[tuple[bytes, tuple[str, int], tuple[str, int]]]]
    transmits = agent.transmits

    def rewritten(now: float) -> list[tuple[bytes, tuple[str, int], tuple[str, int]]]:
        out = []
        for sent, local, remote in transmits(now):
            data = sent
            if data[:2] == b"\x00\x01":
                msg = decode(data)
                username = msg.get_text(A.USERNAME) or ""
                mine = username.partition(":")[0]
                attrs = [(t, v) for t, v in msg.attributes if t not in _COMPUTED]
                attrs = [
                    (t, f"{mine}:{ufrag}".encode() if t == A.USERNAME else v) for t, v in attrs
                ]
                request = Message(Method.BINDING, MessageClass.REQUEST, msg.transaction_id, attrs)
                data = request.encode(short_term_key(peer.local_pwd), fingerprint=True)
            out.append((data, local, remote))
        return out

    agent.transmits = rewritten  # type: ignore[method-assign]


def test_restart_completes_when_the_peer_keeps_its_old_ufrag_in_checks() -> None:
    world = build(None, None, stun=False, seed=3)
    world.start()
    assert world.run(10)
    left, right = world.left.agent, world.right.agent
    world.net.run_for(1)
    old_right_ufrag = right.local_ufrag
    world.restart()
    _keep_sender_ufrag(right, old_right_ufrag, left)
    assert world.net.run(
        lambda: left.generation.selected is not None and right.generation.selected is not None,
        timeout=10,
    )
    assert left.stats["check_remote_ufrag_mismatch"] > 0
    assert left.stats["check_wrong_username"] == 0
    # data on the new pair, both ways
    now = world.net.now
    assert left.send(b"\x17after", now) and right.send(b"\x17back", now)
    world.net.run_for(1)
    assert b"\x17after" in [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert b"\x17back" in [e.data for e in world.left.node.events if isinstance(e, DataReceived)]


def test_first_part_and_integrity_still_decide() -> None:
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(1))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    key = short_term_key(agent.local_pwd)
    src = ("192.0.2.9", 9)

    def check(username: str, pwd_key: bytes = key) -> bytes:
        msg = Message(Method.BINDING, MessageClass.REQUEST, random.randbytes(12))
        msg.add_text(A.USERNAME, username)
        msg.add_uint32(A.PRIORITY, 1862270975)
        msg.add_uint64(A.ICE_CONTROLLING, 1)
        return msg.encode(pwd_key, fingerprint=True)

    agent.receive_datagram(check(agent.local_ufrag), src, 0.1)  # no colon
    agent.receive_datagram(check(f"other:{agent.local_ufrag}"), src, 0.1)
    agent.receive_datagram(check(f"{agent.local_ufrag}:old", short_term_key("x" * 22)), src, 0.1)
    assert agent.transmits(0.1) == []
    assert agent.stats["check_wrong_username"] == 2
    assert agent.stats["check_bad_integrity"] == 1
    agent.receive_datagram(check(f"{agent.local_ufrag}:old"), src, 0.2)
    ((data, _, remote),) = agent.transmits(0.2)
    assert remote == src and decode(data).message_class is MessageClass.SUCCESS
    assert agent.stats["check_remote_ufrag_mismatch"] == 1
