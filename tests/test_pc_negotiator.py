"""The Negotiator alone: JSEP (RFC 9429) between two negotiators over fake transports.

What it asks of the transports and tells them is its whole interface (the ``Transports``
protocol of peerconnection/negotiation.py); these tests give it a fake that records the
calls, so they check that interface and not ICE, DTLS or SCTP.
"""

from __future__ import annotations

import gc
import random
import weakref

import pytest

from pyrtcstack.common.core import Event
from pyrtcstack.dtls import DtlsRole, Fingerprint
from pyrtcstack.peerconnection import (
    Description,
    InvalidStateError,
    NegotiationNeeded,
    PeerConnectionCore,
    SignalingStateChange,
    Transceiver,
)
from pyrtcstack.peerconnection.negotiation import Negotiator, RemoteTransport
from pyrtcstack.sdp import Candidate


class FakeTransports:
    """Records what the negotiator asks and tells (the Transports protocol)."""

    def __init__(self, name: str) -> None:
        self.transceivers: list[Transceiver] = []
        self.local_fingerprint = Fingerprint("sha-256", ":".join([f"{len(name):02X}"] * 32))
        self.max_message_size = 100_000
        self.credentials: tuple[str, str] | None = None
        self.name = name
        self.controlling: bool | None = None
        self.remote: RemoteTransport | None = None
        self.roles: list[DtlsRole | None] = []
        self.calls: list[str] = []
        self.restarts = 0
        self.events: list[Event] = []

    def local_ice_credentials(self, controlling: bool) -> tuple[str, str]:
        self.calls.append("local_ice_credentials")
        if self.credentials is None:  # the first call makes the agent, with its role
            self.controlling = controlling
            self.credentials = (f"{self.name}ufrag", f"{self.name}pwd" * 8)
        return self.credentials

    @property
    def local_ice_ufrag(self) -> str | None:
        return self.credentials[0] if self.credentials else None

    @property
    def remote_ice_ufrag(self) -> str | None:
        return self.remote.ice_ufrag if self.remote else None

    def restart_ice_agent(self, now: float, credentials: tuple[str, str] | None = None) -> None:
        self.calls.append("restart_ice_agent")
        self.restarts += 1
        self.credentials = credentials or (f"{self.name}rest{self.restarts}", "x" * 24)

    def cancel_ice_restart(self, now: float) -> None:
        self.calls.append("cancel_ice_restart")
        self.credentials = (f"{self.name}ufrag", f"{self.name}pwd" * 8)

    def apply_remote_transport(self, remote: RemoteTransport, now: float) -> None:
        self.calls.append("apply_remote_transport")
        self.remote = remote

    def add_remote_candidate(self, candidate: Candidate, now: float, ufrag: str | None) -> None:
        self.calls.append("add_remote_candidate")

    def end_of_remote_candidates(self, now: float, ufrag: str | None) -> None:
        self.calls.append("end_of_remote_candidates")

    def negotiated(self, dtls_role: DtlsRole | None, now: float) -> None:
        self.calls.append("negotiated")
        self.roles.append(dtls_role)

    def emit_event(self, event: Event) -> None:
        self.events.append(event)


def _pair() -> tuple[Negotiator, Negotiator, dict[str, list[Event]]]:
    ta, tb = FakeTransports("a"), FakeTransports("b")
    a = Negotiator(ta, random.Random(1))
    b = Negotiator(tb, random.Random(2))
    return a, b, {"a": ta.events, "b": tb.events}


def _negotiate(offerer: Negotiator, answerer: Negotiator) -> None:
    offer = offerer.create_offer()
    offerer.set_local_description(offer, 0.0)
    answerer.set_remote_description(offer, 0.0)
    answer = answerer.create_answer()
    answerer.set_local_description(answer, 0.0)
    offerer.set_remote_description(answer, 0.0)


def _transports(n: Negotiator) -> FakeTransports:
    assert isinstance(n.transports, FakeTransports)
    return n.transports


def test_offer_answer_tells_each_side_the_others_transport_and_the_dtls_role() -> None:
    a, b, events = _pair()
    a.data_channel_created()
    assert [type(e) for e in events["a"]] == [NegotiationNeeded]  # webrtc-pc §4.7.3
    _negotiate(a, b)
    ta, tb = _transports(a), _transports(b)
    # RFC 8445 §6.1.1: the offerer's agent is controlling
    assert (ta.controlling, tb.controlling) == (True, False)
    for us, them in ((ta, tb), (tb, ta)):
        assert us.remote is not None and them.credentials is not None
        assert (us.remote.ice_ufrag, us.remote.ice_pwd) == them.credentials
        assert us.remote.fingerprints == [them.local_fingerprint]  # RFC 8122
        assert us.remote.sctp == (5000, 100_000)  # RFC 8841 §5, §6
    # JSEP §5.3.1: we answer a=setup:active, so the answerer is the DTLS client
    assert (ta.roles, tb.roles) == ([DtlsRole.SERVER], [DtlsRole.CLIENT])
    assert a.signaling_state == b.signaling_state == "stable"
    assert a.dc_mid == b.dc_mid == "0"
    states = [e.state for e in events["b"] if isinstance(e, SignalingStateChange)]
    assert states == ["have-remote-offer", "stable"]


def test_a_refused_description_asks_nothing_of_the_transports() -> None:
    """The state machine refuses first (JSEP §3.2): an answer in "stable" must not make
    the ICE agent (with a role of its choosing) or touch anything else below."""
    a, b, _events = _pair()
    a.data_channel_created()
    offer = a.create_offer()
    with pytest.raises(InvalidStateError):
        b.set_remote_description(Description("answer", offer.sdp), 0.0)
    with pytest.raises(InvalidStateError):
        b.create_answer()
    assert _transports(b).calls == []
    assert b.signaling_state == "stable" and b.remote_description is None


def test_rollback_of_a_restart_offer_cancels_the_restart() -> None:
    a, b, _events = _pair()
    a.data_channel_created()
    _negotiate(a, b)
    ta = _transports(a)
    old = ta.credentials
    a.restart_ice()  # webrtc-pc §4.4.1.6
    assert old is not None and a.ice_ufrag_to_replace == old[0]
    restart = a.create_offer()
    assert ta.credentials == old  # JSEP §5.2.1: new credentials only once set
    a.set_local_description(restart, 0.0)
    assert ta.calls[-1:] == ["restart_ice_agent"] and ta.credentials != old
    assert ta.credentials is not None and f"a=ice-ufrag:{ta.credentials[0]}" in restart.sdp
    a.set_local_description(Description("rollback"), 0.0)  # JSEP §5.7
    assert ta.calls[-1] == "cancel_ice_restart" and ta.credentials == old
    assert a.signaling_state == "stable" and a.pending_local is None


def test_the_core_owns_its_negotiator_without_a_reference_cycle() -> None:
    """The negotiator reaches the core through a weak reference: a dropped connection is
    freed by reference counting at once, not left to the cyclic garbage collector (with
    thousands of connections that is memory held until a full collection)."""
    offerer, answerer = PeerConnectionCore(), PeerConnectionCore()
    offer = offerer.create_offer(0.0)
    offerer.set_local_description(offer, 0.0)
    answerer.set_remote_description(offer, 0.0)
    answerer.set_local_description(answerer.create_answer(0.0), 0.0)
    offerer.set_remote_description(answerer.local_description or offer, 0.0)
    assert offerer.signaling_state == "stable"
    refs = [weakref.ref(offerer), weakref.ref(answerer)]
    gc.disable()
    try:
        del offerer, answerer
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()
