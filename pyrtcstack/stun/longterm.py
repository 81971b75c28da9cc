"""Long-term credentials (RFC 8489 §9.2): the client's 401/438 dance and the server's
stateless nonces, both sans-I/O.

Client (:class:`LongTermAuth`, one object for every long-term client: the STUN client's
:func:`~pyrtcstack.aio.stun.stun_binding` and :class:`~pyrtcstack.turn.TurnClient`): the
first request goes without credentials; the server's 401 carries REALM and NONCE (and
PASSWORD-ALGORITHMS, §9.2.4). :meth:`LongTermAuth.on_error` learns them and says whether
and how to retry; :meth:`LongTermAuth.attributes` gives USERNAME, REALM, NONCE,
PASSWORD-ALGORITHMS (echoed byte for byte: bid-down protection, §9.2.1) and
PASSWORD-ALGORITHM (SHA-256 when offered) for the next request and :attr:`LongTermAuth.key`
the key to sign it with (§9.2.2). The client never sends USERHASH (§14.4): it names itself
by USERNAME, which every server accepts.

Where clients differ is an :class:`AuthRetryPolicy`, chosen once: :data:`STUN_AUTH_RETRY` (one 438
retry in a row, re-armed by a success; a 401 after credentials is final) and
:data:`TURN_AUTH_RETRY` (one 438 retry per transaction, a 401 with a fresh NONCE counts as
stale, an algorithm list without MD5 or SHA-256 is final). :meth:`LongTermAuth.apply`,
:meth:`LongTermAuth.handle_error` and :meth:`LongTermAuth.handle_success` are the
one-request-at-a-time form the STUN client uses.

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
from dataclasses import dataclass
from enum import Enum

from ..common.core import Address, default_rng
from .constants import AttributeType, PasswordAlgorithm
from .credentials import long_term_key, userhash
from .errors import StunParseError
from .message import Message

__all__ = [
    "FEATURE_PASSWORD_ALGORITHMS",
    "FEATURE_USERNAME_ANONYMITY",
    "NONCE_COOKIE",
    "STUN_AUTH_RETRY",
    "TURN_AUTH_RETRY",
    "AuthRetry",
    "AuthRetryPolicy",
    "LongTermAuth",
    "LongTermServerAuth",
]

#: RFC 8489 §9.2: a nonce starting with this carries the security feature bits.
NONCE_COOKIE = b"obMatJos2"
#: Security feature bits (RFC 8489 §18.1), the first of the 24.
FEATURE_PASSWORD_ALGORITHMS = 0x800000
FEATURE_USERNAME_ANONYMITY = 0x400000

_SUPPORTED = frozenset((PasswordAlgorithm.MD5, PasswordAlgorithm.SHA256))


def _features(nonce: bytes) -> int:
    if not nonce.startswith(NONCE_COOKIE) or len(nonce) < len(NONCE_COOKIE) + 4:
        return 0
    try:
        raw = base64.b64decode(nonce[len(NONCE_COOKIE) : len(NONCE_COOKIE) + 4], validate=True)
    except ValueError:
        return 0
    return int.from_bytes(raw, "big") if len(raw) == 3 else 0


@dataclass(frozen=True, slots=True)
class AuthRetryPolicy:
    """How a long-term client answers a 401 or 438 (RFC 8489 §9.2.5): the choices in which
    the STUN client and the TURN client differ. Everything else is :class:`LongTermAuth`."""

    #: True: every request may be retried once after a stale nonce (a TURN client keeps
    #: several transactions in flight, RFC 8656 §7-§12). False: one stale-nonce retry in a
    #: row, re-armed by :meth:`LongTermAuth.handle_success` (one request at a time).
    stale_retry_per_transaction: bool
    #: A 401 to a signed request whose NONCE differs from ours is a stale nonce, not wrong
    #: credentials: servers of the RFC 5389 era answer an expired nonce that way.
    fresh_nonce_401_is_stale: bool
    #: PASSWORD-ALGORITHMS is used only when the nonce cookie's "password algorithms" bit
    #: is set (§9.2.1); False: whenever the challenge carries it.
    algorithms_need_nonce_cookie: bool
    #: A PASSWORD-ALGORITHMS list with neither MD5 nor SHA-256 makes the error final (no
    #: algorithm we support, §9.2.5); False: MD5 is used.
    require_supported_algorithm: bool


#: The STUN client's policy (:func:`~pyrtcstack.aio.stun.stun_binding`).
STUN_AUTH_RETRY = AuthRetryPolicy(
    stale_retry_per_transaction=False,
    fresh_nonce_401_is_stale=False,
    algorithms_need_nonce_cookie=True,
    require_supported_algorithm=False,
)
#: The TURN client's policy (:class:`~pyrtcstack.turn.TurnClient`).
TURN_AUTH_RETRY = AuthRetryPolicy(
    stale_retry_per_transaction=True,
    fresh_nonce_401_is_stale=True,
    algorithms_need_nonce_cookie=False,
    require_supported_algorithm=True,
)


class AuthRetry(Enum):
    """Why :meth:`LongTermAuth.on_error` says to send the request again."""

    #: a 401 to an unsigned request: the challenge, answer it with credentials (§9.2.3)
    CHALLENGE = "challenge"
    #: a stale nonce (438, or a 401 with a fresh NONCE under ``fresh_nonce_401_is_stale``)
    STALE = "stale"


class LongTermAuth:
    """The client side of RFC 8489 §9.2 for one server (see the module docstring)."""

    def __init__(
        self, username: str, password: str, *, policy: AuthRetryPolicy = STUN_AUTH_RETRY
    ) -> None:
        self.username = username
        self._password = password
        self.policy = policy
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

    @property
    def key(self) -> bytes | None:
        """The long-term key (§9.2.2) for the realm and algorithm learnt; None before the
        first challenge (send unauthenticated)."""
        if self.realm is None or self.nonce is None:
            return None
        if self._key is None:
            self._key = long_term_key(
                self.username, self.realm.decode(), self._password, self.algorithm
            )
        return self._key

    def attributes(self) -> list[tuple[int, bytes]]:
        """USERNAME, REALM, NONCE and, when the server offered them, PASSWORD-ALGORITHMS
        (echoed) and PASSWORD-ALGORITHM (§9.2.3.2); empty before the first challenge."""
        if self.realm is None or self.nonce is None:
            return []
        attrs = [
            (int(AttributeType.USERNAME), self.username.encode()),
            (int(AttributeType.REALM), self.realm),
            (int(AttributeType.NONCE), self.nonce),
        ]
        if self.algorithms_raw is not None:
            attrs.append((int(AttributeType.PASSWORD_ALGORITHMS), self.algorithms_raw))
            # §14.12: the algorithm, then a parameters length of 0
            attrs.append(
                (int(AttributeType.PASSWORD_ALGORITHM), self.algorithm.to_bytes(2, "big") + b"\0\0")
            )
        return attrs

    def on_error(
        self, response: Message, *, signed: bool, stale_retried: bool = False
    ) -> AuthRetry | None:
        """Learn from an error response to a request that was ``signed`` (carried
        credentials) or not; how to retry it, or None when the error is final.

        ``stale_retried`` says the request was already retried for a stale nonce (read
        only under ``policy.stale_retry_per_transaction``; otherwise the count is ours)."""
        try:
            error = response.get_error()
        except StunParseError:
            return None
        if error is None:
            return None
        if error.code == 401 and not signed:
            verdict = AuthRetry.CHALLENGE  # §9.2.4: the challenge
        elif error.code == 438 or (
            error.code == 401
            and self.policy.fresh_nonce_401_is_stale
            and response.get(AttributeType.NONCE) not in (None, self.nonce)
        ):
            # §9.2.5: Stale Nonce, retried once with the NONCE of this response.
            if self.policy.stale_retry_per_transaction:
                if stale_retried:
                    return None
            elif self._stale_retries >= 1:
                return None
            verdict = AuthRetry.STALE
        else:
            return None  # §9.2.5: a 401 to signed credentials means they are wrong
        if not self._learn(response):
            return None
        if verdict is AuthRetry.STALE and not self.policy.stale_retry_per_transaction:
            self._stale_retries += 1
        return verdict

    def _learn(self, response: Message) -> bool:
        """Take REALM, NONCE and PASSWORD-ALGORITHMS from a 401/438; False (learning
        nothing) when the challenge cannot be answered."""
        realm = response.get(AttributeType.REALM)
        nonce = response.get(AttributeType.NONCE)
        if nonce is None or (realm is None and self.realm is None):
            return False
        if realm is not None:
            try:
                realm.decode()  # §14.9: UTF-8, and the key is derived from its text
            except UnicodeDecodeError:
                return False
        algorithms_raw, algorithm = self.algorithms_raw, self.algorithm
        raw = response.get(AttributeType.PASSWORD_ALGORITHMS)
        if raw is not None:
            try:
                offered = {alg for alg, _params in response.get_password_algorithms()}
            except StunParseError:
                return False
            if not self.policy.algorithms_need_nonce_cookie or (
                _features(nonce) & FEATURE_PASSWORD_ALGORITHMS
            ):
                if self.policy.require_supported_algorithm and not offered & _SUPPORTED:
                    return False  # §9.2.5: no algorithm we support
                algorithms_raw = raw
                algorithm = (
                    PasswordAlgorithm.SHA256
                    if PasswordAlgorithm.SHA256 in offered
                    else PasswordAlgorithm.MD5
                )
        if (realm is not None and realm != self.realm) or algorithm != self.algorithm:
            self._key = None
        if realm is not None:
            self.realm = realm
        self.nonce = nonce
        self.algorithms_raw, self.algorithm = algorithms_raw, algorithm
        return True

    # ------------------------------------------------ one request at a time (STUN client)
    def apply(self, message: Message) -> bytes | None:
        """Add the credential attributes to ``message``; return the key to encode it with
        (None before the first 401: send unauthenticated)."""
        key = self.key
        if key is None:
            return None
        for attr_type, value in self.attributes():
            message.add(attr_type, value)
        self._sent_credentials = True
        return key

    def handle_success(self) -> None:
        """The authenticated request succeeded: a later 438 may be retried again."""
        self._stale_retries = 0

    def handle_error(self, response: Message) -> bool:
        """Learn from a 401/438 error response to the last :meth:`apply`'d request; True if
        the request should be retried (with :meth:`apply`), False if the error is final."""
        if self.on_error(response, signed=self._sent_credentials) is None:
            return False
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
