"""The SDP module's error and its named limits.

Every malformed input to :mod:`pyrtcstack.sdp` raises :class:`ParseError` (a subclass of
:class:`pyrtcstack.common.errors.ParseError`), carrying the 1-based line number when the
problem is tied to one line, and a short human reason. Nothing else may escape a parser.
"""

from __future__ import annotations

from pyrtcstack.common.errors import LocalProtocolError
from pyrtcstack.common.errors import ParseError as _BaseParseError

__all__ = [
    "MAX_CANDIDATES",
    "MAX_FORMATS",
    "MAX_LINES",
    "MAX_LINE_LENGTH",
    "MAX_MEDIA_SECTIONS",
    "MAX_SDP_SIZE",
    "OfferAnswerError",
    "ParseError",
]

#: Largest SDP text accepted, in characters (browsers produce 2-20 KiB; Chrome's own cap is
#: far larger, but nothing legitimate approaches this).
MAX_SDP_SIZE = 1 << 20
#: Longest single line accepted, in characters (long ``a=ssrc``/``a=fingerprint`` lines
#: are < 200; the largest legitimate lines are ``a=extmap`` URIs or huge fmtp lists).
MAX_LINE_LENGTH = 8192
#: Most lines accepted in one SDP.
MAX_LINES = 20_000
#: Most ``m=`` sections accepted in one SDP.
MAX_MEDIA_SECTIONS = 512
#: Most ``a=candidate`` lines accepted in one media section.
MAX_CANDIDATES = 1024
#: Most formats (payload types) accepted on one ``m=`` line.
MAX_FORMATS = 256


class ParseError(_BaseParseError):
    """An SDP (or one SDP line) could not be parsed.

    ``line_number`` is the 1-based line of the SDP text the problem was found on, or
    ``None`` when the problem is not tied to a line (size limits, a lone attribute value).
    ``reason`` is the human explanation without the line prefix.
    """

    def __init__(self, reason: str, line_number: int | None = None) -> None:
        self.reason = reason
        self.line_number = line_number
        super().__init__(reason if line_number is None else f"line {line_number}: {reason}")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, int | None]]:
        return (type(self), (self.reason, self.line_number))


class OfferAnswerError(LocalProtocolError):
    """An offer/answer function was given inputs it cannot answer (RFC 9429 §5.3)."""
