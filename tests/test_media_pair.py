"""A sender and a receiver MediaEndpoint on the virtual-clock MemoryNetwork, under loss,
reordering and jitter: NACK repairs loss, the jitter buffer orders frames, SR/RR carry
the right statistics, SRTP protects it all."""

from __future__ import annotations

import itertools
import random

import pytest

from pyrtcstack.common import Address
from pyrtcstack.media import (
    PCMU,
    VP8,
    EncodedFrame,
    EncodedTrack,
    FrameReceived,
    G711Track,
    KeyframeRequested,
    MediaEndpoint,
    ReportReceived,
    ToneSource,
    TrackEnded,
)
from pyrtcstack.media.g711 import ulaw_encode
from pyrtcstack.rtp import RtcpSenderReport
from pyrtcstack.srtp import SRTP_AEAD_AES_128_GCM, SrtpSession, split_keying_material
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

A: Address = ("10.0.0.1", 5000)
B: Address = ("10.0.0.2", 5000)


def tone_frames(seconds: float) -> list[bytes]:
    src = ToneSource(440, duration=seconds)
    out = []
    while (f := src.read()) is not None:
        out.append(ulaw_encode(f.pcm))
    return out


def video_frames(n: int, seed: int = 7) -> list[EncodedFrame]:
    rng = random.Random(seed)
    frames = []
    for i in range(n):
        key = i % 30 == 0
        size = rng.randint(3000, 6000) if key else rng.randint(200, 2500)
        body = bytes([0x00 if key else 0x01]) + rng.randbytes(size - 1)  # P bit: 0 = key
        frames.append(EncodedFrame(body, i * 3000, keyframe=key))
    return frames


def run_pair(net: MemoryNetwork, a: MediaEndpoint, b: MediaEndpoint, extra: float = 1.0) -> None:
    net.add(A, a)
    net.add(B, b)
    done_at: list[float] = []

    def until() -> bool:
        if not done_at and any(isinstance(e, TrackEnded) for e in net.events[A]):
            done_at.append(net.now)
        return bool(done_at) and net.now >= done_at[0] + extra

    assert net.run(until=until, timeout=120)


def received(net: MemoryNetwork, addr: Address) -> list[EncodedFrame]:
    return [e.frame for e in net.events[addr] if isinstance(e, FrameReceived)]


def test_nack_repairs_audio_loss_under_reordering() -> None:
    net = MemoryNetwork(Impairment(loss=0.1, reorder=0.1, delay=0.02, jitter=0.01), seed=3)
    a = MediaEndpoint(B, track=G711Track(ToneSource(440, duration=10), PCMU), rng=random.Random(1))
    b = MediaEndpoint(A, receive_codec=PCMU, rng=random.Random(2))
    run_pair(net, a, b)
    frames = received(net, B)
    assert [f.data for f in frames] == tone_frames(10)  # every frame, in order, intact
    assert [f.timestamp for f in frames] == sorted(f.timestamp for f in frames)
    assert net.dropped > 40
    assert a.sender is not None and a.sender.stats.retransmissions > 40
    assert b.receiver is not None and b.receiver.jitter_buffer.stats.lost_packets == 0
    assert b.receiver.stats.nacks_sent > 0


