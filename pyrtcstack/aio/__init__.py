"""asyncio adapters: the only place in pyrtcstack that owns sockets, timers and the clock.

One driver per family of cores (docs/architecture.md, "Drivers: one per family"):
:class:`~pyrtcstack.aio.endpoint.CoreEndpoint` (one socket, one ``DatagramCore``),
:class:`~pyrtcstack.aio.multisocket.MultiSocketDriver` (the ICE agent and the peer
connection) and :class:`~pyrtcstack.aio.stream.StreamEndpoint` (a core over TCP/TLS).

Other packages import the adapters from here (``from pyrtcstack.aio import PeerConnection``;
the ``exports-aio`` import-linter contract). The names below the endpoint are loaded on
first use, so ``import pyrtcstack.aio`` stays light: a user of one adapter (a STUN client)
does not load the peer connection, DTLS, SIP or the TURN server.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .endpoint import CoreEndpoint, CoreTimer, open_endpoint

if TYPE_CHECKING:
    from .dns import DnsLookupError, DnsResolver, locate_sip_server, nameservers
    from .dtls import DtlsSocket, open_dtls
    from .ice import IceConnection, host_addresses
    from .pcap import PcapWriter
    from .peerconnection import DataChannel, PeerConnection, RemoteTrack
    from .sip import SipCallError, SipPhone
    from .sip_media import answer_with_peerconnection, call_with_peerconnection
    from .stun import discover_nat, serve_stun, source_address_for, stun_binding
    from .turn import TurnClientConnection, connect_turn, start_turn_server

#: Each lazily exported name and the module (of this package) that defines it.
_LAZY = {
    "DnsLookupError": "dns",
    "DnsResolver": "dns",
    "locate_sip_server": "dns",
    "nameservers": "dns",
    "DtlsSocket": "dtls",
    "open_dtls": "dtls",
    "IceConnection": "ice",
    "host_addresses": "ice",
    "PcapWriter": "pcap",
    "DataChannel": "peerconnection",
    "PeerConnection": "peerconnection",
    "RemoteTrack": "peerconnection",
    "SipCallError": "sip",
    "SipPhone": "sip",
    "answer_with_peerconnection": "sip_media",
    "call_with_peerconnection": "sip_media",
    "discover_nat": "stun",
    "serve_stun": "stun",
    "source_address_for": "stun",
    "stun_binding": "stun",
    "TurnClientConnection": "turn",
    "connect_turn": "turn",
    "start_turn_server": "turn",
}

__all__ = [
    "CoreEndpoint",
    "CoreTimer",
    "DataChannel",
    "DnsLookupError",
    "DnsResolver",
    "DtlsSocket",
    "IceConnection",
    "PcapWriter",
    "PeerConnection",
    "RemoteTrack",
    "SipCallError",
    "SipPhone",
    "TurnClientConnection",
    "answer_with_peerconnection",
    "call_with_peerconnection",
    "connect_turn",
    "discover_nat",
    "host_addresses",
    "locate_sip_server",
    "nameservers",
    "open_dtls",
    "open_endpoint",
    "serve_stun",
    "source_address_for",
    "start_turn_server",
    "stun_binding",
]


def __getattr__(name: str) -> object:
    """Load a lazily exported adapter on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyrtcstack.aio' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
