"""Interop with a real, independent RTP/SRTP stack: FFmpeg (Debian ``ffmpeg``).

FFmpeg's RTP muxer/demuxer and its SRTP code (libavformat/srtp.c, not libsrtp) talk to
our MediaEndpoint over real UDP on loopback, driven by the asyncio CoreEndpoint:

* FFmpeg sends a 440 Hz PCMU tone over RTP and over SRTP (AES_CM_128_HMAC_SHA1_80, keys
  given as SDES ``inline:`` parameters); we unprotect, parse its SR, depacketise, record
  a WAV and measure the tone.
* We send a PCMU tone (plain and SRTP); FFmpeg receives it from an SDP file (with an
  ``a=crypto`` line for SRTP), decodes it to WAV, and we measure the tone in its file.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import wave
from array import array
from pathlib import Path

import pytest
from peers import free_udp_port, require_binary, require_module

from pyrtcstack.aio import open_endpoint
from pyrtcstack.common import Event
from pyrtcstack.media import (
    H264,
    PCMU,
    VP8,
    EncodedFrame,
    EncodedTrack,
    FrameReceived,
    G711Track,
    IvfWriter,
    MediaEndpoint,
    ReportReceived,
    ToneSource,
    TrackEnded,
    WavRecorder,
)
from pyrtcstack.rtp import RtcpSenderReport
from pyrtcstack.srtp import SRTP_AES128_CM_HMAC_SHA1_80, SrtpSession

pytestmark = pytest.mark.interop

HOST = "127.0.0.1"


def tone_frequency(path: Path) -> tuple[float, float]:
    with wave.open(str(path), "rb") as wf:
        rate = wf.getframerate()
        x = array("h")
        x.frombytes(wf.readframes(wf.getnframes()))
    ups = [i for i in range(1, len(x)) if x[i - 1] < 0 <= x[i]]
    return (len(ups) - 1) * rate / (ups[-1] - ups[0]), len(x) / rate


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.mark.parametrize("secure", [False, True], ids=["rtp", "srtp"])
def test_ffmpeg_sends_we_receive(tmp_path: Path, secure: bool) -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    our_port, their_port = free_udp_port(), free_udp_port()
    key = os.urandom(30)
    wav = tmp_path / "received.wav"
    recorder = WavRecorder(wav, PCMU)
    events: list[Event] = []

    def on_event(e: Event) -> None:
        events.append(e)
        if isinstance(e, FrameReceived):
            recorder.write(e.frame)

    async def main() -> MediaEndpoint:
        loop = asyncio.get_running_loop()
        core = MediaEndpoint(
            (HOST, their_port),
            receive_codec=PCMU,
            start_at=loop.time(),
            rtcp_interval=0.5,
            srtp=SrtpSession(SRTP_AES128_CM_HMAC_SHA1_80, os.urandom(30), key) if secure else None,
        )
        ep = await open_endpoint(core, (HOST, our_port), on_event)
        scheme = "srtp" if secure else "rtp"
        cmd = [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=8000:duration=2",
            "-c:a",
            "pcm_mulaw",
            "-ar",
            "8000",
            "-ac",
            "1",
        ]
        if secure:
            cmd += [
                "-srtp_out_suite",
                "AES_CM_128_HMAC_SHA1_80",
                "-srtp_out_params",
                base64.b64encode(key).decode(),
            ]
        cmd += [
            "-f",
            "rtp",
            f"{scheme}://{HOST}:{our_port}?rtcpport={our_port}&localrtpport={their_port}",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(200):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.6)  # let the jitter buffer hand out the last frames
        finally:
            _kill(proc)
            ep.close()
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        return core

    core = asyncio.run(main())
    recorder.close()
    frames = [e for e in events if isinstance(e, FrameReceived)]
    assert len(frames) >= 14  # 2 s in FFmpeg's 1,024-sample packets: 16
    assert core.receiver is not None and core.receiver.jitter_buffer.stats.lost_packets == 0
    freq, seconds = tone_frequency(wav)
    assert abs(freq - 440) < 1.0
    assert seconds > 1.7
    srs = [
        e.packet
        for e in events
        if isinstance(e, ReportReceived) and isinstance(e.packet, RtcpSenderReport)
    ]
    assert srs and srs[0].ssrc == core.receiver.remote_ssrc  # FFmpeg's SR parsed
    assert core.counters.dropped_rtp_parse == core.counters.dropped_rtcp_parse == 0
    if secure:
        assert core.srtp is not None
        assert core.srtp.stats.errors == 0 and core.srtp.stats.rtp_unprotected >= 14
        assert core.srtp.stats.rtcp_unprotected >= 1
    else:
        assert core.counters.dropped_srtp == 0


@pytest.mark.parametrize("secure", [False, True], ids=["rtp", "srtp"])
def test_we_send_ffmpeg_receives(tmp_path: Path, secure: bool) -> None:
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    their_port = free_udp_port()
    while their_port % 2:  # FFmpeg listens for RTCP on port + 1
        their_port = free_udp_port()
    key = os.urandom(30)
    sdp = tmp_path / "in.sdp"
    lines = [
        "v=0",
        f"o=- 0 0 IN IP4 {HOST}",
        "s=pyrtcstack",
        f"c=IN IP4 {HOST}",
        "t=0 0",
        f"m=audio {their_port} {'RTP/SAVP' if secure else 'RTP/AVP'} 0",
        "a=rtpmap:0 PCMU/8000",
    ]
    if secure:
        lines.append(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(key).decode()}")
    sdp.write_text("\r\n".join(lines) + "\r\n")
    out = tmp_path / "ffmpeg.wav"

    async def main() -> MediaEndpoint:
        loop = asyncio.get_running_loop()
        cmd = [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-protocol_whitelist",
            "file,udp,rtp,srtp,crypto",
            "-i",
            str(sdp),
            "-t",
            "2",
            "-y",
            str(out),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ep = None
        try:
            await asyncio.sleep(1.0)  # FFmpeg binds its ports while opening the SDP
            core = MediaEndpoint(
                (HOST, their_port),
                track=G711Track(ToneSource(440, duration=12), PCMU),
                start_at=loop.time(),
                rtcp_interval=0.5,
                srtp=SrtpSession(SRTP_AES128_CM_HMAC_SHA1_80, key, os.urandom(30))
                if secure
                else None,
            )
            ended = asyncio.Event()
            ep = await open_endpoint(
                core, (HOST, 0), lambda e: ended.set() if isinstance(e, TrackEnded) else None
            )
            for _ in range(400):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            _kill(proc)
            if ep is not None:
                ep.close()
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        return core

    core = asyncio.run(main())
    assert core.sender is not None and core.sender.stats.packets_sent >= 100
    freq, seconds = tone_frequency(out)
    assert abs(freq - 440) < 1.0
    assert abs(seconds - 2.0) < 0.05


def _encode_video(codec_name: str, n: int) -> list[tuple[bytes, bool]]:
    """n frames of moving gradient, encoded by libvpx/libx264 through PyAV (keyframe every
    10 frames so a late-joining receiver can start)."""
    import fractions

    av = require_module("av")
    ctx = av.CodecContext.create(codec_name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 120, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.framerate = fractions.Fraction(30, 1)
    ctx.gop_size = 10
    ctx.options = (
        {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
        if codec_name == "libvpx"
        else {"preset": "ultrafast", "tune": "zerolatency"}
    )
    out = []
    for i in range(n):
        f = av.VideoFrame(160, 120, "yuv420p")
        for k, plane in enumerate(f.planes):
            size = plane.buffer_size
            fill = (
                bytes(((x // 5 + i * 7) & 0xFF) for x in range(size))
                if k == 0
                else bytes([128]) * size
            )
            plane.update(fill)
        f.pts = i
        f.time_base = fractions.Fraction(1, 30)
        out.extend((bytes(pkt), bool(pkt.is_keyframe)) for pkt in ctx.encode(f))
    out.extend((bytes(pkt), bool(pkt.is_keyframe)) for pkt in ctx.encode(None))
    return out


def _framemd5(ffmpeg: str, *args: str) -> list[str]:
    res = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", *args, "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [
        line.rsplit(",", 1)[1].strip()
        for line in res.stdout.splitlines()
        if line and not line.startswith("#")
    ]


@pytest.mark.parametrize("codec_name", ["libvpx", "libx264"], ids=["VP8", "H264"])
def test_we_send_video_ffmpeg_decodes(tmp_path: Path, codec_name: str) -> None:
    """Our VP8 (RFC 7741) and H.264 (RFC 6184: STAP-A, FU-A) packetisers, depacketised by
    FFmpeg's rtpdec: every frame FFmpeg decodes from our RTP stream must be bit-identical to
    a frame decoded from the encoder's own output."""
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    encoded = _encode_video(codec_name, 60)
    vp8 = codec_name == "libvpx"
    codec = VP8 if vp8 else H264
    # reference decode of the encoder's output (IVF written by us / raw Annex B)
    ref = tmp_path / ("ref.ivf" if vp8 else "ref.h264")
    if vp8:
        w = IvfWriter(ref)
        for i, (data, key) in enumerate(encoded):
            w.write(EncodedFrame(data, i * 3000, key))
        w.close()
    else:
        ref.write_bytes(b"".join(d for d, _ in encoded))
    reference = set(_framemd5(ffmpeg, "-i", str(ref)))
    assert len(reference) >= 55

    their_port = free_udp_port()
    while their_port % 2:
        their_port = free_udp_port()
    sdp = tmp_path / "in.sdp"
    rtpmap = (
        f"a=rtpmap:{codec.payload_type} VP8/90000"
        if vp8
        else f"a=rtpmap:{codec.payload_type} H264/90000\r\n"
        f"a=fmtp:{codec.payload_type} packetization-mode=1"
    )
    sdp.write_text(
        "\r\n".join(
            [
                "v=0",
                f"o=- 0 0 IN IP4 {HOST}",
                "s=pyrtcstack",
                f"c=IN IP4 {HOST}",
                "t=0 0",
                f"m=video {their_port} RTP/AVP {codec.payload_type}",
                rtpmap,
            ]
        )
        + "\r\n"
    )
    md5_out = tmp_path / "got.md5"

    async def main() -> MediaEndpoint:
        loop = asyncio.get_running_loop()
        cmd = [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-protocol_whitelist",
            "file,udp,rtp",
            "-i",
            str(sdp),
            "-frames:v",
            "30",
            "-f",
            "framemd5",
            "-y",
            str(md5_out),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ep = None
        try:
            await asyncio.sleep(1.0)
            frames = [EncodedFrame(d, i * 3000, k) for i, (d, k) in enumerate(encoded)]
            core = MediaEndpoint(
                (HOST, their_port),
                track=EncodedTrack(codec, frames, 1 / 30),
                start_at=loop.time(),
                rtcp_interval=0.5,
                mtu=300,  # small: keyframes span several packets (VP8 S=0 pieces, FU-A)
            )
            ep = await open_endpoint(core, (HOST, 0))
            for _ in range(400):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            _kill(proc)
            if ep is not None:
                ep.close()
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        return core

    core = asyncio.run(main())
    assert core.sender is not None and core.sender.stats.frames_sent >= 30
    assert core.sender.stats.packets_sent > core.sender.stats.frames_sent
    got = [
        line.rsplit(",", 1)[1].strip()
        for line in md5_out.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(got) == 30
    assert set(got) <= reference
