"""Payload formats (VP8 RFC 7741, H.264 RFC 6184), jitter buffer and sender feedback."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.media import PCMU, VP8, DepacketizeError, EncodedFrame, JitterBuffer, RtpSender
from pyrtcstack.media.payloads import (
    H264Depacketizer,
    H264Packetizer,
    OpaqueDepacketizer,
    Vp8Depacketizer,
    Vp8Packetizer,
    split_annexb,
    vp8_descriptor_size,
)
from pyrtcstack.rtp import FirEntry, FullIntraRequest, GenericNack, RtpPacket

frames = st.binary(min_size=1, max_size=5000)
nals = st.lists(
    st.binary(min_size=1, max_size=3000).map(
        lambda b: (
            bytes([(b[0] & 0x7F) % 24 or 1])
            + b[1:].replace(b"\x00\x00", b"\x00\x01").rstrip(b"\x00")
            + b"\x80"
        )
    ),
    min_size=1,
    max_size=6,
)


@given(frames, st.integers(40, 1200))
def test_vp8_roundtrip(frame: bytes, mtu: int) -> None:
    payloads = Vp8Packetizer(picture_id=0x7FFE).packetize(frame, mtu)
    assert all(len(p) <= mtu for p in payloads)
    d = Vp8Depacketizer()
    assert d.is_frame_start(payloads[0]) and not any(map(d.is_frame_start, payloads[1:]))
    assert d.assemble(payloads) == (frame, not frame[0] & 1)


def test_vp8_descriptor_forms() -> None:
    # RFC 7741 §4.2: X with I (7-bit), L, T/K
    assert vp8_descriptor_size(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x9D])) == 5
    assert vp8_descriptor_size(bytes([0x10, 0x9D])) == 1
    assert vp8_descriptor_size(bytes([0x90, 0x80, 0x81, 0x02, 0x9D])) == 4  # 15-bit M
    for bad in (b"", b"\x80", b"\x90\x80", b"\x90\xf0\x81"):
        with pytest.raises(DepacketizeError):
            vp8_descriptor_size(bad)


@given(nals, st.integers(20, 1200))
def test_h264_roundtrip_single_stap_fua(units: list[bytes], mtu: int) -> None:
    annexb = b"".join(b"\x00\x00\x00\x01" + n for n in units)
    assert split_annexb(annexb) == units
    payloads = H264Packetizer().packetize(annexb, mtu)
    assert all(len(p) <= mtu for p in payloads)
    data, _ = H264Depacketizer().assemble(payloads)
    assert split_annexb(data) == units


def test_h264_stap_a_and_fu_a_by_hand() -> None:
    sps, pps, idr = b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80", b"\x65" + bytes(range(256)) * 20
    payloads = H264Packetizer().packetize(
        b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x00\x01" + idr, 1200
    )
    assert payloads[0][0] & 0x1F == 24  # STAP-A with SPS + PPS (RTP-06)
    assert [p[0] & 0x1F for p in payloads[1:]] == [28] * 5  # FU-A
    assert payloads[1][1] & 0x80 and payloads[-1][1] & 0x40  # S then E
    data, key = H264Depacketizer().assemble(payloads)
    assert key and split_annexb(data) == [sps, pps, idr]
    d = H264Depacketizer()
    for bad in (
        [b""],
        [b"\x1c"],
        [b"\x1c\x05abc"],
        [b"\x18\x00\x09ab"],
        [b"\x19abc"],
        [b"\x9c\x85"],
        [b"\x1c\x85abc"],
    ):
        with pytest.raises(DepacketizeError):
            d.assemble(bad)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_hostile_payloads_only_depacketize_error(payloads: list[bytes]) -> None:
    for d in (Vp8Depacketizer(), H264Depacketizer(), OpaqueDepacketizer()):
        try:
            d.assemble(payloads)
        except DepacketizeError:
            pass
        for p in payloads:
            d.is_frame_start(p)


def _pkt(seq: int, ts: int, payload: bytes = b"x", marker: bool = True) -> RtpPacket:
    return RtpPacket(96, seq & 0xFFFF, ts, 1, payload, marker=marker)


def test_jitter_buffer_orders_across_wrap_and_detects_loss() -> None:
    jb = JitterBuffer(OpaqueDepacketizer(), frame_per_packet=True, max_delay=0.1)
    seqs = [65530, 65532, 65531, 65534, 65535, 1, 0, 3, 2, 6, 5]  # 65533 and 4 are lost
    for i, s in enumerate(seqs):
        jb.push(_pkt(s, s * 160, bytes([s & 0xFF])), 0.001 * i)
    assert jb.pop(0.05) == []  # startup hold
    out = jb.pop(0.2)
    assert [f.sequence_first & 0xFFFF for f in out] == [
        65530,
        65531,
        65532,
        65534,
        65535,
        0,
        1,
        2,
        3,
        5,
        6,
    ]
    assert jb.stats.lost_packets == 2
    assert [f.after_loss for f in out].count(True) == 2
    jb.push(_pkt(4, 4 * 160), 0.3)  # too late now
    assert jb.stats.late == 1
    jb.push(_pkt(7, 7 * 160), 0.3)
    jb.push(_pkt(7, 7 * 160), 0.3)
    assert jb.stats.duplicates == 1 and len(jb.pop(0.3)) == 1


def test_jitter_buffer_is_bounded() -> None:
    jb = JitterBuffer(OpaqueDepacketizer(), frame_per_packet=True, max_delay=100, max_packets=8)
    jb.push(_pkt(0, 0), 0)
    jb.pop(100)
    for s in range(2, 40):  # seq 1 never comes
        jb.push(_pkt(s, s), 100)
        jb.pop(100)
        assert len(jb._packets) <= 9
    assert jb.stats.overflows >= 1 and jb.stats.lost_packets == 1


def test_sender_nack_history_and_fir_repeat() -> None:
    s = RtpSender(VP8, ssrc=42, history=4)
    sent = []
    for i in range(6):
        sent += s.send_frame(EncodedFrame(b"\x01" + bytes(10), i * 3000), i / 30)
    first = RtpPacket.parse(sent[0]).sequence_number
    again = s.handle_nack(GenericNack(7, 42, [first, first + 5]))
    assert again == [sent[5]] and s.stats.nacked_not_in_history == 1
    # RFC 5104 §4.3.1.2: same FIR seq nr is a repetition -> one keyframe request
    fir = FullIntraRequest(7, 0, [FirEntry(42, 3)])
    assert s.handle_fir(fir) is True and s.handle_fir(fir) is False
    assert s.handle_fir(FullIntraRequest(7, 0, [FirEntry(42, 4)])) is True
    assert s.handle_fir(FullIntraRequest(7, 0, [FirEntry(43, 9)])) is False


def test_audio_timestamps_step_by_samples() -> None:
    s = RtpSender(PCMU, ssrc=1)
    a = RtpPacket.parse(s.send_frame(EncodedFrame(bytes(160), 0), 0.0)[0])
    b = RtpPacket.parse(s.send_frame(EncodedFrame(bytes(160), 160), 0.02)[0])
    assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160  # RTP-08
    assert (b.sequence_number - a.sequence_number) & 0xFFFF == 1
    assert not a.marker and a.payload_type == 0


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_jitter_buffer_property_any_order_any_loss(data: st.DataObject) -> None:
    """Whatever the arrival order and loss: frames leave in order, never repeated, never
    corrupt (each equals the frame that was sent), and the buffer stays bounded."""
    n = data.draw(st.integers(1, 40))
    start = data.draw(st.integers(0, 0xFFFF))
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    packets = []
    sent_frames = {}
    seq = start
    for i, k in enumerate(sizes):
        frame = bytes([i % 2]) + bytes([i]) * (k * 50)
        payloads = Vp8Packetizer().packetize(frame, 60)
        sent_frames[i * 3000] = frame
        for j, p in enumerate(payloads):
            packets.append(_pkt(seq, i * 3000, p, marker=j == len(payloads) - 1))
            seq += 1
    order = data.draw(st.permutations(range(len(packets))))
    keep = [i for i in order if data.draw(st.booleans()) or data.draw(st.booleans())]
    jb = JitterBuffer(Vp8Depacketizer(), max_delay=0.05, max_packets=16)
    out = []
    now = 0.0
    for i in keep:
        jb.push(packets[i], now)
        out += jb.pop(now)
        assert len(jb._packets) <= 17
        now += 0.01
    out += jb.pop(now + 1)
    ts = [f.timestamp for f in out]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert all(f.data == sent_frames[f.timestamp] for f in out)
    if len(keep) == len(packets) and order == sorted(order):
        assert len(out) == n


def test_dtmf_from_corpus_packet() -> None:
    # RTP-09: corpus aiortc-rtp_dtmf (PT 101), payload 018a03c0
    from pyrtcstack.media.dtmf import TelephoneEvent

    pkt = RtpPacket.parse(bytes.fromhex("80e55e58efb0f6bca6a144f2018a03c0"))
    ev = TelephoneEvent.parse(pkt.payload)
    assert (ev.key, ev.end, ev.volume, ev.duration) == ("1", True, 10, 960)
    assert ev.serialize() == pkt.payload
    with pytest.raises(DepacketizeError):
        TelephoneEvent.parse(b"\x01")


def test_receiver_bounded_after_a_huge_sequence_jump() -> None:
    from pyrtcstack.media import RtpReceiver
    from pyrtcstack.media.receiver import MAX_NACK_ITEMS

    rx = RtpReceiver(PCMU, local_ssrc=9)
    now = 0.0
    frames = []
    for seq in [*range(10), *range(30000, 30300)]:  # a forged jump of ~30,000
        rx.receive_rtp(RtpPacket(0, seq, seq * 160, 5, bytes(160)), now)
        frames += rx.pop_frames(now)
        assert len(rx._nacks) <= MAX_NACK_ITEMS
        rx.nack(now)
        now += 0.02
    frames += rx.pop_frames(now + 1)
    assert len(frames) == 310  # the hole is given up, everything after it plays
    assert rx.jitter_buffer.stats.lost_packets == 30000 - 10
