"""The TLS 1.2 pseudo-random function and the key schedule built on it.

DTLS 1.2 reuses TLS 1.2's key derivation unchanged (RFC 6347 §4.2.5 defers to RFC 5246):

* ``PRF(secret, label, seed) = P_hash(secret, label + seed)`` (RFC 5246 §5), where the hash
  is SHA-256 unless the cipher suite names another (SHA-384 for the ``_SHA384`` suites).
* master secret: with the extended master secret (RFC 7627 §4), which this implementation
  requires, ``PRF(pre_master, "extended master secret", session_hash)[:48]``; the classic
  ``"master secret"`` form (RFC 5246 §8.1) is kept for the known-answer tests.
* key block: ``PRF(master, "key expansion", server_random + client_random)`` cut into
  client/server write keys and IVs (RFC 5246 §6.3; AEAD suites have no MAC keys).
* Finished: ``PRF(master, "client finished" | "server finished", Hash(handshake))[:12]``
  (RFC 5246 §7.4.9).
* exporter: ``PRF(master, label, client_random + server_random [+ context])`` (RFC 5705 §4),
  which DTLS-SRTP calls with ``"EXTRACTOR-dtls_srtp"`` and no context (RFC 5764 §4.2).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "export_keying_material",
    "extended_master_secret",
    "key_block",
    "master_secret",
    "prf",
    "verify_data",
]

MASTER_SECRET_LENGTH = 48
VERIFY_DATA_LENGTH = 12


def _p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash of RFC 5246 §5: HMAC chained over A(i) until ``length`` bytes exist."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return bytes(out[:length])


def prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.2 PRF (RFC 5246 §5) with ``hash_name`` ("sha256" or "sha384")."""
    return _p_hash(hash_name, secret, label + seed, length)


def master_secret(
    hash_name: str, pre_master: bytes, client_random: bytes, server_random: bytes
) -> bytes:
    """The classic master secret (RFC 5246 §8.1); WebRTC peers use the extended one."""
    return prf(
        hash_name,
        pre_master,
        b"master secret",
        client_random + server_random,
        MASTER_SECRET_LENGTH,
    )


def extended_master_secret(hash_name: str, pre_master: bytes, session_hash: bytes) -> bytes:
    """The extended master secret (RFC 7627 §4): bound to the whole handshake transcript."""
    return prf(hash_name, pre_master, b"extended master secret", session_hash, MASTER_SECRET_LENGTH)


def key_block(
    hash_name: str, master: bytes, client_random: bytes, server_random: bytes, length: int
) -> bytes:
    """The key block (RFC 5246 §6.3); note the seed is server_random first."""
    return prf(hash_name, master, b"key expansion", server_random + client_random, length)


def verify_data(hash_name: str, master: bytes, is_client: bool, transcript: bytes) -> bytes:
    """Finished.verify_data (RFC 5246 §7.4.9) over the handshake messages so far."""
    label = b"client finished" if is_client else b"server finished"
    digest = hashlib.new(hash_name, transcript).digest()
    return prf(hash_name, master, label, digest, VERIFY_DATA_LENGTH)


def export_keying_material(
    hash_name: str,
    master: bytes,
    client_random: bytes,
    server_random: bytes,
    *,
    label: bytes,
    length: int,
    context: bytes | None = None,
) -> bytes:
    """RFC 5705 §4 exporter. ``context=None`` means *no* context (DTLS-SRTP's case), which
    differs from an empty context (that one adds a zero length)."""
    seed = client_random + server_random
    if context is not None:
        if len(context) > 0xFFFF:
            raise ValueError("exporter context longer than 65535 bytes")
        seed += len(context).to_bytes(2, "big") + context
    return prf(hash_name, master, label, seed, length)
