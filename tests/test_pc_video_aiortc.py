"""VP8 and H.264 video with aiortc on loopback, both roles: aiortc encodes its frames
(libvpx, libx264), we receive the encoded frames, write them to an IVF / Annex B file and
FFmpeg decodes it; we send the frames of an IVF / Annex B file and aiortc decodes them
(its track.recv() returns decoded pictures of the file's size)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.media import AnnexBTrack, AnnexBWriter, EncodedFrame, IvfTrack, IvfWriter
from pyrtcstack.peerconnection import Description
from tests.pc_harness import WAIT, Aiortc, Ours, connect
from tests.peers import require_binary, require_module

pytestmark = pytest.mark.interop

IVF = Path(__file__).parent / "data" / "vp8_testsrc_160x120.ivf"
H264_FILE = Path(__file__).parent / "data" / "h264_testsrc_160x120.h264"
#: frames each side must see (about 2 s of 30 fps video)
FRAMES = 60


@pytest.fixture
def aiortc(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = require_module("aiortc")
    aioice = require_module("aioice")
    # INTEROP.md §1: aioice skips loopback when gathering; pin it to 127.0.0.1.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    return module


def _pattern_track() -> Any:
    """An aiortc VideoStreamTrack whose 320x240 pictures change every frame (a moving
    luma ramp), so that its VP8 encoder produces real inter frames."""
    from aiortc.mediastreams import VideoStreamTrack
    from av import VideoFrame

    ramp = bytes(range(256)) * 400

    class Pattern(VideoStreamTrack):
        count = 0

        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            frame = VideoFrame(width=320, height=240, format="yuv420p")
            shift = (self.count * 4) % 256
            self.count += 1
            for i, plane in enumerate(frame.planes):
                size = plane.buffer_size
                plane.update(ramp[shift : shift + size] if i == 0 else bytes([128]) * size)
            frame.pts = pts
            frame.time_base = time_base
            return frame

    return Pattern()


def _ffmpeg_decode(path: Path) -> tuple[int, str]:
    """Frames FFmpeg decodes from ``path`` (framemd5 lines) and what it printed on
    stderr at level error."""
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    proc = subprocess.run(
        [ffmpeg, "-hide_banner", "-v", "error", "-i", str(path), "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    frames = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]
    return len(frames), proc.stderr.strip() + ("" if proc.returncode == 0 else " (failed)")


@pytest.mark.parametrize("codec", ["VP8", "H264"])
@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
def test_video_both_ways_with_aiortc(
    aiortc: Any, we_offer: bool, codec: str, tmp_path: Path
) -> None:
    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        received: list[EncodedFrame] = []
        decoded: list[Any] = []
        pullers: list[asyncio.Future[None]] = []

        def on_track(track: Any) -> None:
            async def pull() -> None:
                while True:
                    try:
                        decoded.append(await track.recv())
                    except Exception:  # MediaStreamError when the call ends
                        return

            pullers.append(asyncio.ensure_future(pull()))

        theirs.pc.on("track", on_track)

        ours.pc.on("track", lambda t: t.on("frame", received.append))
        theirs.pc.addTrack(_pattern_track())
        track = IvfTrack(IVF, loop=True) if codec == "VP8" else AnnexBTrack(H264_FILE, loop=True)
        try:
            if we_offer:
                ours.pc.add_track(track)
                await connect(ours, theirs)
            else:
                offer = await theirs.offer()
                await ours.pc.set_remote_description(Description.from_dict(offer))
                tr = ours.pc.add_track(track)  # reuses the offered m=video
                assert tr.kind == "video" and tr.direction == "sendrecv"
                await ours.pc.set_local_description()
                await ours.pc.wait_gathering_complete()
                assert ours.pc.local_description is not None
                await theirs.accept(ours.pc.local_description.to_dict())
            async with asyncio.timeout(WAIT * 2):
                while len(received) < FRAMES or len(decoded) < FRAMES:
                    await asyncio.sleep(0.05)
            stats = await ours.pc.get_stats()
            inbound = next(s for s in stats.values() if s["type"] == "inbound-rtp")
            outbound = next(s for s in stats.values() if s["type"] == "outbound-rtp")
            assert stats[inbound["codecId"]]["mimeType"] == f"video/{codec}"
            assert stats[outbound["codecId"]]["mimeType"] == f"video/{codec}"
            assert inbound["framesReceived"] >= FRAMES and inbound["keyFramesReceived"] >= 1
            if codec == "VP8":
                assert (inbound["frameWidth"], inbound["frameHeight"]) == (320, 240)
            assert outbound["framesSent"] >= FRAMES
            assert ours.pc.core.counters["dropped_srtp"] == 0
        finally:
            await ours.close()
            await theirs.close()
            for p in pullers:
                p.cancel()
        # aiortc decoded our file's pictures
        assert all((f.width, f.height) == (160, 120) for f in decoded)
        # their frames: timestamps on the 90 kHz clock, a keyframe first, FFmpeg decodes all
        first_key = next(i for i, f in enumerate(received) if f.keyframe)
        frames = received[first_key:]
        steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(frames)}
        assert all(0 < s < 90000 for s in steps)
        path = tmp_path / ("from_aiortc.ivf" if codec == "VP8" else "from_aiortc.h264")
        writer = IvfWriter(path) if codec == "VP8" else AnnexBWriter(path)
        for f in frames:
            writer.write(f)
        writer.close()
        count, errors = _ffmpeg_decode(path)
        assert errors == ""
        assert count == len(frames) >= FRAMES - first_key

    asyncio.run(main())
