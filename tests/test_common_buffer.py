from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.common import BufferReadError, ParseError, Reader, Writer


def test_integers_round_trip_big_endian() -> None:
    w = Writer()
    w.u8(0xAB)
    w.u16(0x0102)
    w.u24(0x030405)
    w.u32(0x06070809)
    w.u48(0x0A0B0C0D0E0F)
    w.u64(0x1011121314151617)
    data = w.getvalue()
    assert data.hex() == "ab0102030405060708090a0b0c0d0e0f1011121314151617"
    r = Reader(data)
    assert (r.u8(), r.u16(), r.u24(), r.u32(), r.u48(), r.u64()) == (
        0xAB,
        0x0102,
        0x030405,
        0x06070809,
        0x0A0B0C0D0E0F,
        0x1011121314151617,
    )
    assert r.eof()
    r.expect_end()


def test_read_past_end_is_a_parse_error() -> None:
    r = Reader(b"\x00\x01\x02")
    r.u16()
    with pytest.raises(BufferReadError):
        r.u16()
    assert issubclass(BufferReadError, ParseError)
    assert r.remaining == 1  # a failed read consumes nothing


def test_sub_reader_is_confined_to_its_block() -> None:
    r = Reader(b"\x00\x02\xaa\xbb\xcc")
    block = r.sub_vector(2)
    assert block.take(2) == b"\xaa\xbb"
    with pytest.raises(BufferReadError):
        block.u8()  # the neighbour's byte is out of reach
    assert r.u8() == 0xCC


def test_expect_end_rejects_trailing_bytes() -> None:
    r = Reader(b"\x01\x02")
    r.u8()
    with pytest.raises(BufferReadError, match="1 trailing"):
        r.expect_end("thing")


def test_length_prefixed_block_fills_its_length() -> None:
    w = Writer()
    with w.length_prefixed(3):
        w.write(b"abcd")
        w.u16(7)
    assert w.getvalue() == b"\x00\x00\x06abcd\x00\x07"


def test_negative_length_is_rejected() -> None:
    with pytest.raises(BufferReadError):
        Reader(b"abc").take(-1)


@given(st.lists(st.binary(max_size=300), max_size=20), st.sampled_from([1, 2, 3]))
def test_vectors_round_trip(items: list[bytes], width: int) -> None:
    w = Writer()
    kept = [i for i in items if len(i) < 256**width]
    for item in kept:
        w.vector(width, item)
    r = Reader(w.getvalue())
    assert [r.vector(width) for _ in kept] == kept
    r.expect_end()


@given(st.binary(max_size=64), st.lists(st.sampled_from(["u8", "u16", "u24", "u32", "u48", "u64"])))
def test_hostile_reads_raise_only_buffer_errors(data: bytes, ops: list[str]) -> None:
    r = Reader(data)
    for op in ops:
        try:
            getattr(r, op)()
        except BufferReadError:
            pass
    assert 0 <= r.remaining <= len(data)


def test_a_failed_length_prefixed_block_raises_what_it_raised() -> None:
    """The block's own error comes out, not the prefix's overflow (a 1-byte prefix cannot
    hold 300), and nested blocks fill in their lengths innermost first."""
    w = Writer()
    with pytest.raises(KeyError), w.length_prefixed(1):
        w.write(bytes(300))
        raise KeyError("inside")
    w = Writer()
    with w.length_prefixed(2):
        w.u8(7)
        with w.length_prefixed(1):
            w.write(b"ab")
    assert w.getvalue() == b"\x00\x04\x07\x02ab"
