"""Signaling for the sans-I/O peer connection: JSEP (RFC 9429) on top of the pure
offer/answer functions of :mod:`pyrtcstack.sdp.jsep`.

:class:`Negotiator` is the part of :class:`~pyrtcstack.peerconnection.PeerConnectionCore`
that speaks SDP. It keeps the four descriptions (pending/current × local/remote), runs the
signaling state machine (:func:`~pyrtcstack.peerconnection.states.next_signaling_state`),
maps m= sections to transceivers and the data channel, fires ``negotiationneeded``
(webrtc-pc §4.7.3) and tells the transports what a description asks of them.

It never touches the ICE agent, the DTLS connection or SCTP itself. What it needs from
them is the :class:`Transports` protocol, which the core's ``BundleTransports`` part
implements (transports.py):

* asks: our ICE credentials (:meth:`Transports.local_ice_credentials`), the DTLS
  certificate's fingerprint, SCTP's max-message-size, the transceiver list;
* tells: the remote ICE credentials and candidates, the remote fingerprints and SCTP
  parameters of a remote description (one :class:`RemoteTransport` value, RFC 8839, RFC
  8842, RFC 8841), an ICE restart or its rollback (RFC 8445 §9, JSEP §5.7), and, once an
  answer is applied, the DTLS role (RFC 5763 §5) with :meth:`Transports.negotiated`.

Its events (``signalingstatechange``, ``track``, ``icecandidate``, ``negotiationneeded``)
go to :meth:`Transports.emit_event`, into the core's queue. The offer and answer
themselves are built in :mod:`pyrtcstack.peerconnection.offer_answer`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..common.core import Event, random_text
from ..common.errors import ParseError
from ..dtls import DtlsRole
from ..dtls import Fingerprint as DtlsFingerprint
from ..media import alaw_encode, ulaw_encode
from ..sdp import (
    Candidate,
    CodecCapability,
    MediaDescription,
    OfferAnswerError,
    SessionDescription,
    remote_max_message_size,
    remote_sctp_port,
)
from .candidates import LocalCandidates
from .description import Description
from .events import IceCandidateEvent, NegotiationNeeded, SignalingStateChange, TrackEvent
from .offer_answer import (
    ICE_CHARS,
    PWD_LENGTH,
    UFRAG_LENGTH,
    LocalParameters,
    build_answer,
    build_offer,
)
from .states import InvalidStateError, next_signaling_state
from .transceiver import MEDIA_CODECS, Transceiver, default_codecs

if TYPE_CHECKING:
    from ..media import Track
    from ..sdp import SessionDefaults

__all__ = ["Negotiator", "RemoteTransport", "Transports"]

_REVERSE = {"sendonly": "recvonly", "recvonly": "sendonly"}


class Transports(Protocol):
    """What the negotiator needs from the transports under it (ICE, DTLS, SCTP, the
    transceivers' media). The core's
    :class:`~pyrtcstack.peerconnection.transports.BundleTransports` implements it; a test
    can give a fake."""

    @property
    def transceivers(self) -> list[Transceiver]:
        """The connection's transceivers (webrtc-pc [[Transceivers]]), in order; the
        negotiator adds to it (addTransceiver, and m= sections of a remote offer)."""

    @property
    def local_fingerprint(self) -> DtlsFingerprint:
        """Our DTLS certificate's fingerprint (RFC 8122 §5)."""

    @property
    def max_message_size(self) -> int:
        """The largest message our SCTP accepts (RFC 8841 §6, ``a=max-message-size``)."""

    def local_ice_credentials(self, controlling: bool) -> tuple[str, str]:
        """Our ICE ufrag and pwd; the first call makes the ICE agent, ``controlling`` when
        we offer (RFC 8445 §6.1.1)."""

    @property
    def local_ice_ufrag(self) -> str | None:
        """Our current ICE ufrag, None before the first :meth:`local_ice_credentials`."""

    @property
    def remote_ice_ufrag(self) -> str | None:
        """The remote ICE ufrag in use, None before a remote description."""

    def restart_ice_agent(self, now: float, credentials: tuple[str, str] | None = None) -> None:
        """ICE restart (RFC 8445 §9) with these new local credentials, or fresh ones."""

    def cancel_ice_restart(self, now: float) -> None:
        """Undo the last restart (JSEP §5.7 rollback): the old credentials and pair."""

    def apply_remote_transport(self, remote: RemoteTransport, now: float) -> None:
        """Take the transport parameters of a remote description."""

    def add_remote_candidate(self, candidate: Candidate, now: float, ufrag: str | None) -> None:
        """A trickled remote candidate (RFC 8838 §4.1, addIceCandidate)."""

    def end_of_remote_candidates(self, now: float, ufrag: str | None) -> None:
        """The remote end-of-candidates indication (RFC 8838 §4.1)."""

    def negotiated(self, dtls_role: DtlsRole | None, now: float) -> None:
        """An answer (or pranswer) was applied: the DTLS role it gives us (None when every
        section is rejected); start what can start (DTLS, media)."""

    def emit_event(self, event: Event) -> None:
        """A W3C event for the application, in order with the transports' events."""


@dataclass(slots=True)
class RemoteTransport:
    """What a remote description asks of our transports (one bundled transport)."""

    #: ``a=ice-ufrag`` / ``a=ice-pwd`` of the first live section (RFC 8839 §5.4)
    ice_ufrag: str
    ice_pwd: str
    #: ``a=ice-lite`` (RFC 8839 §5.3)
    ice_lite: bool = False
    #: ``a=candidate`` lines of every live section (RFC 8839 §5.1)
    candidates: list[Candidate] = field(default_factory=list)
    #: ``a=end-of-candidates`` (RFC 8840 §4.1)
    end_of_candidates: bool = False
    #: ``a=fingerprint`` values we can check (RFC 8122 §5)
    fingerprints: list[DtlsFingerprint] = field(default_factory=list)
    #: ``a=sctp-port`` and ``a=max-message-size`` of a live application section (RFC
    #: 8841 §5, §6), None without one
    sctp: tuple[int, int] | None = None


def _warm_codec(name: str) -> None:
    """Build the G.711 tables now, not in the middle of the DTLS handshake (their first
    use costs ~0.1 s; see requests.md "FROM pc TO media")."""
    if name.upper() == "PCMU":
        ulaw_encode(b"\x00\x00")
    elif name.upper() == "PCMA":
        alaw_encode(b"\x00\x00")


def _first_live(desc: SessionDescription) -> MediaDescription | None:
    return next((m for m in desc.media if not m.rejected), None)


def _as_description(pair: tuple[str, SessionDescription] | None) -> Description | None:
    return Description(pair[0], str(pair[1])) if pair is not None else None


class Negotiator:
    """Offers, answers, descriptions and the signaling state of one peer connection
    (JSEP, RFC 9429; the W3C API of webrtc-pc §4.4.1)."""

    __slots__ = (
        "_held_ice_events",
        "_last_remote_offer",
        "_mid_counter",
        "_mids",
        "_negotiation_pending",
        "_offer_credentials",
        "_restarted_by",
        "_rng",
        "_stream_id",
        "candidates",
        "closed",
        "cname",
        "current_local",
        "current_remote",
        "dc_mid",
        "ice_ufrag_to_replace",
        "pending_local",
        "pending_remote",
        "sctp_wanted",
        "signaling_state",
        "transports",
    )

    def __init__(
        self,
        transports: Transports,
        rng: random.Random,
        *,
        hide_host_addresses: bool = False,
    ) -> None:
        #: the core, through a weak reference (``weakref.proxy``) when the core gives
        #: one: the core owns the negotiator, and a negotiator holding the core would
        #: make a reference cycle, so a dropped connection would wait for the cyclic
        #: garbage collector instead of being freed at once
        self.transports = transports
        self._rng = rng
        self.closed = False
        self.signaling_state = "stable"
        self.pending_local: tuple[str, SessionDescription] | None = None
        self.current_local: tuple[str, SessionDescription] | None = None
        self.pending_remote: tuple[str, SessionDescription] | None = None
        self.current_remote: tuple[str, SessionDescription] | None = None
        self._last_remote_offer: SessionDescription | None = None
        self._mids: list[str] = []
        #: the mid of the application (data channel) m= section, once there is one
        self.dc_mid: str | None = None
        self._mid_counter = 0
        #: a data channel was created: the next offer has an application section
        self.sctp_wanted = False
        self._negotiation_pending = False
        self.candidates = LocalCandidates(rng, hide_addresses=hide_host_addresses)
        self._held_ice_events: list[IceCandidateEvent] = []
        #: new ICE credentials of the last restart offer created, applied to the agent
        #: only when that offer is set as the local description (JSEP §5.2.1, §4.1.10)
        self._offer_credentials: tuple[str, str] | None = None
        #: which pending description ("local"/"remote") restarted the agent, so that a
        #: rollback can undo the restart (JSEP §5.7)
        self._restarted_by: str | None = None
        #: W3C [[LocalIceCredentialsToReplace]] (restartIce, webrtc-pc §4.4.1.6): the
        #: ufrag every offer replaces until an answer brings other local credentials
        self.ice_ufrag_to_replace: str | None = None
        #: RTCP CNAME (RFC 7022) and MediaStream id (RFC 8830) of our tracks
        self.cname = random_text(rng, "abcdefghijklmnopqrstuvwxyz0123456789", 16)
        self._stream_id = random_text(rng, "abcdef0123456789", 12)

    def close(self) -> None:
        """W3C close(): signaling state "closed", silently (webrtc-pc §4.4.1.5)."""
        self.closed = True
        self.signaling_state = "closed"

    # ------------------------------------------------------------------ descriptions
    @property
    def local_description(self) -> Description | None:
        return _as_description(self.pending_local or self.current_local)

    @property
    def remote_description(self) -> Description | None:
        return _as_description(self.pending_remote or self.current_remote)

    @property
    def current_local_description(self) -> Description | None:
        return _as_description(self.current_local)

    @property
    def current_remote_description(self) -> Description | None:
        return _as_description(self.current_remote)

    @property
    def pending_local_description(self) -> Description | None:
        return _as_description(self.pending_local)

    @property
    def pending_remote_description(self) -> Description | None:
        return _as_description(self.pending_remote)

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
        self.transports.transceivers.append(tr)
        self.update_negotiation_needed()
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
        for tr in self.transports.transceivers:
            if tr.kind == kind and tr.track is None and not tr.stopped:
                tr.track = track
                if tr.direction == "recvonly":
                    tr.direction = "sendrecv"
                elif tr.direction == "inactive":
                    tr.direction = "sendonly"
                self.update_negotiation_needed()
                return tr
        return self.add_transceiver(kind, direction="sendrecv", track=track)

    def data_channel_created(self) -> None:
        """createDataChannel (webrtc-pc §6.2): the first channel asks for an application
        m= section, so negotiation is needed."""
        if not self.sctp_wanted:
            self.sctp_wanted = True
            self.update_negotiation_needed()

    def _transceivers_by_mid(self) -> dict[str | None, Transceiver]:
        """mid → the first transceiver with it, in one pass: loops over a description's
        sections look transceivers up here, so N sections cost N, not N² (issue 14)."""
        by_mid: dict[str | None, Transceiver] = {}
        for tr in self.transports.transceivers:
            if tr.mid is not None:
                by_mid.setdefault(tr.mid, tr)
        return by_mid

    # ------------------------------------------------------------------ negotiationneeded
    def restart_ice(self) -> None:
        """W3C restartIce (webrtc-pc §4.4.1.6): every offer restarts ICE until an answer
        is applied with new local credentials; negotiationneeded fires (in stable)."""
        if self.closed:
            return
        ufrag = self.transports.local_ice_ufrag
        if self.current_local is not None and ufrag is not None:
            self.ice_ufrag_to_replace = ufrag
        self.update_negotiation_needed()

    def _restart_requested(self) -> bool:
        ufrag = self.transports.local_ice_ufrag
        return ufrag is not None and ufrag == self.ice_ufrag_to_replace

    def _needs_negotiation(self) -> bool:
        if self.sctp_wanted and self.dc_mid is None:
            return True
        if self._restart_requested():
            return True
        return any(tr.mid is None and not tr.stopped for tr in self.transports.transceivers)

    def update_negotiation_needed(self) -> None:
        """webrtc-pc §4.7.3 "update the negotiation-needed flag": only fire in stable."""
        if self.closed:
            return
        if self.signaling_state != "stable":
            self._negotiation_pending = True
            return
        if self._needs_negotiation():
            self._negotiation_pending = False
            self.transports.emit_event(NegotiationNeeded())

    def _set_signaling(self, state: str) -> None:
        if state != self.signaling_state:
            self.signaling_state = state
            self.transports.emit_event(SignalingStateChange(state))
            if state == "stable" and self._negotiation_pending:
                self._negotiation_pending = False
                self.update_negotiation_needed()
        if state == "stable" and not self._negotiation_pending and self._needs_negotiation():
            self.update_negotiation_needed()

    # ------------------------------------------------------------------ offer / answer
    def create_offer(self, *, ice_restart: bool = False) -> Description:
        """W3C createOffer (JSEP §5.2). With ``ice_restart`` (or after restart_ice())
        the offer carries new ICE credentials (JSEP §5.2.3.1); the agent takes them when
        the offer is set as local description, until then (and after a rollback) the
        old ones stay in use (RFC 8445 §9: data keeps flowing on the old pair)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        ufrag, pwd = self.transports.local_ice_credentials(True)
        if (ice_restart or self._restart_requested()) and self.current_local is not None:
            ufrag = random_text(self._rng, ICE_CHARS, UFRAG_LENGTH)
            pwd = random_text(self._rng, ICE_CHARS, PWD_LENGTH)
            self._offer_credentials = (ufrag, pwd)
        order = list(self._mids)
        for tr in self.transports.transceivers:
            if tr.mid is None and not tr.stopped:
                tr.mid = self._new_mid()
                order.append(tr.mid)
        if self.sctp_wanted and self.dc_mid is None:
            self.dc_mid = self._new_mid()
            order.append(self.dc_mid)
        self._mids = order
        desc = build_offer(
            self._local_parameters(ufrag, pwd),
            mids=order,
            by_mid={tr.mid: tr for tr in self.transports.transceivers if tr.mid is not None},
            dc_mid=self.dc_mid,
            previous=self.current_local[1] if self.current_local else None,
            rng=self._rng,
        )
        return Description("offer", str(desc))

    def _new_mid(self) -> str:
        taken = set(self._mids)
        while str(self._mid_counter) in taken:
            self._mid_counter += 1
        mid = str(self._mid_counter)
        self._mid_counter += 1
        return mid

    def create_answer(self) -> Description:
        """W3C createAnswer (JSEP §5.3)."""
        if self.closed:
            raise InvalidStateError("the peer connection is closed")
        if self.signaling_state not in ("have-remote-offer", "have-local-pranswer"):
            raise InvalidStateError(f"createAnswer in signaling state {self.signaling_state}")
        assert self.pending_remote is not None
        previous = self.current_local[1] if self.current_local else None
        desc = build_answer(
            self._local_parameters(*self.transports.local_ice_credentials(False)),
            offer=self.pending_remote[1],
            by_mid=self._transceivers_by_mid(),
            previous=previous,
            previous_offer=self._last_remote_offer if previous is not None else None,
            rng=self._rng,
        )
        return Description("answer", str(desc))

    def _local_parameters(self, ufrag: str, pwd: str) -> LocalParameters:
        return LocalParameters(
            ufrag,
            pwd,
            self.transports.local_fingerprint,
            self.candidates.of(ufrag),
            self.candidates.is_complete(ufrag),
            self.transports.max_message_size,
            self.cname,
            self._stream_id,
        )

    # ------------------------------------------------------------------ set descriptions
    def set_local_description(self, description: Description, now: float) -> None:
        """W3C setLocalDescription with an explicit description (JSEP §5.5)."""
        kind = description.type
        new_state = next_signaling_state(self.signaling_state, "local", kind)
        if kind == "rollback":
            self.pending_local = None
            self._rolled_back("local", new_state, now)
            return
        desc = SessionDescription.parse(description.sdp)
        our_ufrag = self.transports.local_ice_credentials(kind == "offer")[0]
        live = _first_live(desc)
        ufrag = live.effective_ice_ufrag(desc) if live is not None else None
        restart = False
        if ufrag is not None and ufrag != our_ufrag:
            # JSEP §5.2.1/§4.1.10: the credentials of a restart offer take effect now
            pwd = live.effective_ice_pwd(desc) if live is not None else None
            if kind != "offer" or self._offer_credentials != (ufrag, pwd):
                raise InvalidStateError("the description's ice-ufrag/ice-pwd are not ours")
            restart = True
        provisional = self.pending_local
        if kind != "offer" and provisional is not None and provisional[0] == "pranswer":
            _check_final_answer(desc, provisional[1])
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
            assert self._offer_credentials is not None
            self.transports.restart_ice_agent(now, self._offer_credentials)
            self._offer_credentials = None
            if self._restarted_by is None:
                self._restarted_by = "local"
        # Candidates gathered so far belong in the description (W3C localDescription).
        if live is not None:
            for cand in self.candidates.of(ufrag):
                if not any(str(c) == str(cand) for c in live.candidates):
                    live.add_candidate(cand)
            if self.candidates.is_complete(ufrag) and not live.end_of_candidates:
                live.add_attribute("end-of-candidates")
        held, self._held_ice_events = self._held_ice_events, []
        for ev in held:
            if ev.username_fragment == ufrag:
                self.transports.emit_event(ev)
            else:
                self._held_ice_events.append(ev)
        if kind == "answer":
            self._answer_applied()
        self._set_signaling(new_state)
        if kind in ("answer", "pranswer"):
            self._apply_negotiation(now, provisional=kind == "pranswer")

    def _answer_applied(self) -> None:
        """An answer ends the offer/answer exchange: an ICE restart in it can no longer be
        rolled back, and restartIce() is satisfied once our credentials changed."""
        self._restarted_by = None
        ufrag = self.transports.local_ice_ufrag
        if ufrag is not None and ufrag != self.ice_ufrag_to_replace:
            self.ice_ufrag_to_replace = None

    def _rolled_back(self, side: str, new_state: str, now: float) -> None:
        """JSEP §5.7: the pending ``side`` description was dropped; an ICE restart it made
        is undone."""
        if self._restarted_by == side:
            self._cancel_restart(now)
        self._set_signaling(new_state)

    def _cancel_restart(self, now: float) -> None:
        """JSEP §5.7 rollback of a description that restarted ICE: the agent goes back
        to the old credentials and pair (RFC 8445 §9: data never left the old pair)."""
        self._restarted_by = None
        if self.transports.local_ice_ufrag is None:
            return
        self.transports.cancel_ice_restart(now)
        ufrag = self.transports.local_ice_ufrag
        self._held_ice_events = [
            ev for ev in self._held_ice_events if ev.username_fragment == ufrag
        ]

    def set_remote_description(self, description: Description, now: float) -> None:
        """W3C setRemoteDescription (JSEP §5.6, §5.7)."""
        kind = description.type
        new_state = next_signaling_state(self.signaling_state, "remote", kind)
        if kind == "rollback":
            self.pending_remote = None
            self._rolled_back("remote", new_state, now)
            return
        desc = SessionDescription.parse(description.sdp)
        level = desc.defaults()  # read the session level once, not per section
        remote = _remote_transport(desc, level)
        self.transports.local_ice_credentials(kind != "offer")  # the agent exists from now
        provisional = self.pending_remote
        if kind != "offer" and provisional is not None and provisional[0] == "pranswer":
            _check_final_answer(desc, provisional[1])
        if kind == "offer":
            old_ufrag = self.transports.remote_ice_ufrag
            if old_ufrag is not None and remote is not None and old_ufrag != remote.ice_ufrag:
                # RFC 8839 §4.4.1.1.1: the offerer restarts ICE; our new credentials go
                # in the answer (JSEP §5.3.1) and are used from now on so that our checks
                # can start; a rollback of this offer undoes the restart (JSEP §5.7)
                self.transports.restart_ice_agent(now)
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
        self._remote_tracks(desc, level)
        if remote is not None:
            self.transports.apply_remote_transport(remote, now)
        self._set_signaling(new_state)
        if kind in ("answer", "pranswer"):
            self._apply_negotiation(now, provisional=kind == "pranswer")

    def _remote_tracks(self, desc: SessionDescription, level: SessionDefaults) -> None:
        """webrtc-pc §4.4.1.5 "process the addition of a remote track"."""
        by_mid = self._transceivers_by_mid()
        for m in desc.media:
            tr = by_mid.get(m.mid)
            if tr is None or m.rejected:
                continue
            tr.remote_ssrcs = list(m.ssrcs)
            if m.effective_direction(level) in ("sendrecv", "sendonly") and not tr.fired_track:
                tr.fired_track = True
                self.transports.emit_event(TrackEvent(tr))
            if tr.payload_type is None:
                # Until the answer: the remote's preferred codec we know.
                for codec in m.codecs(level):
                    if codec.name.lower() in MEDIA_CODECS:
                        tr.payload_type = codec.payload_type
                        break

    def _adopt_remote_offer(self, offer: SessionDescription) -> None:
        """Match offered m= sections to transceivers (JSEP §5.10 / webrtc-pc §4.4.1.5),
        creating recvonly ones for new media sections. One pass over each list."""
        transceivers = self.transports.transceivers
        by_mid = self._transceivers_by_mid()
        free: dict[str, deque[Transceiver]] = {"audio": deque(), "video": deque()}
        for t in transceivers:
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
                transceivers.append(tr)
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
        role: DtlsRole | None = None
        if live is not None:
            # RFC 5763 §5: "active" opens the DTLS connection (the client).
            answerer_is_client = live.effective_setup(answer) != "passive"
            we_are_client = answerer_is_client != offerer
            role = DtlsRole.CLIENT if we_are_client else DtlsRole.SERVER
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
        self.transports.negotiated(role, now)

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
        if remote is None or self.transports.local_ice_ufrag is None:
            raise InvalidStateError("addIceCandidate before setRemoteDescription")
        desc = remote[1]
        if not candidate:
            self.transports.end_of_remote_candidates(now, username_fragment)
            return
        parsed = Candidate.parse(candidate)
        self.transports.add_remote_candidate(parsed, now, username_fragment)
        media = None
        if sdp_mid is not None:
            media = desc.media_by_mid(sdp_mid)
        elif sdp_mline_index is not None and 0 <= sdp_mline_index < len(desc.media):
            media = desc.media[sdp_mline_index]
        if media is not None:
            media.add_candidate(parsed)

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

    def local_candidate(self, candidate: Candidate, ufrag: str) -> None:
        """The ICE agent gathered a candidate of generation ``ufrag``: into the local
        description and an ``icecandidate`` event (held until a local description with
        that ufrag is set, webrtc-pc §4.4.1.5)."""
        cand = self.candidates.add(candidate, ufrag)
        media, index = self._local_live(ufrag)
        event = IceCandidateEvent(str(cand), media.mid if media else None, index, ufrag)
        if media is not None:
            media.add_candidate(cand)
            self.transports.emit_event(event)
        else:
            self._held_ice_events.append(event)

    def gathering_complete(self, ufrag: str) -> None:
        """Gathering of generation ``ufrag`` ended: ``a=end-of-candidates`` and the null
        ``icecandidate`` (RFC 8838 §4.1)."""
        self.candidates.complete(ufrag)
        media, index = self._local_live(ufrag)
        event = IceCandidateEvent(None, media.mid if media else None, index, ufrag)
        if media is not None:
            if not media.end_of_candidates:
                media.add_attribute("end-of-candidates")
            self.transports.emit_event(event)
        else:
            self._held_ice_events.append(event)


def _remote_transport(desc: SessionDescription, level: SessionDefaults) -> RemoteTransport | None:
    """The transport parameters of a remote description, checked (OfferAnswerError when
    unusable): one bundled transport (RFC 9143), that of its first live section. None for
    a description without m= sections."""
    live = _first_live(desc)
    if live is None:
        if desc.media:
            raise OfferAnswerError("every m= section is rejected")
        return None
    ufrag, pwd = live.effective_ice_ufrag(level), live.effective_ice_pwd(level)
    if ufrag is None or pwd is None:
        raise OfferAnswerError("remote description lacks ice-ufrag/ice-pwd")
    fingerprints: list[DtlsFingerprint] = []
    for fp in live.effective_fingerprints(level):
        try:
            fingerprints.append(DtlsFingerprint.parse(str(fp)))
        except ParseError:  # DtlsDecodeError: a hash we do not know, bad hex
            continue
    if not fingerprints:
        raise OfferAnswerError("remote description has no usable a=fingerprint")
    live_media = [m for m in desc.media if not m.rejected]
    remote = RemoteTransport(
        ufrag,
        pwd,
        ice_lite=live.effective_ice_lite(level),
        candidates=[c for m in live_media for c in m.candidates],
        end_of_candidates=any(m.effective_end_of_candidates(level) for m in live_media),
        fingerprints=fingerprints,
    )
    app = next((m for m in live_media if m.kind == "application"), None)
    if app is not None:
        remote.sctp = (remote_sctp_port(app), remote_max_message_size(app))
    return remote


def _check_final_answer(final: SessionDescription, provisional: SessionDescription) -> None:
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
