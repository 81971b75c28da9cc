"""The STUN server under abuse (issue 14 item 5): no reflection through RESPONSE-PORT
unless it is an RFC 5780 server, and small answers to requests it could not authenticate
(a forged source address must not buy an amplified reply)."""

from __future__ import annotations

import random

from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, MessageClass, Method, decode
from pyrtcstack.stun.longterm import LongTermServerAuth
from pyrtcstack.stun.server import StunServer

SERVER = ("198.51.100.1", 3478)
OTHER = ("198.51.100.2", 3479)
VICTIM = ("203.0.113.5", 50000)


def _one(server: StunServer, data: bytes, now: float = 1000.0) -> tuple[bytes, tuple[str, int]]:
    server.receive_datagram(data, VICTIM, now)
    [(out, dst)] = server.datagrams_to_send(now)
    return out, dst


def test_plain_server_ignores_response_port_and_answers_420_to_the_source() -> None:
    server = StunServer(SERVER, software="pyrtcstack")
    req = Message(Method.BINDING).add(A.RESPONSE_PORT, b"\x00\x35\x00\x00")  # port 53
    data, dst = _one(server, req.encode())
    assert dst == VICTIM  # never (VICTIM's IP, 53)
    resp = decode(data)
    assert resp.message_class is MessageClass.ERROR
    assert resp.get_error().code == 420  # type: ignore[union-attr]
    assert resp.get_unknown_attributes() == [A.RESPONSE_PORT]


def test_rfc5780_server_honours_response_port_but_not_port_zero() -> None:
    server = StunServer(SERVER, other=OTHER)
    req = Message(Method.BINDING).add(A.RESPONSE_PORT, b"\x13\x88\x00\x00")
    server.receive_datagram(req.encode(), VICTIM, 0)
    [(_, _, dst)] = server.transmits(0)
    assert dst == (VICTIM[0], 5000)
    server.receive_datagram(
        Message(Method.BINDING).add(A.RESPONSE_PORT, b"\0\0\0\0").encode(), VICTIM, 0
    )
    [(data, _, dst)] = server.transmits(0)
    assert dst == VICTIM and decode(data).get_error().code == 400  # type: ignore[union-attr]


def _long_term_server() -> StunServer:
    auth = LongTermServerAuth("pyrtcstack", {"alice": "pw"}, rng=random.Random(3))
    return StunServer(SERVER, software="pyrtcstack 1.0 (a long SOFTWARE value)", long_term=auth)


def test_unauthenticated_401_is_small() -> None:
    """The bound written in docs/security.md: 72 + realm (padded) bytes, +8 for FINGERPRINT:
    92 bytes (4.6×) for the smallest request, 100 bytes (3.6×) with FINGERPRINT."""
    server = _long_term_server()
    for fingerprint, bound in ((False, 92), (True, 100)):
        request = Message(Method.BINDING).encode(fingerprint=fingerprint)
        data, dst = _one(server, request)
        assert dst == VICTIM
        resp = decode(data)
        assert resp.get_error().code == 401  # type: ignore[union-attr]
        assert A.SOFTWARE not in resp
        assert A.REALM in resp and A.NONCE in resp and A.PASSWORD_ALGORITHMS in resp
        assert len(data) <= bound, (len(request), len(data))
        assert len(data) / len(request) <= 4.6


def test_stale_nonce_and_bad_request_answers_are_small_too() -> None:
    server = _long_term_server()
    challenge = decode(_one(server, Message(Method.BINDING).encode(fingerprint=True))[0])
    nonce = challenge.get(A.NONCE)
    assert nonce is not None and len(nonce) == 32
    # an integrity-protected request with the nonce, much later: 438, as small as the 401
    req = Message(Method.BINDING).add_text(A.USERNAME, "alice").add_text(A.REALM, "pyrtcstack")
    req.add(A.NONCE, nonce)
    data, _ = _one(server, req.encode(b"k" * 16, fingerprint=True), now=10_000.0)
    assert decode(data).get_error().code == 438  # type: ignore[union-attr]
    assert len(data) <= 100
    # integrity without USERNAME: 400 with nothing but ERROR-CODE (and FINGERPRINT)
    data, _ = _one(server, Message(Method.BINDING).encode(b"k" * 16, fingerprint=True))
    assert decode(data).get_error().code == 400  # type: ignore[union-attr]
    assert len(data) == 20 + 8 + 8


def test_short_term_server_errors_carry_no_software() -> None:
    server = StunServer(SERVER, software="pyrtcstack", credentials=lambda user: b"secret")
    data, _ = _one(server, Message(Method.BINDING).encode())
    resp = decode(data)
    assert resp.get_error().code == 400 and A.SOFTWARE not in resp  # type: ignore[union-attr]
    assert len(data) == 28


def test_authenticated_answers_keep_software() -> None:
    server = _long_term_server()
    challenge = decode(_one(server, Message(Method.BINDING).encode())[0])
    from pyrtcstack.stun.longterm import LongTermAuth

    auth = LongTermAuth("alice", "pw")
    assert auth.handle_error(challenge)
    req = Message(Method.BINDING)
    key = auth.apply(req)
    resp = decode(_one(server, req.encode(key, fingerprint=True))[0])
    assert resp.message_class is MessageClass.SUCCESS
    assert resp.get_text(A.SOFTWARE) == "pyrtcstack 1.0 (a long SOFTWARE value)"
