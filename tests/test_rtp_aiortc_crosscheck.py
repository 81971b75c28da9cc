"""Cross-check against an independent codec: aiortc's RTP/RTCP classes decode what we
encode and we decode what they encode, field for field (hypothesis-generated packets)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import require_module

from pyrtcstack.rtp import (
    GenericNack,
    PictureLossIndication,
    ReportBlock,
    RtcpBye,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpPacket,
    SdesChunk,
    parse_rtcp,
    serialize_rtcp,
)

pytestmark = pytest.mark.interop

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


def _aiortc_can_parse(chunk: SdesChunk) -> bool:
    """aiortc's SDES parser reads the null item as a (type, length) pair and then does not
    skip the padding, so it only reads a chunk right when exactly two null octets end it
    (items ending 2 bytes before a 32-bit boundary) — the case of a 16-byte CNAME, which is
    what browsers and our endpoints send. RFC 3550 §6.5 allows 1 to 4 null octets."""
    return (4 + sum(2 + len(v) for _, v in chunk.items)) % 4 == 2


def aiortc_rtp() -> Any:
    return require_module("aiortc.rtp", "aiortc")


def _block_fields(b: Any) -> tuple[int, ...]:
    if isinstance(b, ReportBlock):
        return (
            b.ssrc,
            b.fraction_lost,
            b.cumulative_lost,
            b.highest_sequence,
            b.jitter,
            b.lsr,
            b.dlsr,
        )
    return (b.ssrc, b.fraction_lost, b.packets_lost, b.highest_sequence, b.jitter, b.lsr, b.dlsr)


@settings(max_examples=100)
@given(
    st.builds(
        RtcpSenderReport,
        u32,
        st.integers(0, (1 << 64) - 1),
        u32,
        u32,
        u32,
        st.lists(blocks, max_size=3),
    ),
    st.builds(RtcpReceiverReport, u32, st.lists(blocks, max_size=3)),
    st.builds(
        RtcpSdes,
        st.lists(
            st.builds(
                SdesChunk,
                u32,
                st.lists(st.tuples(st.integers(1, 8), st.binary(max_size=20)), max_size=2),
            ).filter(_aiortc_can_parse),
            max_size=2,
        ),
    ),
    st.builds(RtcpBye, st.lists(u32, max_size=4)),
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20).map(lambda v: sorted(set(v))),
    u32,
    u32,
)
def test_aiortc_decodes_our_compound(
    sr: RtcpSenderReport,
    rr: RtcpReceiverReport,
    sdes: RtcpSdes,
    bye: RtcpBye,
    lost: list[int],
    a: int,
    b: int,
) -> None:
    m = aiortc_rtp()
    ours = [sr, rr, sdes, bye, GenericNack(a, b, lost), PictureLossIndication(a, b)]
    theirs = m.RtcpPacket.parse(serialize_rtcp(ours))
    assert [type(p).__name__ for p in theirs] == [
        "RtcpSrPacket",
        "RtcpRrPacket",
        "RtcpSdesPacket",
        "RtcpByePacket",
        "RtcpRtpfbPacket",
        "RtcpPsfbPacket",
    ]
    t_sr, t_rr, t_sdes, t_bye, t_nack, t_pli = theirs
    assert (
        t_sr.ssrc,
        t_sr.sender_info.ntp_timestamp,
        t_sr.sender_info.rtp_timestamp,
        t_sr.sender_info.packet_count,
        t_sr.sender_info.octet_count,
    ) == (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp, sr.packet_count, sr.octet_count)
    assert [_block_fields(x) for x in t_sr.reports] == [_block_fields(x) for x in sr.reports]
    assert t_rr.ssrc == rr.ssrc
    assert [_block_fields(x) for x in t_rr.reports] == [_block_fields(x) for x in rr.reports]
    assert [(c.ssrc, list(c.items)) for c in t_sdes.chunks] == [
        (c.ssrc, c.items) for c in sdes.chunks
    ]
    assert t_bye.sources == bye.sources
    assert (t_nack.fmt, t_nack.ssrc, t_nack.media_ssrc, sorted(t_nack.lost)) == (1, a, b, lost)
    assert (t_pli.fmt, t_pli.ssrc, t_pli.media_ssrc, t_pli.fci) == (1, a, b, b"")


@settings(max_examples=100)
@given(
    u32,
    st.integers(0, (1 << 64) - 1),
    u32,
    u32,
    u32,
    st.lists(blocks, max_size=3),
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20).map(lambda v: sorted(set(v))),
)
def test_we_decode_aiortc_compound(
    ssrc: int,
    ntp: int,
    rtp_ts: int,
    packets: int,
    octets: int,
    reports: list[ReportBlock],
    lost: list[int],
) -> None:
    m = aiortc_rtp()
    infos = [
        m.RtcpReceiverInfo(
            r.ssrc, r.fraction_lost, r.cumulative_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr
        )
        for r in reports
    ]
    data = (
        bytes(m.RtcpSrPacket(ssrc, m.RtcpSenderInfo(ntp, rtp_ts, packets, octets), infos))
        + bytes(m.RtcpSdesPacket([m.RtcpSourceInfo(ssrc, [(1, b"cname")])]))
        + bytes(m.RtcpRtpfbPacket(1, ssrc, 7, lost))
        + bytes(m.RtcpPsfbPacket(1, ssrc, 7))
        + bytes(m.RtcpByePacket([ssrc]))
    )
    sr, sdes, nack, pli, bye = parse_rtcp(data)
    assert isinstance(sr, RtcpSenderReport) and sr.reports == reports
    assert (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (
        ssrc,
        ntp,
        rtp_ts,
        packets,
        octets,
    )
    assert isinstance(sdes, RtcpSdes) and sdes.chunks == [SdesChunk(ssrc, [(1, b"cname")])]
    assert isinstance(nack, GenericNack) and sorted(set(nack.lost)) == lost
    assert isinstance(pli, PictureLossIndication) and pli.media_ssrc == 7
    assert isinstance(bye, RtcpBye) and bye.sources == [ssrc]


@settings(max_examples=100)
@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    u32,
    u32,
    st.binary(max_size=300),
    st.booleans(),
    st.lists(u32, max_size=15),
    st.text(max_size=8),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
)
def test_rtp_both_ways(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    payload: bytes,
    marker: bool,
    csrc: list[int],
    mid: str,
    abs_send: int,
    twcc: int,
    padding: int,
) -> None:
    m = aiortc_rtp()
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    emap = m.HeaderExtensionsMap()
    emap.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(1, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
                RTCRtpHeaderExtensionParameters(
                    3, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
                ),
            ]
        )
    )
    mid_b = mid.encode()
    exts = {2: abs_send.to_bytes(3, "big"), 3: twcc.to_bytes(2, "big")}
    if 1 <= len(mid_b) <= 16:
        exts[1] = mid_b
    ours = RtpPacket(
        pt,
        seq,
        ts,
        ssrc,
        payload,
        marker=marker,
        csrc=tuple(csrc),
        extensions=exts,
        padding_size=padding,
    )
    theirs = m.RtpPacket.parse(ours.serialize(), emap)
    assert (
        theirs.payload_type,
        theirs.sequence_number,
        theirs.timestamp,
        theirs.ssrc,
        bool(theirs.marker),
        theirs.csrc,
        theirs.payload,
        theirs.padding_size,
    ) == (pt, seq, ts, ssrc, marker, csrc, payload, padding)
    assert theirs.extensions.abs_send_time == abs_send
    assert theirs.extensions.transport_sequence_number == twcc
    assert theirs.extensions.mid == (mid if 1 in exts else None)
    back = RtpPacket.parse(theirs.serialize(emap))
    assert (
        back.payload_type,
        back.sequence_number,
        back.timestamp,
        back.ssrc,
        back.marker,
        list(back.csrc),
        back.payload,
    ) == (pt, seq, ts, ssrc, marker, csrc, payload)
    assert back.extensions == exts
