"""Registration (RFC 3261 §10): REGISTER our Contact at a registrar, keep the binding alive
and remove it. A part of the user agent, which owns it and hands it the responses and
timeouts of the client transactions it started.

* A 401/407 is answered once with credentials (§22.2); the challenge is kept, and every
  later REGISTER of the registration (refreshes, the removal) carries credentials for it
  from the start, as libre and PJSIP do. A new challenge to one of those (a stale nonce)
  is answered once again.
* The granted expiry is our Contact's ``expires`` parameter in the 2xx, else its Expires
  field (§10.2.4). The refresh goes :func:`refresh_delay` after the 2xx: with the same
  Call-ID and the next CSeq (§10.2.4, §10.2).
* A 423 Interval Too Brief is answered once with the registrar's Min-Expires (§10.2.8).
* :meth:`Registrations.unregister` sends Expires: 0 for our Contact (§10.2.2).
"""

from __future__ import annotations

from collections.abc import Callable

from pyrtcstack.common.core import Address, EventQueue
from pyrtcstack.sip.builders import AUTH_FIELDS, build_request
from pyrtcstack.sip.dialog import Outbox
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.events import Registered, RegistrationFailed, Unregistered
from pyrtcstack.sip.message import Request, Response
from pyrtcstack.sip.transaction import T1, SipUsageError
from pyrtcstack.sip.uri import SipUri

__all__ = ["MAX_REGISTRATIONS", "REFRESH_MARGIN", "Registrations", "refresh_delay"]

#: Registrations one agent keeps at once (each refreshed until removed).
MAX_REGISTRATIONS = 16
#: How long before the expiry a refresh goes: a whole non-INVITE transaction over UDP
#: (Timer F, 64·T1 = 32 s), so a refresh that gets no answer is known to have failed
#: before the binding lapses.
REFRESH_MARGIN = 64 * T1


def refresh_delay(expires: int) -> float:
    """When to refresh a binding granted for ``expires`` seconds: :data:`REFRESH_MARGIN`
    before it lapses, or at the halfway point when that comes later (short expiries).
    libre (baresip) refreshes at 90 % of the expiry, PJSIP 5 s before it; the margin here
    is the longest a REGISTER transaction can take, so a lost refresh still leaves time."""
    return max(expires / 2, expires - REFRESH_MARGIN)


class _Registration:
    __slots__ = (
        "auth_tried",
        "brief_tried",
        "challenge",
        "destination",
        "expires",
        "key",
        "refresh_at",
        "removing",
        "request",
    )  # fmt: skip

    def __init__(self, request: Request, destination: Address, expires: int) -> None:
        self.request = request  # the last REGISTER sent (without its Via)
        self.destination = destination
        self.expires = expires  # what we ask for
        self.key: str | None = None  # the transaction in flight
        self.auth_tried = False  # ... already answers a challenge
        self.brief_tried = False  # ... already asks for the registrar's Min-Expires
        self.challenge: Response | None = None  # the last 401/407, for later REGISTERs
        self.refresh_at: float | None = None
        self.removing = False  # the last REGISTER asks for Expires: 0


