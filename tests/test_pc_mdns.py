"""mDNS remote candidates through the peer connection: browsers hide their host addresses
behind ``<uuid>.local`` names (draft-ietf-mmusic-mdns-ice-candidates); the core hands such
candidates to the driver, which resolves each with a one-shot query (RFC 6762 §5.1) and
gives the agent the address. Two cores on a virtual clock (the driver's part played by
the test), two asyncio peers on loopback where nobody answers, and two asyncio peers in a
private network namespace whose names a real responder (python-zeroconf) publishes, both
in the remote description and trickled with addIceCandidate."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.ice import CandidateType
from pyrtcstack.peerconnection import Configuration, Description, PeerConnectionCore, Settings
from pyrtcstack.sdp import Candidate
from tests.pc_harness import WAIT, Ours, wait_open
from tests.peers import (
    PROJECT,
    multicast_namespace_pair,
    require_module,
)
from tests.test_pc_core import B, Net, pair

NAME_A = "5b2a9c1e-3f4d-4e8a-9b7c-0d1e2f3a4b5c.local"
NAME_B = "0b9c6a8f-1d8e-4a52-9d1f-1a2b3c4d5e6f.local"

_HOST = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ )(\S+)( \d+ typ host.*)$")


def hide(sdp: str, name: str) -> str:
    """Replace the address of every host candidate line by ``name``, as a browser does."""
    lines = [_HOST.sub(rf"\g<1>{name}\g<3>", ln) for ln in sdp.split("\r\n")]
    return "\r\n".join(lines)


def _offer_answer(net: Net, name: str) -> Description:
    """a offers, b answers; b's host candidate hidden behind ``name`` in the answer."""
    a, b, now = net.a, net.b, net.now
    a.create_data_channel("m")
    a.set_local_description(a.create_offer(now), now)
    a.gather([("127.0.0.1", 40000)], now)
    net.pump()
    b.set_remote_description(a.local_description, now)  # type: ignore[arg-type]
    b.set_local_description(b.create_answer(now), now)
    b.gather([B], now)
    net.pump()
    assert b.local_description is not None
    answer = Description("answer", hide(b.local_description.sdp, name))
    assert name in answer.sdp and B[0] + " " not in answer.sdp.split("a=candidate")[1]
    return answer


def _remote_types(pc: PeerConnectionCore) -> dict[tuple[str, int], str]:
    assert pc.agent is not None
    return {c.address: c.type.value for c in pc.agent.remote_candidates}


def test_core_hands_mdns_candidates_to_the_driver_and_takes_the_address() -> None:
    a, b, net = pair(41)
    answer = _offer_answer(net, NAME_B)
    a.set_remote_description(answer, net.now)
    pending = a.take_mdns_candidates()
    assert [(c.address, u) for c, u in pending] == [(NAME_B, b.agent.local_ufrag)]  # type: ignore[union-attr]
    assert a.take_mdns_candidates() == []
    assert a.agent is not None and a.agent.stats["remote_mdns_dropped"] == 1
    assert B not in _remote_types(a)
    # the driver's part: the name resolved to B's address
    (cand, ufrag), = pending  # fmt: skip
    assert a.add_resolved_candidate(cand, B[0], net.now, ufrag)
    assert _remote_types(a)[B] == "host"
    net.run(lambda: a.connection_state == "connected" and b.connection_state == "connected")
    assert _remote_types(a)[B] == "host"
    assert a.counters["mdns_resolved"] == 1
    # the remote description keeps the name (what the peer signalled)
    assert a.remote_description is not None and NAME_B in a.remote_description.sdp
    # the same name again (a duplicate), and a name nobody answered
    assert not a.add_resolved_candidate(cand, B[0], net.now, ufrag)
    assert not a.add_resolved_candidate(cand, None, net.now, ufrag)
    assert a.counters["mdns_unresolved"] == 1


