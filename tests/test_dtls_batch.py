"""The batch data path (``DtlsConnection.receive_datagrams`` / ``protect_many``,
``RecordCipher.seal_records``, ``EpochState.protect_many``) gives exactly what the one-by-one
calls give: the same records, plaintexts (in order, by ``take_application_data``), events,
drops and counters."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import CipherSuite, DtlsConnection
from pyrtcstack.dtls.record import MAX_SEQUENCE, EpochState
from pyrtcstack.dtls.suites import SUITES, RecordCipher
from tests.test_dtls_helpers import CLIENT_ADDR, Pair, make_pair

_SUITES = [CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
_CHACHA = [s for s in CipherSuite if "CHACHA20" in s.name]


def _established(seed: int, suites: list[CipherSuite] | None = None) -> Pair:
    kwargs: dict[str, object] = {"cipher_suites": suites} if suites else {}
    pair = make_pair(seed=seed, server_kwargs=kwargs)
    assert pair.run()
    while pair.server.next_event() is not None or pair.client.next_event() is not None:
        pass
    return pair


def _events(conn: DtlsConnection) -> list[object]:
    return [type(e).__name__ for e in iter(conn.next_event, None)]


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_seal_records_equals_seal_record_one_by_one(suite: CipherSuite) -> None:
    info = SUITES[suite]
    rng = random.Random(int(suite))
    cipher = RecordCipher(info, rng.randbytes(info.key_length), rng.randbytes(info.fixed_iv_length))
    payloads: list[bytes | bytearray | memoryview] = [
        b"",
        b"x",
        bytearray(b"ba"),
        memoryview(bytes(range(256)) * 5),
        bytes(1 << 14),
    ]
    seq64 = (3 << 48) | 0xFFFFFFFE  # carries across the 32-bit boundary
    assert cipher.seal_records(seq64, 23, 0xFEFD, payloads) == [
        cipher.seal_record(seq64 + i, 23, 0xFEFD, p) for i, p in enumerate(payloads)
    ]
    assert cipher.seal_records(seq64, 23, 0xFEFD, []) == []


def test_epoch_protect_many_numbers_like_protect_and_stops_at_the_epoch_end() -> None:
    info = SUITES[CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    one, many = (EpochState(1, RecordCipher(info, bytes(16), bytes(4))) for _ in range(2))
    payloads = [b"a", b"bb", b""]
    assert many.protect_many(23, payloads) == [one.protect(23, p) for p in payloads]
    assert many.next_sequence == one.next_sequence == 3
    plain = EpochState(0, None)  # epoch 0: plaintext records
    assert plain.protect_many(22, [b"h"]) == [EpochState(0, None).protect(22, b"h")]
    end = EpochState(1, RecordCipher(info, bytes(16), bytes(4)))
    end.next_sequence = MAX_SEQUENCE - 1
    assert len(end.protect_many(23, [b"1", b"2"])) == 2  # the last two numbers
    with pytest.raises(OverflowError):
        end.protect_many(23, [b"3"])


@pytest.mark.parametrize("suites", [_SUITES, _CHACHA], ids=["aes-gcm", "chacha20"])
def test_protect_many_equals_protect(suites: list[CipherSuite]) -> None:
    single, batch = _established(60, suites), _established(60, suites)
    payloads: list[bytes | bytearray | memoryview] = [b"", b"a" * 1163, bytearray(b"b")]
    payloads.append(memoryview(b"c" * 300))
    for chunk in (payloads, [], payloads[1:]):
        assert batch.client.protect_many(chunk) == [single.client.protect(p) for p in chunk]
    assert dataclasses.asdict(batch.client.stats) == dataclasses.asdict(single.client.stats)


def test_protect_many_before_the_handshake_raises_like_protect() -> None:
    pair = make_pair(seed=61, start=False)
    with pytest.raises(Exception) as single:
        pair.client.protect(b"x")
    with pytest.raises(type(single.value)):
        pair.client.protect_many([b"x"])


# One datagram of a generated mix: which of the pre-built datagrams, and how it is altered.
_KINDS = ["good", "good", "good", "tamper", "short", "epoch", "epoch0", "version", "packed", "junk"]
_op = st.tuples(st.integers(0, 99), st.sampled_from(_KINDS), st.binary(max_size=40))


def _datagram(records: list[bytes], index: int, kind: str, junk: bytes) -> bytes:
    record = records[index]
    if kind == "tamper":  # a bad tag
        return record[:-1] + bytes([record[-1] ^ 0x01])
    if kind == "short":  # shorter than explicit nonce + tag
        return record[:11] + b"\x00\x0a" + record[13:23]
    if kind == "epoch":  # a later epoch than any key we have
        return record[:3] + b"\x00\x07" + record[5:]
    if kind == "epoch0":  # the plaintext epoch: its application data is refused
        return record[:3] + b"\x00\x00" + record[5:]
    if kind == "version":  # DTLS 1.0 header: general path, fails the additional data
        return record[:1] + b"\xfe\xff" + record[3:]
    if kind == "packed":  # two records in one datagram: general path
        return record + records[(index + 1) % len(records)]
    if kind == "junk":  # not DTLS at all, or a truncated header
        return junk
    return record  # "good" (a replay if the index came before)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(_op, max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=8),
    close_at=st.none() | st.integers(0, 80),
    chacha=st.booleans(),
)
def test_receive_datagrams_equals_receive_datagram(
    ops: list[tuple[int, str, bytes]],
    cuts: list[int],
    close_at: int | None,
    chacha: bool,
) -> None:
    """Three identical seeded pairs (AES-GCM or ChaCha20-Poly1305) receive the same
    generated mix (fresh records, replays, bad tags, short records, other epochs, other
    versions, packed records, non-DTLS bytes, and perhaps the peer's close_notify part-way):
    one server datagram by datagram, one in batches cut at generated places, one forced down
    the general record path (parse_records + _receive_record). Same deliveries, events,
    counters, state and replies."""
    suites = _CHACHA if chacha else None
    single, batch, general = (_established(62, suites) for _ in range(3))
    pairs = {"single": single, "batch": batch, "general": general}
    records = [single.client.protect(b"r%d" % i) for i in range(100)]
    for pair in (batch, general):
        assert records == [pair.client.protect(b"r%d" % i) for i in range(100)]
    datagrams = [_datagram(records, i, kind, junk) for i, kind, junk in ops]
    if close_at is not None:
        for pair in pairs.values():
            pair.client.close(0.0)
        alerts = [d for d, _ in single.client.datagrams_to_send(0.0)]
        for pair in (batch, general):
            assert alerts == [d for d, _ in pair.client.datagrams_to_send(0.0)]
        datagrams[close_at:close_at] = alerts
    got: dict[str, list[bytes]] = {name: [] for name in pairs}
    general.server.engine._fast_read = None  # type: ignore[attr-defined]  # the general path only (test-only switch)
    for d in datagrams:
        single.server.receive_datagram(d, CLIENT_ADDR, 0.0)
        got["single"].extend(single.server.take_application_data())
        general.server.receive_datagram(d, CLIENT_ADDR, 0.0)
        got["general"].extend(general.server.take_application_data())
    bounds = sorted({0, len(datagrams), *(c for c in cuts if c <= len(datagrams))})
    for lo, hi in itertools.pairwise(bounds):
        batch.server.receive_datagrams(datagrams[lo:hi], CLIENT_ADDR, 0.0)
        got["batch"].extend(batch.server.take_application_data())
    expected = (
        got["general"],
        _events(general.server),
        dataclasses.asdict(general.server.stats),
        general.server.state,
        [d for d, _ in general.server.datagrams_to_send(0.0)],
    )
    for pair, name in ((single, "single"), (batch, "batch")):
        assert (
            got[name],
            _events(pair.server),
            dataclasses.asdict(pair.server.stats),
            pair.server.state,
            [d for d, _ in pair.server.datagrams_to_send(0.0)],
        ) == expected


def test_a_batch_keeps_the_order_around_general_path_datagrams() -> None:
    """Records before a datagram the in-line path does not take (two records packed in one
    datagram) are delivered before it, so the plaintexts arrive in order."""
    single, batch = _established(64), _established(64)
    records = [single.client.protect(b"r%d" % i) for i in range(6)]
    assert records == [batch.client.protect(b"r%d" % i) for i in range(6)]
    datagrams = [records[0], records[1], records[2] + records[3], records[4], records[5]]
    got: list[bytes] = []
    for d in datagrams:
        single.server.receive_datagram(d, CLIENT_ADDR, 0.0)
        got.extend(single.server.take_application_data())
    batch.server.receive_datagrams(datagrams, CLIENT_ADDR, 0.0)
    assert batch.server.take_application_data() == got == [b"r%d" % i for i in range(6)]
