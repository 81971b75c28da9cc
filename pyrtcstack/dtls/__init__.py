"""DTLS 1.2 (RFC 6347) and 1.3 (RFC 9147) in pure Python on ``cryptography``, sans-I/O,
as WebRTC uses them.

The entry point is :class:`DtlsConnection`; see docs/dtls.md for the protocol walk-through,
the API and the limits.
"""

from __future__ import annotations

from .certificate import DtlsCertificate, Fingerprint
from .connection import DEFAULT_MTU, DEFAULT_VERSIONS, DtlsConnection, DtlsRole, DtlsStats
from .constants import AlertDescription, CipherSuite, CipherSuite13, DtlsVersion, NamedGroup
from .describe import alert_name, describe, only_application_data
from .errors import (
    DtlsDecodeError,
    DtlsError,
    DtlsHandshakeError,
    DtlsTimeoutError,
    DtlsUsageError,
    FingerprintMismatchError,
    PeerAlertError,
)
from .events import Closed, Failed, HandshakeCompleted
from .srtp import DEFAULT_SRTP_PROFILES, SRTP_EXPORTER_LABEL, SrtpKeys, SrtpProfile

__all__ = [
    "DEFAULT_MTU",
    "DEFAULT_SRTP_PROFILES",
    "DEFAULT_VERSIONS",
    "SRTP_EXPORTER_LABEL",
    "AlertDescription",
    "CipherSuite",
    "CipherSuite13",
    "Closed",
    "DtlsCertificate",
    "DtlsConnection",
    "DtlsDecodeError",
    "DtlsError",
    "DtlsHandshakeError",
    "DtlsRole",
    "DtlsStats",
    "DtlsTimeoutError",
    "DtlsUsageError",
    "DtlsVersion",
    "Failed",
    "Fingerprint",
    "FingerprintMismatchError",
    "HandshakeCompleted",
    "NamedGroup",
    "PeerAlertError",
    "SrtpKeys",
    "SrtpProfile",
    "alert_name",
    "describe",
    "only_application_data",
]
