"""Long-term credentials (RFC 8489 §9.2): our client helper against our server core —
401 challenge with REALM/NONCE/PASSWORD-ALGORITHMS, SHA-256 keys, stale nonces (438),
wrong passwords, bid-down protection, USERHASH, RFC 5389-style MD5 servers."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import (
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    StunClient,
    StunServer,
    StunUsageError,
    TransactionFailed,
    TransactionSucceeded,
    decode,
    long_term_key,
    userhash,
)
from pyrtcstack.stun.longterm import NONCE_COOKIE, LongTermAuth, LongTermServerAuth
from pyrtcstack.testing.pair import MemoryNetwork

SERVER = ("198.51.100.1", 3478)
CLIENT = ("203.0.113.5", 50000)
USERS = {"alice": "The\u00adM\u00aatr\u2168", "bob": "secret"}


def _server(**kw: object) -> StunServer:
    auth = LongTermServerAuth("example.org", USERS, rng=random.Random(1), **kw)  # type: ignore[arg-type]
    return StunServer(SERVER, long_term=auth)


def _exchange(server: StunServer, msg: Message, key: bytes | None, now: float = 0.0) -> Message:
    server.receive_datagram(msg.encode(key, fingerprint=True), CLIENT, now)
    [(data, dst)] = server.datagrams_to_send(now)
    assert dst == CLIENT
    return decode(data)


def _request(auth: LongTermAuth) -> tuple[Message, bytes | None]:
    msg = Message(Method.BINDING)
    return msg, auth.apply(msg)


def test_challenge_then_sha256_success() -> None:
    server = _server()
    auth = LongTermAuth("alice", USERS["alice"])
    msg, key = _request(auth)
    assert key is None
    challenge = _exchange(server, msg, key)
    assert challenge.get_error() == (401, "")  # small: no reason phrase, no SOFTWARE
    assert challenge.get_text(A.REALM) == "example.org"
    nonce = challenge.get(A.NONCE)
    assert nonce is not None and nonce.startswith(NONCE_COOKIE)
    assert challenge.get_password_algorithms() == [(2, b""), (1, b"")]
    assert challenge.integrity is None
    assert auth.handle_error(challenge)
    msg, key = _request(auth)
    assert key == long_term_key("alice", "example.org", USERS["alice"], PasswordAlgorithm.SHA256)
    # bid-down protection: the list is echoed byte for byte, SHA-256 chosen
    assert msg.get(A.PASSWORD_ALGORITHMS) == challenge.get(A.PASSWORD_ALGORITHMS)
    assert msg.get_password_algorithm() == (PasswordAlgorithm.SHA256, b"")
    ok = _exchange(server, msg, key)
    assert ok.message_class is MessageClass.SUCCESS
    assert ok.get_address(A.XOR_MAPPED_ADDRESS) == CLIENT
    assert ok.verify_integrity(key)


def test_stale_nonce_is_retried_exactly_once() -> None:
    server = _server(nonce_lifetime=10.0)
    auth = LongTermAuth("bob", "secret")
    msg, key = _request(auth)
    assert auth.handle_error(_exchange(server, msg, key, now=0.0))
    msg, key = _request(auth)
    assert _exchange(server, msg, key, now=5.0).message_class is MessageClass.SUCCESS
    msg, key = _request(auth)
    stale = _exchange(server, msg, key, now=11.0)
    assert stale.get_error().code == 438  # type: ignore[union-attr]
    assert auth.handle_error(stale)
    msg, key = _request(auth)
    assert _exchange(server, msg, key, now=11.5).message_class is MessageClass.SUCCESS
    auth.handle_success()
    # after a success, a new stale nonce is retried again ...
    msg, key = _request(auth)
    assert auth.handle_error(_exchange(server, msg, key, now=30.0))
    # ... but a second 438 in a row is not
    msg, key = _request(auth)
    forged = Message(Method.BINDING, MessageClass.ERROR, msg.transaction_id).add_error(438)
    forged.add_text(A.REALM, "example.org").add(A.NONCE, b"x")
    assert not auth.handle_error(forged)


def test_wrong_password_and_unknown_user_fail_after_one_retry() -> None:
    for user, password in (("alice", "wrong"), ("mallory", "secret")):
        server = _server()
        auth = LongTermAuth(user, password)
        msg, key = _request(auth)
        assert auth.handle_error(_exchange(server, msg, key))
        msg, key = _request(auth)
        final = _exchange(server, msg, key)
        assert final.get_error().code == 401  # type: ignore[union-attr]
        assert final.get_text(A.REALM) == "example.org"  # §9.2.4: REALM and NONCE again
        assert not auth.handle_error(final)


def test_bid_down_attempts_get_400() -> None:
    server = _server()
    auth = LongTermAuth("bob", "secret")
    msg, key = _request(auth)
    assert auth.handle_error(_exchange(server, msg, key))
    msg, key = _request(auth)
    stripped = Message(
        Method.BINDING, attributes=[a for a in msg.attributes if a[0] != A.PASSWORD_ALGORITHMS]
    )
    assert _exchange(server, stripped, key).get_error().code == 400  # type: ignore[union-attr]
    md5_only = Message(Method.BINDING, attributes=msg.attributes).set(
        A.PASSWORD_ALGORITHMS, b"\x00\x01\x00\x00"
    )
    assert _exchange(server, md5_only, key).get_error().code == 400  # type: ignore[union-attr]
    no_creds = Message(Method.BINDING).add_text(A.USERNAME, "bob")
    assert _exchange(server, no_creds, b"k").get_error().code == 400  # type: ignore[union-attr]


def test_rfc5389_style_server_uses_md5_without_algorithm_attributes() -> None:
    server = _server(password_algorithms=())
    auth = LongTermAuth("bob", "secret")
    msg, key = _request(auth)
    challenge = _exchange(server, msg, key)
    assert A.PASSWORD_ALGORITHMS not in challenge
    assert auth.handle_error(challenge)
    msg, key = _request(auth)
    assert A.PASSWORD_ALGORITHM not in msg and A.PASSWORD_ALGORITHMS not in msg
    assert key == long_term_key("bob", "example.org", "secret")
    assert _exchange(server, msg, key).message_class is MessageClass.SUCCESS


def test_userhash_identifies_the_user() -> None:
    server = _server()
    auth = LongTermAuth("bob", "secret")
    msg, key = _request(auth)
    assert auth.handle_error(_exchange(server, msg, key))
    msg, key = _request(auth)
    hashed = Message(
        Method.BINDING, attributes=[a for a in msg.attributes if a[0] != A.USERNAME]
    ).add(A.USERHASH, userhash("bob", "example.org"))
    assert _exchange(server, hashed, key).message_class is MessageClass.SUCCESS


def test_nonce_is_bound_to_the_client_ip() -> None:
    lt = LongTermServerAuth("r", USERS, rng=random.Random(2))
    nonce = lt.nonce(CLIENT, 0.0)
    assert lt.nonce_valid(nonce, CLIENT, 1.0)
    assert not lt.nonce_valid(nonce, ("203.0.113.6", CLIENT[1]), 1.0)
    assert not lt.nonce_valid(nonce, CLIENT, 601.0)
    assert not lt.nonce_valid(nonce[:-1] + b"0", CLIENT, 1.0)
    assert not lt.nonce_valid(b"garbage", CLIENT, 1.0)


def test_secrets_stay_out_of_reprs() -> None:
    auth = LongTermAuth("alice", "hunter2")
    lt = LongTermServerAuth("r", {"alice": "hunter2"})
    assert "hunter2" not in repr(auth) and "hunter2" not in repr(lt)
    with pytest.raises(StunUsageError):
        StunServer(SERVER, credentials={}.get, long_term=lt)


def test_full_dance_through_stun_client_on_memory_network() -> None:
    net = MemoryNetwork(seed=4)
    client = StunClient(rng=random.Random(4))
    net.add(CLIENT, client)
    net.add(SERVER, _server())
    auth = LongTermAuth("alice", USERS["alice"])
    outcomes = []
    for _ in range(3):
        msg = Message(Method.BINDING, transaction_id=random.Random(len(outcomes)).randbytes(12))
        key = auth.apply(msg)
        client.request(msg, SERVER, net.now, key=key)
        net.run(until=lambda: bool(net.events[CLIENT]), timeout=60)
        [event] = net.pop_events(CLIENT)
        outcomes.append(type(event).__name__)
        if isinstance(event, TransactionSucceeded):
            break
        assert isinstance(event, TransactionFailed) and auth.handle_error(event.response)
    assert outcomes == ["TransactionFailed", "TransactionSucceeded"]
