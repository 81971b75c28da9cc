"""Splitting DTLS-SRTP keying material into SRTP master keys (RFC 5764 §4.2).

After the DTLS handshake both ends call the TLS exporter (RFC 5705) with the label
``"EXTRACTOR-dtls_srtp"``, no context, for ``2 * (key_length + salt_length)`` bytes, and
cut the output in this fixed order::

    client_write_SRTP_master_key[key_length]
    server_write_SRTP_master_key[key_length]
    client_write_SRTP_master_salt[salt_length]
    server_write_SRTP_master_salt[salt_length]

The DTLS client protects what it sends with the client-write key and salt and the server
with the server-write ones; each end unprotects with the other's. This module only takes
the exporter's bytes, so it does not depend on the DTLS implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SrtpUsageError
from .profiles import SrtpProfile

__all__ = ["EXPORTER_LABEL", "SrtpKeys", "split_keying_material"]

#: RFC 5764 §4.2: the exporter label for DTLS-SRTP.
EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


@dataclass(frozen=True)
class SrtpKeys:
    """Master key || master salt for each direction, ready for libsrtp."""

    profile: SrtpProfile
    client_write: bytes
    server_write: bytes

    def for_role(self, is_client: bool) -> tuple[bytes, bytes]:
        """``(tx, rx)`` master key+salt for the DTLS client (``True``) or server."""
        if is_client:
            return self.client_write, self.server_write
        return self.server_write, self.client_write


def split_keying_material(material: bytes, profile: SrtpProfile) -> SrtpKeys:
    """Cut the exporter output per RFC 5764 §4.2 (see the module docstring)."""
    k, s = profile.key_length, profile.salt_length
    if len(material) != 2 * (k + s):
        raise SrtpUsageError(
            f"{profile.name} needs {2 * (k + s)} bytes of keying material, got {len(material)}"
        )
    client_key = material[:k]
    server_key = material[k : 2 * k]
    client_salt = material[2 * k : 2 * k + s]
    server_salt = material[2 * k + s :]
    return SrtpKeys(profile, client_key + client_salt, server_key + server_salt)
