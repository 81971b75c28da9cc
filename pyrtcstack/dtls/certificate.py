"""Certificates, fingerprints and handshake signatures.

WebRTC endpoints authenticate with self-signed certificates whose hash travels in the SDP
(``a=fingerprint:sha-256 AB:CD:...``, RFC 8122 §5); no chain is validated and validity dates
are ignored (RFC 8827 §6.5). This module:

* generates an ECDSA P-256 self-signed certificate (the WebRTC default) from an injected rng,
  or loads a user-supplied PEM certificate and key (ECDSA or RSA);
* computes and checks fingerprints with sha-1/224/256/384/512;
* signs with our key (ECDSA P-256/SHA-256, or RSA-PKCS1 for an RSA key) and verifies the
  peer's ECDSA, RSA-PKCS1, RSA-PSS and Ed25519 signatures (RFC 5246 §7.4.1.4.1, RFC 8446
  §4.2.3 for the PSS and EdDSA codepoints).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import random
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ..common.core import default_rng
from .constants import AlertDescription, SignatureScheme
from .errors import DtlsDecodeError, DtlsHandshakeError

__all__ = [
    "FINGERPRINT_ALGORITHMS",
    "DtlsCertificate",
    "Fingerprint",
    "load_peer_certificate",
    "verify_signature",
]

#: Hash names allowed in ``a=fingerprint`` (RFC 8122 §5, IANA "Hash Function Textual Names").
FINGERPRINT_ALGORITHMS = {
    "sha-1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
}

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A certificate fingerprint as written in SDP: ``algorithm`` ("sha-256") and ``value``
    (upper-case hex pairs joined by colons)."""

    algorithm: str
    value: str

    @classmethod
    def parse(cls, text: str | Fingerprint) -> Fingerprint:
        """Parse ``"sha-256 AB:CD:..."`` (the ``a=fingerprint`` value); hex case-insensitive.

        A :class:`Fingerprint` (what ``DtlsCertificate.fingerprint()`` returns) is accepted
        too and comes back normalised, so ``Fingerprint.parse(cert.fingerprint())`` and
        ``Fingerprint.parse(str(cert.fingerprint()))`` are equal. Anything else is a
        :class:`DtlsDecodeError`."""
        if isinstance(text, Fingerprint):
            text = str(text)
        if not isinstance(text, str):
            raise DtlsDecodeError(
                f"a fingerprint is a str like 'sha-256 AB:CD:...', not {type(text).__name__}"
            )
        parts = text.strip().split()
        if len(parts) != 2:
            raise DtlsDecodeError("fingerprint must be '<hash> <hex:hex:...>'")
        algorithm = parts[0].lower()
        if algorithm not in FINGERPRINT_ALGORITHMS:
            raise DtlsDecodeError(f"unknown fingerprint hash {parts[0]!r}")
        try:
            raw = bytes.fromhex(parts[1].replace(":", ""))
        except ValueError:
            raise DtlsDecodeError("fingerprint value is not hex") from None
        expected = hashlib.new(FINGERPRINT_ALGORITHMS[algorithm]).digest_size
        if len(raw) != expected:
            raise DtlsDecodeError(f"{algorithm} fingerprint must be {expected} bytes")
        return cls(algorithm, _colon_hex(raw))

    @classmethod
    def of(cls, der: bytes, algorithm: str = "sha-256") -> Fingerprint:
        """The fingerprint of a DER certificate."""
        digest = hashlib.new(FINGERPRINT_ALGORITHMS[algorithm], der).digest()
        return cls(algorithm, _colon_hex(digest))

    def matches(self, der: bytes) -> bool:
        """True if ``der`` hashes to this fingerprint (constant-time comparison)."""
        return self.same_as(Fingerprint.of(der, self.algorithm))

    def same_as(self, other: Fingerprint) -> bool:
        """True if ``other`` is this fingerprint: the same algorithm and value (the value
        compared in constant time, case-insensitively as RFC 8122 §5's hex allows). The
        handshake hashes the peer's certificate once and compares that fingerprint with
        each one the SDP named in the same algorithm."""
        return other.algorithm == self.algorithm and hmac.compare_digest(
            other.value.upper(), self.value.upper()
        )

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


