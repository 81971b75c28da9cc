"""Splitting DTLS-SRTP keying material into SRTP master keys (RFC 5764 §4.2).

The types live in :mod:`pyrtcstack.common.dtls_srtp` so that :mod:`pyrtcstack.dtls` hands
over exactly what :class:`~pyrtcstack.srtp.SrtpSession` takes: ``conn.srtp_keys()`` is an
:class:`SrtpKeys`, ``conn.srtp_profile`` an :class:`SrtpProfile`. This module re-exports
them under their historical path; see that module for the byte layout.
"""

from __future__ import annotations

from ..common.dtls_srtp import (
    EXPORTER_LABEL,
    KeyingMaterialLengthError,
    SrtpKeys,
    split_keying_material,
)

__all__ = ["EXPORTER_LABEL", "KeyingMaterialLengthError", "SrtpKeys", "split_keying_material"]
