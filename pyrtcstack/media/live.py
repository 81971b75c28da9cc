"""A track fed live by a producer (a relay, a capture), pulled by a sender's frame clock.

A file track always has its next frame; a live one may not: the frames come when the
publisher sends them. :class:`LiveTrack` sits between the two clocks. The producer
:meth:`~LiveTrack.push`\\ es frames as they arrive; the media endpoint pulls
:meth:`~LiveTrack.next_frame` every ``frame_duration`` (the poll interval) and gets a
frame, :data:`~pyrtcstack.media.sources.NOT_YET` (nothing now) or None (the producer
:meth:`~LiveTrack.end`\\ ed the track).

Rules that keep one slow consumer from hurting anyone:

* The queue is bounded (``max_queue`` frames). :meth:`push` never blocks and never
  fails: a full queue drops, counted in :attr:`LiveTrack.dropped`. Audio drops the
  oldest frame (a short gap). Video drops the whole queue and waits for the next
  keyframe (a picture after a lost one cannot be decoded) and asks the producer for one.
* Video starts at a keyframe: frames pushed before the first keyframe are skipped
  (counted in :attr:`LiveTrack.skipped`), and ``on_keyframe_needed`` is called so the
  producer can ask its source for one (a PLI, RFC 4585 §6.3.1, or a FIR, RFC 5104
  §4.3.1). A keyframe request from our own peer (a PLI/FIR reaching our sender raises
  :meth:`request_keyframe`) is passed on the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .codecs import Codec
from .errors import MediaUsageError
from .frames import EncodedFrame
from .sources import NOT_YET, NotYet

__all__ = ["LIVE_POLL_INTERVAL", "LIVE_QUEUE_FRAMES", "LiveTrack"]

#: Seconds between two pulls by the sender: the most a frame waits in the queue when the
#: sender keeps up (frames arrive at most every 10 ms for 100 fps video / 10 ms audio).
LIVE_POLL_INTERVAL = 0.01
#: Frames a live track holds for a consumer that falls behind (2 s of 30 fps video,
#: 1.2 s of 20 ms audio); beyond it frames are dropped, never buffered without bound.
LIVE_QUEUE_FRAMES = 60


class LiveTrack:
    """Frames of ``codec`` pushed live and pulled by a sender (see the module docs)."""

    def __init__(
        self,
        codec: Codec,
        *,
        max_queue: int = LIVE_QUEUE_FRAMES,
        poll_interval: float = LIVE_POLL_INTERVAL,
        on_keyframe_needed: Callable[[], None] | None = None,
    ) -> None:
        if max_queue < 1 or not poll_interval > 0:
            raise MediaUsageError("LiveTrack needs max_queue >= 1 and poll_interval > 0")
        self.codec = codec
        self.frame_duration = poll_interval
        #: as :class:`~pyrtcstack.media.sources.EncodedTrack`: PLI/FIR from our peer
        self.keyframe_requested = False
        self.keyframe_requests = 0
        self.max_queue = max_queue
        self.on_keyframe_needed = on_keyframe_needed
        self._queue: deque[EncodedFrame] = deque()
        #: video waits for a keyframe before it sends anything (and after a drop)
        self.waiting_for_keyframe = not codec.is_audio
        self.ended = False
        #: frames pushed, sent on, dropped because the queue was full, skipped while
        #: waiting for a keyframe
        self.pushed = 0
        self.pulled = 0
        self.dropped = 0
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def _need_keyframe(self) -> None:
        if self.on_keyframe_needed is not None:
            self.on_keyframe_needed()

    def push(self, frame: EncodedFrame) -> None:
        """Queue one frame for the sender; never blocks (see the module docs)."""
        if self.ended:
            return
        self.pushed += 1
        if self.waiting_for_keyframe:
            if not frame.keyframe:
                self.skipped += 1
                return
            self.waiting_for_keyframe = False
        if len(self._queue) >= self.max_queue:
            if self.codec.is_audio:
                self._queue.popleft()
                self.dropped += 1
            else:
                # the frames after a dropped one reference it: drop them all, restart at
                # the next keyframe (this one if it is one) and ask for it
                self.dropped += len(self._queue)
                self._queue.clear()
                if not frame.keyframe:
                    self.dropped += 1
                    self.waiting_for_keyframe = True
                    self._need_keyframe()
                    return
        self._queue.append(frame)

    def end(self) -> None:
        """No more frames: what is queued is still sent, then the sender ends (BYE)."""
        self.ended = True

    def request_keyframe(self) -> None:
        """Our peer asked for a keyframe (PLI/FIR): pass the request to the producer."""
        self.keyframe_requested = True
        self.keyframe_requests += 1
        self._need_keyframe()

    def next_frame(self) -> EncodedFrame | NotYet | None:
        if self._queue:
            self.pulled += 1
            return self._queue.popleft()
        return None if self.ended else NOT_YET
