"""The error base classes every pyrtcstack module builds on.

The policy (see docs/architecture.md, "Errors"):

* Bad input from the wire or from text (a datagram, an SDP) raises the module's own
  subclass of :class:`ParseError` — or, inside a running core, the packet is dropped and
  counted. Nothing else may escape a parser.
* Misuse of the API by the caller raises :class:`LocalProtocolError` (or a subclass).
* Misbehaviour of the remote peer that ends a connection is reported as
  :class:`RemoteProtocolError` (or a subclass), usually through an event.
* Any other exception coming out of pyrtcstack is a bug.

Every error is a :class:`PyrtcstackError`, so ``except PyrtcstackError`` catches all the
documented ones and nothing else.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ParseError", "PyrtcstackError", "RemoteProtocolError"]


class PyrtcstackError(Exception):
    """Base class of every documented pyrtcstack error."""


class ParseError(PyrtcstackError, ValueError):
    """Malformed input: bytes from the wire or text such as an SDP could not be decoded."""


class LocalProtocolError(PyrtcstackError):
    """The caller used the API in a way the protocol does not allow (h11's split)."""


class RemoteProtocolError(PyrtcstackError):
    """The remote peer broke the protocol."""
