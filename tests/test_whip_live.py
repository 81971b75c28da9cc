"""The live relay of whip-server: what a WHIP publisher sends reaches WHEP players while
it is still publishing (not a recording), each player from a keyframe it asked the
publisher for (PLI, RFC 4585 §6.3.1); per-player queues are bounded and the number of
live players is capped (abuse tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.media import VP8, EncodedFrame, IvfTrack, parse_ivf
from pyrtcstack.whip import WhepClient, WhipClient, WhipError, WhipServer
from pyrtcstack.whip.relay import LiveRelay
from tests.test_whip_server import IVF, LOOP, run

pytestmark = pytest.mark.timeout(90)


async def publish(base: str) -> tuple[PeerConnection, WhipClient]:
    pc = PeerConnection(None, LOOP)
    pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF, loop=True))
    client = WhipClient(base + "/whip")
    await client.publish(pc)
    await pc.wait_connection_state("connected")
    return pc, client


async def play(base: str) -> tuple[PeerConnection, WhepClient, list[Any]]:
    player = PeerConnection(None, LOOP)
    frames: list[Any] = []
    player.on("track", lambda t: t.on("frame", frames.append))
    player.add_transceiver("video", direction="recvonly")
    whep = WhepClient(base + "/whep")
    await whep.publish(player)
    return player, whep, frames


async def until(predicate: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def test_players_get_the_live_stream_while_the_publisher_sends(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, client = await publish(base)
        session = next(iter(server.sessions.values()))
        await until(lambda: session.frames.get("video", 0) >= 20)
        assert not server.latest  # nothing finished: only the live stream can be played
        sender = pc.get_transceivers()[0]
        await asyncio.sleep(0.6)  # past the PLI the server's receiver sent at its start
        before = sender.keyframe_requests
        players = [await play(base) for _ in range(2)]
        file_frames = {d for _, d in parse_ivf(IVF.read_bytes()).frames}
        for player, _, frames in players:
            await player.wait_connection_state("connected")
            await until(lambda frames=frames: len(frames) >= 30)
            assert frames[0].keyframe  # each player starts at a keyframe
            assert {f.data for f in frames} <= file_frames
        # the join asked the publisher for a keyframe: a PLI reached its sender
        assert sender.keyframe_requests > before
        # still live: the publisher has not stopped, and nothing was recorded to replay
        assert client.location is not None and not server.latest
        relay = server.relays["video"]
        assert len(relay.players) == 2 and relay.keyframe_requests >= 2
        # the publisher leaves: the players' tracks end, their sessions too
        await client.close()
        await pc.close()
        await until(lambda: not server.sessions)
        assert not server.relays and relay.ended
        assert {s.end_reason for s in server.finished} == {"DELETE"}
        for player, whep, _ in players:
            with pytest.raises(WhipError) as info:
                await whep.close()  # the server ended it with the live stream
            assert info.value.status == 404
            await player.close()
        # then a player gets the recording, as before
        player, whep, frames = await play(base)
        await until(lambda: len(frames) >= 5)
        await whep.close()
        await player.close()

    run(test, tmp_path)


def test_live_players_are_capped(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, client = await publish(base)
        first = await play(base)
        refused = PeerConnection(None, LOOP)
        refused.add_transceiver("video", direction="recvonly")
        whep = WhepClient(base + "/whep")
        with pytest.raises(WhipError) as info:
            await whep.publish(refused)
        await whep.close()
        await refused.close()
        assert info.value.status == 503 and server.live_players() == 1
        await first[1].close()
        await first[0].close()
        await until(lambda: server.live_players() == 0)
        second = await play(base)  # a free place again
        await second[1].close()
        await second[0].close()
        await client.close()
        await pc.close()

    run(test, tmp_path, max_live_players=1)


def test_a_player_that_receives_nothing_live_is_422(tmp_path: Path) -> None:
    async def test(server: WhipServer, base: str) -> None:
        pc, client = await publish(base)  # video only
        player = PeerConnection(None, LOOP)
        player.add_transceiver("audio", direction="recvonly")
        whep = WhepClient(base + "/whep")
        with pytest.raises(WhipError) as info:
            await whep.publish(player)
        assert info.value.status == 422 and server.live_players() == 0
        assert [s.kind for s in server.sessions.values()] == ["whip"]
        await whep.close()
        await player.close()
        await client.close()
        await pc.close()

    run(test, tmp_path)


def test_a_stuck_player_never_blocks_the_publisher_or_the_others() -> None:
    asked: list[int] = []
    relay = LiveRelay(VP8, lambda: asked.append(1))
    stuck, fast = relay.new_track(max_queue=16), relay.new_track(max_queue=16)
    relay.attach(stuck)
    relay.attach(fast)
    got = []
    for n in range(10_000):
        relay.push(EncodedFrame(b"x" * 100, n * 3000, keyframe=n % 30 == 0))
        frame = fast.next_frame()
        if isinstance(frame, EncodedFrame):
            got.append(frame.timestamp)
    assert got == [n * 3000 for n in range(10_000)]  # the fast one lost nothing
    assert len(stuck) <= 16 and stuck.pulled == 0  # bounded
    assert stuck.dropped > 5_000 and stuck.dropped + stuck.skipped + len(stuck) == 10_000
    assert fast.dropped == 0 and relay.frames == 10_000
    # two joins, then one request per overflow of the stuck player
    assert len(asked) == relay.keyframe_requests > 2
