"""Handshake message bodies of DTLS 1.2 and their codecs (RFC 5246 §7.4, RFC 6347 §4.2).

Each message is a frozen dataclass with ``encode() -> bytes`` (the body, without the 12-byte
DTLS handshake header, see :mod:`.fragments`) and a ``decode(body)`` classmethod that raises
only :class:`~pyrtcstack.dtls.errors.DtlsDecodeError`. Hello extensions are kept as an
ordered list of ``(type, data)`` pairs so unknown ones (DTLS 1.3 key shares, ML-KEM groups,
whatever browsers add next) pass through untouched and their order never matters; the few we
understand are decoded by the ``*_ext`` helpers at the bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar

from ..common.buffer import BufferReadError, Reader, Writer
from .constants import EC_CURVE_TYPE_NAMED_CURVE, AlertDescription, ExtensionType
from .errors import DtlsDecodeError, DtlsHandshakeError

__all__ = [
    "Certificate",
    "CertificateRequest",
    "CertificateVerify",
    "ClientHello",
    "ClientKeyExchange",
    "Codec",
    "CodecWithExtensions",
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

_T = TypeVar("_T")


def read_whole(data: bytes, what: str, read: Callable[[Reader], _T]) -> _T:
    """Decode all of ``data`` with ``read``: a body is exactly its fields (RFC 5246 §7.4,
    RFC 8446 §4), so a short one or bytes left over raise :class:`DtlsDecodeError` naming
    ``what``, as does any :class:`DtlsDecodeError` ``read`` raises itself."""
    try:
        r = Reader(data)
        value = read(r)
        r.expect_end(what)
    except BufferReadError as exc:
        raise DtlsDecodeError(f"malformed {what}: {exc}") from None
    return value


def u16_values(raw: bytes, what: str, *, empty_ok: bool = True) -> list[int]:
    """A byte string of uint16s (cipher suites, schemes, groups, versions, profiles)."""
    if len(raw) % 2 or not (raw or empty_ok):
        raise DtlsDecodeError(f"{what} length must be even" + ("" if empty_ok else " and non-zero"))
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


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


def write_certificates(w: Writer, ders: tuple[bytes, ...], *, entry_extensions: bool) -> None:
    """A certificate list (RFC 5246 §7.4.2: ``ASN.1Cert certificate_list<0..2^24-1>``);
    with ``entry_extensions`` the TLS 1.3 ``CertificateEntry`` (RFC 8446 §4.4.2), each
    DER followed by its (here empty) extensions."""
    with w.length_prefixed(3):
        for der in ders:
            w.vector(3, der)
            if entry_extensions:
                w.u16(0)  # no per-certificate extensions


def read_certificates(r: Reader, *, entry_extensions: bool) -> tuple[bytes, ...]:
    """The list :func:`write_certificates` writes, at most :data:`MAX_CERTIFICATES` long;
    per-entry extensions (OCSP, SCT) are skipped."""
    block = r.sub_vector(3)
    certs: list[bytes] = []
    while not block.eof():
        der = block.vector(3)
        if not der:
            raise DtlsDecodeError("empty certificate in chain")
        if entry_extensions:
            block.vector(2)
        certs.append(der)
        if len(certs) > MAX_CERTIFICATES:
            raise DtlsDecodeError("certificate chain too long")
    return tuple(certs)


def _non_empty(value: bytes, what: str) -> bytes:
    if not value:
        raise DtlsDecodeError(f"empty {what}")
    return value


class Codec:
    """A handshake message body (RFC 5246 §7.4, RFC 8446 §4): each message says how its
    fields are written (:meth:`write`) and read (:meth:`read`); :meth:`encode` and
    :meth:`decode` (the whole body, nothing left over) are written once, here."""

    __slots__ = ()
    #: what a decode error calls the message
    NAME: ClassVar[str]

    def write(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def read(cls, r: Reader) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The body, without the 12-byte DTLS handshake header (:mod:`.fragments`)."""
        w = Writer()
        self.write(w)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> Self:
        """Raises only :class:`DtlsDecodeError`."""
        return read_whole(body, cls.NAME, cls.read)


