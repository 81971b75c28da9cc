"""The documented errors of :mod:`pyrtcstack.rtp`."""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError

__all__ = ["RtcpParseError", "RtpError", "RtpParseError", "RtpUsageError"]


class RtpParseError(ParseError):
    """An RTP packet (RFC 3550 §5.1) or its header extension (RFC 8285) is malformed."""


class RtcpParseError(ParseError):
    """An RTCP packet or compound packet (RFC 3550 §6, RFC 4585 §6) is malformed."""


class RtpUsageError(LocalProtocolError):
    """A packet could not be serialised because a field is out of range (API misuse)."""


#: Alias kept short for ``except`` clauses that handle both directions.
RtpError = (RtpParseError, RtcpParseError)
