"""ECDHE key agreement over x25519, P-256 and P-384 (RFC 8422 §5.4, RFC 7748).

Private keys are drawn from the injected rng (``from_private_bytes`` / ``derive_private_key``)
so a seeded in-memory handshake is byte-for-byte reproducible. Public points are encoded as
RFC 8422 §5.4.1 says: the 32 raw bytes for x25519, uncompressed ``04 || X || Y`` for NIST
curves (the only point format WebRTC peers use).
"""

from __future__ import annotations

import random

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from .constants import AlertDescription, NamedGroup
from .errors import DtlsHandshakeError

__all__ = ["SUPPORTED_GROUPS", "EcdheKey"]

#: Groups we implement, in our default preference order.
SUPPORTED_GROUPS: tuple[NamedGroup, ...] = (
    NamedGroup.X25519,
    NamedGroup.SECP256R1,
    NamedGroup.SECP384R1,
)

_CURVES: dict[int, tuple[ec.EllipticCurve, int]] = {
    NamedGroup.SECP256R1: (
        ec.SECP256R1(),
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    NamedGroup.SECP384R1: (
        ec.SECP384R1(),
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    ),
}


class EcdheKey:
    """One ephemeral key pair in ``group``."""

    def __init__(self, group: NamedGroup, rng: random.Random) -> None:
        self.group = group
        self._x25519: x25519.X25519PrivateKey | None = None
        self._ec: ec.EllipticCurvePrivateKey | None = None
        if group == NamedGroup.X25519:
            self._x25519 = x25519.X25519PrivateKey.from_private_bytes(rng.randbytes(32))
            self.public_bytes = self._x25519.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        else:
            curve, order = _CURVES[group]
            while True:
                scalar = rng.getrandbits(order.bit_length())
                if 1 <= scalar < order:
                    break
            self._ec = ec.derive_private_key(scalar, curve)
            self.public_bytes = self._ec.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )

    def exchange(self, peer_public: bytes) -> bytes:
        """The shared secret (the pre-master secret, RFC 8422 §5.10); an invalid peer point
        is an ``illegal_parameter`` alert."""
        try:
            if self._x25519 is not None:
                if len(peer_public) != 32:
                    raise ValueError("x25519 public key must be 32 bytes")
                peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
                return self._x25519.exchange(peer)
            assert self._ec is not None
            if not peer_public or peer_public[0] != 4:
                raise ValueError("only uncompressed points")
            point = ec.EllipticCurvePublicKey.from_encoded_point(self._ec.curve, peer_public)
            return self._ec.exchange(ec.ECDH(), point)
        except ValueError as exc:
            raise DtlsHandshakeError(
                f"invalid ECDHE public key: {exc}", AlertDescription.ILLEGAL_PARAMETER
            ) from None
