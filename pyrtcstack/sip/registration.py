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
* A refresh that fails for want of an answer (a timeout, a transport error: §8.1.3.1's
  408/503), a 408, 480 or 5xx goes again after :func:`retry_delay` (RFC 5626 §4.5), the
  same binding held meanwhile; :class:`RegistrationFailed` comes only when the binding
  lapsed, after :data:`MAX_REFRESH_RETRIES` failures, or on another 4xx or 6xx (the
  registrar refuses: the same request would be refused again).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pyrtcstack.common.core import Address, EventQueue
from pyrtcstack.sip.builders import AUTH_FIELDS, build_request
from pyrtcstack.sip.dialog import Outbox
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.events import Registered, RegistrationFailed, Unregistered
from pyrtcstack.sip.message import Request, Response
from pyrtcstack.sip.transaction import T1, SipUsageError
from pyrtcstack.sip.uri import SipUri

__all__ = [
    "MAX_REFRESH_RETRIES",
    "MAX_REGISTRATIONS",
    "REFRESH_MARGIN",
    "RETRY_BASE",
    "RETRY_MAX",
    "Registrations",
    "refresh_delay",
    "retry_delay",
]

#: Registrations one agent keeps at once (each refreshed until removed).
MAX_REGISTRATIONS = 16
#: How long before the expiry a refresh goes: a whole non-INVITE transaction over UDP
#: (Timer F, 64·T1 = 32 s), so a refresh that gets no answer is known to have failed
#: before the binding lapses.
REFRESH_MARGIN = 64 * T1


#: RFC 5626 §4.5's base-time (all flows failed) and max-time, in seconds.
RETRY_BASE = 30.0
RETRY_MAX = 1800.0
#: Failed refreshes in a row sent again before :class:`RegistrationFailed` (the binding
#: lapses long before with the default expiry: 30 s margin, then 15-30 s waits).
MAX_REFRESH_RETRIES = 8
#: Statuses after which a failed refresh goes again: a timeout, the registrar unreachable
#: or busy (§21.4.9, §21.4.18, §21.5); any other failure is final.
_RETRIED = frozenset({408, 480})


def retry_delay(failures: int, rng: random.Random) -> float:
    """RFC 5626 §4.5: after ``failures`` failures in a row (1, 2, ...) wait
    ``min(max-time, base-time · 2^failures)`` scaled by a random 50-100 % (from ``rng``,
    so many phones behind one failed registrar do not come back at once); base-time 30 s
    (all flows failed), max-time 1800 s. libre (baresip) draws the same (sipreg.c
    ``failwait``: min(1800, 30·2^n) s times 0.5-1) and retries without end; PJSIP after a
    fixed ``reg_retry_interval`` (300 s)."""
    wait = min(RETRY_MAX, RETRY_BASE * 2.0 ** min(failures, 16))
    return wait * rng.uniform(0.5, 1.0)


def refresh_delay(expires: int) -> float:
    """When to refresh a binding granted for ``expires`` seconds: at 90 % of it as libre
    (baresip) does, or :data:`REFRESH_MARGIN` before it lapses when that is earlier, or at
    the halfway point when that comes later (short expiries). PJSIP refreshes 5 s before.
    The margin is at least the longest a REGISTER transaction can take, so a lost refresh
    is known before the binding lapses; the 10 % leaves a 3600 s binding 360 s for
    :func:`retry_delay`'s retries."""
    return max(expires / 2, expires - max(REFRESH_MARGIN, expires / 10))


class _Registration:
    __slots__ = (
        "auth_tried",
        "brief_tried",
        "challenge",
        "destination",
        "expires",
        "failures",
        "key",
        "lapse_at",
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
        self.refresh_at: float | None = None  # the next REGISTER: a refresh or a retry
        self.lapse_at: float | None = None  # when the binding granted last lapses
        self.failures = 0  # refreshes failed in a row
        self.removing = False  # the last REGISTER asks for Expires: 0


class Registrations:
    """The registrations of one user agent, each named by its Call-ID."""

    def __init__(
        self, outbox: Outbox, events: EventQueue,
        authorize: Callable[[Request, Response, int], Request | None], rng: random.Random,
    ) -> None:  # fmt: skip
        self._rng = rng  # the retry jitter
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
                registration.refresh_at = None
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
            now = self._outbox.now
            registration.refresh_at = now + refresh_delay(expires) if expires > 0 else None
            registration.lapse_at = now + expires
            registration.failures = 0
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
        self._failed(call_id, registration, status, response.reason)

    def on_timeout(self, call_id: str, key: str, status: int, reason: str) -> None:
        """No answer: a timeout (408) or a transport error (503, §8.1.3.1)."""
        registration = self._by_id[call_id]
        if key == registration.key:
            registration.key = None
            self._failed(call_id, registration, status, reason)

    def _failed(self, call_id: str, registration: _Registration, status: int, reason: str) -> None:
        """A REGISTER failed. A refresh of a binding that still holds goes again after
        :func:`retry_delay` (RFC 5626 §4.5) when ``status`` says the registrar may answer
        later; else, or once the binding lapsed, or after :data:`MAX_REFRESH_RETRIES`,
        the registration is over: :class:`RegistrationFailed`."""
        now = self._outbox.now
        lapse_at = registration.lapse_at
        if (
            not registration.removing
            and lapse_at is not None
            and now < lapse_at
            and (status in _RETRIED or 500 <= status < 600)
            and registration.failures < MAX_REFRESH_RETRIES
        ):
            registration.failures += 1
            # never past the lapse: one last try as it lapses (then a failure is final)
            retry = now + retry_delay(registration.failures, self._rng)
            registration.refresh_at = min(retry, lapse_at)
            return
        del self._by_id[call_id]
        self._events.push(RegistrationFailed(call_id, status, reason))

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
