"""The live relay: what one WHIP publisher sends, re-sent to every WHEP player at once.

A media server does not decode what it relays. For each media kind the publisher sends,
one :class:`LiveRelay` receives its frames (as our receiver rebuilt them from RTP) and
hands each frame to every player's :class:`~pyrtcstack.media.LiveTrack`; each player's
own sender packetises it again with that player's SSRC, sequence numbers, payload type
and SRTP keys. So players are independent: each has its own bounded queue, and a player
that falls behind loses frames (counted) without slowing the publisher or the others.

Video needs one more thing. A player cannot decode from the middle of the stream: it
needs a keyframe first. So a player's video track starts at the next keyframe, and when a
player joins (or loses frames, or its browser sends a PLI/FIR) the relay asks the
publisher for a keyframe: the publisher's receiver sends a Picture Loss Indication
(RFC 4585 §6.3.1), which its encoder answers with a keyframe.
"""

from __future__ import annotations

from collections.abc import Callable

from ..media import LIVE_QUEUE_FRAMES, Codec, EncodedFrame, LiveTrack

__all__ = ["LiveRelay"]


class LiveRelay:
    """One publisher's frames of one ``codec``, fanned out to player tracks."""

    def __init__(self, codec: Codec, request_keyframe: Callable[[], object]) -> None:
        self.codec = codec
        self._request_keyframe = request_keyframe
        self.players: list[LiveTrack] = []
        self.frames = 0
        #: keyframe requests passed to the publisher (joins, drops, players' PLI/FIR)
        self.keyframe_requests = 0
        self.ended = False

    def request_keyframe(self) -> None:
        if self.ended or self.codec.is_audio:
            return
        self.keyframe_requests += 1
        self._request_keyframe()

    def new_track(self, max_queue: int = LIVE_QUEUE_FRAMES) -> LiveTrack:
        """A track for one player; it gets frames once :meth:`attach`\\ ed."""
        return LiveTrack(self.codec, max_queue=max_queue, on_keyframe_needed=self.request_keyframe)

    def attach(self, track: LiveTrack) -> None:
        """Start feeding ``track`` (its player is connected); video asks for a keyframe."""
        if self.ended:
            track.end()
            return
        if track not in self.players:
            self.players.append(track)
            self.request_keyframe()

    def detach(self, track: LiveTrack) -> None:
        if track in self.players:
            self.players.remove(track)

    def push(self, frame: EncodedFrame) -> None:
        """One frame from the publisher, to every attached player (never blocks)."""
        self.frames += 1
        for track in self.players:
            track.push(frame)

    def end(self) -> None:
        """The publisher is gone: every player's track ends (its sender sends a BYE)."""
        self.ended = True
        for track in self.players:
            track.end()
        self.players.clear()
