"""ICE restart through the peer connection (RFC 8445 §9, JSEP RFC 9429 §4.1.10, §5.2.1,
§5.7, webrtc-pc restartIce): new credentials are created by createOffer but take effect
only when the offer is set as the local description; a rollback goes back to the old ones;
until the answer the old pair keeps carrying data. Two cores on a virtual clock, plus two
asyncio peers on loopback for the answerer's side of a restart offer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyrtcstack.common.core import Event
from pyrtcstack.datachannel import ChannelMessage, DataChannel
from pyrtcstack.peerconnection import (
    ConnectionStateChange,
    Description,
    IceCandidateEvent,
    InvalidStateError,
    NegotiationNeeded,
    PeerConnectionCore,
    SignalingStateChange,
)
from pyrtcstack.sdp import SessionDescription
from tests.pc_harness import WAIT, Ours, connect, wait_open
from tests.test_pc_core import Net, check_w3c_sequences, negotiate, pair


def _ufrag(desc: Description | None) -> str:
    assert desc is not None
    parsed = SessionDescription.parse(desc.sdp)
    media = next(m for m in parsed.media if not m.rejected)
    ufrag = media.effective_ice_ufrag(parsed)
    assert ufrag is not None
    return ufrag


def _ufrag_of(pc: PeerConnectionCore) -> str:
    assert pc.agent is not None
    return pc.agent.local_ufrag


def advance(net: Net, until: float) -> None:
    """Run the two cores up to virtual time ``until`` (Net.run jumps to the next
    deadline, which may lie beyond it)."""
    while True:
        while net.pump():
            pass
        times = [t for t in (net.a.get_timer(), net.b.get_timer()) if t is not None]
        times += [w[0] for w in net._wire]
        due_at = min(times) if times else until
        if due_at > until:
            net.now = max(net.now, until)
            return
        net.now = max(net.now, due_at)
        due = [w for w in net._wire if w[0] <= net.now]
        net._wire = [w for w in net._wire if w[0] > net.now]
        for _t, data, src, dst in due:
            net.core_of(dst).receive_datagram(data, src, net.now, local=dst)
        for pc in (net.a, net.b):
            t = pc.get_timer()
            if t is not None and t <= net.now:
                pc.handle_timer(net.now)


class Ticker:
    """Sends a numbered message from a to b every 20 ms of virtual time (a handler of the
    Net) and records what b receives: data must flow through every step of a restart."""

    def __init__(self, net: Net, channel: DataChannel) -> None:
        self.net = net
        self.channel = channel
        self.sent = 0
        self.got: list[str] = []
        self.next_at = net.now
        net.handlers.append(self._on_event)

    def _on_event(self, name: str, pc: PeerConnectionCore, ev: Event) -> None:
        if name == "b" and isinstance(ev, ChannelMessage):
            self.got.append(str(ev.data))

    def tick(self) -> bool:
        if self.net.now >= self.next_at:
            self.channel.send(f"t{self.sent}")
            self.sent += 1
            self.next_at = self.net.now + 0.02
        return False

    def run_for(self, seconds: float) -> None:
        end = self.net.now + seconds
        while self.net.now < end:
            self.tick()
            advance(self.net, min(self.next_at, end))

    def check_all_arrived(self) -> None:
        self.net.run(lambda: len(self.got) == self.sent, limit=1e9)
        assert self.got == [f"t{i}" for i in range(self.sent)]


def _connected(net: Net) -> tuple[DataChannel, Ticker]:
    chan = net.a.create_data_channel("r")
    negotiate(net)
    net.run(lambda: chan.ready_state == "open")
    # nominated on both sides: the state restarts are made from
    net.run(
        lambda: all(
            pc.agent is not None and pc.agent.generation.selected is not None
            for pc in (net.a, net.b)
        )
    )
    return chan, Ticker(net, chan)


def _connection_left_connected(events: list[Event], after: int) -> bool:
    return any(isinstance(e, ConnectionStateChange) for e in events[after:])


def test_restart_offer_credentials_apply_only_at_set_local_description() -> None:
    a, b, net = pair(21)
    _chan, ticker = _connected(net)
    old_a, old_b = _ufrag_of(a), _ufrag_of(b)
    offer = a.create_offer(net.now, ice_restart=True)
    new = _ufrag(offer)
    assert new != old_a
    assert _ufrag_of(a) == old_a  # createOffer did not touch the agent
    ticker.run_for(0.5)
    a.set_local_description(offer, net.now)
    assert _ufrag_of(a) == new  # setLocalDescription applied the new credentials
    ticker.run_for(0.5)
    local = a.local_description
    assert local is not None and _ufrag(local) == new
    # the new generation's candidates trickle out under the new ufrag
    fresh = [
        e
        for e in net.events["a"]
        if isinstance(e, IceCandidateEvent) and e.username_fragment == new and e.candidate
    ]
    assert fresh and "a=candidate:" in local.sdp
    assert _ufrag_of(b) == old_b
    ticker.check_all_arrived()


def test_rollback_of_a_restart_offer_keeps_the_old_credentials_and_connection() -> None:
    a, b, net = pair(23)
    _chan, ticker = _connected(net)
    old_a, old_b = _ufrag_of(a), _ufrag_of(b)
    mark = len(net.events["a"])
    offer = a.create_offer(net.now, ice_restart=True)
    a.set_local_description(offer, net.now)
    assert _ufrag_of(a) == _ufrag(offer) != old_a
    ticker.run_for(0.3)
    a.set_local_description(Description("rollback"), net.now)
    assert a.signaling_state == "stable"
    assert _ufrag_of(a) == old_a and _ufrag(a.local_description) == old_a
    assert a.agent is not None and a.agent.previous is None
    assert a.agent.stats["restarts_cancelled"] == 1
    # longer than the 30 s consent timeout (RFC 7675): the old credentials still get
    # consent answered, data keeps flowing both ways, the connection never wavers
    ticker.run_for(40.0)
    ticker.check_all_arrived()
    assert ticker.sent > 1000
    assert a.connection_state == b.connection_state == "connected"
    assert a.ice_connection_state in ("connected", "completed")
    assert not _connection_left_connected(net.events["a"], mark)
    assert not _connection_left_connected(net.events["b"], mark)
    assert a.agent.stats["consent_requests_sent"] >= 5
    assert _ufrag_of(b) == old_b
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_restart_offer_then_answer_selects_a_new_pair_with_data_throughout() -> None:
    a, b, net = pair(25)
    _chan, ticker = _connected(net)
    old_a, old_b = _ufrag_of(a), _ufrag_of(b)
    assert a.agent is not None and b.agent is not None
    old_pair = a.agent.selected_pair
    mark = len(net.events["a"])
    a.restart_ice()
    net.pump()
    assert any(isinstance(e, NegotiationNeeded) for e in net.events["a"][mark:])
    a.set_local_description(a.create_offer(net.now), net.now)  # restartIce: new creds
    new_a = _ufrag_of(a)
    assert new_a != old_a
    ticker.run_for(0.2)
    offer = a.local_description
    assert offer is not None
    b.set_remote_description(offer, net.now)
    assert _ufrag_of(b) != old_b  # we answer a restart offer with new credentials
    answer = b.create_answer(net.now)
    assert _ufrag(answer) == _ufrag_of(b)
    b.set_local_description(answer, net.now)
    ticker.run_for(0.2)
    a.set_remote_description(b.local_description, net.now)  # type: ignore[arg-type]
    net.run(
        lambda: (
            a.agent is not None
            and a.agent.generation.selected is not None
            and b.agent is not None
            and b.agent.generation.selected is not None
        )
    )
    ticker.run_for(1.0)
    ticker.check_all_arrived()
    assert a.agent.previous is None and a.agent.generation.local_ufrag == new_a
    assert a.agent.selected_pair is not old_pair
    # restartIce is satisfied: no further negotiationneeded once stable
    net.pump()
    needed = [e for e in net.events["a"][mark:] if isinstance(e, NegotiationNeeded)]
    assert len(needed) == 1
    assert a.create_offer(net.now).sdp.count(new_a) >= 1  # no new restart
    assert not _connection_left_connected(net.events["a"], mark)
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_answerer_rollback_of_a_remote_restart_offer() -> None:
    """We are the answerer of a restart offer, and roll it back (perfect negotiation):
    our old credentials come back; a later restart still works."""
    a, b, net = pair(27)
    _chan, ticker = _connected(net)
    old_b = _ufrag_of(b)
    offer = a.create_offer(net.now, ice_restart=True)
    a.set_local_description(offer, net.now)
    b.set_remote_description(offer, net.now)
    assert _ufrag_of(b) != old_b
    ticker.run_for(0.2)
    b.set_remote_description(Description("rollback"), net.now)
    a.set_local_description(Description("rollback"), net.now)
    assert _ufrag_of(b) == old_b and b.signaling_state == "stable"
    ticker.run_for(35.0)  # past the consent timeout on the old credentials
    assert a.connection_state == b.connection_state == "connected"
    # and now a complete restart
    a.set_local_description(a.create_offer(net.now, ice_restart=True), net.now)
    b.set_remote_description(a.local_description, net.now)  # type: ignore[arg-type]
    b.set_local_description(b.create_answer(net.now), net.now)
    a.set_remote_description(b.local_description, net.now)  # type: ignore[arg-type]
    net.run(
        lambda: all(
            pc.agent is not None
            and pc.agent.previous is None
            and pc.agent.generation.selected is not None
            for pc in (a, b)
        ),
        limit=1e9,
    )
    ticker.run_for(0.5)
    ticker.check_all_arrived()
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_restart_ice_survives_a_rollback_and_glare() -> None:
    """Both sides call restartIce and offer at once (glare); the polite one rolls back
    its restart offer and answers the other's: one restart happens, data throughout,
    and restartIce is satisfied on both sides (a new ufrag in each answer)."""
    a, b, net = pair(29)
    _chan, ticker = _connected(net)
    old_a, old_b = _ufrag_of(a), _ufrag_of(b)
    a.restart_ice()
    b.restart_ice()
    a.set_local_description(a.create_offer(net.now), net.now)
    b.set_local_description(b.create_offer(net.now), net.now)
    ticker.run_for(0.2)
    # b is polite: rollback, then take a's offer
    b.set_local_description(Description("rollback"), net.now)
    assert _ufrag_of(b) == old_b
    b.set_remote_description(a.local_description, net.now)  # type: ignore[arg-type]
    b.set_local_description(b.create_answer(net.now), net.now)
    a.set_remote_description(b.local_description, net.now)  # type: ignore[arg-type]
    assert _ufrag_of(a) != old_a and _ufrag_of(b) != old_b
    net.run(
        lambda: all(
            pc.agent is not None and pc.agent.generation.selected is not None for pc in (a, b)
        ),
        limit=1e9,
    )
    ticker.run_for(0.5)
    ticker.check_all_arrived()
    # b's restartIce was satisfied by its answer's new credentials: no more restart
    assert b.negotiation.ice_ufrag_to_replace is None and a.negotiation.ice_ufrag_to_replace is None
    signaling = [e.state for e in net.events["b"] if isinstance(e, SignalingStateChange)]
    assert signaling[-3:] == ["stable", "have-remote-offer", "stable"]
    for name in ("a", "b"):
        check_w3c_sequences(net.events[name])


def test_restart_ice_request_persists_until_answered() -> None:
    """webrtc-pc restartIce: a rolled-back restart offer leaves the request in place
    (negotiationneeded again, and the next plain createOffer restarts)."""
    a, _b, net = pair(31)
    _connected(net)
    old = _ufrag_of(a)
    a.restart_ice()
    a.set_local_description(a.create_offer(net.now), net.now)
    mark = len(net.events["a"])
    a.set_local_description(Description("rollback"), net.now)
    net.pump()
    assert any(isinstance(e, NegotiationNeeded) for e in net.events["a"][mark:])
    offer = a.create_offer(net.now)
    assert _ufrag(offer) != old
    # the latest restart offer's credentials are the ones setLocalDescription accepts
    stale = a.create_offer(net.now)
    assert _ufrag(stale) != _ufrag(offer)
    with pytest.raises(InvalidStateError):
        a.set_local_description(offer, net.now)
    assert a.signaling_state == "stable" and _ufrag_of(a) == old


def test_munged_ice_credentials_are_refused_before_any_change() -> None:
    a, _b, net = pair(33)
    _connected(net)
    old = _ufrag_of(a)
    offer = a.create_offer(net.now)
    munged = offer.sdp.replace(f"a=ice-ufrag:{old}", "a=ice-ufrag:zzzzzzzz")
    with pytest.raises(InvalidStateError):
        a.set_local_description(Description("offer", munged), net.now)
    assert a.signaling_state == "stable" and a.pending_local_description is None


def test_restart_when_we_answer_a_restart_offer_on_loopback() -> None:
    """Two asyncio peers: the answerer of the first negotiation calls restartIce and
    offers; our first peer answers the restart offer with new credentials. Messages sent
    every 5 ms throughout all arrive, in order."""

    async def main() -> None:
        a, b = Ours(), Ours()
        try:
            chan = a.channel("chat")
            remote: list[Any] = []
            got: list[str] = []
            b.on_datachannel(remote.append)
            chan.on("message", got.append)
            await connect(a, b)
            await wait_open(chan)
            for _ in range(200):
                if remote:
                    break
                await asyncio.sleep(0.01)
            sent = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal sent
                while not stop.is_set() and remote[0].ready_state == "open":
                    remote[0].send(f"m{sent}")
                    sent += 1
                    await asyncio.sleep(0.005)

            task = asyncio.ensure_future(ticker())
            old_a = a.pc.core.agent.local_ufrag  # type: ignore[union-attr]
            old_b = b.pc.core.agent.local_ufrag  # type: ignore[union-attr]
            needed = asyncio.Event()
            b.pc.on("negotiationneeded", needed.set)
            b.pc.restart_ice()
            await asyncio.wait_for(needed.wait(), WAIT)
            await connect(b, a)  # b offers the restart, a answers it
            assert a.pc.core.agent.local_ufrag != old_a  # type: ignore[union-attr]
            assert b.pc.core.agent.local_ufrag != old_b  # type: ignore[union-attr]

            def restarted(pc: Any) -> bool:
                agent = pc.core.agent
                return agent.previous is None and agent.generation.selected is not None

            for _ in range(500):
                if restarted(a.pc) and restarted(b.pc):
                    break
                await asyncio.sleep(0.01)
            assert restarted(a.pc) and restarted(b.pc)
            await asyncio.sleep(0.1)
            stop.set()
            await task
            for _ in range(500):
                if len(got) == sent:
                    break
                await asyncio.sleep(0.01)
            assert got == [f"m{i}" for i in range(sent)]
            assert a.pc.connection_state == b.pc.connection_state == "connected"
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