class CodecWithExtensions(Codec):
    """A message body with an ``extensions`` list (RFC 5246 §7.4.1.4, RFC 8446 §4.2):
    :meth:`extension` finds one by type."""

    __slots__ = ()
    extensions: Extensions

    def extension(self, ext_type: int) -> bytes | None:
        return find_extension(self.extensions, ext_type)

    def required_extension(self, ext_type: ExtensionType) -> bytes:
        """The extension the handshake needs here, else ``missing_extension`` (RFC 8446
        §4.2, §9.2)."""
        data = find_extension(self.extensions, ext_type)
        if data is None:
            raise DtlsHandshakeError(
                f"{type(self).__name__} without {ext_type.name.lower()}",
                AlertDescription.MISSING_EXTENSION,
            )
        return data


@dataclass(frozen=True, slots=True)
class ClientHello(CodecWithExtensions):
    """RFC 6347 §4.2.1 (TLS 1.2's ClientHello plus the ``cookie``)."""

    NAME: ClassVar[str] = "ClientHello"
    client_version: int
    random: bytes
    session_id: bytes = b""
    cookie: bytes = b""
    cipher_suites: tuple[int, ...] = ()
    compression_methods: bytes = b"\x00"
    extensions: Extensions = field(default_factory=list)

    def write(self, w: Writer) -> None:
        w.u16(self.client_version)
        w.write(self.random)
        w.vector(1, self.session_id)
        w.vector(1, self.cookie)
        w.vector(2, b"".join(s.to_bytes(2, "big") for s in self.cipher_suites))
        w.vector(1, self.compression_methods)
        _write_extensions(w, self.extensions)

    @classmethod
    def read(cls, r: Reader) -> ClientHello:
        version = r.u16()
        random = r.take(32)
        session_id = r.vector(1)
        if len(session_id) > 32:
            raise DtlsDecodeError("session_id longer than 32 bytes")
        cookie = r.vector(1)
        suites = tuple(u16_values(r.vector(2), "cipher_suites", empty_ok=False))
        compression = _non_empty(r.vector(1), "compression method list")
        return cls(version, random, session_id, cookie, suites, compression, _read_extensions(r))


@dataclass(frozen=True, slots=True)
class ServerHello(CodecWithExtensions):
    """RFC 5246 §7.4.1.3; in DTLS 1.3 also the HelloRetryRequest (RFC 8446 §4.1.3)."""

    NAME: ClassVar[str] = "ServerHello"
    server_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int = 0
    extensions: Extensions = field(default_factory=list)

    def write(self, w: Writer) -> None:
        w.u16(self.server_version)
        w.write(self.random)
        w.vector(1, self.session_id)
        w.u16(self.cipher_suite)
        w.u8(self.compression_method)
        _write_extensions(w, self.extensions)

    @classmethod
    def read(cls, r: Reader) -> ServerHello:
        return cls(r.u16(), r.take(32), r.vector(1), r.u16(), r.u8(), _read_extensions(r))


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest(Codec):
    """RFC 6347 §4.2.1: the stateless cookie exchange."""

    NAME: ClassVar[str] = "HelloVerifyRequest"
    server_version: int
    cookie: bytes

    def write(self, w: Writer) -> None:
        w.u16(self.server_version)
        w.vector(1, self.cookie)

    @classmethod
    def read(cls, r: Reader) -> HelloVerifyRequest:
        return cls(r.u16(), r.vector(1))


@dataclass(frozen=True, slots=True)
class Certificate(Codec):
    """RFC 5246 §7.4.2: DER certificates, the end-entity first."""

    NAME: ClassVar[str] = "Certificate"
    certificates: tuple[bytes, ...]

    def write(self, w: Writer) -> None:
        write_certificates(w, self.certificates, entry_extensions=False)

    @classmethod
    def read(cls, r: Reader) -> Certificate:
        return cls(read_certificates(r, entry_extensions=False))