def _colon_hex(raw: bytes) -> str:
    """RFC 8122 §5: upper-case hex pairs joined by colons (``bytes.hex`` does it in C:
    a setup makes ~8 fingerprints, and the generator took 2 % of its CPU)."""
    return raw.hex(":").upper()


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class DtlsCertificate:
    """Our certificate and its private key.

    Only the DER is kept: the handshake sends it and fingerprints hash it. The parsed
    :attr:`certificate` is made again from it when asked for (a parsed X.509 object holds
    ~2.5 KiB of OpenSSL memory, and every peer connection has a certificate)."""

    __slots__ = ("der", "private_key")

    def __init__(self, certificate: x509.Certificate, private_key: PrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError("only ECDSA and RSA keys are supported")
        self.private_key = private_key
        self.der = certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate, parsed from :attr:`der` (a new object at each access)."""
        return x509.load_der_x509_certificate(self.der)

    @property
    def is_ecdsa(self) -> bool:
        return isinstance(self.private_key, ec.EllipticCurvePrivateKey)

    def fingerprint(self, algorithm: str = "sha-256") -> Fingerprint:
        return Fingerprint.of(self.der, algorithm)

    @classmethod
    def generate(
        cls,
        rng: random.Random | None = None,
        common_name: str = "pyrtcstack",
        not_before: datetime.datetime | None = None,
        days: int = 30,
    ) -> DtlsCertificate:
        """A self-signed ECDSA P-256 certificate, the WebRTC default (RFC 8827 §6.5).

        The key and serial come from ``rng`` and the signature is deterministic (RFC 6979),
        so a seeded rng and a fixed ``not_before`` give the same certificate every time."""
        rng = default_rng(rng)
        if not 1 <= len(common_name) <= 64:  # X.520 ub-common-name (RFC 5280 App. A.1)
            raise ValueError("the common name must be 1 to 64 characters")
        key = ec.derive_private_key(_scalar(rng, _P256_ORDER), _P256)
        start = not_before or datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        # RFC 5280 §4.1.2.5: notAfter not before notBefore; UTCTime starts in 1950 (as
        # cryptography's CertificateBuilder, which refused both)
        if days < 0:
            raise ValueError("days must not be negative")
        try:  # (in UTC, as they are written: a naive datetime is UTC)
            end = start + datetime.timedelta(days=days)
            if start.tzinfo is not None:
                start, end = start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)
        except OverflowError:
            raise ValueError("the validity ends after the year 9999") from None
        if start.year < 1950:
            raise ValueError("not_before must be in 1950 or later")
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tbs = _tbs_certificate(
            rng.getrandbits(63) + 1,
            common_name,
            start,
            end,
            spki,
        )
        signature = key.sign(tbs, _ECDSA_DETERMINISTIC)
        # RFC 5280 §4.1.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
        # signatureValue BIT STRING } (no unused bits)
        der = _der(0x30, tbs + _ECDSA_WITH_SHA256 + _der(0x03, b"\0" + signature))
        cert = cls.__new__(cls)
        cert.private_key = key
        cert.der = der
        return cert

    @classmethod
    def load_pem(cls, cert_pem: bytes, key_pem: bytes) -> DtlsCertificate:
        """A user-supplied certificate and unencrypted private key, PEM-encoded."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError("only ECDSA and RSA keys are supported")
        return cls(cert, key)

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def signature_schemes(self) -> tuple[SignatureScheme, ...]:
        """The schemes we can sign with, best first."""
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            size = self.private_key.curve.key_size
            if size == 384:
                return (SignatureScheme.ECDSA_SECP384R1_SHA384,)
            return (SignatureScheme.ECDSA_SECP256R1_SHA256,)
        return (SignatureScheme.RSA_PSS_RSAE_SHA256, SignatureScheme.RSA_PKCS1_SHA256)

    def choose_scheme(self, offered: list[int] | tuple[int, ...] | None) -> SignatureScheme:
        """Pick the scheme to sign with among the peer's offer (RFC 5246 §7.4.1.4.1)."""
        ours = self.signature_schemes()
        if offered:
            for scheme in ours:
                if scheme in offered:
                    return scheme
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return SignatureScheme.RSA_PKCS1_SHA256
        return ours[0]

    def sign(self, scheme: SignatureScheme, data: bytes) -> bytes:
        key = self.private_key
        hash_cls = _scheme_hash(scheme)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_cls(), deterministic_signing=True))
        if scheme in _PSS_SCHEMES:
            return key.sign(
                data, padding.PSS(padding.MGF1(hash_cls()), padding.PSS.DIGEST_LENGTH), hash_cls()
            )
        return key.sign(data, padding.PKCS1v15(), hash_cls())


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# ---- our certificate's DER (RFC 5280 §4.1), written here: the same bytes as
# cryptography's CertificateBuilder for this one shape (tests/test_dtls_certificate.py
# checks it), without its Python builder and checks (~0.35 M instructions a certificate,
# two a peer connection setup)
_P256 = ec.SECP256R1()
_ECDSA_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
#: AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters (RFC 5758 §3.2)
_ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
#: [0] EXPLICIT Version v3 (2): RFC 5280 §4.1.2.1
_VERSION_3 = bytes.fromhex("a003020102")
#: AttributeType id-at-commonName (2.5.4.3)
_COMMON_NAME_OID = bytes.fromhex("0603550403")


