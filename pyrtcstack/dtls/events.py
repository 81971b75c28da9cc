"""Events emitted by :class:`~pyrtcstack.dtls.DtlsConnection` (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.core import Event
from .certificate import Fingerprint
from .constants import CipherSuite, CipherSuite13
from .errors import DtlsError
from .srtp import SrtpProfile

__all__ = ["Closed", "Failed", "HandshakeCompleted"]


@dataclass(frozen=True, slots=True)
class HandshakeCompleted(Event):
    """The handshake finished and the peer's certificate matched the expected fingerprint."""

    version: str  # "DTLS 1.2" or "DTLS 1.3"
    cipher_suite: CipherSuite | CipherSuite13
    srtp_profile: SrtpProfile | None
    peer_fingerprint: Fingerprint  # sha-256 of the peer's end-entity certificate
    peer_certificate: bytes = field(repr=False)  # DER


@dataclass(frozen=True, slots=True)
class Closed(Event):
    """The connection closed cleanly (close_notify sent and/or received)."""

    by_peer: bool


@dataclass(frozen=True, slots=True)
class Failed(Event):
    """The connection failed; ``error.alert`` is the alert sent or received."""

    error: DtlsError
