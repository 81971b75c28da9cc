"""Wire codepoints and protocol constants of DTLS 1.2 (RFC 6347) as WebRTC uses it.

Every codepoint is an :class:`enum.IntEnum` so traces print names. Values come from the IANA
TLS registries; the RFC that defines each group of values is named on the class.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DTLS1_0_VERSION",
    "DTLS1_2_VERSION",
    "DTLS1_3_VERSION",
    "AlertDescription",
    "AlertLevel",
    "CipherSuite",
    "CipherSuite13",
    "ContentType",
    "DtlsVersion",
    "ExtensionType",
    "HandshakeType",
    "NamedGroup",
    "SignatureScheme",
]

#: ProtocolVersion values on the wire (RFC 6347 §4.1: the one's complement of 1.x).
DTLS1_0_VERSION = 0xFEFF
DTLS1_2_VERSION = 0xFEFD
#: DTLS 1.3 (RFC 9147 §5.3): appears only inside supported_versions, which a 1.2 server ignores.
DTLS1_3_VERSION = 0xFEFC


class DtlsVersion(IntEnum):
    """The DTLS versions a connection may negotiate (RFC 6347, RFC 9147 §5.3)."""

    DTLS_1_2 = 0xFEFD
    DTLS_1_3 = 0xFEFC

    @property
    def label(self) -> str:
        return "DTLS 1.3" if self == DtlsVersion.DTLS_1_3 else "DTLS 1.2"

    @property
    def record_overhead(self) -> int:
        """The most bytes one of our application data records adds to its payload with
        the AEAD suites we offer (AES-GCM, ChaCha20-Poly1305: a 16-byte tag): DTLS 1.2,
        13 (header) + 8 (AES-GCM explicit nonce, RFC 5288 §3) + 16; DTLS 1.3, 5 (the
        unified header with a 16-bit sequence number and the length, RFC 9147 §4) + 1
        (the inner content type, RFC 8446 §5.2) + 16."""
        return 22 if self == DtlsVersion.DTLS_1_3 else 37

    @classmethod
    def parse(cls, text: str) -> DtlsVersion:
        """``"1.2"``, ``"1.3"``, ``"DTLS 1.3"`` or the hex codepoint (``"FEFC"``)."""
        key = text.strip().upper().removeprefix("DTLS").strip().removeprefix("V")
        table = {
            "1.2": cls.DTLS_1_2,
            "1.3": cls.DTLS_1_3,
            "FEFD": cls.DTLS_1_2,
            "FEFC": cls.DTLS_1_3,
        }
        if key not in table:
            raise ValueError(f"unknown DTLS version {text!r}")
        return table[key]


class ContentType(IntEnum):
    """Record content types (RFC 5246 §6.2.1; DTLS 1.2 uses the same registry)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23


class HandshakeType(IntEnum):
    """Handshake message types (RFC 5246 §7.4, RFC 6347 §4.2.2 adds hello_verify_request)."""

    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20


class AlertLevel(IntEnum):
    """RFC 5246 §7.2."""

    WARNING = 1
    FATAL = 2


class AlertDescription(IntEnum):
    """RFC 5246 §7.2 (plus RFC 8446 §6 certificate_required, used by OpenSSL in 1.2 too)."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110
    UNRECOGNIZED_NAME = 112
    CERTIFICATE_REQUIRED = 116
    NO_APPLICATION_PROTOCOL = 120


class CipherSuite(IntEnum):
    """The suites this implementation negotiates (RFC 5289 AES-GCM, RFC 7905 ChaCha20)."""

    ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8
    ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9

    @property
    def iana_name(self) -> str:
        """The IANA name, e.g. ``TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256``."""
        return "TLS_" + self.name


class CipherSuite13(IntEnum):
    """TLS 1.3 cipher suites (RFC 8446 §B.4), negotiated only by DTLS 1.3 (see
    :mod:`.keyschedule`); no key exchange or authentication in the name any more."""

    AES_128_GCM_SHA256 = 0x1301
    AES_256_GCM_SHA384 = 0x1302
    CHACHA20_POLY1305_SHA256 = 0x1303

    @property
    def iana_name(self) -> str:
        return "TLS_" + self.name


#: Signalling cipher suite value for secure renegotiation (RFC 5746 §3.3).
EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF


class ExtensionType(IntEnum):
    """Hello extensions we read or write (IANA registry; RFCs on each line)."""

    SERVER_NAME = 0  # RFC 6066
    SUPPORTED_GROUPS = 10  # RFC 8422 §5.1.1
    EC_POINT_FORMATS = 11  # RFC 8422 §5.1.2
    SIGNATURE_ALGORITHMS = 13  # RFC 5246 §7.4.1.4.1
    USE_SRTP = 14  # RFC 5764 §4.1.1
    ALPN = 16  # RFC 7301
    ENCRYPT_THEN_MAC = 22  # RFC 7366 (irrelevant for AEAD suites; never echoed)
    EXTENDED_MASTER_SECRET = 23  # RFC 7627
    RECORD_SIZE_LIMIT = 28  # RFC 8449
    SESSION_TICKET = 35  # RFC 5077 (never echoed: no tickets)
    SUPPORTED_VERSIONS = 43  # RFC 8446 §4.2.1 (a DTLS 1.3 hint, ignored by a 1.2 server)
    KEY_SHARE = 51  # RFC 8446 §4.2.8 (DTLS 1.3 only, ignored)
    RENEGOTIATION_INFO = 0xFF01  # RFC 5746


class NamedGroup(IntEnum):
    """ECDHE groups (RFC 8422 §5.1.1, RFC 7748)."""

    SECP256R1 = 23
    SECP384R1 = 24
    X25519 = 29


class SignatureScheme(IntEnum):
    """SignatureAndHashAlgorithm values (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3 for PSS)."""

    RSA_PKCS1_SHA1 = 0x0201
    ECDSA_SHA1 = 0x0203
    RSA_PKCS1_SHA256 = 0x0401
    ECDSA_SECP256R1_SHA256 = 0x0403
    RSA_PKCS1_SHA384 = 0x0501
    ECDSA_SECP384R1_SHA384 = 0x0503
    RSA_PKCS1_SHA512 = 0x0601
    ECDSA_SECP521R1_SHA512 = 0x0603
    RSA_PSS_RSAE_SHA256 = 0x0804
    RSA_PSS_RSAE_SHA384 = 0x0805
    RSA_PSS_RSAE_SHA512 = 0x0806
    ED25519 = 0x0807
    RSA_PSS_PSS_SHA256 = 0x0809
    RSA_PSS_PSS_SHA384 = 0x080A
    RSA_PSS_PSS_SHA512 = 0x080B


#: ClientCertificateType values for CertificateRequest (RFC 5246 §7.4.4, RFC 8422 §5.5).
CLIENT_CERT_TYPE_RSA_SIGN = 1
CLIENT_CERT_TYPE_ECDSA_SIGN = 64

#: ECCurveType named_curve in ServerKeyExchange (RFC 8422 §5.4).
EC_CURVE_TYPE_NAMED_CURVE = 3
