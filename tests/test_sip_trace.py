"""The SIP trace (``SipTracer`` on ``UserAgent.observer``) on a virtual clock: every
message in and out in order, each transaction state and timer, the call's steps, the
retransmissions marked, the digest retry shown without its secrets."""

from __future__ import annotations

import random

from test_sip_agent import ANSWER, OFFER, A, B, Net, incoming, registrar

from pyrtcstack.common.trace import TraceRecord
from pyrtcstack.sip import (
    DigestClient,
    Request,
    Response,
    SipTracer,
    TransactionLayer,
    UserAgent,
    parse_message,
)


def traced(agent: UserAgent) -> list[TraceRecord]:
    records: list[TraceRecord] = []

    def on_record(record: object) -> None:
        assert isinstance(record, TraceRecord)
        records.append(record)

    agent.observer = SipTracer(on_record, "UDP")
    return records


def messages(records: list[TraceRecord]) -> list[str]:
    """Each SIP message as "send INVITE" / "recv 200 INVITE" (the method it answers)."""
    out = []
    for r in records:
        if r.layer != "SIP":
            continue
        words = r.text.split(": SIP ", 1)[1].split()
        if words[0].isdigit():
            out.append(f"{r.direction} {words[0]} {words[words.index('to') + 1]}")
        else:
            out.append(f"{r.direction} {words[0]}")
    return out


def notes(records: list[TraceRecord], layer: str) -> list[str]:
    return [r.text for r in records if r.layer == layer]


def call(net: Net, alice: UserAgent, bob: UserAgent) -> str:
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(0.5)
    bob.ring(call_id, net.now)
    bob.answer(call_id, ANSWER, net.now)
    net.run(1.0)
    alice.bye(call_id, net.now)
    net.run(40.0)
    return call_id


def test_a_call_is_narrated_in_order_on_both_sides() -> None:
    alice = UserAgent(A, user="alice", rng=random.Random(1))
    bob = UserAgent(B, user="bob", rng=random.Random(2))
    a, b = traced(alice), traced(bob)
    net = Net(alice=alice, bob=bob)
    call_id = call(net, alice, bob)
    assert messages(a) == [
        "send INVITE", "recv 100 INVITE", "recv 180 INVITE", "recv 200 INVITE", "send ACK",
        "send BYE", "recv 200 BYE",
    ]  # fmt: skip
    assert messages(b) == [
        "recv INVITE", "send 100 INVITE", "send 180 INVITE", "send 200 INVITE", "recv ACK",
        "recv BYE", "send 200 BYE",
    ]  # fmt: skip
    # each line names the transport and the peer, and carries describe()'s line
    first = next(r for r in a if r.layer == "SIP")
    assert first.text.startswith("UDP to 10.0.0.2:5060: SIP INVITE sip:bob@10.0.0.2 (start a call")
    assert "SDP offer: audio 4000 RTP/AVP PCMU/8000" in first.text and first.peer == B
    # the transactions, as they change state (RFC 3261 §17, RFC 6026)
    states = [t.split(": ", 1)[1].split(" — ")[0] for t in notes(a, "SIP tx")]
    invite_client = [
        t.split(": ", 1)[1].split(" — ")[0]
        for t in notes(a, "SIP tx")
        if t.startswith("INVITE client") and "Timer" not in t.split(": ", 1)[1][:6]
    ]
    assert invite_client[:3] == ["new → Calling", "Calling → Proceeding", "Proceeding → Accepted"]
    assert "Accepted → Terminated" in states  # Timer M, 64·T1 later
    assert any(
        t.startswith("BYE client transaction") and "new → Trying" in t for t in notes(a, "SIP tx")
    )
    server = [t for t in notes(b, "SIP tx") if t.startswith("INVITE server")]
    assert "new → Proceeding — a new INVITE: 100 Trying at once" in server[0]
    assert "Proceeding → Accepted" in server[1]
    # the call's steps, from the agents' events
    short = call_id[:8]
    assert notes(a, "SIP call") == [
        f"call {short}…: 180 Ringing: an early dialog (§13.2.2.1)",
        notes(a, "SIP call")[1],
        f"call {short}…: ended by our BYE answered (§15)",
    ]
    assert notes(a, "SIP call")[1].startswith(f"call {short}…: answered")
    assert notes(b, "SIP call")[0].startswith(f"call {short}…: incoming from sip:alice@10.0.0.1")
    assert f"call {short}…: the ACK came: the dialog is confirmed (§13.3.1.4)" in notes(
        b, "SIP call"
    )
    # one clock: the records are in time order
    times = [r.time for r in a]
    assert times == sorted(times)


