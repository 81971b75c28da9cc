"""Real browsers' DTLS 1.3 bytes: the Chromium 156 / Firefox ESR ClientHellos in
tests/data/recorded (ML-KEM share, two fragments) answered by our 1.3 server, and a record
Chromium 156 sent us in a live DTLS 1.3 handshake (captured with dumpcap, secrets from our
key log) decrypted by our record layer: a known-answer test for the ``dtls13`` key
derivation (RFC 9147 §5.9), the record-number mask (§4.2.3) and the AEAD nonce and
additional data (§4)."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.dtls import DtlsConnection, DtlsRole, DtlsVersion, NamedGroup
from pyrtcstack.dtls.constants import ExtensionType
from pyrtcstack.dtls.fragments import parse_fragments
from pyrtcstack.dtls.kex13 import X25519MLKEM768
from pyrtcstack.dtls.keyschedule import TLS13_SUITES, TrafficKeys
from pyrtcstack.dtls.messages import ClientHello, ServerHello
from pyrtcstack.dtls.messages13 import (
    EXT_COOKIE,
    HRR_RANDOM,
    Certificate13,
    decode_hrr_key_share,
    decode_server_key_share,
    decode_supported_versions_server,
)
from pyrtcstack.dtls.record13 import (
    CiphertextRecord,
    PlaintextRecord,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    unmask_sequence,
)
from tests.peers import recorded_client_hello
from tests.test_dtls_helpers import certificate, handshake_messages

PEER = ("127.0.0.1", 5000)
BOTH = (DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)

#: Chromium 156 as DTLS 1.3 client (we-offer scenario, 2026-11-21): its client random, its
#: CLIENT_HANDSHAKE_TRAFFIC_SECRET from our key log, and the datagram of its final flight.
CHROMIUM_CLIENT_RANDOM = "f25a9ad1f300dac5db18f5cdd0d58ffc65290d479de4b87036a0d64756270025"
CHROMIUM_CLIENT_HS_SECRET = bytes.fromhex(
    "f128ecace73124360d7c45fc774395fd63b40705decbacb03f89445fd7c9e1c1"
)
CHROMIUM_FINAL_FLIGHT = bytes.fromhex(
    "2eb28901c21058a0cfca2cd79560b14f87bd5d0f83a64094bddfaa444120bd27aba7d8fee764f5aef9c6b5d5"
    "77fdeb9afa880f9f183007d40e49b5ce0c41b49092c2ca00a09e52795a6a08a8c119c7eee5f5d0a6a3b3a7d9"
    "6552d102b92477413fa60a3d65fc6a7048e9753121ebc2a76ef7fe00afed1d984f3eb79d3acd45e3b5e66c31"
    "90d41cb242dd00329b3fc563b43b7bc8ff5c3bd477584341e12a76dd65a6bbc9c28996c16f064129c511a84c"
    "02eea4ce9193f79cf0f68dc3bd917f34083dbb8158f8599e7092815575567080eb4cc8fa3d874fb3c7385e21"
    "0004e1b40780ddbc7c591a192034fd89f8389dd4c435f8a02f56ab5db61e22546f9f5aaa00e4468d46825c08"
    "873eabc31c95c8880c72f7f09cd0afcabfa61ddfc19d51138deed8a3c9bc747b91e6ec1e930078f2c731a2fb"
    "4870d0a068cd250207a2e5df730d4fdc95ad5cfb3b957d14a06b571ef1718271064dd915eadb5cbb32bf1f78"
    "6ca7b7a969d6bd7db8e3e66fe0bc281afe252585f75759fbb13d653af9da9812b9ad96cf5ccbf7dcc1d3c874"
    "3cf0103dc46cea245bc9e021313e219eaf6c3917e5b29a7f6d48f367260c37b7da958b790f2fa9f5f400e347"
    "4cd30aa015b04e2cdf1a5cbf6db884"
)


def test_chromium_final_flight_decrypts_with_our_record_layer() -> None:
    keys = TrafficKeys.derive(TLS13_SUITES[0x1301], CHROMIUM_CLIENT_HS_SECRET)
    (record,), trailing = parse_datagram13(CHROMIUM_FINAL_FLIGHT)
    assert trailing == 0 and isinstance(record, CiphertextRecord)
    assert record.header[0] == 0x2E  # 001 0 1 1 10: 16-bit seq, length, epoch 2
    low = unmask_sequence(keys, record)
    seq = reconstruct_sequence(low, 16, 0)
    assert seq == 0  # its first record of epoch 2
    ctype, content = open_record(keys, 2, seq, low, record)
    assert ctype == 22  # handshake, hidden inside (RFC 9147 §4: the real type is encrypted)
    frags = parse_fragments(content)
    # Certificate, CertificateVerify and Finished in one record, message_seq 1..3
    assert [(f.msg_type, f.message_seq) for f in frags] == [(11, 1), (15, 2), (20, 3)]
    assert all(f.is_whole for f in frags)
    cert = Certificate13.decode(frags[0].body)
    assert cert.context == b"" and len(cert.certificates) == 1
    assert len(frags[2].body) == 32  # Finished: HMAC-SHA256
    # one flipped bit anywhere and it no longer opens
    bad = bytearray(CHROMIUM_FINAL_FLIGHT)
    bad[40] ^= 1
    (bad_record,), _ = parse_datagram13(bytes(bad))
    assert isinstance(bad_record, CiphertextRecord)
    with pytest.raises(Exception, match="authentication"):
        open_record(keys, 2, seq, unmask_sequence(keys, bad_record), bad_record)


def _datagrams(browser: str) -> list[bytes]:
    """The browser's ClientHello as it reached us (tests/data/recorded)."""
    return recorded_client_hello(browser)


