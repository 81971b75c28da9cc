"""Our WHIP/WHEP clients trickle (RFC 9725 §4.3.1, RFC 8840): the offer is POSTed without
candidates, they follow in PATCHes with the 201's ETag and end with end-of-candidates,
and the server's ICE agent has them (as host candidates, not peer-reflexive ones learnt
from our checks). ``trickle=False`` still POSTs a complete offer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.media import IvfTrack
from pyrtcstack.whip import WhepClient, WhipClient, WhipServer
from tests.test_whip_live import until
from tests.test_whip_server import IVF, LOOP, run

pytestmark = pytest.mark.timeout(90)


async def remote_candidates(pc: PeerConnection) -> list[dict[str, Any]]:
    stats = await pc.get_stats()
    return [s for s in stats.values() if s["type"] == "remote-candidate"]


def local_ports(pc: PeerConnection) -> set[int]:
    return {port for _, port in pc.local_addresses}


def test_whip_client_trickles_its_candidates_by_patch(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        client = WhipClient(base + "/whip")
        assert client.trickle  # the default
        await client.publish(pc)
        session = next(iter(server.sessions.values()))
        posted = session.pc.remote_description
        assert posted is not None and "a=candidate" not in posted.sdp  # none in the POST
        await client.wait_trickled()
        assert client.trickle_error is None
        assert client.patches_sent >= 1 and client.candidates_sent == len(pc.local_addresses)
        # the candidates reached the server's ICE agent as our host candidates
        await pc.wait_connection_state("connected")
        got = await remote_candidates(session.pc)
        hosts = {c["port"] for c in got if c["candidateType"] == "host"}
        assert local_ports(pc) <= hosts
        await until(lambda: session.frames.get("video", 0) >= 10)
        await client.close()
        await pc.close()

    run(test, tmp_path)


def test_non_trickle_posts_a_complete_offer(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        client = WhipClient(base + "/whip", trickle=False)
        await client.publish(pc)
        session = next(iter(server.sessions.values()))
        posted = session.pc.remote_description
        assert posted is not None and "a=candidate" in posted.sdp
        assert "a=end-of-candidates" in posted.sdp
        await pc.wait_connection_state("connected")
        await client.wait_trickled()
        assert client.patches_sent == 0
        await client.close()
        await pc.close()

    run(test, tmp_path)


def test_whep_client_trickles_and_plays_live(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        publisher = WhipClient(base + "/whip")
        await publisher.publish(pc)
        await pc.wait_connection_state("connected")
        player = PeerConnection(None, LOOP)
        frames: list[Any] = []
        player.on("track", lambda t: t.on("frame", frames.append))
        player.add_transceiver("video", direction="recvonly")
        whep = WhepClient(base + "/whep")
        await whep.publish(player)
        await whep.wait_trickled()
        assert whep.patches_sent >= 1 and whep.candidates_sent >= 1
        session = next(s for s in server.sessions.values() if s.kind == "whep")
        got = await remote_candidates(session.pc)
        assert local_ports(player) <= {c["port"] for c in got if c["candidateType"] == "host"}
        await until(lambda: len(frames) >= 10)
        await whep.close()
        await player.close()
        await publisher.close()
        await pc.close()

    run(test, tmp_path)


def test_a_refused_trickle_is_reported_not_raised(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        client = WhipClient(base + "/whip")
        await client.publish(pc)
        client.etag = '"not-the-etag"'  # the server answers 412 to the PATCH
        await client.wait_trickled()
        assert client.trickle_error is not None and client.trickle_error.status == 412
        await client.close()
        await pc.close()

    run(test, tmp_path)


def test_close_during_trickle_stops_it() -> None:
    async def main() -> None:
        # a server that never answers the PATCH would hold the trickle: close cancels it
        client = WhipClient("http://127.0.0.1:9/whip")
        client._trickle_task = asyncio.ensure_future(asyncio.sleep(3600))
        await client.close()
        assert client._trickle_task is None

    asyncio.run(main())
