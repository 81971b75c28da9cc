"""The bundle's transports as the negotiator and the application see them: the
:class:`~pyrtcstack.peerconnection.negotiation.Transports` protocol (what JSEP asks of
ICE, DTLS, SCTP and the media plane) and the W3C transport states they aggregate to
(webrtc-pc §4.3.3 RTCPeerConnectionState, §5.5.1 RTCDtlsTransportState).

:class:`BundleTransports` is a part the :class:`~pyrtcstack.peerconnection.PeerConnectionCore`
owns (``core.transports``) beside the parts it shares with it (the ``IceTransport``, the
``DtlsTransport``, the SCTP config, the ``MediaPlane``, the event queue). The core routes
the layers' events and moves the bytes; it hands this part ICE's events other than data
and the selected pair (:meth:`BundleTransports.on_ice_event`), DTLS's events
(:meth:`~BundleTransports.on_dtls_event`: SRTP keys, state) and what may start
(:meth:`~BundleTransports.start_dtls`, :meth:`~BundleTransports.start_media`). Nothing here
is on the data path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..common.core import Event, EventQueue
from ..dtls import DtlsCertificate, DtlsRole, HandshakeCompleted
from ..dtls import Fingerprint as DtlsFingerprint
from ..ice import CandidateError, ConnectionStateChanged, GatheringStateChanged, LocalCandidate
from ..sctp import SctpConfig
from ..sdp import Candidate
from .config import Configuration
from .dtls_transport import DtlsTransport
from .events import (
    ConnectionStateChange,
    DtlsStateChange,
    IceCandidateError,
    IceConnectionStateChange,
    IceGatheringStateChange,
)
from .ice_transport import IceTransport
from .media import MediaPlane
from .negotiation import Negotiator, RemoteTransport
from .states import aggregate_connection_state

if TYPE_CHECKING:
    from .transceiver import Transceiver

__all__ = ["BundleTransports"]


class _Owner(Protocol):
    """What the part reads of the core that owns it (public attributes only)."""

    @property
    def configuration(self) -> Configuration: ...

    @property
    def closed(self) -> bool: ...

    @property
    def cname(self) -> str: ...

    @property
    def negotiation(self) -> Negotiator: ...


class BundleTransports:
    """The one bundled transport (RFC 9143) for the :class:`Negotiator` and the W3C
    states. It holds the core through a weak proxy (the core owns it)."""

    __slots__ = (
        "_counters",
        "_events",
        "_owner",
        "certificate",
        "connection_state",
        "dtls_transport",
        "ice",
        "ice_connection_state",
        "ice_gathering_state",
        "media",
        "sctp_config",
    )

    def __init__(
        self,
        owner: _Owner,
        events: EventQueue,
        counters: dict[str, int],
        *,
        certificate: DtlsCertificate,
        ice: IceTransport,
        dtls_transport: DtlsTransport,
        sctp_config: SctpConfig,
        media: MediaPlane,
    ) -> None:
        self._owner = owner
        self._events = events
        self._counters = counters
        self.certificate = certificate
        self.ice = ice
        self.dtls_transport = dtls_transport
        self.sctp_config = sctp_config
        self.media = media
        self.ice_gathering_state = "new"
        self.ice_connection_state = "new"
        self.connection_state = "new"

    def relay_only(self) -> bool:
        """W3C iceTransportPolicy "relay": gather and use relayed candidates only."""
        return self._owner.configuration.ice_transport_policy == "relay"

    # ================================================================== the W3C states
    def on_ice_event(self, event: Event) -> None:
        """ICE's events other than data and the selected pair (the core's data path keeps
        those): local candidates and end of gathering to the negotiator (trickle, RFC
        8838 §4.2), the gathering and ICE states, candidate errors (webrtc-pc §4.8.2)."""
        kind = type(event)
        if kind is LocalCandidate:
            assert isinstance(event, LocalCandidate)
            self._owner.negotiation.local_candidate(event.candidate.to_sdp(), event.ufrag)
        elif kind is GatheringStateChanged:  # RTCIceGatheringState (webrtc-pc §5.6.3)
            assert isinstance(event, GatheringStateChanged)
            if (state := event.state) != self.ice_gathering_state:
                self.ice_gathering_state = state
                self._events.push(IceGatheringStateChange(state))
            if state == "complete":
                self._owner.negotiation.gathering_complete(event.ufrag)
        elif kind is ConnectionStateChanged:  # RTCIceTransportState (§5.6.4), the aggregate
            assert isinstance(event, ConnectionStateChanged)
            if (state := event.state) != self.ice_connection_state and not self._owner.closed:
                self.ice_connection_state = state
                self._events.push(IceConnectionStateChange(state))
                self._set_connection_state()
        elif kind is CandidateError:
            assert isinstance(event, CandidateError)
            self._counters["candidate_errors"] = self._counters.get("candidate_errors", 0) + 1
            self._events.push(
                IceCandidateError(event.server, event.code, event.reason, event.transport)
            )

    def on_dtls_event(self, event: Event, now: float) -> None:
        """A DTLS event after the core started SCTP on it: the handshake keys SRTP (RFC
        5764 §4.2; the exporter runs when media first needs the keys) and starts media;
        any DTLS event may change the DTLS state."""
        if isinstance(event, HandshakeCompleted):
            if event.srtp_profile is not None:  # exported when media first needs them
                self.media.set_keys(
                    self.dtls_transport.connection.srtp_keys, self.dtls_transport.is_client
                )
            self.set_dtls_state("connected")
            self.start_media(now)
        elif (state := self.dtls_transport.state_after(event)) is not None:
            self.set_dtls_state(state)

    def set_dtls_state(self, state: str) -> None:
        """RTCDtlsTransportState (webrtc-pc §5.5.1), then the aggregate."""
        if state != self.dtls_transport.state and not self._owner.closed:
            self.dtls_transport.state = state
            self._events.push(DtlsStateChange(state))
            self._set_connection_state()

    def _set_connection_state(self) -> None:
        state = aggregate_connection_state(
            self.ice_connection_state, self.dtls_transport.state, self._owner.closed
        )
        if state != self.connection_state:
            self.connection_state = state
            self._events.push(ConnectionStateChange(state))

    def close(self) -> None:
        """close() sets the states without an event (webrtc-pc §4.4.1.5)."""
        self.ice_connection_state = "closed"
        self.connection_state = "closed"

    # ================================================================== starting layers
    def start_dtls(self, now: float) -> None:
        """Start DTLS as far as it can start (:meth:`DtlsTransport.start`)."""
        agent = self.ice.agent
        pair = agent.selected_pair if agent is not None else None
        remote = pair.remote.address if pair is not None else None
        if not self._owner.closed and self.dtls_transport.start(now, remote):
            self.set_dtls_state("connecting")

    def start_media(self, now: float) -> None:
        """Media endpoints for the negotiated transceivers once SRTP is keyed."""
        if not self._owner.closed:
            self.media.start(now, self._owner.cname)

    # ================================================================== for the Negotiator
    # The negotiation.Transports protocol: what the Negotiator asks of ICE, DTLS and SCTP.
    @property
    def transceivers(self) -> list[Transceiver]:
        return self.media.transceivers

    @property
    def local_fingerprint(self) -> DtlsFingerprint:
        return self.certificate.fingerprint()

    @property
    def max_message_size(self) -> int:
        return self.sctp_config.max_message_size

    def local_ice_credentials(self, controlling: bool) -> tuple[str, str]:
        agent = self.ice.ensure_agent(controlling, self.relay_only())
        return agent.local_ufrag, agent.local_pwd

    @property
    def local_ice_ufrag(self) -> str | None:
        return self.ice.local_ufrag

    @property
    def remote_ice_ufrag(self) -> str | None:
        return self.ice.remote_ufrag

    def restart_ice_agent(self, now: float, credentials: tuple[str, str] | None = None) -> None:
        self.ice.restart(now, credentials, self.relay_only())

    def cancel_ice_restart(self, now: float) -> None:
        self.ice.cancel_restart(now)

    def apply_remote_transport(self, remote: RemoteTransport, now: float) -> None:
        """SCTP port and max-message-size (RFC 8841), ICE credentials and candidates (RFC
        8839), the fingerprints DTLS checks the peer's certificate against (RFC 8122)."""
        if remote.sctp is not None:
            self.sctp_config.remote_port, self.sctp_config.remote_max_message_size = remote.sctp
        self.ice.apply_remote(
            remote.ice_ufrag,
            remote.ice_pwd,
            remote.candidates,
            remote.end_of_candidates,
            now,
            lite=remote.ice_lite,
        )
        self.dtls_transport.connection.set_remote_fingerprints(remote.fingerprints, now)

    def add_remote_candidate(self, candidate: Candidate, now: float, ufrag: str | None) -> None:
        self.ice.add_remote_candidate(candidate, now, ufrag)

    def end_of_remote_candidates(self, now: float, ufrag: str | None) -> None:
        self.ice.end_of_remote_candidates(now, ufrag)

    def negotiated(self, dtls_role: DtlsRole | None, now: float) -> None:
        """The first negotiated DTLS role stays (no DTLS renegotiation); start DTLS and
        media as far as they can start."""
        self.dtls_transport.negotiated(dtls_role)
        self.start_dtls(now)
        self.start_media(now)

    def emit_event(self, event: Event) -> None:
        self._events.push(event)
