"""One long-term client state (RFC 8489 §9.2), two retry policies: the STUN client's
(:data:`STUN_AUTH_RETRY`) and the TURN client's (:data:`TURN_AUTH_RETRY`). The same
server answers are fed to both and each policy's documented answer is checked: a 401 with
a fresh NONCE, 438 loops, SHA-256 when offered, algorithm lists with nothing we support."""

from __future__ import annotations

import base64
import random

import pytest

from pyrtcstack.stun import (
    STUN_AUTH_RETRY,
    TURN_AUTH_RETRY,
    AuthRetry,
    AuthRetryPolicy,
    LongTermAuth,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    decode,
    long_term_key,
)
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun.longterm import FEATURE_PASSWORD_ALGORITHMS, NONCE_COOKIE
from pyrtcstack.turn.client import TurnClient
from pyrtcstack.turn.errors import TurnRemoteError
from pyrtcstack.turn.events import RequestFailed

POLICIES = {"stun": STUN_AUTH_RETRY, "turn": TURN_AUTH_RETRY}
#: a nonce whose cookie has the "password algorithms" feature bit (§9.2.1)
COOKIE_NONCE = NONCE_COOKIE + base64.b64encode(FEATURE_PASSWORD_ALGORITHMS.to_bytes(3, "big"))
SERVER = ("192.0.2.1", 3478)


def _error(
    code: int,
    nonce: bytes | None,
    realm: bytes | None = b"example.org",
    algorithms: bytes | None = None,
) -> Message:
    msg = Message(Method.ALLOCATE, MessageClass.ERROR).add_error(code)
    if realm is not None:
        msg.add(A.REALM, realm)
    if nonce is not None:
        msg.add(A.NONCE, nonce)
    if algorithms is not None:
        msg.add(A.PASSWORD_ALGORITHMS, algorithms)
    return msg


def _algorithms(*algs: int) -> bytes:
    return Message(1).add_password_algorithms((a, b"") for a in algs).attributes[0][1]


def _challenged(policy: AuthRetryPolicy, nonce: bytes = b"n1") -> LongTermAuth:
    auth = LongTermAuth("alice", "pw", policy=policy)
    assert auth.key is None and auth.attributes() == []  # unsigned before the challenge
    assert auth.on_error(_error(401, nonce), signed=False) is AuthRetry.CHALLENGE
    assert auth.ready
    return auth


@pytest.mark.parametrize("name", ["stun", "turn"])
def test_401_with_a_fresh_nonce_after_credentials(name: str) -> None:
    auth = _challenged(POLICIES[name])
    verdict = auth.on_error(_error(401, b"n2"), signed=True)
    if name == "turn":  # RFC 5389-era servers report an expired nonce that way
        assert verdict is AuthRetry.STALE and auth.nonce == b"n2"
    else:  # §9.2.5: credentials were wrong; nothing learnt
        assert verdict is None and auth.nonce == b"n1"
    # the same nonce again: wrong credentials, for both
    assert auth.on_error(_error(401, auth.nonce), signed=True) is None
    assert auth.on_error(_error(401, None), signed=True) is None


def test_438_loop_is_bounded_per_transaction_for_turn() -> None:
    auth = _challenged(TURN_AUTH_RETRY)
    for i in range(3):  # each transaction gets its one retry, whatever the others did
        assert auth.on_error(_error(438, b"s%d" % i), signed=True) is AuthRetry.STALE
        assert auth.on_error(_error(438, b"t%d" % i), signed=True, stale_retried=True) is None
    # a 438 to an unsigned request is a stale nonce too (needs a realm, given or known)
    assert auth.on_error(_error(438, b"u", realm=None), signed=False) is AuthRetry.STALE
    fresh = LongTermAuth("alice", "pw", policy=TURN_AUTH_RETRY)
    assert fresh.on_error(_error(438, b"u", realm=None), signed=False) is None


def test_438_loop_is_bounded_in_a_row_for_stun() -> None:
    auth = _challenged(STUN_AUTH_RETRY)
    assert auth.on_error(_error(438, b"s1"), signed=True) is AuthRetry.STALE
    assert auth.on_error(_error(438, b"s2"), signed=True) is None  # twice in a row: final
    assert auth.on_error(_error(438, b"s3"), signed=True, stale_retried=False) is None
    auth.handle_success()  # re-armed by an authenticated success
    assert auth.on_error(_error(438, b"s4"), signed=True) is AuthRetry.STALE
    assert auth.nonce == b"s4"


def test_turn_client_retries_each_transaction_once_under_a_438_storm() -> None:
    """Two requests in flight, every answer a 438 with a new nonce: each request is sent
    twice (one stale retry each), then fails; nothing loops."""
    client = TurnClient(SERVER, "alice", "pw", rng=random.Random(5))
    client.allocate(0.0)
    sent = 0

    def answer(code: int, nonce: bytes) -> None:
        nonlocal sent
        for data, _dst in client.datagrams_to_send(0.0):
            sent += 1
            req = decode(data)
            resp = Message(req.method, MessageClass.ERROR, req.transaction_id).add_error(code)
            resp.add(A.REALM, b"example.org").add(A.NONCE, nonce)
            client.receive_datagram(resp.encode(fingerprint=True), SERVER, 0.0)

    answer(401, b"n0")  # the challenge
    [(data, _dst)] = client.datagrams_to_send(0.0)
    req = decode(data)
    ok = Message(req.method, MessageClass.SUCCESS, req.transaction_id)
    ok.add_address(A.XOR_RELAYED_ADDRESS, ("192.0.2.1", 50000))
    ok.add(A.LIFETIME, (600).to_bytes(4, "big"))
    key = long_term_key("alice", "example.org", "pw")
    client.receive_datagram(ok.encode(key, fingerprint=True), SERVER, 0.0)
    client.next_event()
    client.refresh(0.0)
    client.create_permission(("198.51.100.7", 1), 0.0)
    sent = 0
    for round_ in range(5):
        answer(438, b"stale%d" % round_)
    assert sent == 4  # two requests, each sent twice
    assert client.stats["stale_nonce"] == 2
    failures = [e for e in iter(client.next_event, None) if isinstance(e, RequestFailed)]
    assert [
        (e.method, e.error.code, e.fatal) for e in failures if isinstance(e.error, TurnRemoteError)
    ] == [("refresh", 438, False), ("create-permission", 438, False)]
    assert len(failures) == 2 and client.datagrams_to_send(0.0) == []


