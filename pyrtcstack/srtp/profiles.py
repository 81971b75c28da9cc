"""SRTP protection profiles negotiated by DTLS-SRTP (RFC 5764 §4.1.2, RFC 7714 §14.2).

Each profile fixes the master key and master salt lengths, so it fixes how many bytes the
DTLS exporter must produce and how they are split (:mod:`pyrtcstack.srtp.keying`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pylibsrtp import Policy

from .errors import SrtpUsageError

__all__ = [
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "PROFILES",
    "SRTP_AES128_CM_HMAC_SHA1_80",
    "SrtpProfile",
    "profile_by_id",
    "supported_profiles",
]


@dataclass(frozen=True)
class SrtpProfile:
    """One DTLS-SRTP protection profile: its IANA id, key and salt sizes, tag size."""

    name: str
    #: The two-byte SRTPProtectionProfile value in the DTLS use_srtp extension.
    profile_id: int
    key_length: int
    salt_length: int
    #: Bytes appended to an SRTP packet (auth tag, or AEAD tag).
    rtp_overhead: int
    #: Bytes appended to an SRTCP packet (E flag + index, then tag).
    rtcp_overhead: int
    libsrtp_profile: int

    @property
    def master_length(self) -> int:
        """Bytes of master key + master salt for one direction."""
        return self.key_length + self.salt_length

    @property
    def exporter_length(self) -> int:
        """RFC 5764 §4.2: bytes to ask the TLS exporter for (both directions)."""
        return 2 * self.master_length


#: RFC 5764 §4.1.2: AES-128 counter mode, HMAC-SHA1 80-bit tag; 30 bytes of master key+salt.
SRTP_AES128_CM_HMAC_SHA1_80 = SrtpProfile(
    "SRTP_AES128_CM_HMAC_SHA1_80",
    0x0001,
    16,
    14,
    10,
    4 + 10,
    Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
)
#: RFC 7714 §14.2: AES-128-GCM, 16-byte tag, 96-bit (12-byte) master salt.
AEAD_AES_128_GCM = SrtpProfile(
    "SRTP_AEAD_AES_128_GCM", 0x0007, 16, 12, 16, 16 + 4, Policy.SRTP_PROFILE_AEAD_AES_128_GCM
)
#: RFC 7714 §14.2: AES-256-GCM, 16-byte tag, 96-bit master salt.
AEAD_AES_256_GCM = SrtpProfile(
    "SRTP_AEAD_AES_256_GCM", 0x0008, 32, 12, 16, 16 + 4, Policy.SRTP_PROFILE_AEAD_AES_256_GCM
)

#: In our order of preference (strongest first), as offered in use_srtp.
PROFILES: tuple[SrtpProfile, ...] = (
    AEAD_AES_256_GCM,
    AEAD_AES_128_GCM,
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
