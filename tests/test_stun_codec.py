"""The STUN codec: types, padding, XOR addresses, integrity coverage, unknown attributes,
and hypothesis properties (round trip of generated messages; hostile bytes give only
StunParseError)."""

from __future__ import annotations

import hmac
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.common.errors import ParseError
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import (
    Message,
    MessageClass,
    Method,
    StunParseError,
    StunUsageError,
    decode,
    is_stun,
    message_size,
    saslprep,
)

TID = bytes(range(12))


@pytest.mark.parametrize(
    ("method", "klass", "wire"),
    [
        (Method.BINDING, MessageClass.REQUEST, 0x0001),
        (Method.BINDING, MessageClass.INDICATION, 0x0011),
        (Method.BINDING, MessageClass.SUCCESS, 0x0101),
        (Method.BINDING, MessageClass.ERROR, 0x0111),
        (Method.ALLOCATE, MessageClass.REQUEST, 0x0003),
        (Method.REFRESH, MessageClass.SUCCESS, 0x0104),
        (Method.SEND, MessageClass.INDICATION, 0x0016),
        (Method.DATA, MessageClass.INDICATION, 0x0017),
        (Method.CREATE_PERMISSION, MessageClass.ERROR, 0x0118),
        (Method.CHANNEL_BIND, MessageClass.REQUEST, 0x0009),
        (0xFFF, MessageClass.ERROR, 0x3FFF),
    ],
)
def test_message_type_table(method: int, klass: MessageClass, wire: int) -> None:
    data = Message(method, klass, TID).encode()
    assert data[:2] == struct.pack("!H", wire)
    m = decode(data)
    assert (m.method, m.message_class) == (method, klass)


def test_padding_and_nonzero_padding_accepted() -> None:
    m = Message(Method.BINDING, transaction_id=TID).add_text(A.USERNAME, "abcde")
    data = m.encode()
    assert len(data) == 20 + 4 + 8 and data[-3:] == b"\0\0\0"
    assert decode(data[:-3] + b"   ").get_text(A.USERNAME) == "abcde"


@pytest.mark.parametrize(
    "addr", [("192.0.2.1", 32853), ("2001:db8::1", 1), ("0.0.0.0", 0), ("::", 65535)]
)
def test_xor_and_plain_addresses_round_trip(addr: tuple[str, int]) -> None:
    for t in (A.XOR_MAPPED_ADDRESS, A.XOR_PEER_ADDRESS, A.XOR_RELAYED_ADDRESS, A.MAPPED_ADDRESS):
        m = decode(Message(Method.BINDING, transaction_id=TID).add_address(t, addr).encode())
        assert m.get_address(t) == addr


def test_error_code_encoding() -> None:
    m = Message(Method.BINDING, MessageClass.ERROR, TID).add_error(487)
    assert m.get(A.ERROR_CODE)[:4] == bytes((0, 0, 4, 87))  # type: ignore[index]
    assert decode(m.encode()).get_error() == (487, "Role Conflict")
    with pytest.raises(StunUsageError):
        m.add_error(700)


def test_integrity_covers_exactly_the_rfc_bytes() -> None:
    key = b"secret"
    m = Message(Method.BINDING, transaction_id=TID).add_text(A.USERNAME, "a:b")
    data = m.encode(key, fingerprint=True)
    # recompute independently: header with length up to the end of MI, then attributes
    mi_at = 20 + 4 + 4
    covered = data[:2] + struct.pack("!H", mi_at + 24 - 20) + data[4:mi_at]
    assert data[mi_at + 4 : mi_at + 24] == hmac.digest(key, covered, "sha1")
    crc = zlib.crc32(data[:-8]) ^ 0x5354554E
    assert data[-4:] == struct.pack("!I", crc)
    assert decode(data).verify_integrity(key)


def test_attributes_after_integrity_are_ignored_but_sha256_and_fingerprint_count() -> None:
    key = b"k"
    base = Message(Method.BINDING, transaction_id=TID).add_text(A.USERNAME, "u")
    both = decode(base.encode(key, integrity="both", fingerprint=True))
    assert both.integrity == "sha256" and both.verify_integrity(key)
    # splice an attribute after MI, fix the length: MI still verifies, attribute ignored
    data = base.encode(key)
    extra = struct.pack("!HH", A.PRIORITY, 4) + b"\0\0\0\1"
    spliced = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    m = decode(spliced)
    assert m.ignored_after_integrity == 1 and A.PRIORITY not in m
    assert m.verify_integrity(key)


