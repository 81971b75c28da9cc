"""The requests and responses the user agent makes, built in one place each.

* :func:`build_request` — every request we originate (REGISTER, INVITE, and the requests
  inside a dialog: ACK, BYE, re-INVITE) has the same spine (RFC 3261 §8.1.1): Route set,
  From, To, Call-ID, CSeq, Max-Forwards, then what the method adds.
* :func:`build_response` — a response to a request (§8.2.6.2).
* :func:`with_credentials` — a request sent again with credentials after a 401/407
  (§22.2, §22.3, §8.1.3.5): CSeq + 1, the old (Proxy-)Authorization replaced.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyrtcstack.sip.digest import DigestChallenge, DigestClient, choose_challenge
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.message import Request, Response

__all__ = [
    "ALLOW",
    "AUTH_FIELDS",
    "build_request",
    "build_response",
    "host_text",
    "with_credentials",
]

#: The methods we understand (§20.5), in INVITEs, their 2xx and 405 answers.
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
#: The fields that carry our credentials (§22.2, §22.3).
AUTH_FIELDS = ("Authorization", "Proxy-Authorization")


def host_text(host: str) -> str:
    """``host`` as it stands in a SIP URI or Via: an IPv6 address in brackets (§25.1)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def build_request(
    method: str, uri: str, *, from_: str, to: str, call_id: str, cseq: int,
    routes: Iterable[str] = (), extra: Iterable[tuple[str, str]] = (), body: bytes | None = None,
) -> Request:  # fmt: skip
    """A request of ours (§8.1.1); ``body`` is SDP when given (§13.2.1)."""
    headers = [("Route", route) for route in routes]
    headers += [
        ("From", from_),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Max-Forwards", "70"),
        *extra,
    ]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return Request(method, uri, tuple(headers), body or b"")


def build_response(
    request: Request, status: int, reason: str, *, tag: str | None, contact: str,
    body: bytes | None = None, extra: Iterable[tuple[str, str]] = (),
) -> Response:  # fmt: skip
    """§8.2.6.2: Via, From, Call-ID, CSeq copied; To tagged (unless it has a tag);
    Record-Route copied for a dialog (§12.1.1); our Contact in a 2xx to an INVITE."""
    to = request.get("To") or ""
    if tag and request.to.tag is None:
        to += f";tag={tag}"
    headers = [(n, v) for n, v in request.headers if n in ("Via", "Record-Route")]
    headers += [
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", str(request.cseq)),
    ]
    if request.method == "INVITE" and status < 300:
        headers += [("Contact", contact), ("Allow", ALLOW)]
    if status == 405:
        headers.append(("Allow", ALLOW))
    headers += extra
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return Response(status, reason, tuple(headers), body or b"")


def with_credentials(
    request: Request, challenge: Response, credentials: DigestClient, cseq: int | None = None
) -> Request | None:
    """``request`` again, answering the 401/407 ``challenge`` (§22.2, §22.3): the same
    Call-ID, a new CSeq (§8.1.3.5: ``cseq``, by default the request's + 1; in a dialog the
    next of ours), the (Proxy-)Authorization for the strongest challenge we support
    (RFC 8760 §2.4). ``None`` when no challenge is usable."""
    field = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    challenges = []
    for value in challenge.get_all(field):
        try:
            challenges.append(DigestChallenge.parse(value))
        except SipParseError:
            continue
    chosen = choose_challenge(challenges)
    if chosen is None:
        return None
    name = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
    number = request.cseq.number + 1 if cseq is None else cseq
    headers = [
        (n, f"{number} {request.method}" if n == "CSeq" else v)
        for n, v in request.headers
        if n not in AUTH_FIELDS
    ]
    headers.append((name, credentials.authorization(chosen, request.method, request.uri)))
    return Request(request.method, request.uri, tuple(headers), request.body)
