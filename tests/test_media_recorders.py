"""Recorder output checked by an independent tool (ffprobe/ffmpeg from Debian's ffmpeg).

Real encoded media, not invented bytes: VP8 (libvpx), H.264 (libx264) and Opus (libopus)
frames come from aiortc's encoders (PyAV), already split into RTP payloads by aiortc's own
packetisers. They go, reordered, through our RtpReceiver (jitter buffer + depacketiser)
into our IVF / Annex B / Ogg Opus writers, and ffprobe must read what we wrote with the
right codec, frame count and duration. G.711 goes through a MediaEndpoint pair into the
WAV recorder.
"""

from __future__ import annotations

import fractions
import json
import math
import random
import subprocess
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest
from peers import require_binary, require_module

from pyrtcstack.media import (
    H264,
    OPUS,
    PCMA,
    PCMU,
    VP8,
    AnnexBWriter,
    Codec,
    EncodedFrame,
    FrameReceived,
    G711Track,
    IvfWriter,
    MediaEndpoint,
    OggOpusWriter,
    RtpReceiver,
    ToneSource,
    TrackEnded,
    WavRecorder,
    WavSource,
)
from pyrtcstack.media.recorders import ogg_crc32, opus_packet_samples
from pyrtcstack.rtp import RtpPacket
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

pytestmark = pytest.mark.interop


def ffprobe(path: Path, *extra: str) -> dict[str, Any]:
    exe = require_binary("ffprobe", "ffmpeg")
    out = subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            *extra,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout))