def test_attribute_after_fingerprint_is_rejected() -> None:
    data = Message(Method.BINDING, transaction_id=TID).encode(fingerprint=True)
    extra = struct.pack("!HH", A.PRIORITY, 4) + b"\0\0\0\1"
    bad = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + extra
    with pytest.raises(StunParseError):
        decode(bad, check_fingerprint=False)


def test_unknown_attributes() -> None:
    m = Message(Method.BINDING, transaction_id=TID).add(0x7FFE, b"x").add(0xC057, b"\0\1\0\n")
    d = decode(m.encode())
    assert d.unknown_required == [0x7FFE]
    assert d.get(0xC057) == b"\0\1\0\n"
    r = d.error_response(420).add_unknown_attributes(d.unknown_required)
    assert decode(r.encode()).get_unknown_attributes() == [0x7FFE]


def test_header_checks() -> None:
    good = Message(Method.BINDING, transaction_id=TID).encode()
    assert is_stun(good) and message_size(good[:4]) == 20
    for bad in (
        good[:19],
        b"\x40" + good[1:],  # top bits
        good[:4] + b"\0\0\0\0" + good[8:],  # cookie
        good[:2] + b"\0\4" + good[4:],  # length != data
        good + b"\0\0\0\0",  # trailing bytes
    ):
        with pytest.raises(StunParseError):
            decode(bad)


def test_usage_errors() -> None:
    with pytest.raises(StunUsageError):
        Message(Method.BINDING, transaction_id=b"short")
    m = Message(Method.BINDING)
    with pytest.raises(StunUsageError):
        m.add(A.MESSAGE_INTEGRITY, bytes(20))
    with pytest.raises(StunUsageError):
        m.add_address(A.XOR_MAPPED_ADDRESS, ("not-an-ip", 1))
    with pytest.raises(StunUsageError):
        saslprep("a\u0007b")


def test_saslprep() -> None:
    assert saslprep("The\u00adM\u00aatr\u2168") == "TheMatrIX"
    assert saslprep("VOkJxbRl1RmTxUk/WvJxBt") == "VOkJxbRl1RmTxUk/WvJxBt"
    assert saslprep("a\u00a0b") == "a b"


def test_typed_helpers_round_trip() -> None:
    m = Message(Method.ALLOCATE, transaction_id=TID)
    m.add_requested_transport(17).add_channel_number(0x4001).add_uint32(A.LIFETIME, 600)
    m.add_change_request(True, False).add_even_port(True).add(A.DONT_FRAGMENT)
    m.add_address_family(A.REQUESTED_ADDRESS_FAMILY, 2).add_password_algorithms(
        [(2, b""), (1, b"")]
    )
    m.add_uint64(A.ICE_CONTROLLING, 2**64 - 1).add_password_algorithm(1)
    d = decode(m.encode())
    assert d.get_requested_transport() == 17
    assert d.get_channel_number() == 0x4001
    assert d.get_uint32(A.LIFETIME) == 600
    assert d.get_change_request() == (True, False)
    assert d.get_even_port() is True and d.has(A.DONT_FRAGMENT)
    assert d.get_address_family(A.REQUESTED_ADDRESS_FAMILY) == 2
    assert d.get_password_algorithms() == [(2, b""), (1, b"")]
    assert d.get_password_algorithm() == (1, b"")
    assert d.get_uint64(A.ICE_CONTROLLING) == 2**64 - 1
    m.set(A.LIFETIME, b"\0\0\0\0")
    assert m.get_uint32(A.LIFETIME) == 0
    assert m.remove(A.LIFETIME).get(A.LIFETIME) is None
    assert "LIFETIME" not in repr(m) and "tid=" in repr(m)


# -- hypothesis ----------------------------------------------------------------------

