"""WHIP/WHEP with real peers: Debian's simple-whip-client (Meetecho's GStreamer webrtcbin
client) publishes its test audio and video to ``pyrtcstack whip-server`` and ffprobe reads
the recordings; our CLI publishes an FFmpeg-made Ogg Opus file and an IVF file, our WHEP CLI
plays them back into files ffprobe reads; headless Chromium plays our WHEP stream in the
page the server serves (getStats framesDecoded > 0). All on loopback in private network
namespaces.

whip-client needs two things on this machine (docs/whip.md, "Running simple-whip-client"):
an interface that is not loopback (libnice gathers no candidate on ``lo``: a veth pair inside
a fresh ``unshare -n`` namespace, so no packet can leave it), and a stand-in for
libgupnp-igd (Debian bookworm's whip-client links libsoup 2 while libnice's UPnP library
pulls in libsoup 3, and libsoup aborts a process holding both).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.interop import PeerUnavailableError
from pyrtcstack.interop.httpserver import HttpServer, Request, Response
from pyrtcstack.interop.launchers import find_peer, launch
from pyrtcstack.media import IvfTrack
from pyrtcstack.peerconnection import Settings
from tests.peers import peer_missing, require_binary, require_module

pytestmark = [pytest.mark.interop, pytest.mark.timeout(150)]

DATA = Path(__file__).parent / "data"
IVF = DATA / "vp8_testsrc_160x120.ivf"
CLI = [sys.executable, "-m", "pyrtcstack"]
AUDIO = (
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! queue ! opusenc"
    " ! rtpopuspay pt=100 ssrc=1 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,"
    "payload=100"
)
VIDEO = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1"
    " ! videoconvert ! queue ! vp8enc deadline=1 ! rtpvp8pay pt=96 ssrc=2 ! queue"
    " ! application/x-rtp,media=video,encoding-name=VP8,payload=96"
)
H264_VIDEO = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1"
    " ! videoconvert ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30"
    " ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 ssrc=2 config-interval=-1"
    " ! queue ! application/x-rtp,media=video,encoding-name=H264,payload=102"
)
#: seconds whip-client publishes
SECONDS = 5
STUB = """/* No UPnP: libnice checks gupnp_simple_igd_thread_new() for NULL. */
unsigned long gupnp_simple_igd_get_type(void) { return 0; }
void *gupnp_simple_igd_thread_new(void) { return 0; }
void gupnp_simple_igd_add_port(void) {}
void gupnp_simple_igd_remove_port_local(void) {}
"""


def ffprobe(path: Path) -> dict[str, Any]:
    """The first stream of ``path`` with its frames counted (ffprobe -count_frames)."""
    exe = require_binary("ffprobe", "ffmpeg")
    proc = subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    stream = dict(info["streams"][0])
    stream["format_duration"] = float(info["format"].get("duration", 0))
    return stream


def _igd_stub(directory: Path) -> Path:
    gcc = require_binary("gcc", "gcc")
    source = directory / "igd_stub.c"
    source.write_text(STUB)
    subprocess.run(
        [
            gcc,
            "-shared",
            "-fPIC",
            "-Wl,-soname,libgupnp-igd-1.0.so.4",
            "-o",
            str(directory / "libgupnp-igd-1.0.so.4"),
            str(source),
        ],
        check=True,
        timeout=60,
    )
    return directory


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_simple_whip_client_publishes_to_our_server(codec: str, tmp_path: Path) -> None:
    whip_client = require_binary("whip-client", "simple-whip-client")
    require_binary("unshare", "util-linux")
    require_binary("ip", "iproute2")
    require_module("aiohttp")
    if os.geteuid() != 0:
        peer_missing("a private network namespace with a veth pair needs root")
    stub = _igd_stub(tmp_path)
    out = tmp_path / "rec"
    out.mkdir()
    script = f"""
set -e
ip link set lo up
ip link add w0 type veth peer name w1
ip addr add 10.99.0.1/24 dev w0
ip link set w0 up
ip link set w1 up
{" ".join(CLI)} whip-server --listen 127.0.0.1:8089 --out {out} --host-address 10.99.0.1 \
  --idle-timeout 10 2> {tmp_path}/server.log &
S=$!
for i in $(seq 50); do grep -q "whip" {tmp_path}/server.log 2>/dev/null && break; sleep 0.2; done
LD_LIBRARY_PATH={stub} timeout -s INT {SECONDS} {whip_client} -u http://127.0.0.1:8089/whip \
  -l 4 -A "{AUDIO}" -V "{VIDEO if codec == "vp8" else H264_VIDEO}" \
  > {tmp_path}/client.log 2>&1 || true
