"""RTP and RTCP packets from ../shared/corpus/rtp decode to the recorded fields, or are
rejected where the corpus's strict decoder rejects them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from peers import corpus

from pyrtcstack.rtp import (
    FullIntraRequest,
    GenericNack,
    PictureLossIndication,
    ReceiverEstimatedMaxBitrate,
    RtcpApp,
    RtcpBye,
    RtcpFeedback,
    RtcpParseError,
    RtcpReceiverReport,
    RtcpSdes,
    RtcpSenderReport,
    RtpPacket,
    TransportWideCc,
    parse_rtcp,
)
from pyrtcstack.rtp.packet import EXTENSION_PROFILE_ONE_BYTE

#: Every test here reads ../shared/corpus (an extra beside tests/data).
pytestmark = pytest.mark.corpus

# Where we are deliberately stricter than the corpus's decoder (each reason is a MUST):
STRICTER = {
    # RFC 4585 §6.2.1: the FCI of a Generic NACK holds at least one PID/BLP entry.
    "pion-rtcp-TestTransportLayerNackUnmarshal-bad_length",
    # a padding count of 9 leaves 7 bytes for SSRC + 4-byte name: not an APP packet
    # (the corpus decoder read a 3-byte name; pion also rejects it: errWrongPadding).
    "pion-rtcp-TestTApplicationPacketUnmarshal-wrongPaddingSize",
}


def _rtp_items() -> list[dict[str, Any]]:
    path = corpus("rtp", "rtp.json")
    return list(json.loads(path.read_text())["packets"])


def _rtcp_items() -> list[dict[str, Any]]:
    path = corpus("rtp", "rtcp.json")
    return list(json.loads(path.read_text())["packets"])


def test_rtp_corpus_decodes_to_recorded_fields() -> None:
    items = _rtp_items()
    assert len(items) == 16
    for it in items:
        data = bytes.fromhex(it["hex"])
        dec = it["decoded"]
        assert it["strict_decode_error"] is None
        p = RtpPacket.parse(data)
        assert p.marker == dec["marker"], it["name"]
        assert p.payload_type == dec["payload_type"]
        assert p.sequence_number == dec["sequence_number"]
        assert p.timestamp == dec["timestamp"]
        assert p.ssrc == dec["ssrc"]
        assert list(p.csrc) == dec["csrc"]
        assert p.padding_size == dec["padding_size"]
        assert len(p.payload) == dec["payload_size"]
        assert len(data) - dec["payload_size"] - dec["padding_size"] == dec["header_size"]
        if not dec["payload_hex"].endswith("..."):
            assert p.payload.hex() == dec["payload_hex"]
        else:
            assert p.payload.hex().startswith(dec["payload_hex"][:-3])
        if dec["extension"]:
            assert p.extension_profile == int(dec["extension_profile"], 16)
            elements = {e["id"]: e["value_hex"] for e in dec["extension_elements"]}
            assert {k: v.hex() for k, v in p.extensions.items()} == elements
            if not elements:
                assert p.extension_data.hex() == dec["extension_data_hex"]
        else:
            assert p.extension_profile is None
        # decode(serialize(decode(x))) is a fixed point
        again = RtpPacket.parse(p.serialize())
        assert again == p, it["name"]


def test_rtp_corpus_abs_send_time_and_mid() -> None:
    by_name = {it["name"]: it for it in _rtp_items()}
    p = RtpPacket.parse(
        bytes.fromhex(by_name["aiortc-rtp_only_padding_with_header_extensions"]["hex"])
    )
    from pyrtcstack.rtp.extensions import decode_abs_send_time

    assert p.extension_profile == EXTENSION_PROFILE_ONE_BYTE
    assert int(decode_abs_send_time(p.extensions[2]) * (1 << 18)) == 15846540
    p = RtpPacket.parse(bytes.fromhex(by_name["aiortc-rtp_with_sdes_mid"]["hex"]))
    assert p.extensions[9] == b"0"


def _check_rtcp(pkt: Any, dec: dict[str, Any]) -> None:
    name = dec["packet_type_name"]
    if name == "SR":
        assert isinstance(pkt, RtcpSenderReport)
        assert (pkt.ssrc, pkt.ntp_timestamp, pkt.rtp_timestamp) == (
            dec["ssrc"],
            dec["ntp_timestamp"],
            dec["rtp_timestamp"],
        )
        assert (pkt.packet_count, pkt.octet_count) == (dec["packet_count"], dec["octet_count"])
    if name in ("SR", "RR"):
        assert isinstance(pkt, (RtcpSenderReport, RtcpReceiverReport))
        assert pkt.ssrc == dec["ssrc"]
        got = [
            (
                r.ssrc,
                r.fraction_lost,
                r.cumulative_lost,
                r.highest_sequence,
                r.jitter,
                r.lsr,
                r.dlsr,
            )
            for r in pkt.reports
        ]
        want = [
            (
                r["ssrc"],
                r["fraction_lost"],
                r["cumulative_lost"],
                r["extended_highest_seq"],
                r["jitter"],
                r["lsr"],
                r["dlsr"],
            )
            for r in dec["reports"]
        ]
        assert got == want
    elif name == "SDES":
        assert isinstance(pkt, RtcpSdes)
        got = [(c.ssrc, [(t, v.decode()) for t, v in c.items]) for c in pkt.chunks]
        want = [(c["ssrc"], [(i["type"], i["text"]) for i in c["items"]]) for c in dec["chunks"]]
        assert got == want
    elif name == "BYE":
        assert isinstance(pkt, RtcpBye)
        assert pkt.sources == dec["sources"]
    elif name == "APP":
        assert isinstance(pkt, RtcpApp)
        assert (pkt.ssrc, pkt.name.decode(), pkt.data.hex(), pkt.subtype) == (
            dec["ssrc"],
            dec["name"],
            dec["data_hex"],
            dec["subtype"],
        )
    elif name in ("RTPFB", "PSFB"):
        fb = dec.get("feedback", "")
        assert pkt.sender_ssrc == dec["sender_ssrc"]
        if fb == "Generic NACK":
            assert isinstance(pkt, GenericNack)
            assert pkt.media_ssrc == dec["media_ssrc"]
            assert pkt.lost == dec["lost_sequence_numbers"]
        elif fb.startswith("Transport-wide CC"):
            assert isinstance(pkt, TransportWideCc)
            assert pkt.base_sequence == dec["base_sequence_number"]
            assert len(pkt.statuses) == dec["packet_status_count"]
            assert pkt.reference_time == dec["reference_time"]
            assert pkt.feedback_count == dec["fb_pkt_count"]
            assert pkt.statuses == dec["symbols"]
            assert [d * 250 for d in pkt.deltas] == dec["recv_deltas_us"]
        elif fb == "PLI":
            assert isinstance(pkt, PictureLossIndication)
        elif fb == "FIR":
            assert isinstance(pkt, FullIntraRequest)
            assert [(e.ssrc, e.sequence) for e in pkt.entries] == [
                (e["ssrc"], e["seq_nr"]) for e in dec["fir_entries"]
            ]
        elif fb.startswith("REMB"):
            assert isinstance(pkt, ReceiverEstimatedMaxBitrate)
            assert pkt.bitrate == dec["remb_bitrate_bps"]
            assert pkt.ssrcs == dec["remb_ssrcs"]
        else:
            assert isinstance(pkt, RtcpFeedback)
            assert pkt.fmt == dec["count_or_fmt"]
            assert pkt.fci.hex() == dec["fci_hex"]
    else:  # pragma: no cover
        raise AssertionError(name)


def test_rtcp_corpus_decodes_or_rejects_as_recorded() -> None:
    items = _rtcp_items()
    assert len(items) == 92
    accepted = rejected = 0
    for it in items:
        data = bytes.fromhex(it["hex"])
        if it["strict_decode_error"] is not None or it["name"] in STRICTER:
            with pytest.raises(RtcpParseError):
                parse_rtcp(data)
            rejected += 1
            continue
        packets = parse_rtcp(data)
        assert len(packets) == len(it["decoded"]), it["name"]
        for pkt, dec in zip(packets, it["decoded"], strict=True):
            assert pkt.packet_type == dec["packet_type"]
            _check_rtcp(pkt, dec)
        # serialising and decoding again gives the same packets
        assert parse_rtcp(b"".join(p.serialize() for p in packets)) == packets, it["name"]
        accepted += 1
    assert (accepted, rejected) == (36, 56)
