"""Interop in memory with pyOpenSSL's DTLS (what aiortc uses), both roles, through memory
BIOs: the handshake completes, the exporter output matches OpenSSL's byte for byte, the SRTP
profile is agreed and application data flows both ways."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pyrtcstack.dtls import (
    AlertDescription,
    DtlsCertificate,
    DtlsConnection,
    DtlsRole,
    Failed,
    Fingerprint,
    SrtpProfile,
)
from tests.peers import require_module
from tests.test_dtls_helpers import certificate

pytestmark = pytest.mark.interop
PEER = ("192.0.2.9", 9)


def _openssl(cert: DtlsCertificate, server: bool, srtp: bytes) -> Any:
    OpenSSL = require_module("OpenSSL", "pyOpenSSL")
    SSL = OpenSSL.SSL
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
    ctx.use_certificate(cert.certificate)
    key = cert.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ctx.use_privatekey(key)
    ctx.set_tlsext_use_srtp(srtp)
    conn = SSL.Connection(ctx)
    if server:
        conn.set_accept_state()
    else:
        conn.set_connect_state()
    return conn


def _pump(ours: DtlsConnection, theirs: Any, rounds: int = 30) -> list[bytes]:
    """Move datagrams both ways until quiet; returns what OpenSSL received as app data."""
    OpenSSL = require_module("OpenSSL", "pyOpenSSL")
    SSL = OpenSSL.SSL
    received: list[bytes] = []
    for _ in range(rounds):
        moved = False
        try:
            theirs.do_handshake()
            while True:
                received.append(theirs.recv(65536))
        except (SSL.WantReadError, SSL.ZeroReturnError):
            pass
        while True:
            try:
                data = theirs.bio_read(65536)
            except SSL.WantReadError:
                break
            ours.receive_datagram(data, PEER, 0.0)
            moved = True
        for data, _ in ours.datagrams_to_send(0.0):
            theirs.bio_write(data)
            moved = True
        if not moved:
            break
    return received


@pytest.mark.parametrize("role", [DtlsRole.CLIENT, DtlsRole.SERVER])
@pytest.mark.parametrize(
    ("srtp", "profile"),
    [
        (b"SRTP_AES128_CM_SHA1_80", SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80),
        (b"SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM", SrtpProfile.SRTP_AEAD_AES_256_GCM),
    ],
)
def test_pyopenssl_peer(role: DtlsRole, srtp: bytes, profile: SrtpProfile) -> None:
    ours_cert, their_cert = certificate(80), certificate(81)
    theirs = _openssl(their_cert, server=role == DtlsRole.CLIENT, srtp=srtp)
    ours = DtlsConnection(
        role,
        certificate=ours_cert,
        remote_fingerprints=[Fingerprint.of(their_cert.der)],
        remote_address=PEER,
        rng=random.Random(1),
        srtp_profiles=[SrtpProfile.SRTP_AEAD_AES_256_GCM, SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80],
    )
    ours.start(0.0)
    _pump(ours, theirs)
    assert ours.is_established
    assert ours.srtp_profile == profile
    assert theirs.get_selected_srtp_profile() == profile.name.replace("HMAC_", "").encode()
    n = profile.keying_material_length
    assert ours.export_keying_material(b"EXTRACTOR-dtls_srtp", n) == (
        theirs.export_keying_material(b"EXTRACTOR-dtls_srtp", n)
    )
    assert ours.export_keying_material(b"EXPORTER-x", 20, b"ctx") == (
        theirs.export_keying_material(b"EXPORTER-x", 20, b"ctx")
    )
    ours.send(b"from pyrtcstack")
    theirs.send(b"from openssl")
    received = _pump(ours, theirs)
    assert received == [b"from pyrtcstack"]
    assert ours.take_application_data() == [b"from openssl"]


def test_server_requires_a_client_certificate() -> None:
    """WebRTC authenticates both ends (RFC 8827 §6.5): a client without a certificate fails."""
    OpenSSL = require_module("OpenSSL", "pyOpenSSL")
    SSL = OpenSSL.SSL
    ctx = SSL.Context(SSL.DTLS_METHOD)
    ctx.set_verify(SSL.VERIFY_PEER, lambda *args: True)
    theirs = SSL.Connection(ctx)
    theirs.set_connect_state()
    ours = DtlsConnection(
        DtlsRole.SERVER, certificate=certificate(82), verify_fingerprint=False, rng=random.Random(2)
    )
    ours.start(0.0)
    with pytest.raises(SSL.Error):
        _pump(ours, theirs)
    failed = [e for e in iter(ours.next_event, None) if isinstance(e, Failed)]
    assert failed and failed[0].error.alert == AlertDescription.CERTIFICATE_REQUIRED
