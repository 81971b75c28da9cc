"""STUN credentials: SASLprep and the short-term and long-term keys (RFC 8489 §9).

RFC 8489 processes passwords with the OpaqueString profile (RFC 8265); RFC 5389 used
SASLprep (RFC 4013). Both leave ASCII passwords unchanged. The only published vectors
(RFC 5769 §2.4 and RFC 8489 Appendix B.1) derive "TheMatrIX" from "The\u00adM\u00aatr\u2168",
which is SASLprep's result (NFKC plus mapping the soft hyphen to nothing), and coturn and
libwebrtc use SASLprep too. So :func:`saslprep` is what :func:`long_term_key` applies; this
deviation is written on docs/stun.md.
"""

from __future__ import annotations

import hashlib
import stringprep
import unicodedata

from .constants import PasswordAlgorithm
from .errors import StunUsageError

__all__ = ["long_term_key", "saslprep", "short_term_key", "userhash"]

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013) with unassigned code points allowed ("stored strings" off).

    ASCII text without control characters is returned unchanged, quickly. Prohibited
    characters and bad bidirectional text raise :class:`StunUsageError`.
    """
    if text.isascii() and text.isprintable():
        return text
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    for c in normal:
        if any(table(c) for table in _PROHIBITED):
            raise StunUsageError(f"SASLprep prohibits U+{ord(c):04X}")
    # RFC 3454 §6: bidirectional text rules.
    if any(stringprep.in_table_d1(c) for c in normal):
        if any(stringprep.in_table_d2(c) for c in normal):
            raise StunUsageError("SASLprep: mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            raise StunUsageError("SASLprep: right-to-left text must start and end with RTL")
    return normal


def short_term_key(password: str | bytes) -> bytes:
    """Short-term credential key (RFC 8489 §9.1.1): the password bytes.

    ICE passwords (ice-pwd) are ASCII, so OpaqueString leaves them unchanged; bytes are used
    as given.
    """
    return password if isinstance(password, bytes) else password.encode()


def long_term_key(
    username: str,
    realm: str,
    password: str,
    algorithm: PasswordAlgorithm | int = PasswordAlgorithm.MD5,
) -> bytes:
    """Long-term credential key (RFC 8489 §9.2.2): ``H(username ":" realm ":" password)``
    with H = MD5 (16 bytes, the default and RFC 5389's) or SHA-256 (32 bytes) as chosen by
    PASSWORD-ALGORITHM."""
    material = f"{username}:{realm}:{saslprep(password)}".encode()
    if algorithm == PasswordAlgorithm.MD5:
        return hashlib.md5(material, usedforsecurity=False).digest()
    if algorithm == PasswordAlgorithm.SHA256:
        return hashlib.sha256(material).digest()
    raise StunUsageError(f"unknown password algorithm {algorithm}")


def userhash(username: str, realm: str) -> bytes:
    """USERHASH value (RFC 8489 §14.4): SHA-256(username ":" realm)."""
    return hashlib.sha256(f"{username}:{realm}".encode()).digest()
