"""Handshake message bodies of DTLS 1.2 and their codecs (RFC 5246 §7.4, RFC 6347 §4.2).

Each message is a frozen dataclass with ``encode() -> bytes`` (the body, without the 12-byte
DTLS handshake header, see :mod:`.fragments`) and a ``decode(body)`` classmethod that raises
only :class:`~pyrtcstack.dtls.errors.DtlsDecodeError`. Hello extensions are kept as an
ordered list of ``(type, data)`` pairs so unknown ones (DTLS 1.3 key shares, ML-KEM groups,
whatever browsers add next) pass through untouched and their order never matters; the few we
understand are decoded by the ``*_ext`` helpers at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.buffer import BufferReadError, Reader, Writer
from .constants import EC_CURVE_TYPE_NAMED_CURVE, ExtensionType
from .errors import DtlsDecodeError

__all__ = [
    "Certificate",
    "CertificateRequest",
    "CertificateVerify",
    "ClientHello",
    "ClientKeyExchange",
    "Extensions",
    "Finished",
    "HelloVerifyRequest",
    "ServerHello",
    "ServerHelloDone",
    "ServerKeyExchange",
    "decode_u16_list",
    "decode_use_srtp",
    "encode_extensions",
    "encode_u16_list",
    "encode_use_srtp",
]

#: A hello's extensions in wire order: ``(extension_type, extension_data)``.
Extensions = list[tuple[int, bytes]]

#: Largest cookie a HelloVerifyRequest may carry (RFC 6347 §4.2.1: opaque<0..2^8-1>).
MAX_COOKIE_LENGTH = 255
#: Largest certificate chain we accept, in certificates.
MAX_CERTIFICATES = 16


def _wrap(exc: BufferReadError, what: str) -> DtlsDecodeError:
    return DtlsDecodeError(f"malformed {what}: {exc}")


def read_extensions_block(r: Reader) -> Extensions:
    """A present ``Extension extensions<0..2^16-1>`` block: (u16 type, vector<2> data)
    pairs, at most one of each type (RFC 5246 §7.4.1.4, RFC 8446 §4.2)."""
    block = r.sub_vector(2)
    out: Extensions = []
    seen: set[int] = set()
    while not block.eof():
        ext_type = block.u16()
        data = block.vector(2)
        if ext_type in seen:
            raise DtlsDecodeError(f"duplicate extension {ext_type}")
        seen.add(ext_type)
        out.append((ext_type, data))
    return out


def encode_extensions(w: Writer, extensions: Extensions) -> None:
    """Write the extensions block (present even when empty, as TLS 1.3 requires)."""
    with w.length_prefixed(2):
        for ext_type, data in extensions:
            w.u16(ext_type)
            w.vector(2, data)


def _read_extensions(r: Reader) -> Extensions:
    """TLS 1.2's optional block (RFC 5246 §7.4.1.4): absent entirely, or present."""
    return [] if r.eof() else read_extensions_block(r)


def _write_extensions(w: Writer, extensions: Extensions) -> None:
    if extensions:  # TLS 1.2: no extensions, no block
        encode_extensions(w, extensions)


def find_extension(extensions: Extensions, ext_type: int) -> bytes | None:
    for t, data in extensions:
        if t == ext_type:
            return data
    return None


@dataclass(frozen=True, slots=True)
class ClientHello:
    """RFC 6347 §4.2.1 (TLS 1.2's ClientHello plus the ``cookie``)."""

    client_version: int
    random: bytes
    session_id: bytes = b""
    cookie: bytes = b""
    cipher_suites: tuple[int, ...] = ()
    compression_methods: bytes = b"\x00"
    extensions: Extensions = field(default_factory=list)

    def encode(self) -> bytes:
        w = Writer()
        w.u16(self.client_version)
        w.write(self.random)
        w.vector(1, self.session_id)
        w.vector(1, self.cookie)
        w.vector(2, b"".join(s.to_bytes(2, "big") for s in self.cipher_suites))
        w.vector(1, self.compression_methods)
        _write_extensions(w, self.extensions)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> ClientHello:
        try:
            r = Reader(body)
            version = r.u16()
            random = r.take(32)
            session_id = r.vector(1)
            cookie = r.vector(1)
            suites_raw = r.vector(2)
            if len(suites_raw) % 2 or not suites_raw:
                raise DtlsDecodeError("cipher_suites length must be even and non-zero")
            suites = tuple(
                int.from_bytes(suites_raw[i : i + 2], "big") for i in range(0, len(suites_raw), 2)
            )
            compression = r.vector(1)
            if not compression:
                raise DtlsDecodeError("no compression method")
            extensions = _read_extensions(r)
            r.expect_end("ClientHello")
        except BufferReadError as exc:
            raise _wrap(exc, "ClientHello") from None
        if len(session_id) > 32:
            raise DtlsDecodeError("session_id longer than 32 bytes")
        return cls(version, random, session_id, cookie, suites, compression, extensions)

    def extension(self, ext_type: int) -> bytes | None:
        return find_extension(self.extensions, ext_type)