def _server(**kwargs: object) -> DtlsConnection:
    conn = DtlsConnection(
        DtlsRole.SERVER,
        certificate=certificate(7),
        rng=random.Random(7),
        verify_fingerprint=False,
        versions=BOTH,
        **kwargs,  # type: ignore[arg-type]
    )
    conn.start(0.0)
    return conn


def _answer(conn: DtlsConnection, datagrams: list[bytes]) -> list[bytes]:
    for d in datagrams:
        conn.receive_datagram(d, PEER, 0.0)
    return [d for d, addr in conn.datagrams_to_send(0.0) if addr == PEER]


def _records(datagrams: list[bytes]) -> list[PlaintextRecord | CiphertextRecord]:
    out: list[PlaintextRecord | CiphertextRecord] = []
    for d in datagrams:
        records, trailing = parse_datagram13(d)
        assert trailing == 0
        out += records
    return out


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
@pytest.mark.parametrize(
    ("groups", "expected"),
    [(None, X25519MLKEM768), ((int(NamedGroup.X25519),), int(NamedGroup.X25519))],
)
def test_browser_client_hello_gets_a_dtls13_flight(
    browser: str, groups: tuple[int, ...] | None, expected: int
) -> None:
    datagrams = _datagrams(browser)
    hello = ClientHello.decode(handshake_messages(datagrams[:2])[0][1])
    conn = _server(**({"groups13": groups} if groups else {}))
    out = _answer(conn, datagrams[:2])
    assert out and all(len(d) <= 1200 for d in out)
    assert conn.version == DtlsVersion.DTLS_1_3
    records = _records(out)
    plain = [r for r in records if isinstance(r, PlaintextRecord)]
    sealed = [r for r in records if isinstance(r, CiphertextRecord)]
    # ServerHello in epoch 0 (one or two fragments: the ML-KEM ciphertext is 1088 bytes)
    frags = [f for r in plain for f in parse_fragments(r.fragment)]
    assert {f.msg_type for f in frags} == {2} and {f.message_seq for f in frags} == {0}
    body = bytearray(frags[0].length)
    for f in frags:
        body[f.fragment_offset : f.fragment_offset + len(f.body)] = f.body
    sh = ServerHello.decode(bytes(body))
    assert sh.server_version == 0xFEFD and sh.cipher_suite == 0x1301
    assert sh.session_id == hello.session_id  # legacy_session_id_echo
    ext = dict(sh.extensions)
    assert decode_supported_versions_server(ext[ExtensionType.SUPPORTED_VERSIONS]) == 0xFEFC
    assert decode_server_key_share(ext[ExtensionType.KEY_SHARE]).group == expected
    # everything else is encrypted in epoch 2 (EncryptedExtensions ... Finished)
    assert sealed and all(r.epoch_bits == 2 for r in sealed)


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
@pytest.mark.parametrize("cookie", [False, True])
def test_browser_client_hello_without_a_usable_share_gets_a_retry(
    browser: str, cookie: bool
) -> None:
    """The browsers send ML-KEM + x25519 shares; a server that only takes P-256 asks for it
    with a HelloRetryRequest (RFC 8446 §4.1.4), with a cookie; with ``use_cookie`` the
    retry is stateless (no 1.3 engine until the cookie comes back)."""
    conn = _server(groups13=(int(NamedGroup.SECP256R1),), use_cookie=cookie)
    out = _answer(conn, _datagrams(browser)[:2])
    ((msg_type, body),) = handshake_messages(out)
    hrr = ServerHello.decode(body)
    assert msg_type == 2 and hrr.random == HRR_RANDOM
    ext = dict(hrr.extensions)
    assert decode_hrr_key_share(ext[ExtensionType.KEY_SHARE]) == NamedGroup.SECP256R1
    assert EXT_COOKIE in ext
    if cookie:
        assert conn.version is None and conn.state == "server: expect ClientHello"
    else:
        assert conn.state == "server: expect ClientHello (after HelloRetryRequest)"
