"""RFC 8445 §7.3: a check's USERNAME is valid when its first part is our ufrag. The part
after the colon (the sender's ufrag) may be one of the peer's EARLIER ufrags: werift 0.24.4
keeps its old ufrag there after its own ICE restart (docs/interop.md), and we answer. An
unknown sender ufrag is still dropped (Chromium sends one before our answer to its
restart)."""

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

    # the agent has __slots__ (no instance dict): swap in a subclass of the same layout
    # whose transmits() rewrites
    agent.__class__ = type(
        "RewritingAgent",
        (type(agent),),
        {"__slots__": (), "transmits": lambda self, now: rewritten(now)},
    )


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
    assert left.stats["check_stale_remote_ufrag"] > 0
    assert left.stats["check_wrong_username"] == 0
    # data on the new pair, both ways
    now = world.net.now
    assert left.send(b"\x17after", now) and right.send(b"\x17back", now)
    world.net.run_for(1)
    assert b"\x17after" in [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert b"\x17back" in [e.data for e in world.left.node.events if isinstance(e, DataReceived)]


def test_unknown_sender_ufrag_dropped_earlier_one_answered() -> None:
    """Chromium, after restartIce() and until it has our answer, checks our OLD ufrag with
    its NEW one: dropped (before and after we saw its offer), so that its restart does not
    finish on our old credentials. werift after its restart sends its EARLIER ufrag with
    our new one: answered."""
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(1))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    src = ("192.0.2.9", 9)

    def check(username: str, pwd: str) -> bytes:
        msg = Message(Method.BINDING, MessageClass.REQUEST, random.randbytes(12))
        msg.add_text(A.USERNAME, username)
        msg.add_uint32(A.PRIORITY, 1862270975)
        msg.add_uint64(A.ICE_CONTROLLING, 1)
        msg.add(A.USE_CANDIDATE)
        return msg.encode(short_term_key(pwd), fingerprint=True)

    old_ufrag, old_pwd = agent.local_ufrag, agent.local_pwd
    agent.receive_datagram(check(f"{old_ufrag}:peerNEW", old_pwd), src, 0.1)
    agent.receive_datagram(check(old_ufrag, old_pwd), src, 0.1)  # no colon
    agent.receive_datagram(check(f"other:{old_ufrag}", old_pwd), src, 0.1)
    assert agent.transmits(0.1) == []
    assert agent.stats["check_wrong_remote_ufrag"] == 1
    assert agent.stats["check_wrong_username"] == 2
    # the restart, both sides: now "peer" is an earlier ufrag of the peer
    agent.restart(0.2)
    agent.set_remote_credentials("peerNEW", "q" * 22, 0.2)
    agent.receive_datagram(check(f"{agent.local_ufrag}:peer", agent.local_pwd), src, 0.3)
    out = [d for d, _, remote in agent.transmits(0.3) if remote == src]
    assert any(decode(d).message_class is MessageClass.SUCCESS for d in out)
    assert agent.stats["check_stale_remote_ufrag"] == 1
    # ... with our password only
    agent.receive_datagram(check(f"{agent.local_ufrag}:peer", "x" * 22), src, 0.4)
    assert agent.stats["check_bad_integrity"] == 1


def test_old_ufrag_with_the_peers_new_ufrag_is_not_answered() -> None:
    """After both sides restarted, a check with our OLD ufrag (previous generation, which
    keeps the selected pair) and the peer's NEW ufrag is what Chromium sends until our
    answer reaches it: not answered, else its restart ends on our old credentials."""
    world = build(None, None, stun=False, seed=5)
    world.start()
    assert world.run(10)
    left, right = world.left.agent, world.right.agent
    world.net.run_for(1)
    old_ufrag, old_pwd = left.local_ufrag, left.local_pwd
    world.restart()
    # until the new credentials are signalled (the old generation still has the pair)
    world.net.run(lambda: left.generation.remote_ufrag == right.local_ufrag, timeout=1)
    assert left.previous is not None and left.generation.remote_ufrag == right.local_ufrag
    msg = Message(Method.BINDING, MessageClass.REQUEST, random.randbytes(12))
    msg.add_text(A.USERNAME, f"{old_ufrag}:{right.local_ufrag}")
    msg.add_uint32(A.PRIORITY, 1862270975)
    msg.add_uint64(A.ICE_CONTROLLED if left.controlling else A.ICE_CONTROLLING, 1)
    msg.add(A.USE_CANDIDATE)
    before = left.stats["check_wrong_remote_ufrag"]
    now = world.net.now
    source = right.selected_pair.local.address if right.selected_pair else ("198.51.100.22", 1)
    left.receive_datagram(msg.encode(short_term_key(old_pwd), fingerprint=True), source, now)
    answered = [
        d for d, _, _ in left.transmits(now) if decode(d).transaction_id == msg.transaction_id
    ]
    assert answered == []
    assert left.stats["check_wrong_remote_ufrag"] == before + 1


def test_malformed_check_attributes_are_dropped_and_counted() -> None:
    """The one walk over a check's attributes (RFC 8445 §7.3) reads the first of each type
    and drops a check whose PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED has the wrong
    length, or whose USERNAME is missing or not UTF-8, each counted; a well-formed one
    (with a duplicate PRIORITY after the first) is answered."""
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(2))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    src = ("192.0.2.9", 9)
    ufrag, pwd = agent.local_ufrag, agent.local_pwd

    def check(attrs: list[tuple[int, bytes]]) -> bytes:
        msg = Message(Method.BINDING, MessageClass.REQUEST, random.randbytes(12), attrs)
        return msg.encode(short_term_key(pwd), fingerprint=True)

    user = (A.USERNAME, f"{ufrag}:peer".encode())
    good = [user, (A.PRIORITY, b"\x6e\xff\xff\xff"), (A.ICE_CONTROLLING, bytes(8))]
    for bad in (
        [user, (A.PRIORITY, b"\x01\x02\x03")],
        [user, (A.ICE_CONTROLLING, bytes(7))],
        [user, (A.ICE_CONTROLLED, bytes(9))],
        [(A.USERNAME, b"\xff\xfe:peer"), (A.PRIORITY, bytes(4))],
    ):
        agent.receive_datagram(check(bad), src, 0.1)
    agent.receive_datagram(check(good[1:]), src, 0.1)
    assert agent.transmits(0.1) == []
    assert agent.stats["check_malformed"] == 4
    assert agent.stats["check_no_username"] == 1
    agent.receive_datagram(check([*good, (A.PRIORITY, b"\x01")]), src, 0.2)
    out = [decode(d) for d, _, remote in agent.transmits(0.2) if remote == src]
    assert [m.message_class for m in out] == [MessageClass.SUCCESS]
    assert agent.stats["check_malformed"] == 4
    assert agent.stats["checks_received"] == 1
