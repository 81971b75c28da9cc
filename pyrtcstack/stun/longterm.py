"""Long-term credentials (RFC 8489 §9.2): the client's 401/438 dance and the server's
stateless nonces, both sans-I/O.

Client (:class:`LongTermAuth`): the first request goes without credentials; the server's 401
carries REALM and NONCE (and PASSWORD-ALGORITHMS when its nonce has the "password
algorithms" security feature bit, §9.2.1). :meth:`LongTermAuth.handle_error` learns them and
says whether to retry; :meth:`LongTermAuth.apply` adds USERNAME, REALM, NONCE,
PASSWORD-ALGORITHMS (echoed byte for byte: bid-down protection, §9.2.4) and
PASSWORD-ALGORITHM (SHA-256 when offered) to the next request and returns the key to sign
it with. A 438 (stale nonce) is retried with the new nonce, once in a row (§9.2.5: call
:meth:`LongTermAuth.handle_success` after each authenticated success to re-arm it); a 401
after sending credentials means they are wrong.

Server (:class:`LongTermServerAuth`, used by :class:`~pyrtcstack.stun.server.StunServer`):
nonces are ``obMatJos2`` + the base64 security-feature bits + an expiry (8 hex digits,
seconds) + a MAC over both and the client's IP (8 bytes, 11 base64url characters): 32
bytes, so the server keeps no per-client state and its 401 stays small (§9.2.4 leaves the
nonce format to the server).

Passwords and keys never appear in a ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import random
from collections.abc import Mapping

from ..common.core import Address, default_rng
from .constants import AttributeType, PasswordAlgorithm
from .credentials import long_term_key, userhash
from .errors import StunParseError
from .message import Message

__all__ = [
    "FEATURE_PASSWORD_ALGORITHMS",
    "FEATURE_USERNAME_ANONYMITY",
    "NONCE_COOKIE",
    "LongTermAuth",
    "LongTermServerAuth",
]

#: RFC 8489 §9.2: a nonce starting with this carries the security feature bits.
NONCE_COOKIE = b"obMatJos2"
#: Security feature bits (RFC 8489 §18.1), the first of the 24.
FEATURE_PASSWORD_ALGORITHMS = 0x800000
FEATURE_USERNAME_ANONYMITY = 0x400000


def _features(nonce: bytes) -> int:
    if not nonce.startswith(NONCE_COOKIE) or len(nonce) < len(NONCE_COOKIE) + 4:
        return 0
    try:
        raw = base64.b64decode(nonce[len(NONCE_COOKIE) : len(NONCE_COOKIE) + 4], validate=True)
    except ValueError:
        return 0
    return int.from_bytes(raw, "big") if len(raw) == 3 else 0


class LongTermAuth:
    """The client side of RFC 8489 §9.2 for one server (see the module docstring)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password
        self.realm: bytes | None = None
        self.nonce: bytes | None = None
        self.algorithms_raw: bytes | None = None
        self.algorithm: PasswordAlgorithm = PasswordAlgorithm.MD5
        self._key: bytes | None = None
        self._sent_credentials = False
        self._stale_retries = 0

    def __repr__(self) -> str:
        return f"<LongTermAuth user={self.username!r} realm={self.realm!r}>"

    @property
    def ready(self) -> bool:
        """True once a realm and a nonce are known (requests can be authenticated)."""
        return self.realm is not None and self.nonce is not None

    def apply(self, message: Message) -> bytes | None:
        """Add the credential attributes to ``message``; return the key to encode it with
        (None before the first 401: send unauthenticated)."""
        if self.realm is None or self.nonce is None:
            return None
        message.add_text(AttributeType.USERNAME, self.username)
        message.add(AttributeType.REALM, self.realm)
        message.add(AttributeType.NONCE, self.nonce)
        if self.algorithms_raw is not None:
            message.add(AttributeType.PASSWORD_ALGORITHMS, self.algorithms_raw)
            message.add_password_algorithm(self.algorithm)
        if self._key is None:
            self._key = long_term_key(
                self.username, self.realm.decode(errors="replace"), self._password, self.algorithm
            )
        self._sent_credentials = True
        return self._key

    def handle_success(self) -> None:
        """The authenticated request succeeded: a later 438 may be retried again."""
        self._stale_retries = 0

    def handle_error(self, response: Message) -> bool:
        """Learn from a 401/438 error response; True if the request should be retried
        (with :meth:`apply`), False if the error is final."""
        try:
            err = response.get_error()
            realm = response.get(AttributeType.REALM)
            nonce = response.get(AttributeType.NONCE)
            algorithms = response.get(AttributeType.PASSWORD_ALGORITHMS)
            offered = response.get_password_algorithms() if algorithms is not None else []
        except StunParseError:
            return False
        if err is None or nonce is None:
            return False
        if err.code == 401:
            if self._sent_credentials or realm is None:
                return False  # §9.2.5: credentials were wrong (or no realm to use)
        elif err.code == 438:
            if self._stale_retries >= 1 or (realm is None and self.realm is None):
                return False
            self._stale_retries += 1
        else:
            return False
        if realm is not None and realm != self.realm:
            self.realm = realm
            self._key = None
        self.nonce = nonce
        if _features(nonce) & FEATURE_PASSWORD_ALGORITHMS and algorithms is not None:
            self.algorithms_raw = algorithms
            chosen = (
                PasswordAlgorithm.SHA256
                if any(a == PasswordAlgorithm.SHA256 for a, _ in offered)
                else PasswordAlgorithm.MD5
            )
            if chosen != self.algorithm:
                self.algorithm = chosen
                self._key = None
        self._sent_credentials = False
        return True


