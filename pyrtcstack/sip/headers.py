"""Header field names and the typed values of the headers a user agent relies on.

* Names (§7.3, §7.3.3): case-insensitive; the compact one-letter forms are expanded to
  the long names when a message is parsed (:func:`canonical_name`).
* Multi-valued fields (§7.3.1): the fields whose grammar is a comma list are split into
  one value each, so ``Via: a, b`` and two ``Via`` lines read the same. The
  authentication fields (WWW-Authenticate, Authorization, Proxy-Authenticate,
  Proxy-Authorization) are the exceptions §7.3.1 names: their commas separate
  parameters, never values, so they are never split; nor is any field we do not know.
* Typed values: :class:`Via` (§20.42), :class:`NameAddress` (From, To, Contact, Route,
  Record-Route; §20.10, §20.20, §20.39), :class:`CSeq` (§20.16).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.grammar import (
    LWS,
    TOKEN_CHARS,
    WORD_CHARS,
    Params,
    format_params,
    get_param,
    is_token,
    parse_params,
    quote,
    quoted_end,
    split_outside_quotes,
    unquote,
)
from pyrtcstack.sip.uri import SipUri, parse_host_port

__all__ = [
    "COMPACT_FORMS",
    "MULTI_VALUED",
    "CSeq",
    "NameAddress",
    "Via",
    "canonical_name",
    "check_call_id",
    "parse_max_forwards",
]

#: Compact forms (RFC 3261 §7.3.3 and §20 for i m e l c f s k t v; o Event, u
#: Allow-Events RFC 6665 §8.2.1-2; r Refer-To RFC 3515 §2.1; b Referred-By RFC 3892 §3;
#: x Session-Expires RFC 4028 §4).
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
}

_KNOWN = [
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
    "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "Path", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Record-Route",
    "Refer-To", "Referred-By", "Reply-To", "Require", "Retry-After", "Route", "Server",
    "Service-Route", "Session-Expires", "Subject", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]  # fmt: skip
_CANONICAL = {name.lower(): name for name in _KNOWN}
_CANONICAL.update(COMPACT_FORMS)

#: Fields whose §20 grammar is a comma list (§7.3.1), split into one value per entry.
MULTI_VALUED = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language",
        "Error-Info", "In-Reply-To", "Path", "Proxy-Require", "Record-Route", "Require",
        "Route", "Service-Route", "Supported", "Unsupported", "Via", "Warning",
    )
)  # fmt: skip


def canonical_name(name: str) -> str:
    """The long name of a known field in its usual spelling (``v`` and ``VIA`` →
    ``Via``); an unknown name unchanged (case is kept, comparisons ignore it)."""
    return _CANONICAL.get(name.lower(), name)


def check_call_id(value: str) -> str:
    """``callid = word [ "@" word ]`` (§25.1)."""
    left, at, right = value.partition("@")
    for word in (left, right) if at else (left,):
        if not word or any(c not in WORD_CHARS for c in word):
            raise SipParseError(f"bad Call-ID {value[:50]!r}")
    return value


def parse_max_forwards(value: str) -> int:
    """``Max-Forwards = 1*DIGIT`` with a value of 0–255 (§20.22)."""
    if not value.isascii() or not value.isdigit() or len(value) > 10 or int(value) > 255:
        raise SipParseError(f"bad Max-Forwards {value[:20]!r} (0-255)")
    return int(value)


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 4711 INVITE`` (§20.16): the sequence number is below 2**31 (§8.1.1.5)."""

    number: int
    method: str

    @classmethod
    def parse(cls, value: str) -> CSeq:
        number, _, method = value.strip(LWS).partition(" ")
        if not _:
            number, _, method = value.strip(LWS).partition("\t")
        method = method.strip(LWS)
        if not number.isascii() or not number.isdigit() or len(number) > 10:
            raise SipParseError(f"bad CSeq number {number[:20]!r}")
        if int(number) >= 2**31 or not is_token(method):
            raise SipParseError(f"bad CSeq {value[:40]!r}")
        return cls(int(number), method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (§20.42): ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, value: str) -> Via:
        head, *rest = split_outside_quotes(value, ";")
        # sent-protocol = protocol-name SLASH protocol-version SLASH transport, where
        # SLASH = SWS "/" SWS (§25.1): LWS may surround the slashes (RFC 4475 §3.1.1.1).
        parts = head.split("/")
        if len(parts) != 3:
            raise SipParseError(f"bad Via sent-protocol {head[:50]!r}")
        name, version = parts[0].strip(LWS), parts[1].strip(LWS)
        transport, _, sent_by = parts[2].strip(LWS).replace("\t", " ").partition(" ")
        sent_by = sent_by.strip(LWS)
        if not (is_token(name) and is_token(version) and is_token(transport)) or not sent_by:
            raise SipParseError(f"bad Via {value[:50]!r}")
        host, port = parse_host_port(sent_by)
        params = parse_params(";".join(rest)) if rest else ()
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter (§8.1.1.7), or ``None``."""
        return get_param(self.params, "branch")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)


def _check_display_tokens(text: str) -> None:
    for word in text.replace("\t", " ").split(" "):
        if word and any(c not in TOKEN_CHARS for c in word):
            raise SipParseError(f"bad display name {text[:40]!r}")


@dataclass(frozen=True, slots=True)
class NameAddress:
    """``"Alice" <sip:alice@example.com>;tag=1928301774`` (§20.10, §20.20, §20.39).

    ``uri`` is the URI text (any scheme: From and To may hold a tel: URI, §19.1.6);
    :meth:`sip_uri` parses it. ``display`` is the display name unquoted, or ``None``.
    ``params`` are the header parameters (``tag``, ``expires``, ``q``), not the URI's.
    """

    uri: str
    display: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, value: str) -> NameAddress:
        text = value.strip(LWS)
        display: str | None = None
        if text.startswith('"'):
            end = quoted_end(text, 0)
            display = unquote(text[:end])
            text = text[end:].lstrip(LWS)
            if not text.startswith("<"):
                raise SipParseError("a quoted display name must be followed by <URI>")
        lt = text.find("<")
        if lt >= 0:
            # name-addr = [ display-name ] LAQUOT addr-spec RAQUOT (§25.1)
            if display is None and lt > 0:
                display = text[:lt].strip(LWS)
                _check_display_tokens(display)
                display = " ".join(display.replace("\t", " ").split())
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError("'<' without '>' around a URI")
            uri = text[lt + 1 : gt]
            rest = text[gt + 1 :].strip(LWS)
        else:
            # addr-spec alone: its ';' parameters belong to the header, not the URI, and
            # it may not hold ',', ';' or '?' itself (§20.10).
            uri, semi, rest = text.partition(";")
            uri = uri.strip(LWS)
            rest = semi + rest
            if "?" in uri or "," in uri:
                raise SipParseError("a URI with '?' or ',' must be inside <> (§20.10)")
        _check_uri_text(uri)
        if rest:
            if not rest.startswith(";"):
                raise SipParseError(f"text after the URI: {rest[:40]!r}")
            params = parse_params(rest[1:])
        else:
            params = ()
        return cls(uri, display, params)

    def __str__(self) -> str:
        display = "" if self.display is None else quote(self.display) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (§19.3), or ``None``."""
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def sip_uri(self) -> SipUri:
        """The URI parsed as a SIP or SIPS URI (:class:`SipParseError` for another scheme)."""
        return SipUri.parse(self.uri)


def _check_uri_text(uri: str) -> None:
    """An absolute URI: ``scheme ":" ...`` with no white space (§25.1 absoluteURI)."""
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest or not scheme.isascii() or not scheme[:1].isalpha():
        raise SipParseError(f"not a URI: {uri[:50]!r}")
    if any(not (c.isalnum() or c in "+-.") for c in scheme):
        raise SipParseError(f"bad URI scheme {scheme[:20]!r}")
    if any(c in ' \t\r\n<>"' for c in rest):
        raise SipParseError(f'white space or <>" inside a URI: {uri[:50]!r}')
    if scheme.lower() in ("sip", "sips"):
        SipUri.parse(uri)
