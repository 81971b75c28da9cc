"""The text formats of WHIP without HTTP: trickle-ice-sdpfrag bodies (RFC 8840 §9), ICE
servers in Link headers (RFC 9725 §4.6), the Ogg Opus reader behind ``pyrtcstack whip``;
hypothesis properties, the bounds, and the fuzz harnesses run over seeds."""

from __future__ import annotations

import importlib.util
import io
import itertools
import random
import struct
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.media import (
    EncodedFrame,
    MediaFormatError,
    OggOpusTrack,
    OggOpusWriter,
    parse_ogg_opus,
)
from pyrtcstack.media.ogg import MAX_OGG_PACKET_SIZE
from pyrtcstack.media.recorders import ogg_crc32
from pyrtcstack.whip import (
    IceServerLink,
    LinkHeaderError,
    SdpFragError,
    frag_from_sdp,
    ice_servers,
    parse_link_header,
    parse_sdpfrag,
    replace_ice,
)
from pyrtcstack.whip.links import MAX_LINKS
from pyrtcstack.whip.sdpfrag import MAX_SDPFRAG_BYTES, MAX_SDPFRAG_CANDIDATES

PROJECT = Path(__file__).resolve().parents[1]

#: What simple-whip-client (GStreamer webrtcbin) PATCHed to our server (docs/whip.md).
GSTREAMER_FRAG = (
    "a=ice-ufrag:+kk6M+Y9Ln5yU8pl3J+KVtoq4dLvj3Rb\r\n"
    "a=ice-pwd:oViUx4ISfLFK2meHE8vBNA6bjsmB1wwt\r\n"
    "m=audio 9 RTP/AVP 0\r\n"
    "a=mid:video0\r\n"
    "a=candidate:1 1 UDP 2015363327 10.99.0.1 45737 typ host\r\n"
    "a=candidate:2 1 TCP 1015021823 10.99.0.1 9 typ host tcptype active\r\n"
    "a=candidate:4 1 UDP 2015363583 fe80::d4d5:daff:fe27:93c2 42068 typ host\r\n"
    "a=end-of-candidates\r\n"
)
SDP = (
    "v=0\r\no=- 7 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:olduf\r\na=ice-pwd:oldpasswordoldpassword\r\n"
    "a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:olduf\r\na=ice-pwd:oldpasswordoldpassword\r\n"
    "a=mid:1\r\n"
)


# ---------------------------------------------------------------------- sdpfrag
def test_gstreamer_fragment() -> None:
    frag = parse_sdpfrag(GSTREAMER_FRAG.encode())
    assert frag.ufrag == "+kk6M+Y9Ln5yU8pl3J+KVtoq4dLvj3Rb"
    assert frag.pwd == "oViUx4ISfLFK2meHE8vBNA6bjsmB1wwt"
    [media] = frag.media
    assert media.mid == "video0" and media.end_of_candidates
    assert [c.port for c in media.candidates] == [45737, 9, 42068]
    assert media.candidates[1].tcptype == "active"
    assert parse_sdpfrag(frag.to_text()) == frag


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff", "UTF-8"),
        (b"hello", "not 'x=value'"),
        (b"v=0\r\n", "only m= and a="),
        (b"a=mid:0\r\n", "before any m="),
        (b"a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", "before any m="),
        (b"m=audio\r\n", "m= needs"),
        (b"m=audio 9 X\r\na=candidate:1 1 udp\r\n", "candidate"),
        (b"a=ice-ufrag:abc\r\n", "ice-ufrag must be"),
        (b"a=ice-pwd:short\r\n", "ice-pwd must be"),
        (b"a=ice-ufrag:abcd\r\n", "go together"),
        (b"m=audio 9 X\r\na=mid:\r\n", "bad a=mid"),
    ],
)
def test_bad_fragments(body: bytes, says: str) -> None:
    with pytest.raises(SdpFragError, match=says):
        parse_sdpfrag(body)


