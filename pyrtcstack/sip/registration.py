"""Registration (RFC 3261 §10): REGISTER our Contact at a registrar, a 401/407 answered
once with credentials (§22.2). A part of the user agent, which owns it and hands it the
responses and timeouts of the client transactions it started."""

from __future__ import annotations

from collections.abc import Callable

from pyrtcstack.common.core import Address, EventQueue
from pyrtcstack.sip.builders import build_request
from pyrtcstack.sip.dialog import Outbox
from pyrtcstack.sip.events import Registered, RegistrationFailed
from pyrtcstack.sip.message import Request, Response

__all__ = ["Registrations"]


class _Registration:
    __slots__ = ("auth_tried", "destination", "request")

    def __init__(self, request: Request, destination: Address) -> None:
        self.request = request  # the last REGISTER sent (without its Via)
        self.destination = destination
        self.auth_tried = False


class Registrations:
    """The registrations of one user agent, each named by its Call-ID."""

    def __init__(
        self, outbox: Outbox, events: EventQueue,
        authorize: Callable[[Request, Response], Request | None],
    ) -> None:  # fmt: skip
        self._outbox = outbox
        self._events = events
        self._authorize = authorize  # the request again with credentials, or None
        self._pending: dict[str, _Registration] = {}  # by Call-ID

    def register(
        self, registrar: str, destination: Address, *, aor: str, tag: str, call_id: str,
        contact: str, expires: int,
    ) -> None:  # fmt: skip
        request = build_request(
            "REGISTER", registrar, from_=f"<{aor}>;tag={tag}", to=f"<{aor}>", call_id=call_id,
            cseq=1, extra=(("Contact", contact), ("Expires", str(expires))),
        )  # fmt: skip
        registration = _Registration(request, destination)
        self._pending[call_id] = registration
        self._send(call_id, registration)

    def owns(self, call_id: str) -> bool:
        return call_id in self._pending

    def on_response(self, call_id: str, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        registration = self._pending.pop(call_id)
        if status < 300:
            self._events.push(Registered(call_id, granted_expiry(response, registration.request)))
            return
        if status in (401, 407) and not registration.auth_tried:
            again = self._authorize(registration.request, response)
            if again is not None:  # §10.2, §22.2: the same Call-ID, CSeq + 1
                registration.request = again
                registration.auth_tried = True
                self._pending[call_id] = registration
                self._send(call_id, registration)
                return
        self._events.push(RegistrationFailed(call_id, status, response.reason))

    def on_timeout(self, call_id: str) -> None:
        del self._pending[call_id]
        self._events.push(RegistrationFailed(call_id, 408, "Request Timeout"))

    def _send(self, call_id: str, registration: _Registration) -> None:
        self._outbox.send_request(registration.request, registration.destination, call_id)


def granted_expiry(response: Response, request: Request) -> int:
    """The granted expiry: our Contact's expires parameter, else Expires (§10.2.4)."""
    for contact in response.contacts:
        value = contact.param("expires")
        if value is not None and value.isdigit() and len(value) < 10:
            return int(value)
    for source in (response, request):
        value = source.get("Expires")
        if value is not None and value.isdigit() and len(value) < 10:
            return int(value)
    return 3600
