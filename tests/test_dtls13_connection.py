"""DTLS 1.3 (RFC 9147) pairs on the MemoryNetwork: full handshakes, suites and groups,
HelloRetryRequest, the ML-KEM hybrid and a fragmented ClientHello, loss/duplication/
reordering, the lost final flight (ACK, retransmission), version fallback both ways, the
downgrade sentinel, KeyUpdate, key log lines and the exporter."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import (
    CipherSuite,
    CipherSuite13,
    Closed,
    DtlsUsageError,
    DtlsVersion,
    Failed,
    FingerprintMismatchError,
    HandshakeCompleted,
    NamedGroup,
    PeerAlertError,
)
from pyrtcstack.dtls.constants import AlertDescription
from pyrtcstack.dtls.cookies import make_retry_cookie, open_retry_cookie
from pyrtcstack.dtls.engine13 import Dtls13Engine
from pyrtcstack.dtls.fragments import parse_fragments
from pyrtcstack.dtls.kex13 import X25519MLKEM768
from pyrtcstack.dtls.keyschedule import TLS13_SUITES
from pyrtcstack.dtls.messages import ServerHello
from pyrtcstack.dtls.messages13 import DOWNGRADE_TLS12, HRR_RANDOM
from pyrtcstack.dtls.record13 import (
    CiphertextRecord,
    PlaintextRecord,
    decode_ack,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    unmask_sequence,
)
from pyrtcstack.testing.pair import Impairment
from tests.test_dtls_helpers import (
    CLIENT_ADDR,
    SERVER_ADDR,
    certificate,
    handshake_messages,
    make_pair,
)

BOTH = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)
ONLY13 = (DtlsVersion.DTLS_1_3,)
ONLY12 = (DtlsVersion.DTLS_1_2,)


def _pair13(seed: int = 1, impairment: Impairment | None = None, **kw: dict[str, object]):  # type: ignore[no-untyped-def]
    ckw: dict[str, object] = {"versions": BOTH}
    skw: dict[str, object] = {"versions": BOTH}
    ckw.update(kw.get("client", {}))
    skw.update(kw.get("server", {}))
    return make_pair(seed=seed, impairment=impairment, client_kwargs=ckw, server_kwargs=skw)


def _server_hellos(pair) -> list[ServerHello]:  # type: ignore[no-untyped-def]
    """ServerHellos (and HelloRetryRequests) the server sent, from its plaintext records."""
    out: list[ServerHello] = []
    for d in pair.net.sent:
        if d.src != SERVER_ADDR:
            continue
        records, _ = parse_datagram13(d.data)
        for r in records:
            if isinstance(r, PlaintextRecord) and r.content_type == 22:
                out.extend(
                    ServerHello.decode(frag.body)
                    for frag in parse_fragments(r.fragment)
                    if frag.msg_type == 2 and frag.is_whole
                )
    return out


def _completed(events: Sequence[object]) -> HandshakeCompleted:
    done = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert len(done) == 1
    return done[0]


def _exchange(pair) -> None:  # type: ignore[no-untyped-def]
    pair.client.send(b"ping")
    pair.server.send(b"pong")
    pair.net.run(timeout=5)
    assert b"pong" in pair.net.data[CLIENT_ADDR]
    assert b"ping" in pair.net.data[SERVER_ADDR]


def test_dtls13_handshake_data_and_exporter() -> None:
    pair = _pair13()
    assert pair.run()
    c = _completed(pair.net.events[CLIENT_ADDR])
    s = _completed(pair.net.events[SERVER_ADDR])
    assert c.version == s.version == "DTLS 1.3"
    assert c.cipher_suite == s.cipher_suite == CipherSuite13.AES_128_GCM_SHA256
    assert c.srtp_profile == s.srtp_profile is not None
    assert c.peer_fingerprint == pair.server.local_fingerprint
    assert s.peer_fingerprint == pair.client.local_fingerprint
    assert pair.client.version == pair.server.version == DtlsVersion.DTLS_1_3
    _exchange(pair)
    for label, length in ((b"EXTRACTOR-dtls_srtp", 60), (b"EXPORTER-test", 33)):
        assert pair.client.export_keying_material(label, length) == (
            pair.server.export_keying_material(label, length)
        )
    ck, sk = pair.client.srtp_keys(), pair.server.srtp_keys()
    assert ck == sk and ck.client_write != ck.server_write
    # the final flight was ACKed: no timer left on either side
    pair.net.run(timeout=5)
    assert pair.client.get_timer() is None and pair.server.get_timer() is None


@pytest.mark.parametrize("suite", list(CipherSuite13))
def test_each_tls13_suite(suite: CipherSuite13) -> None:
    pair = make_pair(
        seed=3,
        client_kwargs={"versions": ONLY13, "suites13": (int(suite),)},
        server_kwargs={"versions": BOTH},
    )
    assert pair.run()
    assert _completed(pair.net.events[CLIENT_ADDR]).cipher_suite == suite
    _exchange(pair)


@pytest.mark.parametrize(
    ("shares", "server_groups", "hrr"),
    [
        ((int(NamedGroup.X25519),), None, False),
        ((int(NamedGroup.SECP256R1),), None, False),
        ((X25519MLKEM768,), None, False),
        ((int(NamedGroup.X25519),), (int(NamedGroup.SECP256R1),), True),
        ((int(NamedGroup.X25519),), (int(NamedGroup.SECP384R1),), True),
    ],
)
def test_groups_and_hello_retry_request(
    shares: tuple[int, ...], server_groups: tuple[int, ...] | None, hrr: bool
) -> None:
    server: dict[str, object] = {}
    if server_groups is not None:
        server["groups13"] = server_groups
    pair = _pair13(seed=4, client={"key_shares": shares}, server=server)
    assert pair.run()
    _exchange(pair)
    randoms = [sh.random for sh in _server_hellos(pair)]
    assert (HRR_RANDOM in randoms) == hrr


def test_mlkem_client_hello_is_fragmented_and_reassembled() -> None:
    pair = _pair13(seed=5, client={"key_shares": (X25519MLKEM768, int(NamedGroup.X25519))})
    assert pair.run()
    first = [d for d in pair.net.sent if d.src == CLIENT_ADDR][:2]
    assert all(len(d.data) <= 1200 for d in first)
    assert len(handshake_messages([d.data for d in first])) == 1  # one ClientHello, 2 records
    _exchange(pair)


def test_cookie_hello_retry_request() -> None:
    pair = _pair13(seed=6, server={"use_cookie": True})
    assert pair.run()
    _exchange(pair)


@pytest.mark.parametrize(
    ("client", "server", "version"),
    [(BOTH, ONLY12, "DTLS 1.2"), (ONLY12, BOTH, "DTLS 1.2"), (BOTH, ONLY13, "DTLS 1.3")],
)
def test_version_fallback(
    client: tuple[DtlsVersion, ...], server: tuple[DtlsVersion, ...], version: str
) -> None:
    pair = make_pair(seed=7, client_kwargs={"versions": client}, server_kwargs={"versions": server})
    assert pair.run()
    assert _completed(pair.net.events[CLIENT_ADDR]).version == version
    assert _completed(pair.net.events[SERVER_ADDR]).version == version
    _exchange(pair)
    assert pair.client.export_keying_material(b"EXTRACTOR-dtls_srtp", 60) == (
        pair.server.export_keying_material(b"EXTRACTOR-dtls_srtp", 60)
    )


def test_a_13_capable_server_marks_its_12_server_hello() -> None:
    pair = make_pair(seed=8, client_kwargs={"versions": ONLY12}, server_kwargs={"versions": BOTH})
    assert pair.run()
    (sh,) = {sh.random: sh for sh in _server_hellos(pair)}.values()
    assert sh.random.endswith(DOWNGRADE_TLS12)
    assert isinstance(_completed(pair.net.events[CLIENT_ADDR]).cipher_suite, CipherSuite)


def test_client_detects_a_downgrade() -> None:
    """RFC 8446 §4.1.3: a 1.2 ServerHello whose random ends in DOWNGRD\\x01 is refused."""
    pair = make_pair(seed=9, client_kwargs={"versions": BOTH}, server_kwargs={"versions": BOTH})
    # an attacker strips supported_versions so the server answers 1.2: simulate with a server
    # that speaks 1.2 but still marks its random
    pair.server.versions = ONLY12
    original = pair.server.ctx.rng.randbytes

    def marked(n: int) -> bytes:
        data = original(n)
        return data[:24] + DOWNGRADE_TLS12 if n == 32 else data

    pair.server.ctx.rng.randbytes = marked  # type: ignore[method-assign]
    assert not pair.run(timeout=10)
    failed = [e for e in pair.net.events[CLIENT_ADDR] if isinstance(e, Failed)]
    assert failed and failed[0].error.alert == AlertDescription.ILLEGAL_PARAMETER


@pytest.mark.parametrize(("client", "server"), [(ONLY13, ONLY12), (ONLY12, ONLY13)])
def test_13_only_against_12_only_fails_cleanly(
    client: tuple[DtlsVersion, ...], server: tuple[DtlsVersion, ...]
) -> None:
    pair = make_pair(
        seed=10, client_kwargs={"versions": client}, server_kwargs={"versions": server}
    )
    assert not pair.run(timeout=10)
    events = pair.net.events[CLIENT_ADDR] + pair.net.events[SERVER_ADDR]
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed
    assert any(e.error.alert == AlertDescription.PROTOCOL_VERSION for e in failed)
    assert pair.client.state == "failed" or pair.server.state == "failed"


def test_fingerprint_mismatch_fails_both_sides() -> None:
    pair = _pair13(seed=11, client={"remote_fingerprints": [certificate(99).fingerprint()]})
    assert not pair.run(timeout=10)
    failed = [e for e in pair.net.events[CLIENT_ADDR] if isinstance(e, Failed)]
    assert failed and isinstance(failed[0].error, FingerprintMismatchError)
    assert any(
        isinstance(e, Failed) and isinstance(e.error, PeerAlertError)
        for e in pair.net.events[SERVER_ADDR]
    )


def test_late_fingerprint_releases_completion() -> None:
    pair = _pair13(seed=12, server={"remote_fingerprints": None})
    pair.net.run(timeout=5)
    assert not pair.server.is_established
    pair.server.set_remote_fingerprints([pair.client.local_fingerprint], pair.net.now)
    assert pair.server.is_established
    _exchange(pair)


def test_lost_final_flight_is_retransmitted_until_acked() -> None:
    """RFC 9147 §7: the server ACKs the client's final flight; without the ACK (or the
    flight itself) the client's timer resends it."""
    dropped: list[bytes] = []

    def drop_first_final_flight(data: bytes, src: object, dst: object) -> bool:
        # the client's second transmission starts with a unified header (0x2c-0x2f)
        if src == CLIENT_ADDR and data[0] & 0xE0 == 0x20 and not dropped:
            dropped.append(data)
            return True  # drop_if: True drops
        return False

    pair = _pair13(seed=13, impairment=Impairment(drop_if=drop_first_final_flight))
    assert pair.run()
    pair.net.run(timeout=10)
    assert dropped and pair.client.stats.retransmissions >= 1
    assert pair.client.get_timer() is None  # the ACK stopped the timer
    _exchange(pair)


