"""The sans-I/O RTP receiver: RTP packets in, frames out, with feedback to send.

:class:`RtpReceiver` keeps RFC 3550 reception statistics for the remote SSRC (A.1
validation, A.3 loss, A.8 jitter), feeds a :class:`~pyrtcstack.media.jitterbuffer.
JitterBuffer`, asks for missing packets with Generic NACKs (RFC 4585 §6.2.1) — each hole
at most :data:`MAX_NACKS_PER_PACKET` times, :data:`NACK_INTERVAL` apart — and, for video,
asks for a keyframe with a PLI (RFC 4585 §6.3.1) when a frame is lost for good.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..rtp import GenericNack, PictureLossIndication, ReceptionStatistics, ReportBlock, RtpPacket
from .codecs import Codec
from .errors import DepacketizeError
from .frames import EncodedFrame
from .jitterbuffer import DEFAULT_MAX_DELAY, MAX_PACKETS, JitterBuffer
from .payloads import depacketizer_for
from .rtx import unwrap_rtx

__all__ = [
    "MAX_NACKS_PER_PACKET",
    "MAX_NACK_ITEMS",
    "NACK_INTERVAL",
    "PLI_INTERVAL",
    "ReceiverStats",
    "RtpReceiver",
]

#: Seconds between two NACKs for the same missing packet.
NACK_INTERVAL = 0.05
#: How many times one missing packet is NACKed before the receiver gives up on it.
MAX_NACKS_PER_PACKET = 3
#: Most missing packets tracked for NACK at once.
MAX_NACK_ITEMS = 256
#: Minimum seconds between two PLIs.
PLI_INTERVAL = 0.5


@dataclass
class ReceiverStats:
    packets_received: int = 0
    wrong_ssrc: int = 0
    wrong_payload_type: int = 0
    rtx_received: int = 0
    rtx_empty: int = 0
    nacks_sent: int = 0
    plis_sent: int = 0


class RtpReceiver:
    """Receive one remote SSRC of one codec (see the module docstring)."""

    def __init__(
        self,
        codec: Codec,
        *,
        local_ssrc: int,
        remote_ssrc: int | None = None,
        payload_type: int | None = None,
        nack: bool = True,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_packets: int = MAX_PACKETS,
        rtx_payload_type: int | None = None,
    ) -> None:
        self.codec = codec
        #: RFC 4588: packets of this payload type are retransmissions (SSRC learned)
        self.rtx_payload_type = rtx_payload_type
        self.rtx_ssrc: int | None = None
        self.payload_type = codec.payload_type if payload_type is None else payload_type
        self.local_ssrc = local_ssrc
        self.remote_ssrc = remote_ssrc
        self.nack_enabled = nack
        self.stats = ReceiverStats()
        self.reception: ReceptionStatistics | None = None
        self.jitter_buffer = JitterBuffer(
            depacketizer_for(codec),
            frame_per_packet=codec.is_audio,
            max_delay=max_delay,
            max_packets=max_packets,
        )
        self.jitter_buffer.on_loss = self._on_loss
        self._nacks: dict[int, tuple[int, float]] = {}  # ext seq -> (times sent, next due)
        self._nack_due = float("inf")  # earliest "next due" in _nacks (a lower bound)
        self._pli_due = False
        self._last_pli = -1e9
        #: send PLIs (video only; the peer connection clears it unless ``nack pli`` was
        #: negotiated, RFC 4585 §4.2)
        self.pli_enabled = not codec.is_audio
        #: send a PLI as soon as the remote SSRC is known (the peer connection sets it)
        self.pli_on_start = False

    def _on_loss(self, first: int, last: int) -> None:
        for s in range(first, last + 1):
            self._nacks.pop(s, None)
        if not self.codec.is_audio:
            self._pli_due = True

    def receive_rtp(self, packet: RtpPacket, now: float) -> bool:
        """Account and buffer one packet; False if it is not for this receiver."""
        if self.rtx_payload_type is not None and packet.payload_type == self.rtx_payload_type:
            return self._receive_rtx(packet, now)
        if packet.payload_type != self.payload_type:
            self.stats.wrong_payload_type += 1
            return False
        if self.remote_ssrc is None:
            self.remote_ssrc = packet.ssrc
            # RFC 4585 §6.3.1: a receiver joining a stream may ask for a keyframe at once
            # (its first frames could depend on pictures it never saw)
            self._pli_due = self.pli_on_start and not self.codec.is_audio
        elif packet.ssrc != self.remote_ssrc:
            self.stats.wrong_ssrc += 1
            return False
        if self.reception is None:
            self.reception = ReceptionStatistics(packet.ssrc, self.codec.clock_rate)
        self.stats.packets_received += 1
        self.reception.update(packet.sequence_number, packet.timestamp, now, len(packet.payload))
        self._buffer(packet, now)
        return True

    def _receive_rtx(self, rtx: RtpPacket, now: float) -> bool:
        """RFC 4588 §4: unwrap and buffer the original; the original stream's statistics
        are not touched (the RTX stream is a different SSRC)."""
        if self.remote_ssrc is None:
            return False  # cannot know what it repairs yet
        if self.rtx_ssrc is None:
            self.rtx_ssrc = rtx.ssrc
        elif rtx.ssrc != self.rtx_ssrc:
            self.stats.wrong_ssrc += 1
            return False
        try:
            original = unwrap_rtx(rtx, self.payload_type, self.remote_ssrc)
        except DepacketizeError:
            self.stats.rtx_empty += 1  # padding-only probe
            return True
        self.stats.rtx_received += 1
        self._buffer(original, now)
        return True

    def _buffer(self, packet: RtpPacket, now: float) -> None:
        jb = self.jitter_buffer
        before = jb.highest
        ext = jb.push(packet, now)
        if ext < 0:
            return
        self._nacks.pop(ext, None)
        if self.nack_enabled and before >= 0 and ext > before + 1:
            # the new hole (before, ext): NACK at most MAX_NACK_ITEMS of its newest packets
            for s in range(max(before + 1, ext - MAX_NACK_ITEMS), ext):
                if len(self._nacks) >= MAX_NACK_ITEMS:
                    break
                self._nacks.setdefault(s, (0, now))
            self._nack_due = min(self._nack_due, now)

    def pop_frames(self, now: float) -> list[EncodedFrame]:
        frames = self.jitter_buffer.pop(now)
        nxt = self.jitter_buffer.next_sequence
        if frames and nxt is not None and self._nacks:
            for s in [s for s in self._nacks if s < nxt]:
                del self._nacks[s]
        return frames

    def nack(self, now: float) -> GenericNack | None:
        """A NACK for every hole that is due now, or None."""
        if now < self._nack_due or not self._nacks:
            return None  # O(1) on the common path: nothing due yet
        due = []
        next_due = float("inf")
        for s, (count, at) in list(self._nacks.items()):
            when = at
            if at <= now:
                due.append(s & 0xFFFF)
                if count + 1 >= MAX_NACKS_PER_PACKET:
                    del self._nacks[s]
                    continue
                when = now + NACK_INTERVAL
                self._nacks[s] = (count + 1, when)
            next_due = min(next_due, when)
        self._nack_due = next_due
        if not due or self.remote_ssrc is None:
            return None
        self.stats.nacks_sent += 1
        return GenericNack(self.local_ssrc, self.remote_ssrc, due)

    def pli(self, now: float) -> PictureLossIndication | None:
        if not self._pli_due or self.remote_ssrc is None or now - self._last_pli < PLI_INTERVAL:
            return None
        if not self.pli_enabled:
            self._pli_due = False
            return None
        self._pli_due = False
        self._last_pli = now
        self.stats.plis_sent += 1
        return PictureLossIndication(self.local_ssrc, self.remote_ssrc)

    def request_keyframe(self) -> None:
        self._pli_due = True

    def deadline(self) -> float | None:
        """The next time :meth:`pop_frames`/:meth:`nack`/:meth:`pli` have work."""
        times = [self._nack_due] if self._nacks else []
        jb = self.jitter_buffer.deadline()
        if jb is not None:
            times.append(jb)
        if self._pli_due and self.remote_ssrc is not None:
            times.append(self._last_pli + PLI_INTERVAL)
        return min(times) if times else None

    def receive_sender_report(self, ntp: int, now: float) -> None:
        if self.reception is not None:
            self.reception.receive_sr(ntp, now)

    def report_block(self, now: float) -> ReportBlock | None:
        return None if self.reception is None else self.reception.report_block(now)
