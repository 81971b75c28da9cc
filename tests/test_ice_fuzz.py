"""Hostile input into the ICE agent: the atheris harness over seeds (so it cannot rot) and
hypothesis over arbitrary datagrams and authenticated checks."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.ice import IceAgent, IceConfig
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, MessageClass, Method, short_term_key

FUZZ = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_ice_agent.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_ice_agent", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harness_runs_over_seeds() -> None:
    harness = _harness()
    check = (
        Message(Method.BINDING, MessageClass.REQUEST, bytes(12))
        .add_text(A.USERNAME, "x:y")
        .encode(b"k", fingerprint=True)
    )
    attrs = b"\x00\x24\x04\x6e\xff\xff\xff\x80\x2a\x08" + bytes(8) + b"\x00\x25\x00"
    seeds = [
        b"",
        b"\x00",
        b"\x00" + check,
        b"\x01" + attrs,
        b"\x81" + attrs + b"\x00\x06\x03a:b",
        b"\x02\x00\x00\x20\x08\x00\x01" + bytes(6),
        b"\x02\x01\x00\x09\x04\x00\x00\x04\x57",
        b"\x03candidate:1 1 udp 1 192.0.2.9 1 typ host",
        b"\x03candidate:1 1 udp 1 x.local 1 typ host",
        b"\x03\xff\xfe",
        # found by atheris: a malformed XOR-MAPPED-ADDRESS in an authenticated response
        b"\x0a\x00\x0b\x00\x00\x00\x20\x0b",
    ]
    rng = random.Random(1)
    seeds += [bytes([i]) + rng.randbytes(rng.randrange(80)) for i in range(64)]
    for seed in seeds:
        harness.TestOneInput(seed)


def _agent() -> IceAgent:
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(3))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    return agent


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(0, 65535))
def test_arbitrary_datagrams_never_raise(data: bytes, port: int) -> None:
    agent = _agent()
    agent.receive_datagram(data, ("192.0.2.9", port), 0.1)
    agent.receive_datagram(b"\x00\x01" + data, ("192.0.2.9", port), 0.1)
    agent.transmits(0.1)
    agent.handle_timer(1.0)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF).filter(lambda t: t not in (0x0008, 0x001C, 0x8028)),
            st.binary(max_size=24),
        ),
        max_size=8,
    )
)
def test_authenticated_checks_with_any_attributes_never_raise(
    attrs: list[tuple[int, bytes]],
) -> None:
    agent = _agent()
    msg = Message(Method.BINDING, MessageClass.REQUEST, bytes(12), attrs)
    msg.add_text(A.USERNAME, f"{agent.local_ufrag}:peer")
    wire = msg.encode(short_term_key(agent.local_pwd), fingerprint=True)
    agent.receive_datagram(wire, ("192.0.2.9", 9), 0.1)
    for data, _local, _remote in agent.transmits(0.1):
        assert data[:2] in (b"\x01\x01", b"\x01\x11")  # only success / error responses
    agent.handle_timer(1.0)