def test_trickled_mdns_candidate_and_a_stale_answer_after_restart() -> None:
    a, b, net = pair(43)
    answer = _offer_answer(net, NAME_B)
    bare = "\r\n".join(ln for ln in answer.sdp.split("\r\n") if not ln.startswith("a=candidate"))
    a.set_remote_description(Description("answer", bare), net.now)
    assert a.take_mdns_candidates() == []
    line = next(ln for ln in answer.sdp.split("\r\n") if ln.startswith("a=candidate"))
    a.add_ice_candidate(line[2:], net.now, sdp_mid="0")
    (cand, ufrag), = a.take_mdns_candidates()  # fmt: skip
    assert cand.address == NAME_B and ufrag == b.agent.local_ufrag  # type: ignore[union-attr]
    assert NAME_B in a.remote_description.sdp  # type: ignore[union-attr]
    # the peer restarts ICE before the answer comes: the name belongs to the old ufrag
    net.run(lambda: a.connection_state == "connected")
    b.set_local_description(b.create_offer(net.now, ice_restart=True), net.now)
    a.set_remote_description(b.local_description, net.now)  # type: ignore[arg-type]
    assert not a.add_resolved_candidate(cand, B[0], net.now, ufrag)
    assert a.counters["mdns_stale"] == 1
    assert Candidate.parse(str(cand)).address == NAME_B


def test_unanswered_name_on_loopback_is_counted_and_harmless() -> None:
    """Inside ``unshare -n`` nothing answers mDNS: the query times out (about 1 s), the
    candidate is counted as unresolved, and ICE still connects through the peer's checks
    (a peer-reflexive candidate, RFC 8445 §7.3.1.3)."""

    async def main() -> None:
        a, b = Ours(), Ours()
        try:
            chan = a.channel("m")
            offer = await a.offer()
            answer = await b.answer(offer)
            await a.accept({"type": "answer", "sdp": hide(answer["sdp"], NAME_B)})
            await wait_open(chan)
            async with asyncio.timeout(WAIT):
                while a.pc.core.counters.get("mdns_unresolved", 0) < 1:
                    await asyncio.sleep(0.05)
            assert a.pc.connection_state == "connected"
            types = _remote_types(a.pc.core)
            assert list(types.values()) == ["prflx"]
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_no_mdns_queries_with_the_relay_policy() -> None:
    """draft-ietf-mmusic-mdns-ice-candidates §3.2: with iceTransportPolicy "relay" the
    peer's .local candidates are ignored (counted), no query is sent; so is it with
    ``Settings.resolve_mdns=False``."""

    async def main() -> None:
        a = Ours()
        relay = Ours(Configuration(ice_transport_policy="relay"))
        off = Ours(settings=Settings(host_addresses=["127.0.0.1"], resolve_mdns=False))
        try:
            a.channel("m")
            offer = await a.offer()
            hidden = {"type": "offer", "sdp": hide(offer["sdp"], NAME_A)}
            for side in (relay, off):
                await side.pc.set_remote_description(hidden)
                assert side.pc.core.counters["mdns_ignored"] == 1
                assert not side.pc._mdns_tasks
        finally:
            await a.close()
            await relay.pc.close()
            await off.pc.close()

    asyncio.run(main())


# -- a real responder in a private network namespace ------------------------------------

_RESPONDER = textwrap.dedent(
    """
    import socket, sys
    from zeroconf import IPVersion, ServiceInfo, Zeroconf
    ip, published = sys.argv[1], sys.argv[2]
    zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
    for i, name in enumerate(sys.argv[3:]):
        info = ServiceInfo("_pyrtc._udp.local.", f"p{i}._pyrtc._udp.local.",
                           addresses=[socket.inet_aton(published)], port=9,
                           server=name + ".")
        zc.register_service(info)
    print("ready", flush=True)
    sys.stdin.read()
    zc.close()
    """
)