@dataclass(frozen=True, slots=True)
class ServerHello:
    """RFC 5246 §7.4.1.3."""

    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int = 0
    extensions: Extensions = field(default_factory=list)

    def encode(self) -> bytes:
        w = Writer()
        w.u16(self.server_version)
        w.write(self.random)
        w.vector(1, self.session_id)
        w.u16(self.cipher_suite)
        w.u8(self.compression_method)
        _write_extensions(w, self.extensions)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> ServerHello:
        try:
            r = Reader(body)
            version = r.u16()
            random = r.take(32)
            session_id = r.vector(1)
            suite = r.u16()
            compression = r.u8()
            extensions = _read_extensions(r)
            r.expect_end("ServerHello")
        except BufferReadError as exc:
            raise _wrap(exc, "ServerHello") from None
        return cls(version, random, session_id, suite, compression, extensions)

    def extension(self, ext_type: int) -> bytes | None:
        return find_extension(self.extensions, ext_type)


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest:
    """RFC 6347 §4.2.1: the stateless cookie exchange."""

    server_version: int
    cookie: bytes

    def encode(self) -> bytes:
        w = Writer()
        w.u16(self.server_version)
        w.vector(1, self.cookie)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> HelloVerifyRequest:
        try:
            r = Reader(body)
            version = r.u16()
            cookie = r.vector(1)
            r.expect_end("HelloVerifyRequest")
        except BufferReadError as exc:
            raise _wrap(exc, "HelloVerifyRequest") from None
        return cls(version, cookie)


@dataclass(frozen=True, slots=True)
class Certificate:
    """RFC 5246 §7.4.2: DER certificates, the end-entity first."""

    certificates: tuple[bytes, ...]

    def encode(self) -> bytes:
        w = Writer()
        with w.length_prefixed(3):
            for der in self.certificates:
                w.vector(3, der)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> Certificate:
        try:
            r = Reader(body)
            block = r.sub_vector(3)
            certs: list[bytes] = []
            while not block.eof():
                der = block.vector(3)
                if not der:
                    raise DtlsDecodeError("empty certificate in chain")
                certs.append(der)
                if len(certs) > MAX_CERTIFICATES:
                    raise DtlsDecodeError("certificate chain too long")
            r.expect_end("Certificate")
        except BufferReadError as exc:
            raise _wrap(exc, "Certificate") from None
        return cls(tuple(certs))


@dataclass(frozen=True, slots=True)
class ServerKeyExchange:
    """RFC 8422 §5.4: ECDHE parameters signed by the server's certificate key."""

    named_curve: int
    public_key: bytes
    signature_scheme: int
    signature: bytes

    def params(self) -> bytes:
        """``ServerECDHParams``: the part covered by the signature (with both randoms)."""
        return (
            bytes([EC_CURVE_TYPE_NAMED_CURVE])
            + self.named_curve.to_bytes(2, "big")
            + bytes([len(self.public_key)])
            + self.public_key
        )

    def encode(self) -> bytes:
        w = Writer()
        w.write(self.params())
        w.u16(self.signature_scheme)
        w.vector(2, self.signature)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> ServerKeyExchange:
        try:
            r = Reader(body)
            if r.u8() != EC_CURVE_TYPE_NAMED_CURVE:
                raise DtlsDecodeError("only named_curve ECDHE parameters are supported")
            curve = r.u16()
            point = r.vector(1)
            if not point:
                raise DtlsDecodeError("empty ECDHE public key")
            scheme = r.u16()
            signature = r.vector(2)
            r.expect_end("ServerKeyExchange")
        except BufferReadError as exc:
            raise _wrap(exc, "ServerKeyExchange") from None
        return cls(curve, point, scheme, signature)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """RFC 5246 §7.4.4."""

    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    authorities: bytes = b""

    def encode(self) -> bytes:
        w = Writer()
        w.vector(1, self.certificate_types)
        w.vector(2, encode_u16_list(self.signature_schemes)[2:])
        w.vector(2, self.authorities)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> CertificateRequest:
        try:
            r = Reader(body)
            types = r.vector(1)
            raw = r.vector(2)
            if len(raw) % 2:
                raise DtlsDecodeError("odd-length signature algorithm list")
            schemes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
            authorities = r.vector(2)
            r.expect_end("CertificateRequest")
        except BufferReadError as exc:
            raise _wrap(exc, "CertificateRequest") from None
        return cls(types, tuple(schemes), authorities)


