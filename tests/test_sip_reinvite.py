"""re-INVITE (RFC 3261 §14) between two of our agents on the virtual clock: a new offer in
a confirmed call (as for an ICE restart), answered, ACKed, with 200 retransmissions on
loss; and the refusals of §14.2 (481, 491, 500), the call going on after each."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.sip import (
    DigestClient,
    ReInviteAnswered,
    ReInvited,
    ReInviteFailed,
    Request,
    Response,
    SipUsageError,
    UserAgent,
    parse_message,
)
from pyrtcstack.sip.reinvite import GLARE_RETRIES, glare_backoff
from tests.test_sip_agent import ANSWER, OFFER, A, B, Net, incoming, pair

OFFER2 = OFFER.replace(b"4000", b"4100")
ANSWER2 = ANSWER.replace(b"4002", b"4102")


def _established(
    alice_rng: random.Random | None = None, bob_rng: random.Random | None = None
) -> tuple[Net, UserAgent, UserAgent, str]:
    net, alice, bob = pair()
    if alice_rng is not None or bob_rng is not None:
        alice = UserAgent(A, user="alice", rng=alice_rng, credentials=DigestClient("alice", "pw"))
        bob = UserAgent(B, user="bob", rng=bob_rng)
        net = Net(alice=alice, bob=bob)
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
    alice.reinvite(call_id, OFFER2, net.now)
    with pytest.raises(SipUsageError):
        alice.reinvite(call_id, OFFER2, net.now)  # one at a time
    net.run(net.now + 1)
    bob.reject_reinvite(call_id, net.now)
    net.run(net.now + 1)
    assert net.events[alice.local][-1] == ReInviteFailed(call_id, 488, "Not Acceptable Here")
    # a refused re-INVITE leaves the call up: the next one works
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    bob.answer_reinvite(call_id, ANSWER2, net.now)
    net.run(net.now + 1)
    assert net.events[alice.local][-1] == ReInviteAnswered(call_id, ANSWER2)


# -- glare (§14.1): a 491 to our re-INVITE sends it again after a random back-off ---------


class Edge(random.Random):
    """An RNG whose ``randint`` gives the low (or high) end of the range asked."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def randint(self, a: int, b: int) -> int:
        return b if self.high else a


@pytest.mark.parametrize("high", [False, True])
def test_glare_backoff_ranges(high: bool) -> None:
    # §14.1: 2.1-4 s for the owner of the Call-ID, 0-2 s for the other, in 10 ms units
    assert glare_backoff(Edge(high), owner=True) == (4.0 if high else 2.1)
    assert glare_backoff(Edge(high), owner=False) == (2.0 if high else 0.0)
    rng = random.Random(5)
    draws = {True: [glare_backoff(rng, True) for _ in range(400)]}
    draws[False] = [glare_backoff(rng, False) for _ in range(400)]
    assert min(draws[True]) >= 2.1 and max(draws[True]) <= 4.0
    assert min(draws[False]) >= 0.0 and max(draws[False]) <= 2.0
    for value in draws[True] + draws[False]:
        assert abs(value * 100 - round(value * 100)) < 1e-9  # units of 10 ms


def _invite_times(net: Net, since: int, src: tuple[str, int]) -> list[float]:
    return [t for t, s, d in net.sent[since:] if s == src and d.startswith(b"INVITE ")]


def _run_answering(net: Net, until: float, answerers: tuple[UserAgent, ...]) -> None:
    """Run the virtual network in 10 ms steps, answering each re-INVITE at once."""
    answered: set[tuple[tuple[str, int], int]] = set()
    while net.now < until:
        net.run(net.now + 0.01)
        net.now = max(net.now, round(net.now + 0.01, 2))
        for ua in answerers:
            for i, event in enumerate(net.events[ua.local]):
                if isinstance(event, ReInvited) and (ua.local, i) not in answered:
                    answered.add((ua.local, i))
                    ua.answer_reinvite(event.call_id, ANSWER2, net.now)


@pytest.mark.parametrize("seed", range(6))
def test_glare_is_resolved_by_the_backoff(seed: int) -> None:
    """Both send a re-INVITE at once; each answers the other's with 491 (§14.2); the
    callee (not the Call-ID's owner) sends again within 2 s, the caller (its owner)
    between 2.1 and 4 s, and both re-INVITEs end answered on the virtual clock."""
    net, alice, bob, call_id = _established(random.Random(seed), random.Random(100 + seed))
    start, since = net.now, len(net.sent)
    alice.reinvite(call_id, OFFER2, net.now)
    bob.reinvite(call_id, OFFER2, net.now)
    net.run(net.now)  # the two 491s
    with pytest.raises(SipUsageError):  # ours waits to go again: still in progress
        alice.reinvite(call_id, OFFER2, net.now)
    _run_answering(net, start + 6, (alice, bob))
    for ua in (alice, bob):
        events = [
            e for e in net.events[ua.local] if isinstance(e, ReInviteAnswered | ReInviteFailed)
        ]
        assert events == [ReInviteAnswered(call_id, ANSWER2)], events
    a_times, b_times = _invite_times(net, since, A), _invite_times(net, since, B)
    assert len(a_times) == 2 and len(b_times) == 2, (a_times, b_times)
    assert a_times[0] == b_times[0] == start
    assert 0.0 <= b_times[1] - start <= 2.0 + 0.011  # bob: 0-2 s (steps of 10 ms)
    assert 2.1 <= a_times[1] - start <= 4.0 + 0.011  # alice owns the Call-ID: 2.1-4 s
    # the retry is a new request: the next CSeq, the same offer
    sent = [parse_message(d) for _, s, d in net.sent[since:] if s == A and d.startswith(b"INVITE ")]
    assert sent[1].cseq.number > sent[0].cseq.number and sent[1].body == OFFER2


