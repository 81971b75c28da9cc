"""The errors of :mod:`pyrtcstack.dns`.

Malformed or hostile bytes raise :class:`DnsParseError`; an answer that parses but does
not answer our query (another id, another question: a spoofed or stray datagram) raises
:class:`DnsMismatchError`, a subclass, so a resolver can drop it and keep waiting. A bad
name or value given by the caller raises :class:`DnsError`. Any other exception is a bug.
"""

from __future__ import annotations

from pyrtcstack.common.errors import LocalProtocolError, ParseError

__all__ = ["DnsError", "DnsMismatchError", "DnsParseError"]


class DnsError(LocalProtocolError, ValueError):
    """A name or record given by the caller that cannot be encoded."""


class DnsParseError(ParseError):
    """Bytes that are not a well-formed DNS message within the limits."""


class DnsMismatchError(DnsParseError):
    """A well-formed response that is not the answer to our query (id, flags, question)."""
