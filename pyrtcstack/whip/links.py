"""ICE servers in HTTP ``Link`` headers (RFC 9725 §4.6, on RFC 8288's syntax).

A WHIP/WHEP endpoint tells its client which STUN/TURN servers to use with one link per
server, relation type ``ice-server``; TURN credentials ride as link parameters::

    Link: <stun:stun.example.net>; rel="ice-server"
    Link: <turn:turn.example.net?transport=udp>; rel="ice-server";
          username="user"; credential="myPassword"; credential-type="password"

:func:`parse_link_header` reads one or more header values (comma-separated links, RFC 8288
§3), bounded by :data:`MAX_LINK_HEADER_BYTES` and :data:`MAX_LINKS`, into :class:`Link`
values, raising :class:`LinkHeaderError`; :func:`ice_servers` keeps the ``ice-server``
ones as :class:`IceServerLink`; :meth:`IceServerLink.to_header` writes one. The
credential never appears in a ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..common.errors import ParseError

__all__ = [
    "MAX_LINKS",
    "MAX_LINK_HEADER_BYTES",
    "IceServerLink",
    "Link",
    "LinkHeaderError",
    "ice_servers",
    "parse_link_header",
]

#: Largest Link header text read (all values together).
MAX_LINK_HEADER_BYTES = 8 * 1024
#: Most links read from one response.
MAX_LINKS = 32
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class LinkHeaderError(ParseError):
    """A Link header value that is not RFC 8288 syntax (or is over the bounds)."""


@dataclass(frozen=True)
class Link:
    """One link: its target URI and its parameters (names lower-cased, RFC 8288 §3)."""

    target: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def rels(self) -> list[str]:
        """The relation types (``rel`` holds a space-separated list, RFC 8288 §3.3)."""
        return (self.param("rel") or "").lower().split()


@dataclass(frozen=True)
class IceServerLink:
    """An ``ice-server`` link: a STUN/TURN URL and, for TURN, its credentials."""

    url: str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    def to_header(self) -> str:
        out = f'<{self.url}>; rel="ice-server"'
        if self.username is not None:
            out += f"; username={_quote(self.username)}"
        if self.credential is not None:
            out += f'; credential={_quote(self.credential)}; credential-type="password"'
        return out


def _quote(value: str) -> str:
    """An RFC 9110 §5.6.4 quoted-string."""
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError("a Link parameter cannot hold control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise LinkHeaderError(f"Link: expected {char!r} at {self.pos}")
        self.pos += 1

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TOKEN:
            self.pos += 1
        if start == self.pos:
            raise LinkHeaderError(f"Link: expected a token at {start}")
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.expect('"')
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise LinkHeaderError("Link: unterminated quoted string")
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if self.pos >= len(self.text):
                    raise LinkHeaderError("Link: unterminated quoted string")
                char = self.text[self.pos]
                self.pos += 1
            if (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
                raise LinkHeaderError("Link: control character in a quoted string")
            out.append(char)


def parse_link_header(values: str | Iterable[str]) -> list[Link]:
    """Parse Link header values (``link-value *( "," link-value )``, RFC 8288 §3)."""
    texts = [values] if isinstance(values, str) else list(values)
    if sum(len(t) for t in texts) > MAX_LINK_HEADER_BYTES:
        raise LinkHeaderError(f"Link: more than {MAX_LINK_HEADER_BYTES} bytes")
    links: list[Link] = []
    for text in texts:
        reader = _Reader(text)
        while True:
            reader.skip_space()
            if reader.peek() == "":
                break
            if reader.peek() == ",":  # empty list elements are allowed (RFC 9110 §5.6.1)
                reader.pos += 1
                continue
            reader.expect("<")
            end = text.find(">", reader.pos)
            if end < 0:
                raise LinkHeaderError("Link: '<' without '>'")
            target = text[reader.pos : end].strip()
            if not target or any(c in target for c in "<\"' \t") or not target.isprintable():
                raise LinkHeaderError("Link: bad target URI")
            reader.pos = end + 1
            params: list[tuple[str, str]] = []
            while True:
                reader.skip_space()
                if reader.peek() != ";":
                    break
                reader.pos += 1
                reader.skip_space()
                name = reader.token().lower()
                reader.skip_space()
                value = ""
                if reader.peek() == "=":
                    reader.pos += 1
                    reader.skip_space()
                    value = reader.quoted() if reader.peek() == '"' else reader.token()
                params.append((name, value))
            if len(links) == MAX_LINKS:
                raise LinkHeaderError(f"Link: more than {MAX_LINKS} links")
            links.append(Link(target, tuple(params)))
            reader.skip_space()
            if reader.peek() not in ("", ","):
                raise LinkHeaderError(f"Link: unexpected {reader.peek()!r} at {reader.pos}")
    return links


def ice_servers(links: Iterable[Link]) -> list[IceServerLink]:
    """The ``rel="ice-server"`` links with a stun:/stuns:/turn:/turns: target (RFC 9725
    §4.6); other links are not ours to use."""
    return [
        IceServerLink(link.target, link.param("username"), link.param("credential"))
        for link in links
        if "ice-server" in link.rels and link.target.lower().startswith(_ICE_SCHEMES)
    ]
