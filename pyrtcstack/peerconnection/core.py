"""The sans-I/O peer connection: every protocol core composed behind one multi-socket
core contract (see docs/peerconnection.md).

The path of a datagram (architecture.md, "The path of one packet")::

    socket --> IceAgent (STUN: checks, consent; other bytes -> DataReceived)
                 |-- 20..63   --> DtlsConnection --> DataChannelManager (SCTP, DCEP)
                 '-- 128..191 --> SrtpSession --> MediaEndpoint of the transceiver

and back down: data channel → SCTP packets → DTLS records → ``IceAgent.send`` on the
selected pair; media frames → RTP → SRTP → ``IceAgent.send``. The first-byte split is RFC
7983 §7 (:mod:`pyrtcstack.demux`). Signaling (offers, answers, the JSEP state machine)
is the :class:`~pyrtcstack.peerconnection.negotiation.Negotiator` the core owns
(``self.negotiation``): the W3C signaling methods here hand over to it, and the core's
:class:`~pyrtcstack.peerconnection.transports.BundleTransports` part (``self.transports``)
answers what it asks of the transports (its ``Transports`` protocol) and keeps the W3C
transport states.

It is a :class:`~pyrtcstack.common.core.MultiSocketCore` (one socket per local candidate):

* ``receive_datagrams(batch, now, local=(ip, port))``, the one input (one datagram: a batch)
* ``transmits(now) -> [(data, source, destination)]`` (:data:`~pyrtcstack.common.Transmit`)
* ``get_timer()``, ``handle_timer(now)``, ``next_event()``

An API call that queues something (``channel.send``, ``create_data_channel``...) makes
``get_timer()`` return the last ``now``: the driver (:mod:`pyrtcstack.aio`) re-reads it
after every mutation and calls ``handle_timer``, which drains (there is no ``flush``).
"""

from __future__ import annotations

import contextlib
import random
import weakref
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, cast

from ..common.core import Address, Event, EventQueue, Transmit, default_rng
from ..datachannel import (
    ChannelClosed,
    ChannelOptions,
    DataChannel,
    DataChannelManager,
    Priority,
)
from ..demux import FOR_DTLS, FOR_ICE
from ..dtls import DtlsCertificate, HandshakeCompleted
from ..ice import (
    DataReceived,
    IceAgent,
    SelectedPairChanged,
)
from ..sctp import SctpError
from ..sdp import Candidate
from ..srtp import SrtpSession
from .config import Configuration, Settings
from .description import Description
from .dtls_transport import DTLS_RECORD_OVERHEAD, DtlsTransport, sctp_config
from .ice_transport import IceTransport
from .media import MediaPlane
from .negotiation import Negotiator
from .states import InvalidStateError
from .trace import Observer, Tracer
from .transceiver import Transceiver
from .transports import BundleTransports

if TYPE_CHECKING:
    from ..media import Track
    from ..sdp import CodecCapability

__all__ = ["DTLS_RECORD_OVERHEAD", "PeerConnectionCore"]

_first = itemgetter(0)  # the datagram of a (data, local, remote) transmit
_source = itemgetter(1)  # the source address of a received (data, addr)


