"""Digest authentication for a SIP client (RFC 3261 §22.4, RFC 7616 computations, RFC 8760
algorithms).

A registrar or proxy refuses a request with 401 (WWW-Authenticate) or 407
(Proxy-Authenticate) holding one *challenge* per algorithm it accepts (RFC 8760 §2.4). The
client picks the strongest it knows, computes

    HA1      = H(username ":" realm ":" password)                   (RFC 7616 §3.4.2)
               H(HA1 ":" nonce ":" cnonce) for the "-sess" algorithms
    HA2      = H(method ":" uri)                    qop=auth        (§3.4.3)
               H(method ":" uri ":" H(body))        qop=auth-int
    response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)    (§3.4.1)
               H(HA1 ":" nonce ":" HA2)             no qop (RFC 2617 compatibility)

and sends the request again with an Authorization (or Proxy-Authorization) field.
``nc`` counts the requests made with one nonce (8 hex digits); ``cnonce`` is fresh from
the injected random generator (a CSPRNG by default). The password is never in a repr.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pyrtcstack.common.core import default_rng, random_text
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.grammar import is_token, quote, quoted_end, split_outside_quotes, unquote

__all__ = [
    "ALGORITHMS",
    "DigestChallenge",
    "DigestClient",
    "choose_challenge",
    "digest_response",
]


def _hasher(name: str) -> Callable[[bytes], str]:
    def h(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    return h


#: Algorithms we answer, strongest first (RFC 8760 §2.2-2.4: SHA-512-256, SHA-256, MD5;
#: each with its "-sess" variant, RFC 7616 §3.4.2).
ALGORITHMS: dict[str, Callable[[bytes], str]] = {}
for _name, _hash in (("SHA-512-256", "sha512_256"), ("SHA-256", "sha256"), ("MD5", "md5")):
    if _hash in hashlib.algorithms_available:
        ALGORITHMS[_name] = _hasher(_hash)
        ALGORITHMS[_name + "-SESS"] = ALGORITHMS[_name]
_STRENGTH = ["SHA-512-256", "SHA-256", "MD5"]


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One ``Digest`` challenge (RFC 7616 §3.3). ``algorithm`` is upper-case."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        """Parse a WWW-Authenticate / Proxy-Authenticate value (§25.1 ``challenge``)."""
        scheme, _, rest = value.strip(" \t").partition(" ")
        if scheme.lower() != "digest":
            raise SipParseError(f"not a Digest challenge: {scheme[:20]!r}")
        params: dict[str, str] = {}
        items: list[tuple[str, str]] = []
        for part in split_outside_quotes(rest, ","):
            if not part.strip(" \t"):
                continue
            name, eq, raw = part.partition("=")
            name = name.strip(" \t").lower()
            raw = raw.strip(" \t")
            if not eq or not is_token(name):
                raise SipParseError(f"bad auth-param {part[:40]!r}")
            if raw.startswith('"'):
                if quoted_end(raw, 0) != len(raw):
                    raise SipParseError(f"text after a quoted auth-param: {part[:40]!r}")
            elif not is_token(raw):
                raise SipParseError(f"bad auth-param value {raw[:40]!r}")
            params[name] = unquote(raw)
            items.append((name, params[name]))
        if "realm" not in params or "nonce" not in params:
            raise SipParseError("a Digest challenge needs realm and nonce (RFC 7616 §3.3)")
        qop = tuple(q.strip(" \t").lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            params["realm"],
            params["nonce"],
            params.get("algorithm", "MD5").upper(),
            qop,
            params.get("opaque"),
            params.get("stale", "").lower() == "true",
            tuple(items),
        )


def choose_challenge(challenges: Iterable[DigestChallenge]) -> DigestChallenge | None:
    """The challenge with the strongest algorithm we support (RFC 8760 §2.4), or None."""
    best: tuple[int, DigestChallenge] | None = None
    for challenge in challenges:
        if challenge.algorithm not in ALGORITHMS:
            continue
        rank = _STRENGTH.index(challenge.algorithm.removesuffix("-SESS"))
        if best is None or rank < best[0]:
            best = (rank, challenge)
    return None if best is None else best[1]


def digest_response(
    algorithm: str,
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str = "",
    cnonce: str = "",
    qop: str = "",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1, the module docstring)."""
    h = ALGORITHMS[algorithm.upper()]
    ha1 = h(f"{username}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode())
    ha2 = h(f"{method}:{uri}".encode())
    if qop == "auth-int":
        ha2 = h(f"{method}:{uri}:{h(body)}".encode())
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{ha2}".encode())


class DigestClient:
    """Credentials that answer challenges: :meth:`authorization` makes the field value."""

    __slots__ = ("_counts", "_password", "_rng", "username")

    def __init__(self, username: str, password: str, rng: random.Random | None = None) -> None:
        if any(c in username for c in '"\\\r\n'):
            raise ValueError("the username cannot hold quotes, backslashes or line breaks")
        self.username = username
        self._password = password
        self._rng = default_rng(rng)
        self._counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"DigestClient(username={self.username!r}, password=<hidden>)"

    def authorization(
        self, challenge: DigestChallenge, method: str, uri: str, body: bytes = b""
    ) -> str:
        """The Authorization / Proxy-Authorization value answering ``challenge`` for a
        request ``method`` to ``uri`` (§22.4; RFC 7616 §3.4). qop ``auth`` is preferred
        to ``auth-int``; a challenge without qop gets the RFC 2617 form."""
        if challenge.algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {challenge.algorithm}")
        qop = (
            "auth" if "auth" in challenge.qop else "auth-int" if "auth-int" in challenge.qop else ""
        )
        nc = cnonce = ""
        if qop or challenge.algorithm.endswith("-SESS"):
            count = self._counts.get(challenge.nonce, 0) + 1
            if len(self._counts) >= 64 and challenge.nonce not in self._counts:
                self._counts.clear()  # bounded: old nonces are forgotten
            self._counts[challenge.nonce] = count
            nc = f"{count:08x}"
            cnonce = random_text(self._rng, "0123456789abcdef", 32)
        response = digest_response(
            challenge.algorithm, username=self.username, realm=challenge.realm,
            password=self._password, method=method, uri=uri, nonce=challenge.nonce,
            nc=nc, cnonce=cnonce, qop=qop, body=body,
        )  # fmt: skip
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(challenge.realm)}",
            f"nonce={quote(challenge.nonce)}",
            f"uri={quote(uri)}",
            f"response={quote(response)}",
            f"algorithm={challenge.algorithm}",
        ]
        if cnonce:
            parts.append(f"cnonce={quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        if qop:
            parts += [f"qop={qop}", f"nc={nc}"]
        return "Digest " + ", ".join(parts)
