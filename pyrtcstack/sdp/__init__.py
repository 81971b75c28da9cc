"""SDP (RFC 8866, RFC 8839) and JSEP offer/answer (RFC 9429, BUNDLE RFC 9143).

Standalone: imports only :mod:`pyrtcstack.common`. See docs/sdp.md.
"""

from __future__ import annotations

from pyrtcstack.sdp.attributes import (
    DIRECTIONS,
    SETUP_ROLES,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    Msid,
    Rid,
    Rtcp,
    RtcpFeedback,
    RtpMap,
    SctpMap,
    SsrcAttribute,
    SsrcGroup,
)
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
from pyrtcstack.sdp.model import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Bandwidth,
    Codec,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = [
    "CANDIDATE_TYPES",
    "DIRECTIONS",
    "MAX_CANDIDATES",
    "MAX_FORMATS",
    "MAX_LINES",
    "MAX_LINE_LENGTH",
    "MAX_MEDIA_SECTIONS",
    "MAX_SDP_SIZE",
    "SETUP_ROLES",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Codec",
    "Connection",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "MediaDescription",
    "Msid",
    "OfferAnswerError",
    "Origin",
    "ParseError",
    "Rid",
    "Rtcp",
    "RtcpFeedback",
    "RtpMap",
    "SctpMap",
    "SessionDescription",
    "SsrcAttribute",
    "SsrcGroup",
    "Timing",
]
