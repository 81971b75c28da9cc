"""Hiding our own host candidates behind ``<uuid>.local`` names
(``Settings.mdns_host_candidates``, draft-ietf-mmusic-mdns-ice-candidates §3.1) and
answering mDNS queries for them (RFC 6762 §6): the sans-I/O responder's three ways to
answer, hostile queries, the names in our descriptions, and two asyncio peers in a private
network namespace that both hide and resolve, with python-zeroconf resolving one name
from another namespace."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import re
import struct
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.ice.mdns import MDNS_GROUP_V4, MdnsParseError, build_query, parse_addresses
from pyrtcstack.ice.mdns_responder import (
    LEGACY_TTL,
    RECORD_TTL,
    MdnsResponder,
    parse_questions,
)
from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from tests.peers import PROJECT, require_module
from tests.test_pc_mdns import mdns_link  # noqa: F401  (the fixture)

NAME = "3f2b8c4e-9a1d-4c7e-8b2f-5d6e7f8a9b0c.local"
_UUID_NAME = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$"
)


def _query(name: str, qtype: int, *, unicast: bool, query_id: int = 0) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    qclass = 0x8001 if unicast else 0x0001
    return struct.pack("!6H", query_id, 0, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, qclass)


def _ttl_and_class(response: bytes) -> tuple[int, int]:
    _id, _f, qd, an, _ns, _ar = struct.unpack_from("!6H", response)
    assert an == 1
    pos = 12
    for _ in range(qd):
        while response[pos]:
            pos += response[pos] + 1
        pos += 5
    while response[pos]:
        pos += response[pos] + 1
    pos += 1
    _rtype, rclass, ttl, _len = struct.unpack_from("!HHIH", response, pos)
    return ttl, rclass


def test_responder_answers_three_ways() -> None:
    r = MdnsResponder()
    r.add_name(NAME, "192.0.2.7")
    # a one-shot (legacy unicast) query from an ordinary port, as our resolver sends
    r.receive_datagram(build_query(NAME), ("192.0.2.50", 40000), 0.0)
    ((data, dst),) = r.datagrams_to_send(0.0)
    assert dst == ("192.0.2.50", 40000)
    assert parse_addresses(data, NAME) == ["192.0.2.7"]
    assert parse_questions(data) == (0, [])  # a response, not a query
    assert struct.unpack_from("!H", data, 4)[0] == 1  # the question echoed (§6.7)
    assert _ttl_and_class(data) == (LEGACY_TTL, 1)
    # legacy with an ID: echoed
    r.receive_datagram(_query(NAME, 1, unicast=False, query_id=0x1234), ("192.0.2.50", 40001), 0)
    ((data, _dst),) = r.datagrams_to_send(0.0)
    assert struct.unpack_from("!H", data)[0] == 0x1234
    # from port 5353 with the QU bit: unicast, ID 0, cache-flush
    r.receive_datagram(_query(NAME.upper(), 1, unicast=True), ("192.0.2.51", 5353), 0.0)
    ((data, dst),) = r.datagrams_to_send(0.0)
    assert dst == ("192.0.2.51", 5353) and parse_addresses(data, NAME) == ["192.0.2.7"]
    assert _ttl_and_class(data) == (RECORD_TTL, 0x8001)
    # from port 5353 without it: multicast to the group
    r.receive_datagram(_query(NAME, 255, unicast=False), ("192.0.2.52", 5353), 0.0)
    ((data, dst),) = r.datagrams_to_send(0.0)
    assert dst == (MDNS_GROUP_V4, 5353) and parse_addresses(data, NAME) == ["192.0.2.7"]
    # an AAAA question for an IPv4 name, another name, a response: no answer
    r.receive_datagram(_query(NAME, 28, unicast=False), ("192.0.2.52", 5353), 0.0)
    r.receive_datagram(build_query("other.local"), ("192.0.2.52", 40000), 0.0)
    r.receive_datagram(data, ("192.0.2.52", 5353), 0.0)
    r.receive_datagram(b"\x00" * 5, ("192.0.2.52", 5353), 0.0)
    assert r.datagrams_to_send(0.0) == []
    assert r.stats["malformed"] == 1 and r.stats["not_a_query"] == 1
    assert r.stats["answered"] == 4
    # IPv6 names are answered with AAAA
    r.add_name("v6-" + NAME, "2001:db8::7")
    r.receive_datagram(build_query("v6-" + NAME, ipv6=True), ("192.0.2.50", 40000), 0.0)
    ((data, _dst),) = r.datagrams_to_send(0.0)
    assert parse_addresses(data, "v6-" + NAME) == ["2001:db8::7"]
    with pytest.raises(ValueError):
        r.add_name("example.com", "192.0.2.1")
    with pytest.raises(ValueError):
        r.add_name(NAME, "not an address")


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_hostile_queries_only_raise_parse_error(data: bytes) -> None:
    try:
        parse_questions(data)
        parse_questions(struct.pack("!6H", 7, 0, 2, 0, 0, 0) + data)
    except MdnsParseError:
        pass
    r = MdnsResponder()
    r.add_name(NAME, "192.0.2.7")
    r.receive_datagram(data, ("192.0.2.50", 40000), 0.0)  # never raises
    r.receive_datagram(_query(NAME, 1, unicast=False)[:12] + data, ("192.0.2.50", 5353), 0.0)
    for out, _dst in r.datagrams_to_send(0.0):
        assert parse_addresses(out, NAME) == ["192.0.2.7"]


@settings(max_examples=200)
@given(st.lists(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), min_size=1, max_size=4))
def test_query_round_trip(labels: list[str]) -> None:
    name = ".".join(labels) + ".local"
    query_id, questions = parse_questions(build_query(name))
    assert query_id == 0 and [(q.name, q.qtype, q.unicast) for q in questions] == [(name, 1, True)]


def test_fuzz_harness_runs_over_seeds() -> None:
    path = PROJECT / "fuzz" / "fuzz_ice_mdns_responder.py"
    spec = importlib.util.spec_from_file_location("fuzz_ice_mdns_responder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(9)
    seeds = [b"", build_query(NAME), _query(NAME, 255, unicast=False, query_id=3)]
    seeds += [rng.randbytes(rng.randrange(80)) for _ in range(200)]
    for seed in seeds:
        module.TestOneInput(seed)


def test_our_descriptions_carry_names_not_addresses() -> None:
    hidden = PeerConnectionCore(settings=Settings(mdns_host_candidates=True), rng=random.Random(61))
    plain = PeerConnectionCore(rng=random.Random(62))
    for pc in (hidden, plain):
        pc.create_data_channel("x")
        pc.set_local_description(pc.create_offer(0.0), 0.0)
        pc.gather([("192.0.2.10", 40000), ("192.0.2.11", 40002)], 0.0)
    events = []
    while (ev := hidden.next_event()) is not None:
        events.append(ev)
    sdp = hidden.local_description.sdp  # type: ignore[union-attr]
    assert "192.0.2.1" not in sdp.split("m=")[1]
    names = hidden.mdns_names
    assert set(names) == {"192.0.2.10", "192.0.2.11"}
    assert all(_UUID_NAME.match(n) for n in names.values())
    assert len(set(names.values())) == 2  # one name per address
    for name in names.values():
        assert f" {name} " in sdp
    trickled = [getattr(e, "candidate", None) for e in events]
    assert any(c and names["192.0.2.10"] in c for c in trickled)
    assert "192.0.2.10" in plain.local_description.sdp  # type: ignore[union-attr]
    assert plain.mdns_names == {}
    # the answerer hides its addresses too, and a restart keeps the names
    answerer = PeerConnectionCore(
        settings=Settings(mdns_host_candidates=True), rng=random.Random(63)
    )
    answerer.set_remote_description(hidden.local_description, 0.0)  # type: ignore[arg-type]
    answerer.set_local_description(answerer.create_answer(0.0), 0.0)
    answerer.gather([("192.0.2.20", 40004)], 0.0)
    hidden.set_remote_description(answerer.local_description, 0.0)  # type: ignore[arg-type]
    assert "192.0.2.20" not in answerer.local_description.sdp  # type: ignore[union-attr]
    hidden.set_local_description(hidden.create_offer(0.0, ice_restart=True), 0.0)
    restarted = hidden.local_description
    assert restarted is not None
    assert all(f" {n} " in restarted.sdp for n in names.values())
    assert hidden.mdns_names == names
    assert "192.0.2.1" not in restarted.sdp.split("m=")[1]


_PEERS = textwrap.dedent(
    """
    import asyncio, json, sys
    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.peerconnection import Description, Settings

    async def main(ip):
        settings = lambda: Settings(host_addresses=[ip], mdns_host_candidates=True)
        a, b = PeerConnection(settings=settings()), PeerConnection(settings=settings())
        chan = a.create_data_channel("m")
        got = asyncio.Event()
        b.on("datachannel", lambda ch: ch.on("message", lambda m: got.set()))
        await a.set_local_description()
        await a.wait_gathering_complete()
        await b.set_remote_description(a.local_description)
        await b.set_local_description()
        await b.wait_gathering_complete()
        await a.set_remote_description(b.local_description)
        await chan.wait_open(10)
        chan.send("hidden")
        await asyncio.wait_for(got.wait(), 10)
        out = {}
        for key, pc in (("a", a), ("b", b)):
            stats = await pc.get_stats()
            pair = stats[stats["T01"]["selectedCandidatePairId"]]
            out[key] = {
                "names": pc.core.mdns_names,
                "sdp_candidates": [ln for ln in pc.local_description.sdp.splitlines()
                                   if ln.startswith("a=candidate")],
                "counters": pc.core.counters,
                "remote": [[c.type.value, c.address[0]] for c in pc.core.agent.remote_candidates],
                "selected_remote": stats[pair["remoteCandidateId"]]["candidateType"],
                "answered": pc.mdns_publisher.responder.stats["answered"],
                "errors": pc.mdns_publisher.errors,
            }
        print(json.dumps(out), flush=True)
        # the test resolves a name from the other namespace meanwhile: keep the loop free
        await asyncio.to_thread(sys.stdin.readline)
        await a.close()
        await b.close()
        print("closed", flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)

