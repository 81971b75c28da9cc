"""Randomness that makes ids, nonces, tags and keys comes from a CSPRNG by default
(issue 14 item 6; RFC 8489 §6: STUN/TURN transaction ids must be unpredictable).

Cores take an injected :class:`random.Random` (tests seed one); when none is given,
:func:`pyrtcstack.common.core.default_rng` gives :class:`random.SystemRandom`. These tests
run the whole stack with no rng injected and fail if any code in pyrtcstack (outside the
testing helpers) draws from a Mersenne Twister, and keep new ``random.Random(...)``
constructions out of the library."""

from __future__ import annotations

import ast
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pyrtcstack
from pyrtcstack.common.core import Event
from pyrtcstack.datachannel import ChannelMessage, DataChannelOpened
from pyrtcstack.ice import IceAgent, IceConfig, TurnServer
from pyrtcstack.peerconnection import Configuration, PeerConnectionCore
from pyrtcstack.testing.icenet import SERVER, TURN_PASSWORD, TURN_USER, TurnServerNode
from pyrtcstack.testing.vnet import NAT_PRESETS, Link, Node, VirtualNetwork
from pyrtcstack.turn.server import TurnServer as TurnServerCore

PACKAGE = Path(pyrtcstack.__file__).parent
#: modules that may use a seeded Mersenne Twister: test harnesses and interop payloads
ALLOWED = ("pyrtcstack.testing", "pyrtcstack.interop")


@pytest.fixture
def mersenne_users(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record which pyrtcstack module draws from a non-CSPRNG :class:`random.Random`.

    :class:`random.SystemRandom` overrides ``random``, ``getrandbits`` and ``randbytes``
    (and ``choice``/``uniform``/``randrange`` go through them), so only Mersenne draws
    reach the base class methods patched here."""
    users: list[str] = []

    def guard(name: str) -> Callable[..., Any]:
        original = getattr(random.Random, name)

        def wrapper(self: random.Random, *args: Any, **kwargs: Any) -> Any:
            frame = sys._getframe(1)
            while frame is not None and frame.f_globals.get("__name__") == "random":
                frame = frame.f_back  # type: ignore[assignment]
            module = frame.f_globals.get("__name__", "") if frame is not None else ""
            if module.startswith("pyrtcstack") and not module.startswith(ALLOWED):
                users.append(module)
            return original(self, *args, **kwargs)

        return wrapper

    for name in ("random", "getrandbits", "randbytes"):
        monkeypatch.setattr(random.Random, name, guard(name))
    yield users


def test_guard_sees_a_seeded_rng(mersenne_users: list[str]) -> None:
    """The fixture itself works: a seeded rng injected into a core is seen."""
    IceAgent(IceConfig(controlling=True), rng=random.Random(1))
    assert "pyrtcstack.ice.agent" in mersenne_users


def test_agent_gives_its_turn_clients_the_csprng() -> None:
    agent = IceAgent(
        IceConfig(controlling=True, turn_servers=[TurnServer(SERVER, TURN_USER, TURN_PASSWORD)])
    )
    agent.gather([("198.51.100.21", 40001)], 0.0)
    clients = [relay.client for relay in agent.relays]
    assert clients and all(type(c._rng) is random.SystemRandom for c in clients)


def test_whole_stack_through_turn_draws_only_from_the_csprng(
    mersenne_users: list[str],
) -> None:
    """Two peer connections, relay only, through our TURN server on the virtual network,
    with no rng injected anywhere in pyrtcstack: ICE, STUN, TURN client and server, DTLS,
    SCTP, data channels."""
    net = VirtualNetwork(seed=3, internet=Link(delay=0.02))
    net.add_host("server", SERVER[0])
    net.attach_wildcard(
        TurnServerNode(TurnServerCore(SERVER, {TURN_USER: TURN_PASSWORD})), SERVER[0], name="server"
    )
    cores = []
    for index, name in enumerate(("left", "right"), start=1):
        inside = net.add_nat(name, NAT_PRESETS["symmetric"], f"203.0.113.{index}", link=Link(0.001))
        ip = f"10.0.{index}.2"
        net.add_host(name, ip, inside)
        core = PeerConnectionCore(Configuration(ice_transport_policy="relay"))
        core.ice.turn_servers = [TurnServer(SERVER, TURN_USER, TURN_PASSWORD)]
        net.attach(core, [(ip, 40000 + index)], name=name)
        cores.append((core, (ip, 40000 + index)))
    [(a, sock_a), (b, sock_b)] = cores
    got: list[Any] = []

    def on_event(node: Node, event: Event) -> None:
        if isinstance(event, ChannelMessage):
            got.append((node.name, event.data))
        elif isinstance(event, DataChannelOpened):
            event.channel.send("pong")

    net.on_event = on_event
    a.create_data_channel("csprng")
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
    assert net.run(lambda: bool(got), timeout=60)
    assert got == [("left", "pong")]
    assert sorted(set(mersenne_users)) == []


def _random_random_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "Random"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "random"
    ]


def test_library_builds_no_mersenne_twister() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "pyrtcstack." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module.startswith(ALLOWED):
            continue
        found += [
            f"{path.relative_to(PACKAGE.parent)}:{line}" for line in _random_random_calls(path)
        ]
    assert found == []