def test_fragment_bounds() -> None:
    with pytest.raises(SdpFragError, match="bytes"):
        parse_sdpfrag(b"a=x\r\n" * (MAX_SDPFRAG_BYTES // 5 + 1))
    with pytest.raises(SdpFragError, match="lines"):
        parse_sdpfrag(b"a=x\n" * 300)
    many = "m=audio 9 X\r\n" + "a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n" * (
        MAX_SDPFRAG_CANDIDATES + 1
    )
    with pytest.raises(SdpFragError, match="candidates"):
        parse_sdpfrag(many)


_ICE = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", min_size=22, max_size=40
)
_CANDIDATE = st.builds(
    "{} 1 udp {} 127.0.0.{} {} typ host".format,
    st.integers(1, 99999),
    st.integers(1, 2**31 - 1),
    st.integers(1, 254),
    st.integers(1, 65535),
)


@given(
    ufrag=_ICE,
    pwd=_ICE,
    mids=st.lists(st.text("abc0123456789", min_size=1, max_size=4), min_size=1, max_size=3),
    candidates=st.lists(_CANDIDATE, max_size=5),
    end=st.booleans(),
)
def test_fragment_round_trip(
    ufrag: str, pwd: str, mids: list[str], candidates: list[str], end: bool
) -> None:
    text = f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n"
    for mid in mids:
        text += f"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\n"
        text += "".join(f"a=candidate:{c}\r\n" for c in candidates)
        text += "a=end-of-candidates\r\n" if end else ""
    frag = parse_sdpfrag(text)
    assert (frag.ufrag, frag.pwd) == (ufrag, pwd)
    assert [m.mid for m in frag.media] == mids
    assert all(len(m.candidates) == len(candidates) for m in frag.media)
    assert frag.to_text() == text
    # carried into an SDP and read back out of it
    sdp = replace_ice(SDP, frag)
    back = frag_from_sdp(sdp)
    assert (back.ufrag, back.pwd) == (ufrag, pwd)


@settings(max_examples=300)
@given(st.binary(max_size=600) | st.text(max_size=600).map(str.encode))
def test_any_bytes_give_a_fragment_or_sdpfrag_error(data: bytes) -> None:
    try:
        parse_sdpfrag(data)
    except SdpFragError:
        pass


def test_replace_ice_swaps_credentials_candidates_and_bumps_the_version() -> None:
    frag = parse_sdpfrag(GSTREAMER_FRAG.replace("video0", "0"))
    sdp = replace_ice(SDP, frag)
    assert "a=ice-ufrag:olduf" not in sdp and sdp.count(f"a=ice-ufrag:{frag.ufrag}") == 2
    assert "127.0.0.1 5000" not in sdp and sdp.count("a=candidate:") == 3
    assert "o=- 7 3 IN IP4" in sdp
    # the candidates stay in the section of their mid
    video, audio = sdp.split("m=audio")
    assert "a=candidate:" in video and "a=candidate:" not in audio


# ---------------------------------------------------------------------- Link headers
def test_rfc_9725_example_links() -> None:
    links = parse_link_header(
        [
            '<stun:stun.example.net>; rel="ice-server"',
            '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user";'
            ' credential="myPassword"; credential-type="password"',
            "<https://example.org/next>; rel=next, <turns:turn.example.net?transport=tcp>;"
            ' rel="ice-server"; username="u"; credential="a\\"b"',
        ]
    )
    assert len(links) == 4 and links[2].rels == ["next"]
    assert ice_servers(links) == [
        IceServerLink("stun:stun.example.net"),
        IceServerLink("turn:turn.example.net?transport=udp", "user", "myPassword"),
        IceServerLink("turns:turn.example.net?transport=tcp", "u", 'a"b'),
    ]
    assert "myPassword" not in repr(ice_servers(links))


@pytest.mark.parametrize(
    "value",
    [
        "stun:x; rel=ice-server",
        "<stun:x",
        '<stun:x>; rel="ice-server',
        "<stun:x>; =x",
        "<stun:x> junk",
        "<>; rel=x",
        '<stun:x>; rel="a\x01"',
    ],
)
def test_bad_link_headers(value: str) -> None:
    with pytest.raises(LinkHeaderError):
        parse_link_header(value)


def test_link_bounds() -> None:
    with pytest.raises(LinkHeaderError, match="links"):
        parse_link_header(", ".join(["<stun:x>; rel=ice-server"] * (MAX_LINKS + 1)))
    with pytest.raises(LinkHeaderError, match="bytes"):
        parse_link_header("<stun:" + "x" * 9000 + ">")


_PARAM = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)