class LongTermServerAuth:
    """Server side of RFC 8489 §9.2.4 for :class:`~pyrtcstack.stun.server.StunServer`.

    ``users`` maps usernames to passwords. ``password_algorithms`` (SHA-256 and MD5 by
    default; empty for RFC 5389-style servers) are offered with the feature bit set in the
    nonce. Nonces live ``nonce_lifetime`` seconds.
    """

    def __init__(
        self,
        realm: str,
        users: Mapping[str, str],
        *,
        password_algorithms: tuple[PasswordAlgorithm, ...] = (
            PasswordAlgorithm.SHA256,
            PasswordAlgorithm.MD5,
        ),
        nonce_lifetime: float = 600.0,
        rng: random.Random | None = None,
    ) -> None:
        self.realm = realm
        self._users = dict(users)
        self._by_hash = {userhash(u, realm): u for u in self._users}
        self.password_algorithms = password_algorithms
        self.nonce_lifetime = nonce_lifetime
        self._secret = default_rng(rng).randbytes(16)
        #: the PASSWORD-ALGORITHMS value this server sends (and expects echoed, §9.2.4)
        self.algorithms_raw = (
            Message(1)
            .add_password_algorithms((int(a), b"") for a in password_algorithms)
            .attributes[0][1]
            if password_algorithms
            else None
        )

    def __repr__(self) -> str:
        return f"<LongTermServerAuth realm={self.realm!r} users={len(self._users)}>"

    def nonce(self, client: Address, now: float) -> bytes:
        """A fresh nonce for ``client``, valid for ``nonce_lifetime`` seconds."""
        features = FEATURE_PASSWORD_ALGORITHMS if self.password_algorithms else 0
        head = NONCE_COOKIE + base64.b64encode(features.to_bytes(3, "big"))
        expiry = b"%08x" % (max(0, math.ceil(now + self.nonce_lifetime)) & 0xFFFFFFFF)
        return head + expiry + self._mac(head + expiry, client)

    def _mac(self, data: bytes, client: Address) -> bytes:
        digest = hmac.digest(self._secret, data + client[0].encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest[:8]).rstrip(b"=")

    def nonce_valid(self, nonce: bytes, client: Address, now: float) -> bool:
        """The nonce is ours, for this client IP, and not expired."""
        head_len = len(NONCE_COOKIE) + 4
        signed, mac = nonce[: head_len + 8], nonce[head_len + 8 :]
        if not hmac.compare_digest(mac, self._mac(signed, client)):
            return False
        try:
            return now < int(signed[head_len:], 16)
        except ValueError:
            return False

    def challenge(self, response: Message, client: Address, now: float) -> Message:
        """Add REALM, NONCE (and PASSWORD-ALGORITHMS) to a 401/438 response."""
        response.add_text(AttributeType.REALM, self.realm)
        response.add(AttributeType.NONCE, self.nonce(client, now))
        if self.algorithms_raw is not None:
            response.add(AttributeType.PASSWORD_ALGORITHMS, self.algorithms_raw)
        return response

    def algorithm_of(self, request: Message) -> int | None:
        """The password algorithm a request uses, or None when it breaks §9.2.4's
        bid-down rules (PASSWORD-ALGORITHMS not echoed exactly, or an algorithm we did not
        offer)."""
        offered = request.get(AttributeType.PASSWORD_ALGORITHMS)
        chosen = request.get_password_algorithm()
        if offered is None and chosen is None:
            return int(PasswordAlgorithm.MD5)
        if offered is None or chosen is None or offered != self.algorithms_raw:
            return None
        return chosen[0] if chosen[0] in self.password_algorithms else None

    def username_of(self, request: Message) -> str | None:
        """USERNAME, or the user whose USERHASH the request carries (§14.4)."""
        name = request.get_text(AttributeType.USERNAME)
        if name is None:
            hashed = request.get(AttributeType.USERHASH)
            name = self._by_hash.get(hashed) if hashed is not None else None
        return name if name in self._users else None

    def key(self, username: str, algorithm: int) -> bytes:
        return long_term_key(username, self.realm, self._users[username], algorithm)
