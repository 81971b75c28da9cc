"""RTP packet codec: hand-made cases, hypothesis round-trips and hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.rtp import RtpPacket, RtpParseError, RtpUsageError
from pyrtcstack.rtp.extensions import (
    URI_MID,
    URI_TRANSPORT_WIDE_CC,
    ExtensionMap,
    decode_audio_level,
    decode_transport_sequence,
    encode_audio_level,
    encode_transport_sequence,
)
from pyrtcstack.rtp.packet import EXTENSION_PROFILE_ONE_BYTE, EXTENSION_PROFILE_TWO_BYTE


def test_csrc_extension_padding_boundaries() -> None:
    # RTP-01: CC=2, X=1, P=1 -> payload boundaries correct
    p = RtpPacket(
        96,
        1000,
        123456,
        0x11223344,
        b"hello",
        marker=True,
        csrc=(1, 2),
        extensions={1: b"\xaa", 3: b"\xbb\xcc"},
        padding_size=3,
    )
    data = p.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 2
    q = RtpPacket.parse(data)
    assert q.payload == b"hello" and q.csrc == (1, 2) and q.padding_size == 3
    assert q.extensions == {1: b"\xaa", 3: b"\xbb\xcc"}
    assert q.extension_profile == EXTENSION_PROFILE_ONE_BYTE


def test_one_byte_id15_stops_parsing_and_padding_skipped() -> None:
    # RTP-02: ids 1,3 + padding extracted; id 15 stops parsing
    ext = bytes([0x10, 0xAA, 0x00, 0x31, 0xBB, 0xCC, 0xF0, 0x55])
    data = (
        bytes.fromhex("9060000100000002 00000003".replace(" ", ""))
        + bytes.fromhex("bede0002")
        + ext
        + b"pay"
    )
    p = RtpPacket.parse(data)
    assert p.extensions == {1: b"\xaa", 3: b"\xbb\xcc"}
    assert p.payload == b"pay"


def test_two_byte_form_chosen_for_long_or_big_ids() -> None:
    p = RtpPacket(96, 1, 2, 3, b"x", extensions={20: b"", 2: b"y" * 40})
    q = RtpPacket.parse(p.serialize())
    assert q.extension_profile == EXTENSION_PROFILE_TWO_BYTE
    assert q.extensions == {20: b"", 2: b"y" * 40}


def test_bad_packets_raise_parse_error() -> None:
    good = RtpPacket(0, 1, 2, 3, b"abcd", csrc=(5,), extensions={1: b"a"}).serialize()
    for bad in (
        b"",
        good[:11],
        bytes([0x40]) + good[1:],  # version 1
        bytes([0x8F]) + good[1:],  # CC=15 runs past the end
        good[:-5],  # extension length past the end
        bytes([good[0] | 0x20]) + good[1:-1] + b"\x00",  # padding count 0
        bytes([good[0] | 0x20]) + good[1:-1] + b"\xff",  # padding larger than payload
    ):
        with pytest.raises(RtpParseError):
            RtpPacket.parse(bad)


def test_usage_errors() -> None:
    with pytest.raises(RtpUsageError):
        RtpPacket(200).serialize()
    with pytest.raises(RtpUsageError):
        RtpPacket(
            0, extensions={15: b"a"}, extension_profile=EXTENSION_PROFILE_ONE_BYTE
        ).serialize()


def test_extension_helpers_and_map() -> None:
    m = ExtensionMap()
    m.add(3, URI_TRANSPORT_WIDE_CC)
    m.add(9, URI_MID)
    p = RtpPacket(111, extensions={3: encode_transport_sequence(70000), 9: b"0", 4: b"?"})
    named = m.named(RtpPacket.parse(p.serialize()).extensions)
    assert named == {URI_TRANSPORT_WIDE_CC: (70000 & 0xFFFF).to_bytes(2, "big"), URI_MID: b"0"}
    assert decode_transport_sequence(named[URI_TRANSPORT_WIDE_CC]) == 70000 & 0xFFFF
    assert decode_audio_level(encode_audio_level(42, True)) == (42, True)
    assert m.uri_of(9) == URI_MID and m.id_of(URI_MID) == 9


ext_values = st.dictionaries(st.integers(1, 14), st.binary(min_size=1, max_size=16), max_size=5)
ext_values2 = st.dictionaries(st.integers(1, 255), st.binary(max_size=40), max_size=5)


@st.composite
def packets(draw: st.DrawFn) -> RtpPacket:
    exts = draw(st.one_of(ext_values, ext_values2))
    return RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        payload=draw(st.binary(max_size=200)),
        marker=draw(st.booleans()),
        csrc=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))),
        extensions=exts,
        padding_size=draw(st.integers(0, 255)),
    )


@given(packets())
def test_roundtrip(p: RtpPacket) -> None:
    q = RtpPacket.parse(p.serialize())
    assert q.payload == p.payload and q.extensions == p.extensions
    assert (
        q.payload_type,
        q.sequence_number,
        q.timestamp,
        q.ssrc,
        q.marker,
        q.csrc,
        q.padding_size,
    ) == (p.payload_type, p.sequence_number, p.timestamp, p.ssrc, p.marker, p.csrc, p.padding_size)
    assert q.serialize() == p.serialize()


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_hostile_bytes_only_parse_error(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpParseError:
        pass


@given(packets(), st.data())
def test_mutated_packets_only_parse_error(p: RtpPacket, data: st.DataObject) -> None:
    raw = bytearray(p.serialize())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        RtpPacket.parse(bytes(raw[:cut]))
    except RtpParseError:
        pass
