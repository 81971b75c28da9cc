"""The errors of :mod:`pyrtcstack.stun`.

* :class:`StunParseError` — bytes that are not a valid STUN message (a
  :class:`~pyrtcstack.common.errors.ParseError`, hence also a ``ValueError``). It is the only
  exception :func:`pyrtcstack.stun.decode` raises.
* :class:`StunUsageError` — the caller misused the API (a
  :class:`~pyrtcstack.common.errors.LocalProtocolError`): an attribute value that cannot be
  encoded, a password SASLprep prohibits, a transaction id of the wrong size.
"""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError

__all__ = ["StunParseError", "StunUsageError"]


class StunParseError(ParseError):
    """Malformed STUN message or attribute value."""


class StunUsageError(LocalProtocolError):
    """The caller asked for something STUN cannot encode or do."""
