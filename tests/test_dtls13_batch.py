"""The DTLS 1.3 data path (``DtlsConnection.receive_datagrams`` and ``protect_many`` with the
RFC 9147 engine) gives exactly what the one-by-one calls and the engine's general record
path give: the same plaintexts, batch calls, events, drops, counters, state and replies —
across replays, bad tags, other epochs, odd headers, a KeyUpdate and a close_notify in the
middle of a burst (the DTLS 1.2 twin is tests/test_dtls_batch.py)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import CipherSuite13, DtlsConnection, DtlsVersion, NamedGroup
from pyrtcstack.dtls.engine13 import Dtls13Engine
from pyrtcstack.dtls.errors import DtlsUsageError
from tests.test_dtls_helpers import CLIENT_ADDR, SERVER_ADDR, Pair, make_pair

BOTH = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)
#: x25519 only: ML-KEM encapsulation draws from the OS, so only x25519 pairs are identical
X25519 = (int(NamedGroup.X25519),)
#: records before and after the KeyUpdate
HALF = 8


def _established(seed: int, suite: CipherSuite13 | None = None) -> Pair:
    server: dict[str, object] = {"versions": BOTH}
    if suite is not None:
        server["suites13"] = (suite,)
    pair = make_pair(
        seed=seed,
        client_kwargs={"versions": BOTH, "key_shares": X25519},
        server_kwargs=server,
    )
    assert pair.run()
    pair.net.run(timeout=2)  # the server's ACK of the client's final flight
    assert pair.client.version is DtlsVersion.DTLS_1_3
    while pair.server.next_event() is not None or pair.client.next_event() is not None:
        pass
    return pair


def _events(conn: DtlsConnection) -> list[object]:
    """The data taken (in order), then the events' names."""
    data: list[object] = [("data", d) for d in conn.take_application_data()]
    return data + [type(e).__name__ for e in iter(conn.next_event, None)]


def _force_general(conn: DtlsConnection) -> None:
    """Test-only: this connection's data path never takes a record (every datagram goes
    through the engine's general record path), also after a KeyUpdate."""
    engine = conn.engine
    assert isinstance(engine, Dtls13Engine)
    engine.__class__ = _GeneralOnly  # the engine has __slots__: no per-instance method
    engine._fast_keys = None


class _GeneralOnly(Dtls13Engine):
    """A 1.3 engine whose read path never takes a record (see :func:`_force_general`)."""

    __slots__ = ()

    def _update_fast_path(self) -> None:
        super()._update_fast_path()
        self._fast_keys = None


def _stream(source: Pair) -> tuple[list[bytes], list[bytes]]:
    """From the client of ``source``: HALF application data records of epoch 3, its
    KeyUpdate(update_requested), HALF records of epoch 4 (sent once the server's ACK came
    back), and the close_notify that would follow."""
    client, server = source.client, source.server
    now = source.net.now
    records = [client.protect(b"r%d" % i) for i in range(HALF)]
    engine = client.engine
    assert engine is not None
    engine.request_key_update(now)
    update = [d for d, _ in client.datagrams_to_send(now)]
    assert len(update) == 1
    for d in update:
        server.receive_datagram(d, CLIENT_ADDR, now)
    for d, _ in server.datagrams_to_send(now):  # the ACK and the server's own KeyUpdate
        client.receive_datagram(d, SERVER_ADDR, now)
    assert engine._write_epoch == 4
    records += update
    records += [client.protect(b"r%d" % i) for i in range(HALF, 2 * HALF)]
    client.close(now)
    close = [d for d, _ in client.datagrams_to_send(now)]
    return records, close


def _datagram(records: list[bytes], index: int, kind: str, junk: bytes) -> bytes:
    record = records[index]
    if kind == "tamper":  # a bad tag
        return record[:-1] + bytes([record[-1] ^ 0x01])
    if kind == "short":  # cut inside the ciphertext
        return record[:20]
    if kind == "epoch":  # other epoch bits in the unified header (RFC 9147 §4)
        return bytes([(record[0] & 0xFC) | ((record[0] + 1) & 3)]) + record[1:]
    if kind == "nolength":  # the L=0 header variant: parsed, fails the additional data
        return bytes([record[0] & ~0x04]) + record[1:3] + record[5:]
    if kind == "packed":  # two records in one datagram: the general path
        return record + records[(index + 1) % len(records)]
    if kind == "trailing":  # one record and a stray byte
        return record + b"\x00"
    if kind == "junk":  # not DTLS at all, or a truncated header
        return junk
    return record  # "good" (a replay if the index came before)


