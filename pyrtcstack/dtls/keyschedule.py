"""The TLS 1.3 key schedule as DTLS 1.3 uses it (RFC 8446 §7, RFC 9147 §5.9), and the DTLS 1.3
record protection keys (RFC 8446 §5.3, RFC 9147 §4.2.3).

Everything is HKDF (RFC 5869) over the cipher suite's hash::

                 0
                 |
       PSK (0) -> HKDF-Extract = Early Secret
                 |
           Derive-Secret(., "derived", "")
                 |
    (EC)DHE  ->  HKDF-Extract = Handshake Secret --> c hs traffic / s hs traffic (epoch 2)
                 |
           Derive-Secret(., "derived", "")
                 |
       0 ->      HKDF-Extract = Master Secret ---> c ap traffic / s ap traffic (epoch 3)
                                                  exp master (the exporter, §7.5)

The one DTLS difference (RFC 9147 §5.9): every HKDF-Expand-Label uses the label prefix
``"dtls13"`` where TLS 1.3 writes ``"tls13 "``. Each traffic secret yields a ``key``, an
``iv`` (RFC 8446 §7.3) and, new in DTLS 1.3, an ``sn`` key that masks the record sequence
number (RFC 9147 §4.2.3).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from .errors import DtlsDecodeError

__all__ = [
    "LABEL_PREFIX",
    "TLS13_SUITES",
    "KeySchedule",
    "Suite13",
    "TrafficKeys",
    "derive_secret",
    "hkdf_expand_label",
    "hkdf_extract",
    "hmac_digest",
]

#: RFC 9147 §5.9: DTLS 1.3's HKDF-Expand-Label prefix (TLS 1.3 uses "tls13 ").
LABEL_PREFIX: Final = b"dtls13"
TAG_LENGTH: Final = 16


@dataclass(frozen=True, slots=True)
class Suite13:
    """A TLS 1.3 cipher suite (RFC 8446 §B.4): AEAD + hash, nothing else."""

    code: int
    name: str
    key_length: int
    hash_name: str
    chacha: bool

    @property
    def hash_length(self) -> int:
        return _digest_size(self.hash_name)


#: The TLS 1.3 suites we implement, keyed by codepoint (RFC 8446 §B.4), our preference first.
TLS13_SUITES: Final[dict[int, Suite13]] = {
    0x1301: Suite13(0x1301, "TLS_AES_128_GCM_SHA256", 16, "sha256", False),
    0x1303: Suite13(0x1303, "TLS_CHACHA20_POLY1305_SHA256", 32, "sha256", True),
    0x1302: Suite13(0x1302, "TLS_AES_256_GCM_SHA384", 32, "sha384", False),
}


#: HashLen of the suites' hashes (RFC 8446 §7.1), so that no hash object is made to ask.
_DIGEST_SIZES: Final[dict[str, int]] = {"sha256": 32, "sha384": 48}


def _digest_size(hash_name: str) -> int:
    return _DIGEST_SIZES.get(hash_name) or hashlib.new(hash_name).digest_size


#: RFC 2104's pads as translation tables: ``key.translate(_IPAD)`` is key XOR ipad.
_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))
#: The suites' hashes: constructor and block size B (RFC 2104 §2).
_HASHES: Final[dict[str, tuple[Callable[[bytes], Any], int]]] = {
    "sha256": (hashlib.sha256, 64),
    "sha384": (hashlib.sha384, 128),
}


def hmac_digest(hash_name: str, key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104 §2): H(K XOR opad || H(K XOR ipad || message)), what
    ``hmac.digest(key, message, hash_name)`` returns. Written out because with OpenSSL 3
    the standard library's one-shot HMAC looks the MAC and the digest up by name on every
    call: 27,000 instructions against 21,000 here, and a setup makes ~58 (HKDF)."""
    entry = _HASHES.get(hash_name)
    if entry is None:
        return hmac.digest(key, message, hash_name)
    new, block = entry
    if len(key) > block:
        key = new(key).digest()
    key = key.ljust(block, b"\0")
    inner: bytes = new(key.translate(_IPAD) + message).digest()
    out: bytes = new(key.translate(_OPAD) + inner).digest()
    return out


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt is HashLen zeros."""
    if not salt:
        salt = bytes(_digest_size(hash_name))
    return hmac_digest(hash_name, salt, ikm)


def _hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3)."""
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_digest(hash_name, prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def hkdf_expand_label(
    hash_name: str, secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label (RFC 8446 §7.1) with DTLS 1.3's ``dtls13`` prefix (RFC 9147 §5.9)."""
    # HkdfLabel: uint16 length, opaque label<7..255> = prefix + label, opaque context<0..255>
    # (a length past 0xFFFF raises ValueError in bytes(): HKDF caps it at 255 * HashLen)
    full = LABEL_PREFIX + label
    info = bytes((length >> 8, length & 0xFF, len(full))) + full + bytes((len(context),)) + context
    if length <= _DIGEST_SIZES.get(hash_name, 0):
        # every TLS 1.3 label asks for at most HashLen octets: T(1) alone (RFC 5869 §2.3)
        return hmac_digest(hash_name, secret, info + b"\x01")[:length]
    return _hkdf_expand(hash_name, secret, info, length)


def derive_secret(hash_name: str, secret: bytes, label: bytes, transcript_hash: bytes) -> bytes:
    """Derive-Secret (RFC 8446 §7.1), given the transcript hash already computed."""
    n = _DIGEST_SIZES.get(hash_name) or hashlib.new(hash_name).digest_size
    return hkdf_expand_label(hash_name, secret, label, transcript_hash, n)


def _no_psk_chain(hash_name: str) -> tuple[bytes, bytes, bytes]:
    """What RFC 8446 §7.1 derives before the (EC)DHE input when there is no PSK, for one
    hash: (Early Secret = HKDF-Extract(0, 0), Hash(""), Derive-Secret(Early Secret,
    "derived", "")). No input of the handshake enters them, so every handshake with that
    hash has the same three values: made once per hash (two, :data:`_DIGEST_SIZES`), not
    two HMACs and a hash per handshake."""
    chain = _NO_PSK.get(hash_name)
    if chain is None:
        early = hkdf_extract(hash_name, b"", bytes(_digest_size(hash_name)))
        empty_hash = hashlib.new(hash_name).digest()
        chain = (early, empty_hash, derive_secret(hash_name, early, b"derived", empty_hash))
        if hash_name in _DIGEST_SIZES:  # bounded: the suites' hashes only
            _NO_PSK[hash_name] = chain
    return chain


_NO_PSK: dict[str, tuple[bytes, bytes, bytes]] = {}


class KeySchedule:
    """The secrets of one handshake (RFC 8446 §7.1), no PSK."""

    def __init__(self, suite: Suite13) -> None:
        self.suite = suite
        h = suite.hash_name
        self._h = h
        self._length = suite.hash_length
        self.early_secret, self._empty_hash, self._early_derived = _no_psk_chain(h)
        self.handshake_secret = b""
        self.master_secret = b""
        self.client_handshake_secret = b""
        self.server_handshake_secret = b""
        self.client_application_secret = b""
        self.server_application_secret = b""
        self.exporter_master_secret = b""

    def forget_handshake(self, *, keep_client: bool) -> None:
        """Once the handshake is over: the early, handshake and master secrets and our own
        handshake traffic secret go (RFC 8446 §7.1 derives nothing more from them);
        ``keep_client``: a server keeps the client's handshake traffic secret, to read
        its final flight if it comes again (RFC 9147 §7)."""
        self.early_secret = self.handshake_secret = self.master_secret = b""
        self.server_handshake_secret = b""
        if not keep_client:
            self.client_handshake_secret = b""

    def transcript_hash(self, transcript: bytes | bytearray) -> bytes:
        return hashlib.new(self._h, bytes(transcript)).digest()

    def set_shared_secret(self, shared: bytes, hello_hash: bytes) -> None:
        """After ServerHello: the handshake secret and both handshake traffic secrets."""
        h = self._h
        self.handshake_secret = hkdf_extract(h, self._early_derived, shared)
        self.client_handshake_secret = derive_secret(
            h, self.handshake_secret, b"c hs traffic", hello_hash
        )
        self.server_handshake_secret = derive_secret(
            h, self.handshake_secret, b"s hs traffic", hello_hash
        )

    def set_server_finished(self, finished_hash: bytes) -> None:
        """After the server's Finished: master secret, application and exporter secrets."""
        h = self._h
        derived = derive_secret(h, self.handshake_secret, b"derived", self._empty_hash)
        self.master_secret = hkdf_extract(h, derived, bytes(self._length))
        self.client_application_secret = derive_secret(
            h, self.master_secret, b"c ap traffic", finished_hash
        )
        self.server_application_secret = derive_secret(
            h, self.master_secret, b"s ap traffic", finished_hash
        )
        self.exporter_master_secret = derive_secret(
            h, self.master_secret, b"exp master", finished_hash
        )

    def finished(self, base_secret: bytes, transcript_hash: bytes) -> bytes:
        """Finished.verify_data (RFC 8446 §4.4.4)."""
        key = hkdf_expand_label(self._h, base_secret, b"finished", b"", self._length)
        return hmac_digest(self._h, key, transcript_hash)

    def next_application_secret(self, secret: bytes) -> bytes:
        """application_traffic_secret_N+1 (RFC 8446 §7.2, after a KeyUpdate)."""
        return hkdf_expand_label(self._h, secret, b"traffic upd", b"", self._length)

    def export(self, label: bytes, context: bytes, length: int) -> bytes:
        """TLS-Exporter (RFC 8446 §7.5); absent and empty context are the same in 1.3."""
        h = self._h
        secret = derive_secret(h, self.exporter_master_secret, label, self._empty_hash)
        context_hash = hashlib.new(h, context).digest()
        return hkdf_expand_label(h, secret, b"exporter", context_hash, length)

    def traffic_keys(self, secret: bytes) -> TrafficKeys:
        return TrafficKeys.derive(self.suite, secret)


_NONCE_SEQ = struct.Struct("!4xQ")


class TrafficKeys:
    """AEAD + sequence-number mask of one direction of one epoch (RFC 8446 §5.3, §7.3;
    RFC 9147 §4.2.3)."""

    __slots__ = (
        "_aead",
        "_chacha",
        "_ecb",
        "_sn_key",
        "iv_high",
        "iv_int",
        "iv_low",
        "masks",
        "open_raw",
        "seal_raw",
        "suite",
    )

    def __init__(self, suite: Suite13, key: bytes, iv: bytes, sn_key: bytes) -> None:
        self.suite = suite
        self._chacha = suite.chacha
        self._aead: AESGCM | ChaCha20Poly1305 = (
            ChaCha20Poly1305(key) if suite.chacha else AESGCM(key)
        )
        self.iv_int = int.from_bytes(iv, "big")
        #: RFC 8446 §5.3: nonce = IV xor the 64-bit sequence number (left-padded): the IV's
        #: first 4 bytes as they are, its last 8 (as an integer) XOR the sequence number
        self.iv_high = iv[:4]
        self.iv_low = self.iv_int & 0xFFFFFFFFFFFFFFFF
        self._sn_key = sn_key
        # ECB keeps no state between blocks: one long-lived encryptor masks every record
        self._ecb = (
            None if suite.chacha else Cipher(algorithms.AES(sn_key), modes.ECB()).encryptor()
        )
        #: The masks of many records at once, for the data path: ``masks(samples)`` takes
        #: 16-byte samples laid end to end and returns their 16-byte masks end to end. AES:
        #: one ECB call (ECB masks each block on its own); ChaCha20: one sample at a time.
        self.masks: Callable[[bytes], bytes] = (
            self._ecb.update if self._ecb is not None else self._chacha_masks
        )
        #: the bound AEAD calls, for the data path: ``(nonce, data, aad)``
        self.seal_raw = self._aead.encrypt
        self.open_raw = self._aead.decrypt

    @classmethod
    def derive(cls, suite: Suite13, secret: bytes) -> TrafficKeys:
        h = suite.hash_name
        key = hkdf_expand_label(h, secret, b"key", b"", suite.key_length)
        iv = hkdf_expand_label(h, secret, b"iv", b"", 12)
        sn = hkdf_expand_label(h, secret, b"sn", b"", suite.key_length)
        return cls(suite, key, iv, sn)

    def nonce(self, seq: int) -> bytes:
        # RFC 8446 §5.3: the 64-bit record sequence number, left-padded, XOR the IV.
        return (self.iv_int ^ seq).to_bytes(12, "big")

    def seal(self, seq: int, aad: bytes, inner: bytes) -> bytes:
        return self._aead.encrypt(self.nonce(seq), inner, aad)

    def open(self, seq: int, aad: bytes, ciphertext: bytes) -> bytes:
        try:
            return self._aead.decrypt(self.nonce(seq), ciphertext, aad)
        except InvalidTag:
            raise DtlsDecodeError("record authentication failed") from None

    def _chacha_masks(self, samples: bytes) -> bytes:
        return b"".join([self.mask(samples[i : i + 16]) for i in range(0, len(samples), 16)])

    def mask(self, sample: bytes) -> bytes:
        """The record-number mask from the first 16 ciphertext bytes (RFC 9147 §4.2.3)."""
        if len(sample) < 16:
            raise DtlsDecodeError("ciphertext shorter than the 16-byte mask sample")
        if self._ecb is not None:
            return self._ecb.update(sample[:16])
        # ChaCha20: counter = sample[0:4] (little endian), nonce = sample[4:16]; cryptography's
        # ChaCha20 takes the 16-byte "nonce" as counter || nonce, exactly this layout.
        enc = Cipher(algorithms.ChaCha20(self._sn_key, sample[:16]), mode=None).encryptor()
        return enc.update(bytes(16))