_ipv4 = st.tuples(*(st.integers(0, 255),) * 4).map(lambda t: "%d.%d.%d.%d" % t)  # noqa: UP031
_ipv6 = st.binary(min_size=16, max_size=16).map(
    lambda b: __import__("ipaddress").IPv6Address(b).compressed
)
_addr = st.tuples(st.one_of(_ipv4, _ipv6), st.integers(0, 65535))
_raw_attr = st.tuples(
    st.integers(0, 0xFFFF).filter(lambda t: t not in (0x0008, 0x001C, 0x8028)),
    st.binary(max_size=40),
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    m = Message(
        draw(st.integers(0, 0xFFF)),
        draw(st.sampled_from(list(MessageClass))),
        draw(st.binary(min_size=12, max_size=12)),
    )
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            t, v = draw(_raw_attr)
            m.add(t, v)
        elif kind == 1:
            m.add_address(
                draw(st.sampled_from([A.XOR_MAPPED_ADDRESS, A.MAPPED_ADDRESS])), draw(_addr)
            )
        elif kind == 2:
            m.add_text(A.USERNAME, draw(st.text(max_size=30)))
        else:
            m.add_error(draw(st.integers(300, 699)), draw(st.text(max_size=20)))
    return m


@given(
    messages(),
    st.one_of(st.none(), st.binary(min_size=1, max_size=64)),
    st.booleans(),
    st.sampled_from(["sha1", "sha256", "both"]),
)
def test_round_trip(m: Message, key: bytes | None, fp: bool, integrity: str) -> None:
    data = m.encode(key, fingerprint=fp, integrity=integrity)  # type: ignore[arg-type]
    d = decode(data)
    assert d == m
    assert d.raw == data
    assert d.has_fingerprint == fp
    if key is not None:
        assert d.verify_integrity(key)
        assert not d.verify_integrity(key + b"!")
    for t, v in m.attributes:
        if t in (A.XOR_MAPPED_ADDRESS, A.MAPPED_ADDRESS) and len(v) in (8, 20):
            try:
                expected = m.get_address(t)
            except StunParseError:
                continue
            assert d.get_address(t) == expected


def _all_getters(m: Message) -> None:
    for t in [*A, 0xC057]:
        for getter in (m.get_address, m.get_uint32, m.get_uint64, m.get_text, m.get_addresses):
            try:
                getter(t)
            except StunParseError:
                pass
    for name in dir(m):
        if name.startswith("get_") and name not in {
            "get_address",
            "get_uint32",
            "get_uint64",
            "get_text",
            "get_addresses",
            "get_all",
            "get_address_family",
        }:
            try:
                getattr(m, name)()
            except StunParseError:
                pass
    m.verify_integrity(b"k")


@given(st.binary(max_size=200))
def test_hostile_bytes_only_parse_error(data: bytes) -> None:
    try:
        m = decode(data)
    except StunParseError:
        return
    _all_getters(m)


@given(messages(), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=6))
def test_mutated_messages_only_parse_error(m: Message, flips: list[tuple[int, int]]) -> None:
    data = bytearray(m.encode(b"key", fingerprint=False))
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    try:
        d = decode(bytes(data))
    except ParseError as exc:
        assert isinstance(exc, StunParseError)
        return
    _all_getters(d)


@pytest.mark.parametrize("size", [0, 1, 16, 63, 64, 65, 200])
def test_cached_hmac_matches_stdlib_for_any_key_size(size: int) -> None:
    key = bytes(range(size % 256)) * (size // 256 + 1)
    key = key[:size]
    m = Message(Method.BINDING, transaction_id=TID).add_text(A.USERNAME, "u")
    data = m.encode(key, integrity="both")
    mi_at = 20 + 8
    covered = data[:2] + struct.pack("!H", mi_at + 24 - 20) + data[4:mi_at]
    assert data[mi_at + 4 : mi_at + 24] == hmac.digest(key, covered, "sha1")
    sha_at = mi_at + 24
    covered = data[:2] + struct.pack("!H", sha_at + 36 - 20) + data[4:sha_at]
    assert data[sha_at + 4 : sha_at + 36] == hmac.digest(key, covered, "sha256")
    assert decode(data).verify_integrity(key)
