"""RFC 8839 §5.1 candidate grammar: browser examples, ranges, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.common.errors import ParseError as CommonParseError
from pyrtcstack.sdp import Candidate, ParseError

# Real lines from Chromium / Firefox offers and RFC 8839 §5.1's example.
EXAMPLES = [
    "candidate:1 1 UDP 2130706431 203.0.113.141 8998 typ host",
    "candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 203.0.113.141 rport 8998",
    "candidate:3711279578 1 udp 2113937151 9b36eaac-bb2e-49bb-bb78-21c41c499900.local "
    "54320 typ host generation 0 ufrag 3e3E network-cost 999",
    "candidate:842163049 1 udp 1677729535 198.51.100.7 61012 typ srflx raddr 0.0.0.0 "
    "rport 0 generation 0 ufrag 3e3E network-cost 999",
    "candidate:1 1 tcp 1518280447 192.168.1.2 9 typ host tcptype active generation 0 "
    "ufrag Ab12 network-id 1",
    "candidate:0 1 TCP 2105524479 10.0.0.5 9 typ host tcptype active",
    "candidate:3 1 UDP 92217087 198.51.100.9 53740 typ relay raddr 198.51.100.7 rport 61012",
    "candidate:4 2 udp 2122260222 2001:db8::1 40001 typ host generation 0 network-id 2",
    "candidate:a+b/C 256 udp 1 ::1 0 typ prflx",
]


@pytest.mark.parametrize("line", EXAMPLES)
def test_round_trip_is_exact(line: str) -> None:
    c = Candidate.parse(line)
    assert str(c) == line
    assert Candidate.parse("a=" + line) == c
    assert Candidate.parse(line[len("candidate:") :]) == c
    assert Candidate.parse(line + "\r\n") == c


def test_fields() -> None:
    c = Candidate.parse(EXAMPLES[3])
    assert (c.foundation, c.component, c.transport, c.priority) == (
        "842163049",
        1,
        "udp",
        1677729535,
    )
    assert (c.address, c.port, c.type) == ("198.51.100.7", 61012, "srflx")
    assert (c.related_address, c.related_port) == ("0.0.0.0", 0)
    assert c.extensions == [("generation", "0"), ("ufrag", "3e3E"), ("network-cost", "999")]
    assert c.extension("ufrag") == "3e3E" and c.extension("nope") is None
    t = Candidate.parse(EXAMPLES[4])
    assert t.tcptype == "active" and t.transport == "tcp"
    assert t.extensions == [("generation", "0"), ("ufrag", "Ab12"), ("network-id", "1")]


def test_tcptype_position_kept() -> None:
    line = "candidate:1 1 tcp 5 10.0.0.1 9 typ host generation 0 tcptype passive"
    assert str(Candidate.parse(line)) == line


def test_constructed_candidate_writes() -> None:
    c = Candidate("f1", 1, "udp", 100, "10.0.0.1", 5000, "host", extensions=[("generation", "0")])
    assert str(c) == "candidate:f1 1 udp 100 10.0.0.1 5000 typ host generation 0"
    assert c.value == "f1 1 udp 100 10.0.0.1 5000 typ host generation 0"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "candidate:",
        "candidate:1 1 UDP 2130706431 203.0.113.141 8998 host",  # no 'typ'
        "candidate:1 0 UDP 1 1.2.3.4 1 typ host",  # component 0
        "candidate:1 257 UDP 1 1.2.3.4 1 typ host",  # component > 256
        "candidate:1 1 UDP 0 1.2.3.4 1 typ host",  # priority 0
        "candidate:1 1 UDP 2147483648 1.2.3.4 1 typ host",  # priority 2^31
        "candidate:1 1 UDP 1 1.2.3.4 65536 typ host",  # port
        "candidate:1 1 UDP 1 1.2.3.4 -1 typ host",
        "candidate:1 1 UDP 1 1.2.3.4 ١٢ typ host",  # non-ASCII digits
        "candidate:" + "a" * 33 + " 1 UDP 1 1.2.3.4 1 typ host",  # foundation too long
        "candidate:a-b 1 UDP 1 1.2.3.4 1 typ host",  # '-' is not an ice-char
        "candidate:1 1 UDP 1 1.2.3.4 1 typ host generation",  # extension without value
        "candidate:1 1 UDP 1 1.2.3.4 1 typ srflx raddr 1.2.3.4 rport x",
    ],
)
def test_rejects(bad: str) -> None:
    with pytest.raises(ParseError) as info:
        Candidate.parse(bad)
    assert isinstance(info.value, CommonParseError)
    assert info.value.line_number is None and info.value.reason


_ice = st.text("abcXYZ019+/", min_size=1, max_size=32)
_tok = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    related = draw(st.booleans())
    ext_names = st.sampled_from(["generation", "ufrag", "network-id", "network-cost", "x-y"])
    return Candidate(
        foundation=draw(_ice),
        component=draw(st.integers(1, 256)),
        transport=draw(st.sampled_from(["udp", "UDP", "tcp", "TCP"])),
        priority=draw(st.integers(1, 2**31 - 1)),
        address=draw(st.sampled_from(["10.0.0.1", "::1", "2001:db8::5", "abc.local"])),
        port=draw(st.integers(0, 65535)),
        type=draw(st.sampled_from(["host", "srflx", "prflx", "relay"])),
        related_address="0.0.0.0" if related else None,
        related_port=draw(st.integers(0, 65535)) if related else None,
        tcptype=draw(st.sampled_from([None, "active", "passive", "so"])),
        extensions=draw(st.lists(st.tuples(ext_names, _tok), max_size=4)),
    )


@given(candidates())
def test_model_text_model(c: Candidate) -> None:
    again = Candidate.parse(str(c))
    assert again == c
    assert str(again) == str(c)


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_hostile_text_only_parse_error(text: str) -> None:
    try:
        c = Candidate.parse(text)
    except ParseError:
        return
    assert Candidate.parse(str(c)) == c