_KINDS = ["good", "good", "good", "good", "tamper", "short", "epoch", "nolength"]
_KINDS += ["packed", "trailing", "junk"]
_op = st.tuples(st.integers(0, 2 * HALF), st.sampled_from(_KINDS), st.binary(max_size=40))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(_op, max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=8),
    close_at=st.none() | st.integers(0, 80),
    close_packed=st.booleans(),
    chacha=st.booleans(),
)
def test_receive_datagrams_equals_receive_datagram(
    ops: list[tuple[int, str, bytes]],
    cuts: list[int],
    close_at: int | None,
    close_packed: bool,
    chacha: bool,
) -> None:
    """Three identical seeded DTLS 1.3 servers (AES-GCM or ChaCha20-Poly1305) receive the
    same generated mix of the client's records (fresh, replayed, tampered, cut, other
    epochs and headers, packed, non-DTLS bytes; epoch 3 and, after the KeyUpdate record,
    epoch 4; perhaps a close_notify part-way, alone or behind a record in its datagram):
    one datagram by datagram, one in batches cut
    at generated places, one forced down the engine's general record path. Same
    deliveries, events, counters, state and replies."""
    suite = CipherSuite13.CHACHA20_POLY1305_SHA256 if chacha else None
    source, single, batch, general = (_established(70, suite) for _ in range(4))
    handshakes = [[d.data for d in p.net.sent] for p in (source, single, batch, general)]
    assert all(h == handshakes[0] for h in handshakes)
    records, close = _stream(source)
    datagrams = [_datagram(records, i, kind, junk) for i, kind, junk in ops]
    if close_at is not None:
        if close_packed:  # the general path reads it and closes the connection
            close = [records[-1] + close[0], *close[1:]]
        datagrams[close_at:close_at] = close
    _force_general(general.server)
    now = source.net.now
    for d in datagrams:
        single.server.receive_datagram(d, CLIENT_ADDR, now)
        general.server.receive_datagram(d, CLIENT_ADDR, now)
    bounds = sorted({0, len(datagrams), *(c for c in cuts if c <= len(datagrams))})
    for lo, hi in itertools.pairwise(bounds):
        batch.server.receive_datagrams(datagrams[lo:hi], CLIENT_ADDR, now)
    expected = (
        _events(general.server),
        dataclasses.asdict(general.server.stats),
        general.server.state,
        general.server.get_timer(),
        [d for d, _ in general.server.datagrams_to_send(now)],
    )
    for pair in (single, batch):
        assert (
            _events(pair.server),
            dataclasses.asdict(pair.server.stats),
            pair.server.state,
            pair.server.get_timer(),
            [d for d, _ in pair.server.datagrams_to_send(now)],
        ) == expected


def test_a_key_update_mid_burst_splits_the_batch_and_keeps_the_order() -> None:
    """The KeyUpdate record is taken by the data path of the current epoch, handed to the
    engine after the records before it; the records of the new epoch that follow in the
    same burst are read with the new keys, in order."""
    source, single, batch = (_established(71) for _ in range(3))
    records, _close = _stream(source)
    got: list[bytes] = []
    now = source.net.now
    before = batch.server.stats.records_received
    for d in records:
        single.server.receive_datagram(d, CLIENT_ADDR, now)
        got.extend(single.server.take_application_data())
    batch.server.receive_datagrams(records, CLIENT_ADDR, now)
    assert batch.server.take_application_data() == got == [b"r%d" % i for i in range(2 * HALF)]
    engine = batch.server.engine
    assert engine is not None and max(engine._read_keys) == 4 and engine._write_epoch == 3
    assert batch.server.stats == single.server.stats
    assert batch.server.stats.records_received == before + 2 * HALF + 1
    assert [d for d, _ in batch.server.datagrams_to_send(now)] == [
        d for d, _ in single.server.datagrams_to_send(now)
    ]


def test_nothing_is_taken_after_the_general_path_closed_the_connection() -> None:
    """A close_notify read by the general path (packed behind a record) ends the connection
    in the middle of a burst: the records after it are not delivered."""
    single, batch = _established(77), _established(77)
    streams = []
    for pair in (single, batch):
        records = [pair.client.protect(b"r%d" % i) for i in range(4)]
        pair.client.close(0.0)
        (alert,) = [d for d, _ in pair.client.datagrams_to_send(0.0)]
        streams.append([records[0], records[1] + alert, records[2], records[3]])
    assert streams[0] == streams[1]
    for d in streams[0]:
        single.server.receive_datagram(d, CLIENT_ADDR, 0.0)
    batch.server.receive_datagrams(streams[1], CLIENT_ADDR, 0.0)
    expected = [("data", b"r0"), ("data", b"r1"), "Closed"]
    assert _events(single.server) == _events(batch.server) == expected
    assert batch.server.stats == single.server.stats
    assert batch.server.state == single.server.state == "closed"


