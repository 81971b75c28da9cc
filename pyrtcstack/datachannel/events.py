"""Events of :class:`~pyrtcstack.datachannel.manager.DataChannelManager`.

They mirror RTCPeerConnection's ``datachannel`` event and RTCDataChannel's ``open``,
``message``, ``bufferedamountlow``, ``error``, ``closing`` and ``close`` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.core import Event

if TYPE_CHECKING:
    from .channel import DataChannel

__all__ = [
    "ChannelBufferedAmountLow",
    "ChannelClosed",
    "ChannelClosing",
    "ChannelError",
    "ChannelMessage",
    "ChannelOpen",
    "DataChannelOpened",
    "TransportClosed",
    "TransportEstablished",
]


@dataclass(frozen=True, slots=True)
class TransportEstablished(Event):
    """The SCTP association is up; channels can open."""


@dataclass(frozen=True, slots=True)
class TransportClosed(Event):
    """The SCTP association ended; every channel is closed."""

    error: str | None = None


@dataclass(frozen=True, slots=True)
class DataChannelOpened(Event):
    """The peer opened a channel with DATA_CHANNEL_OPEN (W3C ``datachannel`` event)."""

    channel: DataChannel


@dataclass(frozen=True, slots=True)
class ChannelOpen(Event):
    channel: DataChannel


@dataclass(frozen=True, slots=True)
class ChannelMessage(Event):
    """A message: ``str`` for PPID 51/56, ``bytes`` for 53/57 (RFC 8831 §6.6)."""

    channel: DataChannel
    data: str | bytes


@dataclass(frozen=True, slots=True)
class ChannelBufferedAmountLow(Event):
    channel: DataChannel


@dataclass(frozen=True, slots=True)
class ChannelError(Event):
    channel: DataChannel
    error: str


@dataclass(frozen=True, slots=True)
class ChannelClosing(Event):
    channel: DataChannel


@dataclass(frozen=True, slots=True)
class ChannelClosed(Event):
    channel: DataChannel
