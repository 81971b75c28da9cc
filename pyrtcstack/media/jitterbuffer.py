"""A bounded jitter buffer: re-orders RTP packets, assembles frames, detects loss.

Packets are keyed by their *extended* sequence number (RFC 3550 A.1: 16-bit numbers
unwrapped against the highest seen). Frames leave strictly in order:

* the packet the buffer waits for (``next_seq``) is present → collect packets while the
  sequence numbers are contiguous and the timestamp stays the same; the frame is complete
  at the marker bit (video) or when the next packet has another timestamp;
* it is missing → wait: a retransmission (NACK) may still fill the hole. The wait ends
  when the oldest buffered packet has waited ``max_delay`` seconds or the buffer holds
  :data:`MAX_PACKETS` packets; then the hole is declared lost, counted, and the buffer
  skips to the next packet that starts a frame (dropping the damaged frame's pieces).

Late packets (behind ``next_seq``) and duplicates are dropped and counted. Time is the
caller's ``now``; :meth:`JitterBuffer.deadline` tells when :meth:`pop` should be called
again even if no packet arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..rtp import RtpPacket
from .errors import DepacketizeError
from .frames import EncodedFrame
from .payloads import Depacketizer

__all__ = ["DEFAULT_MAX_DELAY", "MAX_PACKETS", "JitterBuffer", "JitterBufferStats"]

#: Upper bound on buffered packets (a ~1 s burst of 1 Mbit/s video at 1,200-byte packets).
MAX_PACKETS = 512
#: Seconds a hole may stay open before it is declared lost (room for one NACK round trip).
DEFAULT_MAX_DELAY = 0.2


@dataclass
class JitterBufferStats:
    packets: int = 0
    frames: int = 0
    lost_packets: int = 0
    skipped_packets: int = 0
    late: int = 0
    duplicates: int = 0
    bad_payloads: int = 0
    overflows: int = 0


class JitterBuffer:
    """Re-order packets of one SSRC and hand out complete frames (see module docs)."""

    def __init__(
        self,
        depacketizer: Depacketizer,
        *,
        frame_per_packet: bool = False,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_packets: int = MAX_PACKETS,
    ) -> None:
        self.depacketizer = depacketizer
        self.frame_per_packet = frame_per_packet
        self.max_delay = max_delay
        self.max_packets = max_packets
        self.stats = JitterBufferStats()
        self._packets: dict[int, tuple[RtpPacket, float]] = {}
        # (arrival, ext seq) in arrival order, for an O(1) amortised deadline
        self._arrivals: deque[tuple[float, int]] = deque()
        self._next: int | None = None
        self._highest = -1
        self._after_loss = False
        self._started = False
        #: called with (first, last) extended seqs when a hole is given up (for stats/PLI)
        self.on_loss: Callable[[int, int], None] | None = None

    def extend(self, seq: int) -> int:
        """Unwrap a 16-bit sequence number against the highest seen (RFC 3550 A.1)."""
        if self._highest < 0:
            return seq
        base = self._highest & ~0xFFFF
        cand = base | seq
        if cand - self._highest > 0x8000:
            cand -= 0x10000
        elif self._highest - cand > 0x8000:
            cand += 0x10000
        return cand

    @property
    def next_sequence(self) -> int | None:
        return self._next

    @property
    def highest(self) -> int:
        """The highest extended sequence number buffered so far (-1 before any)."""
        return self._highest

    def missing(self) -> list[int]:
        """Extended sequence numbers that have not arrived, between the next expected one
        and the highest seen, looking at most ``max_packets`` ahead (bounded work)."""
        if self._next is None or not self._packets:
            return []
        end = min(self._highest, self._next + self.max_packets)
        return [s for s in range(self._next, end) if s not in self._packets]

    def push(self, packet: RtpPacket, now: float) -> int:
        """Add a packet; returns its extended sequence number (-1 if dropped)."""
        ext = self.extend(packet.sequence_number)
        if self._next is None or (not self._started and ext < self._next):
            # before the first frame leaves, an earlier packet moves the start back
            self._next = ext
        if ext < self._next:
            self.stats.late += 1
            return -1
        if ext in self._packets:
            self.stats.duplicates += 1
            return -1
        if ext - self._next >= 0x8000:
            self.stats.late += 1  # absurd jump: treat as garbage
            return -1
        self.stats.packets += 1
        self._packets[ext] = (packet, now)
        self._arrivals.append((now, ext))
        self._highest = max(self._highest, ext)
        return ext

    def deadline(self) -> float | None:
        """When the oldest waiting packet's hole must be given up, or None."""
        arrivals = self._arrivals
        packets = self._packets
        while arrivals and arrivals[0][1] not in packets:
            arrivals.popleft()  # already handed out or dropped
        if not arrivals:
            return None
        return arrivals[0][0] + self.max_delay

    def _drop_until_frame_start(self) -> None:
        """Drop buffered pieces of a frame whose beginning is gone, up to the next packet
        that starts a frame (or the next hole)."""
        assert self._next is not None
        while self._next in self._packets:
            pkt, _ = self._packets[self._next]
            if self.depacketizer.is_frame_start(pkt.payload):
                return
            del self._packets[self._next]
            self.stats.skipped_packets += 1
            self._next += 1

    def _skip_hole(self) -> None:
        """Give up the hole at ``next_seq`` (and any further holes met while dropping the
        remains of damaged frames): count the lost packets, move to a frame start."""
        assert self._next is not None
        self._after_loss = True
        while self._packets and self._next not in self._packets:
            first = min(self._packets)
            lost = first - self._next
            if lost > 0:
                self.stats.lost_packets += lost
                if self.on_loss is not None:
                    self.on_loss(self._next, first - 1)
            self._next = first
            self._drop_until_frame_start()

    def _take_frame(self) -> EncodedFrame | None:
        """Assemble the frame starting at ``next_seq`` if it is complete."""
        assert self._next is not None
        start = self._next
        first, _ = self._packets[start]
        seq = start
        while True:
            pkt, _ = self._packets[seq]
            end_here = self.frame_per_packet or pkt.marker
            if not end_here:
                nxt = self._packets.get(seq + 1)
                if nxt is None:
                    return None  # wait for more
                if nxt[0].timestamp != first.timestamp:
                    end_here = True
            if end_here:
                break
            seq += 1
        packets = [self._packets.pop(s)[0] for s in range(start, seq + 1)]
        self._next = seq + 1
        after_loss, self._after_loss = self._after_loss, False
        try:
            data, keyframe = self.depacketizer.assemble([p.payload for p in packets])
        except DepacketizeError:
            self.stats.bad_payloads += 1
            self._after_loss = True
            return None
        self.stats.frames += 1
        return EncodedFrame(data, first.timestamp, keyframe, start, seq, after_loss)

    def pop(self, now: float) -> list[EncodedFrame]:
        """Every frame that is complete at ``now``, in order; gives up holes that are older
        than ``max_delay`` or when the buffer is over its bound."""
        out: list[EncodedFrame] = []
        if not self._started:
            # Startup: hold the first packets for max_delay so that packets reordered
            # around the very first one are not dropped as late, then start at a frame.
            deadline = self.deadline()
            if deadline is None or now < deadline:
                return out
            self._started = True
            self._next = min(self._packets)
            self._drop_until_frame_start()
        while self._packets and self._next is not None:
            if self._next in self._packets:
                before = self._next
                frame = self._take_frame()
                if frame is not None:
                    out.append(frame)
                    continue
                if self._next != before:
                    continue  # a bad frame was dropped; go on
            overflow = len(self._packets) > self.max_packets
            if overflow:
                self.stats.overflows += 1
            deadline = self.deadline()
            if overflow or (deadline is not None and now >= deadline):
                if self._next in self._packets:
                    # an incomplete frame at the head is blocking: drop all its pieces
                    self._packets.pop(self._next)
                    self.stats.skipped_packets += 1
                    self._next += 1
                    self._after_loss = True
                    self._drop_until_frame_start()
                if self._packets and self._next not in self._packets:
                    self._skip_hole()
                continue
            break
        return out
