"""DTLS-SRTP (RFC 5764): protection profiles and the split of the exported keying material.

:class:`SrtpProfile`, :class:`SrtpKeys` and :func:`split_keying_material` live in
:mod:`pyrtcstack.common.dtls_srtp`, shared with :mod:`pyrtcstack.srtp`, so that what a
:class:`~pyrtcstack.dtls.DtlsConnection` negotiates and exports is what an
:class:`~pyrtcstack.srtp.SrtpSession` takes. This module adds our default offer.
"""

from __future__ import annotations

from ..common.dtls_srtp import (
    EXPORTER_LABEL,
    KeyingMaterialLengthError,
    SrtpKeys,
    SrtpProfile,
    split_keying_material,
)

__all__ = [
    "DEFAULT_SRTP_PROFILES",
    "SRTP_EXPORTER_LABEL",
    "KeyingMaterialLengthError",
    "SrtpKeys",
    "SrtpProfile",
    "split_keying_material",
]

#: RFC 5764 §4.2: the exporter label (the same object as ``pyrtcstack.srtp.EXPORTER_LABEL``).
SRTP_EXPORTER_LABEL = EXPORTER_LABEL

#: Our default preference (Chrome's order: AES-CM first for the widest support).
DEFAULT_SRTP_PROFILES: tuple[SrtpProfile, ...] = (
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfile.SRTP_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM,
)
