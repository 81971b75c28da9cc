"""RFC 7983 §7 first-byte demultiplexing and RFC 5761 §4 RTP/RTCP separation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.demux import Demultiplexer, PacketKind, classify, is_rtcp


def test_ranges() -> None:
    expected = {}
    for b in range(256):
        if b <= 3:
            expected[b] = PacketKind.STUN
        elif 20 <= b <= 63:
            expected[b] = PacketKind.DTLS
        elif 64 <= b <= 79:
            expected[b] = PacketKind.TURN_CHANNEL
        elif 128 <= b <= 191:
            expected[b] = PacketKind.RTP
        else:
            expected[b] = PacketKind.DROP  # ZRTP 16..19 included: WebRTC does not use it
    for b, kind in expected.items():
        assert classify(bytes([b, 0x60])) is kind, b


def test_rtp_versus_rtcp_by_second_byte() -> None:
    assert classify(bytes.fromhex("81c8000c")) is PacketKind.RTCP  # SR
    assert classify(bytes.fromhex("8fcd0005")) is PacketKind.RTCP  # RTPFB
    assert classify(bytes.fromhex("80e0698f")) is PacketKind.RTP  # PT 96 with marker
    assert classify(bytes.fromhex("806f")) is PacketKind.RTP  # PT 111
    for second in range(256):
        assert is_rtcp(bytes([0x80, second])) == (192 <= second <= 223)


def test_short_and_empty_dropped_and_counted() -> None:
    d = Demultiplexer()
    assert d.classify(b"") is PacketKind.DROP
    assert d.classify(b"\x80") is PacketKind.DROP
    assert d.classify(b"\x16\xfe\xfd") is PacketKind.DTLS
    assert d.classify(b"\x00\x01") is PacketKind.STUN
    assert d.dropped == 2 and d.counts[PacketKind.DTLS] == 1


@given(st.binary(max_size=20))
def test_total(data: bytes) -> None:
    assert isinstance(classify(data), PacketKind)
