"""SDP grammar (RFC 8866 §5), lossless round trip, limits, hostile input (CHECKLISTS SDP-xx)."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrtcstack.common.errors import ParseError as CommonParseError
from pyrtcstack.sdp import (
    MAX_CANDIDATES,
    MAX_LINE_LENGTH,
    MAX_MEDIA_SECTIONS,
    MAX_SDP_SIZE,
    Attribute,
    Bandwidth,
    Candidate,
    Connection,
    ExtMap,
    Fingerprint,
    MediaDescription,
    Origin,
    ParseError,
    RtcpFeedback,
    RtpMap,
    SessionDescription,
    Timing,
)

CHROMIUM = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_bytes().decode()

# RFC 8866 §5 example, verbatim (LF line endings as printed in the RFC).
RFC_EXAMPLE = """v=0
o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1
s=Call to John Smith
i=SDP Offer #1
u=http://www.jdoe.example.com/home.html
e=Jane Doe <jane@jdoe.example.com>
p=+1 617 555-6011
c=IN IP4 198.51.100.1
t=0 0
m=audio 49170 RTP/AVP 0
m=audio 49180 RTP/AVP 0
m=video 51372 RTP/AVP 99
c=IN IP6 2001:db8::2
a=rtpmap:99 h263-1998/90000
"""


def test_rfc_8866_example() -> None:
    d = SessionDescription.parse(RFC_EXAMPLE)
    assert d.origin == Origin("jdoe", 3724394400, 3724394405, "IN", "IP4", "198.51.100.1")
    assert d.session_name == "Call to John Smith" and d.information == "SDP Offer #1"
    assert d.uri == "http://www.jdoe.example.com/home.html"
    assert d.emails == ["Jane Doe <jane@jdoe.example.com>"] and d.phones == ["+1 617 555-6011"]
    assert d.connection == Connection("IN", "IP4", "198.51.100.1")
    assert [m.kind for m in d.media] == ["audio", "audio", "video"]
    audio = d.media[0]
    assert [(c.payload_type, c.name, c.clock_rate) for c in audio.codecs()] == [(0, "PCMU", 8000)]
    video = d.media[2]
    assert video.effective_connection(d) == Connection("IN", "IP6", "2001:db8::2")
    assert audio.effective_connection(d) == d.connection
    assert video.codecs()[0].name == "h263-1998"
    assert str(d) == RFC_EXAMPLE.replace("\n", "\r\n")


def test_chromium_offer_typed_accessors() -> None:
    """SDP-07/09/10/11/12 on a real Chromium 156 offer."""
    d = SessionDescription.parse(CHROMIUM)
    assert d.origin.session_version == 2 and d.extmap_allow_mixed
    assert d.msid_semantic == " WMS dc318704-56f2-4426-912c-7e16be22b6eb"
    audio, data = d.media
    assert (audio.kind, audio.port, audio.protocol, audio.mid) == (
        "audio",
        33802,
        "UDP/TLS/RTP/SAVPF",
        "0",
    )
    assert audio.ice_ufrag == "cZML" and audio.ice_options == ["trickle"]
    assert (
        audio.fingerprints[0].algorithm == "sha-256" and len(audio.fingerprints[0].digest()) == 32
    )
    tcp = audio.candidates[1]
    assert (tcp.transport, tcp.port, tcp.tcptype) == ("tcp", 9, "active")
    assert audio.rtcp is not None and audio.rtcp.port == 9
    assert audio.rtcp.connection == "IN IP4 0.0.0.0"
    assert [e.id for e in audio.extmaps] == [1, 2, 3, 4]
    assert audio.msids[0].stream_id == "dc318704-56f2-4426-912c-7e16be22b6eb"
    assert audio.ssrcs == [2753376374]
    assert audio.ssrc_attributes[0].attribute == "cname"
    red = next(c for c in audio.codecs() if c.name == "red")
    assert red.parameters == {"111/111": ""} and red.fmtp == "111/111"
    assert audio.attribute("rtcp-xr") == "rcvr-rtt=all"  # unknown to us, kept
    assert (data.sctp_port, data.max_message_size, data.sctpmap) == (5000, 262144, None)
    assert audio.effective_direction(d) == "sendrecv" and data.effective_direction(d) == "sendrecv"
    assert str(d) == CHROMIUM


def test_lf_in_crlf_out_and_no_final_newline() -> None:
    lf = CHROMIUM.replace("\r\n", "\n")
    d = SessionDescription.parse(lf)
    assert str(d) == CHROMIUM
    assert SessionDescription.parse(CHROMIUM.rstrip("\r\n")) == d
    assert SessionDescription.parse(CHROMIUM.encode()) == d
    assert SessionDescription.parse(CHROMIUM + "\r\n\r\n") == d  # trailing blank lines


def test_unknown_attributes_kept_in_order_known_malformed_fail() -> None:
    """SDP-02: a=x-foo kept; a malformed rtpmap fails with its line number."""
    lines = CHROMIUM.split("\r\n")
    i = lines.index("a=mid:0")
    lines[i + 1 : i + 1] = ["a=x-foo:bar", "a=x-flag", "a=weird syntax:: here"]
    d = SessionDescription.parse("\r\n".join(lines))
    names = [a.name for a in d.media[0].attributes]
    j = names.index("mid")
    assert d.media[0].attributes[j + 1 : j + 4] == [
        Attribute("x-foo", "bar"),
        Attribute("x-flag"),
        Attribute("weird syntax", ": here"),
    ]
    assert str(d) == "\r\n".join(lines)
    lines[i + 1] = "a=rtpmap:abc"
    with pytest.raises(ParseError) as info:
        SessionDescription.parse("\r\n".join(lines))
    assert info.value.line_number == i + 2
    assert "payload type" in info.value.reason or "rtpmap" in info.value.reason
    assert f"line {i + 2}:" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "marker"),
    [
        (
            "v=0\r\no=- 4474382748537579653 2 IN IP4 127.0.0.1\r\n",
            "o=- 4474382748537579653 2 IN IP4 127.0.0.1\r\nv=0\r\n",
            "o=",
        ),  # o= before v=
        ("s=-\r\n", "", "t="),  # no s=
        ("t=0 0\r\n", "", "m=audio"),  # m= before t=
        ("a=setup:actpass", "a=setup:sideways", "a=setup:sideways"),
        ("a=ice-ufrag:cZML", "a=ice-ufrag:cZ ML", "a=ice-ufrag:cZ ML"),
        ("a=mid:0", "a=mid", "a=mid"),
        ("m=audio 33802", "m=audio 70000", "m=audio"),
        ("c=IN IP4 127.0.0.1", "c=IN", "c=IN"),
        ("a=extmap:1 ", "a=extmap:0 ", "a=extmap:0"),
        ("a=ssrc:2753376374 cname", "a=ssrc:99999999999 cname", "a=ssrc:9999"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:128 opus/48000/2", "a=rtpmap:128"),
        ("a=fmtp:111 minptime", "a=fmtp: minptime", "a=fmtp: "),
        ("a=sctp-port:5000", "a=sctp-port:-1", "a=sctp-port:-1"),
        ("s=-\r\n", "s=-\r\nq=what\r\n", "q="),  # unknown type letter
        ("\r\nm=application", "\r\nt=0 0\r\nm=application", "t=0 0"),  # t= in media
        ("a=mid:0\r\n", "a=mid:0\rx\r\n", "a=mid:0\rx"),  # bare CR
        ("t=0 0\r\n", "\r\nt=0 0\r\n", ""),  # empty line inside
        ("a=fingerprint:sha-256 A5:9B", "a=fingerprint:sha-256 A5:9", "a=fingerprint"),
        (
            "a=candidate:1429386192 1 udp",
            "a=candidate:1429386192 0 udp",
            "a=candidate:1429386192 0",
        ),
    ],
)
def test_malformed_lines_fail_with_line_number(old: str, new: str, marker: str) -> None:
    """SDP-01/02/07/10: structure errors and malformed known attributes fail, with the line."""
    assert old in CHROMIUM
    text = CHROMIUM.replace(old, new, 1)
    lines = text.split("\n")
    first = text[: text.index(new) if new else CHROMIUM.index(old)].count("\n") + 1
    expected = next(
        i
        for i, line in enumerate(lines, 1)
        if i >= first and line.rstrip("\r").startswith(marker.rstrip("\r"))
    )
    with pytest.raises(ParseError) as info:
        SessionDescription.parse(text)
    assert info.value.line_number == expected, info.value


def test_session_level_fallbacks() -> None:
    """Session-level ICE/DTLS attributes apply to sections that lack their own."""
    text = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:sess\r\n"
        "a=ice-pwd:sessionpasswordsession22\r\na=fingerprint:sha-1 "
        + ":".join(["0A"] * 20)
        + "\r\na=setup:passive\r\na=sendonly\r\na=end-of-candidates\r\na=ice-lite\r\n"
        "m=audio 9 RTP/AVP 0\r\na=ice-ufrag:medi\r\n"
    )
    d = SessionDescription.parse(text)
    m = d.media[0]
    assert m.effective_ice_ufrag(d) == "medi" and m.effective_ice_pwd(d) == d.ice_pwd
    assert m.effective_fingerprints(d)[0].algorithm == "sha-1"
    assert m.effective_setup(d) == "passive" and m.effective_direction(d) == "sendonly"
    assert m.effective_end_of_candidates(d) and m.effective_ice_lite(d)
    assert m.effective_connection(d) is None


def test_limits() -> None:
    with pytest.raises(ParseError, match="MAX_SDP_SIZE"):
        SessionDescription.parse("v=0\n" + "a=x\n" * (MAX_SDP_SIZE // 4))
    with pytest.raises(ParseError, match="MAX_LINE_LENGTH") as info:
        SessionDescription.parse(CHROMIUM + "a=x:" + "y" * MAX_LINE_LENGTH)
    assert info.value.line_number == CHROMIUM.count("\n") + 1
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    with pytest.raises(ParseError, match="MAX_MEDIA_SECTIONS"):
        SessionDescription.parse(head + "m=audio 0 RTP/AVP 0\r\n" * (MAX_MEDIA_SECTIONS + 1))
    cand = "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"
    with pytest.raises(ParseError, match="MAX_CANDIDATES"):
        SessionDescription.parse(head + "m=audio 9 RTP/AVP 0\r\n" + cand * (MAX_CANDIDATES + 1))
    SessionDescription.parse(head + "m=audio 9 RTP/AVP 0\r\n" + cand * MAX_CANDIDATES)


def test_errors_are_the_documented_subclass() -> None:
    for bad in ["", "x", b"\xff\xfe", "v=0\x00"]:
        with pytest.raises(ParseError) as info:
            SessionDescription.parse(bad)
        assert isinstance(info.value, CommonParseError) and isinstance(info.value, ValueError)


def test_editing_helpers() -> None:
    d = SessionDescription.parse(CHROMIUM)
    m = d.media[0]
    m.set_attribute("setup", "active")
    assert m.setup == "active" and m.attribute_values("setup") == ["active"]
    m.add_candidate(Candidate.parse("candidate:9 1 udp 5 10.0.0.1 1234 typ host"))
    assert m.candidates[-1].port == 1234
    m.remove_attribute("candidate")
    assert m.candidates == []
    assert d.media_by_mid("1") is d.media[1] and d.media_by_mid("9") is None
    assert d.bundle_group_of("1") is not None and d.bundle_group_of("9") is None
    assert SessionDescription.parse(str(d)) == d


# ---------------------------------------------------------------- hypothesis: valid models

_token = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+", min_size=1, max_size=12
)
_free_text = st.text(
    st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=30
)
_uint32 = st.integers(0, 2**32 - 1)


@st.composite
def _known_attribute(draw: st.DrawFn) -> Attribute:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        c = Candidate(
            draw(st.text("abc019+/", min_size=1, max_size=8)),
            draw(st.integers(1, 256)),
            draw(st.sampled_from(["udp", "tcp"])),
            draw(st.integers(1, 2**31 - 1)),
            draw(st.sampled_from(["10.0.0.1", "::1", "x.local"])),
            draw(st.integers(0, 65535)),
            draw(st.sampled_from(["host", "srflx", "relay"])),
        )
        return Attribute("candidate", c.value)
    if kind == 1:
        algorithm, size = draw(st.sampled_from([("sha-256", 32), ("sha-1", 20), ("x-new", 3)]))
        octets = draw(st.lists(st.integers(0, 255), min_size=size, max_size=size))
        return Attribute(
            "fingerprint", str(Fingerprint(algorithm, ":".join(f"{o:02X}" for o in octets)))
        )
    if kind == 2:
        r = RtpMap(
            draw(st.integers(0, 127)),
            draw(_token),
            draw(_uint32),
            draw(st.none() | st.integers(1, 8)),
        )
        return Attribute("rtpmap", str(r))
    if kind == 3:
        fb = RtcpFeedback(
            draw(st.sampled_from(["*", "96"])), draw(_token), draw(st.none() | _token)
        )
        return Attribute("rtcp-fb", str(fb))
    if kind == 4:
        e = ExtMap(
            draw(st.integers(1, 255)),
            draw(_token),
            draw(st.none() | st.sampled_from(["sendonly", "recvonly"])),
        )
        return Attribute("extmap", str(e))
    if kind == 5:
        return Attribute(
            draw(
                st.sampled_from(
                    ["sendrecv", "recvonly", "rtcp-mux", "bundle-only", "end-of-candidates"]
                )
            )
        )
    if kind == 6:
        return Attribute("setup", draw(st.sampled_from(["actpass", "active", "passive"])))
    if kind == 7:
        return Attribute(draw(st.sampled_from(["ice-ufrag", "ice-pwd", "mid"])), draw(_token))
    if kind == 8:
        return Attribute(
            draw(st.sampled_from(["sctp-port", "max-message-size"])),
            str(draw(st.integers(0, 65535))),
        )
    return Attribute("ssrc", f"{draw(_uint32)} cname:{draw(_token)}")


_unknown_attribute = st.builds(
    Attribute,
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10).map(lambda s: "x-" + s),
    st.none() | _free_text,
)
_attributes = st.lists(_known_attribute() | _unknown_attribute, max_size=8)
_connection = st.builds(Connection, st.just("IN"), st.sampled_from(["IP4", "IP6"]), _token)
_bandwidth = st.builds(Bandwidth, st.sampled_from(["AS", "TIAS", "CT"]), st.integers(0, 10**9))


@st.composite
def _media(draw: st.DrawFn) -> MediaDescription:
    return MediaDescription(
        kind=draw(st.sampled_from(["audio", "video", "application", "text"])),
        port=draw(st.integers(0, 65535)),
        protocol=draw(st.sampled_from(["UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", "RTP/AVP"])),
        formats=draw(st.lists(_token, min_size=1, max_size=5)),
        port_count=draw(st.none() | st.integers(1, 4)),
        information=draw(st.none() | _free_text),
        connections=draw(st.lists(_connection, max_size=2)),
        bandwidths=draw(st.lists(_bandwidth, max_size=2)),
        key=draw(st.none() | _free_text),
        attributes=draw(_attributes),
    )


@st.composite
def sessions(draw: st.DrawFn) -> SessionDescription:
    return SessionDescription(
        origin=Origin(
            draw(_token),
            draw(st.integers(0, 2**64 - 1)),
            draw(st.integers(0, 2**63)),
            "IN",
            draw(st.sampled_from(["IP4", "IP6"])),
            draw(_token),
        ),
        session_name=draw(_free_text),
        information=draw(st.none() | _free_text),
        uri=draw(st.none() | _free_text),
        emails=draw(st.lists(_free_text, max_size=2)),
        phones=draw(st.lists(_free_text, max_size=2)),
        connection=draw(st.none() | _connection),
        bandwidths=draw(st.lists(_bandwidth, max_size=2)),
        timings=draw(
            st.lists(
                st.builds(
                    Timing,
                    _uint32,
                    _uint32,
                    st.lists(_token.map(lambda s: "1 " + s), max_size=2),
                ),
                min_size=1,
                max_size=2,
            )
        ),
        time_zones=draw(st.none() | _token),
        key=draw(st.none() | _free_text),
        attributes=draw(_attributes),
        media=draw(st.lists(_media(), max_size=4)),
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_model_text_model(desc: SessionDescription) -> None:
    text = str(desc)
    again = SessionDescription.parse(text)
    assert again == desc
    assert str(again) == text
    assert SessionDescription.parse(text.replace("\r\n", "\n")) == desc


# ---------------------------------------------------------------- hypothesis: hostile text


def _only_parse_error(data: str | bytes) -> None:
    try:
        d = SessionDescription.parse(data)
    except ParseError as exc:
        assert exc.reason
        return
    # Whatever parses is written losslessly.
    assert SessionDescription.parse(str(d)) == d


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_hostile_text(text: str) -> None:
    _only_parse_error(text)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_hostile_bytes(data: bytes) -> None:
    _only_parse_error(data)


@settings(max_examples=300)
@given(st.data())
def test_mutated_browser_sdp(data: st.DataObject) -> None:
    """Real Chromium lines, shuffled, dropped, duplicated and damaged."""
    lines = CHROMIUM.split("\r\n")
    ops = data.draw(
        st.lists(st.tuples(st.integers(0, 4), st.integers(0, 200), st.text(max_size=5)), max_size=6)
    )
    for op, pos, junk in ops:
        i = pos % len(lines)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[(i * 7) % len(lines)])
        elif op == 2:
            lines[i] = lines[i][: pos % (len(lines[i]) + 1)] + junk
        elif op == 3:
            lines[i], lines[-1 - i] = lines[-1 - i], lines[i]
        if not lines:
            lines = [""]
    _only_parse_error(data.draw(st.sampled_from(["\r\n", "\n"])).join(lines))


def test_checklist_grammar_details() -> None:
    """SDP-06/09/10/13: case-insensitive names, ice-options tokens, lowercase fingerprint
    hex, b=AS in a data section, rtcp-fb:* applying to every payload type."""
    text = CHROMIUM.replace("a=ice-options:trickle", "a=ice-options:trickle ice2 foo", 1)
    text = text.replace("A5:9B:FB:9F", "a5:9b:fb:9f", 1)
    text = text.replace(
        "m=application 35857 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\n",
        "m=application 35857 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\nb=AS:30\r\n",
    )
    text = text.replace(
        "a=rtcp-fb:111 transport-cc", "a=rtcp-fb:* nack\r\na=rtcp-fb:111 transport-cc"
    )
    text = text.replace("opus/48000/2", "OPUS/48000/2")
    d = SessionDescription.parse(text)
    audio, data = d.media
    assert audio.ice_options == ["trickle", "ice2", "foo"]
    assert audio.fingerprints[0].value.startswith("a5:9b:fb:9f")
    assert audio.fingerprints[0].digest() == d.media[1].fingerprints[0].digest()
    assert data.bandwidths == [Bandwidth("AS", 30)]
    codecs = audio.codecs()
    assert codecs[0].name == "OPUS" and codecs[0].mime_type == "opus"
    assert all("nack" in [fb.value for fb in c.feedback] for c in codecs)
    assert [fb.value for fb in codecs[0].feedback] == ["nack", "transport-cc"]
    assert str(SessionDescription.parse(str(d))) == str(d)


_FULL_PARSERS = {
    "rtpmap": RtpMap.parse,
    "rtcp-fb": RtcpFeedback.parse,
    "fmtp": __import__("pyrtcstack.sdp", fromlist=["Fmtp"]).Fmtp.parse,
    "ssrc": __import__("pyrtcstack.sdp", fromlist=["SsrcAttribute"]).SsrcAttribute.parse,
    "extmap": ExtMap.parse,
}
_value_text = st.text(" */:0123456789abx\t-", max_size=16) | st.sampled_from(
    ["111 opus/48000/2", "96 VP8/90000", "* nack", "96 nack pli", "1 urn:x", "12345 cname:x"]
)


@settings(max_examples=300)
@given(st.sampled_from(sorted(_FULL_PARSERS)), _value_text)
def test_fast_validators_accept_exactly_what_the_accessors_parse(name: str, value: str) -> None:
    from pyrtcstack.sdp.attributes import VALIDATORS

    def ok(fn) -> bool:  # type: ignore[no-untyped-def]
        try:
            fn(value)
        except ParseError:
            return False
        return True

    assert ok(VALIDATORS[name]) == ok(_FULL_PARSERS[name])


def test_known_attribute_names_are_one_shared_string() -> None:
    """Two parsed descriptions share each known attribute name's string (a thousand
    connections keep two thousand descriptions); an unknown name is the description's
    own, so a peer's names do not accumulate."""
    text = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
        "a=ice-ufrag:abcd\r\na=sctp-port:5000\r\na=end-of-candidates\r\na=x-made-up:1\r\n"
    )
    first, second = SessionDescription.parse(text), SessionDescription.parse(text)
    names = [[a.name for a in d.media[0].attributes] for d in (first, second)]
    assert names[0] == names[1] == ["ice-ufrag", "sctp-port", "end-of-candidates", "x-made-up"]
    assert all(a is b for a, b in zip(names[0][:3], names[1][:3], strict=True))
    assert names[0][3] is not names[1][3]
