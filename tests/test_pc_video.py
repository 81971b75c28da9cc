"""Video transceivers (pass-through of encoded frames): negotiation against browsers'
offers from the corpus, transceiver state, and two of our peer connections (the whole
stack) exchanging VP8 frames of an IVF file through a lossy virtual network, repaired
by NACK + RTX, with PLI raising the sender's keyframe request."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.common.core import Event
from pyrtcstack.common.errors import LocalProtocolError
from pyrtcstack.media import (
    AnnexBTrack,
    IvfTrack,
    MediaFormatError,
    parse_ivf,
    split_access_units,
)
from pyrtcstack.media.ivf import IvfFile
from pyrtcstack.peerconnection import Configuration, Description, PeerConnectionCore
from pyrtcstack.peerconnection.events import TrackFrame
from pyrtcstack.peerconnection.stats import collect_stats
from pyrtcstack.sdp import CodecCapability, SessionDescription
from pyrtcstack.sdp.errors import OfferAnswerError
from pyrtcstack.testing.vnet import Link, Node, VirtualNetwork
from tests.peers import corpus

IVF = Path(__file__).parent / "data" / "vp8_testsrc_160x120.ivf"
H264_FILE = Path(__file__).parent / "data" / "h264_testsrc_160x120.h264"


def _frames() -> list[bytes]:
    return [data for _, data in parse_ivf(IVF.read_bytes()).frames]


# ---------------------------------------------------------------- IVF


def test_ivf_file_and_track() -> None:
    ivf = parse_ivf(IVF.read_bytes())
    assert ivf.fourcc == b"VP80" and (ivf.width, ivf.height) == (160, 120)
    assert len(ivf.frames) == 60
    track = IvfTrack(IVF, loop=True)
    assert track.frame_duration == pytest.approx(1 / 30)
    frames = [track.next_frame() for _ in range(121)]
    assert all(f is not None for f in frames)
    ts = [f.timestamp for f in frames if f is not None]
    assert ts[:3] == [0, 3000, 6000]  # 90 kHz clock (RFC 7741 §4.1)
    assert ts[60] == 60 * 3000 and ts == sorted(ts)  # looping keeps time increasing
    keys = [i for i, f in enumerate(frames[:60]) if f is not None and f.keyframe]
    assert keys == [0, 15, 30, 45]  # -g 15
    assert IvfTrack(IVF).next_frame() is not None


def _ivf_bytes(frames: list[tuple[int, bytes]], rate: int = 30, scale: int = 1) -> bytes:
    import struct

    head = struct.pack("<4sHH4sHHIIII", b"DKIF", 0, 32, b"VP80", 16, 16, rate, scale, 0, 0)
    return head + b"".join(struct.pack("<IQ", len(d), p) + d for p, d in frames)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**64 - 1), st.binary(max_size=64)), max_size=20),
    st.integers(1, 2**32 - 1),
    st.integers(1, 2**32 - 1),
)
def test_ivf_round_trip(frames: list[tuple[int, bytes]], rate: int, scale: int) -> None:
    parsed = parse_ivf(_ivf_bytes(frames, rate, scale))
    assert isinstance(parsed, IvfFile)
    assert list(parsed.frames) == frames


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_ivf_hostile_bytes_raise_only_the_documented_error(data: bytes) -> None:
    for blob in (data, _ivf_bytes([])[:32] + data):
        try:
            parse_ivf(blob)
        except MediaFormatError:
            pass


def test_ivf_errors() -> None:
    good = _ivf_bytes([(0, b"\x10\x02\x00")])
    for bad in (b"", b"RIFF" + good[4:], good[:-1], good + b"\x01", _ivf_bytes([], rate=0)):
        with pytest.raises(MediaFormatError):
            parse_ivf(bad)
    with pytest.raises(MediaFormatError):
        IvfTrack(_ivf_bytes([]))  # no frames


# ---------------------------------------------------------------- negotiation


def _core(seed: int = 1) -> PeerConnectionCore:
    return PeerConnectionCore(Configuration(), rng=random.Random(seed))


@pytest.mark.parametrize(
    "name",
    [
        "011-aiortc-chrome-video-offer",
        "013-aiortc-firefox61-video-offer",
        "065-fippo-sdp-chrome-video-offer",
    ],
)
@pytest.mark.corpus
def test_answer_browser_video_offers(name: str) -> None:
    """A browser's video offer: we answer VP8 with its RTX (apt) and only the feedback we
    honour (no goog-remb/transport-cc), and a recvonly transceiver appears."""
    offer = corpus("sdp", f"{name}.sdp").read_text()
    pc = _core()
    pc.set_remote_description(Description("offer", offer), 0.0)
    video = [t for t in pc.transceivers if t.kind == "video"]
    assert len(video) == 1 and video[0].direction == "recvonly"
    answer = pc.create_answer(0.0)
    pc.set_local_description(answer, 0.0)
    desc = SessionDescription.parse(answer.sdp)
    m = next(m for m in desc.media if m.kind == "video")
    codecs = m.codecs(desc)
    assert codecs and codecs[0].name == "VP8"
    fb = {f"{f.type} {f.parameter}" if f.parameter else f.type for f in codecs[0].feedback}
    assert fb <= {"nack", "nack pli", "ccm fir"} and "nack" in fb
    offered = SessionDescription.parse(offer)
    om = next(m for m in offered.media if m.kind == "video")
    vp8 = next(c for c in om.codecs(offered) if c.name == "VP8")
    rtx = [c for c in codecs if c.name.lower() == "rtx"]
    offered_rtx = [
        c
        for c in om.codecs(offered)
        if c.name.lower() == "rtx" and c.parameters.get("apt") == str(vp8.payload_type)
    ]
    assert [c.payload_type for c in rtx if c.parameters["apt"] == str(vp8.payload_type)] == [
        c.payload_type for c in offered_rtx
    ]
    tr = video[0]
    assert tr.codec is not None and tr.codec.name == "VP8"
    assert tr.payload_type == vp8.payload_type
    assert tr.current_direction == "recvonly"
    assert tr.rtx_payload_type == (offered_rtx[0].payload_type if offered_rtx else None)
    assert "nack" in tr.feedback and "goog-remb" not in tr.feedback
    assert tr.remote_ssrcs  # the browser's SSRC (and RTX SSRC) for routing


def test_video_offer_and_transceiver_state() -> None:
    a, b = _core(1), _core(2)
    track = IvfTrack(IVF)
    tr = a.add_track(track)
    assert tr.kind == "video" and tr.direction == "sendrecv" and tr.rtx_ssrc is not None
    audio = a.add_transceiver("audio", direction="recvonly")
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    desc = SessionDescription.parse(offer.sdp)
    video = next(m for m in desc.media if m.kind == "video")
    names = [c.name for c in video.codecs(desc)]
    assert names[0] == "VP8" and "H264" in names and "rtx" in names
    h264 = next(c for c in video.codecs(desc) if c.name == "H264")
    assert h264.parameters["packetization-mode"] == "1"
    assert h264.parameters["profile-level-id"] == "42e01f"
    assert any(g.semantics == "FID" for g in video.ssrc_groups)  # RFC 4588 §8.1
    # payload types are unique across the bundle (RFC 9143 §9.1)
    pts = [c.payload_type for m in desc.media for c in m.codecs(desc)]
    assert len(pts) == len(set(pts))
    b.set_remote_description(offer, 0.0)
    answer = b.create_answer(0.0)
    b.set_local_description(answer, 0.0)
    a.set_remote_description(answer, 0.0)
    assert tr.current_direction == "sendonly"  # b has no video track: recvonly there
    assert audio.current_direction == "inactive"  # b sends no audio either
    their = next(t for t in b.transceivers if t.kind == "video")
    assert their.current_direction == "recvonly"
    assert tr.codec is not None and tr.codec.name == their.codec.name == "VP8"  # type: ignore[union-attr]
    assert tr.rtx_payload_type == their.rtx_payload_type is not None
    assert tr.feedback == their.feedback == frozenset({"nack", "nack pli", "ccm fir"})


def test_answer_without_the_tracks_codec_receives_only() -> None:
    """The offer has H.264 only, our track is VP8: we answer H.264 and only receive."""
    a, b = _core(1), _core(2)
    offered = a.add_transceiver("video", direction="sendrecv")
    offered.set_codec_preferences(
        [
            CodecCapability(
                "H264", 90000, None, {"packetization-mode": "1", "profile-level-id": "42e01f"}
            )
        ]
    )
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    b.set_remote_description(offer, 0.0)
    tr = b.add_track(IvfTrack(IVF))
    answer = b.create_answer(0.0)
    b.set_local_description(answer, 0.0)
    desc = SessionDescription.parse(answer.sdp)
    assert [c.name for c in desc.media[0].codecs(desc)] == ["H264"]
    assert tr.codec is not None and tr.codec.name == "H264"
    assert tr.current_direction == "recvonly"  # cannot send VP8 on an H.264 section


def test_codec_preferences_and_api_misuse() -> None:
    pc = _core()
    tr = pc.add_transceiver("video", direction="recvonly")
    tr.set_codec_preferences(
        [
            CodecCapability("H264", 90000, None, {"packetization-mode": "1"}),
            CodecCapability("rtx", 90000),
        ]
    )
    assert [c.name for c in tr.codecs] == ["H264"]
    with pytest.raises(LocalProtocolError):
        tr.set_codec_preferences([CodecCapability("PCMU", 8000, 1)])
    with pytest.raises(ValueError):
        pc.add_transceiver("audio", track=IvfTrack(IVF))
    with pytest.raises(OfferAnswerError):
        pc.add_transceiver("text")
    offer = pc.create_offer(0.0)
    desc = SessionDescription.parse(offer.sdp)
    assert [c.name for c in desc.media[0].codecs(desc)] == ["H264", "rtx"]
    # setCodecPreferences([]) restores the defaults
    tr.set_codec_preferences([])
    assert [c.name for c in tr.codecs] == ["VP8", "H264"]


# ---------------------------------------------------------------- the whole stack


def _call(link: Link, seed: int) -> tuple[Any, ...]:
    net = VirtualNetwork(seed=seed, internet=link)
    cores = []
    for index, name in enumerate(("left", "right"), start=1):
        ip = f"198.51.100.{20 + index}"
        net.add_host(name, ip)
        core = PeerConnectionCore(Configuration(), rng=random.Random(seed * 10 + index))
        net.attach(core, [(ip, 40000 + index)], name=name)
        cores.append((core, (ip, 40000 + index)))
    return net, cores


def _connect(net: VirtualNetwork, a: Any, sock_a: Any, b: Any, sock_b: Any) -> None:
    a.set_local_description(a.create_offer(net.now), net.now)
    a.gather([sock_a], net.now)
    net.flush()
    assert net.run(lambda: a.ice_gathering_state == "complete", timeout=30)
    b.set_remote_description(a.local_description, net.now)
    b.set_local_description(b.create_answer(net.now), net.now)
    b.gather([sock_b], net.now)
    net.flush()
    assert net.run(lambda: b.ice_gathering_state == "complete", timeout=30)
    a.set_remote_description(b.local_description, net.now)
    net.flush()


@pytest.mark.parametrize("codec", ["VP8", "H264"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_frames_byte_identical_through_loss_repaired_by_nack(seed: int, codec: str) -> None:
    """Every 7th media packet from left to right is dropped once (the repair, an RTX
    packet of another payload type, goes through): right still gets every frame of the
    file (VP8 from IVF, H.264 access units from Annex B), byte for byte; NACKs were sent
    and answered with RTX; the PLI right sends when it starts receiving raises left's
    track keyframe request."""
    counter = [0]
    vp8_pt: list[int] = []

    def drop(data: bytes, src: Any, dst: Any) -> bool:
        if not vp8_pt or not 128 <= data[0] <= 191 or data[1] & 0x7F != vp8_pt[0]:
            return False
        counter[0] += 1
        return 3 < counter[0] <= 50 and counter[0] % 7 == 0  # no tail loss: undetectable

    net, [(a, sock_a), (b, sock_b)] = _call(Link(delay=0.02, jitter=0.002, drop_if=drop), seed)
    got: dict[str, list[bytes]] = {"left": [], "right": []}

    def on_event(node: Node, event: Event) -> None:
        if isinstance(event, TrackFrame):
            got[node.name].append(event.frame.data)

    net.on_event = on_event
    track_a = IvfTrack(IVF) if codec == "VP8" else AnnexBTrack(H264_FILE)
    tr_a = a.add_track(track_a)
    _connect(net, a, sock_a, b, sock_b)
    assert net.run(lambda: a.connection_state == "connected", timeout=30)
    assert tr_a.codec is not None and tr_a.codec.name == codec
    assert tr_a.payload_type is not None
    vp8_pt.append(tr_a.payload_type)
    assert net.run(lambda: len(got["right"]) == 60, timeout=30)
    net.run_for(1.0)
    frames = _frames() if codec == "VP8" else split_access_units(H264_FILE.read_bytes())
    assert got["right"] == frames
    assert counter[0] > 50  # loss happened on the way
    assert track_a.keyframe_requests >= 1 and tr_a.keyframe_requests >= 1
    report_a = collect_stats(a, net.now, [])
    report_b = collect_stats(b, net.now, [])
    out = next(s for s in report_a.values() if s["type"] == "outbound-rtp")
    inb = next(s for s in report_b.values() if s["type"] == "inbound-rtp")
    assert out["kind"] == inb["kind"] == "video"
    assert out["framesSent"] == 60 and out["pliCount"] >= 1
    assert out["nackCount"] > 0 and out["retransmittedPacketsSent"] > 0
    assert inb["framesReceived"] == 60 and inb["keyFramesReceived"] == 4
    assert inb["nackCount"] > 0 and inb["retransmittedPacketsReceived"] > 0
    assert inb["pliCount"] >= 1
    if codec == "VP8":
        assert (inb["frameWidth"], inb["frameHeight"]) == (160, 120)
    assert report_b[inb["codecId"]]["mimeType"] == f"video/{codec}"
    assert report_b[inb["codecId"]]["clockRate"] == 90000


def test_fir_and_pli_raise_the_keyframe_request() -> None:
    """RFC 5104 §4.3.1: a new FIR sequence number raises the request, a repeated one does
    not; RFC 4585 §6.3.1: every PLI does."""
    from pyrtcstack.rtp.feedback import FirEntry, FullIntraRequest, PictureLossIndication
    from pyrtcstack.rtp.rtcp import RtcpReceiverReport, serialize_rtcp

    net, [(a, sock_a), (b, sock_b)] = _call(Link(delay=0.01), 9)
    track = IvfTrack(IVF, loop=True)
    tr = a.add_track(track)
    _connect(net, a, sock_a, b, sock_b)
    assert net.run(lambda: tr.endpoint is not None and tr.keyframe_requests >= 1, timeout=30)
    net.run_for(0.6)
    start = track.keyframe_requests
    assert tr.endpoint is not None
    remote = tr.remote_ssrcs[0] if tr.remote_ssrcs else 1

    def feedback(packet: Any) -> None:
        rr = RtcpReceiverReport(remote)
        assert tr.endpoint is not None
        tr.endpoint.receive_datagram(serialize_rtcp([rr, packet]), sock_b, net.now)
        a.handle_timer(net.now)  # as a driver after any mutation: drain

    feedback(FullIntraRequest(remote, 0, [FirEntry(tr.ssrc, 7)]))
    feedback(FullIntraRequest(remote, 0, [FirEntry(tr.ssrc, 7)]))  # a repetition
    assert track.keyframe_requests == start + 1 and track.keyframe_requested
    feedback(PictureLossIndication(remote, tr.ssrc))
    feedback(PictureLossIndication(remote, tr.ssrc ^ 1))  # not our stream
    assert track.keyframe_requests == start + 2 == tr.keyframe_requests
    # the next keyframe of the file clears the flag
    assert net.run(lambda: not track.keyframe_requested, timeout=5)
    report = collect_stats(a, net.now, [])
    out = next(s for s in report.values() if s["type"] == "outbound-rtp")
    assert out["firCount"] == 2 and out["pliCount"] >= 2


def test_audio_and_video_both_ways_then_video_added_by_renegotiation() -> None:
    """Our two asyncio peers on loopback: a data channel call gets audio and video (both
    ways) by renegotiation; every frame of the file arrives intact on each side."""
    import asyncio

    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.media import G711Track, ToneSource
    from pyrtcstack.peerconnection import Settings

    async def main() -> None:
        a = PeerConnection(None, Settings(host_addresses=["127.0.0.1"]))
        b = PeerConnection(None, Settings(host_addresses=["127.0.0.1"]))
        got: dict[str, list[Any]] = {"a": [], "b": []}
        kinds: dict[str, list[str]] = {"a": [], "b": []}

        def on_track(side: str) -> Any:
            def handler(track: Any) -> None:
                kinds[side].append(track.kind)
                if track.kind == "video":
                    track.on("frame", got[side].append)

            return handler

        a.on("track", on_track("a"))
        b.on("track", on_track("b"))

        async def negotiate() -> None:
            await a.set_local_description()
            await a.wait_gathering_complete()
            assert a.local_description is not None
            await b.set_remote_description(a.local_description)
            await b.set_local_description()
            await b.wait_gathering_complete()
            assert b.local_description is not None
            await a.set_remote_description(b.local_description)

        try:
            channel = a.create_data_channel("first")
            await negotiate()
            await channel.wait_open(15)
            a.add_track(G711Track(ToneSource(440)))
            a.add_track(IvfTrack(IVF))
            b.add_track(G711Track(ToneSource(660)))
            b.add_track(IvfTrack(IVF))
            await negotiate()  # b's tracks ride the m-sections a's offer added
            async with asyncio.timeout(20):
                while len(got["a"]) < 60 or len(got["b"]) < 60:
                    await asyncio.sleep(0.05)
            assert sorted(kinds["a"]) == sorted(kinds["b"]) == ["audio", "video"]
            frames = _frames()
            assert [f.data for f in got["a"]] == frames == [f.data for f in got["b"]]
            assert all(f.timestamp % 3000 == got["a"][0].timestamp % 3000 for f in got["a"])
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_annexb_access_units() -> None:
    """H.264 §7.4.1.2.3 boundaries, with and without access unit delimiters."""
    units = split_access_units(H264_FILE.read_bytes())
    assert len(units) == 60
    track = AnnexBTrack(H264_FILE, fps=30)
    frames = [track.next_frame() for _ in range(61)]
    assert frames[-1] is None
    assert [i for i, f in enumerate(frames[:60]) if f is not None and f.keyframe] == [0, 15, 30, 45]
    assert [f.timestamp for f in frames[:3] if f is not None] == [0, 3000, 6000]
    aud = b"\x00\x00\x00\x01\x09\xf0"
    with_aud = b"".join(aud + u for u in units)
    assert split_access_units(with_aud) == [aud + u for u in units]
    with pytest.raises(MediaFormatError):
        split_access_units(b"no start code")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_annexb_hostile_bytes(data: bytes) -> None:
    try:
        units = split_access_units(data)
    except MediaFormatError:
        return
    # re-splitting the re-joined units gives them back
    assert split_access_units(b"".join(units)) == units


_ANSWER = {
    # (offerer wants, answerer wants) -> (offerer's current, answerer's current)
    ("sendrecv", "sendrecv"): ("sendrecv", "sendrecv"),
    ("sendrecv", "sendonly"): ("recvonly", "sendonly"),
    ("sendrecv", "recvonly"): ("sendonly", "recvonly"),
    ("sendonly", "sendrecv"): ("sendonly", "recvonly"),
    ("sendonly", "sendonly"): ("inactive", "inactive"),
    ("recvonly", "sendrecv"): ("recvonly", "sendonly"),
    ("recvonly", "recvonly"): ("inactive", "inactive"),
    ("inactive", "sendrecv"): ("inactive", "inactive"),
}


@pytest.mark.parametrize(("mine", "theirs"), sorted(_ANSWER))
def test_video_directions(mine: str, theirs: str) -> None:
    """RFC 3264 §6.1 direction answers, seen from both transceivers (webrtc-pc
    currentDirection); a sending side has a track, a receiving side none needed."""
    a, b = _core(1), _core(2)
    sends = mine in ("sendrecv", "sendonly")
    tr_a = a.add_transceiver("video", direction=mine, track=IvfTrack(IVF) if sends else None)
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    b.set_remote_description(offer, 0.0)
    tr_b = next(t for t in b.transceivers if t.kind == "video")
    tr_b.direction = theirs
    if theirs in ("sendrecv", "sendonly"):
        tr_b.track = IvfTrack(IVF)
    answer = b.create_answer(0.0)
    b.set_local_description(answer, 0.0)
    a.set_remote_description(answer, 0.0)
    assert (tr_a.current_direction, tr_b.current_direction) == _ANSWER[(mine, theirs)]


_PREFS = [
    CodecCapability("VP8", 90000),
    CodecCapability("H264", 90000, None, {"packetization-mode": "1", "profile-level-id": "42e01f"}),
    CodecCapability("rtx", 90000),
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(range(3)), unique=True),
    st.lists(st.sampled_from(range(3)), unique=True),
    st.sampled_from(["VP8", "H264", None]),
)
def test_codec_preferences_negotiate_consistently(
    offer_prefs: list[int], answer_prefs: list[int], track_codec: str | None
) -> None:
    """Whatever the two sides prefer, after offer/answer both transceivers agree on the
    codec, payload type, RTX payload type and feedback, or the section is rejected; the
    answer offers only what both listed."""
    a, b = _core(1), _core(2)
    tr_a = a.add_transceiver("video", direction="recvonly")
    tr_a.set_codec_preferences([_PREFS[i] for i in offer_prefs])
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    b.set_remote_description(offer, 0.0)
    tr_b = next(t for t in b.transceivers if t.kind == "video")
    tr_b.set_codec_preferences([_PREFS[i] for i in answer_prefs])
    if track_codec is not None:
        track = IvfTrack(IVF) if track_codec == "VP8" else AnnexBTrack(H264_FILE)
        tr_b.track = track
        tr_b.direction = "sendrecv"
    answer = b.create_answer(0.0)
    desc = SessionDescription.parse(answer.sdp)
    if desc.media[0].port == 0:  # no common codec: rejected (and the only section)
        assert not {c.name for c in tr_a.codecs} & {c.name for c in tr_b.codecs}
        return
    b.set_local_description(answer, 0.0)
    a.set_remote_description(answer, 0.0)
    names = {c.name for c in desc.media[0].codecs(desc)} - {"rtx"}
    assert names <= {c.name for c in tr_a.codecs} & {c.name for c in tr_b.codecs}
    assert tr_a.codec is not None and tr_b.codec is not None
    assert (tr_a.codec.name, tr_a.payload_type) == (tr_b.codec.name, tr_b.payload_type)
    assert tr_a.rtx_payload_type == tr_b.rtx_payload_type

    def rtx(prefs: list[int]) -> bool:  # no codec chosen: the defaults, with RTX
        return 2 in prefs or not [i for i in prefs if i != 2]

    assert (tr_a.rtx_payload_type is not None) == (rtx(offer_prefs) and rtx(answer_prefs))
    assert tr_a.feedback == tr_b.feedback == frozenset({"nack", "nack pli", "ccm fir"})


def test_unrepairable_loss_skips_the_frame_and_sends_a_pli() -> None:
    """One VP8 packet is dropped and so is every retransmission (all RTX packets): the
    receiver gives the hole up after DEFAULT_MAX_DELAY, delivers the next frames flagged
    ``after_loss`` and asks for a keyframe with a PLI (RFC 4585 §6.3.1), which raises
    the sender's keyframe request again."""
    media_pt: list[int] = []
    rtx_pt: list[int] = []
    counter = [0]

    def drop(data: bytes, src: Any, dst: Any) -> bool:
        if not media_pt or not 128 <= data[0] <= 191:
            return False
        pt = data[1] & 0x7F
        if pt in rtx_pt:
            return True
        if pt == media_pt[0]:
            counter[0] += 1
            return counter[0] == 20
        return False

    net, [(a, sock_a), (b, sock_b)] = _call(Link(delay=0.02, drop_if=drop), 5)
    got: list[Any] = []
    net.on_event = lambda node, ev: got.append(ev.frame) if isinstance(ev, TrackFrame) else None
    track = IvfTrack(IVF)
    tr = a.add_track(track)
    _connect(net, a, sock_a, b, sock_b)
    assert net.run(lambda: a.connection_state == "connected", timeout=30)
    assert tr.payload_type is not None and tr.rtx_payload_type is not None
    media_pt.append(tr.payload_type)
    rtx_pt.append(tr.rtx_payload_type)
    net.run_for(4.0)
    frames = _frames()
    # exactly the frame that lost a packet is missing; the one after it says so
    assert len(got) == 59
    missing = next(i for i, f in enumerate(got) if f.data != frames[i])
    assert [f.data for f in got] == frames[:missing] + frames[missing + 1 :]
    assert [i for i, f in enumerate(got) if f.after_loss] == [missing]
    report = collect_stats(b, net.now, [])
    inb = next(s for s in report.values() if s["type"] == "inbound-rtp")
    assert inb["pliCount"] >= 2  # on start, and for the loss
    assert track.keyframe_requests >= 2
