"""The sans-I/O peer connection core: two cores on a virtual clock, no sockets, no sleep.

Covers offer/answer, ICE → DTLS → SCTP → data channels, trickle, rollback, ICE restart,
close, PCMU media both ways, stats cross-references, and that every state event sequence
is one the W3C spec allows.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.common.core import Address, Event
from pyrtcstack.common.errors import ParseError
from pyrtcstack.datachannel import ChannelClosed, ChannelMessage, ChannelOpen, DataChannelOpened
from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import (
    ALLOWED_CONNECTION_TRANSITIONS,
    ALLOWED_ICE_TRANSITIONS,
    ALLOWED_SIGNALING_TRANSITIONS,
    ConnectionStateChange,
    Description,
    IceCandidateEvent,
    IceConnectionStateChange,
    IceGatheringStateChange,
    InvalidStateError,
    NegotiationNeeded,
    PeerConnectionCore,
    SignalingStateChange,
    TrackEvent,
    TrackFrame,
    aggregate_connection_state,
    next_signaling_state,
)
from pyrtcstack.peerconnection.stats import collect_stats
from pyrtcstack.sdp import OfferAnswerError

A: Address = ("127.0.0.1", 40000)
B: Address = ("127.0.0.1", 40002)


class Net:
    """Two cores joined by a lossless wire on a virtual clock (delay 1 ms)."""

    def __init__(self, a: PeerConnectionCore, b: PeerConnectionCore) -> None:
        self.a, self.b = a, b
        self.now = 0.0
        self.events: dict[str, list[Event]] = {"a": [], "b": []}
        self.handlers: list[Any] = []
        self._wire: list[tuple[float, bytes, Address, Address]] = []

    def core_of(self, addr: Address) -> PeerConnectionCore:
        return self.a if addr == A else self.b

    def pump(self) -> bool:
        moved = False
        for name, pc in (("a", self.a), ("b", self.b)):
            for data, local, remote in pc.transmits(self.now):
                self._wire.append((self.now + 0.001, data, local, remote))
                moved = True
            ev = pc.next_event()
            while ev is not None:
                moved = True
                self.events[name].append(ev)
                for handler in self.handlers:
                    handler(name, pc, ev)
                ev = pc.next_event()
        return moved

    def run(self, until: Any, limit: float = 60.0) -> None:
        while not until():
            if self.pump():
                continue
            times = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            times += [w[0] for w in self._wire]
            assert times, "nothing left to do and the condition is not met"
            self.now = max(self.now, min(times))
            assert self.now < limit, "virtual time limit"
            due = [w for w in self._wire if w[0] <= self.now]
            self._wire = [w for w in self._wire if w[0] > self.now]
            for _t, data, src, dst in due:
                self.core_of(dst).receive_datagram(data, src, self.now, local=dst)
            for pc in (self.a, self.b):
                t = pc.get_timer()
                if t is not None and t <= self.now:
                    pc.handle_timer(self.now)


def pair(seed: int = 1) -> tuple[PeerConnectionCore, PeerConnectionCore, Net]:
    a = PeerConnectionCore(rng=random.Random(seed))
    b = PeerConnectionCore(rng=random.Random(seed + 100))
    return a, b, Net(a, b)


def negotiate(net: Net, *, trickle: bool = False) -> None:
    a, b, now = net.a, net.b, net.now
    a.set_local_description(a.create_offer(now), now)
    a.gather([A], now)
    net.pump()
    offer = a.local_description
    assert offer is not None
    if trickle:
        offer = Description("offer", _strip_candidates(offer.sdp))
    b.set_remote_description(offer, now)
    b.set_local_description(b.create_answer(now), now)
    b.gather([B], now)
    net.pump()
    answer = b.local_description
    assert answer is not None
    if trickle:
        answer = Description("answer", _strip_candidates(answer.sdp))
    a.set_remote_description(answer, now)
    if trickle:
        for src, dst in (("a", b), ("b", a)):
            for ev in net.events[src]:
                if isinstance(ev, IceCandidateEvent):
                    dst.add_ice_candidate(ev.candidate, now, sdp_mid=ev.sdp_mid)


def _strip_candidates(sdp: str) -> str:
    lines = [
        ln
        for ln in sdp.split("\r\n")
        if not ln.startswith("a=candidate:") and ln != "a=end-of-candidates"
    ]
    return "\r\n".join(lines)


def _transitions(events: list[Event], kind: type, initial: str) -> list[tuple[str, str]]:
    out = []
    state = initial
    for ev in events:
        if isinstance(ev, kind):
            new = ev.state  # type: ignore[attr-defined]
            out.append((state, new))
            state = new
    return out


def check_w3c_sequences(events: list[Event]) -> None:
    for t in _transitions(events, SignalingStateChange, "stable"):
        assert t in ALLOWED_SIGNALING_TRANSITIONS, t
    for t in _transitions(events, IceConnectionStateChange, "new"):
        assert t in ALLOWED_ICE_TRANSITIONS, t
    for t in _transitions(events, ConnectionStateChange, "new"):
        assert t in ALLOWED_CONNECTION_TRANSITIONS, t
    gathering = [e.state for e in events if isinstance(e, IceGatheringStateChange)]
    for prev, new in zip(["new", *gathering], gathering, strict=False):
        assert (prev, new) in {
            ("new", "gathering"),
            ("gathering", "complete"),
            ("complete", "gathering"),
        }


@pytest.mark.parametrize("trickle", [False, True])
def test_data_channel_both_ways_and_w3c_sequences(trickle: bool) -> None:
    a, b, net = pair()
    chan = a.create_data_channel("chat")
    got: dict[str, list[Any]] = {"a": [], "b": []}

    def handler(name: str, pc: PeerConnectionCore, ev: Event) -> None:
        if isinstance(ev, ChannelMessage):
            got[name].append(ev.data)
        if isinstance(ev, DataChannelOpened):
            ev.channel.send("from b")
            ev.channel.send(b"")
        if isinstance(ev, ChannelOpen) and name == "a":
            ev.channel.send("from a")
            ev.channel.send(b"\x00\xff")

    net.handlers.append(handler)
    negotiate(net, trickle=trickle)
    net.run(lambda: len(got["a"]) == 2 and len(got["b"]) == 2)
    assert got["b"] == ["from a", b"\x00\xff"]
    assert got["a"] == ["from b", b""]
    assert a.connection_state == b.connection_state == "connected"
    assert chan.ready_state == "open"
    assert isinstance(net.events["a"][0], NegotiationNeeded)
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])
    # the offerer's signaling path and the answerer's
    sig_a = [e.state for e in net.events["a"] if isinstance(e, SignalingStateChange)]
    sig_b = [e.state for e in net.events["b"] if isinstance(e, SignalingStateChange)]
    assert sig_a == ["have-local-offer", "stable"]
    assert sig_b == ["have-remote-offer", "stable"]
    ends = [e for e in net.events["a"] if isinstance(e, IceCandidateEvent) and e.candidate is None]
    assert len(ends) == 1


def test_thousand_messages_in_order_and_max_message_size() -> None:
    a, _b, net = pair(3)
    chan = a.create_data_channel("bulk")
    got: list[Any] = []
    net.handlers.append(
        lambda name, pc, ev: (
            got.append(ev.data) if isinstance(ev, ChannelMessage) and name == "b" else None
        )
    )
    negotiate(net)
    net.run(lambda: chan.ready_state == "open")
    big = bytes(range(256)) * 1024  # 262144 = our max-message-size
    for i in range(1000):
        chan.send(f"m{i}")
    chan.send(big)
    net.run(lambda: len(got) == 1001)
    assert got[:1000] == [f"m{i}" for i in range(1000)]
    assert got[1000] == big


@pytest.mark.parametrize("closer", ["a", "b"])
def test_close_channel_then_peer_connection_from_either_side(closer: str) -> None:
    a, b, net = pair(5)
    chan = a.create_data_channel("c")
    remote: list[Any] = []
    net.handlers.append(
        lambda name, pc, ev: (
            remote.append(ev.channel) if isinstance(ev, DataChannelOpened) else None
        )
    )
    negotiate(net)
    net.run(lambda: bool(remote) and chan.ready_state == "open")
    (chan if closer == "a" else remote[0]).close()
    net.run(lambda: chan.ready_state == "closed" and remote[0].ready_state == "closed")
    # now the whole peer connection: the other side sees the channel-less transport end
    other_chan = a.create_data_channel("d")
    net.run(lambda: other_chan.ready_state == "open")
    (a if closer == "a" else b).close(net.now)
    survivor = b if closer == "a" else a
    net.run(lambda: survivor.dtls_state == "closed")
    assert (a if closer == "a" else b).connection_state == "closed"
    closed = [e for e in net.events["b" if closer == "a" else "a"] if isinstance(e, ChannelClosed)]
    assert closed


def test_rollback_and_invalid_states() -> None:
    a, b, _net = pair(7)
    a.create_data_channel("x")
    with pytest.raises(InvalidStateError):
        a.create_answer(0.0)
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    assert a.signaling_state == "have-local-offer"
    with pytest.raises(InvalidStateError):
        a.set_remote_description(offer, 0.0)  # an offer in have-local-offer
    a.set_local_description(Description("rollback"), 0.0)
    assert a.signaling_state == "stable"
    assert a.local_description is None
    with pytest.raises(InvalidStateError):
        next_signaling_state("stable", "local", "rollback")
    with pytest.raises(InvalidStateError):
        b.add_ice_candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host", 0.0)
    # perfect negotiation: glare resolved by the polite peer rolling back
    b.create_data_channel("y")
    b_offer = b.create_offer(0.0)
    b.set_local_description(b_offer, 0.0)
    b.set_local_description(Description("rollback"), 0.0)
    b.set_remote_description(offer, 0.0)
    assert b.signaling_state == "have-remote-offer"


def test_aggregate_connection_state_table() -> None:
    assert aggregate_connection_state("new", "new", False) == "new"
    assert aggregate_connection_state("checking", "new", False) == "connecting"
    assert aggregate_connection_state("connected", "connecting", False) == "connecting"
    assert aggregate_connection_state("completed", "connected", False) == "connected"
    assert aggregate_connection_state("disconnected", "connected", False) == "disconnected"
    assert aggregate_connection_state("connected", "failed", False) == "failed"
    assert aggregate_connection_state("connected", "connected", True) == "closed"


def test_ice_restart_keeps_the_channel() -> None:
    a, b, net = pair(9)
    chan = a.create_data_channel("r")
    got: list[Any] = []
    net.handlers.append(
        lambda name, pc, ev: (
            got.append(ev.data) if isinstance(ev, ChannelMessage) and name == "b" else None
        )
    )
    negotiate(net)
    net.run(lambda: chan.ready_state == "open")
    assert a.agent is not None
    old = a.agent.local_ufrag
    now = net.now
    offer = a.create_offer(now, ice_restart=True)
    a.set_local_description(offer, now)
    net.pump()
    offer2 = a.local_description
    assert offer2 is not None and old not in offer2.sdp
    b.set_remote_description(offer2, now)
    b.set_local_description(b.create_answer(now), now)
    net.pump()
    answer = b.local_description
    assert answer is not None
    a.set_remote_description(answer, now)
    chan.send("after restart")
    net.run(lambda: got == ["after restart"])
    net.run(
        lambda: (
            a.ice_connection_state in ("connected", "completed")
            and a.agent is not None
            and a.agent.generation.selected is not None
        )
    )
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_pcmu_both_ways_and_stats_cross_references() -> None:
    a, b, net = pair(11)
    a.add_track(G711Track(ToneSource(440, duration=2.0)))
    b.add_track(G711Track(ToneSource(660, duration=2.0)))
    tracks: dict[str, int] = {"a": 0, "b": 0}
    frames: dict[str, int] = {"a": 0, "b": 0}

    def handler(name: str, pc: PeerConnectionCore, ev: Event) -> None:
        if isinstance(ev, TrackEvent):
            tracks[name] += 1
        if isinstance(ev, TrackFrame):
            frames[name] += 1

    net.handlers.append(handler)
    negotiate(net)
    net.run(lambda: frames["a"] >= 50 and frames["b"] >= 50)
    assert tracks == {"a": 1, "b": 1}
    tr = a.transceivers[0]
    assert tr.current_direction == "sendrecv" and tr.codec is not None and tr.codec.name == "PCMU"
    report = collect_stats(a, net.now)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in report.values():
        by_type.setdefault(entry["type"], []).append(entry)
    transport = by_type["transport"][0]
    # DTLS 1.3 by default (Settings.dtls_versions, RFC 9147: 0xFEFC)
    assert transport["dtlsState"] == "connected" and transport["tlsVersion"] == "FEFC"
    assert transport["srtpCipher"]
    pair_stats = report[transport["selectedCandidatePairId"]]
    assert report[pair_stats["localCandidateId"]]["type"] == "local-candidate"
    assert report[pair_stats["remoteCandidateId"]]["type"] == "remote-candidate"
    assert report[transport["localCertificateId"]]["type"] == "certificate"
    assert report[transport["remoteCertificateId"]]["type"] == "certificate"
    inbound = by_type["inbound-rtp"][0]
    outbound = by_type["outbound-rtp"][0]
    assert report[inbound["codecId"]]["mimeType"] == "audio/PCMU"
    assert report[outbound["codecId"]]["payloadType"] == 0
    assert inbound["transportId"] == outbound["transportId"] == "T01"
    assert inbound["packetsReceived"] >= 50 and outbound["packetsSent"] >= 50


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_hostile_remote_descriptions_raise_only_documented_errors(data: st.DataObject) -> None:
    """A mutated real offer (lines dropped, duplicated or garbled) gives a ParseError,
    an OfferAnswerError or an InvalidStateError, never anything else."""
    a = PeerConnectionCore(rng=random.Random(1))
    a.create_data_channel("x")
    a.add_track(G711Track(ToneSource(440, duration=0.1)))
    offer = a.create_offer(0.0).sdp.split("\r\n")
    lines = [ln for ln in offer if ln]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "garble", "fingerprint"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "garble":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))] + data.draw(
                st.text(max_size=12)
            )
        else:
            lines.insert(i, "a=fingerprint:" + data.draw(st.text(max_size=30)))
        if not lines:
            lines = ["v=0"]
    b = PeerConnectionCore(rng=random.Random(2))
    try:
        b.set_remote_description(Description("offer", "\r\n".join(lines) + "\r\n"), 0.0)
        b.set_local_description(b.create_answer(0.0), 0.0)
    except (ParseError, OfferAnswerError, InvalidStateError):
        pass


def test_renegotiation_adds_audio_and_channels_after_connection() -> None:
    """A data-channel-only call, then (1) a second channel needs no negotiation, (2) an
    added track fires negotiationneeded and a subsequent offer/answer starts PCMU both ways
    on the same transport (JSEP §5.2.2 subsequent offer, m-line order kept)."""
    a, b, net = pair(13)
    first = a.create_data_channel("first")
    frames = {"a": 0, "b": 0}

    def handler(name: str, pc: PeerConnectionCore, ev: Event) -> None:
        if isinstance(ev, TrackFrame):
            frames[name] += 1

    net.handlers.append(handler)
    negotiate(net)
    net.run(lambda: first.ready_state == "open")
    before = len([e for e in net.events["a"] if isinstance(e, NegotiationNeeded)])
    second = a.create_data_channel("second")
    net.run(lambda: second.ready_state == "open")
    assert len([e for e in net.events["a"] if isinstance(e, NegotiationNeeded)]) == before
    a.add_track(G711Track(ToneSource(440, duration=2.0)))
    net.pump()
    assert len([e for e in net.events["a"] if isinstance(e, NegotiationNeeded)]) == before + 1
    now = net.now
    offer = a.create_offer(now)
    a.set_local_description(offer, now)
    local = a.local_description
    assert local is not None
    mlines = [ln.split()[0] for ln in local.sdp.split("\r\n") if ln.startswith("m=")]
    assert mlines == ["m=application", "m=audio"]
    b.set_remote_description(local, now)
    b.add_track(G711Track(ToneSource(660, duration=2.0)))  # reuses the offered m=audio
    b.set_local_description(b.create_answer(now), now)
    answer = b.local_description
    assert answer is not None and "a=sendrecv" in answer.sdp
    a.set_remote_description(answer, now)
    net.run(lambda: frames["a"] >= 20 and frames["b"] >= 20)
    assert len(b.transceivers) == 1 and b.transceivers[0].current_direction == "sendrecv"
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_open_and_abort_in_one_burst() -> None:
    """A DATA_CHANNEL_OPEN and the ABORT of a closing peer arrive in one batch: the core
    drops the late OPEN (counted) instead of raising, and the transport ends."""
    a, b, net = pair(15)
    first = a.create_data_channel("first")
    negotiate(net)
    net.run(lambda: first.ready_state == "open")
    net.run(lambda: not net._wire)
    a.create_data_channel("late")
    a.close(net.now)
    burst = [(data, local) for data, local, _remote in a.transmits(net.now)]
    assert len(burst) >= 2
    b.receive_datagrams(burst, net.now, local=B)
    net.pump()
    assert all(ch.ready_state == "closed" for ch in b.sctp.channels) or not b.sctp.channels
    assert b.dtls_state == "closed"