def test_rr_statistics_and_rtt_are_exact() -> None:
    dropped: list[int] = []
    first: list[int] = []

    def drop(data: bytes, src: Address, dst: Address) -> bool:
        # drop every 10th RTP packet, the 8th, 18th, ... (RTCP is kept)
        if dst == B and data[1] == 0:
            seq = int.from_bytes(data[2:4], "big")
            if not first:
                first.append(seq)
            if (seq - first[0]) % 10 == 7:
                dropped.append(seq)
                return True
        return False

    net = MemoryNetwork(Impairment(delay=0.02, drop_if=drop), seed=1)
    a = MediaEndpoint(
        B,
        track=G711Track(ToneSource(440, duration=5), PCMU),
        rng=random.Random(5),
        ntp_offset=3_900_000_000.0,
    )
    b = MediaEndpoint(A, receive_codec=PCMU, rng=random.Random(6), nack=False)
    run_pair(net, a, b, extra=0.5)
    assert a.sender is not None and b.receiver is not None
    sent = a.sender.stats.packets_sent
    assert sent == 250 and a.sender.stats.octets_sent == 250 * 160
    first_seq = a.sender.next_sequence_number - sent
    # RFC 3550 A.1: the first packet is the probation packet; counting starts at the 2nd
    assert first == [first_seq & 0xFFFF]
    lost_after_first = dropped
    stats = b.receiver.reception
    assert stats is not None
    assert stats.expected == sent - 1
    assert stats.received == sent - 1 - len(lost_after_first)
    block = stats.report_block(net.now)
    assert block.cumulative_lost == len(lost_after_first) == 25
    # fraction over the interval since the last RR that went out
    assert block.highest_sequence & 0xFFFF == (first_seq + sent - 1) & 0xFFFF
    assert block.jitter == 0  # constant delay and frames exactly on their timestamps
    # the reports A received about itself: fraction lost stays near 10 % (26/256)
    reports = [e for e in net.events[A] if isinstance(e, ReportReceived)]
    fractions = [r.packet.reports[0].fraction_lost for r in reports if r.packet.reports]
    assert fractions and all(20 <= f <= 32 for f in fractions[1:])
    # RTT = A - LSR - DLSR with 20 ms each way
    assert a.sender.stats.round_trip_time is not None
    assert abs(a.sender.stats.round_trip_time - 0.04) < 3 / 65536
    # B's SRs? B only receives: it sends RRs. A's SR: RTP timestamp matches its NTP time.
    srs = [p for p in _rtcp_sent_by(net, A) if isinstance(p, RtcpSenderReport)]
    assert srs and all(sr.packet_count <= sent for sr in srs)


def _rtcp_sent_by(net: MemoryNetwork, addr: Address) -> list[object]:
    from pyrtcstack.demux import is_rtcp
    from pyrtcstack.rtp import parse_rtcp

    out: list[object] = []
    for d in net.sent:
        if d.src == addr and is_rtcp(d.data):
            out.extend(parse_rtcp(d.data))
    return out


def test_jitter_is_rfc3550_a8_of_arrivals() -> None:
    arrivals: list[tuple[float, int]] = []
    net = MemoryNetwork(Impairment(delay=0.03, jitter=0.02), seed=11)
    a = MediaEndpoint(B, track=G711Track(ToneSource(300, duration=3), PCMU), rng=random.Random(8))
    b = MediaEndpoint(A, receive_codec=PCMU, rng=random.Random(9), nack=False)
    original = b.receive_datagram

    def spy(data: bytes, addr: Address, now: float) -> None:
        if data[1] == 0:
            arrivals.append((now, int.from_bytes(data[4:8], "big")))
        original(data, addr, now)

    b.receive_datagram = spy  # type: ignore[method-assign]
    run_pair(net, a, b)
    j = 0.0
    # probation: jitter accounting starts with the second packet
    transits = [now * 8000 - ts for now, ts in arrivals[1:]]
    for prev, cur in itertools.pairwise(transits):
        j += (abs(cur - prev) - j) / 16
    assert b.receiver is not None and b.receiver.reception is not None
    assert abs(b.receiver.reception.jitter - j) < 1e-6
    assert 20 < j < 200  # 20 ms of uniform jitter is ~53 ticks mean |D| at 8 kHz


def test_video_frames_reordered_and_repaired() -> None:
    frames = video_frames(120)
    net = MemoryNetwork(Impairment(loss=0.05, reorder=0.3, delay=0.01, jitter=0.02), seed=5)
    a = MediaEndpoint(B, track=EncodedTrack(VP8, frames, 1 / 30), rng=random.Random(3))
    b = MediaEndpoint(A, receive_codec=VP8, rng=random.Random(4))
    run_pair(net, a, b)
    got = received(net, B)
    assert [f.data for f in got] == [f.data for f in frames]
    assert [f.keyframe for f in got] == [f.keyframe for f in frames]
    assert a.sender is not None and a.sender.stats.retransmissions > 0


def test_video_loss_without_nack_skips_frames_and_asks_keyframe() -> None:
    frames = video_frames(90)
    by_ts = {f.timestamp: f.data for f in frames}
    net = MemoryNetwork(Impairment(loss=0.05, reorder=0.2, delay=0.01, jitter=0.01), seed=9)
    a = MediaEndpoint(B, track=EncodedTrack(VP8, frames, 1 / 30), rng=random.Random(3))
    b = MediaEndpoint(A, receive_codec=VP8, rng=random.Random(4), nack=False)
    run_pair(net, a, b)
    got = received(net, B)
    assert a.sender is not None
    base = a.sender.rtp_timestamp(0)
    rel = [(f.timestamp - base) & 0xFFFFFFFF for f in got]
    assert rel == sorted(rel) and len(set(rel)) == len(rel)  # in order, no repeats
    assert all(f.data == by_ts[t] for f, t in zip(got, rel, strict=True))  # never corrupt
    assert len(got) < len(frames)
    assert any(f.after_loss for f in got)
    assert b.receiver is not None and b.receiver.stats.plis_sent > 0
    assert any(isinstance(e, KeyframeRequested) and e.reason == "PLI" for e in net.events[A])


