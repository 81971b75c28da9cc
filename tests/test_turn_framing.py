"""ChannelData codec and the TCP/TLS stream framer (RFC 8656 §12.4–12.6, §5)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.turn.channeldata import (
    CHANNEL_NUMBER_MAX,
    CHANNEL_NUMBER_MIN,
    ChannelData,
    decode_channel_data,
    encode_channel_data,
    is_channel_data,
)
from pyrtcstack.turn.errors import TurnFramingError, TurnParseError, TurnUsageError
from pyrtcstack.turn.framing import MAX_FRAME_SIZE, StreamFramer, frame_for_stream

channels = st.integers(CHANNEL_NUMBER_MIN, CHANNEL_NUMBER_MAX)
payloads = st.binary(max_size=300)


def stun_frame(body_words: int, txid: bytes = b"\x01" * 12) -> bytes:
    body = b"\xab" * (4 * body_words)
    return struct.pack("!HHI", 0x0101, len(body), 0x2112A442) + txid + body


def test_checklist_turn07_padding() -> None:
    # TURN-07: 5-byte payload over TCP → 12-byte frame; UDP frame with 3 pad bytes → 5 bytes.
    framed = encode_channel_data(0x4000, b"hello", pad=True)
    assert framed == b"\x40\x00\x00\x05hello\x00\x00\x00"
    assert len(framed) == 12
    assert encode_channel_data(0x4000, b"hello") == b"\x40\x00\x00\x05hello"
    assert decode_channel_data(framed) == ChannelData(0x4000, b"hello")
    assert decode_channel_data(framed, stream=True) == ChannelData(0x4000, b"hello")
    with pytest.raises(TurnParseError):
        decode_channel_data(framed[:9], stream=True)  # unpadded on a stream


def test_channel_number_bounds() -> None:
    for bad in (0x3FFF, 0x5000, 0x7FFF, 0):
        with pytest.raises(TurnUsageError):
            encode_channel_data(bad, b"x")
        with pytest.raises(TurnParseError):
            decode_channel_data(struct.pack("!HH", bad, 1) + b"x")
    assert is_channel_data(b"\x40") and is_channel_data(b"\x4f")
    assert (
        not is_channel_data(b"\x00") and not is_channel_data(b"\x50") and not is_channel_data(b"")
    )
    with pytest.raises(TurnUsageError):
        encode_channel_data(0x4000, bytes(65536))


def test_short_datagram_is_refused() -> None:
    with pytest.raises(TurnParseError):
        decode_channel_data(b"\x40\x00\x00\x05abc")
    with pytest.raises(TurnParseError):
        decode_channel_data(b"\x40\x00")


@pytest.mark.corpus
def test_real_chrome_channeldata_from_corpus() -> None:
    import json

    from peers import corpus

    doc = json.loads(corpus("stun", "turn-channeldata.json").read_text())
    assert doc["messages"]
    for item in doc["messages"]:
        raw = bytes.fromhex(item["hex"])
        msg = decode_channel_data(raw)
        assert msg.channel == item["channel_number"]
        assert len(msg.data) == item["data_length"]
        framer = StreamFramer()
        assert framer.feed(frame_for_stream(raw)) == [frame_for_stream(raw)]


@given(channels, payloads, st.booleans())
def test_channel_data_round_trip(channel: int, data: bytes, pad: bool) -> None:
    framed = encode_channel_data(channel, data, pad=pad)
    assert len(framed) % 4 == 0 or not pad
    assert decode_channel_data(framed) == ChannelData(channel, data)
    if pad:
        assert decode_channel_data(framed, stream=True) == ChannelData(channel, data)


@given(st.binary(max_size=200), st.booleans())
def test_hostile_channel_data_raises_only_parse_error(raw: bytes, stream: bool) -> None:
    try:
        msg = decode_channel_data(raw, stream=stream)
    except TurnParseError:
        return
    assert CHANNEL_NUMBER_MIN <= msg.channel <= CHANNEL_NUMBER_MAX
    assert raw[4 : 4 + len(msg.data)] == msg.data


def test_framer_split_and_glued() -> None:
    # TURN-08: one STUN message split across two reads, then two glued in one read.
    a, b = stun_frame(3), encode_channel_data(0x4001, b"abcde", pad=True)
    framer = StreamFramer()
    assert framer.feed(a[:7]) == []
    assert framer.feed(a[7:]) == [a]
    assert framer.feed(a + b) == [a, b]
    assert framer.buffered == 0
    assert framer.frames == 3


def test_framer_rejects_desynchronised_streams() -> None:
    for junk in (
        b"\x80\x00\x00\x00",
        b"\xc0\x01\x02\x03",
        b"\x00\x01\x00\x03",
        b"\x50\x00\x00\x01",
    ):
        with pytest.raises(TurnFramingError):
            StreamFramer().feed(junk)
    with pytest.raises(TurnFramingError):  # no magic cookie
        StreamFramer().feed(b"\x00\x01\x00\x00\x00\x00\x00\x00")
    with pytest.raises(TurnFramingError):  # bigger than the caller's limit
        StreamFramer(max_frame=100).feed(b"\x40\x00\x01\x00")
    with pytest.raises(ValueError):
        StreamFramer(max_frame=MAX_FRAME_SIZE + 1)


def test_framer_legacy_channels_for_servers() -> None:
    # RFC 5766 clients (turnutils_uclient) use 0x5000-0x7FFF; a server's framer takes them.
    frame = b"\x6a\x01\x00\x04ping"
    with pytest.raises(TurnFramingError):
        StreamFramer().feed(frame)
    assert StreamFramer(legacy_channels=True).feed(frame) == [frame]
    with pytest.raises(TurnFramingError):
        StreamFramer(legacy_channels=True).feed(b"\x80\x00\x00\x04ping")


def test_framer_bounds_its_buffer() -> None:
    framer = StreamFramer()
    big = encode_channel_data(0x4000, bytes(65535), pad=True)
    assert len(big) == MAX_FRAME_SIZE
    for i in range(0, len(big) - 1, 4096):
        framer.feed(big[i : min(i + 4096, len(big) - 1)])
        assert framer.buffered <= MAX_FRAME_SIZE
    assert framer.feed(big[-1:]) == [big]


frames = st.one_of(
    st.builds(lambda c, d: encode_channel_data(c, d, pad=True), channels, payloads),
    st.builds(stun_frame, st.integers(0, 20), st.binary(min_size=12, max_size=12)),
)


@given(st.lists(frames, max_size=12), st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_framer_reassembles_any_chunking(items: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(items)
    framer = StreamFramer()
    out: list[bytes] = []
    pos = i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        out += framer.feed(stream[pos : pos + step])
        pos += step
        i += 1
    assert out == items
    assert framer.buffered == 0
    for frame in out:
        if frame[0] >> 6 == 1:
            decode_channel_data(frame, stream=True)


@given(st.lists(st.binary(max_size=80), max_size=10))
def test_framer_hostile_stream_raises_only_framing_error(chunks: list[bytes]) -> None:
    framer = StreamFramer()
    try:
        for chunk in chunks:
            for frame in framer.feed(chunk):
                assert len(frame) % 4 == 0
            assert framer.buffered < MAX_FRAME_SIZE
    except TurnFramingError:
        pass


def test_frame_for_stream_pads_only_when_needed() -> None:
    assert frame_for_stream(b"\x40\x00\x00\x01x") == b"\x40\x00\x00\x01x\x00\x00\x00"
    assert frame_for_stream(stun_frame(1)) == stun_frame(1)


def test_turn_urls() -> None:
    from pyrtcstack.turn.url import TurnUrl, parse_turn_url

    assert parse_turn_url("turn:example.org") == TurnUrl("example.org", 3478, "udp")
    assert parse_turn_url("turn:1.2.3.4:999?transport=tcp") == TurnUrl("1.2.3.4", 999, "tcp")
    assert parse_turn_url("turns:example.org") == TurnUrl("example.org", 5349, "tls")
    assert parse_turn_url("turns:[::1]:5000?transport=tcp") == TurnUrl("::1", 5000, "tls")
    for bad in ("stun:x", "turn:", "turn:h:0", "turn:h:x", "turn:h?transport=sctp", "turn:[::1"):
        with pytest.raises(TurnParseError):
            parse_turn_url(bad)


@given(st.text(max_size=40))
def test_turn_url_hostile_text(text: str) -> None:
    from pyrtcstack.turn.url import parse_turn_url

    try:
        url = parse_turn_url(text)
    except TurnParseError:
        return
    assert 0 < url.port < 65536 and url.host