def _der(tag: int, body: bytes) -> bytes:
    """One DER TLV (X.690 §8.1.3: the short length form below 128, else the long form)."""
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    if n < 0x100:
        return bytes((tag, 0x81, n)) + body
    return bytes((tag, 0x82, n >> 8, n & 0xFF)) + body  # (a certificate here is < 1 KiB)


def _der_time(when: datetime.datetime) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, to the second;
    ``when`` is in UTC already (``generate`` converts an aware one; a naive one is UTC,
    as cryptography takes it)."""
    if 1950 <= when.year < 2050:
        return _der(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return _der(0x18, f"{when.year:04d}{when.strftime('%m%d%H%M%S')}Z".encode())


def _tbs_certificate(
    serial: int,
    common_name: str,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    spki: bytes,
) -> bytes:
    """TBSCertificate (RFC 5280 §4.1.2) of a self-signed certificate: v3, the serial, the
    signature algorithm, issuer = subject = CN=``common_name`` (UTF8String), the validity,
    the key; no extensions (RFC 8827 §6.5 asks nothing of them)."""
    cn = _der(0x0C, common_name.encode())
    name = _der(0x30, _der(0x31, _der(0x30, _COMMON_NAME_OID + cn)))
    serial_der = _der(0x02, serial.to_bytes((serial.bit_length() + 8) // 8, "big"))
    validity = _der(0x30, _der_time(not_before) + _der_time(not_after))
    return _der(0x30, _VERSION_3 + serial_der + _ECDSA_WITH_SHA256 + name + validity + name + spki)


def _scalar(rng: random.Random, order: int) -> int:
    """A uniformly random private scalar in [1, order) drawn from ``rng``."""
    while True:
        value = rng.getrandbits(order.bit_length())
        if 1 <= value < order:
            return value


_PSS_SCHEMES = frozenset(
    {
        SignatureScheme.RSA_PSS_RSAE_SHA256,
        SignatureScheme.RSA_PSS_RSAE_SHA384,
        SignatureScheme.RSA_PSS_RSAE_SHA512,
        SignatureScheme.RSA_PSS_PSS_SHA256,
        SignatureScheme.RSA_PSS_PSS_SHA384,
        SignatureScheme.RSA_PSS_PSS_SHA512,
    }
)
_ECDSA_SCHEMES = frozenset(
    {
        SignatureScheme.ECDSA_SECP256R1_SHA256,
        SignatureScheme.ECDSA_SECP384R1_SHA384,
        SignatureScheme.ECDSA_SECP521R1_SHA512,
        SignatureScheme.ECDSA_SHA1,
    }
)
_PKCS1_SCHEMES = frozenset(
    {
        SignatureScheme.RSA_PKCS1_SHA256,
        SignatureScheme.RSA_PKCS1_SHA384,
        SignatureScheme.RSA_PKCS1_SHA512,
        SignatureScheme.RSA_PKCS1_SHA1,
    }
)

#: Schemes we accept from peers, in the order we advertise them.
VERIFY_SCHEMES: tuple[SignatureScheme, ...] = (
    SignatureScheme.ECDSA_SECP256R1_SHA256,
    SignatureScheme.RSA_PSS_RSAE_SHA256,
    SignatureScheme.RSA_PKCS1_SHA256,
    SignatureScheme.ECDSA_SECP384R1_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA384,
    SignatureScheme.RSA_PKCS1_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA512,
    SignatureScheme.RSA_PKCS1_SHA512,
    SignatureScheme.ED25519,
)


_SCHEME_HASH: dict[int, type[hashes.HashAlgorithm]] = {
    SignatureScheme.RSA_PKCS1_SHA1: hashes.SHA1,
    SignatureScheme.ECDSA_SHA1: hashes.SHA1,
    SignatureScheme.RSA_PKCS1_SHA256: hashes.SHA256,
    SignatureScheme.ECDSA_SECP256R1_SHA256: hashes.SHA256,
    SignatureScheme.RSA_PKCS1_SHA384: hashes.SHA384,
    SignatureScheme.ECDSA_SECP384R1_SHA384: hashes.SHA384,
    SignatureScheme.RSA_PKCS1_SHA512: hashes.SHA512,
    SignatureScheme.ECDSA_SECP521R1_SHA512: hashes.SHA512,
    SignatureScheme.RSA_PSS_RSAE_SHA256: hashes.SHA256,
    SignatureScheme.RSA_PSS_RSAE_SHA384: hashes.SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA512: hashes.SHA512,
    SignatureScheme.RSA_PSS_PSS_SHA256: hashes.SHA256,
    SignatureScheme.RSA_PSS_PSS_SHA384: hashes.SHA384,
    SignatureScheme.RSA_PSS_PSS_SHA512: hashes.SHA512,
}


def _scheme_hash(scheme: int) -> type[hashes.HashAlgorithm]:
    return _SCHEME_HASH.get(scheme, hashes.SHA256)


def load_peer_certificate(der: bytes) -> tuple[x509.Certificate, CertificatePublicKeyTypes]:
    """Decode the peer's end-entity certificate and its public key (decoded here, so a bad
    key fails now and not in a signature check); a bad one is a ``bad_certificate`` alert.
    The handshake keeps the key for the signature check: decoding it again cost a P-256
    point check (~80,000 instructions) a handshake."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        key = certificate.public_key()
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm):
        raise DtlsHandshakeError(
            "peer certificate is not valid DER", AlertDescription.BAD_CERTIFICATE
        ) from None
    return certificate, key


