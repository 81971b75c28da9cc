"""A SIP message explained for a learner, field by field with its RFC section
(``pyrtcstack sip explain``)."""

from __future__ import annotations

from pyrtcstack.sdp import ParseError, SessionDescription
from pyrtcstack.sip.digest import DigestChallenge
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.headers import COMPACT_FORMS, NameAddress, Via
from pyrtcstack.sip.message import Message, Request
from pyrtcstack.sip.transaction import MAGIC_COOKIE

__all__ = ["explain"]

_METHODS = {
    "INVITE": "start a call (a session), usually with an SDP offer (RFC 3261 §13)",
    "ACK": "confirm the final response to an INVITE (§13.2.2.4, §17.1.1.3)",
    "BYE": "end a call (§15)",
    "CANCEL": "cancel an INVITE not yet answered (§9)",
    "REGISTER": "bind an address-of-record to where the user can be reached (§10)",
    "OPTIONS": "ask what the other side supports (§11)",
    "PRACK": "acknowledge a reliable provisional response (RFC 3262)",
    "UPDATE": "change the session before the call is answered (RFC 3311)",
    "INFO": "send application information inside a call (RFC 6086)",
    "SUBSCRIBE": "ask to be told about an event (RFC 6665)",
    "NOTIFY": "tell a subscriber about an event (RFC 6665)",
    "REFER": "ask the other side to call someone (a transfer, RFC 3515)",
    "MESSAGE": "an instant message (RFC 3428)",
}
_CLASSES = {
    1: "provisional: the request goes on, more responses follow (§21.1)",
    2: "success (§21.2)",
    3: "redirection: try the address in Contact (§21.3)",
    4: "client error: this request fails here (§21.4)",
    5: "server error (§21.5)",
    6: "global failure: it would fail everywhere (§21.6)",
}
_FIELDS = {
    "Via": "the path back: each hop adds one, responses retrace them (§8.1.1.7, §20.42)",
    "From": "who sends the request; its tag is this side's half of the dialog id (§8.1.1.3)",
    "To": "who the request is for; the answerer adds a tag (§8.1.1.2, §12)",
    "Call-ID": "names the call; the same in every message of a dialog (§8.1.1.4)",
    "CSeq": "orders requests in a dialog and names the transaction's method (§8.1.1.5)",
    "Max-Forwards": "hop limit, decremented by each proxy; 0 answers 483 (§8.1.1.6)",
    "Contact": "where to send later requests directly (§8.1.1.8, §20.10)",
    "Content-Type": "what the body is (§20.15)",
    "Content-Length": "the body's length in octets: framing on TCP (§18.3, §20.14)",
    "Record-Route": "a proxy that wants to stay on the path of the dialog (§16.6, §20.30)",
    "Route": "the proxies this request must visit, in order (§16.12, §20.34)",
    "Allow": "the methods the sender understands (§20.5)",
    "Supported": "the extensions the sender supports (§20.37)",
    "Require": "extensions the receiver must support or answer 420 (§20.32)",
    "Expires": "how long a registration (or an offer) lasts, in seconds (§20.19)",
    "User-Agent": "the sender's software (§20.41)",
    "Server": "the answering software (§20.35)",
    "Subject": "a free-text summary of the call (§20.36)",
    "WWW-Authenticate": "a digest challenge from a registrar or user agent (§22.2, RFC 7616)",
    "Proxy-Authenticate": "a digest challenge from a proxy (§22.3, RFC 7616)",
    "Authorization": "the answer to a 401 challenge (§22.2, RFC 7616)",
    "Proxy-Authorization": "the answer to a 407 challenge (§22.3, RFC 7616)",
    "Retry-After": "when to try again (§20.33)",
    "Warning": "extra detail about a failure (§20.43)",
}
_LONG_TO_COMPACT = {v.lower(): k for k, v in COMPACT_FORMS.items()}


