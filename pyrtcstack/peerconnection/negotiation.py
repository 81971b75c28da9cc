"""Signaling for the sans-I/O peer connection: JSEP (RFC 9429) on top of the pure
offer/answer functions of :mod:`pyrtcstack.sdp.jsep`.

This mixin keeps the four descriptions (pending/current × local/remote), runs the
signaling state machine (:func:`~pyrtcstack.peerconnection.states.next_signaling_state`),
maps m= sections to transceivers and the data channel, and applies a completed
negotiation to the transports: ICE credentials and candidates (RFC 8839), DTLS role and
fingerprints (RFC 8842), SCTP port and max-message-size (RFC 8841), codecs and
directions (RFC 3264).
"""

from __future__ import annotations

import random
import string
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..common.core import Event, random_text
from ..common.errors import ParseError
from ..dtls import DtlsCertificate, DtlsRole
from ..dtls import Fingerprint as DtlsFingerprint
from ..ice import MAX_REMOTE_CANDIDATES, IceStaleCandidateError
from ..ice.mdns import is_mdns_name
from ..media.g711 import alaw_encode, ulaw_encode
from ..sdp import (
    Candidate,
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    MediaDescription,
    Msid,
    OfferSection,
    SessionDescription,
    TransportParameters,
    create_answer,
    create_offer,
    remote_max_message_size,
    remote_sctp_port,
)
from ..sdp.errors import OfferAnswerError
from .description import Description
from .events import IceCandidateEvent, SignalingStateChange, TrackEvent
from .states import InvalidStateError, next_signaling_state
from .transceiver import MEDIA_CODECS, Transceiver, default_codecs

if TYPE_CHECKING:
    from ..dtls import DtlsConnection
    from ..ice import IceAgent
    from ..media.sources import Track
    from ..sctp import SctpConfig
    from .config import Settings

__all__ = ["NegotiationMixin"]

_STATIC_PT = {"pcmu": 0, "pcma": 8}
#: RFC 8839 §5.4 ice-char; RFC 8445 §5.3: ufrag ≥ 24 and pwd ≥ 128 bits of randomness.
_ICE_CHARS = string.ascii_letters + string.digits + "+/"
_UFRAG_LENGTH = 8
_PWD_LENGTH = 24
_REVERSE = {"sendonly": "recvonly", "recvonly": "sendonly"}


def _warm_codec(name: str) -> None:
    """Build the G.711 tables now, not in the middle of the DTLS handshake (their first
    use costs ~0.1 s; see requests.md "FROM pc TO media")."""
    if name.upper() == "PCMU":
        ulaw_encode(b"\x00\x00")
    elif name.upper() == "PCMA":
        alaw_encode(b"\x00\x00")


def _first_live(desc: SessionDescription) -> MediaDescription | None:
    return next((m for m in desc.media if not m.rejected), None)


