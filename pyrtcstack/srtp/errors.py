"""The documented errors of :mod:`pyrtcstack.srtp`."""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError

__all__ = ["SrtpAuthenticationError", "SrtpError", "SrtpReplayError", "SrtpUsageError"]


class SrtpError(ParseError):
    """An SRTP/SRTCP packet could not be unprotected (malformed, unknown stream...)."""


class SrtpAuthenticationError(SrtpError):
    """The authentication tag did not verify (RFC 3711 §3.3 step 5, RFC 7714 §9.2)."""


class SrtpReplayError(SrtpError):
    """The packet index was already seen or is older than the replay window
    (RFC 3711 §3.3.2)."""


class SrtpUsageError(LocalProtocolError):
    """Bad keys, an unknown profile, or a packet we were asked to protect is not RTP."""
