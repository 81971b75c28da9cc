"""Property tests for the DTLS decoders: generated valid input round-trips, hostile bytes give
only DtlsDecodeError, reassembly survives any fragmentation, the replay window matches a model,
and a running connection never raises on garbage."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import DtlsConnection, DtlsDecodeError, DtlsRole
from pyrtcstack.dtls.constants import CipherSuite
from pyrtcstack.dtls.fragments import Fragment, Reassembler, fragment_message, parse_fragments
from pyrtcstack.dtls.messages import (
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Finished,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    decode_u16_list,
    decode_use_srtp,
)
from pyrtcstack.dtls.record import ReplayWindow, encode_record, pack_datagrams, parse_records
from pyrtcstack.dtls.suites import SUITES, RecordCipher
from tests.test_dtls_helpers import CLIENT_ADDR, certificate, make_pair

DECODERS = [
    ClientHello.decode,
    ServerHello.decode,
    HelloVerifyRequest.decode,
    Certificate.decode,
    ServerKeyExchange.decode,
    CertificateRequest.decode,
    ServerHelloDone.decode,
    ClientKeyExchange.decode,
    CertificateVerify.decode,
    Finished.decode,
    decode_u16_list,
    decode_use_srtp,
    parse_fragments,
    parse_records,
]

u16 = st.integers(0, 0xFFFF)
extensions = st.lists(st.tuples(u16, st.binary(max_size=40)), max_size=8, unique_by=lambda e: e[0])


@given(data=st.binary(max_size=600))
def test_hostile_bytes_only_raise_decode_error(data: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(data)
        except DtlsDecodeError:
            pass


@given(
    version=u16,
    random_=st.binary(min_size=32, max_size=32),
    session_id=st.binary(max_size=32),
    cookie=st.binary(max_size=255),
    suites=st.lists(u16, min_size=1, max_size=20).map(tuple),
    ext=extensions,
)
def test_client_hello_round_trip(
    version: int,
    random_: bytes,
    session_id: bytes,
    cookie: bytes,
    suites: tuple[int, ...],
    ext: list[tuple[int, bytes]],
) -> None:
    hello = ClientHello(version, random_, session_id, cookie, suites, b"\x00", ext)
    assert ClientHello.decode(hello.encode()) == hello


@given(random_=st.binary(min_size=32, max_size=32), suite=u16, ext=extensions.filter(bool))
def test_server_hello_round_trip(random_: bytes, suite: int, ext: list[tuple[int, bytes]]) -> None:
    hello = ServerHello(0xFEFD, random_, b"", suite, 0, ext)
    assert ServerHello.decode(hello.encode()) == hello


@given(
    curve=u16, point=st.binary(min_size=1, max_size=255), scheme=u16, sig=st.binary(max_size=300)
)
def test_server_key_exchange_round_trip(curve: int, point: bytes, scheme: int, sig: bytes) -> None:
    ske = ServerKeyExchange(curve, point, scheme, sig)
    assert ServerKeyExchange.decode(ske.encode()) == ske


@given(certs=st.lists(st.binary(min_size=1, max_size=300), max_size=5).map(tuple))
def test_certificate_round_trip(certs: tuple[bytes, ...]) -> None:
    assert Certificate.decode(Certificate(certs).encode()).certificates == certs


def test_duplicate_extensions_are_rejected() -> None:
    hello = ClientHello(0xFEFD, bytes(32), cipher_suites=(1,), extensions=[(5, b""), (5, b"")])
    with pytest.raises(DtlsDecodeError):
        ClientHello.decode(hello.encode())


@given(
    records=st.lists(
        st.tuples(
            st.integers(20, 25),
            st.integers(0, 3),
            st.integers(0, (1 << 48) - 1),
            st.binary(max_size=300),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_records_round_trip_and_pack(records: list[tuple[int, int, int, bytes]]) -> None:
    encoded = [encode_record(t, 0xFEFD, e, s, f) for t, e, s, f in records]
    datagrams = pack_datagrams(encoded, 400)
    parsed = [r for d in datagrams for r in parse_records(d)[0]]
    assert [(r.content_type, r.epoch, r.sequence_number, r.fragment) for r in parsed] == records
    assert all(len(d) <= 400 or len(parse_records(d)[0]) == 1 for d in datagrams)


@settings(max_examples=200)
@given(
    body=st.binary(max_size=3000),
    max_fragment=st.integers(1, 700),
    seed=st.integers(0, 1000),
    overlap=st.booleans(),
)
def test_reassembly_out_of_order_overlapping_duplicate(
    body: bytes, max_fragment: int, seed: int, overlap: bool
) -> None:
    pieces = [f for p in fragment_message(11, 0, body, max_fragment) for f in parse_fragments(p)]
    if overlap and len(body) > 2:
        mid = len(body) // 3
        pieces.append(Fragment(11, len(body), 0, mid, body[mid : 2 * mid + 1]))
    pieces += pieces[: len(pieces) // 2]  # duplicates
    random.Random(seed).shuffle(pieces)
    r = Reassembler()
    out = None
    for f in pieces:
        r.add(f)  # False for duplicates arriving after the message was released
        out = out or r.pop()
    assert out == (11, 0, body)
    assert not r.add(pieces[0])  # now old


def test_reassembler_bounds() -> None:
    r = Reassembler()
    assert r.add(Fragment(1, 10, 100, 0, b"x"))  # far ahead: dropped silently
    assert r.pop() is None
    with pytest.raises(DtlsDecodeError):
        r.add(Fragment(1, 1 << 20, 0, 0, b"x"))
    r.add(Fragment(1, 10, 0, 0, b"x"))
    with pytest.raises(DtlsDecodeError):
        r.add(Fragment(2, 10, 0, 1, b"x"))  # disagrees with the first fragment


@given(seqs=st.lists(st.one_of(st.integers(0, 300), st.integers(0, (1 << 48) - 1)), max_size=200))
def test_replay_window_matches_a_model(seqs: list[int]) -> None:
    window = ReplayWindow(64)
    seen: set[int] = set()
    highest = -1
    for seq in seqs:
        expected = seq not in seen and seq > highest - 64
        assert window.is_fresh(seq) == expected
        if expected:
            window.mark(seq)
            seen.add(seq)
            highest = max(highest, seq)


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_record_cipher_round_trip_and_tamper(suite: CipherSuite) -> None:
    info = SUITES[suite]
    rng = random.Random(int(suite))
    key, iv = rng.randbytes(info.key_length), rng.randbytes(info.fixed_iv_length)
    sender, receiver = RecordCipher(info, key, iv), RecordCipher(info, key, iv)
    seq64 = (1 << 48) | 77
    sealed = sender.seal(seq64, 23, 0xFEFD, b"payload")
    assert len(sealed) == len(b"payload") + info.overhead
    assert receiver.open(seq64, 23, 0xFEFD, sealed) == b"payload"
    for bad in (
        lambda: receiver.open(seq64 + 1, 23, 0xFEFD, sealed),  # other sequence number
        lambda: receiver.open(seq64, 22, 0xFEFD, sealed),  # other content type
        lambda: receiver.open(seq64, 23, 0xFEFD, sealed[:-1] + bytes([sealed[-1] ^ 1])),
        lambda: receiver.open(seq64, 23, 0xFEFD, sealed[:5]),
    ):
        with pytest.raises(DtlsDecodeError):
            bad()


@settings(max_examples=100, deadline=None)
@given(garbage=st.lists(st.binary(max_size=200), min_size=1, max_size=5), when=st.integers(0, 3))
def test_connection_never_raises_on_garbage(garbage: list[bytes], when: int) -> None:
    pair = make_pair(seed=31, start=False)
    server = pair.server
    if when >= 1:
        server.start(0.0)
    if when >= 2:
        pair.client.start(0.0)
        pair.run()
    for g in garbage:
        server.receive_datagram(g, CLIENT_ADDR, 1.0)
        server.receive_datagram(b"\x16\xfe\xfd" + g, CLIENT_ADDR, 1.0)
        server.datagrams_to_send(1.0)
        server.handle_timer(1.0)
        while server.next_event() is not None:
            pass


def test_early_datagrams_are_bounded() -> None:
    conn = DtlsConnection(None, certificate=certificate(1))
    for _ in range(20):
        conn.receive_datagram(b"\x16\xfe\xfd", CLIENT_ADDR, 0.0)
    assert conn.stats.dropped_early == 12
    conn.start(0.0, DtlsRole.SERVER)
    assert conn.stats.dropped_malformed == 8
