"""The ClientHellos Chromium 156 and Firefox ESR sent us (tests/data/recorded: DTLS
1.3-capable, an ML-KEM key share, two fragments in two datagrams, record version 0xfeff)
get a valid DTLS 1.2 flight."""

from __future__ import annotations

import dataclasses
import random

import pytest

from pyrtcstack.dtls import DtlsConnection, DtlsRole
from pyrtcstack.dtls.certificate import verify_signature
from pyrtcstack.dtls.constants import ExtensionType, HandshakeType, NamedGroup
from pyrtcstack.dtls.fragments import encode_message
from pyrtcstack.dtls.messages import (
    CertificateRequest,
    ClientHello,
    HelloVerifyRequest,
    ServerHello,
    ServerKeyExchange,
    decode_use_srtp,
)
from pyrtcstack.dtls.record import encode_record
from pyrtcstack.dtls.srtp import SrtpProfile
from tests.peers import recorded_client_hello
from tests.test_dtls_helpers import certificate, handshake_messages

PEER = ("127.0.0.1", 5000)


def _datagrams(browser: str) -> list[bytes]:
    """The browser's ClientHello as it reached us (tests/data/recorded)."""
    return recorded_client_hello(browser)


def _server(**kwargs: object) -> DtlsConnection:
    conn = DtlsConnection(
        DtlsRole.SERVER,
        certificate=certificate(7),
        rng=random.Random(7),
        verify_fingerprint=False,
        **kwargs,  # type: ignore[arg-type]
    )
    conn.start(0.0)
    return conn


def _answer(conn: DtlsConnection, datagrams: list[bytes]) -> list[bytes]:
    for d in datagrams:
        conn.receive_datagram(d, PEER, 0.0)
    return [d for d, addr in conn.datagrams_to_send(0.0) if addr == PEER]


def _client_hello(datagrams: list[bytes]) -> ClientHello:
    ((msg_type, body),) = handshake_messages(datagrams[:2])
    assert msg_type == HandshakeType.CLIENT_HELLO
    return ClientHello.decode(body)


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
@pytest.mark.parametrize("order", ["in-order", "reversed"])
def test_browser_client_hello_gets_a_dtls12_flight(browser: str, order: str) -> None:
    datagrams = _datagrams(browser)
    hello = _client_hello(datagrams)
    assert ExtensionType.SUPPORTED_VERSIONS in dict(hello.extensions)  # 1.3-capable
    assert ExtensionType.KEY_SHARE in dict(hello.extensions)
    first = datagrams[:2] if order == "in-order" else datagrams[1::-1]
    conn = _server()
    out = _answer(conn, first)
    assert out and all(len(d) <= 1200 for d in out)
    messages = handshake_messages(out)
    assert [t for t, _ in messages] == [
        HandshakeType.SERVER_HELLO,
        HandshakeType.CERTIFICATE,
        HandshakeType.SERVER_KEY_EXCHANGE,
        HandshakeType.CERTIFICATE_REQUEST,
        HandshakeType.SERVER_HELLO_DONE,
    ]
    sh = ServerHello.decode(messages[0][1])
    assert sh.server_version == 0xFEFD
    assert sh.cipher_suite == 0xC02B  # the WebRTC mandatory suite with our ECDSA cert
    ext = dict(sh.extensions)
    assert ext[ExtensionType.EXTENDED_MASTER_SECRET] == b""
    assert ext[ExtensionType.RENEGOTIATION_INFO] == b"\x00"
    assert set(ext) <= {t for t, _ in hello.extensions}  # only what the client offered
    (profile,), mki = decode_use_srtp(ext[ExtensionType.USE_SRTP])
    offered, _ = decode_use_srtp(dict(hello.extensions)[ExtensionType.USE_SRTP])
    assert profile in offered and mki == b""
    assert profile == SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80  # our default preference
    ske = ServerKeyExchange.decode(messages[2][1])
    assert ske.named_curve == NamedGroup.X25519  # the ML-KEM group is skipped
    verify_signature(
        certificate(7).certificate,
        ske.signature_scheme,
        ske.signature,
        hello.random + sh.random + ske.params(),
    )
    request = CertificateRequest.decode(messages[3][1])
    assert 0x0403 in request.signature_schemes


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
def test_browser_hello_with_cookie_exchange(browser: str) -> None:
    datagrams = _datagrams(browser)
    conn = _server(use_cookie=True)
    out = _answer(conn, datagrams[:2])
    ((msg_type, body),) = handshake_messages(out)
    assert msg_type == HandshakeType.HELLO_VERIFY_REQUEST
    assert len(HelloVerifyRequest.decode(body).cookie) == 20
    # a retry that carries someone else's cookie (the browser's own hello, message_seq 1,
    # with a cookie from another server) is answered with a new HVR, not a flight
    ((_, hello),) = handshake_messages(datagrams)
    retry = dataclasses.replace(ClientHello.decode(hello), cookie=bytes(range(20)))
    record = encode_record(22, 0xFEFD, 0, 2, encode_message(1, 1, retry.encode()))
    out = _answer(conn, [record])
    assert [t for t, _ in handshake_messages(out)] == [HandshakeType.HELLO_VERIFY_REQUEST]


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
def test_browser_hello_prefers_our_srtp_order(browser: str) -> None:
    conn = _server(srtp_profiles=[SrtpProfile.SRTP_AEAD_AES_128_GCM])
    messages = handshake_messages(_answer(conn, _datagrams(browser)[:2]))
    (profile,), _ = decode_use_srtp(
        dict(ServerHello.decode(messages[0][1]).extensions)[ExtensionType.USE_SRTP]
    )
    assert profile == SrtpProfile.SRTP_AEAD_AES_128_GCM


def test_early_browser_hello_is_buffered_until_start() -> None:
    conn = DtlsConnection(None, certificate=certificate(7), rng=random.Random(3))
    for d in _datagrams("chromium")[:2]:
        conn.receive_datagram(d, PEER, 0.0)
    assert conn.datagrams_to_send(0.0) == []
    conn.start(0.5, role=DtlsRole.SERVER)
    out = [d for d, _ in conn.datagrams_to_send(0.5)]
    assert handshake_messages(out)[0][0] == HandshakeType.SERVER_HELLO
