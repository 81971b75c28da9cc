"""WHIP in one process: a server records what a client publishes, then a WHEP player gets
the recording back.

Run it:  python examples/whip_loopback.py [FILE.ivf]    (needs aiohttp: pyrtcstack[whip])

    WhipClient ── POST /whip (offer) ──> WhipServer ── writes whip-…-video.ivf
               <── 201 (answer) ───────
               ══ VP8 over SRTP ══════>
               ── DELETE ─────────────>
    WhepClient ── POST /whep (offer) ──> WhipServer ══ the recording, looped ══> player

Everything is on 127.0.0.1; docs/whip.md explains each request.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from pyrtcstack import PeerConnection
from pyrtcstack.media import IvfTrack
from pyrtcstack.peerconnection import Settings
from pyrtcstack.whip import ServerOptions, WhepClient, WhipClient, WhipServer

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "vp8_testsrc_160x120.ivf"
LOOPBACK = Settings(host_addresses=["127.0.0.1"])


async def main(path: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = WhipServer(ServerOptions(record_dir=Path(folder), host_addresses=["127.0.0.1"]))
        base = await server.start()
        # publish: one sendonly video transceiver carrying the file's frames
        track = IvfTrack(path)
        publisher = PeerConnection(None, LOOPBACK)
        publisher.add_transceiver("video", direction="sendonly", track=track)
        whip = WhipClient(base + "/whip")
        await whip.publish(publisher)
        print("published: 201 Created, Location", whip.location.removeprefix(base))
        while track.frames_sent < len(track.file.frames):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # the last packets arrive
        await whip.close()  # DELETE: the recording is closed
        await publisher.close()
        recording = server.latest["video"]
        print(f"recorded {server.finished[-1].frames['video']} frames")
        # play: a recvonly offer; the server answers with the recording
        player = PeerConnection(None, LOOPBACK)
        got: list[Any] = []
        player.on("track", lambda t: t.on("frame", got.append))
        player.add_transceiver("video", direction="recvonly")
        whep = WhepClient(base + "/whep")
        await whep.publish(player)
        while len(got) < 30:
            await asyncio.sleep(0.1)
        print(f"played back: {len(got) >= 30} (first frame a keyframe: {got[0].keyframe})")
        print(f"the recording was {recording.suffix} ({recording.stat().st_size > 0})")
        await whep.close()
        await player.close()
        await server.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
