"""The established data path and its one way up, ``take_application_data``: the in-line
record reading of :mod:`pyrtcstack.dtls.datapath` and the whole-record seal/open of
:class:`RecordCipher` behave exactly like the general record path (same bytes, same order,
same drops and counters); the plaintext waiting to be taken is bounded."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import CipherSuite, DtlsConnection, HandshakeCompleted
from pyrtcstack.dtls.errors import DtlsDecodeError
from pyrtcstack.dtls.record import encode_record
from pyrtcstack.dtls.suites import SUITES, RecordCipher
from tests.test_dtls_helpers import CLIENT_ADDR, SERVER_ADDR, Pair, make_pair


def _established(seed: int = 40, **server_kwargs: object) -> Pair:
    pair = make_pair(seed=seed, server_kwargs=server_kwargs)
    assert pair.run()
    return pair


def _drain(conn: DtlsConnection) -> list[bytes]:
    return conn.take_application_data()


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_seal_record_is_header_plus_seal_and_open_record_inverts_it(suite: CipherSuite) -> None:
    info = SUITES[suite]
    rng = random.Random(int(suite))
    key, iv = rng.randbytes(info.key_length), rng.randbytes(info.fixed_iv_length)
    sender, receiver = RecordCipher(info, key, iv), RecordCipher(info, key, iv)
    seq64 = (1 << 48) | 0x123456789A
    for payload in (b"", b"x", bytes(range(256)) * 5):
        record = sender.seal_record(seq64, 23, 0xFEFD, payload)
        fragment = sender.seal(seq64, 23, 0xFEFD, payload)
        assert record == encode_record(23, 0xFEFD, 1, seq64 & ((1 << 48) - 1), fragment)
        assert receiver.open_record(record, seq64, 23, 0xFEFD) == payload
        assert receiver.open(seq64, 23, 0xFEFD, fragment) == payload
        tampered = record[:-1] + bytes([record[-1] ^ 1])
        short = record[: 13 + info.overhead - 1]
        for datagram, seq, ctype in (
            (tampered, seq64, 23),
            (record, seq64 + 1, 23),  # other sequence number
            (record, seq64, 22),  # other content type
            (short, seq64, 23),  # shorter than nonce + tag
        ):
            with pytest.raises(DtlsDecodeError):
                receiver.open_record(datagram, seq, ctype, 0xFEFD)


def test_open_record_refuses_plaintext_over_2_14_without_decrypting() -> None:
    info = SUITES[CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    cipher = RecordCipher(info, bytes(16), bytes(4))
    record = cipher.seal_record(1 << 48, 23, 0xFEFD, bytes((1 << 14) + 1))
    with pytest.raises(DtlsDecodeError):
        cipher.open_record(record, 1 << 48, 23, 0xFEFD)


def test_take_gives_the_bytes_in_arrival_order_from_both_record_paths() -> None:
    payloads = [b"", b"a", bytes(1200), bytes(range(256)) * 64]  # up to 2^14
    pair = _established()
    for p in payloads:
        pair.server.receive_datagram(pair.client.protect(p), CLIENT_ADDR, pair.net.now)
    # several records in one datagram take the general path: they join the same list
    packed = pair.client.protect(b"one") + pair.client.protect(b"two")
    pair.server.receive_datagram(packed, CLIENT_ADDR, pair.net.now)
    pair.server.receive_datagram(pair.client.protect(b"three"), CLIENT_ADDR, pair.net.now)
    assert _drain(pair.server) == [*payloads, b"one", b"two", b"three"]
    assert _drain(pair.server) == []  # taken once
    assert pair.server.next_event() is None  # data is never an event


def test_plaintext_waiting_to_be_taken_is_bounded_and_drops_are_counted() -> None:
    pair = _established(seed=45, max_pending_plaintext=3000)
    server, now = pair.server, pair.net.now
    records = [pair.client.protect(bytes([i]) * 1000) for i in range(5)]
    server.receive_datagrams(records[:4], CLIENT_ADDR, now)  # the 4th would pass 3000
    packed = records[4] + pair.client.protect(b"x")  # general path: bounded the same way
    server.receive_datagram(packed, CLIENT_ADDR, now)
    assert server.stats.dropped_plaintext_overflow == 3
    assert _drain(server) == [bytes([i]) * 1000 for i in range(3)]
    server.receive_datagram(pair.client.protect(b"after"), CLIENT_ADDR, now)
    assert _drain(server) == [b"after"]  # taking makes room again
    assert server.state == "established"


def test_data_before_handshake_completed_is_taken_after_it() -> None:
    pair = make_pair(seed=41, start=False)
    pair.server.start(0.0)
    pair.client.start(0.0)
    # drive by hand so the server's HandshakeCompleted stays queued
    for _ in range(10):
        for src, dst, addr in (
            (pair.client, pair.server, CLIENT_ADDR),
            (pair.server, pair.client, SERVER_ADDR),
        ):
            for data, _ in src.datagrams_to_send(0.0):
                dst.receive_datagram(data, addr, 0.0)
        while pair.client.next_event() is not None:
            pass
    assert pair.client.is_established and pair.server.is_established
    pair.server.receive_datagram(pair.client.protect(b"first"), CLIENT_ADDR, 0.0)
    # the event and the data leave by their own ways: the event first, then the data
    assert isinstance(pair.server.next_event(), HandshakeCompleted)
    assert pair.server.next_event() is None
    assert _drain(pair.server) == [b"first"]


def test_replay_and_tamper_are_dropped_on_the_data_path() -> None:
    pair = _established(seed=42)
    server, now = pair.server, pair.net.now
    record = pair.client.protect(b"once")
    server.receive_datagram(record, CLIENT_ADDR, now)
    server.receive_datagram(record, CLIENT_ADDR, now)
    tampered = bytearray(pair.client.protect(b"evil"))
    tampered[-1] ^= 1
    server.receive_datagram(bytes(tampered), CLIENT_ADDR, now)
    header_tampered = bytearray(pair.client.protect(b"evil"))
    header_tampered[1:3] = b"\xfe\xff"  # DTLS 1.0 version: general path, fails the AAD
    server.receive_datagram(bytes(header_tampered), CLIENT_ADDR, now)
    stale = [pair.client.protect(b"%d" % i) for i in range(70)]
    for r in reversed(stale):  # the oldest 6 fall left of the window
        server.receive_datagram(r, CLIENT_ADDR, now)
    assert _drain(server) == [b"once"] + [b"%d" % i for i in reversed(range(6, 70))]
    assert server.stats.dropped_replay == 1 + 6
    assert server.stats.dropped_decrypt == 2
    assert server.next_event() is None and server.state == "established"


def test_protect_accepts_any_bytes_like() -> None:
    pair = _established(seed=43)
    for data in (bytearray(b"ba"), memoryview(b"mv"), b"by"):
        pair.server.receive_datagram(pair.client.protect(data), CLIENT_ADDR, pair.net.now)
    assert _drain(pair.server) == [b"ba", b"mv", b"by"]


_op = st.tuples(
    st.integers(0, 149),  # which record
    st.sampled_from(["plain", "tamper", "packed", "trailing"]),
)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(_op, max_size=60))
def test_fast_path_equals_the_general_path_and_a_replay_model(
    ops: list[tuple[int, str]],
) -> None:
    """Two identical seeded pairs: one server reads records in line (the data path), the
    other is forced down the general path; the same datagrams give the same data and the same
    counters, and acceptance follows the RFC 6347 §4.1.2.6 window model."""
    fast, general = _established(seed=44), _established(seed=44)
    general.server.engine._fast_read = None  # type: ignore[attr-defined]  # the general path only (test-only switch)
    records = [fast.client.protect(b"r%d" % i) for i in range(150)]
    assert records == [general.client.protect(b"r%d" % i) for i in range(150)]
    seen: set[int] = set()
    highest = -1
    expected: list[bytes] = []
    for index, how in ops:
        datagram = records[index]
        if how == "tamper":
            datagram = datagram[:-1] + bytes([datagram[-1] ^ 0x80])
        elif how == "packed":  # a second, already-seen record: general path on both
            datagram = datagram + records[index]
        elif how == "trailing":
            datagram = datagram + b"\x17\xfe"
        for pair in (fast, general):
            pair.server.receive_datagram(datagram, CLIENT_ADDR, 0.0)
        if how != "tamper" and index not in seen and index > highest - 64:
            seen.add(index)
            highest = max(highest, index)
            expected.append(b"r%d" % index)
    assert _drain(fast.server) == expected
    assert _drain(general.server) == expected
    assert fast.server.next_event() is None
    assert dataclasses.asdict(fast.server.stats) == dataclasses.asdict(general.server.stats)