class NegotiationMixin:
    """Offers, answers and descriptions of :class:`PeerConnectionCore`.

    The core's state is in ``__slots__``, declared here (the base class): a core lives as
    long as its connection and has more attributes than an instance dict shares keys for
    (30), so a dict cost 1.5 KiB per connection."""

    __slots__ = (
        "_complete_ufrags",
        "_direct_remote",
        "_dtls_role",
        "_dtls_started",
        "_early_media",
        "_events",
        "_held_ice_events",
        "_ice_ufrag_to_replace",
        "_last_remote_offer",
        "_local_candidates",
        "_mdns_pending",
        "_media_started",
        "_mid_counter",
        "_mids",
        "_negotiation_pending",
        "_now",
        "_offer_credentials",
        "_out",
        "_restarted_by",
        "_rng",
        "_sctp_started",
        "_srtp_client",
        "_srtp_keys",
        "_ssrc_map",
        "_stream_id",
        "agent",
        "bytes_received",
        "bytes_sent",
        "certificate",
        "closed",
        "cname",
        "configuration",
        "connection_state",
        "counters",
        "current_local",
        "current_remote",
        "dc_mid",
        "dtls",
        "dtls_state",
        "gathering_started",
        "ice_connection_state",
        "ice_gathering_state",
        "mdns_names",
        "packets_received",
        "packets_sent",
        "pending_local",
        "pending_remote",
        "sctp",
        "sctp_config",
        "sctp_wanted",
        "settings",
        "signaling_state",
        "srtp",
        "stun_servers",
        "tracer",
        "transceivers",
        "turn_servers",
    )

    # provided by PeerConnectionCore
    closed: bool
    counters: dict[str, int]
    signaling_state: str
    agent: IceAgent | None
    dtls: DtlsConnection
    certificate: DtlsCertificate
    settings: Settings
    sctp_config: SctpConfig
    transceivers: list[Transceiver]
    _rng: random.Random
    _dtls_role: DtlsRole | None
    _emit: Callable[[Event], None]
    _pump: Callable[[float], None]
    _ensure_agent: Callable[[bool], IceAgent]
    _maybe_start_dtls: Callable[[float], None]
    _sync_agent_config: Callable[[], None]
    _maybe_start_media: Callable[[float], None]
    _update_negotiation_needed: Callable[[], None]

    def _init_negotiation(self) -> None:
        self.pending_local: tuple[str, SessionDescription] | None = None
        self.current_local: tuple[str, SessionDescription] | None = None
        self.pending_remote: tuple[str, SessionDescription] | None = None
        self.current_remote: tuple[str, SessionDescription] | None = None
        self._last_remote_offer: SessionDescription | None = None
        self._mids: list[str] = []
        self.dc_mid: str | None = None
        self._mid_counter = 0
        self.sctp_wanted = False
        self._negotiation_pending = False
        self._local_candidates: list[tuple[Candidate, str]] = []
        self._complete_ufrags: set[str] = set()
        self._held_ice_events: list[IceCandidateEvent] = []
        #: new ICE credentials of the last restart offer created, applied to the agent
        #: only when that offer is set as the local description (JSEP §5.2.1, §4.1.10)
        self._offer_credentials: tuple[str, str] | None = None
        #: which pending description ("local"/"remote") restarted the agent, so that a
        #: rollback can undo the restart (JSEP §5.7)
        self._restarted_by: str | None = None
        #: W3C [[LocalIceCredentialsToReplace]] (restartIce, webrtc-pc §4.4.1.6): the
        #: ufrag every offer replaces until an answer brings other local credentials
        self._ice_ufrag_to_replace: str | None = None
        #: our host IP -> its mDNS name (Settings.mdns_host_candidates), for the driver
        #: to publish
        self.mdns_names: dict[str, str] = {}
        #: remote candidates named by mDNS, waiting for the driver to resolve them
        self._mdns_pending: list[tuple[Candidate, str | None]] = []
        self.cname = random_text(self._rng, "abcdefghijklmnopqrstuvwxyz0123456789", 16)
        self._stream_id = random_text(self._rng, "abcdef0123456789", 12)

    # ------------------------------------------------------------------ descriptions
    @property
    def local_description(self) -> Description | None:
        d = self.pending_local or self.current_local
        return Description(d[0], str(d[1])) if d is not None else None

    @property
    def remote_description(self) -> Description | None:
        d = self.pending_remote or self.current_remote
        return Description(d[0], str(d[1])) if d is not None else None

    @property
    def current_local_description(self) -> Description | None:
        d = self.current_local
        return Description(d[0], str(d[1])) if d is not None else None

    @property
    def current_remote_description(self) -> Description | None:
        d = self.current_remote
        return Description(d[0], str(d[1])) if d is not None else None

    @property
    def pending_local_description(self) -> Description | None:
        d = self.pending_local
        return Description(d[0], str(d[1])) if d is not None else None

    @property
    def pending_remote_description(self) -> Description | None:
        d = self.pending_remote
        return Description(d[0], str(d[1])) if d is not None else None

    # ------------------------------------------------------------------ transceivers
    def add_transceiver(
        self,
        kind: str,
        *,
        direction: str = "sendrecv",
        track: Track | None = None,
        codecs: list[CodecCapability] | None = None,
    ) -> Transceiver:
        """W3C addTransceiver (webrtc-pc §4.4.1.6, §5.1)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        if kind not in ("audio", "video"):
            raise OfferAnswerError(f"only audio and video transceivers are supported, not {kind!r}")
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise ValueError(f"direction {direction!r}")
        if track is not None and track.codec.kind != kind:
            raise ValueError(f"a {track.codec.kind} track on a {kind} transceiver")
        tr = self._new_transceiver(kind, direction, track)
        if track is not None:
            _warm_codec(track.codec.name)
        if codecs:
            tr.set_codec_preferences(codecs)
        self.transceivers.append(tr)
        self._update_negotiation_needed()
        return tr

    def _new_transceiver(self, kind: str, direction: str, track: Track | None) -> Transceiver:
        tr = Transceiver(
            kind, direction, track, codecs=default_codecs(kind), ssrc=self._rng.getrandbits(32)
        )
        if kind == "video":
            tr.rtx_ssrc = self._rng.getrandbits(32)  # RFC 4588 §8.1: its own SSRC
        return tr

    def add_track(self, track: Track) -> Transceiver:
        """W3C addTrack (webrtc-pc §5.1): reuse a transceiver that never sent, else add."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        kind = track.codec.kind
        _warm_codec(track.codec.name)
        for tr in self.transceivers:
            if tr.kind == kind and tr.track is None and not tr.stopped:
                tr.track = track
                if tr.direction == "recvonly":
                    tr.direction = "sendrecv"
                elif tr.direction == "inactive":
                    tr.direction = "sendonly"
                self._update_negotiation_needed()
                return tr
        return self.add_transceiver(kind, direction="sendrecv", track=track)

    def restart_ice(self) -> None:
        """W3C restartIce (webrtc-pc §4.4.1.6): every offer restarts ICE until an answer
        is applied with new local credentials; negotiationneeded fires (in stable)."""
        if self.closed:
            return
        if self.current_local is not None and self.agent is not None:
            self._ice_ufrag_to_replace = self.agent.local_ufrag
        self._update_negotiation_needed()

    def _restart_requested(self) -> bool:
        agent = self.agent
        return (
            agent is not None
            and self._ice_ufrag_to_replace is not None
            and agent.local_ufrag == self._ice_ufrag_to_replace
        )

    def _needs_negotiation(self) -> bool:
        if self.sctp_wanted and self.dc_mid is None:
            return True
        if self._restart_requested():
            return True
        return any(tr.mid is None and not tr.stopped for tr in self.transceivers)

    def _new_mid(self) -> str:
        taken = set(self._mids)
        while str(self._mid_counter) in taken:
            self._mid_counter += 1
        mid = str(self._mid_counter)
        self._mid_counter += 1
        return mid

    def _caps(self, tr: Transceiver, *, answering: bool = False) -> MediaCapabilities:
        codecs = []
        for c in tr.offered_codecs(answering=answering):
            pt = c.payload_type if c.payload_type is not None else _STATIC_PT.get(c.name.lower())
            codecs.append(
                CodecCapability(
                    c.name,
                    c.clock_rate,
                    c.channels,
                    dict(c.parameters),
                    list(c.feedback),
                    pt,
                    c.rtx and tr.kind == "video",
                )
            )
        return MediaCapabilities(
            tr.kind,
            codecs,
            direction=tr.direction,
            msid=Msid(self._stream_id, f"track-{tr.ssrc:08x}"),
            ssrc=tr.ssrc,
            rtx_ssrc=tr.rtx_ssrc if any(c.rtx for c in codecs) else None,
            cname=self.cname,
        )

    def _transport(self, ufrag: str, pwd: str) -> TransportParameters:
        fp = self.certificate.fingerprint()
        return TransportParameters(
            fingerprints=[Fingerprint(fp.algorithm, fp.value)],
            ice_ufrag=ufrag,
            ice_pwd=pwd,
            candidates=[c for c, u in self._local_candidates if u == ufrag],
            end_of_candidates=ufrag in self._complete_ufrags,
        )

    # ------------------------------------------------------------------ offer / answer
    def create_offer(self, now: float, *, ice_restart: bool = False) -> Description:
        """W3C createOffer (JSEP §5.2). With ``ice_restart`` (or after restart_ice())
        the offer carries new ICE credentials (JSEP §5.2.3.1); the agent takes them when
        the offer is set as local description, until then (and after a rollback) the
        old ones stay in use (RFC 8445 §9: data keeps flowing on the old pair)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        agent = self._ensure_agent(True)
        ufrag, pwd = agent.local_ufrag, agent.local_pwd
        if (ice_restart or self._restart_requested()) and self.current_local is not None:
            ufrag = random_text(self._rng, _ICE_CHARS, _UFRAG_LENGTH)
            pwd = random_text(self._rng, _ICE_CHARS, _PWD_LENGTH)
            self._offer_credentials = (ufrag, pwd)
        sections: list[OfferSection] = []
        by_mid = {tr.mid: tr for tr in self.transceivers if tr.mid is not None}
        order = list(self._mids)
        for tr in self.transceivers:
            if tr.mid is None and not tr.stopped:
                tr.mid = self._new_mid()
                order.append(tr.mid)
                by_mid[tr.mid] = tr
        if self.sctp_wanted and self.dc_mid is None:
            self.dc_mid = self._new_mid()
            order.append(self.dc_mid)
        for mid in order:
            if mid == self.dc_mid:
                sections.append(
                    OfferSection(
                        mid,
                        DataChannelCapabilities(max_message_size=self.sctp_config.max_message_size),
                    )
                )
            elif mid in by_mid:
                tr = by_mid[mid]
                sections.append(OfferSection(mid, self._caps(tr), stopped=tr.stopped))
        self._mids = order
        previous = self.current_local[1] if self.current_local else None
        desc = create_offer(
            sections,
            self._transport(ufrag, pwd),
            rng=self._rng,
            previous=previous,
            bundle=True,
        )
        return Description("offer", str(desc))

    def create_answer(self, now: float) -> Description:
        """W3C createAnswer (JSEP §5.3)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        if self.signaling_state not in ("have-remote-offer", "have-local-pranswer"):
            raise InvalidStateError(f"createAnswer in signaling state {self.signaling_state}")
        assert self.pending_remote is not None and self.agent is not None
        offer = self.pending_remote[1]
        media: list[MediaCapabilities] = []
        kinds: set[str] = set()
        level = offer.defaults()  # read the session level once, not per section
        by_mid = self._transceivers_by_mid()
        for m in offer.media:
            tr = by_mid.get(m.mid)
            if tr is not None and tr.kind not in kinds and not m.rejected:
                kinds.add(tr.kind)
                # answer with the track's codec alone when it was offered (see
                # Transceiver.offered_codecs), else with everything we can receive
                track = tr.track
                sending = track is not None and any(
                    c.name.lower() == track.codec.name.lower() for c in m.codecs(level)
                )
                media.append(self._caps(tr, answering=sending))
        has_dc = any(m.kind == "application" and not m.rejected for m in offer.media)
        local = LocalCapabilities(
            self._transport(self.agent.local_ufrag, self.agent.local_pwd),
            media=media,
            datachannel=(
                DataChannelCapabilities(max_message_size=self.sctp_config.max_message_size)
                if has_dc
                else None
            ),
            setup="active",
        )
        previous = self.current_local[1] if self.current_local else None
        desc = create_answer(
            offer,
            local,
            rng=self._rng,
            previous=previous,
            previous_offer=self._last_remote_offer if previous is not None else None,
        )
        return Description("answer", str(desc))

    def _transceivers_by_mid(self) -> dict[str | None, Transceiver]:
        """mid → the first transceiver with it, in one pass: loops over a description's
        sections look transceivers up here, so N sections cost N, not N² (issue 14)."""
        by_mid: dict[str | None, Transceiver] = {}
        for tr in self.transceivers:
            if tr.mid is not None:
                by_mid.setdefault(tr.mid, tr)
        return by_mid

    # ------------------------------------------------------------------ set descriptions
    def set_local_description(self, description: Description, now: float) -> None:
        """W3C setLocalDescription with an explicit description (JSEP §5.5)."""
        kind = description.type
        new_state = next_signaling_state(self.signaling_state, "local", kind)
        if kind == "rollback":
            self.pending_local = None
            if self._restarted_by == "local":
                self._cancel_restart(now)
            self._set_signaling(new_state)
            self._pump(now)
            return
        desc = SessionDescription.parse(description.sdp)
        agent = self._ensure_agent(kind == "offer")
        live = _first_live(desc)
        ufrag = live.effective_ice_ufrag(desc) if live is not None else None
        restart = False
        if ufrag is not None and ufrag != agent.local_ufrag:
            # JSEP §5.2.1/§4.1.10: the credentials of a restart offer take effect now
            pwd = live.effective_ice_pwd(desc) if live is not None else None
            if kind != "offer" or self._offer_credentials != (ufrag, pwd):
                raise InvalidStateError("the description's ice-ufrag/ice-pwd are not ours")
            restart = True
        provisional = self.pending_local
        if kind != "offer" and provisional is not None and provisional[0] == "pranswer":
            self._check_final_answer(desc, provisional[1])
        if kind == "offer":
            self.pending_local = (kind, desc)
            self._mids = [m.mid for m in desc.media if m.mid is not None]
        elif kind == "pranswer":
            # W3C §4.4.1.5: a provisional answer is pending; the offer stays pending too
            self.pending_local = (kind, desc)
        else:
            self.current_local = (kind, desc)
            self.current_remote = self.pending_remote
            self.pending_local = self.pending_remote = None
        if restart:
            assert ufrag is not None and self._offer_credentials is not None
            self._sync_agent_config()  # a gathering phase: new servers, policy
            agent.restart(now, ufrag=ufrag, pwd=self._offer_credentials[1])
            self._offer_credentials = None
            if self._restarted_by is None:
                self._restarted_by = "local"
        # Candidates gathered so far belong in the description (W3C localDescription).
        for cand, u in self._local_candidates:
            if (
                u == ufrag
                and live is not None
                and not any(str(c) == str(cand) for c in live.candidates)
            ):
                live.add_candidate(cand)
        if ufrag in self._complete_ufrags and live is not None and not live.end_of_candidates:
            live.add_attribute("end-of-candidates")
        held, self._held_ice_events = self._held_ice_events, []
        for ev in held:
            if ev.username_fragment == ufrag:
                self._emit(ev)
            else:
                self._held_ice_events.append(ev)
        if kind == "answer":
            self._answer_applied()
        self._set_signaling(new_state)
        if kind == "answer":
            self._apply_negotiation(now)
        elif kind == "pranswer":
            self._apply_negotiation(now, provisional=True)
        self._pump(now)

    def _check_final_answer(
        self, final: SessionDescription, provisional: SessionDescription
    ) -> None:
        """A final answer (or another pranswer) after a provisional one (RFC 9429
        §4.1.10.1) may change media, but our single transport was set up by the pranswer:
        its ICE credentials and DTLS role (a=setup) must stay (else OfferAnswerError,
        nothing changed)."""
        old, new = _first_live(provisional), _first_live(final)
        if old is None or new is None:
            return
        if (old.effective_ice_ufrag(provisional), old.effective_setup(provisional)) != (
            new.effective_ice_ufrag(final),
            new.effective_setup(final),
        ):
            raise OfferAnswerError(
                "the final answer changes the ICE credentials or a=setup of the pranswer"
            )

    def _answer_applied(self) -> None:
        """An answer ends the offer/answer exchange: an ICE restart in it can no longer be
        rolled back, and restartIce() is satisfied once our credentials changed."""
        self._restarted_by = None
        agent = self.agent
        if agent is not None and agent.local_ufrag != self._ice_ufrag_to_replace:
            self._ice_ufrag_to_replace = None

    def _cancel_restart(self, now: float) -> None:
        """JSEP §5.7 rollback of a description that restarted ICE: the agent goes back
        to the old credentials and pair (RFC 8445 §9: data never left the old pair)."""
        self._restarted_by = None
        if self.agent is None:
            return
        self.agent.cancel_restart(now)
        ufrag = self.agent.local_ufrag
        self._held_ice_events = [
            ev for ev in self._held_ice_events if ev.username_fragment == ufrag
        ]

    def set_remote_description(self, description: Description, now: float) -> None:
        """W3C setRemoteDescription (JSEP §5.6, §5.7)."""
        kind = description.type
        new_state = next_signaling_state(self.signaling_state, "remote", kind)
        if kind == "rollback":
            self.pending_remote = None
            if self._restarted_by == "remote":
                self._cancel_restart(now)
            self._set_signaling(new_state)
            self._pump(now)
            return
        desc = SessionDescription.parse(description.sdp)
        live = _first_live(desc)
        if live is None and desc.media:
            raise OfferAnswerError("every m= section is rejected")
        ufrag = pwd = None
        fingerprints: list[DtlsFingerprint] = []
        if live is not None:
            ufrag, pwd = live.effective_ice_ufrag(desc), live.effective_ice_pwd(desc)
            if ufrag is None or pwd is None:
                raise OfferAnswerError("remote description lacks ice-ufrag/ice-pwd")
            for fp in live.effective_fingerprints(desc):
                try:
                    fingerprints.append(DtlsFingerprint.parse(str(fp)))
                except ParseError:  # DtlsDecodeError: a hash we do not know, bad hex
                    continue
            if not fingerprints:
                raise OfferAnswerError("remote description has no usable a=fingerprint")
        agent = self._ensure_agent(kind != "offer")
        provisional = self.pending_remote
        if kind != "offer" and provisional is not None and provisional[0] == "pranswer":
            self._check_final_answer(desc, provisional[1])
        if kind == "offer":
            gen = agent.generation
            if gen.remote_ufrag is not None and ufrag is not None and gen.remote_ufrag != ufrag:
                # RFC 8839 §4.4.1.1.1: the offerer restarts ICE; our new credentials go
                # in the answer (JSEP §5.3.1) and are used from now on so that our checks
                # can start; a rollback of this offer undoes the restart (JSEP §5.7)
                self._sync_agent_config()
                agent.restart(now)
                if self._restarted_by is None:
                    self._restarted_by = "remote"
            self.pending_remote = (kind, desc)
            self._last_remote_offer = desc
            self._adopt_remote_offer(desc)
        elif kind == "pranswer":
            # W3C §4.4.1.5: a provisional answer is pending; our offer stays pending too
            self.pending_remote = (kind, desc)
        else:
            self.current_remote = (kind, desc)
            self.current_local = self.pending_local
            self.pending_local = self.pending_remote = None
            self._answer_applied()
        # Tracks: webrtc-pc §4.4.1.5 "process the addition of a remote track".
        level = desc.defaults()  # read the session level once, not per section
        by_mid = self._transceivers_by_mid()
        for m in desc.media:
            tr = by_mid.get(m.mid)
            if tr is None or m.rejected:
                continue
            tr.remote_ssrcs = list(m.ssrcs)
            if m.effective_direction(level) in ("sendrecv", "sendonly") and not tr.fired_track:
                tr.fired_track = True
                self._emit(TrackEvent(tr))
            if tr.payload_type is None:
                # Until the answer: the remote's preferred codec we know.
                for codec in m.codecs(level):
                    if codec.name.lower() in MEDIA_CODECS:
                        tr.payload_type = codec.payload_type
                        break
        app = next((m for m in desc.media if m.kind == "application" and not m.rejected), None)
        if app is not None:
            self.sctp_config.remote_port = remote_sctp_port(app)
            self.sctp_config.remote_max_message_size = remote_max_message_size(app)
        if ufrag is not None and pwd is not None and live is not None:
            agent.set_remote_credentials(ufrag, pwd, now, lite=live.effective_ice_lite(desc))
            for m in desc.media:
                if m.rejected:
                    continue
                for cand in m.candidates:
                    agent.add_remote_candidate(cand, now)
                    self._note_mdns(cand, ufrag)
            if any(m.effective_end_of_candidates(level) for m in desc.media if not m.rejected):
                agent.end_of_remote_candidates(now)
        if fingerprints:
            self.dtls.set_remote_fingerprints(fingerprints, now)
        self._set_signaling(new_state)
        if kind == "answer":
            self._apply_negotiation(now)
        elif kind == "pranswer":
            self._apply_negotiation(now, provisional=True)
        self._pump(now)

    def _adopt_remote_offer(self, offer: SessionDescription) -> None:
        """Match offered m= sections to transceivers (JSEP §5.10 / webrtc-pc §4.4.1.5),
        creating recvonly ones for new media sections. One pass over each list."""
        by_mid = self._transceivers_by_mid()
        free: dict[str, deque[Transceiver]] = {"audio": deque(), "video": deque()}
        for t in self.transceivers:
            if t.mid is None and not t.stopped and t.kind in free:
                free[t.kind].append(t)
        for m in offer.media:
            if m.mid is None:
                continue
            if m.kind == "application":
                self.dc_mid = m.mid
                continue
            if m.kind not in ("audio", "video") or m.mid in by_mid:
                continue
            if free[m.kind]:
                tr = free[m.kind].popleft()
            else:
                if m.rejected:
                    continue
                tr = self._new_transceiver(m.kind, "recvonly", None)
                self.transceivers.append(tr)
            tr.mid = m.mid
            by_mid[m.mid] = tr
        self._mids = [m.mid for m in offer.media if m.mid is not None]

    def _apply_negotiation(self, now: float, *, provisional: bool = False) -> None:
        """A negotiation finished (an answer was applied): DTLS role, directions, codecs.
        A provisional answer (pranswer, RFC 9429 §4.1.10.1) is applied the same way from
        the pending descriptions: ICE, DTLS and media may start before the final answer."""
        local_pair = self.pending_local if provisional else self.current_local
        remote_pair = self.pending_remote if provisional else self.current_remote
        assert local_pair is not None and remote_pair is not None
        offerer = local_pair[0] == "offer"
        answer = remote_pair[1] if offerer else local_pair[1]
        remote = remote_pair[1]
        live = _first_live(answer)
        if live is not None and self._dtls_role is None:
            setup = live.effective_setup(answer)
            # RFC 5763 §5: "active" opens the DTLS connection (the client).
            answerer_is_client = setup != "passive"
            we_are_client = answerer_is_client != offerer
            self._dtls_role = DtlsRole.CLIENT if we_are_client else DtlsRole.SERVER
        level, remote_by_mid = answer.defaults(), remote.mid_index()
        by_mid = self._transceivers_by_mid()
        for m in answer.media:
            if m.kind == "application" and not m.rejected:
                self.dc_mid = m.mid
                continue
            tr = by_mid.get(m.mid)
            if tr is None:
                continue
            if m.rejected:
                tr.current_direction = "inactive"
                continue
            d = m.effective_direction(level)
            tr.current_direction = _REVERSE.get(d, d) if offerer else d
            tr.apply_codecs(m.codecs(level))
            rm = remote_by_mid.get(m.mid) if m.mid is not None else None
            if rm is not None:
                tr.remote_ssrcs = list(rm.ssrcs)
            if (
                tr.track is not None
                and tr.codec is not None
                and tr.track.codec.name != tr.codec.name
            ):
                tr.current_direction = "recvonly" if tr.receives else "inactive"
        self._maybe_start_dtls(now)
        self._maybe_start_media(now)

    def _set_signaling(self, state: str) -> None:
        if state != self.signaling_state:
            self.signaling_state = state
            self._emit(SignalingStateChange(state))
            if state == "stable" and self._negotiation_pending:
                self._negotiation_pending = False
                self._update_negotiation_needed()
        if state == "stable" and not self._negotiation_pending and self._needs_negotiation():
            self._update_negotiation_needed()

    # ------------------------------------------------------------------ candidates
    def add_ice_candidate(
        self,
        candidate: str | None,
        now: float,
        *,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
        username_fragment: str | None = None,
    ) -> None:
        """W3C addIceCandidate (webrtc-pc §4.4.1.6 / JSEP §5.9): None or "" is the
        end-of-candidates indication (RFC 8838 §4.1)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        remote = self.pending_remote or self.current_remote
        if remote is None or self.agent is None:
            raise InvalidStateError("addIceCandidate before setRemoteDescription")
        desc = remote[1]
        if not candidate:
            self.agent.end_of_remote_candidates(now, username_fragment)
        else:
            parsed = Candidate.parse(candidate)
            self.agent.add_remote_candidate(parsed, now, username_fragment)
            self._note_mdns(parsed, username_fragment or self.agent.generation.remote_ufrag)
            media = None
            if sdp_mid is not None:
                media = desc.media_by_mid(sdp_mid)
            elif sdp_mline_index is not None and 0 <= sdp_mline_index < len(desc.media):
                media = desc.media[sdp_mline_index]
            if media is not None:
                media.add_candidate(parsed)
        self._pump(now)

    # ------------------------------------------------------------------ mDNS candidates
    def _note_mdns(self, candidate: Candidate, ufrag: str | None) -> None:
        """A remote candidate named ``<uuid>.local`` (how browsers hide host addresses,
        draft-ietf-mmusic-mdns-ice-candidates §3.2.1): the ICE agent drops such a name;
        the driver is asked to resolve it (:meth:`take_mdns_candidates`)."""
        if not is_mdns_name(candidate.address):
            return
        if len(self._mdns_pending) >= MAX_REMOTE_CANDIDATES:
            self.counters["mdns_dropped_busy"] = self.counters.get("mdns_dropped_busy", 0) + 1
            return
        self._mdns_pending.append((candidate, ufrag))

    def take_mdns_candidates(self) -> list[tuple[Candidate, str | None]]:
        """The remote mDNS candidates (with the remote ufrag they belong to) given since
        the last call. The driver resolves each name with a one-shot query (RFC 6762
        §5.1) and calls :meth:`add_resolved_candidate` with the answer."""
        out, self._mdns_pending = self._mdns_pending, []
        return out

    def add_resolved_candidate(
        self, candidate: Candidate, address: str | None, now: float, ufrag: str | None
    ) -> bool:
        """Give the agent an mDNS candidate with the address its name resolved to (None:
        nobody answered; the candidate stays ignored, counted). The remote description
        keeps the name, as browsers do. False when dropped: unresolved, a duplicate, or
        stale (an ICE restart came in between, RFC 8838 §8)."""
        counters = self.counters
        if address is None:
            counters["mdns_unresolved"] = counters.get("mdns_unresolved", 0) + 1
            return False
        if self.closed or self.agent is None:
            return False
        resolved = Candidate.parse(str(candidate))
        resolved.address = address
        try:
            added = self.agent.add_remote_candidate(resolved, now, ufrag)
        except IceStaleCandidateError:
            counters["mdns_stale"] = counters.get("mdns_stale", 0) + 1
            return False
        counters["mdns_resolved"] = counters.get("mdns_resolved", 0) + 1
        self._pump(now)
        return added

    def _local_live(self, ufrag: str) -> tuple[MediaDescription | None, int]:
        for pair in (self.pending_local, self.current_local):
            if pair is None:
                continue
            desc = pair[1]
            level = desc.defaults()
            for i, m in enumerate(desc.media):
                if not m.rejected and m.effective_ice_ufrag(level) == ufrag:
                    return m, i
        return None, 0

    def _hide_addresses(self, cand: Candidate) -> Candidate:
        """With ``Settings.mdns_host_candidates``: a host candidate's address becomes the
        random ``<uuid>.local`` name of that IP (draft-ietf-mmusic-mdns-ice-candidates
        §3.1.1, one name per address, kept for the life of the connection; the driver
        answers queries for it), and the related address of the other candidates, which
        names a host address or a mapping, becomes 0.0.0.0 / :: port 0."""
        if not self.settings.mdns_host_candidates:
            return cand
        hidden = Candidate.parse(str(cand))
        if cand.type == "host":
            name = self.mdns_names.get(cand.address)
            if name is None:
                name = f"{uuid.UUID(int=self._rng.getrandbits(128), version=4)}.local"
                self.mdns_names[cand.address] = name
            hidden.address = name
        elif cand.related_address is not None:
            hidden.related_address = "::" if ":" in cand.related_address else "0.0.0.0"
            hidden.related_port = 0
        return hidden

    def _on_local_candidate(self, cand: Candidate, ufrag: str) -> None:
        cand = self._hide_addresses(cand)
        self._local_candidates.append((cand, ufrag))
        media, index = self._local_live(ufrag)
        event = IceCandidateEvent(str(cand), media.mid if media else None, index, ufrag)
        if media is not None:
            media.add_candidate(cand)
            self._emit(event)
        else:
            self._held_ice_events.append(event)

    def _on_gathering_complete(self, ufrag: str) -> None:
        self._complete_ufrags.add(ufrag)
        media, index = self._local_live(ufrag)
        event = IceCandidateEvent(None, media.mid if media else None, index, ufrag)
        if media is not None:
            if not media.end_of_candidates:
                media.add_attribute("end-of-candidates")
            self._emit(event)
        else:
            self._held_ice_events.append(event)
