"""The ICE agent as a composition (issue 16): it implements the MultiSocketCore contract
(a batch in, Transmit out, pending output as a deadline), its parts are objects that do
not reach into one another, and the keys of a generation carry their own HMAC states."""

from __future__ import annotations

import ast
import copy
import hmac
import random
from pathlib import Path

import pytest

from pyrtcstack.common.core import Event, MultiSocketCore, Transmit
from pyrtcstack.ice import DataReceived, IceAgent, IceConfig
from pyrtcstack.stun import HmacKey, Message, MessageClass, Method, decode, short_term_key
from pyrtcstack.stun import message as stun_message
from pyrtcstack.testing.icenet import IceWorld, build

ICE = Path(__file__).resolve().parent.parent / "pyrtcstack" / "ice"


def _connected(seed: int = 1) -> IceWorld:
    world = build(None, None, stun=False, seed=seed)
    world.start()
    assert world.run(10)
    world.net.run_for(1)
    return world


def test_the_agent_is_a_multi_socket_core() -> None:
    agent = IceAgent(IceConfig(), rng=random.Random(1))
    core: MultiSocketCore = agent  # mypy checks the signatures, isinstance the names
    assert isinstance(core, MultiSocketCore)
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    agent.add_remote_candidate("candidate:1 1 udp 2130706431 192.0.2.9 9 typ host", 0.0)
    agent.handle_timer(agent.get_timer() or 0.0)
    out = agent.transmits(0.0)
    assert out and all(type(t) is tuple and len(t) == 3 for t in out)
    _data, source, destination = out[0]
    assert source == ("192.0.2.1", 5000) and destination == ("192.0.2.9", 9)


def test_an_api_call_that_queues_output_is_a_deadline() -> None:
    """common/core.py: get_timer() is at most the now of the call that queued output."""
    world = _connected()
    left = world.left.agent
    now = world.net.now
    assert (left.get_timer() or 0.0) > now  # idle: the next consent check
    assert left.send(b"\x17data", now)
    assert left.get_timer() == now
    assert [data for data, _source, _dest in left.transmits(now)] == [b"\x17data"]
    assert (left.get_timer() or 0.0) > now
    left.send_many([b"\x17a", b"\x17b"], now)
    assert left.get_timer() == now


def test_a_restart_that_asks_a_new_server_is_a_deadline() -> None:
    agent = IceAgent(IceConfig(), rng=random.Random(2))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.transmits(0.0)
    assert agent.get_timer() is None  # nothing to do yet
    agent.config.stun_servers.append(("198.51.100.1", 3478))
    agent.restart(1.0)  # W3C setConfiguration: the new server is asked now
    assert agent.get_timer() == 1.0
    (request,) = agent.transmits(1.0)
    assert request[2] == ("198.51.100.1", 3478)  # (data, source, destination)
    assert (agent.get_timer() or 0.0) > 1.0  # its retransmission


def _batch_world(one_by_one: bool) -> tuple[list[Event], list[Transmit], dict[str, int]]:
    world = _connected(seed=4)
    left, right = world.left.agent, world.right.agent
    now = world.net.now
    local = right.selected_pair
    assert local is not None
    sock, remote = local.local.address, local.remote.address
    # a consent-style check from the left, then application data, in one read
    left.consent.next_at = now
    left.handle_timer(now)
    check = [data for data, _source, _dest in left.transmits(now)]
    assert len(check) == 1
    batch = [(check[0], remote), (b"\x17one", remote), (b"\x17two", remote)]
    while right.next_event() is not None:
        pass
    if one_by_one:
        for data, addr in batch:
            right.receive_datagram(data, addr, now, local=sock)
    else:
        right.receive_datagrams(batch, now, sock)
    events = []
    while (event := right.next_event()) is not None:
        events.append(event)
    return events, right.transmits(now), dict(right.stats)


def test_a_batch_is_the_same_as_its_datagrams_one_by_one() -> None:
    batch = _batch_world(one_by_one=False)
    single = _batch_world(one_by_one=True)
    assert batch == single
    events, out, _stats = batch
    assert [e.data for e in events if isinstance(e, DataReceived)] == [b"\x17one", b"\x17two"]
    assert len(out) == 1 and decode(out[0][0]).message_class is MessageClass.SUCCESS


def _classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


@pytest.mark.parametrize("path", sorted(ICE.glob("*.py")), ids=lambda p: p.name)
def test_parts_are_objects_not_mixins_and_keep_to_their_own_fields(path: Path) -> None:
    """No class of the ICE package inherits from more than one class (no mixins), and no
    code reads or writes a private field (``x._name``) of anything but ``self``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for cls in _classes(tree):
        assert len(cls.bases) <= 1, f"{path.name}: {cls.name} has several bases"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            owner = node.value
            assert isinstance(owner, ast.Name) and owner.id in ("self", "cls"), (
                f"{path.name}:{node.lineno} reaches into {ast.unparse(node)}"
            )


@pytest.mark.parametrize("size", [1, 22, 64, 65, 200])
def test_hmac_key_signs_like_the_stdlib_without_the_shared_cache(size: int) -> None:
    raw = bytes((i * 7) % 256 for i in range(size))
    key = HmacKey(raw)
    assert key == raw and hash(key) == hash(raw)
    stun_message._pads.clear()
    msg = Message(Method.BINDING, MessageClass.REQUEST, bytes(12)).add_text(0x0006, "a:b")
    data = msg.encode(key, fingerprint=True)
    assert data == msg.encode(raw, fingerprint=True)
    stun_message._pads.clear()
    covered = data[:2] + (len(data) - 20 - 8).to_bytes(2, "big") + data[4:-32]
    assert data[-28:-8] == hmac.digest(raw, covered, "sha1")
    assert decode(data).verify_integrity(key)
    assert not decode(data).verify_integrity(HmacKey(raw + b"x"))
    assert not stun_message._pads  # the key carried its own states
    twin = copy.deepcopy(key)
    assert type(twin) is HmacKey and twin == key and decode(data).verify_integrity(twin)


def test_a_generation_holds_its_keys_with_their_states() -> None:
    agent = IceAgent(IceConfig(), rng=random.Random(3))
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    gen = agent.generation
    assert type(gen.local_key) is HmacKey and gen.local_key == short_term_key(agent.local_pwd)
    assert type(gen.remote_key) is HmacKey and gen.remote_key == b"p" * 22
