"""Digest authentication on requests inside a dialog (RFC 3261 §22.2, §14.1): a 401/407
to our re-INVITE or BYE is answered once with credentials (CSeq + 1, the same Call-ID),
the ACK to the re-INVITE's 2xx carries the same credentials (§13.2.2.4), and a second
challenge ends in the failure event. The challenger is a wrapper around one of our agents
that checks the digest with the RFC 7616 formulas, on the virtual clock."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.common.core import Address, Event
from pyrtcstack.sip import (
    CallEnded,
    CallFailed,
    DigestChallenge,
    DigestClient,
    ReInviteAnswered,
    ReInvited,
    ReInviteFailed,
    Request,
    Response,
    UserAgent,
    parse_message,
)
from pyrtcstack.sip.digest import digest_response
from tests.test_sip_agent import ANSWER, OFFER, A, B, Net, incoming

OFFER2 = OFFER.replace(b"4000", b"4100")
ANSWER2 = ANSWER.replace(b"4002", b"4102")


class Challenger:
    """``inner`` behind a check: in-dialog requests of ``methods`` without valid
    credentials for ``password`` get a ``status`` (401 or 407) challenge instead."""

    def __init__(self, inner: UserAgent, methods: set[str], password: str, status: int) -> None:
        self.inner = inner
        self.local = inner.local
        self.methods = methods
        self.password = password
        self.status = status
        self.out: list[tuple[bytes, Address]] = []
        self.challenged: list[Request] = []
        self.passed: list[Request] = []
        self._challenged_cseqs: set[int] = set()
        self._nonce = 0

    def _valid(self, request: Request) -> bool:
        field = "Authorization" if self.status == 401 else "Proxy-Authorization"
        value = request.get(field)
        if value is None:
            return False
        f = dict(DigestChallenge.parse(value).params)
        expected = digest_response(
            f["algorithm"], username=f["username"], realm=f["realm"], password=self.password,
            method=request.method, uri=f["uri"], nonce=f["nonce"], nc=f["nc"],
            cnonce=f["cnonce"], qop=f["qop"],
        )  # fmt: skip
        return f["response"] == expected and f["uri"] == request.uri

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        message = parse_message(data)
        if isinstance(message, Request) and message.to.tag is not None:
            if message.method == "ACK" and message.cseq.number in self._challenged_cseqs:
                return  # the ACK to our challenge (hop by hop, §17.1.1.3)
            if message.method in self.methods:
                if not self._valid(message):
                    self._challenge(message, src)
                    return
                self.passed.append(message)
        self.inner.receive_datagram(data, src, now)

    def _challenge(self, request: Request, src: Address) -> None:
        self.challenged.append(request)
        self._challenged_cseqs.add(request.cseq.number)
        self._nonce += 1
        keep = ("Via", "From", "Call-ID", "CSeq")
        headers = [(n, v) for n, v in request.headers if n in keep]
        headers.append(("To", request.get("To") or ""))
        field = "WWW-Authenticate" if self.status == 401 else "Proxy-Authenticate"
        value = f'Digest realm="example.com", nonce="n{self._nonce}", qop="auth", algorithm=MD5'
        headers.append((field, value))
        reason = "Unauthorized" if self.status == 401 else "Proxy Authentication Required"
        self.out.append((Response(self.status, reason, tuple(headers)).encode(), src))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.out = self.out, []
        return out + self.inner.datagrams_to_send(now)

    def next_event(self) -> Event | None:
        return self.inner.next_event()

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def handle_timer(self, now: float) -> None:
        self.inner.handle_timer(now)


def _call(
    password: str, methods: set[str], status: int
) -> tuple[Net, UserAgent, UserAgent, Challenger, str]:
    alice = UserAgent(
        A, user="alice", credentials=DigestClient("alice", password), rng=random.Random(11)
    )
    bob = UserAgent(B, user="bob", rng=random.Random(12))
    net = Net(alice=alice, bob=bob)
    challenger = Challenger(bob, methods, "pw", status)
    net.agents[B] = challenger  # type: ignore[assignment]
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    bob.answer(incoming(net).call_id, ANSWER, net.now)
    net.run(2.0)
    return net, alice, bob, challenger, call_id


def _sent(net: Net, since: int, src: Address, method: str) -> list[Request]:
    out = []
    for _, s, data in net.sent[since:]:
        message = parse_message(data)
        if s == src and isinstance(message, Request) and message.method == method:
            out.append(message)
    return out


@pytest.mark.parametrize("status", [401, 407])
def test_a_challenged_reinvite_is_sent_once_with_credentials(status: int) -> None:
    net, alice, bob, challenger, call_id = _call("pw", {"INVITE"}, status)
    since = len(net.sent)
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 1)
    assert [e for e in net.events[B] if isinstance(e, ReInvited)] == [ReInvited(call_id, OFFER2)]
    bob.answer_reinvite(call_id, ANSWER2, net.now)
    net.run(net.now + 40)
    assert [e for e in net.events[A] if isinstance(e, ReInviteAnswered | ReInviteFailed)] == [
        ReInviteAnswered(call_id, ANSWER2)
    ]
    invites = _sent(net, since, A, "INVITE")
    assert len(challenger.challenged) == 1 and len(invites) == 2
    first, second = invites
    field = "Authorization" if status == 401 else "Proxy-Authorization"
    assert first.get(field) is None and second.get(field) is not None
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    assert second.body == OFFER2 and second.to.tag == first.to.tag
    # §13.2.2.4: the ACK to the 2xx: the re-INVITE's CSeq and the same credentials
    acks = [a for a in _sent(net, since, A, "ACK") if a.cseq.number == second.cseq.number]
    assert len(acks) == 1 and acks[0].get(field) == second.get(field)
    # the dialog goes on: a BYE (not challenged here) ends it with the next CSeq
    alice.bye(call_id, net.now)
    net.run(net.now + 1)
    assert net.events[A][-1] == CallEnded(call_id, by_remote=False)
    assert _sent(net, since, A, "BYE")[0].cseq.number == second.cseq.number + 1


def test_a_reinvite_challenged_twice_fails_and_the_call_goes_on() -> None:
    net, alice, _, challenger, call_id = _call("wrong", {"INVITE"}, 407)
    since = len(net.sent)
    alice.reinvite(call_id, OFFER2, net.now)
    net.run(net.now + 5)
    reason = "Proxy Authentication Required"
    assert net.events[A][-1] == ReInviteFailed(call_id, 407, reason)
    assert len(challenger.challenged) == 2 and len(_sent(net, since, A, "INVITE")) == 2
    assert not [e for e in net.events[B] if isinstance(e, ReInvited)]
    alice.bye(call_id, net.now)
    net.run(net.now + 1)
    assert net.events[B][-1] == CallEnded(call_id, by_remote=True)


@pytest.mark.parametrize("status", [401, 407])
def test_a_challenged_bye_is_sent_once_with_credentials(status: int) -> None:
    net, alice, _, challenger, call_id = _call("pw", {"BYE"}, status)
    since = len(net.sent)
    alice.bye(call_id, net.now)
    net.run(net.now + 5)
    assert net.events[A][-1] == CallEnded(call_id, by_remote=False)
    assert CallFailed(call_id, status, "Unauthorized") not in net.events[A]
    assert net.events[B][-1] == CallEnded(call_id, by_remote=True)
    byes = _sent(net, since, A, "BYE")
    assert len(byes) == 2 and byes[1].cseq.number == byes[0].cseq.number + 1
    assert challenger.passed == [byes[1]]


def test_a_bye_challenged_twice_is_reported_and_the_call_ends_here() -> None:
    net, alice, _, challenger, call_id = _call("wrong", {"BYE"}, 401)
    since = len(net.sent)
    alice.bye(call_id, net.now)
    net.run(net.now + 5)
    # §15.1.1: the call is over on our side whatever the answer; the refusal is reported
    assert net.events[A][-2:] == [
        CallFailed(call_id, 401, "Unauthorized"),
        CallEnded(call_id, by_remote=False),
    ]
    assert len(challenger.challenged) == 2 and len(_sent(net, since, A, "BYE")) == 2


def test_without_credentials_a_challenged_bye_fails_at_once() -> None:
    net, alice, _, challenger, call_id = _call("pw", {"BYE"}, 407)
    alice.credentials = None
    alice.bye(call_id, net.now)
    net.run(net.now + 5)
    assert net.events[A][-2:] == [
        CallFailed(call_id, 407, "Proxy Authentication Required"),
        CallEnded(call_id, by_remote=False),
    ]
    assert len(challenger.challenged) == 1