def test_server_data_is_the_ack_of_the_client_final_flight_on_every_path() -> None:
    """RFC 9147 §7: a client whose final flight is not yet ACKed takes the server's
    application data as the ACK (its timer stops), however the datagrams arrive; the data
    is delivered in order all the same."""
    results = []
    for how in ("single", "batch"):
        pair = make_pair(
            seed=72,
            client_kwargs={"versions": BOTH, "key_shares": X25519},
            server_kwargs={"versions": BOTH},
        )
        assert pair.run()  # stops at completion: the server's ACK is not delivered yet
        client = pair.client
        engine = client.engine
        assert engine is not None and engine._flight_needs_ack
        assert client.get_timer() is not None
        records = [pair.server.protect(b"s%d" % i) for i in range(5)]
        now = pair.net.now
        if how == "single":
            for d in records:
                client.receive_datagram(d, SERVER_ADDR, now)
        else:
            client.receive_datagrams(records, SERVER_ADDR, now)
        assert client.take_application_data() == [b"s%d" % i for i in range(5)]
        assert client.get_timer() is None and not engine._flight_needs_ack
        results.append(dataclasses.asdict(client.stats))
    assert results[0] == results[1]


def test_server_data_does_not_acknowledge_a_key_update() -> None:
    """RFC 9147 §8: only an ACK acknowledges a KeyUpdate; application data in the old
    epoch (sent before the peer read our KeyUpdate) must not move our write epoch, on
    either path (the packed datagram takes the general one)."""
    for packed in (False, True):
        pair = _established(73)
        engine = pair.client.engine
        assert engine is not None
        engine.request_key_update(pair.net.now)
        pair.client.datagrams_to_send(pair.net.now)  # the KeyUpdate is lost
        a, b = (pair.server.protect(b"x%d" % i) for i in range(2))
        datagrams = [a + b] if packed else [a, b]
        pair.client.receive_datagrams(datagrams, SERVER_ADDR, pair.net.now)
        events = _events(pair.client)
        assert events == [("data", b"x0"), ("data", b"x1")]
        assert engine._write_epoch == 3 and engine._pending_key_update == 4
        assert pair.client.get_timer() is not None  # the KeyUpdate will be resent


@pytest.mark.parametrize("suite", list(CipherSuite13))
def test_protect_many_equals_protect(suite: CipherSuite13) -> None:
    """The same records as protect() one by one, across the 16-bit wrap of the header's
    sequence number, with the same counters; each opens on the peer."""
    single, batch = _established(74, suite), _established(74, suite)
    for pair in (single, batch):
        engine = pair.client.engine
        assert engine is not None
        engine._write_seq[3] = 0xFFFD  # the header's low 16 bits wrap inside the batch
        peer = pair.server.engine
        assert peer is not None
        peer._windows[3].highest = 0xFFFC  # (as if the records before had come in)
    payloads: list[bytes | bytearray | memoryview] = [b"", b"a" * 1163, bytearray(b"b")]
    payloads += [memoryview(b"c" * 300), bytes(1 << 14)]
    # bursts of several, none, and of one (each kind of packet alone)
    chunks = [payloads, [], payloads[1:], *([p] for p in payloads)]
    for chunk in chunks:
        assert batch.client.protect_many(chunk) == [single.client.protect(p) for p in chunk]
    assert dataclasses.asdict(batch.client.stats) == dataclasses.asdict(single.client.stats)
    batch.server.receive_datagrams(batch.client.protect_many(payloads), CLIENT_ADDR, 0.0)
    assert batch.server.take_application_data() == [bytes(p) for p in payloads]
    assert batch.server.stats.dropped_decrypt == batch.server.stats.dropped_replay == 0


def test_protect_many_refuses_what_protect_refuses_and_seals_nothing_then() -> None:
    pair = _established(75)
    engine = pair.client.engine
    assert engine is not None
    before = engine._write_seq[3]
    with pytest.raises(DtlsUsageError):
        pair.client.protect(bytes((1 << 14) + 1))
    with pytest.raises(DtlsUsageError):
        pair.client.protect_many([b"ok", bytes((1 << 14) + 1)])
    with pytest.raises(DtlsUsageError):
        pair.client.protect_many([bytes((1 << 14) + 1)])  # a burst of one
    assert engine._write_seq[3] == before and pair.client.stats.records_sent == 0
    engine._write_seq[3] = (1 << 48) - 2  # two sequence numbers left in this epoch
    with pytest.raises(DtlsUsageError):
        pair.client.protect_many([b"a", b"b", b"c"])
    assert engine._write_seq[3] == (1 << 48) - 2
    assert len(pair.client.protect_many([b"a", b"b"])) == 2
    with pytest.raises(DtlsUsageError):
        pair.client.protect(b"c")
    with pytest.raises(DtlsUsageError):
        pair.client.protect_many([b"c"])
    idle = make_pair(seed=76, start=False, client_kwargs={"versions": BOTH})
    with pytest.raises(DtlsUsageError):
        idle.client.protect_many([b"x"])