def test_srtp_protected_pair_and_garbage_counted() -> None:
    material = random.Random(42).randbytes(SRTP_AEAD_AES_128_GCM.exporter_length)
    keys = split_keying_material(material, SRTP_AEAD_AES_128_GCM)
    net = MemoryNetwork(Impairment(loss=0.05, delay=0.01), seed=2)
    a = MediaEndpoint(
        B,
        track=G711Track(ToneSource(440, duration=2), PCMU),
        rng=random.Random(1),
        srtp=SrtpSession.from_keys(keys, True),
    )
    b = MediaEndpoint(
        A, receive_codec=PCMU, rng=random.Random(2), srtp=SrtpSession.from_keys(keys, False)
    )
    b.receive_datagram(b"\x80\x00" + bytes(40), A, 0.0)  # forged RTP: dropped, counted
    b.receive_datagram(b"\x81\xc9" + bytes(40), A, 0.0)  # forged RTCP
    b.receive_datagram(b"\xff\xff", A, 0.0)  # not in any RFC 7983 range
    run_pair(net, a, b)
    assert [f.data for f in received(net, B)] == tone_frames(2)
    assert b.counters.dropped_srtp == 2 and b.counters.dropped_demux == 1
    assert b.srtp is not None and b.srtp.stats.auth_failures == 2
    # nothing readable crossed the wire in clear: no sent datagram carries the payload
    payload = tone_frames(2)[5]
    assert not any(payload in d.data for d in net.sent)


def test_rtx_retransmissions_on_their_own_stream() -> None:
    """RFC 4588 (RTP-04): NACKed packets come back on the RTX SSRC/PT with the OSN first;
    the original stream's loss statistics stay honest (repairs are not counted)."""
    net = MemoryNetwork(Impairment(loss=0.1, delay=0.02), seed=4)
    a = MediaEndpoint(
        B,
        track=EncodedTrack(VP8, video_frames(60), 1 / 30),
        rng=random.Random(1),
        rtx_payload_type=97,
    )
    b = MediaEndpoint(A, receive_codec=VP8, rng=random.Random(2), rtx_payload_type=97)
    run_pair(net, a, b)
    assert [f.data for f in received(net, B)] == [f.data for f in video_frames(60)]
    assert a.sender is not None and b.receiver is not None
    rtx = [d.data for d in net.sent if d.src == A and d.data[1] & 0x7F == 97]
    assert len(rtx) == a.sender.stats.retransmissions > 0
    from pyrtcstack.rtp import RtpPacket

    originals = {
        RtpPacket.parse(d.data).sequence_number: RtpPacket.parse(d.data)
        for d in net.sent
        if d.src == A and d.data[1] & 0x7F == VP8.payload_type
    }
    for data in rtx:
        p = RtpPacket.parse(data)
        assert p.ssrc == a.sender.rtx_ssrc != a.sender.ssrc
        osn = int.from_bytes(p.payload[:2], "big")
        assert p.payload[2:] == originals[osn].payload and p.timestamp == originals[osn].timestamp
    assert b.receiver.stats.rtx_received > 0 and b.receiver.rtx_ssrc == a.sender.rtx_ssrc
    stats = b.receiver.reception
    assert stats is not None and stats.cumulative_lost > 0  # losses still visible in RR


def test_late_driver_does_not_burst() -> None:
    from pyrtcstack.media.endpoint import MAX_BURST_FRAMES

    a = MediaEndpoint(
        B, track=G711Track(ToneSource(440, duration=10), PCMU), rng=random.Random(1), start_at=0.0
    )
    a.handle_timer(5.0)  # the loop stalled for 5 s (250 frames due)
    rtp = [d for d, _ in a.datagrams_to_send(5.0) if not 192 <= d[1] <= 223]
    assert len(rtp) == MAX_BURST_FRAMES
    assert a.counters.frame_clock_resets == 1
    assert a.get_timer() == pytest.approx(5.02)
