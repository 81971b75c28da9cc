"""SIP over a byte stream (RFC 3261 §18.3 Content-Length framing) and every codec limit
(docs/security.md, "SIP codec: message limits") under abuse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sip_strategies import messages

from pyrtcstack.sip import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    parse_message,
)

HEADERS = (
    ("Via", "SIP/2.0/TCP h;branch=z9hG4bK1"),
    ("From", "<sip:a@b>;tag=1"),
    ("To", "<sip:a@b>"),
    ("Call-ID", "c"),
    ("CSeq", "1 OPTIONS"),
)
OPTIONS = Request("OPTIONS", "sip:a@b", HEADERS, b"hello")


@given(st.lists(messages, min_size=1, max_size=4), st.data())
def test_stream_cut_anywhere_gives_the_same_messages(
    sent: list[Request | Response], data: st.DataObject
) -> None:
    stream = b"".join(
        data.draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"])) + m.encode() for m in sent
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    framer = StreamFramer()
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += framer.feed(stream[a:b])
    assert got == sent
    assert framer.buffered == 0


def test_keepalive_crlfs_are_counted_and_skipped() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.crlfs == 2
    assert framer.feed(b"\r\n" + OPTIONS.encode()) == [OPTIONS]
    assert framer.crlfs == 3


def test_stream_needs_content_length_and_stays_failed() -> None:
    framer = StreamFramer()
    data = OPTIONS.encode().replace(b"Content-Length: 5\r\n", b"")
    with pytest.raises(SipParseError, match="Content-Length"):
        framer.feed(data)
    # the stream cannot be re-synchronised: every later feed fails the same way
    with pytest.raises(SipParseError, match="Content-Length"):
        framer.feed(OPTIONS.encode())
    assert framer.buffered == 0


def test_head_without_end_is_bounded() -> None:
    framer = StreamFramer(max_header_bytes=1000)
    framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\n")
    line = b"X-Long: " + b"a" * 90 + b"\r\n"
    with pytest.raises(SipParseError) as exc:
        for _ in range(20):
            framer.feed(line)
            assert framer.buffered <= 1000 + len(line)
    assert exc.value.status == 513
    # the default is the documented constant
    framer = StreamFramer()
    with pytest.raises(SipParseError):
        framer.feed(b"X" * (MAX_HEADER_BYTES + 1))


def test_head_over_the_limit_in_one_piece() -> None:
    big = Request("OPTIONS", "sip:a@b", (*HEADERS, ("X-Pad", "p" * MAX_HEADER_BYTES)))
    with pytest.raises(SipParseError):
        StreamFramer().feed(big.encode())
    with pytest.raises(SipParseError):
        parse_message(big.encode())
    assert StreamFramer(max_header_bytes=2 * MAX_HEADER_BYTES).feed(big.encode()) == [big]


def test_content_length_over_the_limit_is_refused_before_the_body() -> None:
    head = OPTIONS.encode().replace(
        b"Content-Length: 5", b"Content-Length: %d" % (MAX_BODY_BYTES + 1)
    )
    framer = StreamFramer()
    with pytest.raises(SipParseError) as exc:
        framer.feed(head[: head.index(b"\r\n\r\n") + 4])
    assert exc.value.status == 513
    exactly = Request("OPTIONS", "sip:a@b", HEADERS, b"b" * MAX_BODY_BYTES)
    assert StreamFramer().feed(exactly.encode()) == [exactly]
    assert parse_message(exactly.encode()) == exactly
    over = Request("OPTIONS", "sip:a@b", HEADERS, b"b" * (MAX_BODY_BYTES + 1))
    with pytest.raises(SipParseError):
        parse_message(over.encode())


def test_header_count_is_bounded_after_comma_lists_are_split() -> None:
    # one short line holding many comma-separated values counts each value (§7.3.1)
    many = Request("OPTIONS", "sip:a@b", (*HEADERS, ("Supported", ",".join(["x"] * MAX_HEADERS))))
    with pytest.raises(SipParseError, match="header field values"):
        parse_message(many.encode())
    fits = Request("OPTIONS", "sip:a@b", (*HEADERS, *[("Supported", "x")] * (MAX_HEADERS - 5)))
    assert parse_message(fits.encode()) == fits
    lines = Request("OPTIONS", "sip:a@b", (*HEADERS, *[("X-A", "")] * MAX_HEADERS))
    with pytest.raises(SipParseError):
        StreamFramer().feed(lines.encode())


def test_huge_numbers_are_refused_without_converting_them() -> None:
    # int() of a 5,000-digit string raises ValueError in Python >= 3.11: bounded first
    huge = "9" * 5000
    base = OPTIONS.encode()
    for data in (
        base.replace(b"CSeq: 1 OPTIONS", f"CSeq: {huge} OPTIONS".encode()),
        base.replace(b"Content-Length: 5", f"Content-Length: {huge}".encode()),
        base.replace(b"\r\n\r\n", f"\r\nMax-Forwards: {huge}\r\n\r\n".encode(), 1),
    ):
        with pytest.raises(SipParseError, match="bad"):
            parse_message(data)
