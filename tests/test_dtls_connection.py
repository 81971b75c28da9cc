"""In-memory DTLS pairs on the virtual clock: full handshakes in both roles, suites, groups,
cookies, small MTUs, loss/duplication/reordering, identity checks, close and renegotiation."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import (
    CipherSuite,
    Closed,
    DtlsConnection,
    DtlsRole,
    DtlsTimeoutError,
    DtlsUsageError,
    DtlsVersion,
    Failed,
    Fingerprint,
    FingerprintMismatchError,
    HandshakeCompleted,
    NamedGroup,
    PeerAlertError,
    SrtpProfile,
)
from pyrtcstack.dtls.constants import AlertDescription, ContentType
from pyrtcstack.dtls.record import parse_records
from pyrtcstack.testing.pair import Impairment
from tests.test_dtls_helpers import CLIENT_ADDR, SERVER_ADDR, certificate, make_pair


def _completed(events: list[object]) -> HandshakeCompleted:
    done = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert len(done) == 1
    return done[0]


def test_full_handshake_and_application_data_both_ways() -> None:
    pair = make_pair()
    assert pair.run()
    c = _completed(pair.net.events[CLIENT_ADDR])
    s = _completed(pair.net.events[SERVER_ADDR])
    assert c.version == s.version == "DTLS 1.2"
    assert c.cipher_suite == s.cipher_suite == CipherSuite.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert c.srtp_profile == s.srtp_profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
    assert c.peer_fingerprint == pair.server.local_fingerprint
    assert s.peer_fingerprint == pair.client.local_fingerprint
    pair.client.send(b"ping")
    pair.server.send(b"pong")
    pair.net.run(timeout=1)
    assert b"pong" in pair.net.data[CLIENT_ADDR]
    assert b"ping" in pair.net.data[SERVER_ADDR]


@pytest.mark.parametrize(
    "versions", [[DtlsVersion.DTLS_1_2], [DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2]]
)
def test_the_peer_certificate_is_hashed_once(
    versions: list[DtlsVersion], monkeypatch: pytest.MonkeyPatch
) -> None:
    # RFC 8122 §5: the sha-256 fingerprint the check makes is the one HandshakeCompleted
    # reports; a sha-1 fingerprint in the SDP is still checked with its own hash.
    hashed: list[tuple[bytes, str]] = []
    of = Fingerprint.of.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Fingerprint], der: bytes, algorithm: str = "sha-256") -> Fingerprint:
        hashed.append((der, algorithm))
        result: Fingerprint = of(cls, der, algorithm)
        return result

    ccert, scert = certificate(1001), certificate(2001)  # make_pair's at seed 1
    pair = make_pair(
        client_kwargs={"versions": versions, "remote_fingerprints": [scert.fingerprint()]},
        server_kwargs={
            "versions": versions,
            "remote_fingerprints": [ccert.fingerprint("sha-1"), ccert.fingerprint()],
        },
    )
    monkeypatch.setattr(Fingerprint, "of", classmethod(counted))
    assert pair.run()
    assert sorted(hashed) == sorted(
        [(scert.der, "sha-256"), (ccert.der, "sha-256"), (ccert.der, "sha-1")]
    )
    assert _completed(pair.net.events[CLIENT_ADDR]).peer_fingerprint == scert.fingerprint()
    assert _completed(pair.net.events[SERVER_ADDR]).peer_fingerprint == ccert.fingerprint()


def test_exporter_and_srtp_keys_agree() -> None:
    pair = make_pair(seed=2)
    assert pair.run()
    for label, length in ((b"EXTRACTOR-dtls_srtp", 60), (b"EXPORTER-test", 33)):
        assert pair.client.export_keying_material(label, length) == (
            pair.server.export_keying_material(label, length)
        )
    ck, sk = pair.client.srtp_keys(), pair.server.srtp_keys()
    assert ck == sk and ck.client_write != ck.server_write
    assert len(ck.client_salt) == 14 and len(ck.client_write) == 30
    with pytest.raises(DtlsUsageError):
        pair.client.export_keying_material(b"master secret", 48)


def test_seeded_handshake_is_byte_for_byte_reproducible() -> None:
    runs = []
    for _ in range(2):
        pair = make_pair(seed=5)
        assert pair.run()
        runs.append([d.data for d in pair.net.sent])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("suite", list(CipherSuite))
def test_every_cipher_suite(suite: CipherSuite) -> None:
    if "_RSA_" in suite.name:
        from cryptography.hazmat.primitives.asymmetric import rsa

        from pyrtcstack.dtls.certificate import DtlsCertificate
        from tests.test_dtls_certificate import self_signed

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server_cert = DtlsCertificate(self_signed(key), key)
    else:
        server_cert = certificate(2000 + 4 % 3)
    pair = make_pair(
        seed=4,
        client_kwargs={
            "cipher_suites": [suite],
            "remote_fingerprints": [server_cert.fingerprint()],
        },
        server_kwargs={"certificate": server_cert},
    )
    assert pair.run()
    assert pair.client.cipher_suite == pair.server.cipher_suite == suite
    pair.client.send(b"x" * 1000)
    pair.net.run(timeout=1)
    assert b"x" * 1000 in pair.net.data[SERVER_ADDR]


@pytest.mark.parametrize("group", list(NamedGroup))
def test_every_group(group: NamedGroup) -> None:
    pair = make_pair(seed=6, client_kwargs={"groups": [group]})
    assert pair.run()


@pytest.mark.parametrize(
    "profiles",
    [
        [SrtpProfile.SRTP_AEAD_AES_256_GCM],
        [SrtpProfile.SRTP_AEAD_AES_128_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80],
    ],
)
def test_srtp_profile_follows_the_server_preference(profiles: list[SrtpProfile]) -> None:
    pair = make_pair(seed=3, server_kwargs={"srtp_profiles": profiles})
    assert pair.run()
    assert pair.client.srtp_profile == pair.server.srtp_profile == profiles[0]
    assert len(pair.client.srtp_keys().client_key) == profiles[0].key_length


def test_no_common_srtp_profile_means_no_srtp() -> None:
    pair = make_pair(
        seed=3,
        client_kwargs={"srtp_profiles": [SrtpProfile.SRTP_AEAD_AES_256_GCM]},
        server_kwargs={"srtp_profiles": [SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80]},
    )
    assert pair.run()
    assert pair.client.srtp_profile is None and pair.server.srtp_profile is None
    with pytest.raises(DtlsUsageError):
        pair.client.srtp_keys()


def test_cookie_exchange() -> None:
    pair = make_pair(seed=8, server_kwargs={"use_cookie": True})
    assert pair.run()
    assert len([d for d in pair.net.sent if d.src == CLIENT_ADDR]) == 3  # CH, CH+cookie, F5


@pytest.mark.parametrize("mtu", [256, 300, 576])
def test_small_mtu_fragments_every_flight(mtu: int) -> None:
    pair = make_pair(seed=9, client_kwargs={"mtu": mtu}, server_kwargs={"mtu": mtu})
    assert pair.run()
    assert all(len(d.data) <= mtu for d in pair.net.sent)


def test_lost_server_finished_is_recovered_by_client_retransmission() -> None:
    dropped: list[bytes] = []

    def drop_first_epoch1_from_server(data: bytes, src: object, dst: object) -> bool:
        if src == SERVER_ADDR and not dropped and data[0] == ContentType.CHANGE_CIPHER_SPEC:
            dropped.append(data)
            return True
        return False

    pair = make_pair(seed=10, impairment=Impairment(drop_if=drop_first_epoch1_from_server))
    assert pair.run()
    assert dropped
    assert pair.client.stats.retransmissions == 1  # flight 5 after the 1 s timer
    assert pair.server.stats.retransmissions == 1  # flight 6 again on seeing flight 5
    assert 1.0 <= pair.net.now < 1.1


def test_retransmission_timer_doubles_and_gives_up() -> None:
    pair = make_pair(seed=11, impairment=Impairment(loss=1.0))
    times: list[float] = []
    client = pair.client
    while client.get_timer() is not None:
        t = client.get_timer()
        assert t is not None
        times.append(t)
        pair.net.now = t
        client.handle_timer(t)
        client.datagrams_to_send(t)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    failed = [e for e in iter(client.next_event, None) if isinstance(e, Failed)]
    assert isinstance(failed[0].error, DtlsTimeoutError)


def test_initial_timeout_is_configurable() -> None:
    pair = make_pair(seed=12, client_kwargs={"initial_timeout": 0.05})
    assert pair.client.get_timer() == pytest.approx(0.05)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    loss=st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    duplicate=st.sampled_from([0.0, 0.2, 0.5]),
    reorder=st.sampled_from([0.0, 0.3, 0.6]),
    mtu=st.sampled_from([256, 400, 1200]),
    cookie=st.booleans(),
)
def test_handshake_survives_loss_duplication_and_reordering(
    seed: int, loss: float, duplicate: float, reorder: float, mtu: int, cookie: bool
) -> None:
    pair = make_pair(
        seed=seed,
        impairment=Impairment(loss=loss, duplicate=duplicate, reorder=reorder, jitter=0.01),
        # a generous budget: at 50 % loss even 7 doublings fail now and then, by design
        client_kwargs={"mtu": mtu, "max_retransmissions": 40, "max_timeout": 4.0},
        server_kwargs={"mtu": mtu, "use_cookie": cookie, "max_retransmissions": 40},
    )
    assert pair.run(timeout=600)
    assert pair.client.export_keying_material(b"EXTRACTOR-dtls_srtp", 60) == (
        pair.server.export_keying_material(b"EXTRACTOR-dtls_srtp", 60)
    )
    assert not any(isinstance(e, Failed) for ev in pair.net.events.values() for e in ev)


@settings(max_examples=40, deadline=None)
@given(pattern=st.lists(st.booleans(), min_size=1, max_size=24))
def test_any_loss_pattern_on_the_first_datagrams(pattern: list[bool]) -> None:
    """Drop exactly the datagrams the pattern marks (in send order), deliver the rest."""
    counter = iter(range(10_000))

    def drop(data: bytes, src: object, dst: object) -> bool:
        n = next(counter)
        return n < len(pattern) and pattern[n]

    # 24 losses in a row exceed the default budget of 7 retransmissions (a legitimate
    # timeout, tested above), so this property runs with a larger budget.
    budget = {"max_retransmissions": 30, "max_timeout": 4.0}
    pair = make_pair(
        seed=len(pattern),
        impairment=Impairment(drop_if=drop),
        client_kwargs=budget,
        server_kwargs=budget,
    )
    assert pair.run(timeout=600)


def test_fingerprint_mismatch_fails_both_sides() -> None:
    wrong = certificate(99).fingerprint()
    pair = make_pair(seed=13, server_kwargs={"remote_fingerprints": [wrong]})
    pair.net.run(timeout=10)
    s_fail = [e for e in pair.net.events[SERVER_ADDR] if isinstance(e, Failed)]
    c_fail = [e for e in pair.net.events[CLIENT_ADDR] if isinstance(e, Failed)]
    assert isinstance(s_fail[0].error, FingerprintMismatchError)
    assert s_fail[0].error.alert == AlertDescription.BAD_CERTIFICATE
    assert isinstance(c_fail[0].error, PeerAlertError)
    assert c_fail[0].error.alert == AlertDescription.BAD_CERTIFICATE
    for events in pair.net.events.values():
        assert not any(isinstance(e, HandshakeCompleted) for e in events)
    assert pair.net.data[SERVER_ADDR] == pair.net.data[CLIENT_ADDR] == []


def test_client_detects_wrong_server_certificate() -> None:
    pair = make_pair(
        seed=14, client_kwargs={"remote_fingerprints": [certificate(98).fingerprint()]}
    )
    pair.net.run(timeout=10)
    assert isinstance(
        next(e for e in pair.net.events[CLIENT_ADDR] if isinstance(e, Failed)).error,
        FingerprintMismatchError,
    )
    assert any(isinstance(e, Failed) for e in pair.net.events[SERVER_ADDR])


def test_fingerprints_given_late_hold_completion_and_data() -> None:
    pair = make_pair(seed=15, server_kwargs={"remote_fingerprints": None})
    pair.net.run(until=lambda: pair.client.is_established, timeout=10)
    pair.client.send(b"early")
    pair.net.run(timeout=1)
    assert pair.net.events[SERVER_ADDR] == []  # nothing before the fingerprint is known
    with pytest.raises(DtlsUsageError):
        pair.server.send(b"too soon")
    pair.server.set_remote_fingerprints([pair.client.local_fingerprint], pair.net.now)
    pair.net.run(timeout=1)
    events = pair.net.events[SERVER_ADDR]
    assert isinstance(events[0], HandshakeCompleted)
    assert pair.net.data[SERVER_ADDR] == [b"early"]


def test_late_wrong_fingerprint_fails_both_sides() -> None:
    pair = make_pair(seed=16, server_kwargs={"remote_fingerprints": None})
    pair.net.run(until=lambda: pair.client.is_established, timeout=10)
    pair.server.set_remote_fingerprints([certificate(97).fingerprint()], pair.net.now)
    pair.net.run(timeout=1)
    assert isinstance(pair.net.events[SERVER_ADDR][-1], Failed)
    assert isinstance(pair.net.events[CLIENT_ADDR][-1], Failed)


def test_sha1_and_sha512_fingerprints_verify() -> None:
    scert = certificate(2000 + 17 % 3)
    pair = make_pair(
        seed=17,
        client_kwargs={"remote_fingerprints": [scert.fingerprint("sha-1")]},
        server_kwargs={"remote_fingerprints": [certificate(1000 + 17 % 3).fingerprint("sha-512")]},
    )
    assert pair.run()


def test_early_client_hello_before_server_start() -> None:
    pair = make_pair(seed=18, start=False)
    pair.client.start(pair.net.now)
    pair.net.run(timeout=0.5)  # the ClientHello arrives while the server is idle
    assert pair.server.stats.datagrams_received == 0
    pair.server.start(pair.net.now)
    assert pair.run(timeout=0.1)  # answered at once, without waiting for a retransmission
    assert pair.client.stats.retransmissions == 0


def test_close_notify_both_ways() -> None:
    pair = make_pair(seed=19)
    assert pair.run()
    pair.client.close(pair.net.now)
    pair.net.run(timeout=1)
    assert Closed(by_peer=False) in pair.net.events[CLIENT_ADDR]
    assert Closed(by_peer=True) in pair.net.events[SERVER_ADDR]
    assert pair.server.state == "closed"


def test_replayed_and_tampered_records_are_dropped() -> None:
    pair = make_pair(seed=20)
    assert pair.run()
    record = pair.client.protect(b"once")
    pair.server.receive_datagram(record, CLIENT_ADDR, pair.net.now)
    pair.server.receive_datagram(record, CLIENT_ADDR, pair.net.now)
    tampered = bytearray(pair.client.protect(b"evil"))
    tampered[-1] ^= 1
    pair.server.receive_datagram(bytes(tampered), CLIENT_ADDR, pair.net.now)
    pair.server.receive_datagram(b"\x17\xfe\xfd garbage", CLIENT_ADDR, pair.net.now)
    data = pair.server.take_application_data()
    assert data == [b"once"]
    assert pair.server.stats.dropped_replay == 1
    assert pair.server.stats.dropped_decrypt == 1
    assert pair.server.stats.dropped_malformed == 1
    assert pair.server.state == "established"  # never fatal


def test_a_record_reusing_the_finished_sequence_number_is_dropped() -> None:
    """werift numbers its application records from 1 after a Finished it sent with N > 0
    (docs/interop.md): its N-th record reuses N, and so the AES-GCM nonce, of a record we
    saw. It stays dropped (RFC 6347 §4.1.2.6): a second record under one nonce is what an
    on-path attacker who saw both needs to forge a record at that number."""
    pair = make_pair(seed=23)
    assert pair.run()
    state = pair.client.engine._write[1]  # type: ignore[attr-defined]
    assert state.next_sequence == 1  # our Finished was epoch 1, sequence 0
    state.next_sequence = 0  # as werift: an application record at the Finished's number
    pair.server.receive_datagram(pair.client.protect(b"reused"), CLIENT_ADDR, pair.net.now)
    pair.server.receive_datagram(pair.client.protect(b"next"), CLIENT_ADDR, pair.net.now)
    assert pair.server.take_application_data() == [b"next"]
    assert pair.server.stats.dropped_replay == 1
    assert pair.server.stats.dropped_decrypt == 0


def test_out_of_window_and_reordered_records() -> None:
    pair = make_pair(seed=21)
    assert pair.run()
    records = [pair.client.protect(b"%d" % i) for i in range(100)]
    for r in reversed(records[:70]):  # 70 reordered: the oldest 6 fall left of the window
        pair.server.receive_datagram(r, CLIENT_ADDR, pair.net.now)
    for r in records[:70]:  # all of them again: replays
        pair.server.receive_datagram(r, CLIENT_ADDR, pair.net.now)
    got = pair.server.take_application_data()
    assert len(got) == 64 and pair.server.stats.dropped_replay == 76


def test_renegotiation_is_refused_with_a_warning() -> None:
    pair = make_pair(seed=22)
    assert pair.run()
    # a new ClientHello under epoch 1 with the next message_seq
    from pyrtcstack.dtls.fragments import encode_message

    engine = pair.client.engine
    state = engine._write[1]  # type: ignore[attr-defined]
    role = engine.handshake  # type: ignore[attr-defined]
    hello = encode_message(1, role._send_seq, role._client_hello.encode())
    pair.server.receive_datagram(
        state.protect(ContentType.HANDSHAKE, hello), CLIENT_ADDR, pair.net.now
    )
    out = pair.server.datagrams_to_send(pair.net.now)
    assert len(out) == 1
    pair.client.receive_datagram(out[0][0], SERVER_ADDR, pair.net.now)
    (record,), _ = parse_records(out[0][0])
    assert record.content_type == ContentType.ALERT
    assert engine._read[1].unprotect(record) == bytes([1, AlertDescription.NO_RENEGOTIATION])
    assert pair.server.state == "established"


def test_application_data_api_errors() -> None:
    pair = make_pair(seed=23, start=False)
    with pytest.raises(DtlsUsageError):
        pair.client.send(b"x")
    pair.client.start(0.0)
    pair.server.start(0.0)
    with pytest.raises(DtlsUsageError):
        pair.client.start(0.0)
    assert pair.run()
    with pytest.raises(DtlsUsageError):
        pair.client.send(b"x" * (1 << 14 + 1))


def test_client_without_address_and_role_errors() -> None:
    with pytest.raises(DtlsUsageError):
        DtlsConnection(DtlsRole.CLIENT, certificate=certificate(1)).start(0.0)
    with pytest.raises(DtlsUsageError):
        DtlsConnection(None, certificate=certificate(1)).start(0.0)


def test_remote_address_can_change() -> None:
    pair = make_pair(seed=24)
    assert pair.run()
    pair.server.set_remote_address(("10.9.9.9", 1))
    pair.server.send(b"x")
    assert pair.server.datagrams_to_send(0)[0][1] == ("10.9.9.9", 1)


def test_unseeded_connection_works() -> None:
    pair = make_pair(
        seed=25, client_kwargs={"rng": None}, server_kwargs={"rng": random.SystemRandom()}
    )
    assert pair.run()


def _flight_of(data: bytes, src: object) -> int:
    """Which handshake flight a datagram belongs to (0 = not a handshake flight)."""
    ctype = data[0]
    if ctype == ContentType.CHANGE_CIPHER_SPEC:
        return 6 if src == SERVER_ADDR else 0
    if ctype != ContentType.HANDSHAKE or data[3:5] != b"\x00\x00":
        return 0
    msg_type = data[13]
    return {1: 1, 3: 2, 2: 4, 11: 5 if src == CLIENT_ADDR else 4}.get(msg_type, 0)


@pytest.mark.parametrize("flight", [1, 2, 4, 5, 6])
@pytest.mark.parametrize("mode", ["lost", "lost-twice", "duplicated"])
def test_each_flight_lost_or_duplicated(flight: int, mode: str) -> None:
    seen: dict[int, int] = {}

    def drop(data: bytes, src: object, dst: object) -> bool:
        f = _flight_of(data, src)
        seen[f] = seen.get(f, 0) + 1
        return f == flight and mode.startswith("lost") and seen[f] <= (2 if "twice" in mode else 1)

    imp = Impairment(drop_if=drop, duplicate=1.0 if mode == "duplicated" else 0.0)
    pair = make_pair(seed=60 + flight, impairment=imp, server_kwargs={"use_cookie": True})
    assert pair.run()
    assert seen.get(flight, 0) >= (2 if mode.startswith("lost") else 1)
    assert pair.client.export_keying_material(b"k", 8) == pair.server.export_keying_material(
        b"k", 8
    )


def test_every_flight_fragmented_and_delivered_in_reverse() -> None:
    """MTU 256: flights 4 and 5 span several datagrams; deliver each flight backwards."""
    pair = make_pair(seed=70, start=False, client_kwargs={"mtu": 256}, server_kwargs={"mtu": 256})
    client, server = pair.client, pair.server
    server.start(0.0)
    client.start(0.0)
    sizes = []
    sender, receiver, addr = client, server, CLIENT_ADDR
    for _ in range(4):
        out = [d for d, _ in sender.datagrams_to_send(0.0)]
        sizes.append(len(out))
        for d in reversed(out):
            receiver.receive_datagram(d, addr, 0.0)
        sender, receiver = receiver, sender
        addr = SERVER_ADDR if addr == CLIENT_ADDR else CLIENT_ADDR
    assert client.is_established and server.is_established
    assert sizes[1] > 2 and sizes[2] > 2  # flights 4 and 5 were fragmented
    assert client.stats.retransmissions == server.stats.retransmissions == 0


@settings(max_examples=60, deadline=None)
@given(
    target=st.integers(0, 12),
    position=st.integers(0, 2000),
    xor=st.integers(1, 255),
    seed=st.integers(0, 3),
)
def test_corrupted_handshake_datagram_never_breaks_the_contract(
    target: int, position: int, xor: int, seed: int
) -> None:
    """Flip one byte of one datagram: the pair either completes with equal keys (the record
    was dropped and retransmitted) or fails with a Failed event; nothing raises."""
    pair = make_pair(seed=seed, start=False, server_kwargs={"use_cookie": bool(seed & 1)})
    client, server = pair.client, pair.server
    server.start(0.0)
    client.start(0.0)
    now, count = 0.0, 0
    events: dict[str, list[object]] = {"c": [], "s": []}
    for _ in range(200):
        moved = False
        for src, dst, addr in ((client, server, CLIENT_ADDR), (server, client, SERVER_ADDR)):
            for original, _ in src.datagrams_to_send(now):
                data = original
                if count == target:
                    i = position % len(data)
                    data = data[:i] + bytes([data[i] ^ xor]) + data[i + 1 :]
                count += 1
                dst.receive_datagram(data, addr, now)
                moved = True
        for key, conn in (("c", client), ("s", server)):
            events[key].extend(iter(conn.next_event, None))
        if client.is_established and server.is_established:
            break
        if not moved:
            deadlines = [t for t in (client.get_timer(), server.get_timer()) if t is not None]
            if not deadlines:
                break
            now = min(deadlines)
            client.handle_timer(now)
            server.handle_timer(now)
    failed = any(isinstance(e, Failed) for ev in events.values() for e in ev)
    if client.is_established and server.is_established:
        assert client.export_keying_material(b"k", 16) == server.export_keying_material(b"k", 16)
    else:
        assert failed


def test_a_queued_send_is_a_deadline_until_drained() -> None:
    """common/core.py's pending-output rule: after ``send`` (which takes no ``now``),
    ``get_timer()`` is at most the last ``now`` the connection saw, so a driver that
    re-reads it sends at once; after the drain the deadline is the engine's again (an
    established connection with nothing to retransmit: none)."""
    pair = make_pair()
    assert pair.run()
    client = pair.client
    now = pair.net.now
    client.datagrams_to_send(now)
    idle = client.get_timer()
    assert idle is None or idle > now
    client.send(b"ping")
    deadline = client.get_timer()
    assert deadline is not None and deadline <= now
    assert client.datagrams_to_send(now)
    assert client.get_timer() == idle
