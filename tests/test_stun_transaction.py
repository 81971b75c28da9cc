"""Client transactions on an explicit clock: the exact RFC 8489 §6.2.1 schedule, TCP's
single send, duplicate/stray responses, authentication of responses, events."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.common.core import DatagramCore
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, MessageClass, Method, StunUsageError, decode
from pyrtcstack.stun.server import StunServer
from pyrtcstack.stun.transaction import (
    ClientTransaction,
    RetransmissionPolicy,
    StunClient,
    TransactionFailed,
    TransactionState,
    TransactionSucceeded,
    TransactionTimedOut,
)
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

SERVER = ("192.0.2.1", 3478)
TID = bytes(range(12))


def _drive(client: StunClient, until: float) -> list[float]:
    """Run the client's timer alone on an explicit clock, recording send times."""
    sends: list[float] = []
    now = 0.0
    sends.extend(now for _ in client.datagrams_to_send(now))
    while (deadline := client.get_timer()) is not None and deadline <= until:
        now = deadline
        client.handle_timer(now)
        sends.extend(now for _ in client.datagrams_to_send(now))
    return sends


def test_udp_schedule_is_exact_and_times_out_at_39_5() -> None:
    client = StunClient(rng=random.Random(1))
    assert isinstance(client, DatagramCore)
    tid = client.binding(SERVER, 0.0)
    sends = _drive(client, until=100)
    assert sends == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    event = client.next_event()
    assert isinstance(event, TransactionTimedOut) and event.transaction_id == tid
    assert client.get_timer() is None and client.pending == 0
    assert RetransmissionPolicy().schedule() == ([0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5], 39.5)


def test_timeout_fires_exactly_at_39_5_not_before() -> None:
    tx = ClientTransaction(Message(Method.BINDING, transaction_id=TID), SERVER)
    tx.start(0.0)
    times = []
    while tx.deadline is not None:
        t = tx.deadline
        assert tx.handle_timer(t - 1e-9) is None  # early call does nothing
        if tx.handle_timer(t) is not None:
            times.append(t)
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.state is TransactionState.TIMED_OUT


def test_every_retransmission_is_identical() -> None:
    client = StunClient(rng=random.Random(2))
    client.binding(SERVER, 0.0)
    first = client.datagrams_to_send(0.0)
    client.handle_timer(0.5)
    again = client.datagrams_to_send(0.5)
    assert first == again


def test_tcp_single_send_and_ti() -> None:
    client = StunClient(rng=random.Random(3), policy=RetransmissionPolicy(reliable=True))
    client.binding(SERVER, 10.0)
    assert len(client.datagrams_to_send(10.0)) == 1
    assert client.get_timer() == pytest.approx(49.5)
    client.handle_timer(49.5)
    assert client.datagrams_to_send(49.5) == []
    assert isinstance(client.next_event(), TransactionTimedOut)


def test_ice_style_custom_rto_and_cap() -> None:
    policy = RetransmissionPolicy(rto=0.1, rc=4, rm=2, rto_max=0.3)
    assert policy.schedule() == ([0, 0.1, pytest.approx(0.3), pytest.approx(0.6)], 0.8)
    with pytest.raises(StunUsageError):
        RetransmissionPolicy(rc=0)


def _respond(request: bytes, *, key: bytes | None = None, error: int | None = None) -> bytes:
    req = decode(request)
    resp = req.error_response(error) if error else req.success_response()
    if error is None:
        resp.add_address(A.XOR_MAPPED_ADDRESS, ("203.0.113.7", 40000))
    return resp.encode(key, fingerprint=True)


def test_success_duplicate_and_stray_responses() -> None:
    client = StunClient(rng=random.Random(4))
    tid = client.binding(SERVER, 0.0)
    [(req, _)] = client.datagrams_to_send(0.0)
    reply = _respond(req)
    client.receive_datagram(reply, SERVER, 0.02)
    ev = client.next_event()
    assert isinstance(ev, TransactionSucceeded)
    assert ev.transaction_id == tid and ev.rtt == pytest.approx(0.02)
    assert ev.response.get_address(A.XOR_MAPPED_ADDRESS) == ("203.0.113.7", 40000)
    client.receive_datagram(reply, SERVER, 0.03)  # duplicate
    stray = Message(Method.BINDING, MessageClass.SUCCESS, bytes(12)).encode()
    client.receive_datagram(stray, SERVER, 0.04)
    client.receive_datagram(b"junk", SERVER, 0.05)
    assert client.next_event() is None
    assert (client.stray, client.malformed) == (2, 1)
    assert client.get_timer() is None


