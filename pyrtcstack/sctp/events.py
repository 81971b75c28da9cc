"""Events an :class:`~pyrtcstack.sctp.association.Association` emits (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.core import Event

__all__ = [
    "AssociationClosed",
    "AssociationEstablished",
    "BufferedAmountLow",
    "IncomingStreamsReset",
    "MessageReceived",
    "OutgoingStreamsReset",
    "StreamResetFailed",
]


@dataclass(frozen=True, slots=True)
class AssociationEstablished(Event):
    """The four-way handshake completed (RFC 9260 §5.1): data may flow."""

    outbound_streams: int
    inbound_streams: int
    #: The peer announced FORWARD-TSN (RFC 3758 §3.1) and RE-CONFIG (RFC 6525 §3.1).
    partial_reliability: bool
    stream_reset: bool


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A complete user message (reassembled, in order where ordered)."""

    stream_id: int
    ppid: int
    data: bytes
    unordered: bool = False


@dataclass(frozen=True, slots=True)
class IncomingStreamsReset(Event):
    """The peer reset its outgoing streams (our incoming ones), RFC 6525 §5.2.2. Every
    message it sent before the reset has been delivered already."""

    stream_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutgoingStreamsReset(Event):
    """Our Outgoing SSN Reset Request was performed by the peer (RFC 6525 §5.1.1)."""

    stream_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StreamResetFailed(Event):
    """The peer denied our reset request (result code, RFC 6525 §4.4)."""

    stream_ids: tuple[int, ...]
    result: int


@dataclass(frozen=True, slots=True)
class BufferedAmountLow(Event):
    """The unacknowledged bytes of a stream fell to (or below) its low threshold."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class AssociationClosed(Event):
    """The association ended: gracefully (``error`` None), by ABORT, or by failure."""

    error: str | None = None
    #: True when the peer sent ABORT (RFC 9260 §9.1).
    aborted: bool = False
