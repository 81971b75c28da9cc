"""DTLS-SRTP (RFC 5764): protection profiles and the split of the exported keying material.

After the handshake both sides run the RFC 5705 exporter with label ``EXTRACTOR-dtls_srtp``
and no context, for ``2 * (key + salt)`` bytes, laid out as (RFC 5764 §4.2)::

    client_write_key | server_write_key | client_write_salt | server_write_salt

The DTLS *client*'s write key protects the SRTP packets the client sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["SRTP_EXPORTER_LABEL", "SrtpKeys", "SrtpProfile", "split_srtp_keying_material"]

SRTP_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


class SrtpProfile(IntEnum):
    """SRTPProtectionProfile values (RFC 5764 §4.1.2, RFC 7714 §14.2)."""

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008

    @property
    def key_length(self) -> int:
        return 32 if self == SrtpProfile.SRTP_AEAD_AES_256_GCM else 16

    @property
    def salt_length(self) -> int:
        return 14 if self.value <= 2 else 12

    @property
    def keying_material_length(self) -> int:
        return 2 * (self.key_length + self.salt_length)


#: Our default preference (Chrome's order: AES-CM first for the widest support).
DEFAULT_SRTP_PROFILES: tuple[SrtpProfile, ...] = (
    SrtpProfile.SRTP_AES128_CM_HMAC_SHA1_80,
    SrtpProfile.SRTP_AEAD_AES_128_GCM,
    SrtpProfile.SRTP_AEAD_AES_256_GCM,
)


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """The SRTP master keys and salts of one side: ``local`` protects what we send."""

    profile: SrtpProfile
    local_key: bytes
    local_salt: bytes
    remote_key: bytes
    remote_salt: bytes


def split_srtp_keying_material(profile: SrtpProfile, material: bytes, is_client: bool) -> SrtpKeys:
    """Cut exporter output into keys and salts (RFC 5764 §4.2)."""
    k, s = profile.key_length, profile.salt_length
    if len(material) != 2 * (k + s):
        raise ValueError("keying material has the wrong length for the profile")
    client_key, server_key = material[:k], material[k : 2 * k]
    client_salt, server_salt = material[2 * k : 2 * k + s], material[2 * k + s :]
    if is_client:
        return SrtpKeys(profile, client_key, client_salt, server_key, server_salt)
    return SrtpKeys(profile, server_key, server_salt, client_key, client_salt)
