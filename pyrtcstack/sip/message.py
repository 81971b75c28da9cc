"""SIP requests and responses (RFC 3261 §7) and their text form.

A message is its start line, its header fields in order (name, value) and its body.
:func:`parse_message` reads one message from a datagram (§18.3: the Content-Length, when
present, says where the body ends; octets after it are dropped); :class:`StreamFramer`
(:mod:`pyrtcstack.sip.framing`) cuts messages out of a TCP byte stream with the same
parser. Parsing normalises what §7.3.1 says is equivalent — folded lines become one
space, compact names become long ones, comma lists become one field per value — and
checks the fields every request and response must have (§8.1.1, §8.2.2): Via, From,
To, Call-ID, CSeq (its method the request's), and Max-Forwards when present. The
Content-Length is framing, not content: it is checked and dropped on parsing and written
from the body by :meth:`Request.encode` / :meth:`Response.encode`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyrtcstack.sip.errors import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, SipParseError
from pyrtcstack.sip.grammar import is_token, split_outside_quotes
from pyrtcstack.sip.headers import (
    MULTI_VALUED,
    CSeq,
    NameAddress,
    Via,
    canonical_name,
    check_call_id,
    parse_max_forwards,
)
from pyrtcstack.sip.uri import SipUri

__all__ = ["SIP_VERSION", "Headers", "Message", "Request", "Response", "parse_message"]

SIP_VERSION = "SIP/2.0"
#: Header fields in order, each ``(name, value)`` with the long name (§7.3.3).
Headers = tuple[tuple[str, str], ...]


class _Fields:
    """The header accessors requests and responses share (names are case-insensitive)."""

    __slots__ = ()
    headers: Headers
    body: bytes

    def get(self, name: str) -> str | None:
        """The first value of field ``name`` (any case, compact or long), or ``None``."""
        key = canonical_name(name).lower()
        for n, v in self.headers:
            if n.lower() == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name``, in order (comma lists already split)."""
        key = canonical_name(name).lower()
        return [v for n, v in self.headers if n.lower() == key]

    def _required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header field")
        return value

    @property
    def vias(self) -> list[Via]:
        """The Via fields, topmost first (§20.42)."""
        return [Via.parse(v) for v in self.get_all("Via")]

    @property
    def from_(self) -> NameAddress:
        return NameAddress.parse(self._required("From"))

    @property
    def to(self) -> NameAddress:
        return NameAddress.parse(self._required("To"))

    @property
    def call_id(self) -> str:
        return check_call_id(self._required("Call-ID"))

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self._required("CSeq"))

    @property
    def contacts(self) -> list[NameAddress]:
        """The Contact values (``Contact: *`` of a REGISTER gives ``[]``; see
        :attr:`contact_star`)."""
        return [NameAddress.parse(v) for v in self.get_all("Contact") if v != "*"]

    @property
    def contact_star(self) -> bool:
        """``Contact: *`` (§10.2.2, remove every binding)."""
        return "*" in self.get_all("Contact")

    @property
    def max_forwards(self) -> int | None:
        value = self.get("Max-Forwards")
        return None if value is None else parse_max_forwards(value)

    @property
    def content_type(self) -> str | None:
        return self.get("Content-Type")

    def _validate(self, request_method: str | None) -> None:
        """§8.1.1 / §8.2.2: the fields every message needs, each well-formed."""
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via header field")
        self.from_, self.to, self.call_id  # noqa: B018 (parsed for the checks)
        cseq = self.cseq
        if request_method is not None and cseq.method != request_method:
            raise SipParseError(f"CSeq method {cseq.method} is not the request's")
        self.max_forwards  # noqa: B018
        if self.get("Contact") is not None:
            self.contacts  # noqa: B018
        for name in ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type"):
            if len(self.get_all(name)) > 1:
                raise SipParseError(f"more than one {name} header field")

    def _encode(self, start_line: str) -> bytes:
        lines = [start_line]
        for name, value in self.headers:
            if name.lower() != "content-length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True, slots=True)
class Request(_Fields):
    """``METHOD Request-URI SIP/2.0`` (§7.1), its header fields and body."""

    method: str
    uri: str
    headers: Headers = ()
    body: bytes = b""

    def encode(self) -> bytes:
        """The message on the wire, Content-Length from the body (§20.14)."""
        return self._encode(f"{self.method} {self.uri} {SIP_VERSION}")


@dataclass(frozen=True, slots=True)
class Response(_Fields):
    """``SIP/2.0 Status-Code Reason-Phrase`` (§7.2), its header fields and body."""

    status: int
    reason: str
    headers: Headers = ()
    body: bytes = b""

    def encode(self) -> bytes:
        return self._encode(f"{SIP_VERSION} {self.status} {self.reason}")


Message = Request | Response


def _check_version(version: str) -> None:
    # SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (§25.1); only 2.0 is served (§8.2.6... 505)
    if version.upper() != SIP_VERSION:
        raise SipParseError(f"SIP version {version[:20]!r} is not SIP/2.0", 505)


