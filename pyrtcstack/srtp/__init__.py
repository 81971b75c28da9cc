"""SRTP/SRTCP (RFC 3711, RFC 7714) through ``pylibsrtp``, keyed from DTLS-SRTP.

* :mod:`.profiles` — the protection profiles and a probe of what libsrtp supports;
* :mod:`.keying` — the RFC 5764 §4.2 split of the DTLS exporter output (no DTLS import);
* :mod:`.session` — :class:`SrtpSession`, protect/unprotect with replay protection and
  counters;
* :mod:`.reference` — a readable pure-Python model used to check the RFC vectors.

See docs/srtp.md.
"""

from __future__ import annotations

from .errors import SrtpAuthenticationError, SrtpError, SrtpReplayError, SrtpUsageError
from .keying import EXPORTER_LABEL, SrtpKeys, split_keying_material
from .profiles import (
    AEAD_AES_128_GCM,
    AEAD_AES_256_GCM,
    PROFILES,
    SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfile,
    profile_by_id,
    supported_profiles,
)
from .session import REPLAY_WINDOW, SrtpSession, SrtpStats

__all__ = [
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "EXPORTER_LABEL",
    "PROFILES",
    "REPLAY_WINDOW",
    "SRTP_AES128_CM_HMAC_SHA1_80",
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