_ZEROCONF_RESOLVER = textwrap.dedent(
    """
    import asyncio, json, sys
    from zeroconf import AddressResolverIPv4, IPVersion, Zeroconf
    from pyrtcstack.aio.ice import resolve_mdns
    name, ip = sys.argv[1], sys.argv[2]
    zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
    resolver = AddressResolverIPv4(name + ".")
    found = resolver.request(zc, 3000)
    zc.close()
    print(json.dumps({"zeroconf": resolver.parsed_addresses() if found else [],
                      "ours": asyncio.run(resolve_mdns(name))}), flush=True)
    """
)


@pytest.mark.interop
def test_hidden_host_candidates_resolve_on_a_real_link(
    mdns_link: tuple[str, str],  # noqa: F811
    tmp_path: Any,
) -> None:
    """Both peers hide their host address (10.78.0.2) behind a name and resolve the
    other's through our responder; the selected pairs' remote candidates are host ones.
    python-zeroconf (a multicast "QM" query from port 5353) and our one-shot resolver
    (a legacy unicast query), run in the other namespace, resolve the names too."""
    require_module("zeroconf")
    r, q = mdns_link
    (tmp_path / "peers.py").write_text(_PEERS)
    (tmp_path / "resolver.py").write_text(_ZEROCONF_RESOLVER)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    peers = subprocess.Popen(
        ["ip", "netns", "exec", q, sys.executable, str(tmp_path / "peers.py"), "10.78.0.2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert peers.stdout is not None and peers.stdin is not None

        async def first_line() -> bytes:
            assert peers.stdout is not None
            return await asyncio.to_thread(peers.stdout.readline)

        line = asyncio.run(asyncio.wait_for(first_line(), 60))
        assert line, peers.stderr.read().decode()[-3000:] if peers.stderr else ""
        out = json.loads(line)
        name_a = out["a"]["names"]["10.78.0.2"]
        resolved = subprocess.run(
            ["ip", "netns", "exec", r, sys.executable, str(tmp_path / "resolver.py"),
             name_a, "10.78.0.1"],
            capture_output=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        peers.stdin.write(b"\n")
        peers.stdin.flush()
        assert peers.stdout.readline().strip() == b"closed"
    finally:
        if peers.poll() is None:
            peers.kill()
        peers.wait(10)
    for side, other in (("a", "b"), ("b", "a")):
        seen = out[side]
        name = seen["names"]["10.78.0.2"]
        assert _UUID_NAME.match(name)
        assert seen["sdp_candidates"] and all(
            f" {name} " in c and "10.78.0.2" not in c for c in seen["sdp_candidates"]
        )
        assert seen["errors"] == 0 and seen["answered"] >= 1
        assert seen["counters"]["mdns_resolved"] == 1  # the other's name
        assert ["host", "10.78.0.2"] in seen["remote"]
        assert seen["selected_remote"] == "host"
        assert out[other]["names"]["10.78.0.2"] != name
    lines = resolved.stdout.decode().strip().splitlines()
    assert lines, resolved.stderr.decode()[-3000:]
    found = json.loads(lines[-1])
    assert found == {"zeroconf": ["10.78.0.2"], "ours": "10.78.0.2"}


_WITH_AIORTC = textwrap.dedent(
    """
    import asyncio, json, logging, sys
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.peerconnection import Settings

    ip, we_offer = sys.argv[1], sys.argv[2] == "we-offer"
    aioice.ice.get_host_addresses = lambda *a, **k: [ip]
    logs = []

    class Keep(logging.Handler):
        def emit(self, record):
            logs.append(record.getMessage())

    logging.getLogger("aioice.ice").addHandler(Keep())
    logging.getLogger("aioice.ice").setLevel(logging.INFO)

    async def main():
        ours = PeerConnection(settings=Settings(host_addresses=[ip], mdns_host_candidates=True))
        theirs = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        got = asyncio.Event()
        if we_offer:
            chan = ours.create_data_channel("m")
            theirs.on("datachannel", lambda ch: ch.on("message", lambda m: got.set()))
            await ours.set_local_description()
            await ours.wait_gathering_complete()
            await theirs.setRemoteDescription(
                RTCSessionDescription(sdp=ours.local_description.sdp, type="offer"))
            await theirs.setLocalDescription(await theirs.createAnswer())
            await ours.set_remote_description(
                {"type": "answer", "sdp": theirs.localDescription.sdp})
        else:
            chan = theirs.createDataChannel("m")
            ours.on("datachannel", lambda ch: ch.on("message", lambda m: got.set()))
            await theirs.setLocalDescription(await theirs.createOffer())
            await ours.set_remote_description(
                {"type": "offer", "sdp": theirs.localDescription.sdp})
            await ours.set_local_description()
            await ours.wait_gathering_complete()
            await theirs.setRemoteDescription(
                RTCSessionDescription(sdp=ours.local_description.sdp, type="answer"))
        for _ in range(200):
            if (getattr(chan, "ready_state", None) or getattr(chan, "readyState", None)) == "open":
                break
            await asyncio.sleep(0.05)
        chan.send("hidden")
        await asyncio.wait_for(got.wait(), 10)
        out = {
            "name": ours.core.mdns_names[ip],
            "sdp_candidates": [ln for ln in ours.local_description.sdp.splitlines()
                               if ln.startswith("a=candidate")],
            "answered": ours.mdns_publisher.responder.stats["answered"],
            "aioice": [m for m in logs if "resolved" in m],
        }
        await theirs.close()
        await ours.close()
        print(json.dumps(out), flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.interop
@pytest.mark.parametrize("role", ["we-offer", "aiortc-offers"])
def test_aiortc_resolves_our_hidden_host_candidate(
    mdns_link: tuple[str, str],  # noqa: F811
    tmp_path: Any,
    role: str,
) -> None:
    """aioice (aiortc's ICE) resolves our ``.local`` host candidate with its own mDNS
    client (a multicast query from port 5353, answered by multicast) and connects."""
    require_module("aiortc")
    _r, q = mdns_link
    (tmp_path / "aiortc_peer.py").write_text(_WITH_AIORTC)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    done = subprocess.run(
        ["ip", "netns", "exec", q, sys.executable, str(tmp_path / "aiortc_peer.py"),
         "10.78.0.2", role],
        capture_output=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    lines = done.stdout.decode().strip().splitlines()
    assert lines, done.stderr.decode()[-3000:]
    out = json.loads(lines[-1])
    name = out["name"]
    assert _UUID_NAME.match(name)
    assert out["sdp_candidates"] and all(
        f" {name} " in c and "10.78.0.2" not in c for c in out["sdp_candidates"]
    )
    assert out["answered"] >= 1
    assert any(f'"{name}" resolved to 10.78.0.2' in m for m in out["aioice"]), out["aioice"]
