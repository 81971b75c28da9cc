"""Events of :class:`~pyrtcstack.peerconnection.PeerConnectionCore` (frozen dataclasses).

They mirror the W3C RTCPeerConnection events (webrtc-pc §4.4); data channel events are
passed through from :mod:`pyrtcstack.datachannel` unchanged (``ChannelOpen``,
``ChannelMessage``, ``ChannelClosing``, ``ChannelClosed``, ``ChannelBufferedAmountLow``,
``ChannelError``, ``DataChannelOpened``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..common.core import Address, Event

if TYPE_CHECKING:
    from ..media import EncodedFrame
    from .transceiver import Transceiver

__all__ = [
    "ConnectionStateChange",
    "DtlsStateChange",
    "IceCandidateError",
    "IceCandidateEvent",
    "IceConnectionStateChange",
    "IceGatheringStateChange",
    "NegotiationNeeded",
    "SignalingStateChange",
    "TrackEvent",
    "TrackFrame",
]


@dataclass(frozen=True, slots=True)
class IceCandidateEvent(Event):
    """W3C ``icecandidate``: ``candidate`` is the ``candidate:...`` string, or None for the
    end of candidates of this generation (RFC 8838 §4.1)."""

    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None


@dataclass(frozen=True, slots=True)
class IceCandidateError(Event):
    """W3C ``icecandidateerror`` (webrtc-pc §4.8.2, RTCPeerConnectionIceErrorEvent): a STUN
    or TURN server gave no candidate. ``error_code`` is the STUN error code (RFC 8489
    §14.8, e.g. 401) or 701 when the server did not answer; ``url`` is the server's URL
    as configured (filled by the asyncio layer: the core knows only ``server``, its
    address); ``address``/``port``, the local socket, are not known here (None)."""

    server: Address
    error_code: int
    error_text: str
    #: how the server was reached: "udp", "tcp" or "tls"
    transport: str = "udp"
    url: str | None = None
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class SignalingStateChange(Event):
    state: str


@dataclass(frozen=True, slots=True)
class IceGatheringStateChange(Event):
    state: str


@dataclass(frozen=True, slots=True)
class IceConnectionStateChange(Event):
    state: str


@dataclass(frozen=True, slots=True)
class ConnectionStateChange(Event):
    state: str


@dataclass(frozen=True, slots=True)
class DtlsStateChange(Event):
    """RTCDtlsTransportState: "new", "connecting", "connected", "closed", "failed"."""

    state: str


@dataclass(frozen=True, slots=True)
class NegotiationNeeded(Event):
    """W3C ``negotiationneeded`` (webrtc-pc §4.7.3)."""


@dataclass(frozen=True, slots=True)
class TrackEvent(Event):
    """W3C ``track``: a remote description made ``transceiver`` receive."""

    transceiver: Transceiver


@dataclass(frozen=True, slots=True)
class TrackFrame(Event):
    """A media frame arrived on ``transceiver``'s receiver."""

    transceiver: Transceiver
    frame: EncodedFrame
