"""Events of the ICE agent (frozen dataclasses; state names as the W3C API spells them)."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.core import Address, Event
from .candidates import IceCandidate

__all__ = [
    "CandidateError",
    "ConnectionStateChanged",
    "DataReceived",
    "GatheringStateChanged",
    "LocalCandidate",
    "RoleChanged",
    "SelectedPairChanged",
]


@dataclass(frozen=True, slots=True)
class LocalCandidate(Event):
    """A local candidate was gathered (trickle, RFC 8838 §4): signal it to the peer.
    ``ufrag`` names the credentials generation it belongs to."""

    candidate: IceCandidate
    ufrag: str


@dataclass(frozen=True, slots=True)
class GatheringStateChanged(Event):
    """W3C ``RTCIceGatheringState``: "new", "gathering", "complete". "complete" is the
    end-of-candidates of the generation ``ufrag`` (RFC 8838 §4)."""

    state: str
    ufrag: str


@dataclass(frozen=True, slots=True)
class ConnectionStateChanged(Event):
    """W3C ``RTCIceTransportState``: "new", "checking", "connected", "completed",
    "disconnected", "failed", "closed"."""

    state: str


@dataclass(frozen=True, slots=True)
class SelectedPairChanged(Event):
    """The pair that carries data changed (nomination, RFC 8445 §8.1.1). ``local`` is the
    valid candidate (it may be server- or peer-reflexive; data leaves from its base)."""

    local: IceCandidate
    remote: IceCandidate


@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """A non-STUN datagram (DTLS, SRTP, ...) from ``remote`` on a known path."""

    data: bytes
    remote: Address


@dataclass(frozen=True, slots=True)
class RoleChanged(Event):
    """The role changed after a role conflict (RFC 8445 §7.3.1.1, §7.2.5.1)."""

    controlling: bool


@dataclass(frozen=True, slots=True)
class CandidateError(Event):
    """A STUN or TURN server could not give a candidate (W3C ``icecandidateerror``)."""

    server: Address
    code: int
    reason: str
    #: how the server was reached: "udp", or "tcp"/"tls" for a TURN server over a stream
    transport: str = "udp"
