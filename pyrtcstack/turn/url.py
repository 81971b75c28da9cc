"""TURN server URIs: ``turn:host[:port][?transport=udp|tcp]`` and ``turns:host[:port]``
(RFC 7065 §3, the form WebRTC's ``iceServers`` use)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TurnParseError

__all__ = ["DEFAULT_PORT", "DEFAULT_TLS_PORT", "TurnUrl", "parse_turn_url"]

#: RFC 8656 §4: the default ports for ``turn:`` (UDP/TCP) and ``turns:`` (TLS).
DEFAULT_PORT = 3478
DEFAULT_TLS_PORT = 5349


@dataclass(frozen=True, slots=True)
class TurnUrl:
    """A parsed TURN URI: ``transport`` is "udp", "tcp" or "tls"."""

    host: str
    port: int
    transport: str

    @property
    def secure(self) -> bool:
        return self.transport == "tls"


def parse_turn_url(text: str) -> TurnUrl:
    """Parse a ``turn:``/``turns:`` URI (RFC 7065 §3.1); raises :class:`TurnParseError`."""
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("turn", "turns"):
        raise TurnParseError(f"not a turn: or turns: URI: {text!r}")
    rest, _, query = rest.partition("?")
    transport = "tls" if scheme == "turns" else "udp"
    if query:
        key, _, value = query.partition("=")
        if key.lower() != "transport" or value.lower() not in ("udp", "tcp"):
            raise TurnParseError(f"unsupported TURN URI query {query!r}")
        if scheme == "turn":
            transport = value.lower()
        elif value.lower() == "udp":
            raise TurnParseError("turns: over UDP (DTLS) is not supported")
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket:
            raise TurnParseError(f"unterminated IPv6 literal in {text!r}")
        port_text = tail[1:] if tail.startswith(":") else ""
        if tail and not tail.startswith(":"):
            raise TurnParseError(f"junk after IPv6 literal in {text!r}")
    else:
        host, _, port_text = rest.partition(":")
    if not host:
        raise TurnParseError(f"no host in {text!r}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise TurnParseError(f"bad port in {text!r}")
        port = int(port_text)
    else:
        port = DEFAULT_TLS_PORT if scheme == "turns" else DEFAULT_PORT
    return TurnUrl(host, port, transport)