def _parse_start_line(line: str) -> tuple[str, str, str]:
    """``("request", method, uri)`` or ``("response", code, reason)``."""
    if line.startswith("SIP/") or line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        _check_version(version)
        code, _, reason = rest.partition(" ")
        # Status-Code = 3DIGIT, 100-699 (§7.2, §21)
        if len(code) != 3 or not code.isascii() or not code.isdigit() or not "100" <= code < "700":
            raise SipParseError(f"bad status code {code[:10]!r}")
        if any(c in "\r\n" for c in reason):
            raise SipParseError("line break in the reason phrase")
        return "response", code, reason
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF (§7.1): exactly one SP
    # between the parts, no white space inside the URI (RFC 4475 §3.1.2.6-7).
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("the request line is not 'METHOD URI SIP/2.0'")
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError(f"bad method {method[:30]!r}")
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or not scheme[:1].isalpha() or "\t" in uri or "<" in uri:
        raise SipParseError(f"bad Request-URI {uri[:50]!r}")
    _check_version(version)
    if scheme.lower() in ("sip", "sips") and SipUri.parse(uri).headers:
        # §19.1.1, table 1: URI headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11)
        raise SipParseError("headers in a SIP Request-URI")
    return "request", method, uri


def _header_lines(head: str) -> list[str]:
    """Header lines with folding undone (§7.3.1: a line starting with SP or HTAB continues
    the previous one; the CRLF and the white space around it read as one SP)."""
    out: list[str] = []
    for line in head.split("\r\n"):
        if "\r" in line or "\n" in line:
            raise SipParseError("bare CR or LF in the header section")
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError("continuation line before any header field")
            out[-1] = out[-1].rstrip(" \t") + " " + line.lstrip(" \t")
        else:
            out.append(line)
    return out


def parse_head(
    head: bytes, max_headers: int = MAX_HEADERS
) -> tuple[str, str, str, list[tuple[str, str]], int | None]:
    """Parse the start line and header fields (the bytes before the blank line).

    Returns ``(kind, a, b, headers, content_length)``; the Content-Length field is
    taken out of the headers and returned (``None`` when absent).
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("the header section is not UTF-8 (§7.3.1 TEXT-UTF8)") from None
    lines = _header_lines(text)
    kind, a, b = _parse_start_line(lines[0])
    headers: list[tuple[str, str]] = []
    content_length: int | None = None
    for line in lines[1:]:
        # message-header = field-name HCOLON field-value; HCOLON = *( SP / HTAB ) ":" SWS
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise SipParseError(f"bad header line {line[:40]!r}")
        name = canonical_name(name)
        value = value.strip(" \t")
        key = name.lower()
        if key == "content-length":
            if content_length is not None:
                raise SipParseError("more than one Content-Length (§20.14, RFC 4475 §3.3.10)")
            if not value.isascii() or not value.isdigit() or len(value) > 10:
                raise SipParseError(f"bad Content-Length {value[:20]!r}")
            content_length = int(value)
            continue
        values = split_outside_quotes(value, ",") if key in MULTI_VALUED else [value]
        for raw in values:
            item = raw.strip(" \t")
            if key in MULTI_VALUED and not item:
                continue  # empty list elements are allowed and ignored (§7.3.1 #rule)
            headers.append((name, item))
        if len(headers) > max_headers:
            raise SipParseError(f"more than {max_headers} header field values", 513)
    return kind, a, b, headers, content_length


def build(kind: str, a: str, b: str, headers: Iterable[tuple[str, str]], body: bytes) -> Message:
    """Make the message parsed by :func:`parse_head` and check its required fields."""
    message: Message
    if kind == "request":
        message = Request(a, b, tuple(headers), body)
        message._validate(a)
    else:
        message = Response(int(a), b, tuple(headers), body)
        message._validate(None)
    return message


def parse_message(
    data: bytes,
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_headers: int = MAX_HEADERS,
) -> Message:
    """Parse one message from a datagram (§18.3, §7.5).

    Leading CRLFs are skipped (§7.5); with a Content-Length, the body is that many octets
    and any octets after it are dropped (§18.3); without one, the body is the rest of the
    datagram. Raises :class:`SipParseError` for anything malformed.
    """
    start = 0
    while data[start : start + 2] == b"\r\n":
        start += 2
    end = data.find(b"\r\n\r\n", start, start + max_header_bytes + 4)
    if end < 0:
        if len(data) - start > max_header_bytes:
            raise SipParseError(f"header section over {max_header_bytes} bytes", 513)
        raise SipParseError("no blank line after the header section")
    kind, a, b, headers, length = parse_head(data[start:end], max_headers)
    body = data[end + 4 :]
    if length is not None:
        if length > len(body):
            raise SipParseError("Content-Length larger than the datagram's body")
        body = body[:length]
    if len(body) > max_body_bytes:
        raise SipParseError(f"body over {max_body_bytes} bytes", 513)
    return build(kind, a, b, headers, body)