def verify_signature(
    certificate: x509.Certificate | CertificatePublicKeyTypes,
    scheme: int,
    signature: bytes,
    data: bytes,
) -> None:
    """Verify a ServerKeyExchange or CertificateVerify signature with the peer's certificate
    or its public key (what :func:`load_peer_certificate` returned); raise
    :class:`DtlsHandshakeError` (``decrypt_error``, RFC 5246 §7.4.8) when it does not hold."""
    try:
        key = certificate.public_key() if isinstance(certificate, x509.Certificate) else certificate
    except (ValueError, UnsupportedAlgorithm):
        raise DtlsHandshakeError(
            "unsupported peer public key", AlertDescription.UNSUPPORTED_CERTIFICATE
        ) from None
    try:
        if scheme in _ECDSA_SCHEMES and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_scheme_hash(scheme)()))
        elif scheme in _PKCS1_SCHEMES and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _scheme_hash(scheme)())
        elif scheme in _PSS_SCHEMES and isinstance(key, rsa.RSAPublicKey):
            h = _scheme_hash(scheme)
            key.verify(signature, data, padding.PSS(padding.MGF1(h()), padding.PSS.AUTO), h())
        elif scheme == SignatureScheme.ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise DtlsHandshakeError(
                f"signature scheme 0x{scheme:04x} does not fit the peer's key",
                AlertDescription.ILLEGAL_PARAMETER,
            )
    except InvalidSignature:
        raise DtlsHandshakeError(
            "peer signature does not verify", AlertDescription.DECRYPT_ERROR
        ) from None
