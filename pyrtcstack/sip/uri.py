"""SIP and SIPS URIs (RFC 3261 §19.1, grammar in §25.1).

``sip:user:password@host:port;uri-parameters?headers``. :class:`SipUri` keeps every part
as written (escapes included), so ``str(SipUri.parse(text))`` gives back the same URI in
its canonical layout; comparing two URIs the §19.1.4 way (unescaping, case of the host)
is :meth:`SipUri.equivalent`.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass

from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.grammar import Params, get_param

__all__ = ["SipUri", "parse_host_port"]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.!~*'()")
#: user = 1*( unreserved / escaped / user-unreserved ) (§25.1)
_USER_CHARS = _UNRESERVED | frozenset("&=+$,;?/")
#: password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_CHARS = _UNRESERVED | frozenset("&=+$,")
#: paramchar = param-unreserved / unreserved / escaped
_PARAM_CHARS = _UNRESERVED | frozenset("[]/:&+$")
#: hnv-unreserved / unreserved / escaped
_HEADER_CHARS = _UNRESERVED | frozenset("[]/?:+$")
_HOST_CHARS = frozenset(string.ascii_letters + string.digits + "-.")
_HEX = frozenset(string.hexdigits)


def _check_escaped(text: str, allowed: frozenset[str], what: str) -> None:
    """Every character in ``allowed`` or a ``%HH`` escape (§25.1 ``escaped``)."""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%":
            if i + 2 >= n or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
                raise SipParseError(f"bad %-escape in the URI {what}")
            i += 3
            continue
        if c not in allowed:
            raise SipParseError(f"character {c!r} not allowed in the URI {what}")
        i += 1


def _check_host(host: str) -> None:
    """host = hostname / IPv4address / IPv6reference (§25.1)."""
    if host.startswith("["):
        if not host.endswith("]"):
            raise SipParseError("unterminated IPv6 reference")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(f"bad IPv6 address {host[:50]!r}") from None
        return
    if not host or any(c not in _HOST_CHARS for c in host):
        raise SipParseError(f"bad host {host[:50]!r}")
    labels = host.rstrip(".").split(".")
    if any(not label or label[0] == "-" or label[-1] == "-" for label in labels):
        raise SipParseError(f"bad host name {host[:50]!r}")


def parse_host_port(text: str) -> tuple[str, int | None]:
    """``hostport = host [ ":" port ]`` (§25.1); the port 0–65535."""
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise SipParseError(f"bad host and port {text[:50]!r}")
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
    _check_host(host)
    if not rest:
        return host, None
    digits = rest[1:]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 5 or int(digits) > 65535:
        raise SipParseError(f"bad port {digits[:10]!r}")
    return host, int(digits)


def _parse_uri_params(text: str) -> Params:
    out: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not name:
            raise SipParseError("empty URI parameter name")
        _check_escaped(name, _PARAM_CHARS, "parameter name")
        if eq:
            if not value:
                raise SipParseError("empty URI parameter value")
            _check_escaped(value, _PARAM_CHARS, "parameter value")
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1), each part as written."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP-URI or SIPS-URI (§25.1); :class:`SipParseError` when malformed."""
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            raise SipParseError(f"not a sip: or sips: URI: {text[:50]!r}")
        user = password = None
        at = rest.rfind("@")  # '@' is in no part after userinfo (§25.1), even escaped
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user, pcolon, pw = userinfo.partition(":")
            if not user:
                raise SipParseError("empty user part before '@'")
            _check_escaped(user, _USER_CHARS, "user part")
            if pcolon:
                _check_escaped(pw, _PASSWORD_CHARS, "password")
                password = pw
        rest, qmark, header_text = rest.partition("?")
        hostport, semi, param_text = rest.partition(";")
        host, port = parse_host_port(hostport)
        params = _parse_uri_params(param_text) if semi else ()
        headers: list[tuple[str, str]] = []
        if qmark:
            for item in header_text.split("&"):
                name, eq, value = item.partition("=")
                if not name or not eq:
                    raise SipParseError("URI header without a name or '='")
                _check_escaped(name, _HEADER_CHARS, "header name")
                _check_escaped(value, _HEADER_CHARS, "header value")
                headers.append((name, value))
        return cls(host, user, password, port, params, tuple(headers), scheme.lower())

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += [":", self.password]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params:
            out.append(f";{name}" if value is None else f";{name}={value}")
        if self.headers:
            out.append("?" + "&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(out)

    def param(self, name: str) -> str | None:
        """A URI parameter's value (``""`` for a flag such as ``lr``), or ``None``."""
        return get_param(self.params, name)

    @property
    def transport(self) -> str:
        """The ``transport`` parameter, lower-case, ``"udp"`` by default (§19.1.1)."""
        return (self.param("transport") or "udp").lower()

    def equivalent(self, other: SipUri) -> bool:
        """URI comparison of §19.1.4 for the parts that matter to a user agent: scheme,
        user and password (escapes resolved, case-sensitive), host (case-insensitive),
        port, and the user/ttl/method/maddr/transport parameters when either has them."""

        def unescape(text: str | None) -> str | None:
            return None if text is None else _unescape(text)

        if (self.scheme, unescape(self.user), unescape(self.password), self.port) != (
            other.scheme,
            unescape(other.user),
            unescape(other.password),
            other.port,
        ):
            return False
        if self.host.lower() != other.host.lower():
            return False
        for name in ("user", "ttl", "method", "maddr", "transport"):
            a, b = self.param(name), other.param(name)
            if (a is None) != (b is None) or (a or "").lower() != (b or "").lower():
                return False
        return True


def _unescape(text: str) -> str:
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogatepass")
    while i < len(raw):
        pair = raw[i + 1 : i + 3]
        if raw[i] == 0x25 and len(pair) == 2 and all(chr(b) in _HEX for b in pair):
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")
