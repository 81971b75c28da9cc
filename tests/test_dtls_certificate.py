"""Certificates, fingerprints and signatures (RFC 8122 §5, RFC 5246 §7.4.1.4.1)."""

from __future__ import annotations

import datetime
import hashlib
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.dtls import DtlsCertificate, DtlsDecodeError, DtlsHandshakeError, Fingerprint
from pyrtcstack.dtls.certificate import load_peer_certificate, verify_signature
from pyrtcstack.dtls.constants import SignatureScheme

NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def self_signed(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peer")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + datetime.timedelta(days=1))
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def test_generated_certificate_is_deterministic_p256() -> None:
    a = DtlsCertificate.generate(random.Random(1), not_before=NOT_BEFORE)
    b = DtlsCertificate.generate(random.Random(1), not_before=NOT_BEFORE)
    assert a.der == b.der
    assert isinstance(a.private_key, ec.EllipticCurvePrivateKey)
    assert a.private_key.curve.name == "secp256r1"
    again = DtlsCertificate.load_pem(a.certificate_pem(), a.private_key_pem())
    assert again.der == a.der


def _builder_certificate(
    seed: int, common_name: str, not_before: datetime.datetime, days: int
) -> bytes:
    """What ``generate`` made with cryptography's CertificateBuilder before it wrote the
    DER itself: the same draws from the rng, the same fields (the reference)."""
    rng = random.Random(seed)
    scalar = rng.getrandbits(256)
    while not 1 <= scalar < P256_ORDER:
        scalar = rng.getrandbits(256)
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(rng.getrandbits(63) + 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return cert.public_bytes(serialization.Encoding.DER)


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    common_name=st.text(min_size=1, max_size=64).filter(lambda t: "\0" not in t),
    not_before=st.datetimes(
        min_value=datetime.datetime(1950, 1, 2), max_value=datetime.datetime(9000, 1, 1)
    ),
    aware=st.booleans(),
    days=st.integers(1, 3650),
)
def test_generated_der_is_what_cryptographys_builder_writes(
    seed: int, common_name: str, not_before: datetime.datetime, aware: bool, days: int
) -> None:
    # RFC 5280 §4.1: generate writes the DER itself; byte for byte what the builder wrote
    # (UTCTime through 2049, GeneralizedTime from 2050, microseconds dropped, long CNs
    # with a long-form length), and it parses and verifies as a self-signed certificate.
    when = not_before.replace(tzinfo=datetime.UTC) if aware else not_before
    ours = DtlsCertificate.generate(random.Random(seed), common_name, when, days)
    assert ours.der == _builder_certificate(seed, common_name, when, days)
    cert = ours.certificate
    assert cert.subject == cert.issuer
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("name", ["", "x" * 65])
def test_a_common_name_outside_1_to_64_characters_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        DtlsCertificate.generate(random.Random(1), name)


@pytest.mark.parametrize(
    ("not_before", "days"),
    [
        (None, -1),  # notAfter before notBefore: expired when made
        (None, 10**7),  # past the year 9999 (was an OverflowError)
        (
            datetime.datetime(
                9999, 12, 31, 23, tzinfo=datetime.timezone(-datetime.timedelta(hours=5))
            ),
            0,
        ),
        (datetime.datetime(1949, 12, 31, 23, 59, 59), 30),  # before UTCTime's 1950
        (
            datetime.datetime(
                1950, 1, 1, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
            ),
            30,
        ),
    ],
)
def test_a_validity_outside_what_rfc_5280_can_write_is_refused(
    not_before: datetime.datetime | None, days: int
) -> None:
    # RFC 5280 §4.1.2.5: ValueError (the documented error), never an OverflowError; the DER
    # written here refuses what cryptography's builder refused
    with pytest.raises(ValueError):
        DtlsCertificate.generate(random.Random(1), not_before=not_before, days=days)


def test_a_validity_of_zero_days_from_1950_is_accepted() -> None:
    when = datetime.datetime(1950, 1, 1, tzinfo=datetime.UTC)
    cert = DtlsCertificate.generate(random.Random(1), not_before=when, days=0).certificate
    assert cert.not_valid_before_utc == cert.not_valid_after_utc == when


@pytest.mark.parametrize("algorithm", ["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"])
def test_fingerprint_round_trip(algorithm: str) -> None:
    cert = DtlsCertificate.generate(random.Random(2), not_before=NOT_BEFORE)
    fp = cert.fingerprint(algorithm)
    # RFC 8122 §5: the hash as upper-case hex pairs separated by colons
    digest = hashlib.new(algorithm.replace("-", ""), cert.der).digest()
    assert fp.value == ":".join(f"{b:02X}" for b in digest)
    parsed = Fingerprint.parse(str(fp).lower())
    assert parsed == fp and parsed.matches(cert.der)
    assert not parsed.matches(cert.der + b"x")


@pytest.mark.parametrize(
    "text",
    ["", "sha-256", "md5 AA:BB", "sha-256 ZZ", "sha-256 AA:BB", "sha-256 AA BB CC"],
)
def test_bad_fingerprints(text: str) -> None:
    with pytest.raises(DtlsDecodeError):
        Fingerprint.parse(text)


def test_verify_rsa_pkcs1_pss_ecdsa_and_ed25519() -> None:
    data = b"signed data"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_cert = self_signed(rsa_key)
    pkcs1 = rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    verify_signature(rsa_cert, SignatureScheme.RSA_PKCS1_SHA256, pkcs1, data)
    pss = rsa_key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    verify_signature(rsa_cert, SignatureScheme.RSA_PSS_RSAE_SHA256, pss, data)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    sig = ec_key.sign(data, ec.ECDSA(hashes.SHA384()))
    verify_signature(self_signed(ec_key), SignatureScheme.ECDSA_SECP384R1_SHA384, sig, data)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    verify_signature(self_signed(ed_key), SignatureScheme.ED25519, ed_key.sign(data), data)
    with pytest.raises(DtlsHandshakeError):
        verify_signature(rsa_cert, SignatureScheme.RSA_PKCS1_SHA256, pkcs1, data + b"!")
    with pytest.raises(DtlsHandshakeError):
        verify_signature(rsa_cert, SignatureScheme.ECDSA_SECP256R1_SHA256, pkcs1, data)


def test_our_signatures_verify() -> None:
    cert = DtlsCertificate.generate(random.Random(3), not_before=NOT_BEFORE)
    scheme = cert.choose_scheme([0x0804, 0x0403])
    assert scheme == SignatureScheme.ECDSA_SECP256R1_SHA256
    verify_signature(cert.certificate, scheme, cert.sign(scheme, b"abc"), b"abc")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_cert = DtlsCertificate(self_signed(rsa_key), rsa_key)
    for offered, expected in (([0x0401], 0x0401), ([0x0804, 0x0401], 0x0804)):
        scheme = rsa_cert.choose_scheme(offered)
        assert scheme == expected
        verify_signature(rsa_cert.certificate, scheme, rsa_cert.sign(scheme, b"abc"), b"abc")


def test_the_peer_key_is_decoded_once_and_verifies_like_the_certificate() -> None:
    """load_peer_certificate hands back the key it decoded; verify_signature takes it in
    place of the certificate (the handshake checks CertificateVerify with it)."""
    cert = DtlsCertificate.generate(random.Random(4), not_before=NOT_BEFORE)
    parsed, key = load_peer_certificate(cert.der)
    assert parsed == cert.certificate and key == cert.certificate.public_key()
    scheme = SignatureScheme.ECDSA_SECP256R1_SHA256
    signature = cert.sign(scheme, b"abc")
    verify_signature(key, scheme, signature, b"abc")
    with pytest.raises(DtlsHandshakeError):
        verify_signature(key, scheme, signature, b"abd")


def test_a_fingerprint_is_only_the_same_as_itself() -> None:
    """``same_as`` compares algorithm and value (RFC 8122 §5, case-insensitive hex): the
    handshake's one hash of the peer certificate is accepted only by the fingerprint
    that names it, never by another certificate's or another algorithm's."""
    cert = DtlsCertificate.generate(random.Random(2), not_before=NOT_BEFORE)
    other = DtlsCertificate.generate(random.Random(3), not_before=NOT_BEFORE)
    own = cert.fingerprint()
    assert Fingerprint.parse(str(own).lower()).same_as(own)
    assert not other.fingerprint().same_as(own)
    assert not cert.fingerprint("sha-1").same_as(own)
    assert not Fingerprint("sha-512", own.value).same_as(own)
