"""Malformed requests get a stateless answer (RFC 3261 §21.4.1 400, §21.5.7 505) when
their Via, From, To, Call-ID and CSeq can be read; responses and ACKs never; the answer is
never longer than the request plus a fixed bound, and at most ``ERROR_ANSWERS_PER_SECOND``
go out a second. Over UDP (the sans-I/O layer), TCP (the 400, then the connection is
closed: a stream cannot be re-synchronised) and WebSocket (the connection stays). And the
user agent's own refusals of well-formed requests: 420 (§8.2.2.3), 416 (§8.2.2.1)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sip_strategies import requests
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.sip import (
    Request,
    Response,
    SipParseError,
    TransactionLayer,
    UserAgent,
    parse_message,
)
from pyrtcstack.sip.reject import MAX_ERROR_GROWTH, error_response
from pyrtcstack.sip.transaction import ERROR_ANSWERS_PER_SECOND

LOCAL = ("127.0.0.1", 5060)
PEER = ("192.0.2.7", 5071)
DATA = Path(__file__).parent / "data" / "sip" / "rfc4475.json"

GOOD = (
    "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.7:5071;branch=z9hG4bKbad1\r\n"
    "v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKfirsthop\r\n"
    "From: <sip:alice@192.0.2.7>;tag=a1\r\n"
    "t: <sip:bob@127.0.0.1>\r\n"
    "Call-ID: bad-1@192.0.2.7\r\n"
    "CSeq: 7 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


def answers(layer: TransactionLayer, now: float = 0.0) -> list[tuple[Response, tuple[str, int]]]:
    out = []
    for data, addr in layer.datagrams_to_send(now):
        message = parse_message(data)
        assert isinstance(message, Response)
        out.append((message, addr))
    return out


def test_a_bad_max_forwards_gets_400_naming_it_with_the_fields_copied() -> None:
    layer = TransactionLayer(LOCAL, rng=random.Random(1))
    bad = GOOD.replace("Max-Forwards: 70", "Max-Forwards: seventy").encode()
    layer.receive_datagram(bad, PEER, 0.0)
    ((response, addr),) = answers(layer)
    assert addr == PEER and response.status == 400
    assert "Max-Forwards" in response.reason and response.reason.startswith("Bad Request")
    # §8.2.6.2: every Via (in order), From, Call-ID, CSeq copied; To gets our tag
    assert [v.branch for v in response.vias] == ["z9hG4bKbad1", "z9hG4bKfirsthop"]
    assert response.from_.tag == "a1" and response.call_id == "bad-1@192.0.2.7"
    assert str(response.cseq) == "7 OPTIONS"
    assert response.to.uri == "sip:bob@127.0.0.1" and response.to.tag
    assert layer.dropped == 1 and layer.errors_answered == 1
    assert layer.next_event() is None and len(layer) == 0  # no transaction was made


def test_a_wrong_sip_version_gets_505() -> None:
    layer = TransactionLayer(LOCAL, rng=random.Random(1))
    layer.receive_datagram(GOOD.replace("127.0.0.1 SIP/2.0", "127.0.0.1 SIP/3.0").encode(), PEER, 0)
    ((response, _),) = answers(layer)
    assert response.status == 505 and response.reason.startswith("Version Not Supported")


def test_responses_acks_and_requests_without_the_copied_fields_are_only_dropped() -> None:
    layer = TransactionLayer(LOCAL, rng=random.Random(1))
    bad_mf = GOOD.replace("Max-Forwards: 70", "Max-Forwards: x")
    cases = [
        bad_mf.replace("OPTIONS sip:bob@127.0.0.1 SIP/2.0", "SIP/2.0 200 OK"),  # a response
        bad_mf.replace("OPTIONS sip", "ACK sip").replace("7 OPTIONS", "7 ACK"),  # an ACK
        bad_mf.replace("OPTIONS sip", "BYE sip").replace("7 OPTIONS", "7 ACK"),  # CSeq ACK
        bad_mf.replace("Call-ID: bad-1@192.0.2.7\r\n", ""),  # no Call-ID
        bad_mf.replace("From: <sip:alice@192.0.2.7>", "From: <<<"),  # no readable From
        bad_mf.replace("Via: SIP/2.0/UDP 192.0.2.7:5071", "Via: SIP/2.0 nowhere"),
        bad_mf.replace("CSeq: 7 OPTIONS", "CSeq: 99999999999 OPTIONS"),
        bad_mf.replace("\r\n\r\n", "\r\n"),  # no blank line: the head is not known
        "garbage\r\n\r\n",
    ]
    for data in cases:
        layer.receive_datagram(data.encode(), PEER, 0.0)
    assert layer.datagrams_to_send(0.0) == []
    assert layer.dropped == len(cases) and layer.errors_answered == 0


def test_answers_are_rate_limited() -> None:
    layer = TransactionLayer(LOCAL, rng=random.Random(1))
    bad = GOOD.replace("Max-Forwards: 70", "Max-Forwards: x").encode()
    for _ in range(100):
        layer.receive_datagram(bad, PEER, 5.0)
    assert len(layer.datagrams_to_send(5.0)) == ERROR_ANSWERS_PER_SECOND
    for _ in range(100):
        layer.receive_datagram(bad, PEER, 5.5)  # half a second refills half the budget
    assert len(layer.datagrams_to_send(5.5)) == ERROR_ANSWERS_PER_SECOND // 2
    assert layer.dropped == 200 and layer.errors_answered == ERROR_ANSWERS_PER_SECOND * 3 // 2


def test_the_rfc_4475_invalid_requests() -> None:
    """RFC 4475 §3.1.2 and §3.3: those with the five fields readable get 400 (or 505 for
    badvers, §3.3.2); each answer parses and is within the bound."""
    statuses = {}
    for case in json.loads(DATA.read_text())["messages"]:
        if case["valid"]:
            continue
        data = case["text"].encode("utf-8")
        layer = TransactionLayer(LOCAL, rng=random.Random(1))
        layer.receive_datagram(data, PEER, 0.0)
        out = layer.datagrams_to_send(0.0)
        if out:
            ((answer, _),) = out
            assert len(answer) <= len(data) + MAX_ERROR_GROWTH
            response = parse_message(answer)
            assert isinstance(response, Response)
            statuses[case["name"]] = response.status
    assert statuses["badvers"] == 505
    for name in ("mismatch01", "mismatch02", "clerr", "ncl", "ltgtruri", "escruri", "mcl01"):
        assert statuses[name] == 400, name
    assert "insuf" not in statuses  # no From: nothing to answer with
    assert "bigcode" not in statuses  # a response


_CORRUPTIONS = [
    ("Max-Forwards: 70", "Max-Forwards: 300"),
    ("Max-Forwards: 70", "Max-Forwards: 70\r\nMax-Forwards: 69"),
    (" SIP/2.0\r\n", " SIP/2.1\r\n"),
    ("Content-Length: 0", "Content-Length: 5"),
    ("Content-Length: 0", "Content-Length: x"),
    ("CSeq: 7 OPTIONS", "CSeq: 7 INVITE"),
    ("t: <sip:bob@127.0.0.1>", "t: <sip:bob@127.0.0.1>\r\nTo: <sip:eve@x>"),
    ("Call-ID", "Contact: <<\r\nCall-ID"),
    ("\r\n\r\n", "\r\nbad line\r\n\r\n"),
]


@settings(max_examples=200, deadline=None)
@given(
    request=requests(),
    corruption=st.sampled_from(_CORRUPTIONS),
    junk=st.binary(max_size=40),
    where=st.integers(0, 2000),
)
def test_any_answer_parses_and_is_within_the_bound(
    request: Request, corruption: tuple[str, str], junk: bytes, where: int
) -> None:
    head = request.encode().partition(b"\r\n\r\n")[0].decode()
    text = head + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    text = text.replace(corruption[0], corruption[1], 1)
    for data in (text.encode(), text.encode()[:where] + junk + text.encode()[where:]):
        try:
            parse_message(data)
            continue
        except SipParseError as exc:
            answer = error_response(data, exc, "0123456789abcdef")
        if answer is None:
            continue
        assert len(answer) <= len(data) + MAX_ERROR_GROWTH
        response = parse_message(answer)
        assert isinstance(response, Response) and response.status in (400, 505, 513)
        assert response.to.tag is not None


async def _over_tcp() -> tuple[bytes, bytes, int]:
    bob = await SipPhone.open(user="bob", transport="TCP")
    try:
        reader, writer = await asyncio.open_connection(*bob.local)
        bad = GOOD.replace("SIP/2.0/UDP 192.0.2.7:5071", "SIP/2.0/TCP 192.0.2.7:5071")
        writer.write(bad.replace("Max-Forwards: 70", "Max-Forwards: x").encode())
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        rest = await asyncio.wait_for(reader.read(), 5)  # then the connection is closed
        writer.close()
        return answer, rest, bob.endpoint.parse_errors  # type: ignore[union-attr]
    finally:
        bob.close()


def test_over_tcp_the_400_goes_out_before_the_connection_is_closed() -> None:
    answer, rest, parse_errors = asyncio.run(_over_tcp())
    response = parse_message(answer)
    assert isinstance(response, Response) and response.status == 400
    assert "Max-Forwards" in response.reason
    assert rest == b"" and parse_errors == 1


async def _over_ws() -> tuple[Response, Response]:
    bob = await SipPhone.open(user="bob", transport="WS")
    try:
        async with connect(
            f"ws://127.0.0.1:{bob.local[1]}", subprotocols=[Subprotocol("sip")]
        ) as ws:
            bad = GOOD.replace("SIP/2.0/UDP 192.0.2.7:5071", "SIP/2.0/WS x1.invalid")
            await ws.send(bad.replace("Max-Forwards: 70", "Max-Forwards: x").encode())
            first = parse_message(await asyncio.wait_for(ws.recv(decode=False), 5))
            await ws.send(bad.replace("bad1", "good2").encode())  # the connection stays
            second = parse_message(await asyncio.wait_for(ws.recv(decode=False), 5))
            assert isinstance(first, Response) and isinstance(second, Response)
            return first, second
    finally:
        bob.close()


def test_over_websocket_the_400_is_sent_and_the_connection_stays() -> None:
    first, second = asyncio.run(_over_ws())
    assert first.status == 400 and "Max-Forwards" in first.reason
    assert second.status == 200 and second.vias[0].branch == "z9hG4bKgood2"


def _agent_answers(data: str) -> tuple[list[Response], list[object]]:
    agent = UserAgent(LOCAL, user="bob", rng=random.Random(1))
    agent.receive_datagram(data.encode(), PEER, 0.0)
    out = [parse_message(d) for d, addr in agent.datagrams_to_send(0.0) if addr == PEER]
    events = []
    while (event := agent.next_event()) is not None:
        events.append(event)
    assert all(isinstance(m, Response) for m in out)
    return out, events  # type: ignore[return-value]


def test_a_required_extension_gets_420_with_unsupported() -> None:
    """§8.2.2.3: we support no option tag, so an INVITE requiring 100rel (RFC 3262) is
    refused with 420 listing it, and no call is offered to the user."""
    invite = GOOD.replace("OPTIONS", "INVITE").replace("Max-Forwards: 70", "Require: 100rel")
    out, events = _agent_answers(invite)
    final = out[-1]
    assert final.status == 420 and final.get("Unsupported") == "100rel"
    assert final.to.tag is not None and events == []
    out, events = _agent_answers(GOOD.replace("Max-Forwards: 70", "Supported: 100rel"))
    assert out[-1].status == 200  # Supported asks nothing


def test_a_request_uri_scheme_we_do_not_serve_gets_416() -> None:
    """§8.2.2.1: a tel: Request-URI is refused with 416."""
    out, _ = _agent_answers(GOOD.replace("OPTIONS sip:bob@127.0.0.1", "OPTIONS tel:+15551234"))
    assert [r.status for r in out] == [416]
