"""The errors of :mod:`pyrtcstack.turn`.

* :class:`TurnParseError` — bytes from the wire (a ChannelData message, a stream) could not
  be decoded. A running core never lets it escape: it drops the packet and counts it.
* :class:`TurnFramingError` — a TCP/TLS byte stream lost its framing (RFC 8656 §12.5): the
  connection cannot recover and must be closed.
* :class:`TurnUsageError` — the caller misused the API (sending before an allocation exists,
  a channel number outside 0x4000–0x4FFF, ...).
* :class:`TurnRemoteError` — the server answered with an error code the client cannot
  recover from; it is carried by :class:`~pyrtcstack.turn.client.TurnFailed` events, with
  the code and reason, and with a subclass for the codes RFC 8656 §7.4 and §17 name.
"""

from __future__ import annotations

from ..common.errors import LocalProtocolError, ParseError, PyrtcstackError, RemoteProtocolError

__all__ = [
    "AllocationMismatchError",
    "AllocationQuotaError",
    "InsufficientCapacityError",
    "TurnError",
    "TurnFramingError",
    "TurnParseError",
    "TurnRemoteError",
    "TurnUsageError",
    "WrongCredentialsError",
    "remote_error_for",
]


class TurnError(PyrtcstackError):
    """Base class of every TURN error."""


class TurnParseError(TurnError, ParseError):
    """Malformed TURN input (ChannelData, a stream frame)."""


class TurnFramingError(TurnParseError):
    """A TCP/TLS byte stream cannot be split into STUN/ChannelData frames any more."""


class TurnUsageError(TurnError, LocalProtocolError):
    """The API was used in a way RFC 8656 does not allow."""


class TurnRemoteError(TurnError, RemoteProtocolError):
    """The TURN server answered a request with an error the client cannot recover from."""

    def __init__(self, code: int, reason: str = "", method: str = "") -> None:
        self.code = code
        self.reason = reason
        self.method = method
        super().__init__(f"{method or 'request'} failed: {code} {reason}".rstrip())


class AllocationMismatchError(TurnRemoteError):
    """437 Allocation Mismatch (RFC 8656 §17): the 5-tuple has no (or another) allocation."""


class WrongCredentialsError(TurnRemoteError):
    """441 Wrong Credentials (RFC 8656 §17): not the credentials that made the allocation."""


class AllocationQuotaError(TurnRemoteError):
    """486 Allocation Quota Reached (RFC 8656 §17): this user has too many allocations."""


class InsufficientCapacityError(TurnRemoteError):
    """508 Insufficient Capacity (RFC 8656 §17): the server has no room; try another one."""


_BY_CODE: dict[int, type[TurnRemoteError]] = {
    437: AllocationMismatchError,
    441: WrongCredentialsError,
    486: AllocationQuotaError,
    508: InsufficientCapacityError,
}


def remote_error_for(code: int, reason: str = "", method: str = "") -> TurnRemoteError:
    """The typed error for a STUN ERROR-CODE (a plain :class:`TurnRemoteError` otherwise)."""
    return _BY_CODE.get(code, TurnRemoteError)(code, reason, method)