@dataclass(frozen=True, slots=True)
class ServerHelloDone:
    """RFC 5246 §7.4.5: an empty body."""

    def encode(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, body: bytes) -> ServerHelloDone:
        if body:
            raise DtlsDecodeError("ServerHelloDone must be empty")
        return cls()


@dataclass(frozen=True, slots=True)
class ClientKeyExchange:
    """RFC 8422 §5.7: the client's ECDHE public value."""

    public_key: bytes

    def encode(self) -> bytes:
        return bytes([len(self.public_key)]) + self.public_key

    @classmethod
    def decode(cls, body: bytes) -> ClientKeyExchange:
        try:
            r = Reader(body)
            point = r.vector(1)
            r.expect_end("ClientKeyExchange")
        except BufferReadError as exc:
            raise _wrap(exc, "ClientKeyExchange") from None
        if not point:
            raise DtlsDecodeError("empty ECDHE public key")
        return cls(point)


@dataclass(frozen=True, slots=True)
class CertificateVerify:
    """RFC 5246 §7.4.8: a signature over every handshake message before it."""

    signature_scheme: int
    signature: bytes

    def encode(self) -> bytes:
        return (
            self.signature_scheme.to_bytes(2, "big")
            + len(self.signature).to_bytes(2, "big")
            + self.signature
        )

    @classmethod
    def decode(cls, body: bytes) -> CertificateVerify:
        try:
            r = Reader(body)
            scheme = r.u16()
            signature = r.vector(2)
            r.expect_end("CertificateVerify")
        except BufferReadError as exc:
            raise _wrap(exc, "CertificateVerify") from None
        return cls(scheme, signature)


@dataclass(frozen=True, slots=True)
class Finished:
    """RFC 5246 §7.4.9: 12 bytes of verify_data."""

    verify_data: bytes

    def encode(self) -> bytes:
        return self.verify_data

    @classmethod
    def decode(cls, body: bytes) -> Finished:
        if len(body) != 12:
            raise DtlsDecodeError("Finished.verify_data must be 12 bytes")
        return cls(body)


# ---- extension payloads ---------------------------------------------------------------------


def encode_u16_list(values: tuple[int, ...] | list[int]) -> bytes:
    """A vector<2> of uint16 (supported_groups, signature_algorithms)."""
    w = Writer()
    w.vector(2, b"".join(v.to_bytes(2, "big") for v in values))
    return w.getvalue()


def decode_u16_list(data: bytes) -> list[int]:
    try:
        r = Reader(data)
        block = r.vector(2)
        r.expect_end("list")
    except BufferReadError as exc:
        raise _wrap(exc, "uint16 list") from None
    if len(block) % 2:
        raise DtlsDecodeError("odd-length uint16 list")
    return [int.from_bytes(block[i : i + 2], "big") for i in range(0, len(block), 2)]


def encode_use_srtp(profiles: tuple[int, ...] | list[int], mki: bytes = b"") -> bytes:
    """use_srtp extension data (RFC 5764 §4.1.1): profiles vector<2>, then srtp_mki<0..255>."""
    return encode_u16_list(profiles) + bytes([len(mki)]) + mki


def decode_use_srtp(data: bytes) -> tuple[list[int], bytes]:
    try:
        r = Reader(data)
        n = r.u16()
        if n % 2 or n == 0:
            raise DtlsDecodeError("use_srtp profile list must be even and non-empty")
        raw = r.take(n)
        mki = r.vector(1)
        r.expect_end("use_srtp")
    except BufferReadError as exc:
        raise _wrap(exc, "use_srtp") from None
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, n, 2)], mki


def decode_renegotiation_info(data: bytes) -> bytes:
    """renegotiation_info (RFC 5746 §3.2): a vector<1>; empty on an initial handshake."""
    try:
        r = Reader(data)
        value = r.vector(1)
        r.expect_end("renegotiation_info")
    except BufferReadError as exc:
        raise _wrap(exc, "renegotiation_info") from None
    return value


def decode_point_formats(data: bytes) -> bytes:
    try:
        r = Reader(data)
        value = r.vector(1)
        r.expect_end("ec_point_formats")
    except BufferReadError as exc:
        raise _wrap(exc, "ec_point_formats") from None
    return value


#: The extension types a ServerHello may carry in reply (we only echo what we understand).
ECHOABLE_EXTENSIONS = frozenset(
    {
        ExtensionType.RENEGOTIATION_INFO,
        ExtensionType.EXTENDED_MASTER_SECRET,
        ExtensionType.USE_SRTP,
        ExtensionType.EC_POINT_FORMATS,
    }
)
