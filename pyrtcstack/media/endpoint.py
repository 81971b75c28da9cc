"""A media endpoint core: one outgoing track and/or one incoming stream on one 5-tuple.

:class:`MediaEndpoint` is a :class:`~pyrtcstack.common.core.DatagramCore`. It pulls frames
from its track on a timer, sends RTP (through SRTP when a session is given), demultiplexes
what arrives (RFC 7983 first byte, RFC 5761 RTP/RTCP), feeds the receiver and answers
feedback:

* every ``rtcp_interval`` seconds (randomised ×[0.5, 1.5], RFC 3550 §6.2) a compound
  packet: SR if we send, else RR, with the report block of the stream we receive, and an
  SDES CNAME (RFC 3550 §6.1);
* a Generic NACK when the receiver finds holes, a PLI when a video frame is lost for good;
* a retransmission of the same packet when the peer NACKs it, a
  :class:`KeyframeRequested` event on PLI/FIR.

It is the piece the peer connection composes per transceiver; alone it is also a simple
RTP tool (plain RTP when ``srtp`` is None). Bad datagrams are dropped and counted in
:attr:`MediaEndpoint.counters`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from ..common.core import Address, Event, default_rng
from ..common.errors import ParseError
from ..demux import PacketKind, classify
from ..rtp import (
    SDES_CNAME,
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpPacket,
    SdesChunk,
    parse_rtcp,
    serialize_rtcp,
)
from ..srtp import SrtpSession
from .codecs import Codec
from .frames import EncodedFrame
from .receiver import RtpReceiver
from .sender import DEFAULT_MTU, RtpSender
from .sources import NotYet, Track

__all__ = [
    "MAX_BURST_FRAMES",
    "MAX_EVENTS",
    "RTCP_INTERVAL",
    "ByeReceived",
    "FrameReceived",
    "KeyframeRequested",
    "MediaEndpoint",
    "ReportReceived",
    "TrackEnded",
]

#: Default mean RTCP report interval in seconds (RFC 3550 §6.2 minimum is 5 s for plain
#: RTP; AVPF/WebRTC peers report more often — the caller may pass 5.0).
RTCP_INTERVAL = 1.0
#: Bound on queued events; the oldest frame events are dropped (and counted) beyond it.
MAX_EVENTS = 1024
#: Most frames sent in one timer call when the driver is late; beyond it the frame clock
#: restarts from ``now`` instead of bursting the backlog.
MAX_BURST_FRAMES = 10


@dataclass(frozen=True, slots=True)
class FrameReceived(Event):
    frame: EncodedFrame


@dataclass(frozen=True, slots=True)
class KeyframeRequested(Event):
    """The peer sent a PLI or a new FIR for our SSRC."""

    ssrc: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReportReceived(Event):
    """An SR or RR arrived; ``round_trip_time`` is updated when it reported on us."""

    packet: RtcpSenderReport | RtcpReceiverReport
    round_trip_time: float | None


@dataclass(frozen=True, slots=True)
class ByeReceived(Event):
    sources: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TrackEnded(Event):
    """Our track has no more frames (a BYE was sent)."""


@dataclass
class EndpointCounters:
    datagrams_received: int = 0
    dropped_demux: int = 0
    dropped_srtp: int = 0
    dropped_rtp_parse: int = 0
    dropped_rtcp_parse: int = 0
    dropped_not_ours: int = 0
    rtcp_sent: int = 0
    rtcp_received: int = 0
    events_dropped: int = 0
    frame_clock_resets: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class MediaEndpoint:
    """Send one track and/or receive one stream to/from ``remote`` (see module docs)."""

    def __init__(
        self,
        remote: Address,
        *,
        track: Track | None = None,
        receive_codec: Codec | None = None,
        srtp: SrtpSession | None = None,
        rng: random.Random | None = None,
        cname: str | None = None,
        rtcp_interval: float = RTCP_INTERVAL,
        start_at: float = 0.0,
        nack: bool = True,
        ntp_offset: float = 0.0,
        mtu: int | None = None,
        rtx_payload_type: int | None = None,
        ssrc: int | None = None,
        payload_type: int | None = None,
    ) -> None:
        """``ssrc`` fixes our SSRC (random otherwise); ``payload_type`` overrides the
        codecs' default payload type in both directions (the SDP-negotiated one)."""
        self.rng = default_rng(rng)
        self.remote = remote
        self.track = track
        self.srtp = srtp
        if cname is None:
            # RFC 7022 §4.2: a short-term CNAME, 96 random bits (16 base64-like chars)
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            cname = "".join(self.rng.choice(alphabet) for _ in range(16))
        self.cname = cname.encode()
        self.rtcp_interval = rtcp_interval
        #: NTP seconds = now + ntp_offset (the core reads no wall clock; LSR/DLSR only need
        #: a consistent clock on each side).
        self.ntp_offset = ntp_offset
        self.counters = EndpointCounters()
        self.sender: RtpSender | None = None
        if track is not None:
            self.sender = RtpSender(
                track.codec,
                ssrc=ssrc,
                payload_type=payload_type,
                rng=self.rng,
                mtu=DEFAULT_MTU if mtu is None else mtu,
                rtx_payload_type=rtx_payload_type,
            )
        if self.sender is not None:
            self.local_ssrc = self.sender.ssrc
        else:
            self.local_ssrc = self.rng.getrandbits(32) if ssrc is None else ssrc
        self.receiver: RtpReceiver | None = None
        if receive_codec is not None:
            self.receiver = RtpReceiver(
                receive_codec,
                local_ssrc=self.local_ssrc,
                payload_type=payload_type,
                nack=nack,
                rtx_payload_type=rtx_payload_type,
            )
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self._next_frame: float | None = start_at if track is not None else None
        self._next_rtcp = start_at + self._interval()
        self._ended = False

    # helpers ------------------------------------------------------------------------
    def _interval(self) -> float:
        return self.rtcp_interval * self.rng.uniform(0.5, 1.5)

    def _emit(self, event: Event) -> None:
        if len(self._events) >= MAX_EVENTS:
            self._events.popleft()
            self.counters.events_dropped += 1
        self._events.append(event)

    def _send_rtp(self, data: bytes) -> None:
        if self.srtp is not None:
            data = self.srtp.protect_rtp(data)
        self._out.append((data, self.remote))

    def _send_rtcp(self, packets: list[RtcpPacket]) -> None:
        data = serialize_rtcp(packets)
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data)
        self.counters.rtcp_sent += 1
        self._out.append((data, self.remote))

    def _report(self, now: float) -> RtcpSenderReport | RtcpReceiverReport:
        blocks = []
        if self.receiver is not None:
            block = self.receiver.report_block(now)
            if block is not None:
                blocks.append(block)
        if self.sender is not None and self.sender.stats.packets_sent and not self._ended:
            sr = self.sender.sender_report(now, now + self.ntp_offset)
            sr.reports = blocks
            return sr
        return RtcpReceiverReport(self.local_ssrc, blocks)

    def _sdes(self) -> RtcpSdes:
        return RtcpSdes([SdesChunk(self.local_ssrc, [(SDES_CNAME, self.cname)])])

    # DatagramCore -------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.counters.datagrams_received += 1
        kind = classify(data)
        self.counters.kinds[kind.name] = self.counters.kinds.get(kind.name, 0) + 1
        if kind is PacketKind.RTP:
            self._receive_rtp(data, now)
        elif kind is PacketKind.RTCP:
            self._receive_rtcp(data, now)
        else:
            self.counters.dropped_demux += 1
        self._flush_receiver(now)

    def _receive_rtp(self, data: bytes, now: float) -> None:
        if self.srtp is not None:
            try:
                data = self.srtp.unprotect_rtp(data)
            except ParseError:
                self.counters.dropped_srtp += 1
                return
        try:
            packet = RtpPacket.parse(data)
        except ParseError:
            self.counters.dropped_rtp_parse += 1
            return
        if self.receiver is None or not self.receiver.receive_rtp(packet, now):
            self.counters.dropped_not_ours += 1

    def _receive_rtcp(self, data: bytes, now: float) -> None:
        if self.srtp is not None:
            try:
                data = self.srtp.unprotect_rtcp(data)
            except ParseError:
                self.counters.dropped_srtp += 1
                return
        try:
            packets = parse_rtcp(data)
        except ParseError:
            self.counters.dropped_rtcp_parse += 1
            return
        self.counters.rtcp_received += 1
        sender = self.sender
        for pkt in packets:
            if isinstance(pkt, (RtcpSenderReport, RtcpReceiverReport)):
                receiver = self.receiver
                if (
                    isinstance(pkt, RtcpSenderReport)
                    and receiver is not None
                    and pkt.ssrc == receiver.remote_ssrc
                ):
                    receiver.receive_sender_report(pkt.ntp_timestamp, now)
                rtt = None
                if sender is not None:
                    for block in pkt.reports:
                        if block.ssrc == sender.ssrc:
                            sender.handle_report_block(block, now + self.ntp_offset)
                            rtt = sender.stats.round_trip_time
                self._emit(ReportReceived(pkt, rtt))
            elif sender is None:
                continue
            elif isinstance(pkt, GenericNack) and pkt.media_ssrc == sender.ssrc:
                for data_ in sender.handle_nack(pkt):
                    self._send_rtp(data_)
            elif isinstance(pkt, PictureLossIndication) and pkt.media_ssrc == sender.ssrc:
                sender.handle_pli(pkt)
                self._emit(KeyframeRequested(sender.ssrc, "PLI"))
            elif isinstance(pkt, FullIntraRequest) and sender.handle_fir(pkt):
                self._emit(KeyframeRequested(sender.ssrc, "FIR"))
            if isinstance(pkt, RtcpBye):
                self._emit(ByeReceived(tuple(pkt.sources)))

    def _flush_receiver(self, now: float) -> None:
        receiver = self.receiver
        if receiver is None:
            return
        for frame in receiver.pop_frames(now):
            self._emit(FrameReceived(frame))
        feedback: list[RtcpPacket] = []
        nack = receiver.nack(now)
        if nack is not None:
            feedback.append(nack)
        pli = receiver.pli(now)
        if pli is not None:
            feedback.append(pli)
        if feedback:
            # compound with an (empty) RR first, so peers without rtcp-rsize accept it
            self._send_rtcp([RtcpReceiverReport(self.local_ssrc), *feedback])

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        times = []
        if self._rtcp_active():
            times.append(self._next_rtcp)
        if self._next_frame is not None:
            times.append(self._next_frame)
        if self.receiver is not None:
            d = self.receiver.deadline()
            if d is not None:
                times.append(d)
        return min(times) if times else None

    def _rtcp_active(self) -> bool:
        """Periodic reports run while we send, or while we receive (RFC 3550 §6.3.7:
        after our BYE we stop reporting as a sender)."""
        return self.receiver is not None or not self._ended

    def handle_timer(self, now: float) -> None:
        if self._next_frame is not None and now >= self._next_frame:
            self._send_frames(now)
        self._flush_receiver(now)
        if self._rtcp_active() and now >= self._next_rtcp:
            self._send_rtcp([self._report(now), self._sdes()])
            self._next_rtcp = now + self._interval()

    def _send_frames(self, now: float) -> None:
        assert self.track is not None and self.sender is not None
        sent = 0
        while self._next_frame is not None and now >= self._next_frame:
            if sent == MAX_BURST_FRAMES:
                # the driver fell far behind (a stalled loop): do not flood the network,
                # resume the frame clock from now
                self._next_frame = now + self.track.frame_duration
                self.counters.frame_clock_resets += 1
                return
            sent += 1
            frame = self.track.next_frame()
            if isinstance(frame, NotYet):
                # a live track with nothing yet: poll again one frame_duration later
                self._next_frame += self.track.frame_duration
                continue
            if frame is None:
                self._next_frame = None
                self._ended = True
                self._send_rtcp([self._report(now), self._sdes(), RtcpBye([self.sender.ssrc])])
                self._emit(TrackEnded())
                return
            for data in self.sender.send_frame(frame, now):
                self._send_rtp(data)
            self._next_frame += self.track.frame_duration

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None