def test_rtt_is_none_after_retransmission() -> None:
    client = StunClient(rng=random.Random(5))
    client.binding(SERVER, 0.0)
    [(req, _)] = client.datagrams_to_send(0.0)
    client.handle_timer(0.5)
    client.datagrams_to_send(0.5)
    client.receive_datagram(_respond(req), SERVER, 0.6)
    ev = client.next_event()
    assert isinstance(ev, TransactionSucceeded) and ev.rtt is None


def test_error_response_and_unknown_required_attribute() -> None:
    client = StunClient(rng=random.Random(6))
    client.binding(SERVER, 0.0)
    [(req, _)] = client.datagrams_to_send(0.0)
    client.receive_datagram(_respond(req, error=438), SERVER, 0.1)
    ev = client.next_event()
    assert isinstance(ev, TransactionFailed) and ev.error == (438, "Stale Nonce")

    client.binding(SERVER, 1.0)
    [(req, _)] = client.datagrams_to_send(1.0)
    resp = decode(req).success_response().add(0x7FF0, b"?")
    client.receive_datagram(resp.encode(), SERVER, 1.1)
    ev = client.next_event()
    assert isinstance(ev, TransactionFailed) and ev.error.code == 420


def test_authenticated_responses() -> None:
    key = b"pwd"
    client = StunClient(rng=random.Random(7))
    msg = Message(Method.BINDING, transaction_id=TID).add_text(A.USERNAME, "a:b")
    client.request(msg, SERVER, 0.0, key=key)
    [(req, _)] = client.datagrams_to_send(0.0)
    assert decode(req).verify_integrity(key)
    client.receive_datagram(_respond(req, key=b"wrong"), SERVER, 0.1)  # forged: ignored
    client.receive_datagram(_respond(req), SERVER, 0.1)  # unauthenticated success: ignored
    assert client.next_event() is None and client.unauthenticated == 2
    client.receive_datagram(_respond(req, error=401), SERVER, 0.2)  # 401 w/o MI: accepted
    ev = client.next_event()
    assert isinstance(ev, TransactionFailed) and ev.error.code == 401
    client.request(Message(Method.BINDING, transaction_id=bytes(12)), SERVER, 1.0, key=key)
    [(req, _)] = client.datagrams_to_send(1.0)
    client.receive_datagram(_respond(req, key=key), SERVER, 1.1)
    assert isinstance(client.next_event(), TransactionSucceeded)


def test_usage_errors() -> None:
    client = StunClient(rng=random.Random(8), max_pending=1)
    client.binding(SERVER, 0.0)
    with pytest.raises(StunUsageError):
        client.binding(SERVER, 0.0)
    with pytest.raises(StunUsageError):
        ClientTransaction(Message(Method.BINDING, MessageClass.SUCCESS), SERVER)
    tx = ClientTransaction(Message(Method.BINDING), SERVER)
    tx.start(0)
    with pytest.raises(StunUsageError):
        tx.start(0)


@given(
    st.floats(0.01, 2.0),
    st.integers(1, 9),
    st.integers(1, 20),
    st.one_of(st.none(), st.floats(0.05, 4.0)),
)
def test_schedule_matches_policy(rto: float, rc: int, rm: int, cap: float | None) -> None:
    policy = RetransmissionPolicy(rto=rto, rc=rc, rm=rm, rto_max=cap)
    sends, timeout = policy.schedule()
    tx = ClientTransaction(Message(Method.BINDING, transaction_id=TID), SERVER, policy=policy)
    got = [0.0]
    tx.start(0.0)
    while (deadline := tx.deadline) is not None:
        if tx.handle_timer(deadline) is not None:
            got.append(deadline)
        end = deadline
    assert got == pytest.approx(sends)
    assert end == pytest.approx(timeout)
    assert tx.state is TransactionState.TIMED_OUT and tx.sends == rc


@pytest.mark.parametrize("seed", range(5))
def test_lossy_duplicating_network_settles_every_transaction_once(seed: int) -> None:
    net = MemoryNetwork(Impairment(loss=0.3, duplicate=0.3, reorder=0.2, delay=0.02), seed=seed)
    client = StunClient(rng=random.Random(seed))
    net.add(("10.0.0.1", 1000), client)
    net.add(SERVER, StunServer(SERVER))
    tids = {client.binding(SERVER, 0.0) for _ in range(20)}
    net.run(until=lambda: client.pending == 0, timeout=100)
    events = net.pop_events(("10.0.0.1", 1000))
    assert sorted(e.transaction_id for e in events) == sorted(tids)  # type: ignore[attr-defined]
    ok = [e for e in events if isinstance(e, TransactionSucceeded)]
    assert len(ok) >= 18  # 7 sends at 30 % loss each way: a timeout is very unlikely
    assert all(e.response.get_address(A.XOR_MAPPED_ADDRESS) == ("10.0.0.1", 1000) for e in ok)
