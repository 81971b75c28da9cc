"""The HMAC-signed, time-limited State Cookie (RFC 9260 §5.1.3).

The server side of the handshake keeps no state between INIT-ACK and COOKIE-ECHO: what it
needs is in the cookie, protected by HMAC-SHA256 with a per-association secret key, and
time-stamped so a cookie older than Valid.Cookie.Life is refused (§5.1.5).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

__all__ = ["COOKIE_SIZE", "CookieContents", "open_cookie", "seal_cookie"]

_BODY = struct.Struct("!BdIIIIIHHB")
_MAC_SIZE = 32
_VERSION = 1
#: Size of our State Cookie parameter value in bytes.
COOKIE_SIZE = _BODY.size + _MAC_SIZE


@dataclass(frozen=True, slots=True)
class CookieContents:
    """What the State Cookie carries: the association's tags and the peer's INIT."""

    created: float
    local_tag: int
    peer_tag: int
    local_tsn: int
    peer_tsn: int
    peer_rwnd: int
    peer_outbound_streams: int
    peer_inbound_streams: int
    #: bit 0: peer supports FORWARD-TSN, bit 1: peer supports RE-CONFIG.
    peer_features: int


def seal_cookie(key: bytes, c: CookieContents) -> bytes:
    body = _BODY.pack(
        _VERSION,
        c.created,
        c.local_tag,
        c.peer_tag,
        c.local_tsn,
        c.peer_tsn,
        c.peer_rwnd,
        c.peer_outbound_streams,
        c.peer_inbound_streams,
        c.peer_features,
    )
    return body + hmac.new(key, body, hashlib.sha256).digest()


def open_cookie(key: bytes, cookie: bytes, now: float, lifetime: float) -> CookieContents | str:
    """The cookie's contents, or a string saying why it is refused (forged, stale...)."""
    if len(cookie) != COOKIE_SIZE:
        return "bad cookie size"
    body, mac = cookie[: _BODY.size], cookie[_BODY.size :]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return "bad cookie MAC"
    version, created, *rest = _BODY.unpack(body)
    if version != _VERSION:
        return "bad cookie version"
    if now - created > lifetime or created - now > lifetime:
        return "stale cookie"
    return CookieContents(created, *rest)