def test_lost_ack_makes_the_server_ack_again() -> None:
    acks: list[bytes] = []

    def drop_first_ack(data: bytes, src: object, dst: object) -> bool:
        if src == SERVER_ADDR and data[0] & 0xE0 == 0x20 and len(data) < 80 and not acks:
            acks.append(data)
            return True
        return False

    pair = _pair13(seed=14, impairment=Impairment(drop_if=drop_first_ack))
    assert pair.run()
    pair.net.run(timeout=10)
    assert acks and pair.client.get_timer() is None
    assert pair.client.stats.retransmissions >= 1
    # the server had dropped the client's epoch-2 keys when the handshake completed and
    # derived them again from the secret for the resent flight (RFC 9147 §7)
    server = pair.server.engine
    assert isinstance(server, Dtls13Engine)
    assert 2 in server._read_keys and not server._read2_dormant
    assert server.stats.dropped_epoch == 0
    _exchange(pair)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    loss=st.floats(0, 0.3),
    dup=st.floats(0, 0.3),
    reorder=st.floats(0, 0.5),
)
def test_handshake_survives_loss_duplication_reordering(
    seed: int, loss: float, dup: float, reorder: float
) -> None:
    impairment = Impairment(loss=loss, duplicate=dup, reorder=reorder, jitter=0.01)
    pair = _pair13(seed=seed, impairment=impairment)
    assert pair.run(timeout=600)
    assert _completed(pair.net.events[CLIENT_ADDR]).version == "DTLS 1.3"


