"""The media half of a peer connection: the SRTP session, the transceivers' media
endpoints and RTP routing inside the bundle (see docs/peerconnection.md, "The media plane").

:class:`MediaPlane` is owned by :class:`~pyrtcstack.peerconnection.PeerConnectionCore`,
which talks to it through these calls only:

* :meth:`MediaPlane.set_keys` — the keys the DTLS handshake exported (RFC 5764 §4.2);
* :meth:`MediaPlane.start` — a media endpoint per negotiated transceiver once keyed;
* :meth:`MediaPlane.receive` — one SRTP or SRTCP datagram (RFC 7983 §7 sorted it here);
* :meth:`MediaPlane.take_events` and :meth:`MediaPlane.datagrams_to_send` — what it
  hands up (``TrackFrame``) and down (protected datagrams for the ICE agent);
* :meth:`MediaPlane.get_timer` / :meth:`MediaPlane.handle_timer` — the endpoints' RTCP
  and retransmission deadlines.

It never touches the ICE agent or DTLS; the core sends what it returns.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..common.core import Address, Event
from ..demux import PacketKind, classify
from ..media import FrameReceived, KeyframeRequested
from ..srtp import SrtpKeys, SrtpSession
from .events import TrackFrame
from .transceiver import Transceiver

__all__ = ["MAX_EARLY_MEDIA", "MediaPlane"]

#: SRTP/SRTCP datagrams kept while the DTLS handshake has not given us the keys yet (the
#: peer finished first and started sending): replayed once keyed, the rest dropped.
MAX_EARLY_MEDIA = 64


class MediaPlane:
    """SRTP (RFC 3711, keyed by DTLS-SRTP, RFC 5764) + one
    :class:`~pyrtcstack.media.endpoint.MediaEndpoint` per negotiated transceiver + the
    bundle's RTP demultiplexing (RFC 9143 §9.2).

    ``counters`` is the peer connection's dict of dropped inputs: this plane counts
    ``dropped_srtp`` and ``dropped_rtp_unrouted`` into it."""

    __slots__ = (
        "_early",
        "_is_client",
        "_keys",
        "_rng",
        "_rtcp_interval",
        "_ssrc_map",
        "closed",
        "counters",
        "srtp",
        "started",
        "transceivers",
    )

    def __init__(self, rng: random.Random, rtcp_interval: float, counters: dict[str, int]) -> None:
        self._rng = rng
        self._rtcp_interval = rtcp_interval
        self.counters = counters
        counters.setdefault("dropped_srtp", 0)
        counters.setdefault("dropped_rtp_unrouted", 0)
        #: the connection's transceivers (webrtc-pc [[Transceivers]]), in order; the
        #: negotiator adds to this list
        self.transceivers: list[Transceiver] = []
        #: The SRTP session (RFC 5764 §4.2), made at its first use from the keys exported
        #: at the end of the handshake: a data-only connection never pays for libsrtp's
        #: two sessions (memory, and time on the setup path).
        self.srtp: SrtpSession | None = None
        #: exports the SRTP keys (RFC 5764 §4.2) once the handshake agreed a profile:
        #: called at the first use, so a data-only connection never runs the exporter
        self._keys: Callable[[], SrtpKeys] | None = None
        self._is_client = False  # our DTLS role when the handshake completed
        #: whether any transceiver has an endpoint (the core skips the plane until then)
        self.started = False
        self.closed = False
        self._ssrc_map: dict[int, Transceiver] = {}
        self._early: list[tuple[bytes, PacketKind, Address]] = []

    # ---------------------------------------------------------------- keying, start
    def set_keys(self, keys: Callable[[], SrtpKeys], is_client: bool) -> None:
        """How to export the SRTP master keys and salts (RFC 5764 §4.2: the DTLS
        exporter with the label "EXTRACTOR-dtls_srtp"), called once at the first use of
        the session, and whether we were the DTLS client (which half of them protects
        our packets)."""
        self._keys = keys
        self._is_client = is_client

    @property
    def keyed(self) -> bool:
        """Whether the handshake agreed SRTP (the keys are exported and the session made
        at first use)."""
        return self._keys is not None

    def _keyed_srtp(self) -> SrtpSession | None:
        """The SRTP session, made now from the exported keys if the handshake agreed a
        profile and none exists yet (None before the handshake, or without use_srtp)."""
        if self.srtp is None and self._keys is not None:
            self.srtp = SrtpSession.from_keys(self._keys(), is_client=self._is_client)
        return self.srtp

    def start(self, now: float, cname: str) -> None:
        """Create a media endpoint per negotiated transceiver once SRTP is keyed, then
        replay the SRTP that came before the keys."""
        if self._keys is None or self.closed:
            return
        for tr in self.transceivers:
            if tr.endpoint is not None or tr.codec is None or tr.stopped:
                continue
            if not (tr.sends or tr.receives):
                continue
            self._keyed_srtp()
            tr.create_endpoint(now, rng=self._rng, cname=cname, rtcp_interval=self._rtcp_interval)
            for ssrc in tr.remote_ssrcs:
                self._ssrc_map[ssrc] = tr
        self.started = any(t.endpoint is not None for t in self.transceivers)
        early, self._early = self._early, []
        for data, kind, addr in early:
            self._receive(data, kind, addr, now)

    def close(self) -> None:
        """The connection closed: every transceiver stops (webrtc-pc §4.4.1.5); SRTP that
        arrives from here on is dropped unless the session exists already."""
        self.closed = True
        for tr in self.transceivers:
            tr.stopped = True
            tr.current_direction = "stopped"

    # ---------------------------------------------------------------- in
    def receive(self, data: bytes, addr: Address, now: float) -> bool:
        """A datagram that is neither STUN nor DTLS (RFC 7983 §7): SRTP or SRTCP goes to
        the endpoints; False for anything else (the caller counts it)."""
        kind = classify(data)
        if kind is PacketKind.RTP or kind is PacketKind.RTCP:
            self._receive(data, kind, addr, now)
            return True
        return False

    def _route_rtp(self, plain: bytes) -> Transceiver | None:
        """RTP demultiplexing inside the bundle (RFC 9143 §9.2): by SSRC signalled or
        learnt, else by payload type of a receiving transceiver without an SSRC yet."""
        ssrc = int.from_bytes(plain[8:12], "big")
        tr = self._ssrc_map.get(ssrc)
        if tr is not None:
            return tr
        pt = plain[1] & 0x7F
        for cand in self.transceivers:
            if cand.routes_payload_type(pt):
                self._ssrc_map[ssrc] = cand
                return cand
        return None

    def _receive(self, data: bytes, kind: PacketKind, addr: Address, now: float) -> None:
        srtp = self.srtp if self.closed else self._keyed_srtp()
        if srtp is None:
            if len(self._early) < MAX_EARLY_MEDIA and not self.closed:
                self._early.append((data, kind, addr))
            else:
                self.counters["dropped_srtp"] += 1
            return
        try:
            plain = (
                srtp.unprotect_rtp(data) if kind is PacketKind.RTP else srtp.unprotect_rtcp(data)
            )
        except ValueError:
            self.counters["dropped_srtp"] += 1
            return
        if kind is PacketKind.RTP:
            if len(plain) < 12:
                self.counters["dropped_rtp_unrouted"] += 1
                return
            tr = self._route_rtp(plain)
            if tr is None or tr.endpoint is None:
                self.counters["dropped_rtp_unrouted"] += 1
                return
            tr.endpoint.receive_datagram(plain, addr, now)
        else:
            # RTCP (a compound packet may report on several SSRCs): every endpoint reads it
            for tr in self.transceivers:
                if tr.endpoint is not None:
                    tr.endpoint.receive_datagram(plain, addr, now)

    # ---------------------------------------------------------------- out
    def take_events(self, push: Callable[[Event], None]) -> bool:
        """Hand every received frame up as a ``TrackFrame`` (through ``push``) and act on
        keyframe requests (RFC 4585 PLI, RFC 5104 FIR); whether there was any event."""
        handled = False
        for tr in self.transceivers:
            ep = tr.endpoint
            if ep is None:
                continue
            ev = ep.next_event()
            while ev is not None:
                handled = True
                if type(ev) is FrameReceived:
                    assert isinstance(ev, FrameReceived)
                    tr.received.count(ev.frame)
                    push(TrackFrame(tr, ev.frame))
                elif type(ev) is KeyframeRequested:
                    tr.on_keyframe_request()
                ev = ep.next_event()
        return handled

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """The endpoints' RTP and RTCP, SRTP- or SRTCP-protected (RFC 3711 §3.3, §3.4)."""
        srtp = self.srtp
        out: list[bytes] = []
        if srtp is None:
            return out
        for tr in self.transceivers:
            ep = tr.endpoint
            if ep is None:
                continue
            for plain, _addr in ep.datagrams_to_send(now):
                out.append(
                    srtp.protect_rtcp(plain)
                    if classify(plain) is PacketKind.RTCP
                    else srtp.protect_rtp(plain)
                )
        return out

    # ---------------------------------------------------------------- timers
    def get_timer(self) -> float | None:
        """The earliest deadline of the endpoints (RTCP reports, NACK, retransmission)."""
        best: float | None = None
        for tr in self.transceivers:
            ep = tr.endpoint
            if ep is not None:
                t = ep.get_timer()
                if t is not None and (best is None or t < best):
                    best = t
        return best

    def handle_timer(self, now: float) -> None:
        for tr in self.transceivers:
            ep = tr.endpoint
            if ep is not None:
                t = ep.get_timer()
                if t is not None and t <= now:
                    ep.handle_timer(now)