def ffmpeg_decode_errors(path: Path, *extra: str) -> str:
    exe = require_binary("ffmpeg", "ffmpeg")
    out = subprocess.run(
        [exe, "-v", "error", *extra, "-i", str(path), "-f", "null", "-"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stderr


def through_receiver(codec: Codec, frames: list[tuple[list[bytes], int]]) -> list[EncodedFrame]:
    """RTP-packetise aiortc's payloads, shuffle them a little, run our receiver."""
    rng = random.Random(4)
    packets = []
    seq = 65000  # cross the 16-bit wrap on the way
    for payloads, ts in frames:
        for i, p in enumerate(payloads):
            packets.append(
                RtpPacket(
                    codec.payload_type,
                    seq & 0xFFFF,
                    ts & 0xFFFFFFFF,
                    0x1234,
                    p,
                    marker=not codec.is_audio and i == len(payloads) - 1,
                )
            )
            seq += 1
    for i in range(0, len(packets) - 4, 4):  # local reordering
        window = packets[i : i + 4]
        rng.shuffle(window)
        packets[i : i + 4] = window
    rx = RtpReceiver(codec, local_ssrc=1, nack=False)
    out: list[EncodedFrame] = []
    now = 0.0
    for pkt in packets:
        assert rx.receive_rtp(RtpPacket.parse(pkt.serialize()), now)
        out += rx.pop_frames(now)
        now += 0.005
    out += rx.pop_frames(now + 10)
    assert rx.jitter_buffer.stats.lost_packets == 0
    return out


def video_frames(n: int) -> list[Any]:
    av = require_module("av")
    frames = []
    for i in range(n):
        f = av.VideoFrame(320, 240, "yuv420p")
        for k, plane in enumerate(f.planes):
            size = plane.buffer_size
            if k == 0:
                plane.update(bytes(((x // 7 + i * 5) & 0xFF) for x in range(size)))
            else:
                plane.update(bytes([128]) * size)
        f.pts = i * 3000
        f.time_base = fractions.Fraction(1, 90000)
        frames.append(f)
    return frames


def test_vp8_from_libvpx_to_ivf(tmp_path: Path) -> None:
    vpx = require_module("aiortc.codecs.vpx", "aiortc")
    enc = vpx.Vp8Encoder()
    encoded = [enc.encode(f) for f in video_frames(30)]
    frames = through_receiver(VP8, encoded)
    assert len(frames) == 30 and frames[0].keyframe
    path = tmp_path / "out.ivf"
    w = IvfWriter(path)
    for f in frames:
        w.write(f)
    w.close()
    info = ffprobe(path)
    (stream,) = info["streams"]
    assert stream["codec_name"] == "vp8"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_frames"]) == 30
    assert abs(float(info["format"]["duration"]) - 30 / 30) < 0.05
    assert ffmpeg_decode_errors(path) == ""


def test_h264_from_libx264_to_annexb(tmp_path: Path) -> None:
    h264 = require_module("aiortc.codecs.h264", "aiortc")
    enc = h264.H264Encoder()
    encoded = [enc.encode(f) for f in video_frames(25)]
    assert any(p[0] & 0x1F == 28 for payloads, _ in encoded for p in payloads)  # FU-A used
    assert any(p[0] & 0x1F == 24 for payloads, _ in encoded for p in payloads)  # STAP-A
    frames = through_receiver(H264, encoded)
    assert len(frames) == 25 and frames[0].keyframe
    path = tmp_path / "out.h264"
    w = AnnexBWriter(path)
    for f in frames:
        w.write(f)
    w.close()
    info = ffprobe(path)
    (stream,) = info["streams"]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_frames"]) == 25
    assert ffmpeg_decode_errors(path) == ""


def test_opus_from_libopus_to_ogg(tmp_path: Path) -> None:
    av = require_module("av")
    opus = require_module("aiortc.codecs.opus", "aiortc")
    enc = opus.OpusEncoder()
    encoded: list[tuple[list[bytes], int]] = []
    for i in range(100):  # 2 s of a 440 Hz stereo tone in 20 ms frames
        pcm = b"".join(
            int(12000 * math.sin(2 * math.pi * 440 * (i * 960 + k) / 48000)).to_bytes(
                2, "little", signed=True
            )
            * 2
            for k in range(960)
        )
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(pcm)
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.time_base = fractions.Fraction(1, 48000)
        payloads, ts = enc.encode(frame)
        if payloads:
            encoded.append((payloads, ts))
    frames = through_receiver(OPUS, encoded)
    assert len(frames) == len(encoded) >= 98
    assert all(opus_packet_samples(f.data) == 960 for f in frames)
    path = tmp_path / "out.opus"
    w = OggOpusWriter(path, channels=2, pre_skip=312)
    for f in frames:
        w.write(f)
    w.close()
    info = ffprobe(path)
    (stream,) = info["streams"]
    assert stream["codec_name"] == "opus"
    assert int(stream["channels"]) == 2
    assert int(stream["nb_read_frames"]) == len(frames)
    expected = (len(frames) * 960 - 312) / 48000
    assert abs(float(info["format"]["duration"]) - expected) < 0.021
    assert ffmpeg_decode_errors(path) == ""
    # every page's CRC verifies (RFC 3533 §6), computed by our own function
    data = path.read_bytes()
    pos = pages = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        nseg = data[pos + 26]
        size = 27 + nseg + sum(data[pos + 27 : pos + 27 + nseg])
        page = bytearray(data[pos : pos + size])
        crc = int.from_bytes(page[22:26], "little")
        page[22:26] = b"\0\0\0\0"
        assert ogg_crc32(bytes(page)) == crc
        pos += size
        pages += 1
    assert pages == len(frames) + 2


def test_ogg_crc_known_value() -> None:
    # CRC-32/MPEG-2 style without the final inversion/initial 0xFFFFFFFF: the Ogg CRC of
    # "123456789" is 0x89A1897F (the CRC-32/OGG check value).
    assert ogg_crc32(b"123456789") == 0x89A1897F


@pytest.mark.parametrize("codec", [PCMU, PCMA], ids=["PCMU", "PCMA"])
def test_g711_pair_to_wav(tmp_path: Path, codec: Codec) -> None:
    a_addr, b_addr = ("10.0.0.1", 1), ("10.0.0.2", 2)
    net = MemoryNetwork(Impairment(loss=0.03, reorder=0.05, delay=0.02), seed=8)
    a = MediaEndpoint(
        b_addr,
        track=G711Track(ToneSource(440, amplitude=0.5, duration=3), codec),
        rng=random.Random(1),
    )
    b = MediaEndpoint(a_addr, receive_codec=codec, rng=random.Random(2))
    net.add(a_addr, a)
    net.add(b_addr, b)
    path = tmp_path / "out.wav"
    rec = WavRecorder(path, codec)
    net.on_event = lambda addr, e: rec.write(e.frame) if isinstance(e, FrameReceived) else None
    assert net.run(
        until=lambda: any(isinstance(e, TrackEnded) for e in net.events[a_addr]) and net.now > 4.0,
        timeout=30,
    )
    rec.close()
    info = ffprobe(path)
    (stream,) = info["streams"]
    assert stream["codec_name"] == "pcm_s16le"
    assert (int(stream["sample_rate"]), int(stream["channels"])) == (8000, 1)
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=1e-3)
    with wave.open(str(path), "rb") as wf:
        x = array("h")
        x.frombytes(wf.readframes(wf.getnframes()))
    ups = [i for i in range(1, len(x)) if x[i - 1] < 0 <= x[i]]
    assert abs((len(ups) - 1) * 8000 / (ups[-1] - ups[0]) - 440) < 0.5
    # our WavSource reads it back
    src = WavSource(path)
    total = 0
    while (f := src.read()) is not None:
        total += f.samples
    assert total == 24000
