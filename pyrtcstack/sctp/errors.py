"""Errors of the SCTP module (see docs/sctp.md, "Errors")."""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError, RemoteProtocolError

__all__ = [
    "AssociationClosedError",
    "MessageTooLargeError",
    "SctpError",
    "SctpParseError",
    "SctpRemoteError",
    "StreamError",
]


class SctpParseError(ParseError):
    """An SCTP packet, chunk or parameter could not be decoded (RFC 9260 §3)."""


class SctpError(LocalProtocolError):
    """The association API was used in a way the protocol (or its state) does not allow."""


class MessageTooLargeError(SctpError, TypeError):
    """A message is larger than the peer's max-message-size (RFC 8841 §6.1, RFC 8831 §6.6).
    Also a ``TypeError``, the exception RTCDataChannel.send() throws for it (webrtc-pc)."""


class AssociationClosedError(SctpError):
    """Data was offered to an association that is shutting down, aborted or closed."""


class StreamError(SctpError):
    """The stream id is out of the negotiated range or the stream is being reset."""


class SctpRemoteError(RemoteProtocolError):
    """The peer aborted the association or broke the protocol (carried by an event)."""
