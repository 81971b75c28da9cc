"""Handshake messages and extensions that DTLS 1.3 adds or changes (RFC 8446 §4, RFC 9147 §5).

ClientHello, ServerHello (and HelloRetryRequest, a ServerHello with a special random) and
CertificateVerify keep their DTLS 1.2 codecs from :mod:`.messages`; this module has what is
new: EncryptedExtensions, the TLS 1.3 CertificateRequest and Certificate, KeyUpdate, and
the supported_versions / key_share / cookie extension payloads. Every decoder raises only
:class:`~pyrtcstack.dtls.errors.DtlsDecodeError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from ..common.buffer import BufferReadError, Reader, Writer
from .errors import DtlsDecodeError
from .messages import (
    MAX_CERTIFICATES,
    Extensions,
    encode_extensions,
    find_extension,
    read_extensions_block,
)

__all__ = [
    "DOWNGRADE_TLS12",
    "HRR_RANDOM",
    "Certificate13",
    "CertificateRequest13",
    "EncryptedExtensions",
    "KeyShareEntry",
    "KeyUpdate",
    "decode_client_key_shares",
    "decode_cookie",
    "decode_hrr_key_share",
    "decode_server_key_share",
    "decode_supported_versions_client",
    "decode_supported_versions_server",
    "encode_client_key_shares",
    "encode_cookie",
    "encode_extensions",
    "encode_supported_versions_client",
    "read_extensions_block",
]

#: ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
HRR_RANDOM: Final = hashlib.sha256(b"HelloRetryRequest").digest()
#: Last 8 bytes of ServerHello.random when a 1.3-capable server negotiates 1.2
#: (RFC 8446 §4.1.3); ``DOWNGRD\x00`` marks 1.1 or below.
DOWNGRADE_TLS12: Final = b"DOWNGRD\x01"
DOWNGRADE_TLS11: Final = b"DOWNGRD\x00"
#: Most key shares we read from one ClientHello.
MAX_KEY_SHARES: Final = 16

# Extension codepoints new in TLS 1.3 (RFC 8446 §4.2).
EXT_COOKIE: Final = 44
EXT_PSK_KEY_EXCHANGE_MODES: Final = 45
EXT_CERTIFICATE_AUTHORITIES: Final = 47
EXT_SIGNATURE_ALGORITHMS_CERT: Final = 50


def _wrap(exc: BufferReadError, what: str) -> DtlsDecodeError:
    return DtlsDecodeError(f"malformed {what}: {exc}")


@dataclass(frozen=True, slots=True)
class EncryptedExtensions:
    """RFC 8446 §4.3.1: the extensions that are not needed to derive keys (use_srtp here)."""

    extensions: Extensions = field(default_factory=list)

    def encode(self) -> bytes:
        w = Writer()
        encode_extensions(w, self.extensions)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> EncryptedExtensions:
        try:
            r = Reader(body)
            ext = read_extensions_block(r)
            r.expect_end("EncryptedExtensions")
        except BufferReadError as exc:
            raise _wrap(exc, "EncryptedExtensions") from None
        return cls(ext)

    def extension(self, ext_type: int) -> bytes | None:
        return find_extension(self.extensions, ext_type)


@dataclass(frozen=True, slots=True)
class CertificateRequest13:
    """RFC 8446 §4.3.2: a context (empty during the handshake) and extensions, of which
    signature_algorithms is mandatory."""

    context: bytes
    extensions: Extensions

    def encode(self) -> bytes:
        w = Writer()
        w.vector(1, self.context)
        encode_extensions(w, self.extensions)
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> CertificateRequest13:
        try:
            r = Reader(body)
            context = r.vector(1)
            ext = read_extensions_block(r)
            r.expect_end("CertificateRequest")
        except BufferReadError as exc:
            raise _wrap(exc, "CertificateRequest") from None
        return cls(context, ext)

    def extension(self, ext_type: int) -> bytes | None:
        return find_extension(self.extensions, ext_type)


@dataclass(frozen=True, slots=True)
class Certificate13:
    """RFC 8446 §4.4.2: context, then ``CertificateEntry`` list (DER + per-entry extensions)."""

    context: bytes
    certificates: tuple[bytes, ...]

    def encode(self) -> bytes:
        w = Writer()
        w.vector(1, self.context)
        with w.length_prefixed(3):
            for der in self.certificates:
                w.vector(3, der)
                w.u16(0)  # no per-certificate extensions
        return w.getvalue()

    @classmethod
    def decode(cls, body: bytes) -> Certificate13:
        try:
            r = Reader(body)
            context = r.vector(1)
            block = r.sub_vector(3)
            certs: list[bytes] = []
            while not block.eof():
                der = block.vector(3)
                if not der:
                    raise DtlsDecodeError("empty certificate in chain")
                block.vector(2)  # extensions (OCSP, SCT): ignored
                certs.append(der)
                if len(certs) > MAX_CERTIFICATES:
                    raise DtlsDecodeError("certificate chain too long")
            r.expect_end("Certificate")
        except BufferReadError as exc:
            raise _wrap(exc, "Certificate") from None
        return cls(context, tuple(certs))


@dataclass(frozen=True, slots=True)
class KeyUpdate:
    """RFC 8446 §4.6.3: ``update_requested`` asks the peer to update its keys too."""

    update_requested: bool

    def encode(self) -> bytes:
        return b"\x01" if self.update_requested else b"\x00"

    @classmethod
    def decode(cls, body: bytes) -> KeyUpdate:
        if len(body) != 1 or body[0] > 1:
            raise DtlsDecodeError("malformed KeyUpdate")
        return cls(body[0] == 1)


@dataclass(frozen=True, slots=True)
class KeyShareEntry:
    """RFC 8446 §4.2.8."""

    group: int
    key_exchange: bytes


def encode_supported_versions_client(versions: list[int]) -> bytes:
    """supported_versions in a ClientHello (RFC 8446 §4.2.1): ``versions<2..254>``."""
    return bytes([2 * len(versions)]) + b"".join(v.to_bytes(2, "big") for v in versions)


def decode_supported_versions_client(data: bytes) -> list[int]:
    try:
        r = Reader(data)
        raw = r.vector(1)
        r.expect_end("supported_versions")
    except BufferReadError as exc:
        raise _wrap(exc, "supported_versions") from None
    if len(raw) % 2 or not raw:
        raise DtlsDecodeError("supported_versions list must be even and non-empty")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode_supported_versions_server(data: bytes) -> int:
    """supported_versions in a ServerHello/HRR: one ``selected_version``."""
    if len(data) != 2:
        raise DtlsDecodeError("server supported_versions must be 2 bytes")
    return int.from_bytes(data, "big")


def encode_client_key_shares(entries: list[KeyShareEntry]) -> bytes:
    w = Writer()
    with w.length_prefixed(2):
        for e in entries:
            w.u16(e.group)
            w.vector(2, e.key_exchange)
    return w.getvalue()


def decode_client_key_shares(data: bytes) -> list[KeyShareEntry]:
    """key_share in a ClientHello: ``KeyShareEntry client_shares<0..2^16-1>``."""
    try:
        r = Reader(data)
        block = r.sub_vector(2)
        r.expect_end("key_share")
        out: list[KeyShareEntry] = []
        seen: set[int] = set()
        while not block.eof():
            group = block.u16()
            key = block.vector(2)
            if not key:
                raise DtlsDecodeError("empty key share")
            if group in seen:  # RFC 8446 §4.2.8: one share per group
                raise DtlsDecodeError("two key shares for one group")
            seen.add(group)
            out.append(KeyShareEntry(group, key))
            if len(out) > MAX_KEY_SHARES:
                raise DtlsDecodeError("too many key shares")
    except BufferReadError as exc:
        raise _wrap(exc, "key_share") from None
    return out


def encode_server_key_share(entry: KeyShareEntry) -> bytes:
    w = Writer()
    w.u16(entry.group)
    w.vector(2, entry.key_exchange)
    return w.getvalue()


def decode_server_key_share(data: bytes) -> KeyShareEntry:
    """key_share in a ServerHello: one ``KeyShareEntry server_share``."""
    try:
        r = Reader(data)
        group = r.u16()
        key = r.vector(2)
        r.expect_end("key_share")
    except BufferReadError as exc:
        raise _wrap(exc, "key_share") from None
    if not key:
        raise DtlsDecodeError("empty key share")
    return KeyShareEntry(group, key)


def decode_hrr_key_share(data: bytes) -> int:
    """key_share in a HelloRetryRequest: the ``selected_group``."""
    if len(data) != 2:
        raise DtlsDecodeError("HelloRetryRequest key_share must be 2 bytes")
    return int.from_bytes(data, "big")


def encode_cookie(cookie: bytes) -> bytes:
    """cookie (RFC 8446 §4.2.2): ``opaque cookie<1..2^16-1>``."""
    return len(cookie).to_bytes(2, "big") + cookie


def decode_cookie(data: bytes) -> bytes:
    try:
        r = Reader(data)
        cookie = r.vector(2)
        r.expect_end("cookie")
    except BufferReadError as exc:
        raise _wrap(exc, "cookie") from None
    if not cookie:
        raise DtlsDecodeError("empty cookie")
    return cookie
