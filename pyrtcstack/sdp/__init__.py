"""SDP (RFC 8866, RFC 8839) and JSEP offer/answer (RFC 9429, BUNDLE RFC 9143).

Standalone: imports only :mod:`pyrtcstack.common`. See docs/sdp.md.
"""

from __future__ import annotations

from pyrtcstack.sdp.candidate import CANDIDATE_TYPES, Candidate
from pyrtcstack.sdp.errors import (
    MAX_CANDIDATES,
    MAX_FORMATS,
    MAX_LINE_LENGTH,
    MAX_LINES,
    MAX_MEDIA_SECTIONS,
    MAX_SDP_SIZE,
    OfferAnswerError,
    ParseError,
)

__all__ = [
    "CANDIDATE_TYPES",
    "MAX_CANDIDATES",
    "MAX_FORMATS",
    "MAX_LINES",
    "MAX_LINE_LENGTH",
    "MAX_MEDIA_SECTIONS",
    "MAX_SDP_SIZE",
    "Candidate",
    "OfferAnswerError",
    "ParseError",
]
