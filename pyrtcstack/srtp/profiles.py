"""SRTP protection profiles negotiated by DTLS-SRTP (RFC 5764 §4.1.2, RFC 7714 §14.2).

Each profile fixes the master key and master salt lengths, so it fixes how many bytes the
DTLS exporter must produce and how they are split (:mod:`pyrtcstack.srtp.keying`). The type
:class:`SrtpProfile` is the one :mod:`pyrtcstack.dtls` negotiates (it lives in
:mod:`pyrtcstack.common.dtls_srtp`); each constant here is the enum member of the same name.
:data:`PROFILES` leaves out SRTP_AES128_CM_HMAC_SHA1_32: our DTLS does not offer it and
:func:`profile_by_id` refuses it.
"""

from __future__ import annotations

from pylibsrtp import Policy

from ..common.dtls_srtp import SrtpProfile
from .errors import SrtpUsageError

__all__ = [
    "PROFILES",
    "SRTP_AEAD_AES_128_GCM",
    "SRTP_AEAD_AES_256_GCM",
    "SRTP_AES128_CM_HMAC_SHA1_80",
    "SrtpProfile",
    "profile_by_id",
    "supported_profiles",
]


#: RFC 5764 §4.1.2: AES-128 counter mode, HMAC-SHA1 80-bit tag; 30 bytes of master key+salt.
SRTP_AES128_CM_HMAC_SHA1_80 = SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80
#: RFC 7714 §14.2: AES-128-GCM, 16-byte tag, 96-bit (12-byte) master salt.
SRTP_AEAD_AES_128_GCM = SrtpProfile.SRTP_AEAD_AES_128_GCM
#: RFC 7714 §14.2: AES-256-GCM, 16-byte tag, 96-bit master salt.
SRTP_AEAD_AES_256_GCM = SrtpProfile.SRTP_AEAD_AES_256_GCM

#: In our order of preference (strongest first), as offered in use_srtp.
PROFILES: tuple[SrtpProfile, ...] = (
    SRTP_AEAD_AES_256_GCM,
    SRTP_AEAD_AES_128_GCM,
    SRTP_AES128_CM_HMAC_SHA1_80,
)


def profile_by_id(profile_id: int) -> SrtpProfile:
    for p in PROFILES:
        if p.profile_id == profile_id:
            return p
    raise SrtpUsageError(f"unsupported SRTP protection profile 0x{profile_id:04x}")


_supported: tuple[SrtpProfile, ...] | None = None


def supported_profiles() -> tuple[SrtpProfile, ...]:
    """The profiles the installed libsrtp actually implements (probed once: libsrtp built
    without OpenSSL/NSS has no GCM)."""
    global _supported
    if _supported is None:
        from pylibsrtp import Error, Session

        ok = []
        for p in PROFILES:
            try:
                policy = Policy(
                    key=bytes(p.master_length),
                    ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                    srtp_profile=p.libsrtp_profile,
                )
                Session(policy)
            except (Error, ValueError):
                continue
            ok.append(p)
        _supported = tuple(ok)
    return _supported