@pytest.mark.parametrize("name", ["stun", "turn"])
def test_sha256_is_chosen_when_offered_and_the_list_echoed(name: str) -> None:
    auth = LongTermAuth("alice", "pw", policy=POLICIES[name])
    offered = _algorithms(PasswordAlgorithm.MD5, PasswordAlgorithm.SHA256)
    assert auth.on_error(_error(401, COOKIE_NONCE, algorithms=offered), signed=False)
    assert auth.algorithm is PasswordAlgorithm.SHA256
    assert auth.key == long_term_key("alice", "example.org", "pw", PasswordAlgorithm.SHA256)
    msg = Message(Method.BINDING)
    msg.attributes.extend(auth.attributes())
    assert msg.get(A.PASSWORD_ALGORITHMS) == offered  # echoed byte for byte (§9.2.1)
    assert msg.get_password_algorithm() == (PasswordAlgorithm.SHA256, b"")
    assert msg.get_text(A.USERNAME) == "alice" and msg.get(A.NONCE) == COOKIE_NONCE
    # MD5 only: MD5 (and the key follows the algorithm)
    md5 = _algorithms(PasswordAlgorithm.MD5)
    assert auth.on_error(_error(438, COOKIE_NONCE + b"2", algorithms=md5), signed=True)
    assert auth.key == long_term_key("alice", "example.org", "pw", PasswordAlgorithm.MD5)


def test_without_the_nonce_cookie_only_turn_uses_password_algorithms() -> None:
    offered = _algorithms(PasswordAlgorithm.SHA256, PasswordAlgorithm.MD5)
    stun = LongTermAuth("alice", "pw", policy=STUN_AUTH_RETRY)
    turn = LongTermAuth("alice", "pw", policy=TURN_AUTH_RETRY)
    for auth in (stun, turn):
        assert auth.on_error(_error(401, b"plain", algorithms=offered), signed=False)
    assert stun.algorithm is PasswordAlgorithm.MD5 and stun.algorithms_raw is None
    assert A.PASSWORD_ALGORITHMS not in dict(stun.attributes())
    assert turn.algorithm is PasswordAlgorithm.SHA256 and turn.algorithms_raw == offered


@pytest.mark.parametrize("name", ["stun", "turn"])
def test_an_algorithm_list_without_md5_or_sha256(name: str) -> None:
    auth = LongTermAuth("alice", "pw", policy=POLICIES[name])
    unknown = _algorithms(3, 0x7777)
    verdict = auth.on_error(_error(401, COOKIE_NONCE, algorithms=unknown), signed=False)
    if name == "turn":  # §9.2.5: no algorithm we support, final; nothing learnt
        assert verdict is None and not auth.ready and auth.key is None
    else:  # the STUN client answers with MD5 (the server decides)
        assert verdict is AuthRetry.CHALLENGE
        assert auth.algorithm is PasswordAlgorithm.MD5 and auth.algorithms_raw == unknown
    # a list that does not parse is final for both, and teaches nothing
    auth = _challenged(POLICIES[name])
    broken = _error(438, COOKIE_NONCE, realm=b"other.org", algorithms=b"\x00\x02\x00\x08")
    assert auth.on_error(broken, signed=True) is None
    assert auth.realm == b"example.org" and auth.nonce == b"n1"


@pytest.mark.parametrize("name", ["stun", "turn"])
def test_a_realm_that_is_not_utf8_is_final_and_teaches_nothing(name: str) -> None:
    auth = _challenged(POLICIES[name])
    key = auth.key
    assert auth.on_error(_error(438, b"n2", realm=b"\xff\xfe"), signed=True) is None
    assert auth.realm == b"example.org" and auth.nonce == b"n1" and auth.key == key


def test_stun_form_apply_and_handle_error_track_what_was_sent() -> None:
    auth = LongTermAuth("alice", "pw")
    assert auth.policy is STUN_AUTH_RETRY
    assert auth.apply(Message(Method.BINDING)) is None
    assert auth.handle_error(_error(401, b"n1"))
    msg = Message(Method.BINDING)
    assert auth.apply(msg) == long_term_key("alice", "example.org", "pw")
    assert not auth.handle_error(_error(401, b"n2"))  # 401 after credentials: wrong


@pytest.mark.parametrize("name", ["stun", "turn"])
def test_secrets_stay_out_of_the_repr(name: str) -> None:
    auth = LongTermAuth("alice", "hunter2", policy=POLICIES[name])
    assert auth.on_error(_error(401, b"secret-nonce"), signed=False)
    key = auth.key
    assert key is not None
    text = repr(auth)
    assert "hunter2" not in text and "secret-nonce" not in text
    assert key.hex() not in text and repr(key) not in text
