"""Stateless cookies: how a server makes a client prove its address before it keeps any
state (RFC 6347 §4.2.1 for DTLS 1.2's HelloVerifyRequest, RFC 8446 §4.2.2 and RFC 9147 §5.1
for DTLS 1.3's HelloRetryRequest), and the HelloRetryRequest itself (RFC 8446 §4.1.4).

Each cookie is an HMAC under the connection's ``cookie_secret`` (drawn from its rng) over
the client's address and what the server must remember, so the server can forget the first
ClientHello and rebuild everything from the second.
"""

from __future__ import annotations

import hmac
from typing import Final

from .constants import DTLS1_2_VERSION, DTLS1_3_VERSION, ExtensionType
from .keyschedule import TLS13_SUITES, Suite13
from .messages import ClientHello, ServerHello
from .messages13 import EXT_COOKIE, HRR_RANDOM, encode_cookie

__all__ = ["hello_verify_cookie", "make_retry_cookie", "open_retry_cookie", "retry_request"]

#: First byte of our stateless HelloRetryRequest cookies (a format version).
COOKIE_FORMAT: Final = 1
#: Bytes of HMAC-SHA256 kept at the end of a cookie.
COOKIE_MAC_LENGTH: Final = 16


def hello_verify_cookie(secret: bytes, address: object, hello: ClientHello) -> bytes:
    """A DTLS 1.2 HelloVerifyRequest cookie (RFC 6347 §4.2.1): HMAC over the peer address
    and the hello's parameters."""
    material = repr(address).encode() + hello.random + hello.session_id
    material += b"".join(s.to_bytes(2, "big") for s in hello.cipher_suites)
    return hmac.digest(secret, material, "sha256")[:20]


def retry_request(session_id: bytes, suite: Suite13, group: int | None, cookie: bytes) -> bytes:
    """A HelloRetryRequest body (RFC 8446 §4.1.4): a ServerHello with the special random,
    selecting DTLS 1.3, maybe a group, and our cookie."""
    extensions: list[tuple[int, bytes]] = [
        (ExtensionType.SUPPORTED_VERSIONS, DTLS1_3_VERSION.to_bytes(2, "big"))
    ]
    if group is not None:
        extensions.append((ExtensionType.KEY_SHARE, group.to_bytes(2, "big")))
    extensions.append((EXT_COOKIE, encode_cookie(cookie)))
    return ServerHello(DTLS1_2_VERSION, HRR_RANDOM, session_id, suite.code, 0, extensions).encode()


def make_retry_cookie(
    secret: bytes, address: object, suite: Suite13, group: int | None, hello1_hash: bytes
) -> bytes:
    """A stateless cookie (RFC 8446 §4.2.2, RFC 9147 §5.1): everything the server needs to
    continue from ClientHello2 alone (suite, asked-for group, the hash of ClientHello1),
    MACed together with the client's address."""
    data = (
        bytes([COOKIE_FORMAT])
        + suite.code.to_bytes(2, "big")
        + (group or 0).to_bytes(2, "big")
        + bytes([len(hello1_hash)])
        + hello1_hash
    )
    mac = hmac.digest(secret, repr(address).encode() + data, "sha256")[:COOKIE_MAC_LENGTH]
    return data + mac


def open_retry_cookie(
    secret: bytes, address: object, cookie: bytes
) -> tuple[Suite13, int | None, bytes] | None:
    """The contents of one of our cookies, or None if it is not one (wrong MAC, address,
    format or suite)."""
    if len(cookie) < 6 + COOKIE_MAC_LENGTH or cookie[0] != COOKIE_FORMAT:
        return None
    data, mac = cookie[:-COOKIE_MAC_LENGTH], cookie[-COOKIE_MAC_LENGTH:]
    expected = hmac.digest(secret, repr(address).encode() + data, "sha256")[:COOKIE_MAC_LENGTH]
    if not hmac.compare_digest(mac, expected) or len(data) != 6 + data[5]:
        return None
    suite = TLS13_SUITES.get(int.from_bytes(data[1:3], "big"))
    if suite is None or data[5] != suite.hash_length:
        return None
    group = int.from_bytes(data[3:5], "big") or None
    return suite, group, data[6:]
