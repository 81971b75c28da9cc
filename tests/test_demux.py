"""RFC 7983 §7 (as updated by RFC 9443) first-byte demultiplexing and RFC 5761 §4 RTP/RTCP
separation, and that every layer that demultiplexes uses the one table."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.demux import (
    FIRST_BYTE_KIND,
    FOR_DTLS,
    FOR_ICE,
    Demultiplexer,
    PacketKind,
    classify,
    is_rtcp,
)
from pyrtcstack.ice import DataReceived, IceAgent, IceConfig
from pyrtcstack.turn import TurnClient

# RFC 7983 §7 and RFC 9443, written out again by hand (not derived from the module): first and
# last byte of each range and what a WebRTC receiver does with it.
RFC_RANGES = [
    (0, 3, PacketKind.STUN),
    (4, 15, PacketKind.DROP),  # unassigned
    (16, 19, PacketKind.DROP),  # ZRTP: not WebRTC
    (20, 63, PacketKind.DTLS),
    (64, 79, PacketKind.TURN_CHANNEL),  # RFC 8656 §12 channel numbers 0x4000..0x4FFF
    (80, 127, PacketKind.DROP),  # QUIC short header (RFC 9443): not WebRTC
    (128, 191, PacketKind.RTP),
    (192, 255, PacketKind.DROP),  # QUIC long header (RFC 9443): not WebRTC
]
EXPECTED = {b: kind for lo, hi, kind in RFC_RANGES for b in range(lo, hi + 1)}
ICE_KINDS = (PacketKind.STUN, PacketKind.TURN_CHANNEL)


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


def test_tables_cover_every_first_byte() -> None:
    expected = EXPECTED
    assert sorted(expected) == list(range(256))  # the ranges are disjoint and complete
    assert len(FIRST_BYTE_KIND) == len(FOR_ICE) == len(FOR_DTLS) == 256
    for b in range(256):
        kind = expected[b]
        assert FIRST_BYTE_KIND[b] is kind, b
        assert FOR_ICE[b] is (kind in (PacketKind.STUN, PacketKind.TURN_CHANNEL)), b
        assert FOR_DTLS[b] is (kind is PacketKind.DTLS), b
        # classify agrees with the table (RTP refined by the second byte, 0x60 is PT 96)
        assert classify(bytes([b, 0x60])) is kind, b


def test_turn_client_claims_only_stun_and_channel_data() -> None:
    server = ("192.0.2.50", 3478)
    client = TurnClient(server, "user", "pass")
    for b in range(256):
        data = bytes([b]) + bytes(19)
        assert client.is_from_server(data, server) is (EXPECTED[b] in ICE_KINDS), b
        assert not client.is_from_server(data, ("192.0.2.51", 3478))


def test_ice_agent_hands_on_everything_but_stun() -> None:
    """Every first byte that is not STUN goes to the peer connection (which keeps DTLS and
    SRTP and counts the rest as dropped), from a known remote candidate only."""
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(1))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    agent.add_remote_candidate("candidate:1 1 udp 2130706431 192.0.2.9 9 typ host", 0.0)
    while agent.next_event() is not None:
        pass
    for b in range(256):
        agent.receive_datagram(bytes([b]) + bytes(19), ("192.0.2.9", 9), 0.1)
        event = agent.next_event()
        if EXPECTED[b] is PacketKind.STUN:
            assert event is None, b
        else:
            assert isinstance(event, DataReceived) and event.data[0] == b, b
        assert agent.next_event() is None