def _via(value: str) -> list[str]:
    via = Via.parse(value)
    port = via.port if via.port is not None else "default (5060, 5061 for TLS)"
    out = [f"transport {via.transport}, responses go to {via.host} port {port}"]
    branch = via.branch
    if branch is None:
        out.append("no branch: an RFC 2543 element (transactions matched the old way)")
    elif branch.startswith(MAGIC_COOKIE):
        out.append(f"branch {branch}: names the transaction; {MAGIC_COOKIE} = RFC 3261 (§8.1.1.7)")
    else:
        out.append(f"branch {branch}: without {MAGIC_COOKIE}, an RFC 2543 element")
    if via.param("rport") is not None:
        out.append("rport: answer to the source port the request came from (RFC 3581)")
    if via.param("received") is not None:
        out.append(f"received={via.param('received')}: the address a hop saw it come from")
    return out


def _name_address(value: str) -> list[str]:
    na = NameAddress.parse(value)
    out = [f"URI {na.uri}" + (f", display name {na.display!r}" if na.display else "")]
    if na.tag is not None:
        out.append(f"tag {na.tag}: one half of the dialog id (§19.3)")
    for name, param in na.params:
        if name.lower() == "expires":
            out.append(f"expires {param} s for this binding (§10.2.1.1)")
        elif name.lower() == "q":
            out.append(f"q {param}: preference among contacts (§20.10)")
    return out


def _challenge(value: str) -> list[str]:
    c = DigestChallenge.parse(value)
    qop = ", ".join(c.qop) or "none (the RFC 2617 form)"
    return [
        f"realm {c.realm!r}, algorithm {c.algorithm} (RFC 8760), qop {qop}",
        "the client answers with H(H(user:realm:password):nonce:nc:cnonce:qop:"
        "H(method:uri)) (RFC 7616 §3.4)",
    ]


_DETAILS = {
    "via": _via,
    "from": _name_address,
    "to": _name_address,
    "contact": lambda v: ["remove every binding (§10.2.2)"] if v == "*" else _name_address(v),
    "www-authenticate": _challenge,
    "proxy-authenticate": _challenge,
}


def _body(message: Message) -> list[str]:
    if not message.body:
        return ["No body."]
    kind = (message.content_type or "").lower()
    out = [f"Body: {len(message.body)} octets of {kind or 'an unnamed type'}."]
    if kind.startswith("application/sdp"):
        try:
            sdp = SessionDescription.parse(message.body)
        except ParseError as exc:
            out.append(f"  It does not parse as SDP: {exc}")
            return out
        media = ", ".join(f"{m.kind} {m.protocol} port {m.port}" for m in sdp.media)
        role = "an answer" if not isinstance(message, Request) else "the offer (§13.2.1)"
        if isinstance(message, Request) and message.method == "ACK":
            role = "the answer to an offer the 200 carried (§13.2.1)"
        out.append(f"  An SDP, {role}: {media or 'no media'}.")
        out.append("  `pyrtcstack sdp explain` walks through it line by line.")
    return out


def explain(message: Message) -> str:
    """The annotated walk through ``message``."""
    out: list[str] = []
    if isinstance(message, Request):
        what = _METHODS.get(message.method, "a method this tool does not know (§8.2.1: 501)")
        out.append(f"{message.method} {message.uri} SIP/2.0")
        out.append(f"  A request: {message.method} = {what}.")
        out.append(f"  Request-URI {message.uri}: where it is going (§8.1.1.1).")
    else:
        out.append(f"SIP/2.0 {message.status} {message.reason}")
        out.append(f"  A response, {_CLASSES[message.status // 100]}.")
    out.append("")
    for name, value in message.headers:
        key = name.lower()
        compact = _LONG_TO_COMPACT.get(key)
        label = f"{name} (compact form: {compact})" if compact else name
        out.append(f"{label}: {value}")
        about = _FIELDS.get(name)
        if about:
            out.append(f"  {about}")
        detail = _DETAILS.get(key)
        if detail is not None:
            try:
                out.extend(f"  - {line}" for line in detail(value))
            except SipParseError as exc:
                out.append(f"  - could not read it: {exc}")
    out.append("")
    tags = (message.from_.tag, message.to.tag)
    out.append(
        f"Transaction: branch {message.vias[0].branch} + method {message.cseq.method} (§17)."
    )
    if all(tags):
        out.append(f"Dialog: Call-ID {message.call_id}, tags {tags[0]} and {tags[1]} (§12).")
    else:
        out.append("No dialog yet: the To tag is missing (it comes with the answerer's response).")
    out.extend(_body(message))
    return "\n".join(out) + "\n"
