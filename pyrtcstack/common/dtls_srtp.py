"""DTLS-SRTP (RFC 5764): the protection profiles and the keys, shared by DTLS and SRTP.

:mod:`pyrtcstack.dtls` negotiates a profile in the ``use_srtp`` extension and exports the
keying material; :mod:`pyrtcstack.srtp` protects packets with it. Both sit on the same
layer and may not import each other, so the types they hand over live here, once, and both
re-export them: ``pyrtcstack.dtls.SrtpProfile is pyrtcstack.srtp.SrtpProfile``.

After the handshake both ends run the RFC 5705 exporter with the label
``EXTRACTOR-dtls_srtp``, no context, for ``profile.exporter_length`` bytes, laid out as
(RFC 5764 §4.2)::

    client_write_SRTP_master_key[key_length]
    server_write_SRTP_master_key[key_length]
    client_write_SRTP_master_salt[salt_length]
    server_write_SRTP_master_salt[salt_length]

The DTLS *client* protects what it sends with the client-write key and salt, the server
with the server-write ones; each end unprotects with the other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .errors import LocalProtocolError

__all__ = ["EXPORTER_LABEL", "SrtpKeys", "SrtpProfile", "split_keying_material"]

#: RFC 5764 §4.2: the exporter label for DTLS-SRTP.
EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


class SrtpProfile(IntEnum):
    """An SRTPProtectionProfile (RFC 5764 §4.1.2, RFC 7714 §14.2).

    The member name is the profile's name in the IANA "DTLS-SRTP Protection Profiles"
    registry and the value its two-byte id in ``use_srtp``. The same name is printed by the
    trace, the demo's summary and the docs.
    """

    SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001
    SRTP_AES128_CM_HMAC_SHA1_32 = 0x0002
    SRTP_AEAD_AES_128_GCM = 0x0007
    SRTP_AEAD_AES_256_GCM = 0x0008

    @property
    def profile_id(self) -> int:
        """The two-byte SRTPProtectionProfile value in the DTLS ``use_srtp`` extension."""
        return int(self)

    @property
    def key_length(self) -> int:
        """Bytes of master key (RFC 5764 §4.1.2; RFC 7714 §14.2)."""
        return 32 if self is SrtpProfile.SRTP_AEAD_AES_256_GCM else 16

    @property
    def salt_length(self) -> int:
        """Bytes of master salt: 112 bits for AES-CM, 96 bits for AEAD (RFC 7714 §14.2)."""
        return 14 if self.value <= 2 else 12

    @property
    def master_length(self) -> int:
        """Bytes of master key + master salt for one direction."""
        return self.key_length + self.salt_length

    @property
    def exporter_length(self) -> int:
        """RFC 5764 §4.2: bytes to ask the TLS exporter for (both directions)."""
        return 2 * self.master_length

    @property
    def keying_material_length(self) -> int:
        """Another name of :attr:`exporter_length` (the RFC's "keying material")."""
        return self.exporter_length

    @property
    def rtp_overhead(self) -> int:
        """Bytes appended to an SRTP packet: the auth tag (80 or 32 bits) or AEAD tag."""
        return {1: 10, 2: 4}.get(self.value, 16)

    @property
    def rtcp_overhead(self) -> int:
        """Bytes appended to an SRTCP packet: E flag + index (4), then the tag (SRTCP keeps
        the 80-bit tag even in the _32 profile, RFC 5764 §4.1.2)."""
        return 4 + (10 if self.value <= 2 else 16)

    @property
    def libsrtp_profile(self) -> int:
        """libsrtp's ``srtp_profile_t`` for this profile: libsrtp numbers them by the IANA
        id, so it is the same value."""
        return int(self)


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """The SRTP master keys of both directions, each master key || master salt.

    ``client_write`` protects what the DTLS client sends, ``server_write`` what the server
    sends. :meth:`for_role` picks ``(tx, rx)`` for one side. ``repr`` shows no key bytes.
    """

    profile: SrtpProfile
    client_write: bytes
    server_write: bytes

    def __repr__(self) -> str:
        return f"SrtpKeys({self.profile.name}, 2 × {len(self.client_write)} bytes)"

    def for_role(self, is_client: bool) -> tuple[bytes, bytes]:
        """``(tx, rx)`` master key+salt for the DTLS client (``True``) or server."""
        if is_client:
            return self.client_write, self.server_write
        return self.server_write, self.client_write

    @property
    def client_key(self) -> bytes:
        return self.client_write[: self.profile.key_length]

    @property
    def client_salt(self) -> bytes:
        return self.client_write[self.profile.key_length :]

    @property
    def server_key(self) -> bytes:
        return self.server_write[: self.profile.key_length]

    @property
    def server_salt(self) -> bytes:
        return self.server_write[self.profile.key_length :]


class KeyingMaterialLengthError(LocalProtocolError, ValueError):
    """The exporter output does not have the profile's length (a caller's mistake)."""


def split_keying_material(material: bytes, profile: SrtpProfile) -> SrtpKeys:
    """Cut the exporter output per RFC 5764 §4.2 (see the module docstring)."""
    profile = SrtpProfile(profile)
    k, s = profile.key_length, profile.salt_length
    if len(material) != 2 * (k + s):
        raise KeyingMaterialLengthError(
            f"{profile.name} needs {2 * (k + s)} bytes of keying material, got {len(material)}"
        )
    client_key = material[:k]
    server_key = material[k : 2 * k]
    client_salt = material[2 * k : 2 * k + s]
    server_salt = material[2 * k + s :]
    return SrtpKeys(profile, bytes(client_key + client_salt), bytes(server_key + server_salt))
