"""The documented errors of :mod:`pyrtcstack.media`."""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError

__all__ = ["DepacketizeError", "MediaFormatError", "MediaUsageError"]


class DepacketizeError(ParseError):
    """An RTP payload does not follow its payload format (RFC 7741, RFC 6184, ...)."""


class MediaFormatError(ParseError):
    """A media file (WAV, IVF) could not be read."""


class MediaUsageError(LocalProtocolError):
    """The media API was used with values it cannot handle (wrong rate, closed sink...)."""