def test_key_update_from_the_peer_is_followed() -> None:
    pair = _pair13(seed=15)
    assert pair.run()
    pair.net.run(timeout=5)
    engine = pair.client.engine
    assert engine is not None
    engine.request_key_update(pair.net.now)
    pair.net.run(timeout=5)
    _exchange(pair)
    assert engine._write_epoch == 4  # ours moved after the ACK
    server = pair.server.engine
    assert server is not None and server._write_epoch == 4  # update_requested was honoured
    assert max(server._read_keys) == 4


def test_close_notify() -> None:
    pair = _pair13(seed=16)
    assert pair.run()
    pair.client.close(pair.net.now)
    pair.net.run(timeout=5)
    assert Closed(by_peer=True) in pair.net.events[SERVER_ADDR]
    assert pair.server.state == "closed"


def test_exporter_still_answers_after_close() -> None:
    # As DTLS 1.2's: the exporter secret outlives the connection (RFC 8446 §7.5), so a
    # peer connection can export its SRTP keys when media first needs them, even if
    # DTLS closed meanwhile. Before the handshake it still refuses.
    pair = _pair13(seed=18)
    with pytest.raises(DtlsUsageError):
        pair.client.srtp_keys()
    assert pair.run()
    before = pair.client.srtp_keys()
    pair.client.close(pair.net.now)
    pair.net.run(timeout=5)
    assert pair.server.state == "closed"
    assert pair.client.srtp_keys() == before == pair.server.srtp_keys()


