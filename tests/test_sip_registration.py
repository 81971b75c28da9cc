"""Registration refresh and removal (RFC 3261 §10.2.4, §10.2.2, §10.3) on the virtual
clock, against a registrar made of the codec that keeps real bindings with expiry times,
lists every binding of the AOR in its 2xx (another device's first), challenges with
digest (RFC 7616) and can change its nonce or stop answering."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.common.core import Address
from pyrtcstack.sip import (
    DigestChallenge,
    DigestClient,
    Registered,
    RegistrationFailed,
    Request,
    Response,
    SipUsageError,
    Unregistered,
    UserAgent,
    parse_message,
)
from pyrtcstack.sip.digest import digest_response
from pyrtcstack.sip.registration import MAX_REGISTRATIONS, REFRESH_MARGIN, refresh_delay
from tests.test_sip_agent import A, B, Net

OTHER = "<sip:alice@192.0.2.9:5060>"  # another device of the same AOR


class Registrar:
    """Bindings by Contact URI with their expiry time; grants ``min(asked, grant)``."""

    def __init__(self, addr: Address, password: str = "pw", grant: int = 300) -> None:
        self.local = addr
        self.password = password
        self.grant = grant
        self.nonce = "n1"
        self.silent = False
        self.min_expires: int | None = None  # 423 below it (§10.3 step 7)
        self.min_says: int | None = None  # the Min-Expires it writes, if not min_expires
        self.expires_text: str | None = None  # written as our Contact's expires instead
        self.now = 0.0
        self.bindings: dict[str, float] = {OTHER.strip("<>"): 1e9}
        self.requests: list[tuple[float, Request]] = []
        self.lapsed: list[float] = []  # times a REGISTER found our binding already expired
        self.out: list[tuple[bytes, Address]] = []

    def _valid(self, request: Request) -> bool:
        value = request.get("Authorization")
        if value is None:
            return False
        f = dict(DigestChallenge.parse(value).params)
        expected = digest_response(
            f["algorithm"], username=f["username"], realm=f["realm"], password=self.password,
            method="REGISTER", uri=f["uri"], nonce=f["nonce"], nc=f["nc"], cnonce=f["cnonce"],
            qop=f["qop"],
        )  # fmt: skip
        return f["nonce"] == self.nonce and f["response"] == expected

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        request = parse_message(data)
        assert isinstance(request, Request) and request.method == "REGISTER"
        self.requests.append((now, request))
        if self.silent:
            return
        base = [(n, v) for n, v in request.headers if n in ("Via", "From", "Call-ID", "CSeq")]
        base.append(("To", (request.get("To") or "") + ";tag=reg"))
        if not self._valid(request):
            challenge = f'Digest realm="example.com", nonce="{self.nonce}", qop="auth"'
            self.out.append(
                (Response(401, "Unauthorized", (*base, ("WWW-Authenticate", challenge))).encode(),
                 src)
            )  # fmt: skip
            return
        asked = int(request.get("Expires") or "3600")
        if self.min_expires is not None and 0 < asked < self.min_expires:
            least = ("Min-Expires", str(self.min_says or self.min_expires))
            self.out.append((Response(423, "Interval Too Brief", (*base, least)).encode(), src))
            return
        contact = request.contacts[0].uri
        if contact in self.bindings and self.bindings[contact] < now:
            self.lapsed.append(now)
        if asked == 0:
            self.bindings.pop(contact, None)
        else:
            self.bindings[contact] = now + min(asked, self.grant)
        contacts = [
            ("Contact", f"<{uri}>;expires={self.expires_text or int(until - now)}")
            for uri, until in self.bindings.items()
            if until >= now
        ]
        self.out.append((Response(200, "OK", (*base, *contacts)).encode(), src))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.out = self.out, []
        return out

    def next_event(self) -> None:
        return None

    def get_timer(self) -> None:
        return None

    def handle_timer(self, now: float) -> None:
        pass


def _setup(grant: int = 300) -> tuple[Net, UserAgent, Registrar]:
    alice = UserAgent(
        A, user="alice", credentials=DigestClient("alice", "pw"), rng=random.Random(21)
    )
    net = Net(alice=alice)
    registrar = Registrar(B, grant=grant)
    net.agents[B] = registrar  # type: ignore[assignment]
    net.events[B] = []
    return net, alice, registrar


def _ours(registrar: Registrar) -> str:
    return f"sip:alice@{A[0]}:{A[1]}"


def test_refresh_delay_is_the_margin_before_expiry_or_halfway() -> None:
    assert REFRESH_MARGIN == 32.0  # 64·T1, Timer F
    assert refresh_delay(3600) == 3568.0
    assert refresh_delay(300) == 268.0
    assert refresh_delay(64) == 32.0
    assert refresh_delay(40) == 20.0  # short: halfway
    assert refresh_delay(1) == 0.5


def test_the_binding_is_refreshed_before_it_lapses() -> None:
    net, alice, registrar = _setup(grant=300)
    call_id = alice.register("sip:10.0.0.2", B, 0.0, expires=3600)
    net.run(1000.0)
    # the granted expiry is our Contact's (300), not the other device's listed first
    assert net.events[A] == [Registered(call_id, 300)] * 4
    times = [t for t, _ in registrar.requests]
    assert times == [0.0, 0.0, 268.0, 536.0, 804.0]  # 300 - 32 s after each 2xx
    assert registrar.lapsed == [] and registrar.bindings[_ours(registrar)] == 804.0 + 300
    requests = [r for _, r in registrar.requests]
    # §10.2.4, §10.2: the same Call-ID, From tag and Contact; CSeq goes up by one each time
    assert {r.call_id for r in requests} == {call_id}
    assert [r.cseq.number for r in requests] == [1, 2, 3, 4, 5]
    assert len({r.from_.tag for r in requests}) == 1
    assert all(r.get("Expires") == "3600" for r in requests)
    # the refreshes carry the credentials from the start (the nonce still holds): no 401
    assert requests[0].get("Authorization") is None
    assert all(r.get("Authorization") for r in requests[1:])
    assert alice.registrations == [call_id]
    assert alice.get_timer() == 804.0 + 268.0


def test_a_short_expiry_is_refreshed_halfway() -> None:
    net, alice, registrar = _setup(grant=40)
    alice.register("sip:10.0.0.2", B, 0.0)
    net.run(50.0)
    assert [t for t, _ in registrar.requests] == [0.0, 0.0, 20.0, 40.0]


def test_a_new_challenge_on_a_refresh_is_answered_once() -> None:
    net, alice, registrar = _setup(grant=300)
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(1.0)
    registrar.nonce = "n2"  # the old nonce is refused from now on
    net.run(300.0)
    assert net.events[A] == [Registered(call_id, 300)] * 2
    requests = [r for _, r in registrar.requests]
    assert [r.cseq.number for r in requests] == [1, 2, 3, 4]
    assert 'nonce="n1"' in (requests[2].get("Authorization") or "")
    assert 'nonce="n2"' in (requests[3].get("Authorization") or "")
    assert registrar.lapsed == []


def test_unregister_removes_the_binding_and_stops_the_refreshes() -> None:
    net, alice, registrar = _setup(grant=300)
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(100.0)
    assert _ours(registrar) in registrar.bindings
    alice.unregister(call_id, net.now)
    net.run(2000.0)
    assert net.events[A] == [Registered(call_id, 300), Unregistered(call_id)]
    assert _ours(registrar) not in registrar.bindings
    last = registrar.requests[-1][1]
    assert last.get("Expires") == "0" and last.cseq.number == 3 and last.call_id == call_id
    assert last.get("Authorization")  # the credentials from the start
    assert len(registrar.requests) == 3  # no refresh after the removal
    assert alice.registrations == [] and alice.get_timer() is None
    with pytest.raises(SipUsageError):
        alice.unregister(call_id, net.now)


def test_a_refresh_without_an_answer_ends_the_registration() -> None:
    net, alice, registrar = _setup(grant=300)
    call_id = alice.register("sip:10.0.0.2", B, 0.0)
    net.run(100.0)
    registrar.silent = True
    net.run(5000.0)
    assert net.events[A] == [
        Registered(call_id, 300),
        RegistrationFailed(call_id, 408, "Request Timeout"),
    ]
    # the failure is known at 268 + 32 s: before the binding lapses at 300
    sent = [t for t, src, d in net.sent if src == A]
    assert max(sent) <= 300.0
    assert {r.cseq.number for _, r in registrar.requests} == {1, 2, 3}
    assert alice.registrations == [] and alice.get_timer() is None


def test_registrations_are_bounded_and_expires_checked() -> None:
    alice = UserAgent(A, rng=random.Random(22))
    for _ in range(MAX_REGISTRATIONS):
        alice.register("sip:10.0.0.2", B, 0.0)
    with pytest.raises(SipUsageError):
        alice.register("sip:10.0.0.2", B, 0.0)
    other = UserAgent(A, rng=random.Random(23))
    with pytest.raises(SipUsageError):
        other.register("sip:10.0.0.2", B, 0.0, expires=0)
    with pytest.raises(SipUsageError):
        other.unregister("no-such-registration", 0.0)


def test_interval_too_brief_is_answered_once_with_min_expires() -> None:
    net, alice, registrar = _setup(grant=3600)
    registrar.min_expires = 600
    call_id = alice.register("sip:10.0.0.2", B, 0.0, expires=30)
    net.run(10.0)
    assert net.events[A] == [Registered(call_id, 600)]  # §10.2.8
    asked = [r.get("Expires") for _, r in registrar.requests]
    assert asked == ["30", "30", "600"]  # 401, 423, then with Min-Expires (and credentials)
    assert [r.cseq.number for _, r in registrar.requests] == [1, 2, 3]
    # a registrar whose Min-Expires still refuses: the second 423 ends the registration
    registrar.min_expires = 700
    registrar.min_says = 650
    net.run(1000.0)
    assert net.events[A][-1] == RegistrationFailed(call_id, 423, "Interval Too Brief")
    assert [r.get("Expires") for _, r in registrar.requests][3:] == ["600", "650"]


@pytest.mark.parametrize("text", ["99999999999", "2147483648", "1e3", "-5"])
def test_a_hostile_expires_value_is_not_trusted(text: str) -> None:
    """Values that are not delta-seconds below 2**31 (§25.1, §20.19) fall back to what we
    asked for."""
    net, alice, registrar = _setup(grant=300)
    registrar.expires_text = text
    call_id = alice.register("sip:10.0.0.2", B, 0.0, expires=120)
    net.run(1.0)
    assert net.events[A] == [Registered(call_id, 120)]