def test_a_lost_invite_is_retransmitted_by_timer_a_and_marked() -> None:
    alice = UserAgent(A, user="alice", rng=random.Random(3))
    bob = UserAgent(B, user="bob", rng=random.Random(4))
    a = traced(alice)
    net = Net(alice=alice, bob=bob)
    lost: list[bytes] = []

    def drop(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bool:
        if data.startswith(b"INVITE") and not lost:
            lost.append(data)
            return True
        return False

    net.drop = drop
    alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    lines = [(r.layer, r.text) for r in a]
    fired = lines.index(next(x for x in lines if "Timer A fired: retransmit the INVITE" in x[1]))
    again = lines[fired + 1]
    assert again[0] == "SIP" and "SIP INVITE" in again[1]
    assert again[1].endswith("[again: retransmission 1]")
    assert next(r for r in a if r.layer == "SIP" and r.direction == "send").time == 0.0
    assert a[fired].time == 0.5  # T1


def test_a_lost_ack_makes_the_callee_retransmit_its_200() -> None:
    alice = UserAgent(A, user="alice", rng=random.Random(5))
    bob = UserAgent(B, user="bob", rng=random.Random(6))
    b = traced(bob)
    net = Net(alice=alice, bob=bob)
    dropped: list[bytes] = []

    def drop(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bool:
        if data.startswith(b"ACK") and not dropped:
            dropped.append(data)
            return True
        return False

    net.drop = drop
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(0.1)
    bob.answer(incoming(net).call_id, ANSWER, net.now)
    net.run(5.0)
    oks = [r for r in b if r.layer == "SIP" and "SIP 200 OK to INVITE" in r.text]
    assert len(oks) == 2 and oks[1].text.endswith("[again: retransmission 1]")
    assert oks[1].time - oks[0].time == 0.5  # §13.3.1.4: T1
    acks = [r for r in b if r.layer == "SIP" and r.direction == "recv" and "SIP ACK" in r.text]
    assert len(acks) == 1  # alice ACKed the retransmitted 200 again (§13.2.2.4)
    assert call_id


def test_the_digest_retry_shows_who_but_not_the_secret() -> None:
    password = "p4ssw0rd-never-shown"
    alice = UserAgent(
        A, user="alice", credentials=DigestClient("alice", password), rng=random.Random(7)
    )
    a = traced(alice)
    net = Net(alice=alice)
    seen = registrar(net, B, password)
    alice.register("sip:10.0.0.2", B, 0.0)
    net.run(5.0)
    assert messages(a) == [
        "send REGISTER", "recv 401 REGISTER", "send REGISTER", "recv 200 REGISTER",
    ]  # fmt: skip
    sip = [r.text for r in a if r.layer == "SIP"]
    assert 'challenge Digest realm "example.com" SHA-256 qop auth' in sip[1]
    assert 'credentials Digest username "alice" realm "example.com" algorithm SHA-256' in sip[2]
    response = seen[1].split('response="')[1].split('"')[0]
    everything = "\n".join(r.text for r in a)
    assert password not in everything and response not in everything
    assert notes(a, "SIP call")[-1].endswith(": bound for 120 s (§10.2.4)")
    # the retry, told where it is made (RFC 3261 §22.2): between the 401 and the new REGISTER
    order = [(r.layer, r.text) for r in a if r.layer in ("SIP", "SIP call")]
    retry = next(i for i, (_, t) in enumerate(order) if "challenge answered" in t)
    assert order[retry][1].endswith(
        ": the 401 challenge answered: the REGISTER again with digest credentials, CSeq 2 "
        "(§22.2, RFC 7616 §3.4)"
    )
    assert order[retry][1].startswith("registration ")
    assert "SIP 401" in order[retry - 1][1] and "SIP REGISTER" in order[retry + 1][1]


def test_hostile_datagrams_are_described_never_raised() -> None:
    bob = UserAgent(B, user="bob", rng=random.Random(8))
    b = traced(bob)
    for i, data in enumerate([b"\x1b[2J\r\n\r\n", b"INVITE x\r\n\r\n", b"\r\n\r\n", b"\xff" * 40]):
        bob.receive_datagram(data, A, float(i))
        bob.datagrams_to_send(float(i))
    assert [r.direction for r in b] == ["recv"] * 4
    assert all("\x1b" not in r.text and "\n" not in r.text for r in b)
    assert "CRLF keep-alive" in b[2].text and "malformed SIP" in b[3].text
    bob.receive_datagram(b"\r\n\r\n", A, 5.0)  # the same keep-alive again: no retransmission
    assert b[-1].text.endswith("CRLF keep-alive, 4 B (RFC 5626 §3.5.1)")


def test_the_transaction_layer_alone_narrates_messages_states_and_timers() -> None:
    """A :class:`TransactionLayer` used without an agent takes an observer too: a
    request never answered, retransmitted by Timer E until Timer F (§17.1.2.2)."""
    layer = TransactionLayer(A)
    records: list[TraceRecord] = []

    def on_record(record: object) -> None:
        assert isinstance(record, TraceRecord)
        records.append(record)

    layer.observer = SipTracer(on_record)
    headers = (
        ("From", "<sip:a@example.com>;tag=1"),
        ("To", "<sip:b@example.com>"),
        ("Call-ID", "c1"),
        ("CSeq", "1 OPTIONS"),
    )
    layer.send_request(Request("OPTIONS", "sip:b@example.com", headers), B, 0.0)
    now = 0.0
    while (when := layer.get_timer()) is not None and when < 40:
        now = max(now, when)
        layer.handle_timer(now)
        layer.datagrams_to_send(now)
    texts = [(r.time, r.layer, r.text) for r in records]
    assert texts[0][1:] == (
        "SIP",
        "UDP to 10.0.0.2:5060: SIP OPTIONS sip:b@example.com (ask for capabilities, "
        "RFC 3261 §11), Call-ID c1, CSeq 1",
    )
    assert texts[1][2].startswith("OPTIONS client transaction z9hG4bK")
    assert texts[1][2].endswith(": new → Trying — request sent; Timer E retransmits it over UDP, "
                                "Timer F gives up after 64·T1 (§17.1.2.2)")  # fmt: skip
    fired = [(t, text.split("Timer ")[1][:1]) for t, _, text in texts if " fired: " in text]
    # E at T1, then doubling up to T2: 0.5, 1.5, 3.5, 7.5, 11.5, ... until F at 64·T1
    assert fired[:5] == [(0.5, "E"), (1.5, "E"), (3.5, "E"), (7.5, "E"), (11.5, "E")]
    assert fired[-1] == (32.0, "F")
    again = [text for _, layer, text in texts if layer == "SIP"][1:]
    assert len(again) == len(fired) - 1
    assert [a.rsplit("[again: retransmission ", 1)[1] for a in again[:3]] == ["1]", "2]", "3]"]
    assert texts[-1][2].endswith("Trying → Terminated")


def test_the_fuzz_harness_runs_over_seeds() -> None:
    """fuzz/fuzz_sip_trace.py over the SIP harness's seeds (RFC 4475's torture messages,
    challenges for the open transactions, truncations) and a 401 to its REGISTER."""
    import importlib.util
    from pathlib import Path

    from test_sip_fuzz_harness import seeds

    path = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_sip_trace.py"
    spec = importlib.util.spec_from_file_location("fuzz_sip_trace", path)
    assert spec is not None and spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    agent, _ = harness._agent()
    register = next(
        parse_message(d) for d, _ in agent.datagrams_to_send(0.0) if d.startswith(b"REGISTER")
    )
    challenge = Response(401, "Unauthorized", (
        *[(n, v) for n, v in register.headers if n in ("Via", "From", "To", "Call-ID", "CSeq")],
        ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256'),
    )).encode()  # fmt: skip
    for data in [*seeds(), challenge]:
        harness.TestOneInput(data)
    # the 401 reaches the harness's agent (the same randomness): it retries with
    # credentials, whose lines the harness checked for the response and the password
    agent, _ = harness._agent()
    agent.datagrams_to_send(0.0)
    agent.receive_datagram(challenge, harness._PEER, 1.0)
    retry = [d for d, _ in agent.datagrams_to_send(1.0) if b"Authorization: Digest" in d]
    assert len(retry) == 1 and harness._secrets(retry[0])


def test_a_reinvite_glare_is_narrated() -> None:
    """Both sides send a re-INVITE at once (§14.1): each line names a re-INVITE, each
    491 says glare, the retry after the back-off is a new transaction, and the calls'
    steps say what happened to each re-INVITE."""
    from test_sip_reinvite import OFFER2, _run_answering

    alice = UserAgent(A, user="alice", rng=random.Random(11), credentials=None)
    bob = UserAgent(B, user="bob", rng=random.Random(12))
    net = Net(alice=alice, bob=bob)
    call_id = alice.invite("sip:bob@10.0.0.2", B, 0.0, OFFER)
    net.run(1.0)
    bob.answer(call_id, ANSWER, net.now)
    net.run(2.0)
    a = traced(alice)
    alice.reinvite(call_id, OFFER2, net.now)
    bob.reinvite(call_id, OFFER2, net.now)
    _run_answering(net, net.now + 6, (alice, bob))
    steps = messages(a)
    assert steps[:4] == ["send re-INVITE", "recv re-INVITE", "send 100 INVITE", "send 491 INVITE"]
    assert "recv 491 INVITE" in steps and steps.count("send re-INVITE") == 2, steps
    glare = next(r.text for r in a if r.layer == "SIP" and " 491 " in r.text)
    assert "491 Request Pending to INVITE (re-INVITE glare: try later, §14.1)" in glare
    calls = notes(a, "SIP call")
    short = call_id[:8]
    assert f"call {short}…: a re-INVITE with a new offer (§14.2)" in calls
    assert f"call {short}…: our re-INVITE answered and ACKed (§14.1)" in calls
    sent = [
        r for r in a if r.layer == "SIP" and r.direction == "send" and ": SIP re-INVITE" in r.text
    ]
    assert 2.1 <= sent[1].time - sent[0].time <= 4.01  # the Call-ID's owner waits 2.1-4 s


def test_the_retransmission_memory_is_bounded() -> None:
    """A peer sending many distinct messages cannot grow the tracer: it remembers the last
    ``REMEMBERED`` each way, so a message older than that is no longer marked again."""
    tracer = SipTracer(lambda record: None)
    first = b"OPTIONS sip:b@example.com SIP/2.0\r\n\r\n"
    for i in range(10 * SipTracer.REMEMBERED):
        tracer.message_received(first + str(i).encode(), A, float(i))
    assert all(len(seen) <= SipTracer.REMEMBERED for seen in tracer._seen.values())
    records: list[TraceRecord] = []
    again = SipTracer(lambda r: records.append(r) if isinstance(r, TraceRecord) else None)
    for data in (first, first, *(first + bytes([i]) for i in range(SipTracer.REMEMBERED)), first):
        again.message_received(data, A, 0.0)
    assert records[1].text.endswith("[again: retransmission 1]")
    assert not records[-1].text.endswith("]")  # forgotten: 64 others came in between


def test_a_malformed_request_on_a_stream_is_narrated_with_its_400() -> None:
    """A stream driver hands the agent a head it could not parse (receive_malformed): the
    trace shows it coming in, then our stateless 400 going out (RFC 3261 §21.4.1)."""
    from pyrtcstack.sip import SipParseError

    bob = UserAgent(B, user="bob", transport="TCP", rng=random.Random(9))
    b = traced(bob)
    bad = (
        b"OPTIONS sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKx\r\n"
        b"From: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.2>\r\nCall-ID: c9\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: many\r\n\r\n"
    )
    try:
        parse_message(bad)
    except SipParseError as exc:
        bob.receive_malformed(bad, exc, A, 1.0)
    bob.datagrams_to_send(1.0)
    assert [(r.direction, r.layer) for r in b] == [("recv", "SIP"), ("send", "SIP")]
    assert "malformed SIP" in b[0].text and "Max-Forwards" in b[0].text
    assert ": SIP 400 " in b[1].text and "to OPTIONS" in b[1].text
