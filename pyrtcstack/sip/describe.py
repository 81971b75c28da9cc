"""One line per SIP message, for people reading a trace (``pyrtcstack sip call --trace``).

:func:`describe` names the request's method (RFC 3261 §7.1) or the response's status and
the method it answers (§7.2, §8.1.3.1: the CSeq method), a short Call-ID and the CSeq
number, what the body is (an SDP offer or answer with its m-lines summarised, §13.2.1),
and the authentication exchange (§22): the challenge's realm, algorithm and qop, and for
credentials the username, realm and algorithm. Secrets never appear: not the digest
``response``, not a password in a URI, not the nonce or cnonce. Text from the wire is
escaped and clipped, so a hostile message cannot reach the terminal as control
characters. Best effort: it never raises, whatever the input.

    >>> describe(b"BYE sip:bob@192.0.2.4 SIP/2.0\\r\\n...")
    'SIP BYE sip:bob@192.0.2.4 (end the call, RFC 3261 §15), Call-ID 3f2ab9c1…, CSeq 2'
"""

from __future__ import annotations

import contextlib

from pyrtcstack.sdp import ParseError, SessionDescription
from pyrtcstack.sip.digest import DigestChallenge
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.grammar import split_outside_quotes, unquote
from pyrtcstack.sip.message import Message, Request, parse_message
from pyrtcstack.sip.uri import SipUri

__all__ = ["MAX_TEXT", "describe"]

#: Longest text taken from the wire (a URI, a reason phrase, a realm) into a line.
MAX_TEXT = 64
#: m-lines summarised in one line; codecs named per m-line.
_MAX_MEDIA = 4
_MAX_CODECS = 3

_METHODS = {
    "INVITE": "start a call, RFC 3261 §13",
    "ACK": "confirms the final response to an INVITE, RFC 3261 §13.2.2.4, §17.1.1.3",
    "BYE": "end the call, RFC 3261 §15",
    "CANCEL": "cancel a pending INVITE, RFC 3261 §9",
    "REGISTER": "bind a contact to an address-of-record, RFC 3261 §10",
    "OPTIONS": "ask for capabilities, RFC 3261 §11",
    "PRACK": "acknowledge a reliable provisional response, RFC 3262",
    "UPDATE": "change the session, RFC 3311",
    "INFO": "application information, RFC 6086",
    "SUBSCRIBE": "subscribe to an event, RFC 6665",
    "NOTIFY": "an event notification, RFC 6665",
    "REFER": "a transfer, RFC 3515",
    "MESSAGE": "an instant message, RFC 3428",
}
_CLASSES = {
    1: "provisional, §21.1",
    2: "success, §21.2",
    3: "redirection, §21.3",
    4: "client error, §21.4",
    5: "server error, §21.5",
    6: "global failure, §21.6",
}
#: Responses whose meaning a learner meets in a call, beyond their class.
_STATUSES = {
    100: "the next hop has it, retransmissions stop, §17.2.1",
    180: "the callee is alerted, §13.3.1.1",
    183: "early media, RFC 3960",
    401: "a digest challenge, §22.2",
    407: "a proxy's digest challenge, §22.3",
    481: "no such call or transaction, §12.2.2",
    487: "the INVITE was cancelled, §9.2",
    491: "re-INVITE glare: try later, §14.1",
}
#: Digest parameters shown from credentials; ``response``, ``cnonce``, ``nonce`` and
#: ``opaque`` are left out (the first is the proof, the others say nothing to a reader).
_SHOWN_CREDENTIALS = ("username", "realm", "algorithm", "qop", "nc")


def _printable(text: str, limit: int = MAX_TEXT) -> str:
    """Text from the peer, safe for a terminal: control characters escaped, clipped."""
    clipped = text[:limit]
    safe = "".join(c if c.isprintable() else f"\\x{ord(c) & 0xFF:02x}" for c in clipped)
    return safe + ("…" if len(text) > limit else "")


def _uri(text: str) -> str:
    """A Request-URI for the line: a password in it is never shown (§19.1.1)."""
    try:
        uri = SipUri.parse(text)
    except SipParseError:
        # not a SIP URI (tel:, a bad one): its user part may still hold "user:secret@"
        scheme, colon, rest = text.partition(":")
        if colon and "@" in rest:
            return _printable(f"{scheme}:…@{rest.rpartition('@')[2]}")
        return _printable(text)
    if uri.password is not None:
        uri = SipUri(uri.host, uri.user, "…", uri.port, uri.params, uri.headers, uri.scheme)
    return _printable(str(uri))


def _call_id(message: Message) -> str:
    value = message.get("Call-ID") or ""
    return _printable(value, 8)


def _challenge(value: str) -> str:
    try:
        c = DigestChallenge.parse(value)
    except SipParseError:
        return f"challenge {_printable(value.partition(' ')[0], 16)} (not a Digest we read)"
    qop = f" qop {_printable(','.join(c.qop), 24)}" if c.qop else ""
    stale = " stale (a new nonce, same password)" if c.stale else ""
    return (
        f'challenge Digest realm "{_printable(c.realm)}" {_printable(c.algorithm, 16)}{qop}{stale}'
    )


