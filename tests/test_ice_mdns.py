"""mDNS for `.local` ICE candidates: the one-shot query codec (RFC 6762 §5.1, §6.7),
hostile responses, and a real responder (python-zeroconf) in private network namespaces
answering our resolver and the asyncio ICE driver."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.ice.mdns import MdnsParseError, build_query, is_mdns_name, parse_addresses
from tests.peers import (
    PROJECT,
    multicast_namespace_pair,
    require_module,
)

NAME = "0b9c6a8f-1d8e-4a52-9d1f-1a2b3c4d5e6f.local"


def _response(records: list[tuple[bytes, int, int, bytes]], question: bytes = b"") -> bytes:
    head = struct.pack("!6H", 0, 0x8400, 1 if question else 0, len(records), 0, 0)
    body = question
    for name, rtype, rclass, rdata in records:
        body += name + struct.pack("!HHIH", rtype, rclass, 120, len(rdata)) + rdata
    return head + body


def test_query_bytes_rfc6762() -> None:
    q = build_query("abc.local")
    assert q == (
        b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        b"\x03abc\x05local\x00\x00\x01\x80\x01"  # A, class IN with the QU bit (§5.4)
    )
    assert build_query("abc.local", ipv6=True)[-4:] == b"\x00\x1c\x80\x01"
    assert is_mdns_name("X.LOCAL.") and not is_mdns_name("example.com")
    with pytest.raises(ValueError):
        build_query("example.com")
    with pytest.raises(ValueError):
        build_query("a" * 64 + ".local")


def test_answers_with_compression_and_cache_flush() -> None:
    question = build_query(NAME)[12:]
    pointer = b"\xc0\x0c"  # to the name in the question
    data = _response(
        [
            (pointer, 1, 0x8001, bytes([192, 0, 2, 7])),  # cache-flush bit set (§10.2)
            (pointer, 28, 1, bytes(15) + b"\x01"),
            (b"\x05other\x05local\x00", 1, 1, bytes([192, 0, 2, 99])),
            (pointer, 16, 1, b"\x03txt"),
        ],
        question,
    )
    assert parse_addresses(data, NAME) == ["192.0.2.7", "::1"]
    assert parse_addresses(data, NAME.upper() + ".") == ["192.0.2.7", "::1"]
    assert parse_addresses(build_query(NAME), NAME) == []  # a query, not a response


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 11,
        struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c",  # pointer to itself
        struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0) + b"\x05ab",
        struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0) + b"\x00\x00\x01\x00\x01",
        struct.pack("!6H", 0, 0x8400, 0, 1000, 0, 0),
        struct.pack("!6H", 0, 0x8400, 0, 1, 0, 0) + b"\x80x",
    ],
)
def test_malformed_responses_raise_parse_error(data: bytes) -> None:
    with pytest.raises(MdnsParseError):
        parse_addresses(data, NAME)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_hostile_bytes_only_raise_parse_error(data: bytes) -> None:
    try:
        parse_addresses(struct.pack("!6H", 0, 0x8400, 1, 2, 0, 1) + data, NAME)
        parse_addresses(data, NAME)
    except MdnsParseError:
        pass


def test_fuzz_harness_runs_over_seeds() -> None:
    path = PROJECT / "fuzz" / "fuzz_ice_mdns.py"
    spec = importlib.util.spec_from_file_location("fuzz_ice_mdns", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(5)
    seeds = [b"", build_query(NAME), _response([(b"\xc0\x0c", 1, 1, b"\x01\x02\x03\x04")])]
    seeds += [rng.randbytes(rng.randrange(64)) for _ in range(100)]
    for seed in seeds:
        module.TestOneInput(seed)


# -- a real responder in private namespaces ---------------------------------------------

_RESPONDER = textwrap.dedent(
    """
    import socket, sys, time
    from zeroconf import IPVersion, ServiceInfo, Zeroconf
    name, ip = sys.argv[1], sys.argv[2]
    zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
    info = ServiceInfo("_pyrtc._udp.local.", "t._pyrtc._udp.local.",
                       addresses=[socket.inet_aton(ip)], port=9, server=name + ".")
    zc.register_service(info)
    print("ready", flush=True)
    sys.stdin.read()
    zc.close()
    """
)

_QUERIER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pyrtcstack.aio.ice import IceConnection, resolve_mdns
    from pyrtcstack.ice import IceConfig

    async def main(name):
        out = {"direct": await resolve_mdns(name), "nobody": await resolve_mdns("x-y.local")}
        conn = IceConnection(IceConfig(controlling=True), addresses=["10.77.0.2"],
                             resolve_mdns=True)
        await conn.gather()
        conn.set_remote_credentials("rmt1", "p" * 22)
        assert conn.add_remote_candidate(f"candidate:1 1 udp 2122260223 {name} 40000 typ host")
        for _ in range(100):
            if conn.stats["mdns_resolved"]:
                break
            await asyncio.sleep(0.02)
        out["remote"] = [list(c.address) for c in conn.agent.remote_candidates]
        out["stats"] = conn.stats
        await conn.close()
        print(json.dumps(out), flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.fixture
def mdns_link() -> Iterator[tuple[str, str]]:
    with multicast_namespace_pair("pym", "10.77.0") as pair:
        yield pair


@pytest.mark.interop
def test_resolves_through_a_real_mdns_responder(mdns_link: tuple[str, str], tmp_path: Path) -> None:
    require_module("zeroconf")
    r, q = mdns_link
    (tmp_path / "responder.py").write_text(_RESPONDER)
    (tmp_path / "querier.py").write_text(_QUERIER)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    responder = subprocess.Popen(
        ["ip", "netns", "exec", r, sys.executable, str(tmp_path / "responder.py"), NAME,
         "10.77.0.1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert responder.stdout is not None
        assert responder.stdout.readline().strip() == b"ready"
        done = subprocess.run(
            ["ip", "netns", "exec", q, sys.executable, str(tmp_path / "querier.py"), NAME],
            capture_output=True, timeout=60, env=env, check=False,
        )  # fmt: skip
    finally:
        if responder.poll() is None:
            responder.kill()
        responder.wait(10)
    lines = done.stdout.decode().strip().splitlines()
    assert lines, done.stderr.decode()[-2000:]
    out = json.loads(lines[-1])
    assert out["direct"] == "10.77.0.1"
    assert out["nobody"] is None
    assert out["remote"] == [["10.77.0.1", 40000]]
    assert out["stats"]["mdns_resolved"] == 1