@dataclass(frozen=True, slots=True)
class ServerKeyExchange(Codec):
    """RFC 8422 §5.4: ECDHE parameters signed by the server's certificate key."""

    NAME: ClassVar[str] = "ServerKeyExchange"
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

    def write(self, w: Writer) -> None:
        w.write(self.params())
        w.u16(self.signature_scheme)
        w.vector(2, self.signature)

    @classmethod
    def read(cls, r: Reader) -> ServerKeyExchange:
        if r.u8() != EC_CURVE_TYPE_NAMED_CURVE:
            raise DtlsDecodeError("only named_curve ECDHE parameters are supported")
        curve = r.u16()
        point = _non_empty(r.vector(1), "ECDHE public key")
        return cls(curve, point, r.u16(), r.vector(2))


@dataclass(frozen=True, slots=True)
class CertificateRequest(Codec):
    """RFC 5246 §7.4.4."""

    NAME: ClassVar[str] = "CertificateRequest"
    certificate_types: bytes
    signature_schemes: tuple[int, ...]
    authorities: bytes = b""

    def write(self, w: Writer) -> None:
        w.vector(1, self.certificate_types)
        w.vector(2, encode_u16_list(self.signature_schemes)[2:])
        w.vector(2, self.authorities)

    @classmethod
    def read(cls, r: Reader) -> CertificateRequest:
        types = r.vector(1)
        schemes = tuple(u16_values(r.vector(2), "signature algorithm list"))
        return cls(types, schemes, r.vector(2))


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
class ClientKeyExchange(Codec):
    """RFC 8422 §5.7: the client's ECDHE public value."""

    NAME: ClassVar[str] = "ClientKeyExchange"
    public_key: bytes

    def write(self, w: Writer) -> None:
        w.vector(1, self.public_key)

    @classmethod
    def read(cls, r: Reader) -> ClientKeyExchange:
        return cls(_non_empty(r.vector(1), "ECDHE public key"))


@dataclass(frozen=True, slots=True)
class CertificateVerify(Codec):
    """RFC 5246 §7.4.8 (and RFC 8446 §4.4.3): a signature over the handshake so far."""

    NAME: ClassVar[str] = "CertificateVerify"
    signature_scheme: int
    signature: bytes

    def write(self, w: Writer) -> None:
        w.u16(self.signature_scheme)
        w.vector(2, self.signature)

    @classmethod
    def read(cls, r: Reader) -> CertificateVerify:
        return cls(r.u16(), r.vector(2))


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
    return u16_values(read_whole(data, "uint16 list", lambda r: r.vector(2)), "uint16 list")


def encode_use_srtp(profiles: tuple[int, ...] | list[int], mki: bytes = b"") -> bytes:
    """use_srtp extension data (RFC 5764 §4.1.1): profiles vector<2>, then srtp_mki<0..255>."""
    return encode_u16_list(profiles) + bytes([len(mki)]) + mki


def decode_use_srtp(data: bytes) -> tuple[list[int], bytes]:
    profiles, mki = read_whole(data, "use_srtp", lambda r: (r.vector(2), r.vector(1)))
    return u16_values(profiles, "use_srtp profile list", empty_ok=False), mki


def decode_renegotiation_info(data: bytes) -> bytes:
    """renegotiation_info (RFC 5746 §3.2): a vector<1>; empty on an initial handshake."""
    return read_whole(data, "renegotiation_info", lambda r: r.vector(1))


def decode_point_formats(data: bytes) -> bytes:
    """ec_point_formats (RFC 8422 §5.1.2): a vector<1> of formats."""
    return read_whole(data, "ec_point_formats", lambda r: r.vector(1))


#: The extension types a ServerHello may carry in reply (we only echo what we understand).
ECHOABLE_EXTENSIONS = frozenset(
    {
        ExtensionType.RENEGOTIATION_INFO,
        ExtensionType.EXTENDED_MASTER_SECRET,
        ExtensionType.USE_SRTP,
        ExtensionType.EC_POINT_FORMATS,
    }
)
