"""re-INVITE (RFC 3261 §14) between two of our agents on the virtual clock: a new offer in
a confirmed call (as for an ICE restart), answered, ACKed, with 200 retransmissions on
loss; and the refusals of §14.2 (481, 491, 500), the call going on after each."""

from __future__ import annotations

import pytest

from pyrtcstack.sip import (
    ReInviteAnswered,
    ReInvited,
    ReInviteFailed,
    Request,
    Response,
    SipUsageError,
    UserAgent,
    parse_message,
)
from tests.test_sip_agent import ANSWER, OFFER, B, Net, incoming, pair

OFFER2 = OFFER.replace(b"4000", b"4100")
ANSWER2 = ANSWER.replace(b"4002", b"4102")


def _established() -> tuple[Net, UserAgent, UserAgent, str]:
    net, alice, bob = pair()
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    incoming(net)
    bob.answer(call_id, ANSWER, net.now)
    net.run(2.0)
    return net, alice, bob, call_id


@pytest.mark.parametrize("who", ["caller", "callee"])
def test_reinvite_with_a_new_offer_is_answered_and_acked(who: str) -> None:
    net, alice, bob, call_id = _established()
    offerer, answerer = (alice, bob) if who == "caller" else (bob, alice)
    sent_before = len(net.sent)
    offerer.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    got = [e for e in net.events[answerer.local] if isinstance(e, ReInvited)]
    assert got == [ReInvited(call_id, OFFER2)]
    answerer.answer_reinvite(call_id, ANSWER2, net.now)
    net.run(net.now + 40)  # past 64·T1: no 200 retransmitted once the ACK came
    assert [e for e in net.events[offerer.local] if isinstance(e, ReInviteAnswered)] == [
        ReInviteAnswered(call_id, ANSWER2)
    ]
    messages = [parse_message(d) for _, _, d in net.sent[sent_before:]]
    kinds = [m.method if isinstance(m, Request) else m.status for m in messages]
    assert kinds == ["INVITE", 100, 200, "ACK"], kinds
    invite, ok, ack = messages[0], messages[2], messages[3]
    assert isinstance(invite, Request) and isinstance(ok, Response) and isinstance(ack, Request)
    assert invite.to.tag and invite.from_.tag  # in the dialog (§12.2.1.1)
    assert ack.cseq.number == invite.cseq.number == ok.cseq.number
    # the call goes on: a BYE ends it normally
    offerer.bye(call_id, net.now)
    net.run(net.now + 1)
    assert type(net.events[answerer.local][-1]).__name__ == "CallEnded"


def test_lost_200_to_a_reinvite_is_retransmitted() -> None:
    net, alice, bob, call_id = _established()
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    lost = [0]

    def drop(data: bytes, src: object, dst: object) -> bool:
        if data.startswith(b"SIP/2.0 200") and lost[0] < 2:
            lost[0] += 1
            return True
        return False

    net.drop = drop
    bob.answer_reinvite(call_id, ANSWER2, net.now)
    net.run(net.now + 10)
    assert [e for e in net.events[alice.local] if isinstance(e, ReInviteAnswered)] == [
        ReInviteAnswered(call_id, ANSWER2)
    ]
    timer = bob.get_timer()
    assert timer is None or timer > net.now  # retransmission stopped


def test_reinvite_refusals() -> None:
    net, alice, bob, call_id = _established()
    with pytest.raises(SipUsageError):
        alice.reinvite("no-such-call", OFFER2, net.now)
    with pytest.raises(SipUsageError):
        bob.answer_reinvite(call_id, ANSWER2, net.now)  # none received
    # glare (§14.2): each sends one; each answers the other's with 491
    alice.reinvite(call_id, OFFER2, net.now)
    bob.reinvite(call_id, OFFER2, net.now)
    with pytest.raises(SipUsageError):
        alice.reinvite(call_id, OFFER2, net.now)  # one at a time
    net.run(net.now + 1)
    for ua in (alice, bob):
        failed = [e for e in net.events[ua.local] if isinstance(e, ReInviteFailed)]
        assert failed == [ReInviteFailed(call_id, 491, "Request Pending")]
    # a refused re-INVITE leaves the call up: the next one works
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    bob.reject_reinvite(call_id, net.now)
    net.run(net.now + 1)
    assert net.events[alice.local][-1] == ReInviteFailed(call_id, 488, "Not Acceptable Here")
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    bob.answer_reinvite(call_id, ANSWER2, net.now)
    net.run(net.now + 1)
    assert net.events[alice.local][-1] == ReInviteAnswered(call_id, ANSWER2)
