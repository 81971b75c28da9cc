"""The sans-I/O peer connection: SDP/JSEP, ICE, DTLS, SCTP data channels and SRTP media
composed behind one core contract (see docs/peerconnection.md).

:class:`PeerConnectionCore` is driven like the ICE agent (multi-socket: ``local=`` on
input, ``transmits()`` on output); :class:`pyrtcstack.aio.peerconnection.PeerConnection`
runs it on asyncio with the W3C RTCPeerConnection API in snake case.
"""

from __future__ import annotations

from .config import (
    Configuration,
    ConfigurationError,
    IceServer,
    InvalidModificationError,
    Settings,
    parse_server_url,
)
from .core import PeerConnectionCore
from .description import Description, DescriptionParseError, IceCandidateInit
from .events import (
    ConnectionStateChange,
    DtlsStateChange,
    IceCandidateError,
    IceCandidateEvent,
    IceConnectionStateChange,
    IceGatheringStateChange,
    NegotiationNeeded,
    SignalingStateChange,
    TrackEvent,
    TrackFrame,
)
from .states import (
    ALLOWED_CONNECTION_TRANSITIONS,
    ALLOWED_ICE_TRANSITIONS,
    ALLOWED_SIGNALING_TRANSITIONS,
    InvalidStateError,
    aggregate_connection_state,
    next_signaling_state,
)
from .stats import collect_stats
from .trace import Observer, RunSummary, Tracer, TraceRecord
from .transceiver import Transceiver

__all__ = [
    "ALLOWED_CONNECTION_TRANSITIONS",
    "ALLOWED_ICE_TRANSITIONS",
    "ALLOWED_SIGNALING_TRANSITIONS",
    "Configuration",
    "ConfigurationError",
    "ConnectionStateChange",
    "Description",
    "DescriptionParseError",
    "DtlsStateChange",
    "IceCandidateError",
    "IceCandidateEvent",
    "IceCandidateInit",
    "IceConnectionStateChange",
    "IceGatheringStateChange",
    "IceServer",
    "InvalidModificationError",
    "InvalidStateError",
    "NegotiationNeeded",
    "Observer",
    "PeerConnectionCore",
    "RunSummary",
    "Settings",
    "SignalingStateChange",
    "TraceRecord",
    "Tracer",
    "TrackEvent",
    "TrackFrame",
    "Transceiver",
    "aggregate_connection_state",
    "collect_stats",
    "next_signaling_state",
    "parse_server_url",
]
