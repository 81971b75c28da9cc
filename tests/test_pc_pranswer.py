"""Provisional answers (type "pranswer", RFC 9429 §4.1.10.1, webrtc-pc §4.4.1.5): the
have-local-pranswer / have-remote-pranswer signaling states, transports that start on the
pranswer (data and early media before the final answer), the final answer after one or
more pranswers, and the calls the W3C state machine refuses. Every signaling sequence is
checked against the W3C transition set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyrtcstack.datachannel import ChannelMessage, DataChannelOpened
from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import (
    ALLOWED_SIGNALING_TRANSITIONS,
    Description,
    InvalidStateError,
    SignalingStateChange,
    TrackFrame,
    next_signaling_state,
)
from pyrtcstack.sdp import OfferAnswerError
from tests.pc_harness import WAIT, Ours, wait_open
from tests.test_pc_core import A, B, Net, check_w3c_sequences, pair


def _signaling(net: Net, name: str) -> list[str]:
    return [e.state for e in net.events[name] if isinstance(e, SignalingStateChange)]


def _offer(net: Net) -> Description:
    a, b, now = net.a, net.b, net.now
    a.set_local_description(a.create_offer(now), now)
    a.gather([A], now)
    net.pump()
    offer = a.local_description
    assert offer is not None
    b.set_remote_description(offer, now)
    return offer


def _pranswer(net: Net) -> Description:
    """b answers provisionally (createAnswer's SDP set with type pranswer)."""
    b, now = net.b, net.now
    b.set_local_description(Description("pranswer", b.create_answer(now).sdp), now)
    if not b.ice.gathering_started:
        b.gather([B], now)
    net.pump()
    local = b.local_description
    assert local is not None and local.type == "pranswer"
    return local


def test_pranswer_then_answer_data_flows_before_the_final_answer() -> None:
    a, b, net = pair(51)
    chan = a.create_data_channel("early")
    got: list[Any] = []
    net.handlers.append(
        lambda name, pc, ev: (
            got.append(ev.data) if isinstance(ev, ChannelMessage) and name == "b" else None
        )
    )
    offer = _offer(net)
    pranswer = _pranswer(net)
    assert b.signaling_state == "have-local-pranswer"
    # W3C: the pranswer is pending, the offer stays pending, nothing is current yet
    assert b.pending_local_description is not None
    assert b.pending_local_description.type == "pranswer"
    assert b.pending_remote_description is not None
    assert b.pending_remote_description.sdp == offer.sdp
    assert (b.current_local_description, b.current_remote_description) == (None, None)
    a.set_remote_description(pranswer, net.now)
    assert a.signaling_state == "have-remote-pranswer"
    assert a.pending_remote_description is not None
    assert a.pending_remote_description.type == "pranswer"
    assert a.pending_local_description is not None
    assert [a.current_remote_description] == [None]
    # the transports start on the provisional answer (RFC 9429 §4.1.10.1)
    net.run(lambda: chan.ready_state == "open")
    chan.send("before the final answer")
    net.run(lambda: got == ["before the final answer"])
    assert a.connection_state == b.connection_state == "connected"
    assert a.signaling_state == "have-remote-pranswer"
    # the final answer (createAnswer is allowed in have-local-pranswer)
    answer = b.create_answer(net.now)
    assert answer.type == "answer"
    b.set_local_description(answer, net.now)
    assert b.signaling_state == "stable"
    assert b.current_local_description is not None
    assert b.current_local_description.type == "answer"
    assert b.current_remote_description is not None
    assert b.current_remote_description.sdp == offer.sdp
    assert [b.pending_local_description, b.pending_remote_description] == [None, None]
    final = b.local_description
    assert final is not None
    a.set_remote_description(final, net.now)
    assert a.signaling_state == "stable"
    assert a.current_remote_description is not None
    assert a.current_remote_description.type == "answer"
    assert [a.pending_remote_description, a.pending_local_description] == [None, None]
    chan.send("after the final answer")
    net.run(lambda: len(got) == 2)
    assert got[1] == "after the final answer"
    assert _signaling(net, "a") == ["have-local-offer", "have-remote-pranswer", "stable"]
    assert _signaling(net, "b") == ["have-remote-offer", "have-local-pranswer", "stable"]
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_several_pranswers_and_early_media() -> None:
    """Two pranswers in a row (have-*-pranswer to itself, no event), PCMU both ways on
    the provisional answer (early media), then the final answer: media goes on."""
    a, b, net = pair(53)
    a.add_track(G711Track(ToneSource(440, duration=3.0)))
    frames = {"a": 0, "b": 0}

    def handler(name: str, pc: Any, ev: Any) -> None:
        if isinstance(ev, TrackFrame):
            frames[name] += 1

    net.handlers.append(handler)
    _offer(net)
    b.add_track(G711Track(ToneSource(660, duration=3.0)))  # reuses the offered m=audio
    first = _pranswer(net)
    a.set_remote_description(first, net.now)
    second = _pranswer(net)
    a.set_remote_description(second, net.now)
    assert a.signaling_state == "have-remote-pranswer"
    assert b.signaling_state == "have-local-pranswer"
    net.run(lambda: frames["a"] >= 20 and frames["b"] >= 20)
    before = dict(frames)
    b.set_local_description(b.create_answer(net.now), net.now)
    a.set_remote_description(b.local_description, net.now)  # type: ignore[arg-type]
    net.run(lambda: frames["a"] >= before["a"] + 20 and frames["b"] >= before["b"] + 20)
    assert a.transceivers[0].current_direction == "sendrecv"
    assert b.transceivers[0].current_direction == "sendrecv"
    assert _signaling(net, "a") == ["have-local-offer", "have-remote-pranswer", "stable"]
    assert _signaling(net, "b") == ["have-remote-offer", "have-local-pranswer", "stable"]
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_w3c_refusals_around_pranswer() -> None:
    a, b, net = pair(55)
    a.create_data_channel("x")
    offer = _offer(net)
    sdp = b.create_answer(net.now).sdp
    # a pranswer is an answer: not in stable, not as our own reply to our own offer
    with pytest.raises(InvalidStateError):
        a.set_local_description(Description("pranswer", sdp), net.now)
    with pytest.raises(InvalidStateError):
        b.set_remote_description(Description("pranswer", sdp), net.now)
    pranswer = _pranswer(net)
    # webrtc-pc: no rollback in have-local-pranswer / have-remote-pranswer
    with pytest.raises(InvalidStateError):
        b.set_local_description(Description("rollback"), net.now)
    with pytest.raises(InvalidStateError):
        b.set_remote_description(Description("rollback"), net.now)
    with pytest.raises(InvalidStateError):
        b.set_remote_description(offer, net.now)
    a.set_remote_description(pranswer, net.now)
    with pytest.raises(InvalidStateError):
        a.set_local_description(Description("rollback"), net.now)
    with pytest.raises(InvalidStateError):
        a.set_local_description(a.create_offer(net.now), net.now)  # no new offer here
    # a final answer that changes the transport of the pranswer: refused, nothing changed
    final = b.create_answer(net.now).sdp
    assert "a=setup:active" in final
    with pytest.raises(OfferAnswerError):
        a.set_remote_description(
            Description("answer", final.replace("a=setup:active", "a=setup:passive")), net.now
        )
    assert a.signaling_state == "have-remote-pranswer"
    assert a.pending_remote_description is not None
    assert a.pending_remote_description.type == "pranswer"
    with pytest.raises(OfferAnswerError):
        b.set_local_description(
            Description("answer", final.replace("a=setup:active", "a=setup:passive")), net.now
        )
    assert b.signaling_state == "have-local-pranswer"
    with pytest.raises(OfferAnswerError):  # nor may a second pranswer
        b.set_local_description(
            Description("pranswer", final.replace("a=setup:active", "a=setup:passive")),
            net.now,
        )
    assert b.signaling_state == "have-local-pranswer"
    # the table itself
    for state in ("stable", "have-local-pranswer", "have-remote-pranswer"):
        with pytest.raises(InvalidStateError):
            next_signaling_state(state, "local", "rollback")
    assert next_signaling_state("have-local-pranswer", "local", "pranswer") == (
        "have-local-pranswer"
    )
    assert ("have-local-pranswer", "stable") in ALLOWED_SIGNALING_TRANSITIONS
    assert ("have-remote-pranswer", "stable") in ALLOWED_SIGNALING_TRANSITIONS
    assert ("have-remote-pranswer", "have-local-offer") not in ALLOWED_SIGNALING_TRANSITIONS


def test_pranswer_between_asyncio_peers_on_loopback() -> None:
    """Two asyncio peers: the channel opens and carries data on the provisional answer;
    the implicit setLocalDescription() in have-local-pranswer makes the final answer."""

    async def main() -> None:
        a, b = Ours(), Ours()
        try:
            chan = a.channel("early")
            got: list[Any] = []
            arrived = asyncio.Event()

            def on_dc(channel: Any) -> None:
                def on_message(m: Any) -> None:
                    got.append(m)
                    arrived.set()

                channel.on("message", on_message)

            b.on_datachannel(on_dc)
            offer = await a.offer()
            await b.pc.set_remote_description(offer)
            answer = await b.pc.create_answer()
            await b.pc.set_local_description({"type": "pranswer", "sdp": answer.sdp})
            await b.pc.wait_gathering_complete()
            assert b.pc.signaling_state == "have-local-pranswer"
            assert b.pc.local_description is not None
            await a.pc.set_remote_description(b.pc.local_description.to_dict())
            assert a.pc.signaling_state == "have-remote-pranswer"
            await wait_open(chan)
            chan.send("early")
            await asyncio.wait_for(arrived.wait(), WAIT)
            await b.pc.set_local_description()  # implicit: the final answer
            assert b.pc.signaling_state == "stable"
            assert b.pc.local_description is not None
            assert b.pc.local_description.type == "answer"
            await a.pc.set_remote_description(b.pc.local_description)
            assert a.pc.signaling_state == "stable"
            arrived.clear()
            chan.send("final")
            await asyncio.wait_for(arrived.wait(), WAIT)
            assert got == ["early", "final"]
            assert a.log["signalingstatechange"] == [
                "have-local-offer",
                "have-remote-pranswer",
                "stable",
            ]
            assert b.log["signalingstatechange"] == [
                "have-remote-offer",
                "have-local-pranswer",
                "stable",
            ]
        finally:
            await a.close()  # checks every W3C sequence seen
            await b.close()

    asyncio.run(main())


def test_datachannel_event_on_the_answerer_during_pranswer() -> None:
    a, b, net = pair(57)
    a.create_data_channel("dc")
    _offer(net)
    a.set_remote_description(_pranswer(net), net.now)
    net.run(lambda: any(isinstance(e, DataChannelOpened) for e in net.events["b"]))
    assert b.signaling_state == "have-local-pranswer"
