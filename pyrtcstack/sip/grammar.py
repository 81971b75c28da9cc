"""The small pieces of the RFC 3261 §25.1 grammar the codec shares.

Everything here scans its input once, left to right, with no regular expression that
could backtrack: hostile input costs time in proportion to its length.
"""

from __future__ import annotations

import string

from pyrtcstack.sip.errors import SipParseError

__all__ = [
    "Params",
    "format_params",
    "get_param",
    "is_token",
    "parse_params",
    "split_outside_quotes",
]

#: ``token`` (§25.1): alphanumerics and ``-.!%*_+`'~``.
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
#: ``word`` (§25.1, used by Call-ID): a token plus ``()<>:\\"/[]?{}``.
WORD_CHARS = TOKEN_CHARS | frozenset('()<>:\\"/[]?{}')
#: What a generic-param value may hold besides a quoted string: a token or a host
#: (``[`` ``]`` ``:`` of an IPv6 reference).
VALUE_CHARS = TOKEN_CHARS | frozenset("[]:")
LWS = " \t"

#: Header or URI parameters in order: ``(name, value)``, ``value`` ``None`` for a flag
#: (``;lr``), a quoted value kept with its quotes so the text round-trips.
Params = tuple[tuple[str, str | None], ...]


def is_token(text: str) -> bool:
    """``token`` of §25.1: one or more token characters."""
    return bool(text) and all(c in TOKEN_CHARS for c in text)


def quoted_end(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at ``text[start] == '"'`` (§25.1:
    ``quoted-pair`` is a backslash and any character but CR and LF)."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n or text[i + 1] in "\r\n":
                raise SipParseError("bad quoted-pair in a quoted string")
            i += 2
            continue
        if c == '"':
            return i + 1
        if c in "\r\n":
            raise SipParseError("line break inside a quoted string")
        i += 1
    raise SipParseError("unterminated quoted string")


def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is outside quoted strings and ``<...>`` (§7.3.1:
    a comma inside a quoted display name or a bracketed URI does not separate values)."""
    parts: list[str] = []
    start = 0
    i = 0
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = quoted_end(text, i)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _check_value(value: str) -> None:
    if value.startswith('"'):
        if quoted_end(value, 0) != len(value):
            raise SipParseError(f"text after a quoted parameter value: {value[:40]!r}")
    elif not value or any(c not in VALUE_CHARS for c in value):
        raise SipParseError(f"bad parameter value {value[:40]!r}")


def parse_params(text: str) -> Params:
    """Parse ``*( SEMI generic-param )`` (§25.1) from the text after the first ``;``:
    ``text`` is ``"a=1;b; c = "x y""``. LWS around names, ``=`` and values is dropped."""
    out: list[tuple[str, str | None]] = []
    for part in split_outside_quotes(text, ";"):
        name, eq, value = part.partition("=")
        name = name.strip(LWS)
        if not is_token(name):
            raise SipParseError(f"bad parameter name {name[:40]!r}")
        if eq:
            value = value.strip(LWS)
            _check_value(value)
            out.append((name, value))
        else:
            out.append((name, None))
    return tuple(out)


def format_params(params: Params) -> str:
    """``;name=value;flag`` for :func:`parse_params`'s output (empty for no parameters)."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def get_param(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive, §7.3.1), unquoted; ``""`` for a
    flag; ``None`` when absent."""
    key = name.lower()
    for n, v in params:
        if n.lower() == key:
            return "" if v is None else unquote(v)
    return None


def unquote(value: str) -> str:
    """The content of a quoted string (quoted-pairs resolved), or ``value`` unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out: list[str] = []
        i = 1
        while i < len(value) - 1:
            if value[i] == "\\" and i + 1 < len(value) - 1:
                i += 1
            out.append(value[i])
            i += 1
        return "".join(out)
    return value


def quote(text: str) -> str:
    """``text`` as a quoted string, ``"`` and ``\\`` escaped (§25.1 quoted-pair)."""
    if "\r" in text or "\n" in text:
        raise SipParseError("a quoted string cannot hold CR or LF")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