class Registrations:
    """The registrations of one user agent, each named by its Call-ID."""

    def __init__(
        self, outbox: Outbox, events: EventQueue,
        authorize: Callable[[Request, Response, int], Request | None],
    ) -> None:  # fmt: skip
        self._outbox = outbox
        self._events = events
        self._authorize = authorize  # the request again with credentials, or None
        self._by_id: dict[str, _Registration] = {}

    def register(
        self, registrar: str, destination: Address, *, aor: str, tag: str, call_id: str,
        contact: str, expires: int,
    ) -> None:  # fmt: skip
        if len(self._by_id) >= MAX_REGISTRATIONS:
            raise SipUsageError(f"more than {MAX_REGISTRATIONS} registrations")
        if not 0 < expires < 2**31:
            raise SipUsageError("expires must be 1 .. 2**31 - 1 (unregister() removes)")
        request = build_request(
            "REGISTER", registrar, from_=f"<{aor}>;tag={tag}", to=f"<{aor}>", call_id=call_id,
            cseq=1, extra=(("Contact", contact), ("Expires", str(expires))),
        )  # fmt: skip
        registration = _Registration(request, destination, expires)
        self._by_id[call_id] = registration
        self._send(call_id, registration, request)

    def unregister(self, call_id: str) -> None:
        """REGISTER with Expires: 0 for our Contact (§10.2.2); :class:`Unregistered` when
        the registrar confirms it."""
        registration = self._by_id.get(call_id)
        if registration is None or registration.removing:
            raise SipUsageError(f"no registration {call_id} to remove")
        registration.removing = True
        self._again(call_id, registration, 0)

    def ids(self) -> list[str]:
        """The registrations held or being made (not those being removed)."""
        return [call_id for call_id, r in self._by_id.items() if not r.removing]

    def owns(self, call_id: str) -> bool:
        return call_id in self._by_id

    def get_timer(self) -> float | None:
        times = [r.refresh_at for r in self._by_id.values() if r.refresh_at is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for call_id, registration in list(self._by_id.items()):
            if registration.refresh_at is not None and registration.refresh_at <= now:
                self._again(call_id, registration, registration.expires)

    def on_response(self, call_id: str, key: str, response: Response) -> None:
        status = response.status
        registration = self._by_id[call_id]
        if status < 200 or key != registration.key:
            return  # a provisional answer, or one to a REGISTER we sent again since
        registration.key = None
        if 200 <= status < 300:
            if registration.removing:
                del self._by_id[call_id]
                self._events.push(Unregistered(call_id))
                return
            expires = granted_expiry(response, registration.request)
            registration.refresh_at = (
                self._outbox.now + refresh_delay(expires) if expires > 0 else None
            )
            self._events.push(Registered(call_id, expires))
            return
        if status == 423 and not registration.brief_tried and not registration.removing:
            # §10.2.8: Interval Too Brief: once again with the registrar's Min-Expires
            least = _seconds(response.get("Min-Expires"))
            if least is not None and registration.expires < least:
                registration.expires = least
                self._again(call_id, registration, least)
                registration.brief_tried = True
                return
        if status in (401, 407) and not registration.auth_tried:
            again = self._authorize(
                registration.request, response, registration.request.cseq.number + 1
            )
            if again is not None:  # §10.2, §22.2: the same Call-ID, CSeq + 1
                registration.challenge = response
                registration.auth_tried = True
                self._send(call_id, registration, again)
                return
        del self._by_id[call_id]
        self._events.push(RegistrationFailed(call_id, status, response.reason))

    def on_timeout(self, call_id: str, key: str) -> None:
        registration = self._by_id[call_id]
        if key == registration.key:
            del self._by_id[call_id]
            self._events.push(RegistrationFailed(call_id, 408, "Request Timeout"))

    def _again(self, call_id: str, registration: _Registration, expires: int) -> None:
        """The next REGISTER of a registration: the same Call-ID, From tag and Contact, the
        next CSeq (§10.2.4), ``expires``, and credentials for the last challenge."""
        old = registration.request
        cseq = old.cseq.number + 1
        fresh = {"CSeq": f"{cseq} REGISTER", "Expires": str(expires)}
        headers = [(n, fresh.get(n, v)) for n, v in old.headers if n not in AUTH_FIELDS]
        request = Request("REGISTER", old.uri, tuple(headers))
        if registration.challenge is not None:
            request = self._authorize(request, registration.challenge, cseq) or request
        registration.auth_tried = False
        registration.brief_tried = False
        self._send(call_id, registration, request)

    def _send(self, call_id: str, registration: _Registration, request: Request) -> None:
        registration.request = request
        registration.refresh_at = None
        registration.key = self._outbox.send_request(request, registration.destination, call_id)


def granted_expiry(response: Response, request: Request) -> int:
    """The expiry granted to our binding (§10.2.4): the ``expires`` parameter of the 2xx's
    Contact that is ours (the registrar lists every binding of the AOR), else the 2xx's
    Expires field, else what we asked for; 3600 when none is readable."""
    ours = request.contacts[0].uri if request.contacts else None
    for contact in response.contacts:
        value = _seconds(contact.param("expires"))
        if value is not None and _same(contact.uri, ours):
            return value
    for source in (response, request):
        value = _seconds(source.get("Expires"))
        if value is not None:
            return value
    return 3600


def _seconds(text: str | None) -> int | None:
    """A delta-seconds value (§25.1: 1*DIGIT, ASCII only) below 2³¹, else ``None``."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if value < 2**31 else None


def _same(uri: str, ours: str | None) -> bool:
    """The same binding: user, host and port of the Contact URIs (§10.3 step 7 compares
    the URIs; registrars rewrite parameters)."""
    if ours is None:
        return False
    try:
        a, b = SipUri.parse(uri), SipUri.parse(ours)
    except SipParseError:
        return False
    return (a.user, a.host.lower(), a.port or 5060) == (b.user, b.host.lower(), b.port or 5060)
