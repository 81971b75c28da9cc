"""SIP transactions (RFC 3261 §17, RFC 6026) on a virtual clock: every timer's schedule,
UDP retransmission, reliable transports without it, the ACK for a non-2xx, matching."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.common.core import DatagramCore, Event
from pyrtcstack.sip import (
    MAGIC_COOKIE,
    T1,
    T2,
    T4,
    Request,
    RequestReceived,
    Response,
    ResponseReceived,
    SipUsageError,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TxState,
    parse_message,
)

ALICE = ("127.0.0.1", 5060)
BOB = ("127.0.0.1", 5070)


def request(method: str, cseq: int = 1) -> Request:
    return Request(
        method,
        "sip:bob@127.0.0.1:5070",
        (
            ("From", "<sip:alice@127.0.0.1>;tag=a1"),
            ("To", "<sip:bob@127.0.0.1>"),
            ("Call-ID", "call-1"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
        ),
    )


def response_to(req: Request, status: int, to_tag: str = "b1") -> Response:
    to = req.get("To") or ""
    if status > 100 and ";tag=" not in to:
        to += f";tag={to_tag}"
    headers = [(n, v) for n, v in req.headers if n in ("Via", "From", "Call-ID", "CSeq")]
    return Response(status, "Reason", (*headers, ("To", to)))


def sent_at(layer: TransactionLayer, until: float) -> list[tuple[float, bytes]]:
    """Drive ``layer`` on a virtual clock up to ``until``: (time, datagram) pairs."""
    out: list[tuple[float, bytes]] = []
    now = 0.0
    while True:
        out += [(now, d) for d, _ in layer.datagrams_to_send(now)]
        when = layer.get_timer()
        if when is None or when > until:
            return out
        now = max(now, when)
        layer.handle_timer(now)


def events(layer: TransactionLayer) -> list[Event]:
    out = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def test_the_layer_is_a_datagram_core_with_branches_from_the_injected_rng() -> None:
    a = TransactionLayer(ALICE, rng=random.Random(7))
    b = TransactionLayer(ALICE, rng=random.Random(7))
    assert isinstance(a, DatagramCore)
    branch = a.new_branch()
    assert branch.startswith(MAGIC_COOKIE) and len(branch) == 29
    assert branch == b.new_branch() and a.new_branch() != branch
    a.send_request(request("OPTIONS"), BOB, 0.0)
    ((data, addr),) = a.datagrams_to_send(0.0)
    sent = parse_message(data)
    assert addr == BOB
    via = sent.vias[0]
    assert (via.transport, via.host, via.port, via.param("rport")) == ("UDP", "127.0.0.1", 5060, "")
    assert via.branch is not None and via.branch.startswith(MAGIC_COOKIE)
    assert a.get_timer() == T1  # Timer E


def test_invite_client_retransmits_with_timer_a_and_times_out_with_b() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    key = layer.send_request(request("INVITE"), BOB, 0.0)
    times = [t for t, _ in sent_at(layer, 100.0)]
    # §17.1.1.2: T1, 2T1, 4T1 ... until Timer B (64·T1 = 32 s) ends it
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert events(layer) == [TransactionTimeout(key, "B"), TransactionTerminated(key)]
    assert layer.state(key) is TxState.TERMINATED and len(layer) == 0


def test_non_invite_client_caps_timer_e_at_t2_and_times_out_with_f() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    key = layer.send_request(request("OPTIONS"), BOB, 0.0)
    times = [t for t, _ in sent_at(layer, 100.0)]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(layer)[0] == TransactionTimeout(key, "F")


def test_reliable_transport_sends_once_and_absorbs_nothing() -> None:
    layer = TransactionLayer(ALICE, transport="TCP", rng=random.Random(1))
    key = layer.send_request(request("OPTIONS"), BOB, 0.0)
    assert [t for t, _ in sent_at(layer, 100.0)] == [0.0]  # no Timer E on TCP
    assert events(layer)[0] == TransactionTimeout(key, "F")
    key = layer.send_request(request("OPTIONS", 2), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    sent = parse_message(data)
    assert isinstance(sent, Request) and sent.vias[0].transport == "TCP"
    layer.receive_datagram(response_to(sent, 200).encode(), BOB, 1.0)
    assert layer.get_timer() == 1.0  # Timer K = 0 on a reliable transport
    layer.handle_timer(1.0)
    assert [type(e) for e in events(layer)] == [ResponseReceived, TransactionTerminated]


def test_non_invite_client_proceeding_retransmits_every_t2_then_k_absorbs() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    key = layer.send_request(request("REGISTER"), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    sent = parse_message(data)
    assert isinstance(sent, Request)
    layer.receive_datagram(response_to(sent, 100).encode(), BOB, 0.2)
    assert layer.state(key) is TxState.PROCEEDING
    layer.handle_timer(0.5)  # Timer E in Proceeding: retransmit, then every T2
    assert len(layer.datagrams_to_send(0.5)) == 1 and layer.get_timer() == 0.5 + T2
    ok = response_to(sent, 200)
    layer.receive_datagram(ok.encode(), BOB, 1.0)
    layer.receive_datagram(ok.encode(), BOB, 1.1)  # a retransmission: absorbed
    got = [e for e in events(layer) if isinstance(e, ResponseReceived)]
    assert [e.response.status for e in got] == [100, 200]
    assert layer.state(key) is TxState.COMPLETED and layer.get_timer() == 1.0 + T4  # K
    layer.handle_timer(1.0 + T4)
    assert layer.state(key) is TxState.TERMINATED and layer.datagrams_to_send(9.0) == []


def test_invite_client_acks_a_failure_inside_the_transaction() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    key = layer.send_request(request("INVITE"), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    invite = parse_message(data)
    assert isinstance(invite, Request)
    layer.receive_datagram(response_to(invite, 180).encode(), BOB, 0.1)
    assert layer.state(key) is TxState.PROCEEDING
    assert layer.get_timer() is None  # no A, and B only runs in Calling (§17.1.1.2)
    busy = response_to(invite, 486)
    layer.receive_datagram(busy.encode(), BOB, 2.0)
    ((ack_data, addr),) = layer.datagrams_to_send(2.0)
    ack = parse_message(ack_data)
    # §17.1.1.3: same Request-URI, top Via (branch), From, Call-ID, CSeq number; To tagged
    assert isinstance(ack, Request) and ack.method == "ACK" and addr == BOB
    assert ack.uri == invite.uri and ack.get_all("Via") == invite.get_all("Via")[:1]
    assert (ack.call_id, ack.from_, ack.cseq.number) == (invite.call_id, invite.from_, 1)
    assert ack.to.tag == "b1"
    layer.receive_datagram(busy.encode(), BOB, 3.0)  # retransmitted 486: ACK again
    assert [d for d, _ in layer.datagrams_to_send(3.0)] == [ack_data]
    assert [e.response.status for e in events(layer) if isinstance(e, ResponseReceived)] == [
        180,
        486,
    ]
    assert layer.get_timer() == 2.0 + 32.0  # Timer D
    layer.handle_timer(34.0)
    assert layer.state(key) is TxState.TERMINATED


def test_invite_client_2xx_goes_to_accepted_and_later_ones_up() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    key = layer.send_request(request("INVITE"), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    invite = parse_message(data)
    assert isinstance(invite, Request)
    ok = response_to(invite, 200)
    layer.receive_datagram(ok.encode(), BOB, 0.1)
    assert layer.datagrams_to_send(0.1) == []  # the ACK to a 2xx is the dialog's (§13.2.2.4)
    layer.receive_datagram(ok.encode(), BOB, 0.6)  # RFC 6026 §7.2: passed up again
    assert [e.key for e in events(layer) if isinstance(e, ResponseReceived)] == [key, key]
    assert layer.get_timer() == 0.1 + 64 * T1  # Timer M
    layer.handle_timer(40.0)
    layer.receive_datagram(ok.encode(), BOB, 41.0)  # no transaction: key None
    evs = events(layer)
    assert evs[0] == TransactionTerminated(key) and isinstance(evs[1], ResponseReceived)
    assert evs[1].key is None


def _server_invite(layer: TransactionLayer, now: float = 0.0) -> tuple[str, Request]:
    client = TransactionLayer(BOB, rng=random.Random(2))
    client.send_request(request("INVITE"), ALICE, 0.0)
    ((data, _),) = client.datagrams_to_send(0.0)
    layer.receive_datagram(data, BOB, now)
    event = layer.next_event()
    assert isinstance(event, RequestReceived) and event.key is not None
    return event.key, event.request


def test_invite_server_sends_100_and_answers_retransmissions() -> None:
    layer = TransactionLayer(ALICE)
    key, invite = _server_invite(layer)
    ((trying, addr),) = layer.datagrams_to_send(0.0)
    hundred = parse_message(trying)
    assert isinstance(hundred, Response) and hundred.status == 100 and hundred.to.tag is None
    assert hundred.get_all("Via") == invite.get_all("Via")
    assert addr == BOB and layer.state(key) is TxState.PROCEEDING
    layer.receive_datagram(invite.encode(), BOB, 0.3)  # retransmission: 100 again
    assert [d for d, _ in layer.datagrams_to_send(0.3)] == [trying]
    assert layer.next_event() is None  # not a new request for the TU
    ringing = response_to(invite, 180)
    layer.send_response(key, ringing, 0.4)
    layer.datagrams_to_send(0.4)
    layer.receive_datagram(invite.encode(), BOB, 0.5)
    assert [d for d, _ in layer.datagrams_to_send(0.5)] == [ringing.encode()]


def test_invite_server_failure_retransmits_with_g_until_the_ack() -> None:
    layer = TransactionLayer(ALICE)
    key, invite = _server_invite(layer)
    layer.datagrams_to_send(0.0)
    layer.send_response(key, response_to(invite, 486), 1.0)
    times = [t for t, _ in sent_at_from(layer, 1.0, 9.0)]
    # §17.2.1: T1, 2T1, 4T1 capped at T2
    assert times == [1.0, 1.5, 2.5, 4.5, 8.5]
    ack = Request("ACK", invite.uri, (
        ("Via", invite.get_all("Via")[0]), ("From", invite.get("From") or ""),
        ("To", response_to(invite, 486).get("To") or ""), ("Call-ID", invite.call_id),
        ("CSeq", "1 ACK"), ("Max-Forwards", "70"),
    ))  # fmt: skip
    layer.receive_datagram(ack.encode(), BOB, 9.0)
    assert layer.state(key) is TxState.CONFIRMED and layer.get_timer() == 9.0 + T4  # I
    assert layer.next_event() is None  # the ACK of a failure stays in the transaction
    layer.handle_timer(9.0 + T4)
    assert layer.state(key) is TxState.TERMINATED


def sent_at_from(layer: TransactionLayer, start: float, until: float) -> list[tuple[float, bytes]]:
    out: list[tuple[float, bytes]] = [(start, d) for d, _ in layer.datagrams_to_send(start)]
    while (when := layer.get_timer()) is not None and when <= until:
        layer.handle_timer(when)
        out += [(when, d) for d, _ in layer.datagrams_to_send(when)]
    return out


def test_invite_server_without_ack_times_out_with_h() -> None:
    layer = TransactionLayer(ALICE)
    key, invite = _server_invite(layer)
    layer.send_response(key, response_to(invite, 500), 0.0)
    times = [t for t, _ in sent_at_from(layer, 0.0, 100.0)]
    assert times == [0.0, 0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(layer) == [TransactionTimeout(key, "H"), TransactionTerminated(key)]


def test_non_invite_server_repeats_its_final_until_timer_j() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(3))
    client = TransactionLayer(BOB, rng=random.Random(4))
    client.send_request(request("OPTIONS"), ALICE, 0.0)
    ((data, _),) = client.datagrams_to_send(0.0)
    layer.receive_datagram(data, BOB, 0.0)
    event = layer.next_event()
    assert isinstance(event, RequestReceived) and event.key is not None
    assert layer.datagrams_to_send(0.0) == []  # no 100 for a non-INVITE
    layer.receive_datagram(data, BOB, 0.5)  # Trying: absorbed, nothing to repeat
    assert layer.datagrams_to_send(0.5) == []
    ok = response_to(event.request, 200)
    layer.send_response(event.key, ok, 1.0)
    layer.receive_datagram(data, BOB, 1.5)
    assert [d for d, _ in layer.datagrams_to_send(1.5)] == [ok.encode(), ok.encode()]
    assert layer.get_timer() == 1.0 + 64 * T1  # Timer J
    with pytest.raises(SipUsageError):
        layer.send_response(event.key, ok, 2.0)  # one final response only


def test_matching_keeps_methods_and_branches_apart() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(5))
    key = layer.send_request(request("INVITE"), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    invite = parse_message(data)
    assert isinstance(invite, Request)
    # a CANCEL's response carries the INVITE's branch but another method (§17.1.3)
    cancel_ok = response_to(Request("CANCEL", invite.uri, tuple(
        (n, "1 CANCEL" if n == "CSeq" else v) for n, v in invite.headers)), 200)  # fmt: skip
    layer.receive_datagram(cancel_ok.encode(), BOB, 0.1)
    assert layer.state(key) is TxState.CALLING
    (event,) = events(layer)
    assert isinstance(event, ResponseReceived) and event.key is None
    other = response_to(invite, 200).encode().replace(b"z9hG4bK", b"z9hG4bX", 1)
    layer.receive_datagram(other, BOB, 0.2)
    assert layer.state(key) is TxState.CALLING


def test_bad_input_is_dropped_and_counted() -> None:
    layer = TransactionLayer(ALICE)
    layer.receive_datagram(b"garbage", BOB, 0.0)
    rfc2543 = (
        request("OPTIONS")
        .encode()
        .replace(b"\r\nFrom", b"\r\nVia: SIP/2.0/UDP 127.0.0.1:5070\r\nFrom", 1)
    )
    layer.receive_datagram(rfc2543, BOB, 0.0)  # no magic cookie: not served
    assert layer.dropped == 2 and layer.next_event() is None


def test_transaction_count_is_bounded() -> None:
    layer = TransactionLayer(ALICE, max_transactions=2, rng=random.Random(6))
    layer.send_request(request("OPTIONS", 1), BOB, 0.0)
    layer.send_request(request("OPTIONS", 2), BOB, 0.0)
    with pytest.raises(SipUsageError):
        layer.send_request(request("OPTIONS", 3), BOB, 0.0)
    layer.datagrams_to_send(0.0)
    client = TransactionLayer(BOB, rng=random.Random(7))
    client.send_request(request("OPTIONS"), ALICE, 0.0)
    ((data, _),) = client.datagrams_to_send(0.0)
    layer.receive_datagram(data, BOB, 0.0)  # a third: 503 without a transaction
    ((reply, _),) = layer.datagrams_to_send(0.0)
    response = parse_message(reply)
    assert isinstance(response, Response) and response.status == 503
    assert len(layer) == 2 and layer.next_event() is None


def test_usage_errors() -> None:
    layer = TransactionLayer(ALICE)
    with pytest.raises(SipUsageError):
        layer.send_response("nope", Response(200, "OK"), 0.0)
    bad = Request(
        "OPTIONS", "sip:b@c", (("Via", "SIP/2.0/UDP h;branch=old"), *request("OPTIONS").headers)
    )
    with pytest.raises(SipUsageError, match="z9hG4bK"):
        layer.send_request(bad, BOB, 0.0)


def test_pending_output_is_a_deadline() -> None:
    layer = TransactionLayer(ALICE, rng=random.Random(1))
    layer.send_request(request("OPTIONS"), BOB, 5.0)
    assert layer.get_timer() == 5.0
    layer.datagrams_to_send(5.0)
    assert layer.get_timer() == 5.0 + T1
    assert T2 == 4.0


def test_invite_server_accepted_absorbs_retransmissions_and_passes_the_2xx_ack_up() -> None:
    layer = TransactionLayer(ALICE)
    key, invite = _server_invite(layer)
    layer.datagrams_to_send(0.0)
    ok = response_to(invite, 200)
    layer.send_response(key, ok, 1.0)
    assert layer.state(key) is TxState.ACCEPTED and layer.get_timer() == 1.0  # output
    layer.datagrams_to_send(1.0)
    assert layer.get_timer() == 1.0 + 64 * T1  # Timer L (RFC 6026 §8.7)
    layer.receive_datagram(invite.encode(), BOB, 1.5)  # RFC 6026 §7.1: absorbed
    assert layer.datagrams_to_send(1.5) == []
    layer.send_response(key, ok, 2.0)  # the TU retransmits its 2xx (§13.3.1.4)
    assert [d for d, _ in layer.datagrams_to_send(2.0)] == [ok.encode()]
    ack = Request("ACK", invite.uri, (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKnewbranch"),
        ("From", invite.get("From") or ""), ("To", ok.get("To") or ""),
        ("Call-ID", invite.call_id), ("CSeq", "1 ACK"),
    ))  # fmt: skip
    layer.receive_datagram(ack.encode(), BOB, 2.1)
    parsed = parse_message(ack.encode())
    assert isinstance(parsed, Request)
    assert layer.next_event() == RequestReceived(None, parsed, BOB)


def test_reliable_invite_client_ends_at_once_after_a_failure() -> None:
    layer = TransactionLayer(ALICE, transport="TCP", rng=random.Random(1))
    key = layer.send_request(request("INVITE"), BOB, 0.0)
    ((data, _),) = layer.datagrams_to_send(0.0)
    invite = parse_message(data)
    assert isinstance(invite, Request)
    layer.receive_datagram(response_to(invite, 603).encode(), BOB, 1.0)
    layer.datagrams_to_send(1.0)  # the ACK
    assert layer.get_timer() == 1.0  # Timer D = 0 on a reliable transport
    layer.handle_timer(1.0)
    assert layer.state(key) is TxState.TERMINATED