_PEERS = textwrap.dedent(
    """
    import asyncio, json, re, sys
    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.peerconnection import Description, Settings

    HOST = re.compile(r"^(a=candidate:\\S+ \\d+ udp \\d+ )(\\S+)( \\d+ typ host.*)$")

    def hide(sdp, name):
        return "\\r\\n".join(HOST.sub(rf"\\g<1>{name}\\g<3>", ln) for ln in sdp.split("\\r\\n"))

    async def main(ip, name_a, name_b):
        a = PeerConnection(settings=Settings(host_addresses=[ip]))
        b = PeerConnection(settings=Settings(host_addresses=[ip]))
        chan = a.create_data_channel("m")
        got = asyncio.Event()
        b.on("datachannel", lambda ch: ch.on("message", lambda m: got.set()))
        trickled = []
        b.on("icecandidate", lambda c: trickled.append(c))
        # a's offer: its host candidate hidden behind name_a in the SDP
        await a.set_local_description()
        await a.wait_gathering_complete()
        await b.set_remote_description(Description("offer", hide(a.local_description.sdp, name_a)))
        # b's answer without candidates; they trickle, hidden behind name_b
        await b.set_local_description()
        await b.wait_gathering_complete()
        bare = [ln for ln in b.local_description.sdp.split("\\r\\n")
                if not ln.startswith("a=candidate") and ln != "a=end-of-candidates"]
        await a.set_remote_description(Description("answer", "\\r\\n".join(bare)))
        for c in trickled:
            if c is not None:
                d = c.to_dict()
                d["candidate"] = hide("a=" + d["candidate"], name_b)[2:]
                await a.add_ice_candidate(d)
        await a.add_ice_candidate({"candidate": "candidate:9 1 udp 1 nobody-x1.local 9 typ host",
                                   "sdpMid": "0"})
        await a.add_ice_candidate(None)
        await chan.wait_open(10)
        chan.send("through mdns")
        await asyncio.wait_for(got.wait(), 10)
        for _ in range(100):
            if a.core.counters.get("mdns_unresolved"):
                break
            await asyncio.sleep(0.05)
        out = {}
        for key, pc in (("a", a), ("b", b)):
            stats = await pc.get_stats()
            pair = stats[stats["T01"]["selectedCandidatePairId"]]
            out[key] = {
                "counters": pc.core.counters,
                "remote": [[c.type.value, c.address[0]] for c in pc.core.agent.remote_candidates],
                "selected_remote": stats[pair["remoteCandidateId"]]["candidateType"],
                "remote_sdp_names": pc.remote_description.sdp.count(".local"),
            }
        await a.close()
        await b.close()
        print(json.dumps(out), flush=True)

    asyncio.run(main(*sys.argv[1:4]))
    """
)


@pytest.fixture
def mdns_link() -> Iterator[tuple[str, str]]:
    with multicast_namespace_pair("ppm", "10.78.0") as pair:
        yield pair


@pytest.mark.interop
def test_peers_connect_through_names_a_real_responder_publishes(
    mdns_link: tuple[str, str], tmp_path: Path
) -> None:
    require_module("zeroconf")
    r, q = mdns_link
    (tmp_path / "responder.py").write_text(_RESPONDER)
    (tmp_path / "peers.py").write_text(_PEERS)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    responder = subprocess.Popen(
        ["ip", "netns", "exec", r, sys.executable, str(tmp_path / "responder.py"),
         "10.78.0.1", "10.78.0.2", NAME_A, NAME_B],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert responder.stdout is not None
        assert responder.stdout.readline().strip() == b"ready"
        done = subprocess.run(
            ["ip", "netns", "exec", q, sys.executable, str(tmp_path / "peers.py"),
             "10.78.0.2", NAME_A, NAME_B],
            capture_output=True, timeout=60, env=env, check=False,
        )  # fmt: skip
    finally:
        if responder.poll() is None:
            responder.kill()
        responder.wait(10)
    lines = done.stdout.decode().strip().splitlines()
    assert lines, done.stderr.decode()[-3000:]
    out: dict[str, Any] = json.loads(lines[-1])
    for side in ("a", "b"):
        seen = out[side]
        # the name was resolved: a signalled *host* candidate at the peer's address
        assert ["host", "10.78.0.2"] in seen["remote"], seen
        assert seen["counters"]["mdns_resolved"] == 1, seen
        assert seen["selected_remote"] == CandidateType.HOST.value, seen
        assert seen["remote_sdp_names"] >= 1  # the description keeps the name
    assert out["a"]["counters"]["mdns_unresolved"] == 1  # nobody-x1.local
