"""Cipher suites and the AEAD record protection they define.

Three AEAD constructions, all with a 16-byte tag and ``additional_data`` =
``epoch(2) + sequence_number(6) + type(1) + version(2) + plaintext_length(2)``
(RFC 5246 §6.2.3.3 with DTLS's 64-bit ``seq_num`` from RFC 6347 §4.1.2.1):

* AES-GCM (RFC 5288 §3): nonce = 4-byte implicit IV + 8-byte explicit nonce carried in front of
  the ciphertext; we use ``epoch + sequence_number`` as the explicit part (unique per key, as
  RFC 5288 §3 requires).
* ChaCha20-Poly1305 (RFC 7905 §2): nonce = 12-byte IV XOR the left-padded 64-bit
  ``epoch + sequence_number``; no explicit nonce.

The ECDSA/RSA halves of each family differ only in which certificate signs the
ServerKeyExchange, so :class:`SuiteInfo` records the authentication type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .constants import CipherSuite
from .errors import DtlsDecodeError

__all__ = [
    "AEAD_ADDITIONAL_DATA",
    "GCM_RECORD_OVERHEAD",
    "SUITES",
    "RecordCipher",
    "SuiteInfo",
]

TAG_LENGTH: Final = 16
#: Bytes an AES-GCM record's fragment adds to its plaintext: explicit nonce and tag.
GCM_RECORD_OVERHEAD: Final = 8 + TAG_LENGTH
#: Largest plaintext of one record (RFC 5246 §6.2.1: 2^14); bigger ones never authenticate.
_MAX_PLAINTEXT: Final = 1 << 14
#: The AEAD additional data: seq_num, type, version, plaintext length (RFC 5246 §6.2.3.3).
AEAD_ADDITIONAL_DATA = struct.Struct("!QBHH")
_AAD = AEAD_ADDITIONAL_DATA
_SEQ = struct.Struct("!Q")
#: An AES-GCM record's first 21 bytes: type, version, epoch + sequence_number (one 64-bit
#: field), length, then the explicit nonce (RFC 6347 §4.1, RFC 5288 §3).
_GCM_HEAD = struct.Struct("!BHQHQ")
#: A ChaCha20-Poly1305 record's 13-byte header (no explicit nonce, RFC 7905 §2).
_CHACHA_HEAD = struct.Struct("!BHQH")
#: The AES-GCM nonce: 4-byte implicit IV, then the 8-byte explicit nonce (RFC 5288 §3).
_GCM_NONCE = struct.Struct("!4sQ")


@dataclass(frozen=True, slots=True)
class SuiteInfo:
    """What a cipher suite fixes: key sizes, AEAD family, PRF hash and authentication."""

    suite: CipherSuite
    key_length: int
    fixed_iv_length: int
    explicit_nonce_length: int
    hash_name: str
    chacha: bool
    ecdsa: bool  # True: ECDHE_ECDSA (server signs with ECDSA); False: ECDHE_RSA

    @property
    def key_block_length(self) -> int:
        return 2 * (self.key_length + self.fixed_iv_length)

    @property
    def overhead(self) -> int:
        """Bytes a protected record adds to its plaintext (explicit nonce + tag)."""
        return self.explicit_nonce_length + TAG_LENGTH


def _info(suite: CipherSuite) -> SuiteInfo:
    name = suite.name
    chacha = "CHACHA20" in name
    return SuiteInfo(
        suite=suite,
        key_length=16 if "AES_128" in name else 32,
        fixed_iv_length=12 if chacha else 4,
        explicit_nonce_length=0 if chacha else 8,
        hash_name="sha384" if name.endswith("SHA384") else "sha256",
        chacha=chacha,
        ecdsa="_ECDSA_" in name,
    )


#: Every supported suite, keyed by codepoint.
SUITES: Final[dict[int, SuiteInfo]] = {int(s): _info(s) for s in CipherSuite}


class RecordCipher:
    """Seal/open records in one direction of one epoch (one key, one IV)."""

    __slots__ = (
        "_aead",
        "_chacha",
        "_decrypt",
        "_encrypt",
        "_explicit",
        "_iv",
        "_iv_int",
        "_overhead",
        "gcm_decrypt",
        "implicit_iv",
        "info",
    )

    def __init__(self, info: SuiteInfo, key: bytes, iv: bytes) -> None:
        self.info = info
        self._chacha = info.chacha
        self._aead: ChaCha20Poly1305 | AESGCM = (
            ChaCha20Poly1305(key) if info.chacha else AESGCM(key)
        )
        self._iv = iv
        self._iv_int = int.from_bytes(iv, "big")
        self._explicit = info.explicit_nonce_length
        self._overhead = info.explicit_nonce_length + TAG_LENGTH
        # bound once: the record hot paths below call them per record
        self._encrypt = self._aead.encrypt
        self._decrypt = self._aead.decrypt
        #: For a data path that inlines :meth:`open_record` (AES-GCM only, None for
        #: ChaCha20-Poly1305): ``gcm_decrypt(implicit_iv + explicit_nonce, ciphertext + tag,
        #: additional_data)`` returns the plaintext or raises ``InvalidTag``.
        self.gcm_decrypt: Callable[[bytes, bytes, bytes], bytes] | None = (
            None if info.chacha else self._decrypt
        )
        self.implicit_iv = iv

    def seal(self, seq64: int, content_type: int, version: int, plaintext: bytes) -> bytes:
        """Protect ``plaintext``; ``seq64`` is ``epoch << 48 | sequence_number``."""
        aad = _AAD.pack(seq64, content_type, version, len(plaintext))
        if self._chacha:
            nonce = (self._iv_int ^ seq64).to_bytes(12, "big")
            return self._aead.encrypt(nonce, plaintext, aad)
        explicit = _SEQ.pack(seq64)
        return explicit + self._aead.encrypt(self._iv + explicit, plaintext, aad)

    def open(self, seq64: int, content_type: int, version: int, fragment: bytes) -> bytes:
        """Verify and decrypt one record fragment; raise :class:`DtlsDecodeError` if bad."""
        explicit = self._explicit
        length = len(fragment) - explicit - TAG_LENGTH
        if length < 0:
            raise DtlsDecodeError("protected record shorter than its nonce and tag")
        aad = _AAD.pack(seq64, content_type, version, length)
        if self._chacha:
            nonce = (self._iv_int ^ seq64).to_bytes(12, "big")
            body = fragment
        else:
            nonce = self._iv + fragment[:explicit]
            body = fragment[explicit:]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            raise DtlsDecodeError("record authentication failed") from None

    # ---- whole-record hot paths (the established data path) ----------------------------------

    def seal_record(
        self, seq64: int, content_type: int, version: int, plaintext: bytes | bytearray | memoryview
    ) -> bytes:
        """The whole protected record: header (RFC 6347 §4.1) + sealed fragment.

        Equal to ``encode_record(..., seal(...))`` but with one header ``struct.pack`` and one
        concatenation (the data path calls this once per record)."""
        n = len(plaintext)
        aad = _AAD.pack(seq64, content_type, version, n)
        if self._chacha:
            nonce = (self._iv_int ^ seq64).to_bytes(12, "big")
            head = _CHACHA_HEAD.pack(content_type, version, seq64, n + TAG_LENGTH)
            return head + self._encrypt(nonce, plaintext, aad)
        # the explicit nonce is epoch + sequence_number: unique per key (RFC 5288 §3)
        head = _GCM_HEAD.pack(content_type, version, seq64, n + self._overhead, seq64)
        return head + self._encrypt(_GCM_NONCE.pack(self._iv, seq64), plaintext, aad)

    def seal_records(
        self,
        seq64: int,
        content_type: int,
        version: int,
        plaintexts: Sequence[bytes | bytearray | memoryview],
    ) -> list[bytes]:
        """:meth:`seal_record` for consecutive records: ``plaintexts[i]`` gets ``seq64 + i``.

        The same bytes as calling :meth:`seal_record` once per plaintext (the caller checks
        that the sequence numbers stay in their epoch), with the per-record lookups done
        once for the whole batch (the data path seals an SCTP burst at a time)."""
        if self._chacha:
            seal = self.seal_record
            return [seal(seq64 + i, content_type, version, p) for i, p in enumerate(plaintexts)]
        encrypt = self._encrypt
        iv = self._iv
        overhead = self._overhead
        head = _GCM_HEAD.pack
        aad = _AAD.pack
        nonce = _GCM_NONCE.pack
        # the explicit nonce is epoch + sequence_number: unique per key (RFC 5288 §3)
        return [
            head(content_type, version, seq, len(plaintext) + overhead, seq)
            + encrypt(nonce(iv, seq), plaintext, aad(seq, content_type, version, len(plaintext)))
            for seq, plaintext in enumerate(plaintexts, seq64)
        ]

    def open_record(self, datagram: bytes, seq64: int, content_type: int, version: int) -> bytes:
        """Verify and decrypt a datagram that is exactly one record (its 13-byte header
        already parsed by the caller into ``seq64``, ``content_type`` and ``version``).

        Raises :class:`DtlsDecodeError` if the record is too short, its plaintext would exceed
        2^14 bytes (RFC 5246 §6.2.1), or it does not authenticate."""
        n = len(datagram) - 13 - self._overhead
        if n < 0 or n > _MAX_PLAINTEXT:
            raise DtlsDecodeError("protected record of impossible length")
        aad = _AAD.pack(seq64, content_type, version, n)
        try:
            if self._chacha:
                nonce = (self._iv_int ^ seq64).to_bytes(12, "big")
                return self._decrypt(nonce, datagram[13:], aad)
            return self._decrypt(self._iv + datagram[13:21], datagram[21:], aad)
        except InvalidTag:
            raise DtlsDecodeError("record authentication failed") from None
