"""VP8 and H.264 video with headless Chromium, and VP8 with headless Firefox ESR (its
H.264 needs the OpenH264 plug-in, downloaded at run time: not here), on loopback, both
roles. The browser sends
its fake camera (libwebrtc's encoder); we record the encoded frames to IVF / Annex B and
FFmpeg decodes the file. We send the frames of an IVF / Annex B file; the browser's
getStats shows them decoded (inbound-rtp framesDecoded, frameWidth/frameHeight of the
file, the codec's mimeType).

The page is served by this test (pyrtcstack.interop.httpserver) with a small signaling
protocol: GET /offer or POST /offer, GET /answer or POST /answer, POST /stats."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.interop import PeerUnavailableError
from pyrtcstack.interop.httpserver import HttpServer, Request, Response
from pyrtcstack.interop.launchers import find_peer, launch
from pyrtcstack.media import AnnexBTrack, AnnexBWriter, EncodedFrame, IvfTrack, IvfWriter
from pyrtcstack.peerconnection import Description, Settings
from tests.peers import peer_missing, require_binary

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

IVF = Path(__file__).parent / "data" / "vp8_testsrc_160x120.ivf"
H264_FILE = Path(__file__).parent / "data" / "h264_testsrc_160x120.h264"
#: frames each side must get (about 2 s at 30 fps)
FRAMES = 60
#: bound on every wait for the browser
WAIT = 40.0

PAGE = """<!doctype html><meta charset="utf-8"><title>pyrtcstack video</title><script>
const mode = new URLSearchParams(location.search).get("mode");
const post = (path, obj) => fetch(path, {method: "POST", body: JSON.stringify(obj)});
const gathered = (pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve();
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") resolve();
  });
});
(async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: 320, height: 240, frameRate: 30}});
    const track = stream.getVideoTracks()[0];
    const pc = new RTCPeerConnection();
    if (mode === "browser-offers") {
      pc.addTransceiver(track, {direction: "sendrecv", streams: [stream]});
      await pc.setLocalDescription();
      await gathered(pc);
      await post("/offer", pc.localDescription);
      await pc.setRemoteDescription(await (await fetch("/answer")).json());
    } else {
      await pc.setRemoteDescription(await (await fetch("/offer")).json());
      pc.addTrack(track, stream);  // reuses the offered m=video (sendrecv)
      await pc.setLocalDescription();
      await gathered(pc);
      await post("/answer", pc.localDescription);
    }
    setInterval(async () => {
      const report = await pc.getStats();
      const out = [];
      report.forEach((s) => {
        if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "video") {
          out.push(s);
        }
        if (s.type === "codec") out.push(s);
      });
      await post("/stats", out);
    }, 300);
  } catch (e) {
    await post("/error", {error: String(e)});
  }
})();
</script>"""


class Signaling:
    """The test's side of the page's protocol."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.offer: asyncio.Future[dict[str, str]] = loop.create_future()
        self.answer: asyncio.Future[dict[str, str]] = loop.create_future()
        self.stats: list[dict[str, Any]] = []
        self.errors: list[str] = []

    async def handle(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path == "/":
            return Response(200, PAGE.encode(), "text/html; charset=utf-8")
        if request.method == "GET" and path in ("/offer", "/answer"):
            future = self.offer if path == "/offer" else self.answer
            return Response.json(await asyncio.wait_for(asyncio.shield(future), WAIT))
        if request.method == "POST" and path in ("/offer", "/answer"):
            future = self.offer if path == "/offer" else self.answer
            if not future.done():
                future.set_result(request.json())
            return Response.json({})
        if request.method == "POST" and path == "/stats":
            self.stats = request.json()
            return Response.json({})
        if request.method == "POST" and path == "/error":
            self.errors.append(json.dumps(request.json()))
            return Response.json({})
        return Response(404, b"{}")


def _ffmpeg_decode(path: Path) -> tuple[int, str]:
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


def _inbound(stats: list[dict[str, Any]]) -> dict[str, Any]:
    return next((s for s in stats if s.get("type") == "inbound-rtp"), {})


@pytest.mark.parametrize(
    ("browser", "codec"), [("chromium", "VP8"), ("chromium", "H264"), ("firefox", "VP8")]
)
@pytest.mark.parametrize("mode", ["we-offer", "browser-offers"])
def test_video_both_ways_with_browsers(mode: str, browser: str, codec: str, tmp_path: Path) -> None:
    try:
        find_peer(browser)
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_binary("ffmpeg", "ffmpeg")

    async def main() -> None:
        signaling = Signaling()
        server = HttpServer(signaling.handle)
        url = await server.start("127.0.0.1", 0)
        pc = PeerConnection(None, Settings(host_addresses=["127.0.0.1"]))
        received: list[EncodedFrame] = []
        pc.on("track", lambda t: t.on("frame", received.append))
        track = IvfTrack(IVF, loop=True) if codec == "VP8" else AnnexBTrack(H264_FILE, loop=True)
        peer = await launch(browser, f"{url}?mode={mode}", log_dir=str(tmp_path))
        try:
            async with asyncio.timeout(WAIT):
                if mode == "we-offer":
                    pc.add_track(track)
                    await pc.set_local_description()
                    await pc.wait_gathering_complete()
                    assert pc.local_description is not None
                    signaling.offer.set_result(pc.local_description.to_dict())
                    answer = await signaling.answer
                    await pc.set_remote_description(Description.from_dict(answer))
                else:
                    offer = await signaling.offer
                    await pc.set_remote_description(Description.from_dict(offer))
                    tr = pc.add_track(track)
                    assert tr.kind == "video" and tr.direction == "sendrecv"
                    await pc.set_local_description()
                    await pc.wait_gathering_complete()
                    assert pc.local_description is not None
                    signaling.answer.set_result(pc.local_description.to_dict())
                while (
                    len(received) < FRAMES
                    or _inbound(signaling.stats).get("framesDecoded", 0) < FRAMES
                ):
                    assert not signaling.errors, signaling.errors
                    await asyncio.sleep(0.1)
            theirs = _inbound(signaling.stats)
            ours = await pc.get_stats()
        finally:
            await pc.close()
            await peer.stop()
            await server.close()
        # the browser decoded our file's frames at the file's size
        assert (theirs["frameWidth"], theirs["frameHeight"]) == (160, 120)
        their_codec = next(s for s in signaling.stats if s.get("id") == theirs["codecId"])
        assert their_codec["mimeType"] == f"video/{codec}"
        inbound = next(s for s in ours.values() if s["type"] == "inbound-rtp")
        outbound = next(s for s in ours.values() if s["type"] == "outbound-rtp")
        assert inbound["kind"] == "video" and inbound["keyFramesReceived"] >= 1
        assert inbound["pliCount"] >= 1  # we asked for a keyframe on start
        assert outbound["framesSent"] >= FRAMES
        # the browser's frames: FFmpeg decodes every one from our IVF recording
        first_key = next(i for i, f in enumerate(received) if f.keyframe)
        path = tmp_path / ("from_chromium.ivf" if codec == "VP8" else "from_chromium.h264")
        writer = IvfWriter(path) if codec == "VP8" else AnnexBWriter(path)
        for f in received[first_key:]:
            writer.write(f)
        writer.close()
        count, errors = _ffmpeg_decode(path)
        assert errors == ""
        assert count == len(received) - first_key >= FRAMES - first_key

    asyncio.run(main())
