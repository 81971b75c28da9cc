"""SRTP/SRTCP (RFC 3711, RFC 7714) through ``pylibsrtp``, keyed from DTLS-SRTP.

* :mod:`.profiles` — the protection profiles and a probe of what libsrtp supports;
* :mod:`.keying` — the RFC 5764 §4.2 split of the DTLS exporter output (no DTLS import);
  :class:`SrtpProfile` and :class:`SrtpKeys` are the very types :mod:`pyrtcstack.dtls`
  returns (both come from :mod:`pyrtcstack.common.dtls_srtp`);
* :mod:`.session` — :class:`SrtpSession`, protect/unprotect with replay protection and
  counters;
* :mod:`.reference` — a readable pure-Python model used to check the RFC vectors.

See docs/srtp.md.
"""

from __future__ import annotations

from .errors import SrtpAuthenticationError, SrtpError, SrtpReplayError, SrtpUsageError
from .keying import EXPORTER_LABEL, KeyingMaterialLengthError, SrtpKeys, split_keying_material
from .profiles import (
    PROFILES,
    SRTP_AEAD_AES_128_GCM,
    SRTP_AEAD_AES_256_GCM,
    SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfile,
    profile_by_id,
    supported_profiles,
)
from .session import REPLAY_WINDOW, SrtpSession, SrtpStats

__all__ = [
    "EXPORTER_LABEL",
    "PROFILES",
    "REPLAY_WINDOW",
    "SRTP_AEAD_AES_128_GCM",
    "SRTP_AEAD_AES_256_GCM",
    "SRTP_AES128_CM_HMAC_SHA1_80",
    "KeyingMaterialLengthError",
    "SrtpAuthenticationError",
    "SrtpError",
    "SrtpKeys",
    "SrtpProfile",
    "SrtpReplayError",
    "SrtpSession",
    "SrtpStats",
    "SrtpUsageError",
    "profile_by_id",
    "split_keying_material",
    "supported_profiles",
]


_RENAMED = {
    "AEAD_AES_128_GCM": "SRTP_AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM": "SRTP_AEAD_AES_256_GCM",
}


def __getattr__(name: str) -> object:
    """The old constant names (before they matched ``.name``), with a warning."""
    if name in _RENAMED:
        import warnings

        warnings.warn(
            f"pyrtcstack.srtp.{name} is now {_RENAMED[name]} (the profile's IANA name)",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module 'pyrtcstack.srtp' has no attribute {name!r}")
