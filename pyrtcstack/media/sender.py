"""The sans-I/O RTP sender: frames in, RTP packets out, RTCP feedback handled.

:class:`RtpSender` numbers packets (random initial sequence number and timestamp offset,
RFC 3550 §5.1), keeps the last :data:`NACK_HISTORY` packets for retransmission on a
Generic NACK (RFC 4585 §6.2.1), counts packets and payload octets for its sender reports
(RFC 3550 §6.4.1), computes the round-trip time from report blocks (LSR/DLSR), and
surfaces PLI (RFC 4585 §6.3.1) and FIR (RFC 5104 §4.3.1, repeated sequence numbers
ignored) as keyframe requests.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass

from ..common.core import default_rng
from ..rtp import (
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    ReportBlock,
    RtcpSenderReport,
    RtpPacket,
    ntp_middle32,
    ntp_timestamp,
)
from .codecs import Codec
from .frames import EncodedFrame
from .payloads import packetizer_for
from .rtx import wrap_rtx

__all__ = ["DEFAULT_MTU", "NACK_HISTORY", "RtpSender", "SenderStats"]

#: Packets kept for NACK retransmission (about 2 s of 2 Mbit/s video).
NACK_HISTORY = 512
#: Largest RTP payload we produce (leaves room for headers, SRTP and IPv6/UDP/TURN).
DEFAULT_MTU = 1100


@dataclass
class SenderStats:
    packets_sent: int = 0
    octets_sent: int = 0
    frames_sent: int = 0
    retransmissions: int = 0
    nacks_received: int = 0
    nacked_not_in_history: int = 0
    plis_received: int = 0
    firs_received: int = 0
    round_trip_time: float | None = None
    last_report: ReportBlock | None = None


class RtpSender:
    """Packetise frames of one codec on one SSRC (see the module docstring)."""

    def __init__(
        self,
        codec: Codec,
        *,
        ssrc: int | None = None,
        payload_type: int | None = None,
        rng: random.Random | None = None,
        mtu: int = DEFAULT_MTU,
        history: int = NACK_HISTORY,
        extensions: dict[int, bytes] | None = None,
        rtx_payload_type: int | None = None,
        rtx_ssrc: int | None = None,
    ) -> None:
        rng = default_rng(rng)
        self.codec = codec
        self.payload_type = codec.payload_type if payload_type is None else payload_type
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self.mtu = mtu
        self.history_size = history
        self.extensions = dict(extensions or {})
        self.stats = SenderStats()
        self._packetizer = packetizer_for(codec)
        self._seq = rng.getrandbits(16)
        self._ts_offset = rng.getrandbits(32)
        self._history: OrderedDict[int, bytes] = OrderedDict()
        #: RFC 4588 RTX: retransmit on this payload type and SSRC instead of repeating
        self.rtx_payload_type = rtx_payload_type
        self.rtx_ssrc = (
            None
            if rtx_payload_type is None
            else rng.getrandbits(32)
            if rtx_ssrc is None
            else rtx_ssrc
        )
        self._rtx_seq = rng.getrandbits(16)
        self._last_ts: int | None = None
        self._last_time = 0.0
        self._fir_seen: dict[int, int] = {}
        self.keyframe_requested = False

    @property
    def next_sequence_number(self) -> int:
        return self._seq

    def rtp_timestamp(self, frame_timestamp: int) -> int:
        return (frame_timestamp + self._ts_offset) & 0xFFFFFFFF

    def send_frame(self, frame: EncodedFrame, now: float) -> list[bytes]:
        """RTP packets for one frame; the marker bit is set on its last packet (the end of
        a video frame, RFC 7741 §4.1 / RFC 6184 §5.1; the first packet of a talkspurt
        for audio is left unmarked)."""
        payloads = self._packetizer.packetize(frame.data, self.mtu)
        ts = self.rtp_timestamp(frame.timestamp)
        video = not self.codec.is_audio
        out = []
        for i, payload in enumerate(payloads):
            pkt = RtpPacket(
                self.payload_type,
                self._seq,
                ts,
                self.ssrc,
                payload,
                marker=video and i == len(payloads) - 1,
                extensions=self.extensions,
            )
            data = pkt.serialize()
            self._history[self._seq] = data
            if len(self._history) > self.history_size:
                self._history.popitem(last=False)
            self._seq = (self._seq + 1) & 0xFFFF
            self.stats.packets_sent += 1
            self.stats.octets_sent += len(payload)
            out.append(data)
        self.stats.frames_sent += 1
        self._last_ts = ts
        self._last_time = now
        if frame.keyframe:
            self.keyframe_requested = False
        return out

    def handle_nack(self, nack: GenericNack) -> list[bytes]:
        """Retransmit what the history still holds (RFC 4585 §6.2.1): the same bytes, or
        an RTX packet (RFC 4588 §4) when an RTX payload type is configured."""
        self.stats.nacks_received += 1
        out = []
        for seq in nack.lost:
            data = self._history.get(seq)
            if data is None:
                self.stats.nacked_not_in_history += 1
                continue
            self.stats.retransmissions += 1
            if self.rtx_payload_type is not None and self.rtx_ssrc is not None:
                rtx = wrap_rtx(
                    RtpPacket.parse(data), self.rtx_payload_type, self.rtx_ssrc, self._rtx_seq
                )
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                data = rtx.serialize()
            out.append(data)
        return out

    def handle_pli(self, pli: PictureLossIndication) -> bool:
        self.stats.plis_received += 1
        self.keyframe_requested = True
        return True

    def handle_fir(self, fir: FullIntraRequest) -> bool:
        """RFC 5104 §4.3.1.2: a FIR with the sequence number already seen from that
        sender is a repetition and MUST NOT trigger another keyframe."""
        for entry in fir.entries:
            if entry.ssrc != self.ssrc:
                continue
            self.stats.firs_received += 1
            if self._fir_seen.get(fir.sender_ssrc) == entry.sequence:
                return False
            self._fir_seen[fir.sender_ssrc] = entry.sequence
            self.keyframe_requested = True
            return True
        return False

    def handle_report_block(self, block: ReportBlock, ntp_seconds: float) -> None:
        """RFC 3550 §6.4.1: RTT = A - LSR - DLSR in 1/65536 s (A = arrival, NTP)."""
        self.stats.last_report = block
        if block.lsr:
            a = ntp_middle32(ntp_timestamp(ntp_seconds))
            rtt = (a - block.lsr - block.dlsr) & 0xFFFFFFFF
            if rtt < 0x80000000:
                self.stats.round_trip_time = rtt / 65536

    def sender_report(self, now: float, ntp_seconds: float) -> RtcpSenderReport:
        """An SR whose RTP timestamp corresponds to ``now`` (extrapolated from the last
        frame sent), with this sender's packet and payload octet counts."""
        if self._last_ts is None:
            rtp_ts = self._ts_offset
        else:
            rtp_ts = self._last_ts + round((now - self._last_time) * self.codec.clock_rate)
        return RtcpSenderReport(
            self.ssrc,
            ntp_timestamp(ntp_seconds),
            rtp_ts & 0xFFFFFFFF,
            self.stats.packets_sent,
            self.stats.octets_sent,
        )
