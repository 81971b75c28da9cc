"""Key shares for DTLS 1.3 (RFC 8446 §4.2.8): x25519, P-256, P-384, and the post-quantum
hybrid X25519MLKEM768 that Chrome and Firefox send (RFC 10024, draft-ietf-tls-ecdhe-mlkem; codepoint
0x11EC).

The hybrid's client share is ``ML-KEM-768 encapsulation key (1184 B) || x25519 (32 B)``; the
server answers ``ML-KEM ciphertext (1088 B) || x25519 (32 B)``; the shared secret is
``ML-KEM shared secret (32 B) || x25519 shared secret (32 B)``.
"""

from __future__ import annotations

import random
from typing import Final

from cryptography.hazmat.primitives.asymmetric import mlkem

from .constants import AlertDescription, NamedGroup
from .errors import DtlsHandshakeError
from .keyexchange import EcdheKey

__all__ = [
    "DEFAULT_GROUPS13",
    "X25519MLKEM768",
    "ClientShare",
    "client_shares",
    "server_key_exchange",
]

#: The hybrid group's codepoint (IANA TLS Supported Groups).
X25519MLKEM768: Final = 0x11EC
_MLKEM_PUBLIC: Final = 1184
_MLKEM_CIPHERTEXT: Final = 1088

#: Groups a DTLS 1.3 server accepts shares for, best first.
DEFAULT_GROUPS13: tuple[int, ...] = (
    X25519MLKEM768,
    int(NamedGroup.X25519),
    int(NamedGroup.SECP256R1),
    int(NamedGroup.SECP384R1),
)


def _bad(message: str) -> DtlsHandshakeError:
    return DtlsHandshakeError(message, AlertDescription.ILLEGAL_PARAMETER)


class ClientShare:
    """A client's private half for one group (what it keeps after sending the share).
    ``ecdhe``: an x25519 key to use instead of a new one (see :func:`client_shares`)."""

    def __init__(self, group: int, rng: random.Random, ecdhe: EcdheKey | None = None) -> None:
        self.group = group
        self._mlkem: mlkem.MLKEM768PrivateKey | None = None
        if ecdhe is not None and (ecdhe.group != NamedGroup.X25519 or group == X25519MLKEM768):
            raise ValueError("only a plain x25519 share takes an existing key")
        if group == X25519MLKEM768:
            self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(rng.randbytes(64))
            self._ecdhe = EcdheKey(NamedGroup.X25519, rng)
            self.public_bytes = (
                self._mlkem.public_key().public_bytes_raw() + self._ecdhe.public_bytes
            )
        else:
            self._ecdhe = ecdhe if ecdhe is not None else EcdheKey(NamedGroup(group), rng)
            self.public_bytes = self._ecdhe.public_bytes

    def exchange(self, server_share: bytes) -> bytes:
        if self._mlkem is None:
            return self._ecdhe.exchange(server_share)
        if len(server_share) != _MLKEM_CIPHERTEXT + 32:
            raise _bad("X25519MLKEM768 server share has the wrong length")
        try:
            kem_secret = self._mlkem.decapsulate(server_share[:_MLKEM_CIPHERTEXT])
        except ValueError:
            raise _bad("invalid ML-KEM ciphertext") from None
        return kem_secret + self._ecdhe.exchange(server_share[_MLKEM_CIPHERTEXT:])


def client_shares(groups: tuple[int, ...], rng: random.Random) -> dict[int, ClientShare]:
    """The ClientHello's key shares, one per group in ``groups`` (RFC 8446 §4.2.8).

    When both X25519MLKEM768 and x25519 are offered, the x25519 share is the hybrid's
    x25519 half, as RFC 9954 (draft-ietf-tls-hybrid-design §3.2) allows ("reuse of key shares") and
    Go's crypto/tls and rustls do: the server picks one group, so one key exchange uses
    the key, and one x25519 key generation (~4 % of a setup's crypto instructions) is saved."""
    shares: dict[int, ClientShare] = {}
    for group in groups:
        hybrid = shares.get(X25519MLKEM768)
        reuse = hybrid._ecdhe if hybrid is not None and group == NamedGroup.X25519 else None
        shares[group] = ClientShare(group, rng, reuse)
    return shares


def server_key_exchange(group: int, client_share: bytes, rng: random.Random) -> tuple[bytes, bytes]:
    """The server's share and the shared secret for the client's ``client_share``."""
    if group == X25519MLKEM768:
        if len(client_share) != _MLKEM_PUBLIC + 32:
            raise _bad("X25519MLKEM768 client share has the wrong length")
        try:
            public = mlkem.MLKEM768PublicKey.from_public_bytes(client_share[:_MLKEM_PUBLIC])
            kem_secret, ciphertext = public.encapsulate()
        except ValueError:
            raise _bad("invalid ML-KEM encapsulation key") from None
        ecdhe = EcdheKey(NamedGroup.X25519, rng)
        shared = kem_secret + ecdhe.exchange(client_share[_MLKEM_PUBLIC:])
        return ciphertext + ecdhe.public_bytes, shared
    ecdhe = EcdheKey(NamedGroup(group), rng)
    return ecdhe.public_bytes, ecdhe.exchange(client_share)
