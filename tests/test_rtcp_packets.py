"""RTCP codec: compound round-trips (hypothesis), feedback details, hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.rtp import (
    FirEntry,
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    ReceiverEstimatedMaxBitrate,
    ReportBlock,
    RtcpApp,
    RtcpBye,
    RtcpParseError,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpUsageError,
    SdesChunk,
    TransportWideCc,
    parse_rtcp,
    serialize_rtcp,
)
from pyrtcstack.rtp.feedback import nack_pairs

u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock,
    u32,
    st.integers(0, 255),
    st.integers(-(1 << 23), (1 << 23) - 1),
    u32,
    u32,
    u32,
    u32,
)
words = st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))
sr = st.builds(
    RtcpSenderReport,
    u32,
    st.integers(0, (1 << 64) - 1),
    u32,
    u32,
    u32,
    st.lists(blocks, max_size=4),
    words,
)
rr = st.builds(RtcpReceiverReport, u32, st.lists(blocks, max_size=4), words)
sdes = st.builds(
    RtcpSdes,
    st.lists(
        st.builds(
            SdesChunk,
            u32,
            st.lists(st.tuples(st.integers(1, 8), st.binary(max_size=30)), max_size=3),
        ),
        max_size=3,
    ),
)
bye = st.builds(RtcpBye, st.lists(u32, max_size=5), st.one_of(st.none(), st.binary(max_size=40)))
app = st.builds(
    RtcpApp, u32, st.binary(min_size=4, max_size=4), st.binary(max_size=20), st.integers(0, 31)
)
nack = st.builds(
    GenericNack,
    u32,
    u32,
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=30).map(lambda v: sorted(set(v))),
)
pli = st.builds(PictureLossIndication, u32, u32)
fir = st.builds(
    FullIntraRequest,
    u32,
    u32,
    st.lists(st.builds(FirEntry, u32, st.integers(0, 255)), min_size=1, max_size=3),
)
remb = st.builds(
    ReceiverEstimatedMaxBitrate, u32, st.integers(0, (1 << 18) - 1), st.lists(u32, max_size=4)
)


@st.composite
def twcc(draw: st.DrawFn) -> TransportWideCc:
    statuses = draw(st.lists(st.sampled_from([0, 1, 2]), max_size=60))
    deltas = [
        draw(st.integers(0, 255)) if s == 1 else draw(st.integers(-32768, 32767))
        for s in statuses
        if s
    ]
    return TransportWideCc(
        draw(u32),
        draw(u32),
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFF)),
        draw(st.integers(0, 255)),
        statuses,
        deltas,
    )


any_packet = st.one_of(sr, rr, sdes, bye, app, nack, pli, fir, remb, twcc())


def _normal(p: object) -> object:
    if isinstance(p, GenericNack):
        return (p.sender_ssrc, p.media_ssrc, sorted(set(p.lost)))
    return p


@given(st.lists(any_packet, min_size=1, max_size=5))
def test_compound_roundtrip(pkts: list) -> None:
    data = serialize_rtcp(pkts)
    got = parse_rtcp(data)
    assert [_normal(p) for p in got] == [_normal(p) for p in pkts]
    assert serialize_rtcp(got) == data


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_hostile_bytes_only_parse_error(data: bytes) -> None:
    try:
        parse_rtcp(data)
    except RtcpParseError:
        pass


@given(st.lists(any_packet, min_size=1, max_size=3), st.data())
def test_mutated_only_parse_error(pkts: list, data: st.DataObject) -> None:
    raw = bytearray(serialize_rtcp(pkts))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_rtcp(bytes(raw[: data.draw(st.integers(0, len(raw)))]))
    except RtcpParseError:
        pass


def test_nack_pid_blp() -> None:
    # RTCP-04: PID=100 BLP=0x0005 -> 100, 101, 103
    assert nack_pairs([100, 101, 103]) == [(100, 0x0005)]
    pkt = parse_rtcp(GenericNack(1, 2, [100, 101, 103]).serialize())[0]
    assert isinstance(pkt, GenericNack) and pkt.lost == [100, 101, 103]
    assert nack_pairs([65535, 0, 1]) == [(65535, 0b11)]  # across the wrap
    with pytest.raises(RtpUsageError):
        GenericNack(1, 2, []).serialize()


def test_reduced_size_lone_pli_and_remb_bitrate() -> None:
    # RTCP-03: a lone PLI (RFC 5506) is accepted
    (p,) = parse_rtcp(bytes.fromhex("81ce000200000001deadbeef"))
    assert isinstance(p, PictureLossIndication) and p.media_ssrc == 0xDEADBEEF
    # RTCP-06: bitrate = mantissa * 2^exp
    (r,) = parse_rtcp(ReceiverEstimatedMaxBitrate(1, 139487 << 6, [7]).serialize())
    assert isinstance(r, ReceiverEstimatedMaxBitrate) and r.bitrate == 8927168


def test_strictness() -> None:
    ok = RtcpReceiverReport(1, [ReportBlock(2)]).serialize()
    with pytest.raises(RtcpParseError):
        parse_rtcp(ok + b"\x80")  # trailing garbage
    with pytest.raises(RtcpParseError):
        parse_rtcp(ok[:-4])  # length field past the datagram
    with pytest.raises(RtcpParseError):
        parse_rtcp(bytes.fromhex("81ce00030000000100000002deadbeef"))  # PLI with FCI
    with pytest.raises(RtcpParseError):
        parse_rtcp(bytes.fromhex("80600001deadbeef"))  # PT 96 is not RTCP


def test_sdes_with_extra_null_word_from_aiortc() -> None:
    # aiortc ends a chunk with 2 nulls then pads: a 5-byte CNAME gets 5 null octets
    (p,) = parse_rtcp(bytes.fromhex("81ca0004000000000105636e616d650000000000"))
    assert isinstance(p, RtcpSdes) and p.chunks == [SdesChunk(0, [(1, b"cname")])]
    with pytest.raises(RtcpParseError):
        parse_rtcp(bytes.fromhex("81ca0004000000000105636e616d650000000001"))