def _credentials(value: str) -> str:
    """The Authorization fields a reader may see (RFC 7616 §3.4), never the response."""
    scheme, _, rest = value.strip(" \t").partition(" ")
    if scheme.lower() != "digest":
        return f"credentials {_printable(scheme, 16)}"
    params: dict[str, str] = {}
    for part in split_outside_quotes(rest, ",")[:32]:
        name, eq, raw = part.partition("=")
        if eq:
            try:
                params[name.strip(" \t").lower()] = unquote(raw.strip(" \t"))
            except SipParseError:
                continue
    shown = []
    for name in _SHOWN_CREDENTIALS:
        if name in params:
            text = _printable(params[name], 32)
            shown.append(f'{name} "{text}"' if name in ("username", "realm") else f"{name} {text}")
    return "credentials Digest " + " ".join(shown) + " (response hash not shown, RFC 7616 §3.4)"


def _sdp(message: Message) -> str:
    if isinstance(message, Request):
        role = "SDP answer" if message.method == "ACK" else "SDP offer"
    else:
        role = "SDP answer"
    try:
        sdp = SessionDescription.parse(message.body)
        defaults = sdp.defaults()
        parts = []
        for m in sdp.media[:_MAX_MEDIA]:
            codecs = m.codecs(defaults)[:_MAX_CODECS]
            names = [_printable(f"{c.name}/{c.clock_rate}", 24) for c in codecs]
            line = f"{_printable(m.kind, 16)} {m.port} {_printable(m.protocol, 24)}"
            if names:
                line += " " + ",".join(names)
            if m.ice_ufrag or sdp.ice_ufrag:
                count = len(m.attribute_values("candidate"))
                line += f" ICE {count} candidate{'' if count == 1 else 's'}"
            if m.fingerprints or sdp.fingerprints:
                line += f" DTLS setup {_printable(m.setup or sdp.setup or '?', 12)}"
            parts.append(line)
        if len(sdp.media) > _MAX_MEDIA:
            parts.append(f"+{len(sdp.media) - _MAX_MEDIA} more")
    except ParseError:
        return f"{role} that does not parse ({len(message.body):,} B)"
    return f"{role}: " + ("; ".join(parts) if parts else "no media")


def _body(message: Message) -> str | None:
    if not message.body:
        if isinstance(message, Request) and message.method == "INVITE":
            return "no SDP: an offerless INVITE, the offer comes in the 200 (§13.2.1)"
        return None
    kind = (message.content_type or "").split(";")[0].strip().lower()
    if kind == "application/sdp":
        return _sdp(message)
    return f"{len(message.body):,} B of {_printable(kind or 'an unnamed type', 32)}"


def _describe(message: Message) -> str:
    parts: list[str] = []
    try:
        cseq = message.cseq
        number, method = str(cseq.number), cseq.method
    except SipParseError:
        number, method = "?", "?"
    if isinstance(message, Request):
        name = message.method
        to_tag = None
        with contextlib.suppress(SipParseError):
            to_tag = message.to.tag
        if name == "INVITE" and to_tag is not None:
            name, what = "re-INVITE", "a new offer in the call, RFC 3261 §14"
        else:
            what = _METHODS.get(message.method, "a method this agent does not know")
        parts.append(f"SIP {_printable(name, 24)} {_uri(message.uri)} ({what})")
    else:
        status = message.status
        what = _STATUSES.get(status) or _CLASSES.get(status // 100, "?")
        reason = _printable(message.reason, 32)
        parts.append(f"SIP {status} {reason} to {_printable(method, 24)} ({what})")
    parts.append(f"Call-ID {_call_id(message)}")
    parts.append(f"CSeq {number}")
    for field in ("WWW-Authenticate", "Proxy-Authenticate"):
        parts.extend(_challenge(value) for value in message.get_all(field)[:2])
    for field in ("Authorization", "Proxy-Authorization"):
        parts.extend(_credentials(value) for value in message.get_all(field)[:1])
    body = _body(message)
    if body:
        parts.append(body)
    return ", ".join(parts)


def describe(message: Message | bytes) -> str:
    """A SIP message (or the bytes of one) as a learner reads it, e.g. ``SIP 200 OK to
    INVITE (success, §21.2), Call-ID 3f2ab9c1…, CSeq 1, SDP answer: audio 40000
    UDP/TLS/RTP/SAVPF PCMU/8000 ICE 1 candidates DTLS setup active``."""
    if isinstance(message, bytes | bytearray | memoryview):
        data = bytes(message)
        if not data:
            return "an empty datagram"
        if not data.strip(b"\r\n"):
            return f"CRLF keep-alive, {len(data)} B (RFC 5626 §3.5.1)"
        try:
            message = parse_message(data)
        except SipParseError as exc:
            return f"malformed SIP, {len(data):,} B: {_printable(str(exc))}"
    try:
        return _describe(message)
    except SipParseError as exc:
        return f"SIP message with a malformed field: {_printable(str(exc))}"