def test_keylog_lines() -> None:
    lines: list[str] = []
    pair = _pair13(seed=17, client={"keylog": lines.append})
    assert pair.run()
    labels = {line.split()[0] for line in lines}
    assert labels == {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    }
    assert all(len(line.split()[1]) == 64 for line in lines)


def test_tampered_records_are_dropped_and_counted() -> None:
    pair = _pair13(seed=18)
    assert pair.run()
    pair.net.run(timeout=2)
    record = pair.client.protect(b"secret")
    bad = bytearray(record)
    bad[-1] ^= 1
    before = pair.server.stats.dropped_decrypt
    pair.server.receive_datagram(bytes(bad), CLIENT_ADDR, pair.net.now)
    assert pair.server.stats.dropped_decrypt == before + 1
    pair.server.receive_datagram(record, CLIENT_ADDR, pair.net.now)
    pair.server.receive_datagram(record, CLIENT_ADDR, pair.net.now)  # replay
    assert pair.server.stats.dropped_replay >= 1
    assert pair.server.take_application_data().count(b"secret") == 1


def test_seeded_rng_gives_the_same_x25519_handshake() -> None:
    runs = []
    for _ in range(2):
        # x25519 only: ML-KEM encapsulation draws from the OS, not the injected rng
        pair = _pair13(seed=19, client={"key_shares": (int(NamedGroup.X25519),)})
        assert pair.run()
        runs.append([d.data for d in pair.net.sent])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("shares", "cookie"),
    [((int(NamedGroup.X25519),), False), (None, False), ((int(NamedGroup.X25519),), True)],
    ids=["x25519", "mlkem", "x25519-stateless-cookie"],
)
def test_each_datagram_lost_once(shares: tuple[int, ...] | None, cookie: bool) -> None:
    """Drop the n-th datagram of a clean handshake, for every n: the retransmission timer,
    the repeated-flight trigger or the ACK must bring the handshake home every time."""
    client: dict[str, object] = {"key_shares": shares} if shares else {}
    server: dict[str, object] = {"use_cookie": cookie}
    clean = _pair13(seed=21, client=client, server=server)
    assert clean.run()
    clean.net.run(timeout=5)
    total = len(clean.net.sent)
    assert total >= 4
    for n in range(total):
        count = [0]

        def drop_nth(
            data: bytes, src: object, dst: object, n: int = n, count: list[int] = count
        ) -> bool:
            count[0] += 1
            return count[0] == n + 1

        pair = _pair13(
            seed=21, impairment=Impairment(drop_if=drop_nth), client=client, server=server
        )
        assert pair.run(timeout=60), n
        pair.net.run(timeout=10)
        assert pair.client.get_timer() is None and pair.server.get_timer() is None, n
        _exchange(pair)


