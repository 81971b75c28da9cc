"""Events of the TURN client and server cores (frozen dataclasses, RFC 8656 terms)."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.core import Address, Event
from .errors import TurnError

__all__ = [
    "Allocated",
    "AllocationExpired",
    "ChannelBound",
    "DataReceived",
    "Deallocated",
    "PeerDenied",
    "PermissionCreated",
    "Refreshed",
    "RelayClosed",
    "RelayOpened",
    "RequestFailed",
]


@dataclass(frozen=True, slots=True)
class Allocated(Event):
    """The server granted an allocation (RFC 8656 §7.3)."""

    relayed_address: Address
    mapped_address: Address | None
    lifetime: int


@dataclass(frozen=True, slots=True)
class Refreshed(Event):
    """A Refresh succeeded (RFC 8656 §8.3); ``lifetime`` is what the server granted."""

    lifetime: int


@dataclass(frozen=True, slots=True)
class PermissionCreated(Event):
    """CreatePermission succeeded for this peer IP (RFC 8656 §10.3); also on refresh."""

    peer_ip: str


@dataclass(frozen=True, slots=True)
class ChannelBound(Event):
    """ChannelBind succeeded (RFC 8656 §12.3); data to ``peer`` now uses ChannelData."""

    channel: int
    peer: Address


@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """Data from a peer through the relay: a Data indication (RFC 8656 §11.4, ``channel``
    None) or ChannelData (§12.6)."""

    peer: Address
    data: bytes
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class RequestFailed(Event):
    """A request failed: ``method`` is "allocate", "refresh", "create-permission",
    "channel-bind"; ``error`` is a typed :class:`~pyrtcstack.turn.errors.TurnRemoteError`
    for an error response, a :class:`TurnError` for a timeout. A failed Allocate ends the
    client (``fatal``); a failed permission or channel leaves the allocation in place."""

    method: str
    error: TurnError
    fatal: bool


@dataclass(frozen=True, slots=True)
class AllocationExpired(Event):
    """The allocation is gone without a deallocation: refreshes failed until it expired,
    or the server said 437 to a Refresh (RFC 8656 §8.3)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Deallocated(Event):
    """The allocation was released (Refresh with LIFETIME 0, RFC 8656 §8)."""


@dataclass(frozen=True, slots=True)
class RelayOpened(Event):
    """Server: an allocation opened ``relayed_address`` for ``client``; a driver that
    routes datagrams by address starts delivering that address's datagrams to the server
    (``server.relay_endpoint(relayed_address)``)."""

    relayed_address: Address
    client: Address
    username: str


@dataclass(frozen=True, slots=True)
class RelayClosed(Event):
    """Server: the allocation behind ``relayed_address`` ended (expiry or deallocation)."""

    relayed_address: Address
    reason: str


@dataclass(frozen=True, slots=True)
class PeerDenied(Event):
    """Server: ``client`` asked to reach ``peer`` and the peer policy refused it
    (RFC 8656 §10.2 / §12.2: 403 to a CreatePermission or ChannelBind; §11.2: a Send
    indication or ChannelData discarded). ``reason`` is the policy's ("loopback",
    "private", "link-local", "server-address", "handler", ...); ``method`` is
    "create-permission", "channel-bind" or "send"."""

    client: Address
    peer: Address
    reason: str
    method: str
