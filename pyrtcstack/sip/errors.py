"""The errors and limits of :mod:`pyrtcstack.sip`.

Every malformed SIP input (a datagram, a TCP byte stream, a URI or header value given as
text) raises :class:`SipParseError`; any other exception out of the codec is a bug. The
error carries the status code a server would answer with (RFC 3261 §21.4: 400 Bad
Request, 505 Version Not Supported, 513 Message Too Large), so a user agent can reply
without re-deriving why the message was refused.

The limits bound what one message may cost (docs/security.md, "SIP codec: message
limits"). They are module constants; pass other values to :func:`parse_message` or
:class:`StreamFramer` to change them for one parser.
"""

from __future__ import annotations

from pyrtcstack.common.errors import ParseError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "SipParseError",
]

#: Start line and header fields together, CRLFs included (the whole head of a message).
MAX_HEADER_BYTES = 16_384
#: Header field values in one message, after comma lists are split (§7.3.1).
MAX_HEADERS = 256
#: A message body (the Content-Length of a message on a stream).
MAX_BODY_BYTES = 65_536


class SipParseError(ParseError):
    """Bytes or text that are not a valid SIP message, URI or header value.

    ``status`` is the response code a server answers a request with when it refuses it
    for this reason (RFC 3261 §21.4): 400 unless said otherwise.
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