def test_client_alert_before_keys_fails_the_server() -> None:
    """A plaintext alert during the handshake (the peer could not read our ServerHello) ends
    it at once instead of after the whole retransmission budget."""
    pair = _pair13(seed=22)
    pair.net.run(until=lambda: pair.server.state == "server: expect Certificate", timeout=5)
    alert = bytes([21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 47])
    pair.server.receive_datagram(alert, CLIENT_ADDR, pair.net.now)
    assert pair.server.state == "failed"
    assert isinstance(pair.server.error, PeerAlertError)
    assert pair.server.error.alert == AlertDescription.ILLEGAL_PARAMETER


def test_the_server_acks_exactly_the_client_final_flight() -> None:
    """RFC 9147 §7: the ACK lists the records of the client's last flight (epoch 2), not the
    ClientHello's (acknowledged by the server's flight already)."""
    pair = _pair13(seed=23, client={"key_shares": (int(NamedGroup.X25519),)})
    assert pair.run()
    pair.net.run(timeout=5)
    engine = pair.server.engine
    assert engine is not None
    acks = []
    for d in pair.net.sent:
        if d.src != SERVER_ADDR:
            continue
        for r in parse_datagram13(d.data)[0]:
            if isinstance(r, CiphertextRecord) and r.epoch_bits == 3:
                wkeys = engine._write_keys[3]
                low = unmask_sequence(wkeys, r)
                ctype, content = open_record(wkeys, 3, reconstruct_sequence(low, 16, 0), low, r)
                if ctype == 26:
                    acks.append(decode_ack(content))
    assert acks and all(numbers and {e for e, _ in numbers} == {2} for numbers in acks)


def test_cookie_retry_is_stateless() -> None:
    """use_cookie: the first ClientHello gets a HelloRetryRequest from the 1.2 layer and no
    1.3 state exists until a ClientHello comes back with our cookie (RFC 9147 §5.1)."""
    pair = _pair13(seed=24, server={"use_cookie": True})
    pair.net.run(until=lambda: any(d.src == SERVER_ADDR for d in pair.net.sent), timeout=5)
    assert not isinstance(pair.server.engine, Dtls13Engine)  # the retry went out, nothing kept
    (hrr,) = _server_hellos(pair)
    assert hrr.random == HRR_RANDOM
    assert pair.run()
    _exchange(pair)


def test_forged_or_foreign_cookies_are_refused() -> None:
    suite = TLS13_SUITES[0x1301]
    secret, addr = b"s" * 32, ("10.0.0.1", 40000)
    cookie = make_retry_cookie(secret, addr, suite, 23, bytes(32))
    assert open_retry_cookie(secret, addr, cookie) == (suite, 23, bytes(32))
    assert open_retry_cookie(secret, ("10.0.0.9", 40000), cookie) is None  # other address
    assert open_retry_cookie(b"t" * 32, addr, cookie) is None  # other server
    bad = bytearray(cookie)
    bad[3] ^= 1
    assert open_retry_cookie(secret, addr, bytes(bad)) is None
    assert open_retry_cookie(secret, addr, cookie[:10]) is None
    assert open_retry_cookie(secret, addr, make_retry_cookie(secret, addr, suite, None, b"")) is (
        None
    )  # a hash of the wrong length
