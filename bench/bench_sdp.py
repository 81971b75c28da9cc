"""SDP parse and serialise, pyrtcstack.sdp beside aiortc.sdp in the same run, as ratios.

The text is a modern Chrome offer with audio, video and a data channel: the audio and
data sections are a real Chromium 156 offer (pyrtcstack/data/chromium-offer.sdp); the
video section (VP8, VP9 profiles 0 and 2, H264 variants, AV1, each with RTX, plus RED and
ULPFEC) is written in Chrome's format, since the captured Chromium offers carry no video.

"parse" turns the text into a model (ours validates every known attribute, incl. all
candidates); "write" serialises the parsed model. Ratios > 1 mean pyrtcstack is faster.

Run: .venv/bin/python bench/bench_sdp.py [--seconds S] [--repeat N]
The machine is shared: run a few times and quote the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from importlib import resources

from pyrtcstack.sdp import SessionDescription

_VIDEO = """m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 \
35 36 37 38 39 40 41 42 112 113 114
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:cZML
a=ice-pwd:HjipbC7eBIOE9/porG5DXX1v
a=ice-options:trickle
a=fingerprint:sha-256 A5:9B:FB:9F:E6:DE:89:61:6E:94:D2:1A:57:D3:C2:40:15:6F:04:18:87:2A:AF:\
D3:7E:05:F4:FE:83:4C:9B:6A
a=setup:actpass
a=mid:2
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendrecv
a=msid:dc318704-56f2-4426-912c-7e16be22b6eb 8d5e2c51-5b5e-4a8e-9d0e-2c7b9a1e0f11
a=rtcp-mux
a=rtcp-rsize
"""
_CODECS = [
    ("96", "VP8/90000", None),
    ("98", "VP9/90000", "profile-id=0"),
    ("100", "VP9/90000", "profile-id=2"),
    ("102", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
    ("104", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"),
    ("106", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    ("108", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
    ("35", "AV1/90000", "level-idx=5;profile=0;tier=0"),
    ("37", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
    ("39", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f"),
    ("41", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"),
]


def modern_chrome_offer() -> str:
    base = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_bytes()
    text = base.decode().replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2")
    video = [_VIDEO.replace("\n", "\r\n")]
    for pt, name, fmtp in _CODECS:
        video.append(f"a=rtpmap:{pt} {name}\r\n")
        video.extend(
            f"a=rtcp-fb:{pt} {fb}\r\n"
            for fb in ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")
        )
        if fmtp:
            video.append(f"a=fmtp:{pt} {fmtp}\r\n")
        rtx = str(int(pt) + 1)
        video.append(f"a=rtpmap:{rtx} rtx/90000\r\na=fmtp:{rtx} apt={pt}\r\n")
    video.append("a=rtpmap:112 red/90000\r\na=rtpmap:113 rtx/90000\r\na=fmtp:113 apt=112\r\n")
    video.append("a=rtpmap:114 ulpfec/90000\r\n")
    video.append("a=ssrc-group:FID 1001 1002\r\n")
    for ssrc in (1001, 1002):
        video.append(f"a=ssrc:{ssrc} cname:/zlfuy/W4fN9aXRJ\r\n")
        video.append(
            f"a=ssrc:{ssrc} msid:dc318704-56f2-4426-912c-7e16be22b6eb "
            "8d5e2c51-5b5e-4a8e-9d0e-2c7b9a1e0f11\r\n"
        )
    return text + "".join(video)


def rate(fn: Callable[[], object], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    text = modern_chrome_offer()
    ours = SessionDescription.parse(text)
    assert str(ours) == text and len(ours.media) == 3
    cases: dict[str, Callable[[], object]] = {
        "pyrtcstack parse": lambda: SessionDescription.parse(text),
        "pyrtcstack write": lambda: str(ours),
    }
    try:
        from aiortc import sdp as aiortc_sdp

        theirs = aiortc_sdp.SessionDescription.parse(text)
        assert len(theirs.media) == 3
        cases["aiortc parse"] = lambda: aiortc_sdp.SessionDescription.parse(text)
        cases["aiortc write"] = lambda: str(theirs)
    except ImportError:
        print("aiortc not installed: no baseline (pip install aiortc)")

    print(
        f"SDP: modern Chrome audio+video+data offer, {len(text)} bytes, "
        f"{text.count(chr(10))} lines; {args.repeat} runs of {args.seconds:.1f} s, median"
    )
    results: dict[str, float] = {}
    for name, fn in cases.items():
        fn()
        results[name] = statistics.median(rate(fn, args.seconds) for _ in range(args.repeat))
        print(f"  {name:18s} {results[name]:>10,.0f} ops/s  {1e6 / results[name]:8.1f} µs/op")
    for op in ("parse", "write"):
        if f"aiortc {op}" in results:
            ratio = results[f"pyrtcstack {op}"] / results[f"aiortc {op}"]
            print(f"  {op}: pyrtcstack / aiortc = {ratio:.2f}x")
    if "aiortc parse" in results:
        ours_rt = 1 / results["pyrtcstack parse"] + 1 / results["pyrtcstack write"]
        theirs_rt = 1 / results["aiortc parse"] + 1 / results["aiortc write"]
        print(f"  parse+write: pyrtcstack / aiortc = {theirs_rt / ours_rt:.2f}x")


if __name__ == "__main__":
    main()