def test_glare_retries_are_bounded() -> None:
    """Bob's own re-INVITE never reaches Alice (dropped), so Bob answers each of hers with
    491 until his times out: hers is sent again GLARE_RETRIES times, then she is told."""
    net, alice, bob, call_id = _established(random.Random(1), random.Random(2))
    since = len(net.sent)
    net.drop = lambda data, src, dst: src == B and data.startswith(b"INVITE ")
    bob.reinvite(call_id, OFFER2, net.now)
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 20)  # ≤ 4 tries x 4 s, before bob's Timer B (32 s)
    failed = [e for e in net.events[alice.local] if isinstance(e, ReInviteFailed)]
    assert failed == [ReInviteFailed(call_id, 491, "Request Pending")]
    cseqs = {
        parse_message(d).cseq.number
        for _, s, d in net.sent[since:]
        if s == A and d.startswith(b"INVITE ")
    }
    assert len(cseqs) == 1 + GLARE_RETRIES


def test_our_reinvite_waits_for_the_ack_of_the_peers() -> None:
    """§14.1: no re-INVITE while another INVITE transaction is in progress: one asked for
    while the peer's re-INVITE is answered but not yet ACKed goes out on that ACK; one
    asked for while the peer's is still unanswered is refused."""
    net, alice, bob, call_id = _established()
    bob.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 0.1)
    with pytest.raises(SipUsageError):
        alice.reinvite(call_id, OFFER2, net.now)  # answer bob's first
    alice.answer_reinvite(call_id, ANSWER2, net.now)
    alice.reinvite(call_id, OFFER, net.now)  # bob's ACK has not come yet: this one waits
    with pytest.raises(SipUsageError):
        alice.reinvite(call_id, OFFER, net.now)  # one at a time
    since = len(net.sent)
    net.run(net.now + 0.1)
    kinds = [d.split(b" ", 1)[0] for _, _, d in net.sent[since:]]
    assert kinds[:3] == [b"SIP/2.0", b"ACK", b"INVITE"], kinds  # 200, bob's ACK, then ours
    assert [e for e in net.events[bob.local] if isinstance(e, ReInvited)] == [
        ReInvited(call_id, OFFER)
    ]
    bob.answer_reinvite(call_id, ANSWER, net.now)
    net.run(net.now + 1)
    assert net.events[alice.local][-1] == ReInviteAnswered(call_id, ANSWER)
    assert net.events[bob.local][-2] == ReInviteAnswered(call_id, ANSWER2)


def test_a_reinvite_without_an_answer_fails_with_408_and_the_next_may_go() -> None:
    net, alice, _, call_id = _established()
    net.drop = lambda data, src, dst: src == B  # bob's 100 and anything else is lost
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 40)  # Timer B: 64·T1 = 32 s
    assert net.events[alice.local][-1] == ReInviteFailed(call_id, 408, "Request Timeout")
    alice.reinvite(call_id, OFFER, net.now)  # no longer "in progress"


def test_a_glare_retry_waits_while_the_peers_reinvite_is_unanswered() -> None:
    """Alice (the Call-ID's owner) answers Bob's retried re-INVITE only at 5 s, after her
    own back-off (2.1-4 s) ended: hers waits further rounds and goes after that answer."""
    net, alice, bob, call_id = _established(random.Random(3), random.Random(4))
    start, since = net.now, len(net.sent)
    alice.reinvite(call_id, OFFER2, net.now)
    bob.reinvite(call_id, OFFER2, net.now)
    _run_answering(net, start + 5, (bob,))  # alice leaves bob's retry unanswered
    assert [e for e in net.events[alice.local] if isinstance(e, ReInvited)] == [
        ReInvited(call_id, OFFER2)
    ]
    assert len(_invite_times(net, since, A)) == 1  # hers has not gone again yet
    _run_answering(net, start + 15, (alice, bob))  # alice answers bob's now, at 5 s
    a_times = _invite_times(net, since, A)
    assert len(a_times) == 2 and a_times[1] > start + 5, a_times
    for ua in (alice, bob):
        done = [e for e in net.events[ua.local] if isinstance(e, ReInviteAnswered | ReInviteFailed)]
        assert done == [ReInviteAnswered(call_id, ANSWER2)], done
