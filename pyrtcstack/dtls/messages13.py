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
from typing import ClassVar, Final

from ..common.buffer import Reader, Writer
from .errors import DtlsDecodeError
from .messages import (
    Codec,
    CodecWithExtensions,
    Extensions,
    encode_extensions,
    read_certificates,
    read_extensions_block,
    read_whole,
    u16_values,
    write_certificates,
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


@dataclass(frozen=True, slots=True)
class EncryptedExtensions(CodecWithExtensions):
    """RFC 8446 §4.3.1: the extensions that are not needed to derive keys (use_srtp here)."""

    NAME: ClassVar[str] = "EncryptedExtensions"
    extensions: Extensions = field(default_factory=list)

    def write(self, w: Writer) -> None:
        encode_extensions(w, self.extensions)

    @classmethod
    def read(cls, r: Reader) -> EncryptedExtensions:
        return cls(read_extensions_block(r))


@dataclass(frozen=True, slots=True)
class CertificateRequest13(CodecWithExtensions):
    """RFC 8446 §4.3.2: a context (empty during the handshake) and extensions, of which
    signature_algorithms is mandatory."""

    NAME: ClassVar[str] = "CertificateRequest"
    context: bytes
    extensions: Extensions

    def write(self, w: Writer) -> None:
        w.vector(1, self.context)
        encode_extensions(w, self.extensions)

    @classmethod
    def read(cls, r: Reader) -> CertificateRequest13:
        return cls(r.vector(1), read_extensions_block(r))


@dataclass(frozen=True, slots=True)
class Certificate13(Codec):
    """RFC 8446 §4.4.2: context, then ``CertificateEntry`` list (DER + per-entry extensions)."""

    NAME: ClassVar[str] = "Certificate"
    context: bytes
    certificates: tuple[bytes, ...]

    def write(self, w: Writer) -> None:
        w.vector(1, self.context)
        write_certificates(w, self.certificates, entry_extensions=True)

    @classmethod
    def read(cls, r: Reader) -> Certificate13:
        return cls(r.vector(1), read_certificates(r, entry_extensions=True))


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
    raw = read_whole(data, "supported_versions", lambda r: r.vector(1))
    return u16_values(raw, "supported_versions list", empty_ok=False)


def _two_bytes(data: bytes, what: str) -> int:
    if len(data) != 2:
        raise DtlsDecodeError(f"{what} must be 2 bytes")
    return int.from_bytes(data, "big")


def decode_supported_versions_server(data: bytes) -> int:
    """supported_versions in a ServerHello/HRR: one ``selected_version``."""
    return _two_bytes(data, "server supported_versions")


def _write_share(w: Writer, entry: KeyShareEntry) -> None:
    w.u16(entry.group)
    w.vector(2, entry.key_exchange)


def _read_share(r: Reader) -> KeyShareEntry:
    group = r.u16()
    key = r.vector(2)
    if not key:
        raise DtlsDecodeError("empty key share")
    return KeyShareEntry(group, key)


def encode_client_key_shares(entries: list[KeyShareEntry]) -> bytes:
    w = Writer()
    with w.length_prefixed(2):
        for e in entries:
            _write_share(w, e)
    return w.getvalue()


def decode_client_key_shares(data: bytes) -> list[KeyShareEntry]:
    """key_share in a ClientHello: ``KeyShareEntry client_shares<0..2^16-1>``."""

    def read(r: Reader) -> list[KeyShareEntry]:
        block = r.sub_vector(2)
        out: list[KeyShareEntry] = []
        while not block.eof():
            entry = _read_share(block)
            if any(e.group == entry.group for e in out):  # RFC 8446 §4.2.8: one per group
                raise DtlsDecodeError("two key shares for one group")
            out.append(entry)
            if len(out) > MAX_KEY_SHARES:
                raise DtlsDecodeError("too many key shares")
        return out

    return read_whole(data, "key_share", read)


def encode_server_key_share(entry: KeyShareEntry) -> bytes:
    w = Writer()
    _write_share(w, entry)
    return w.getvalue()


def decode_server_key_share(data: bytes) -> KeyShareEntry:
    """key_share in a ServerHello: one ``KeyShareEntry server_share``."""
    return read_whole(data, "key_share", _read_share)


def decode_hrr_key_share(data: bytes) -> int:
    """key_share in a HelloRetryRequest: the ``selected_group``."""
    return _two_bytes(data, "HelloRetryRequest key_share")


def encode_cookie(cookie: bytes) -> bytes:
    """cookie (RFC 8446 §4.2.2): ``opaque cookie<1..2^16-1>``."""
    return len(cookie).to_bytes(2, "big") + cookie


def decode_cookie(data: bytes) -> bytes:
    cookie = read_whole(data, "cookie", lambda r: r.vector(2))
    if not cookie:
        raise DtlsDecodeError("empty cookie")
    return cookie
