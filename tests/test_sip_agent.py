"""The SIP user agent (RFC 3261 §8-15) on a virtual clock: two of our agents call each
other (with and without an SDP offer, cancel, reject, lose packets), and REGISTER against
a challenging registrar built from the codec and the RFC 7616 formulas."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from pyrtcstack.common.core import Address, Event
from pyrtcstack.sip import (
    CallAnswered,
    CallEnded,
    CallEstablished,
    CallFailed,
    CallProgress,
    DigestClient,
    IncomingCall,
    Registered,
    RegistrationFailed,
    Request,
    Response,
    SipUsageError,
    UserAgent,
    parse_message,
)
from pyrtcstack.sip.digest import DigestChallenge, digest_response

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)
OFFER = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"


class Net:
    """Agents on a virtual clock; ``drop(data, src, dst)`` decides losses."""

    def __init__(self, **agents: UserAgent) -> None:
        self.agents = {ua.local: ua for ua in agents.values()}
        self.now = 0.0
        self.events: dict[Address, list[Event]] = {addr: [] for addr in self.agents}
        self.sent: list[tuple[float, Address, bytes]] = []
        self.drop: Callable[[bytes, Address, Address], bool] = lambda data, src, dst: False

    def run(self, until: float) -> None:
        while True:
            moved = True
            while moved:
                moved = False
                for addr, ua in self.agents.items():
                    for data, dst in ua.datagrams_to_send(self.now):
                        self.sent.append((self.now, addr, data))
                        moved = True
                        if dst in self.agents and not self.drop(data, addr, dst):
                            self.agents[dst].receive_datagram(data, addr, self.now)
                    while (event := ua.next_event()) is not None:
                        self.events[addr].append(event)
            timers = [t for ua in self.agents.values() if (t := ua.get_timer()) is not None]
            if not timers or min(timers) > until:
                self.now = max(self.now, until) if not timers else self.now
                return
            self.now = max(self.now, min(timers))
            for ua in self.agents.values():
                t = ua.get_timer()
                if t is not None and t <= self.now:
                    ua.handle_timer(self.now)

    def kinds(self, addr: Address) -> list[str]:
        return [type(e).__name__ for e in self.events[addr]]


def pair() -> tuple[Net, UserAgent, UserAgent]:
    alice = UserAgent(A, user="alice", rng=random.Random(1))
    bob = UserAgent(B, user="bob", rng=random.Random(2))
    return Net(alice=alice, bob=bob), alice, bob


def incoming(net: Net) -> IncomingCall:
    event = next(e for e in net.events[B] if isinstance(e, IncomingCall))
    return event


def test_call_with_an_offer_ring_answer_ack_bye() -> None:
    net, alice, bob = pair()
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    call = incoming(net)
    assert call.call_id == call_id and call.offer == OFFER and call.caller == "sip:alice@10.0.0.1"
    bob.ring(call_id, net.now)
    net.run(2.0)
    bob.answer(call_id, ANSWER, net.now)
    net.run(3.0)
    assert net.kinds(A) == ["CallProgress", "CallAnswered"]
    assert net.events[A][1] == CallAnswered(call_id, ANSWER)
    assert net.events[B][-1] == CallEstablished(call_id, None)
    # 100 Trying, 180, 200 from Bob; INVITE and ACK from Alice, each once (no loss)
    methods = [parse_message(d) for _, src, d in net.sent]
    assert [m.method if isinstance(m, Request) else m.status for m in methods] == [
        "INVITE", 100, 180, 200, "ACK",
    ]  # fmt: skip
    ack = methods[-1]
    ok = methods[-2]
    # §12: the ACK carries both tags, the INVITE's CSeq number and goes to Bob's Contact
    assert isinstance(ack, Request) and isinstance(ok, Response)
    assert ack.to.tag == ok.to.tag and ack.from_.tag == ok.from_.tag and ack.cseq.number == 1
    assert ack.uri == ok.contacts[0].uri == "sip:bob@10.0.0.2:5060"
    alice.bye(call_id, net.now)
    net.run(10.0)
    assert net.events[A][-1] == CallEnded(call_id, by_remote=False)
    assert net.events[B][-1] == CallEnded(call_id, by_remote=True)
    bye = parse_message(net.sent[-2][2])
    assert isinstance(bye, Request) and bye.method == "BYE" and bye.cseq.number == 2


def test_offerless_invite_gets_the_offer_in_the_200_and_answers_in_the_ack() -> None:
    net, alice, bob = pair()
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0)
    net.run(1.0)
    assert incoming(net).offer is None
    bob.answer(call_id, OFFER, net.now)
    net.run(2.0)
    assert net.events[A][-1] == CallAnswered(call_id, OFFER)
    assert "CallEstablished" not in net.kinds(B)
    alice.ack(call_id, ANSWER, net.now)
    net.run(3.0)
    assert net.events[B][-1] == CallEstablished(call_id, ANSWER)


def test_cancel_before_the_answer_gives_487() -> None:
    net, alice, _ = pair()
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(0.1)
    alice.cancel(call_id, net.now)  # after the 100: the CANCEL goes at once
    net.run(40.0)
    assert net.events[A][-1] == CallFailed(call_id, 487, "Request Terminated")
    assert net.events[B][-1] == CallFailed(call_id, 487, "Request Terminated")
    sent = [parse_message(d) for _, _, d in net.sent]
    cancel = next(m for m in sent if isinstance(m, Request) and m.method == "CANCEL")
    invite = next(m for m in sent if isinstance(m, Request) and m.method == "INVITE")
    # §9.1: the INVITE's branch, Call-ID, From, To and CSeq number
    assert cancel.vias[0].branch == invite.vias[0].branch
    assert (cancel.cseq.number, cancel.call_id) == (invite.cseq.number, invite.call_id)
    assert any(isinstance(m, Request) and m.method == "ACK" for m in sent)  # ACK for the 487


def test_reject_and_a_bye_for_no_call() -> None:
    net, alice, bob = pair()
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    bob.reject(call_id, net.now, 603, "Decline")
    net.run(40.0)
    assert net.events[A][-1] == CallFailed(call_id, 603, "Decline")
    assert "CallEnded" not in net.kinds(B)


def test_lost_200s_and_acks_are_retransmitted() -> None:
    net, alice, bob = pair()
    lost = {"200": 2, "ACK": 1}

    def drop(data: bytes, src: Address, dst: Address) -> bool:
        is_ok = data.startswith(b"SIP/2.0 200") and b"INVITE" in data
        what = "200" if is_ok else "ACK" if data.startswith(b"ACK") else None
        if what is not None and lost[what]:
            lost[what] -= 1
            return True
        return False

    net.drop = drop
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(0.5)
    bob.answer(call_id, ANSWER, net.now)
    net.run(20.0)
    assert lost == {"200": 0, "ACK": 0}
    assert net.events[A][-1] == CallAnswered(call_id, ANSWER)
    assert net.events[B][-1] == CallEstablished(call_id, None)
    oks = [t for t, src, d in net.sent if src == B and d.startswith(b"SIP/2.0 200")]
    # §13.3.1.4: the UAS repeats its 200 at T1, 2T1, ... until the ACK
    assert oks[:3] == [0.5, 1.0, 2.0] and len(oks) == 4


def test_no_ack_ends_the_call_with_a_bye() -> None:
    net, alice, bob = pair()
    net.drop = lambda data, src, dst: data.startswith(b"ACK")
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(0.5)
    bob.answer(call_id, ANSWER, net.now)
    net.run(100.0)
    assert CallFailed(call_id, 408, "no ACK for the 200") in net.events[B]
    assert net.events[A][-1] == CallEnded(call_id, by_remote=True)


def registrar(net: Net, addr: Address, password: str, algorithm: str = "SHA-256") -> list[str]:
    """A registrar made of the codec: 401 with two challenges, then checks the digest."""
    seen: list[str] = []
    cseqs: list[int] = []

    class Registrar:
        local = addr

        def __init__(self) -> None:
            self.out: list[tuple[bytes, Address]] = []

        def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
            request = parse_message(data)
            assert isinstance(request, Request) and request.method == "REGISTER"
            auth = request.get("Authorization")
            seen.append(auth or "")
            cseqs.append(request.cseq.number)
            base = [(n, v) for n, v in request.headers if n in ("Via", "From", "Call-ID", "CSeq")]
            base.append(("To", (request.get("To") or "") + ";tag=reg"))
            if auth is None:
                challenge = 'Digest realm="example.com", nonce="n0nce", qop="auth", algorithm='
                base += [
                    ("WWW-Authenticate", challenge + "MD5"),
                    ("WWW-Authenticate", challenge + algorithm),
                ]
                self.out.append((Response(401, "Unauthorized", tuple(base)).encode(), src))
                return
            fields = DigestChallenge.parse(auth.replace("Digest", "Digest ", 1)).params
            f = dict(fields)
            expected = digest_response(
                f["algorithm"], username=f["username"], realm=f["realm"], password=password,
                method="REGISTER", uri=f["uri"], nonce=f["nonce"], nc=f["nc"],
                cnonce=f["cnonce"], qop=f["qop"],
            )  # fmt: skip
            if f["response"] != expected:
                self.out.append((Response(403, "Forbidden", tuple(base)).encode(), src))
                return
            contact = (request.get("Contact") or "") + ";expires=120"
            self.out.append((Response(200, "OK", (*base, ("Contact", contact))).encode(), src))

        def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
            out, self.out = self.out, []
            return out

        def next_event(self) -> None:
            return None

        def get_timer(self) -> None:
            return None

        def handle_timer(self, now: float) -> None:
            pass

    net.agents[addr] = Registrar()  # type: ignore[assignment]
    net.events[addr] = []
    seen_cseqs.append(cseqs)
    return seen


seen_cseqs: list[list[int]] = []


def test_register_answers_the_strongest_challenge() -> None:
    alice = UserAgent(
        A, user="alice", credentials=DigestClient("alice", "pw"), rng=random.Random(3)
    )
    net = Net(alice=alice)
    seen = registrar(net, B, "pw")
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(5.0)
    assert net.events[A] == [Registered(call_id, 120)]
    assert seen[0] == "" and "algorithm=SHA-256" in seen[1] and 'username="alice"' in seen[1]
    assert seen_cseqs[-1] == [1, 2]  # §10.2: the retry is a new request, CSeq + 1


def test_register_with_a_wrong_password_fails_once() -> None:
    alice = UserAgent(A, credentials=DigestClient("alice", "wrong"), rng=random.Random(4))
    net = Net(alice=alice)
    seen = registrar(net, B, "pw")
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(5.0)
    assert net.events[A] == [RegistrationFailed(call_id, 403, "Forbidden")]
    assert len(seen) == 2  # one retry with credentials, not a loop


def test_register_without_an_answer_times_out() -> None:
    alice = UserAgent(A, rng=random.Random(5))
    net = Net(alice=alice)
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(100.0)
    assert net.events[A] == [RegistrationFailed(call_id, 408, "Request Timeout")]
    assert isinstance(CallProgress, type)


def test_calls_at_once_are_bounded() -> None:
    alice = UserAgent(A, rng=random.Random(6))
    bob = UserAgent(B, rng=random.Random(7), max_calls=2)
    net = Net(alice=alice, bob=bob)
    ids = [alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER) for _ in range(3)]
    net.run(1.0)
    assert [e.call_id for e in net.events[B] if isinstance(e, IncomingCall)] == ids[:2]
    assert CallFailed(ids[2], 486, "Busy Here") in net.events[A]
    small = UserAgent(A, rng=random.Random(8), max_calls=1)
    small.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    with pytest.raises(SipUsageError):
        small.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)


def test_digest_nonce_counts_are_bounded() -> None:
    client = DigestClient("u", "p", rng=random.Random(9))
    for i in range(200):
        client.authorization(DigestChallenge("r", f"n{i}", qop=("auth",)), "REGISTER", "sip:r")
    assert len(client._counts) <= 64


def test_a_transport_error_fails_a_call_as_a_503() -> None:
    """RFC 3261 §8.1.3.1: a transport error (a refused connection, a TLS failure) is
    treated as a 503 Service Unavailable received, at once (RFC 3263 failover moves on)."""
    alice = UserAgent(A, user="alice", rng=random.Random(1))
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    assert alice.datagrams_to_send(0.0)
    alice.transport_error(("10.0.0.9", 5060), 0.1)  # another address: nothing waits there
    assert alice.next_event() is None
    alice.transport_error(B, 0.2)
    assert alice.next_event() == CallFailed(call_id, 503, "Service Unavailable")
    assert alice.next_event() is None and alice.get_timer() is None
