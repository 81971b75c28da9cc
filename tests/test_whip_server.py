"""The WHIP/WHEP server over real HTTP (aiohttp client, loopback): the RFC 9725 exchange,
every error status, every limit (abuse tests), ICE restart, and playback of a recording.
Our own peer connections are the WebRTC side here; tests/test_whip_interop.py has the
foreign peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.media import AnnexBTrack, IvfTrack, parse_ivf, split_access_units
from pyrtcstack.peerconnection import Settings
from pyrtcstack.whip import (
    SDPFRAG_TYPE,
    IceServerLink,
    ServerOptions,
    WhepClient,
    WhipClient,
    WhipError,
    WhipServer,
    frag_from_sdp,
    ice_servers,
    parse_link_header,
)
from tests.peers import require_module

aiohttp = require_module("aiohttp")

pytestmark = pytest.mark.timeout(90)
IVF = Path(__file__).parent / "data" / "vp8_testsrc_160x120.ivf"
TOKEN = "publish-secret-token"
PLAY = "play-secret-token"
LOOP = Settings(host_addresses=["127.0.0.1"])


def run(test: Callable[[WhipServer, str], Awaitable[None]], tmp_path: Path, **options: Any) -> None:
    async def main() -> None:
        opts = ServerOptions(record_dir=tmp_path, host_addresses=["127.0.0.1"], **options)
        server = WhipServer(opts)
        base = await server.start()
        try:
            await test(server, base)
        finally:
            await server.close()

    asyncio.run(main())


async def offer_sdp(kind: str = "video", direction: str = "sendonly") -> tuple[PeerConnection, str]:
    pc = PeerConnection(None, LOOP)
    track = IvfTrack(IVF, loop=True) if direction == "sendonly" else None
    pc.add_transceiver(kind, direction=direction, track=track)
    await pc.set_local_description()
    await pc.wait_gathering_complete()
    assert pc.local_description is not None
    return pc, pc.local_description.sdp


async def http(
    method: str, url: str, body: str | bytes | None = None, **headers: str
) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text(), response.headers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SDP = {"Content-Type": "application/sdp"}


def test_post_gives_201_location_etag_links_and_an_answer(tmp_path: Path) -> None:
    stun = IceServerLink("stun:stun.example.net")
    turn = IceServerLink("turn:turn.example.net?transport=udp", "user", 'pa"ss')

    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        status, text, headers = await http("POST", base + "/whip", sdp, **SDP, **bearer(TOKEN))
        assert status == 201, text
        assert headers["Content-Type"] == "application/sdp"
        assert headers["Location"].startswith("/whip/") and len(headers["Location"]) > 20
        assert headers["ETag"].startswith('"') and headers["ETag"].endswith('"')
        assert text.startswith("v=0") and "a=recvonly" in text
        # RFC 9725 §4.6: one Link per ICE server, TURN credentials as parameters
        assert ice_servers(parse_link_header(headers.getall("Link"))) == [stun, turn]
        # an anonymous OPTIONS learns nothing; an authenticated one gets the servers
        status, _, anon = await http("OPTIONS", base + "/whip")
        assert status == 204 and "Link" not in anon and anon["Accept-Post"] == "application/sdp"
        _, _, auth = await http("OPTIONS", base + "/whip", **bearer(TOKEN))
        assert len(auth.getall("Link")) == 2
        # DELETE ends it; the resource is gone afterwards
        location = base + headers["Location"]
        assert (await http("DELETE", location, **bearer(TOKEN)))[0] == 200
        assert (await http("DELETE", location, **bearer(TOKEN)))[0] == 404
        assert not server.sessions and server.finished[-1].end_reason == "DELETE"
        await pc.close()

    run(test, tmp_path, token=TOKEN, ice_servers=[stun, turn])


def test_no_default_ice_server_in_link_headers(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        status, _, headers = await http("POST", base + "/whip", sdp, **SDP)
        assert status == 201 and "Link" not in headers
        await pc.close()

    run(test, tmp_path)


def test_authentication_errors(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        status, _, headers = await http("POST", base + "/whip", sdp, **SDP)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        status, _, headers = await http("POST", base + "/whip", sdp, **SDP, **bearer("wrong"))
        assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
        status, text, _ = await http(
            "POST", base + "/whip", sdp, **SDP, Authorization=f"Basic {TOKEN}"
        )
        assert status == 401, text
        status, text, _ = await http("POST", base + "/whip", sdp, **SDP, **bearer(PLAY))
        assert status == 403 and "play" in text
        assert not server.sessions
        # the token never appears in the options' repr
        assert TOKEN not in repr(server.options) and PLAY not in repr(server.options)
        await pc.close()

    run(test, tmp_path, token=TOKEN, play_token=PLAY)


def test_request_errors(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        assert (await http("POST", base + "/whip", sdp, **{"Content-Type": "text/plain"}))[0] == 415
        assert (await http("GET", base + "/whip"))[0] == 405
        assert (await http("PUT", base + "/whip", sdp, **SDP))[0] == 405
        status, text, _ = await http("POST", base + "/whip", "v=0\r\nnonsense\r\n", **SDP)
        assert status == 400 and text.count("\n") == 1, text
        assert (await http("POST", base + "/whip", b"\xff\xfe", **SDP))[0] == 400
        data_only = PeerConnection(None, LOOP)
        data_only.create_data_channel("x")
        await data_only.set_local_description()
        assert data_only.local_description is not None
        status, text, _ = await http("POST", base + "/whip", data_only.local_description.sdp, **SDP)
        assert status == 422 and "no audio or video" in text
        assert (await http("DELETE", base + "/whip/nope"))[0] == 404
        assert (await http("PATCH", base + "/whip/nope", "", **{"Content-Type": SDPFRAG_TYPE}))[
            0
        ] == 404
        # WHEP before anything was recorded
        _, play_sdp = await offer_sdp(direction="recvonly")
        status, text, _ = await http("POST", base + "/whep", play_sdp, **SDP)
        assert status == 409 and "nothing has been recorded" in text
        assert not server.sessions
        await pc.close()
        await data_only.close()

    run(test, tmp_path)


def test_one_publisher_at_a_time(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc1, sdp1 = await offer_sdp()
        pc2, sdp2 = await offer_sdp()
        assert (await http("POST", base + "/whip", sdp1, **SDP))[0] == 201
        status, text, _ = await http("POST", base + "/whip", sdp2, **SDP)
        assert status == 409 and "already live" in text
        await pc1.close()
        await pc2.close()

    run(test, tmp_path)


def test_patch_preconditions_and_trickle(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        status, _, headers = await http("POST", base + "/whip", sdp, **SDP)
        assert status == 201
        location, etag = base + headers["Location"], headers["ETag"]
        session = next(iter(server.sessions.values()))
        ufrag = session.remote_ufrag
        frag = (
            "a=ice-ufrag:" + str(ufrag) + "\r\na=ice-pwd:" + "p" * 24 + "\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
            "a=candidate:9 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
        )
        ct = {"Content-Type": SDPFRAG_TYPE}
        assert (await http("PATCH", location, frag, **{"Content-Type": "application/sdp"}))[
            0
        ] == 415
        assert (await http("PATCH", location, frag, **ct))[0] == 428  # no If-Match
        assert (await http("PATCH", location, frag, **ct, **{"If-Match": '"stale"'}))[0] == 412
        status, text, _ = await http("PATCH", location, "x=broken", **ct, **{"If-Match": etag})
        assert status == 400 and "sdpfrag" in text
        other = frag.replace(str(ufrag), "zzzzzzzz")
        status, text, _ = await http("PATCH", location, other, **ct, **{"If-Match": etag})
        assert status == 422 and "another ICE ufrag" in text
        status, text, _ = await http("PATCH", location, frag, **ct, **{"If-Match": etag})
        assert status == 204, text
        # the trickled candidate reached ICE (RFC 8840: 127.0.0.1:9, priority 2130706431)
        stats = await session.pc.get_stats()
        remote = [s for s in stats.values() if s["type"] == "remote-candidate"]
        assert {(s["port"], s["priority"]) for s in remote} >= {(9, 2130706431)}
        # a restart (If-Match: *) must bring new credentials
        status, text, _ = await http("PATCH", location, frag, **ct, **{"If-Match": "*"})
        assert status == 422 and "new ICE credentials" in text
        await pc.close()

    run(test, tmp_path)


def test_ice_restart_over_patch_keeps_media_flowing(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        client = WhipClient(base + "/whip", token=TOKEN)
        await client.publish(pc)
        await pc.wait_connection_state("connected")
        session = next(iter(server.sessions.values()))
        old_etag, old_ufrag = client.etag, session.remote_ufrag
        server_pc = session.pc
        assert server_pc.local_description is not None
        old_server_ufrag = frag_from_sdp(server_pc.local_description.sdp).ufrag
        while session.frames.get("video", 0) < 10:
            await asyncio.sleep(0.05)
        await client.restart_ice()
        # RFC 9725 §4.3.2: a new ETag, the server took the new credentials
        assert client.etag not in (None, old_etag) and client.etag == session.etag
        assert session.remote_ufrag not in (None, old_ufrag)
        # both sides restarted: each side's remote credentials are the other's new local
        assert pc.local_description is not None and pc.remote_description is not None
        assert server_pc.local_description is not None and server_pc.remote_description
        ours, theirs = (
            frag_from_sdp(pc.local_description.sdp),
            frag_from_sdp(server_pc.local_description.sdp),
        )
        assert ours.ufrag == session.remote_ufrag
        assert frag_from_sdp(server_pc.remote_description.sdp).ufrag == ours.ufrag
        assert theirs.ufrag != old_server_ufrag
        assert frag_from_sdp(pc.remote_description.sdp).ufrag == theirs.ufrag
        assert server_pc.signaling_state == pc.signaling_state == "stable"
        before = session.frames["video"]
        while session.frames["video"] < before + 20:
            await asyncio.sleep(0.05)
        assert pc.connection_state == "connected"
        await client.close()
        await pc.close()

    run(test, tmp_path, token=TOKEN)


def test_recording_is_replayed_to_whep(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF))
        client = WhipClient(base + "/whip")
        await client.publish(pc)
        session = next(iter(server.sessions.values()))
        while session.frames.get("video", 0) < 30:
            await asyncio.sleep(0.05)
        await client.close()
        await pc.close()
        recorded = parse_ivf(server.latest["video"].read_bytes())
        assert recorded.fourcc == b"VP80" and len(recorded.frames) >= 30
        # a WHEP player gets the recording
        player = PeerConnection(None, LOOP)
        frames: list[Any] = []
        player.on("track", lambda t: t.on("frame", frames.append))
        player.add_transceiver("video", direction="recvonly")
        whep = WhepClient(base + "/whep")
        answer = await whep.publish(player)
        assert "a=sendonly" in answer.sdp and "VP8/90000" in answer.sdp
        while len(frames) < 30:
            await asyncio.sleep(0.05)
        assert frames[0].keyframe
        assert {f.data for f in frames[:30]} <= {d for _, d in recorded.frames}
        await whep.close()
        await player.close()

    run(test, tmp_path)


def test_client_reports_refusals_as_whip_error(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF))
        with pytest.raises(WhipError) as info:
            await WhipClient(base + "/whip", token="wrong").publish(pc)
        assert info.value.status == 401
        await pc.close()

    run(test, tmp_path, token=TOKEN)


# ---------------------------------------------------------------------- limits (abuse)
def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        status, _, _ = await http("POST", base + "/whip", "v=0\r\n" + "a=x\r\n" * 2000, **SDP)
        assert status == 413
        assert not server.sessions

    run(test, tmp_path, max_body=4096)


def test_session_cap_is_503_with_retry_after(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc1, sdp1 = await offer_sdp()
        assert (await http("POST", base + "/whip", sdp1, **SDP))[0] == 201
        pc2, sdp2 = await offer_sdp()
        status, _, headers = await http("POST", base + "/whip", sdp2, **SDP)
        assert status == 503 and int(headers["Retry-After"]) > 0
        assert len(server.sessions) == 1
        await pc1.close()
        await pc2.close()

    run(test, tmp_path, max_sessions=1)


def test_session_without_media_is_ended_after_the_idle_timeout(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()  # never applies the answer: no media ever
        start = time.monotonic()
        assert (await http("POST", base + "/whip", sdp, **SDP))[0] == 201
        while server.sessions:
            await asyncio.sleep(0.1)
            assert time.monotonic() - start < 10
        assert server.finished[-1].end_reason == "idle timeout"
        await pc.close()

    run(test, tmp_path, idle_timeout=1.0)


def test_an_ended_session_is_in_finished_while_its_peer_connection_closes(
    tmp_path: Path,
) -> None:
    """A session leaves ``sessions`` and enters ``finished`` at once: an observer polling
    the two never sees it in neither, however long the server's peer connection takes to
    close (on a loaded machine the idle-timeout test above once saw it in neither)."""

    async def test(server: WhipServer, base: str) -> None:
        pc, sdp = await offer_sdp()
        assert (await http("POST", base + "/whip", sdp, **SDP))[0] == 201
        (session,) = server.sessions.values()
        closing = asyncio.Event()
        close = session.pc.close

        async def slow_close() -> None:
            closing.set()
            await asyncio.sleep(0.5)
            await close()

        session.pc.close = slow_close  # type: ignore[method-assign]
        await asyncio.wait_for(closing.wait(), 10)  # the idle timeout ended it
        assert not server.sessions
        assert server.finished and server.finished[-1] is session
        assert session.end_reason == "idle timeout"
        await pc.close()

    run(test, tmp_path, idle_timeout=1.0)


def test_recording_stops_at_the_disk_quota(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
        client = WhipClient(base + "/whip")
        await client.publish(pc)
        await pc.wait_connection_state("connected")
        await asyncio.sleep(1.5)
        session = next(iter(server.sessions.values()))
        assert 0 < session.bytes_recorded <= 5000
        await client.close()
        await pc.close()
        assert server.latest["video"].stat().st_size <= 5000 + 32 + 12 * 60

    run(test, tmp_path, max_recording_bytes=5000)


def test_recording_over_the_replay_limit_is_not_re_served(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF))
        client = WhipClient(base + "/whip")
        await client.publish(pc)
        session = next(iter(server.sessions.values()))
        while session.frames.get("video", 0) < 30:
            await asyncio.sleep(0.05)
        await client.close()
        await pc.close()
        assert session.files["video"].stat().st_size > 4096
        assert not server.latest  # recorded, but too large to keep in memory for players
        _, play_sdp = await offer_sdp(direction="recvonly")
        status, text, _ = await http("POST", base + "/whep", play_sdp, **SDP)
        assert status == 409 and "nothing has been recorded" in text

    run(test, tmp_path, max_replay_bytes=4096)


def test_h264_is_recorded_as_annex_b_and_replayed(tmp_path: Path) -> None:
    h264 = Path(__file__).parent / "data" / "h264_testsrc_160x120.h264"

    async def test(server: WhipServer, base: str) -> None:
        pc = PeerConnection(None, LOOP)
        track = AnnexBTrack(h264)
        pc.add_transceiver("video", direction="sendonly", track=track)
        client = WhipClient(base + "/whip")
        answer = await client.publish(pc)
        assert "H264/90000" in answer.sdp
        session = next(iter(server.sessions.values()))
        while session.frames.get("video", 0) < 30:
            await asyncio.sleep(0.05)
        await client.close()
        await pc.close()
        path = server.latest["video"]
        assert path.suffix == ".h264"
        units = split_access_units(path.read_bytes())
        assert len(units) >= 30 and set(units) <= set(track.units)
        player = PeerConnection(None, LOOP)
        frames: list[Any] = []
        player.on("track", lambda t: t.on("frame", frames.append))
        player.add_transceiver("video", direction="recvonly")
        whep = WhepClient(base + "/whep")
        assert "H264/90000" in (await whep.publish(player)).sdp
        while len(frames) < 20:
            await asyncio.sleep(0.05)
        assert {f.data for f in frames} <= set(track.units)
        await whep.close()
        await player.close()

    run(test, tmp_path)