class PeerConnectionCore:
    """ICE + DTLS + SCTP/data channels + SRTP/media for one bundled transport, and the
    :class:`Negotiator` that configures them from the descriptions.

    The state is in ``__slots__``: a core lives as long as its connection and has more
    attributes than an instance dict shares keys for (30), so a dict cost 1.5 KiB per
    connection."""

    __slots__ = (
        "__weakref__",  # the negotiator's reference to the core (see __init__)
        "_direct_remote",
        "_events",
        "_lower_at",
        "_lower_ok",
        "_now",
        "_out",
        "_rng",
        "_sctp_connect_due",
        "_sctp_started",
        "bytes_received",
        "bytes_sent",
        "certificate",
        "closed",
        "configuration",
        "counters",
        "dtls",
        "dtls_transport",
        "ice",
        "media",
        "negotiation",
        "next_event",
        "packets_received",
        "packets_sent",
        "sctp",
        "sctp_config",
        "settings",
        "tracer",
        "transports",
    )

    def __init__(
        self,
        configuration: Configuration | None = None,
        settings: Settings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.configuration = configuration or Configuration()
        self.configuration.validate()
        self.settings = settings or Settings()
        self._rng = default_rng(rng)
        self._events = EventQueue()
        #: The contract's ``next_event()``: the event queue's own ``pop`` (the queue is
        #: the core's for its life), not a method that calls it: the driver asks after
        #: every input and timer (three times per idle consent check).
        self.next_event: Callable[[], Event | None] = self._events.pop
        self._out: list[Transmit] = []
        #: the last ``now`` an input, a timer or an API call gave (get_timer's "at once")
        self._now = 0.0
        #: DTLS's and SCTP's earliest deadline as get_timer last read it, valid while
        #: ``_lower_ok`` (cleared whenever the core hands either of them anything; the
        #: data channels' API marks the manager ``touched``): see :meth:`_quiet_below`
        self._lower_at: float | None = None
        self._lower_ok = False
        self.closed = False
        self.certificate: DtlsCertificate = (
            self.configuration.certificates[0]
            if self.configuration.certificates
            else DtlsCertificate.generate(self._rng)
        )
        #: the DTLS side: role, start, W3C state, SRTP keys (dtls_transport.py); ``dtls``
        #: is its connection, which the data path uses directly
        self.dtls_transport = DtlsTransport(self.certificate, self.settings, self._rng)
        self.dtls = self.dtls_transport.connection
        #: the selected pair's remote address when the pair is direct (not relayed): its
        #: DTLS and SRTP skip the ICE agent (RFC 7983 §7 demux; consent rides on STUN)
        self._direct_remote: Address | None = None
        self.sctp_config = sctp_config(self.settings)
        self.sctp = DataChannelManager(self.sctp_config, rng=self._rng)
        self._sctp_started = False
        #: Our INIT is due once the DTLS events of this pump were handled (_on_dtls_event).
        self._sctp_connect_due = False
        #: The observer (``Settings.tracer``, a :class:`Tracer`): told what crosses each
        #: boundary, at one point per boundary (the "observation point" comments below;
        #: docs/architecture.md, "Watching a connection").
        self.tracer: Observer | None = (
            Tracer(self.settings.tracer) if self.settings.tracer else None
        )
        #: Dropped and counted inputs.
        self.counters: dict[str, int] = {
            "dropped_demux": 0,
            "dropped_srtp": 0,
            "dropped_rtp_unrouted": 0,
            "dtls_records_received": 0,
        }
        #: the media half: SRTP, the transceivers' endpoints, RTP routing (media.py)
        self.media = MediaPlane(self._rng, self.settings.rtcp_interval, self.counters)
        self.packets_sent = 0
        self.packets_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        #: the ICE side: the agent, the ICE servers, remote mDNS names (ice_transport.py)
        self.ice = IceTransport(self.settings, self._rng, self.counters)
        #: the negotiator's side of the transports and their W3C states (transports.py);
        #: it reads us through a weak proxy (a strong one would make a cycle)
        self.transports = BundleTransports(
            weakref.proxy(self),
            self._events,
            self.counters,
            certificate=self.certificate,
            ice=self.ice,
            dtls_transport=self.dtls_transport,
            sctp_config=self.sctp_config,
            media=self.media,
        )
        #: JSEP: the descriptions and the signaling state; asks the transports back
        self.negotiation = Negotiator(
            self.transports, self._rng, hide_host_addresses=self.settings.mdns_host_candidates
        )

    @property
    def is_dtls_client(self) -> bool:
        return self.dtls_transport.is_client

    @property
    def dtls_state(self) -> str:
        """W3C RTCDtlsTransport.state (webrtc-pc §5.5.1)."""
        return self.dtls_transport.state

    @property
    def ice_gathering_state(self) -> str:
        """W3C RTCIceGatheringState (webrtc-pc §5.6.3)."""
        return self.transports.ice_gathering_state

    @property
    def ice_connection_state(self) -> str:
        """W3C RTCIceConnectionState (webrtc-pc §4.3.3)."""
        return self.transports.ice_connection_state

    @property
    def connection_state(self) -> str:
        """W3C RTCPeerConnectionState (webrtc-pc §4.3.3), aggregated by the transports."""
        return self.transports.connection_state

    @property
    def agent(self) -> IceAgent | None:
        """The bundle's ICE agent, None until the first description asked for our
        credentials (or gathering started)."""
        return self.ice.agent

    @property
    def transceivers(self) -> list[Transceiver]:
        """The connection's transceivers, in order (the media plane's list: the
        negotiator adds to it)."""
        return self.media.transceivers

    @property
    def srtp(self) -> SrtpSession | None:
        """The SRTP session once media started (None for a data-only connection)."""
        return self.media.srtp

    # ================================================================== API: channels
    def create_data_channel(
        self,
        label: str = "",
        *,
        ordered: bool = True,
        max_packet_life_time: int | None = None,
        max_retransmits: int | None = None,
        protocol: str = "",
        negotiated: bool = False,
        id: int | None = None,
        priority: Priority | int = "low",
    ) -> DataChannel:
        """W3C createDataChannel (webrtc-pc §6.2): the keywords become one checked
        :class:`~pyrtcstack.datachannel.ChannelOptions` for :meth:`create_channel`; the
        parameters are those of ``DataChannelManager.create_data_channel``."""
        return self.create_channel(
            label,
            ChannelOptions(
                ordered=ordered,
                max_packet_life_time=max_packet_life_time,
                max_retransmits=max_retransmits,
                protocol=protocol,
                negotiated=negotiated,
                id=id,
                priority=priority,
            ),
        )

    def create_channel(self, label: str, options: ChannelOptions) -> DataChannel:
        """:meth:`create_data_channel` with its options as one value."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        channel = self.sctp.create_channel(label, options)
        self.negotiation.data_channel_created()
        return channel

    # ================================================================== API: signaling
    # W3C RTCPeerConnection (webrtc-pc §4.4.1) one to one; the Negotiator does the work
    # (JSEP, RFC 9429), then the core drains what it set moving (ICE, DTLS).
    @property
    def signaling_state(self) -> str:
        return self.negotiation.signaling_state

    @property
    def local_description(self) -> Description | None:
        return self.negotiation.local_description

    @property
    def remote_description(self) -> Description | None:
        return self.negotiation.remote_description

    @property
    def current_local_description(self) -> Description | None:
        return self.negotiation.current_local_description

    @property
    def current_remote_description(self) -> Description | None:
        return self.negotiation.current_remote_description

    @property
    def pending_local_description(self) -> Description | None:
        return self.negotiation.pending_local_description

    @property
    def pending_remote_description(self) -> Description | None:
        return self.negotiation.pending_remote_description

    def create_offer(self, now: float, *, ice_restart: bool = False) -> Description:
        """W3C createOffer (JSEP §5.2): :meth:`Negotiator.create_offer`."""
        return self.negotiation.create_offer(ice_restart=ice_restart)

    def create_answer(self, now: float) -> Description:
        """W3C createAnswer (JSEP §5.3): :meth:`Negotiator.create_answer`."""
        return self.negotiation.create_answer()

    def set_local_description(self, description: Description, now: float) -> None:
        """W3C setLocalDescription (JSEP §5.5): :meth:`Negotiator.set_local_description`."""
        self.negotiation.set_local_description(description, now)
        self._pump(now)

    def set_remote_description(self, description: Description, now: float) -> None:
        """W3C setRemoteDescription (JSEP §5.6): :meth:`Negotiator.set_remote_description`."""
        self.negotiation.set_remote_description(description, now)
        self._pump(now)

    def add_ice_candidate(
        self,
        candidate: str | None,
        now: float,
        *,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
        username_fragment: str | None = None,
    ) -> None:
        """W3C addIceCandidate (JSEP §5.9): :meth:`Negotiator.add_ice_candidate`."""
        self.negotiation.add_ice_candidate(
            candidate,
            now,
            sdp_mid=sdp_mid,
            sdp_mline_index=sdp_mline_index,
            username_fragment=username_fragment,
        )
        self._pump(now)

    def restart_ice(self) -> None:
        """W3C restartIce (webrtc-pc §4.4.1.6): :meth:`Negotiator.restart_ice`."""
        self.negotiation.restart_ice()

    def add_transceiver(
        self,
        kind: str,
        *,
        direction: str = "sendrecv",
        track: Track | None = None,
        codecs: list[CodecCapability] | None = None,
    ) -> Transceiver:
        """W3C addTransceiver (webrtc-pc §5.1): :meth:`Negotiator.add_transceiver`."""
        return self.negotiation.add_transceiver(
            kind, direction=direction, track=track, codecs=codecs
        )

    def add_track(self, track: Track) -> Transceiver:
        """W3C addTrack (webrtc-pc §5.1): :meth:`Negotiator.add_track`."""
        return self.negotiation.add_track(track)

    @property
    def cname(self) -> str:
        """Our RTCP CNAME (RFC 7022), the same in every description and RTCP report."""
        return self.negotiation.cname

    @property
    def mdns_names(self) -> dict[str, str]:
        """Our host IP -> its mDNS name (``Settings.mdns_host_candidates``), for the
        driver to publish."""
        return self.negotiation.candidates.mdns_names

    # ================================================================== the core contract
    def gather(self, host_addresses: list[Address], now: float) -> None:
        """Start gathering on the sockets the driver bound (called once, at the first
        setLocalDescription; JSEP §5.8 / RFC 8445 §5.1)."""
        if self.ice.gather(host_addresses, now, self.transports.relay_only()):
            self._pump(now)

    def receive_datagram(
        self, data: bytes, addr: Address, now: float, local: Address | None = None
    ) -> None:
        """One datagram: :meth:`receive_datagrams` with a batch of one."""
        self.receive_datagrams(((data, addr),), now, local)

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        """The one input: datagrams that arrived together on socket ``local``, in order.

        By the first byte (RFC 7983 §7, :mod:`pyrtcstack.demux`): from the selected direct
        pair's remote address, DTLS records go to the DTLS connection in runs (one
        ``receive_datagrams`` per run of consecutive records) and SRTP/SRTCP to the media
        path; STUN, TURN ChannelData and anything from another address go to the ICE
        agent (consent and checks ride on STUN only; relayed data comes back from the
        agent as ``DataReceived``). The plaintext DTLS hands up
        (``take_application_data``) goes to SCTP as one batch per run; then one drain for
        the whole batch (SCTP's SACKs for the burst, one per two packets, RFC 9260 §6.2,
        leave together)."""
        agent = self.ice.agent
        if agent is None or self.closed:
            self.counters["dropped_demux"] += len(batch)
            return
        if self.tracer is not None:  # observation point: the wire, in
            self.tracer.datagrams_received(batch, local, now)
        direct = self._direct_remote
        nbytes = 0
        records = 0
        media = False
        run: list[bytes] = []
        n = len(batch)
        datas: list[bytes] = list(map(_first, batch)) if n > 1 and direct is not None else []
        # The usual batch of a transfer: every datagram a DTLS record from the selected
        # direct pair, one run. Checked in C, without the loop below: the lowest and highest
        # first bytes (those of the lexically first and last datagrams; an empty one sorts
        # first) are both DTLS, and DTLS is one range of first bytes (20..63, RFC 7983 §7).
        if (
            datas
            and (low := min(datas))
            and FOR_DTLS[low[0]]
            and FOR_DTLS[max(datas)[0]]
            and list(map(_source, batch)).count(direct) == n
        ):
            run = datas
            nbytes = sum(map(len, datas))
            batch = ()
        for data, addr in batch:
            nbytes += len(data)
            if addr == direct and data:
                first = data[0]
                if FOR_DTLS[first]:
                    run.append(data)
                    continue
                if run:
                    records += len(run)
                    self._receive_dtls(run, addr, now)
                    run = []
                if not FOR_ICE[first]:
                    media = True
                    self._receive_media(data, addr, now)
                    continue
            elif run:
                records += len(run)
                self._receive_dtls(run, cast(Address, direct), now)
                run = []
            agent.receive_datagrams(((data, addr),), now, local)
        if run:
            records += len(run)
            self._receive_dtls(run, cast(Address, direct), now)
        self.packets_received += n
        self.bytes_received += nbytes
        self.counters["dtls_records_received"] += records
        # lower=False: only the agent had input and DTLS/SCTP are quiet (_quiet_below)
        self._pump(now, bool(records) or media or not self._quiet_below(now))

    def _receive_dtls(self, datagrams: list[bytes], remote: Address, now: float) -> None:
        """DTLS records from ``remote`` in, their plaintext (SCTP packets, one per record,
        RFC 8261 §5) on to SCTP once it runs; before that it waits in the DTLS connection
        (bounded) and :meth:`_pump` hands it on after the handshake event."""
        self._lower_ok = False
        self.dtls.receive_datagrams(datagrams, remote, now)
        if self._sctp_started:
            self._hand_plaintext_to_sctp(now)

    def _hand_plaintext_to_sctp(self, now: float) -> bool:
        packets = self.dtls.take_application_data()
        if not packets:
            return False
        if self.tracer is not None:  # observation point: SCTP out of DTLS
            self.tracer.packets_received(packets, now)
        self.sctp.receive_packets(packets, now)
        return True

    def _receive_media(self, data: bytes, addr: Address, now: float) -> None:
        """A datagram for the peer connection that is not DTLS: SRTP/SRTCP to the media
        plane, anything else dropped."""
        self._lower_ok = False
        if not self.media.receive(data, addr, now):
            self.counters["dropped_demux"] += 1

    def transmits(self, now: float) -> list[Transmit]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of the cores inside; :attr:`_now` (the last time given)
        while events or datagrams wait to be taken, so the driver comes back at once
        after an API call queued something (the contract's pending-output rule)."""
        if self._events or self._out:
            return self._now
        # a running minimum: this is read after every drain (twice per idle consent check)
        agent = self.ice.agent
        best = agent.get_timer() if agent is not None else None
        t = self._lower_at if self._lower_ok and not self.sctp.touched else self._lower_timer()
        if t is not None and (best is None or t < best):
            best = t
        if self.media.started:
            t = self.media.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def _lower_timer(self) -> float | None:
        """DTLS's and SCTP's earliest deadline, asked of both and kept (``_lower_at``)."""
        best = self.dtls_transport.get_timer()
        if self._sctp_started:
            t = self.sctp.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        self._lower_at = best
        self._lower_ok = True
        self.sctp.touched = False
        return best

    def _quiet_below(self, now: float) -> bool:
        """Whether DTLS and SCTP have nothing to do at ``now`` (and there is no media):
        untouched since :meth:`get_timer` read their deadline (nothing handed to them, no
        data channel API call) and that deadline (pending output would make it "now")
        still ahead. Then an input or a timer for the ICE agent alone (the three wake-ups
        of an idle connection's consent round, RFC 7675) need not ask them anything.
        This relies on :meth:`_pump` leaving no event unread in them: an unread event
        does not move their deadline (docs/peerconnection.md, "idle CPU")."""
        if not self._lower_ok or self.sctp.touched or self.media.started:
            return False
        at = self._lower_at
        return at is None or at > now

    def handle_timer(self, now: float) -> None:
        agent = self.ice.agent
        if agent is not None:
            t = agent.get_timer()
            if t is not None and t <= now:
                agent.handle_timer(now)
        if self._quiet_below(now):  # the consent check's timer: for the agent alone
            self._pump(now, lower=False)
            return
        self._lower_ok = False
        self.dtls_transport.handle_timer(now)
        if self._sctp_started:
            t = self.sctp.get_timer()
            if t is not None and t <= now:
                self.sctp.handle_timer(now)
        if self.media.started:
            self.media.handle_timer(now)
        self._pump(now)
        self._lower_timer()  # drained: their deadline, kept for the inputs until then

    def close(self, now: float) -> None:
        """W3C close() (webrtc-pc §4.4.1.5): SCTP ABORT, DTLS close_notify, ICE stops;
        no state-change events fire (the spec sets the states silently)."""
        if self.closed:
            return
        self.closed = True  # from here on no state-change event fires
        self.media.close()
        self.negotiation.close()
        if self._sctp_started:
            self.sctp.association.abort("peer connection closed")
            for channel in self.sctp.channels:
                channel.ready_state = "closed"
                self._events.push(ChannelClosed(channel))
        else:
            # SCTP never started (closed before DTLS came up): the channels made so far
            # close here too, and the manager forgets them (a kept channel would hold the
            # manager, its ``_manager``, in a reference cycle left to the collector).
            sctp = self.sctp
            for channel in sctp.all_channels():
                sctp.close_channel(channel)
            event = sctp.next_event()
            while event is not None:
                self._events.push(event)
                event = sctp.next_event()
        self._pump(now)
        self.dtls_transport.close(now)
        self._pump(now)
        if self.agent is not None:
            self.agent.close(now)
            self._pump(now)
        self.transports.close()

    def emit_event(self, event: Event) -> None:
        self._events.push(event)

    # ------------------------------------------------------------------ mDNS candidates
    def take_mdns_candidates(self) -> list[tuple[Candidate, str | None]]:
        """The remote mDNS candidates (with the remote ufrag they belong to) given since
        the last call. The driver resolves each name with a one-shot query (RFC 6762
        §5.1) and calls :meth:`add_resolved_candidate` with the answer."""
        return self.ice.take_mdns_candidates()

    def add_resolved_candidate(
        self, candidate: Candidate, address: str | None, now: float, ufrag: str | None
    ) -> bool:
        """Give the agent an mDNS candidate with the address its name resolved to (None:
        nobody answered; the candidate stays ignored, counted). The remote description
        keeps the name, as browsers do. False when dropped: unresolved, a duplicate, or
        stale (an ICE restart came in between, RFC 8838 §8)."""
        if self.closed and address is not None:
            return False
        added = self.ice.add_resolved_candidate(candidate, address, now, ufrag)
        self._pump(now)
        return added

    # ================================================================== internals
    def set_configuration(self, configuration: Configuration) -> None:
        """W3C setConfiguration (webrtc-pc §4.4.1.6 "set a configuration"): the ICE servers
        and transport policy take effect at the next gathering phase (an ICE restart;
        the driver resolves the server URLs into ``ice.stun_servers`` /
        ``ice.turn_servers``); what cannot change: :meth:`Configuration.check_update`."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        negotiation = self.negotiation
        described = negotiation.pending_local is not None or negotiation.current_local is not None
        self.configuration.check_update(configuration, described=described)
        self.configuration = configuration

    def _on_ice_event(self, event: Event, now: float) -> None:
        """ICE's events: data and the selected pair concern the data path (here); the
        rest goes to the W3C states and the negotiator (:meth:`BundleTransports.on_ice_event`)."""
        kind = type(event)
        if kind is DataReceived:
            # what the agent passed on: from a relayed pair, or before a pair was selected
            assert isinstance(event, DataReceived)
            data = event.data
            if data and FOR_DTLS[data[0]]:
                self.counters["dtls_records_received"] += 1
                self._receive_dtls([data], event.remote, now)
            else:
                self._receive_media(data, event.remote, now)
        elif kind is SelectedPairChanged:
            assert isinstance(event, SelectedPairChanged)
            self.dtls.set_remote_address(event.remote.address)
            # a relayed pair's data comes from the TURN server: only direct pairs go fast
            direct = event.local.type.value != "relay"
            self._direct_remote = event.remote.address if direct else None
            self.transports.start_dtls(now)
        else:  # candidates, gathering, ICE state, candidate errors
            self.transports.on_ice_event(event)

    def _on_dtls_event(self, event: Event, now: float) -> None:
        """The handshake starts SCTP (here); the SRTP keys, the DTLS state and media:
        :meth:`BundleTransports.on_dtls_event`."""
        if isinstance(event, HandshakeCompleted):
            self.sctp.set_dtls_role("client" if self.dtls_transport.is_client else "server")
            version = self.dtls.version
            if not self._sctp_started and version is not None:
                # RFC 8261 §5: one SCTP packet a record, sized for this version (1.3: 22 B)
                with contextlib.suppress(SctpError):  # a size SCTP refuses: keep the 1.2 one
                    self.sctp.set_max_packet_size(self.settings.mtu - version.record_overhead)
            self._sctp_started = True
            # RFC 8841 §9.3: both ends send INIT (RFC 9260 §5.2.1 resolves the collision;
            # werift picks the initiator by ICE role, so waiting could wait forever). Ours
            # leaves in _pump after the records of the last flight: the peer's COOKIE ECHO
            # then establishes us (§5.1 D) and §5.2.3 discards its late INIT ACK to our
            # INIT, one COOKIE ECHO/ACK pair fewer on the path to "open".
            self._sctp_connect_due = True
        self.transports.on_dtls_event(event, now)

    def _pump(self, now: float, lower: bool = True) -> None:
        """The drain invariant across the layers: events up, bytes down, until quiet.
        ``lower=False``: only the ICE agent had an input or a timer and the caller found
        DTLS, SCTP and media quiet (:meth:`_quiet_below`, asked once per input or timer):
        they are looked at only if the agent has an event (which may start or feed them)."""
        self._now = now
        if lower:
            self._lower_ok = False
        agent = self.ice.agent
        dtls = self.dtls
        sctp = self.sctp
        tracer = self.tracer
        # One pass carries events up and bytes down; a pass that handled no event ends
        # the pump (the first pass always sends: an API call may have queued data). A
        # first pass that handled no event and sent nothing ends it too (an idle
        # connection's consent check: no second look at every layer's events); what was
        # sent may have made events (SCTP's bufferedamountlow), so then a pass follows.
        first = True
        for _ in range(10000):
            if agent is None:
                agent = self.ice.agent
                if agent is None:
                    break
            handled = False
            event = agent.next_event()
            while event is not None:
                handled = True
                if tracer is not None:  # observation point: ICE's events
                    tracer.event(agent, event, now)
                self._on_ice_event(event, now)
                event = agent.next_event()
            if not lower:
                if not handled:
                    break  # the agent's input made no event: its datagrams below
                lower = True
                self._lower_ok = False
            event = dtls.next_event()
            while event is not None:
                handled = True
                if tracer is not None:  # observation point: DTLS's events
                    tracer.event(dtls, event, now)
                self._on_dtls_event(event, now)
                event = dtls.next_event()
            sctp_up = self._sctp_started
            # plaintext that waited for the handshake event (or came with it: the
            # client's INIT rides with its Finished) goes in before our INIT below
            if sctp_up and self._hand_plaintext_to_sctp(now):
                handled = True
            if self._sctp_connect_due:
                self._sctp_connect_due = False
                sctp.connect(now)
            if sctp_up:
                # every data channel event goes up as is (one per received message)
                push = self._events.push
                next_sctp = sctp.next_event
                while True:
                    try:
                        event = next_sctp()
                    except SctpError:
                        event = self._next_sctp_event(failed=1)
                    if event is None:
                        break
                    handled = True
                    if tracer is not None:  # observation point: SCTP's events
                        tracer.event(sctp, event, now)
                    push(event)
            media = self.media if self.media.started else None
            if media is not None and media.take_events(self._events.push):
                handled = True
            if not handled and not first:
                break
            first = False
            sent = False
            if sctp_up:
                # One SCTP packet per DTLS record per datagram (RFC 8261 §5): peers that
                # read one record per datagram (aiortc/pyOpenSSL) would otherwise lag.
                # Once DTLS ended, SCTP's output is lost like on a broken path.
                packets = sctp.packets_to_send(now)
                if packets:
                    sent = True
                if packets and dtls.is_established:
                    if tracer is not None:  # observation point: SCTP into DTLS
                        tracer.packets_sent(packets, now)
                    agent.send_many(dtls.protect_many(packets), now)
            if media is not None:
                for protected in media.datagrams_to_send(now):
                    sent = True
                    agent.send(protected, now)
            if self.dtls_transport.started:
                for data, _addr in dtls.datagrams_to_send(now):
                    sent = True
                    agent.send(data, now)
            if not (handled or sent) and not (sctp_up and sctp.association.has_events()):
                # (packets_to_send may queue an SCTP event: the next pass reads it, else
                # it would wait unseen for the next wake-up that reads SCTP's events)
                break
        out = agent.transmits(now) if agent is not None else []
        if out:
            self.packets_sent += len(out)
            self.bytes_sent += sum(map(len, map(_first, out)))
            if tracer is not None:  # observation point: the wire, out
                tracer.datagrams_sent(out, now)
            self._out.extend(out)

    def _next_sctp_event(self, failed: int = 0) -> Event | None:
        """The data channel manager's next event. A DATA_CHANNEL_OPEN read after the
        association ended (an ABORT in the same burst) makes the manager's ACK raise
        AssociationClosedError: dropped and counted (requests.md, FROM pc TO datachannel).
        ``failed``: such errors the caller already met (and this counts)."""
        if failed:
            self.counters["sctp_events_after_close"] = (
                self.counters.get("sctp_events_after_close", 0) + failed
            )
        for _ in range(64 - failed):
            try:
                return self.sctp.next_event()
            except SctpError:
                self.counters["sctp_events_after_close"] = (
                    self.counters.get("sctp_events_after_close", 0) + 1
                )
        return None
