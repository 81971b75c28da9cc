"""The documented errors of :mod:`pyrtcstack.dtls`.

* :class:`DtlsDecodeError` (a :class:`~pyrtcstack.common.errors.ParseError`): bytes from the
  wire could not be decoded. Inside a running :class:`~pyrtcstack.dtls.DtlsConnection` such a
  record is dropped and counted; during the handshake a malformed *message* ends it with a
  ``decode_error`` alert.
* :class:`DtlsUsageError`: the caller misused the API (sending before the handshake, ...).
* :class:`DtlsHandshakeError` and its subclasses: why a connection failed; they arrive in a
  :class:`~pyrtcstack.dtls.events.Failed` event and carry the alert that was sent or received.
"""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError, RemoteProtocolError
from .constants import AlertDescription

__all__ = [
    "DtlsDecodeError",
    "DtlsError",
    "DtlsHandshakeError",
    "DtlsTimeoutError",
    "DtlsUsageError",
    "FingerprintMismatchError",
    "PeerAlertError",
]


class DtlsDecodeError(ParseError):
    """A DTLS record or handshake message is malformed."""


class DtlsUsageError(LocalProtocolError):
    """The DTLS API was used in a way the protocol does not allow."""


class DtlsError(RemoteProtocolError):
    """Base of the reasons a DTLS connection fails (carried by a ``Failed`` event)."""

    def __init__(self, message: str, alert: AlertDescription = AlertDescription.HANDSHAKE_FAILURE):
        super().__init__(message)
        #: The alert we sent (or, for :class:`PeerAlertError`, received).
        self.alert = alert


class DtlsHandshakeError(DtlsError):
    """The peer broke the handshake (bad signature, wrong Finished, unsupported offer...)."""


class FingerprintMismatchError(DtlsHandshakeError):
    """The peer's certificate matches none of the fingerprints from the SDP (RFC 8122 §5)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, AlertDescription.BAD_CERTIFICATE)


class PeerAlertError(DtlsError):
    """The peer sent a fatal alert."""


class DtlsTimeoutError(DtlsError):
    """The handshake did not complete within the retransmission budget."""