sleep 1
kill $S
wait $S || true
"""
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    server_log = (tmp_path / "server.log").read_text()
    client_log = (tmp_path / "client.log").read_text()
    assert proc.returncode == 0, proc.stderr + server_log
    assert "PeerConnection connected" in client_log, client_log[-3000:]
    assert "libsoup-ERROR" not in client_log
    # the session went through POST, trickle PATCH and DELETE (whip-client's SIGINT path)
    assert "ended: DELETE" in server_log, server_log
    trickled = [line for line in server_log.splitlines() if "candidates trickled" in line]
    assert trickled and int(trickled[0].split(": ")[1].split()[0]) >= 1, server_log
    audio = next(out.glob("whip-*-audio.ogg"))
    video = next(out.glob("whip-*-video." + ("ivf" if codec == "vp8" else "h264")))
    a, v = ffprobe(audio), ffprobe(video)
    assert a["codec_name"] == "opus" and a["channels"] in (1, 2)
    assert v["codec_name"] == codec and (v["width"], v["height"]) == (320, 240)
    # about SECONDS of media, minus setup: 20 ms Opus packets, 30 fps video
    assert int(a["nb_read_frames"]) >= 50 * (SECONDS - 3)
    assert int(v["nb_read_frames"]) >= 30 * (SECONDS - 3)
    assert SECONDS - 3 <= a["format_duration"] <= SECONDS + 1
    if codec == "vp8":  # a raw H.264 stream has no timestamps: ffprobe guesses 25 fps
        assert SECONDS - 3 <= v["format_duration"] <= SECONDS + 1


def _start_server(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            *CLI,
            "whip-server",
            "--listen",
            "127.0.0.1:0",
            "--out",
            str(tmp_path),
            "--host-address",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    assert line.startswith("WHIP on http://127.0.0.1:"), line
    return server, line.split()[2].removesuffix(",").removesuffix("/whip")


def test_our_whip_and_whep_clients_through_the_cli(tmp_path: Path) -> None:
    require_module("aiohttp")
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    ogg = tmp_path / "tone.ogg"  # FFmpeg's Ogg Opus (libopus): a foreign writer for our reader
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
            str(ogg),
        ],
        check=True,
        timeout=60,
    )
    env = dict(os.environ, PYRTCSTACK_WHIP_TOKEN="a-token-for-this-test")
    rec, got = tmp_path / "rec", tmp_path / "got"
    rec.mkdir()
    got.mkdir()
    server, base = _start_server(rec, env)
    try:
        publish = subprocess.run(
            [*CLI, "whip", base + "/whip", str(ogg), str(IVF), "--host-address", "127.0.0.1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert publish.returncode == 0, publish.stdout + publish.stderr
        no_token = {k: v for k, v in env.items() if k != "PYRTCSTACK_WHIP_TOKEN"}
        refused = subprocess.run(
            [*CLI, "whep", base + "/whep", "--out", str(got), "--host-address", "127.0.0.1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=no_token,
            check=False,
        )
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr, refused.stderr
        play = subprocess.run(
            [
                *CLI,
                "whep",
                base + "/whep",
                "--out",
                str(got),
                "--duration",
                "2.5",
                "--host-address",
                "127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert play.returncode == 0, play.stdout + play.stderr
    finally:
        server.terminate()
        _, server_log = server.communicate(timeout=20)
    assert "a-token-for-this-test" not in server_log + publish.stdout + play.stdout
    # what the server recorded from our client
    audio, video = ffprobe(next(rec.glob("*-audio.ogg"))), ffprobe(next(rec.glob("*-video.ivf")))
    assert audio["codec_name"] == "opus" and int(audio["nb_read_frames"]) >= 100
    assert video["codec_name"] == "vp8" and (video["width"], video["height"]) == (160, 120)
    assert int(video["nb_read_frames"]) >= 55
    # what our WHEP client recorded from the server (the recording, replayed)
    audio, video = ffprobe(next(got.glob("*-audio.ogg"))), ffprobe(next(got.glob("*-video.ivf")))
    assert audio["codec_name"] == "opus" and int(audio["nb_read_frames"]) >= 75
    assert video["codec_name"] == "vp8" and int(video["nb_read_frames"]) >= 45


def test_chromium_plays_the_whep_page(tmp_path: Path) -> None:
    require_module("aiohttp")
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    from pyrtcstack.whip import ServerOptions, WhipClient, WhipServer

    async def main() -> list[dict[str, Any]]:
        server = WhipServer(ServerOptions(record_dir=tmp_path, host_addresses=["127.0.0.1"]))
        base = await server.start()
        reports: list[Any] = []

        async def collect(request: Request) -> Response:
            reports.append(json.loads(request.body or b"null"))
            return Response.json({})

        collector = HttpServer(collect)
        report_url = await collector.start("127.0.0.1", 0)
        pc = PeerConnection(None, Settings(host_addresses=["127.0.0.1"]))
        pc.add_transceiver("video", direction="sendonly", track=IvfTrack(IVF))
        client = WhipClient(base + "/whip")
        await client.publish(pc)
        await pc.wait_connection_state("connected")
        await asyncio.sleep(2.2)  # the whole file (60 frames at 30 fps)
        await client.close()
        await pc.close()
        assert "video" in server.latest
        browser = await launch(
            "chromium", f"{base}/?report={report_url.rstrip('/')}/stats", log_dir=str(tmp_path)
        )
        try:
            async with asyncio.timeout(40):
                while True:
                    inbound = [
                        s
                        for r in reports
                        if isinstance(r, list)
                        for s in r
                        if s.get("type") == "inbound-rtp" and s.get("kind") == "video"
                    ]
                    errors = [r for r in reports if isinstance(r, dict)]
                    assert not errors, errors
                    if inbound and inbound[-1].get("framesDecoded", 0) >= 30:
                        return inbound
                    await asyncio.sleep(0.2)
        finally:
            await browser.stop()
            await collector.close()
            await server.close()

    inbound = asyncio.run(main())
    last = inbound[-1]
    assert last["framesDecoded"] >= 30
    assert (last["frameWidth"], last["frameHeight"]) == (160, 120)


#: seconds whip-client publishes while Chromium plays it live
LIVE_SECONDS = 20


def _live_main(tmp: str, whip_client: str, stub: str) -> None:
    """Run inside the namespace with the veth pair: our server, whip-client publishing,
    headless Chromium playing /whep LIVE; prints the samples as JSON (one line)."""
    from pyrtcstack.whip import ServerOptions, WhipServer

    async def main() -> dict[str, Any]:
        folder = Path(tmp)
        server = WhipServer(ServerOptions(record_dir=folder, host_addresses=["10.99.0.1"]))
        base = await server.start("127.0.0.1", 0)
        reports: list[Any] = []

        async def collect(request: Request) -> Response:
            reports.append(json.loads(request.body or b"null"))
            return Response.json({})

        collector = HttpServer(collect)
        report_url = await collector.start("127.0.0.1", 0)
        log = (folder / "client.log").open("wb")
        publisher = await asyncio.create_subprocess_exec(
            "timeout",
            "-s",
            "INT",
            str(LIVE_SECONDS),
            whip_client,
            "-u",
            base + "/whip",
            "-l",
            "4",
            "-A",
            AUDIO,
            "-V",
            VIDEO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, LD_LIBRARY_PATH=stub),
        )
        samples: list[dict[str, Any]] = []
        browser = None
        try:
            async with asyncio.timeout(30):
                while "video" not in server.relays:
                    await asyncio.sleep(0.1)
            browser = await launch(
                "chromium", f"{base}/?report={report_url.rstrip('/')}/stats", log_dir=tmp
            )
            seen = 0
            while publisher.returncode is None:
                await asyncio.sleep(0.2)
                for report in reports[seen:]:
                    if isinstance(report, dict):
                        samples.append({"error": report})
                    stats = report if isinstance(report, list) else []
                    samples.extend(
                        {
                            "decoded": s.get("framesDecoded", 0),
                            "width": s.get("frameWidth"),
                            # what the server was doing when the sample arrived
                            "publisher_live": "video" in server.relays,
                            "recording_finished": bool(server.latest),
                        }
                        for s in stats
                        if s.get("type") == "inbound-rtp" and s.get("kind") == "video"
                    )
                seen = len(reports)
        finally:
            if publisher.returncode is None:
                publisher.kill()
            await publisher.wait()
            if browser is not None:
                await browser.stop()
            await collector.close()
            relay = server.relays.get("video")
            dropped = sum(t.dropped for t in relay.players) if relay else None
            await server.close()
        return {"samples": samples, "dropped": dropped}

    print(json.dumps(asyncio.run(main())))


def test_chromium_plays_simple_whip_client_live(tmp_path: Path) -> None:
    """simple-whip-client publishes; headless Chromium plays /whep while it still does:
    framesDecoded grows while the publisher is live and before any recording finished."""
    whip_client = require_binary("whip-client", "simple-whip-client")
    require_binary("unshare", "util-linux")
    require_binary("ip", "iproute2")
    require_module("aiohttp")
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    if os.geteuid() != 0:
        peer_missing("a private network namespace with a veth pair needs root")
    stub = _igd_stub(tmp_path)
    script = f"""
set -e
ip link set lo up
ip link add w0 type veth peer name w1
ip addr add 10.99.0.1/24 dev w0
ip link set w0 up
ip link set w1 up
exec {sys.executable} -c 'from tests.test_whip_interop import _live_main; \
_live_main("{tmp_path}", "{whip_client}", "{stub}")'
"""
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    client_log = (tmp_path / "client.log").read_text(errors="replace")
    assert proc.returncode == 0, proc.stderr[-3000:] + client_log[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    samples = result["samples"]
    assert not [s for s in samples if "error" in s], samples
    live = [s for s in samples if s["publisher_live"] and not s["recording_finished"]]
    decoded = [s["decoded"] for s in live]
    # Chromium decoded the live stream, and kept decoding it while whip-client published
    assert decoded and decoded[-1] >= 60, samples[-5:]
    assert decoded[-1] > decoded[len(decoded) // 2] > 0, decoded
    assert live[-1]["width"] == 320
    print(f"live: {len(live)} samples, framesDecoded {decoded[0]} → {decoded[-1]}")
