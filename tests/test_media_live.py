"""LiveTrack: a track that may have no frame yet (NOT_YET), bounded per consumer, video
from a keyframe; and the media endpoint's frame clock polling it without ending."""

from __future__ import annotations

import pytest

from pyrtcstack.media import NOT_YET, OPUS, VP8, EncodedFrame, LiveTrack, MediaEndpoint
from pyrtcstack.media.endpoint import TrackEnded
from pyrtcstack.media.errors import MediaUsageError
from pyrtcstack.rtp.packet import RtpPacket

REMOTE = ("127.0.0.1", 5004)


def frame(n: int, keyframe: bool = False) -> EncodedFrame:
    return EncodedFrame(bytes([n & 0xFF]) * 10, n * 3000, keyframe)


def test_empty_live_track_is_not_yet_and_ends_only_when_told() -> None:
    track = LiveTrack(OPUS)
    assert track.next_frame() is NOT_YET
    track.push(frame(1))
    assert track.next_frame() == frame(1)
    assert track.next_frame() is NOT_YET
    track.push(frame(2))
    track.end()
    track.push(frame(3))  # after the end: ignored
    assert track.next_frame() == frame(2)  # what was queued is still sent
    assert track.next_frame() is None


def test_video_starts_at_a_keyframe() -> None:
    asked: list[int] = []
    track = LiveTrack(VP8, on_keyframe_needed=lambda: asked.append(1))
    for n in range(3):
        track.push(frame(n))
    assert track.next_frame() is NOT_YET and track.skipped == 3
    track.push(frame(3, keyframe=True))
    track.push(frame(4))
    assert [track.next_frame(), track.next_frame()] == [frame(3, True), frame(4)]
    # a PLI/FIR from our peer is passed on to the producer
    track.request_keyframe()
    assert asked == [1] and track.keyframe_requests == 1


def test_audio_queue_is_bounded_dropping_the_oldest() -> None:
    track = LiveTrack(OPUS, max_queue=8)
    for n in range(1000):
        track.push(frame(n))
    assert len(track) == 8 and track.dropped == 992
    assert track.next_frame() == frame(992)


def test_video_overflow_drops_to_the_next_keyframe_and_asks_for_one() -> None:
    asked: list[int] = []
    track = LiveTrack(VP8, max_queue=4, on_keyframe_needed=lambda: asked.append(1))
    track.push(frame(0, keyframe=True))
    for n in range(1, 10):
        track.push(frame(n))
    # the queue overflowed at frame 4: everything dropped, waiting for a keyframe
    assert len(track) == 0 and track.waiting_for_keyframe and asked == [1]
    assert track.dropped == 5 and track.skipped == 5
    track.push(frame(10, keyframe=True))
    assert track.next_frame() == frame(10, True)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(MediaUsageError):
        LiveTrack(OPUS, max_queue=0)
    with pytest.raises(MediaUsageError):
        LiveTrack(OPUS, poll_interval=0)


def test_endpoint_polls_a_live_track_without_ending_it() -> None:
    track = LiveTrack(OPUS, poll_interval=0.01)
    ep = MediaEndpoint(REMOTE, track=track, rtcp_interval=100.0)
    now = 0.0
    for _ in range(50):  # half a second with nothing: no RTP, no BYE, still polling
        ep.handle_timer(now)
        now += 0.01
    assert ep.datagrams_to_send(now) == [] and ep.next_event() is None
    assert ep.get_timer() is not None and ep.get_timer() <= now + 0.01  # type: ignore[operator]
    track.push(frame(7))
    ep.handle_timer(now)
    sent = ep.datagrams_to_send(now)
    assert len(sent) == 1 and RtpPacket.parse(sent[0][0]).payload == frame(7).data
    track.end()
    ep.handle_timer(now + 0.01)
    assert isinstance(ep.next_event(), TrackEnded)