@given(
    host=st.text("abcdefghij.-", min_size=1, max_size=20),
    scheme=st.sampled_from(["stun", "stuns", "turn", "turns"]),
    username=st.none() | _PARAM,
    credential=st.none() | _PARAM,
)
def test_ice_server_link_round_trip(
    host: str, scheme: str, username: str | None, credential: str | None
) -> None:
    server = IceServerLink(f"{scheme}:{host}", username, credential)
    assert ice_servers(parse_link_header(server.to_header())) == [server]


@settings(max_examples=300)
@given(st.text(max_size=400))
def test_any_text_gives_links_or_link_header_error(text: str) -> None:
    try:
        parse_link_header(text)
    except LinkHeaderError:
        pass


# ---------------------------------------------------------------------- Ogg Opus
_TOC = st.sampled_from([0x78, 0xF8, 0xFC, 0x08, 0x48])  # CELT/SILK 20 ms and 10 ms


@given(st.lists(st.tuples(_TOC, st.binary(max_size=700)), min_size=1, max_size=20))
def test_ogg_round_trip_with_our_writer(packets: list[tuple[int, bytes]]) -> None:
    out = io.BytesIO()
    writer = OggOpusWriter(out, channels=2)
    data = [bytes([toc]) + body for toc, body in packets]
    for i, packet in enumerate(data):
        writer.write(EncodedFrame(packet, i))
    writer.close()
    parsed = parse_ogg_opus(out.getvalue())
    assert parsed.channels == 2 and parsed.packets == tuple(data)
    track = OggOpusTrack(out.getvalue())
    sent = []
    while (frame := track.next_frame()) is not None:
        sent.append(frame)
    assert [f.data for f in sent] == data
    assert all(b.timestamp > a.timestamp for a, b in itertools.pairwise(sent))


def _ogg(packets: list[bytes]) -> bytes:
    out = io.BytesIO()
    writer = OggOpusWriter(out)
    for packet in packets:
        writer.write(EncodedFrame(packet, 0))
    writer.close()
    return out.getvalue()


def test_ogg_errors() -> None:
    good = _ogg([b"\x78" + bytes(100)] * 3)
    broken = bytearray(good)
    broken[-5] ^= 0xFF
    with pytest.raises(MediaFormatError, match="CRC"):
        parse_ogg_opus(bytes(broken))
    with pytest.raises(MediaFormatError, match="truncated"):
        parse_ogg_opus(good[:-3])
    with pytest.raises(MediaFormatError):
        parse_ogg_opus(b"")
    with pytest.raises(MediaFormatError, match="no page"):
        parse_ogg_opus(b"RIFF" + bytes(40))
    with pytest.raises(MediaFormatError, match="no audio packets"):
        OggOpusTrack(_ogg([]))
    # a packet continued over pages (all lacing values 255) past the bound
    spanning = _ogg([]) + _raw_page(255 * [255], 0x00) + _raw_page(255 * [255], 0x01)
    assert 2 * 255 * 255 > MAX_OGG_PACKET_SIZE
    with pytest.raises(MediaFormatError, match="packet over"):
        parse_ogg_opus(spanning)


def _raw_page(lacing: list[int], flags: int) -> bytes:
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, -1, 0x50525453, 9, 0, len(lacing))
    page = bytearray(header + bytes(lacing) + bytes(sum(lacing)))
    struct.pack_into("<I", page, 22, ogg_crc32(bytes(page)))
    return bytes(page)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_give_an_ogg_file_or_media_format_error(data: bytes) -> None:
    try:
        parse_ogg_opus(b"OggS\x00\x02" + data)
    except MediaFormatError:
        pass


# ---------------------------------------------------------------------- fuzz harnesses
def _harness(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PROJECT / "fuzz" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("fuzz_whip_sdpfrag", GSTREAMER_FRAG.encode()),
        (
            "fuzz_whip_links",
            b'<turn:t?transport=udp>; rel="ice-server"; username="u"; credential="p"',
        ),
        ("fuzz_media_ogg", _ogg([b"\x78" + bytes(300), b"\xfc\x01\x02"])),
    ],
)
def test_fuzz_harness_over_seeds(name: str, seed: bytes) -> None:
    harness = _harness(name)
    rng = random.Random(18)
    seeds = [b"", seed, seed[:10], seed[:-3]]
    for _ in range(200):
        blob = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        seeds.append(bytes(blob))
    for data in seeds:
        harness.TestOneInput(data)
