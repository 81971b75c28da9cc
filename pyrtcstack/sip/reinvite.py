"""re-INVITE (RFC 3261 §14): a new offer inside a confirmed call — an ICE restart, a hold —
sent by us (§14.1) or received (§14.2). A part of the user agent: the agent finds the call
and hands each re-INVITE, its responses and its ACK here; the call goes on whatever the
outcome."""

from __future__ import annotations

import random
from collections.abc import Callable

from pyrtcstack.common.core import EventQueue
from pyrtcstack.sip.builders import build_response
from pyrtcstack.sip.dialog import Call, Outbox
from pyrtcstack.sip.events import ReInviteAnswered, ReInvited, ReInviteFailed
from pyrtcstack.sip.message import Request, Response
from pyrtcstack.sip.transaction import T1, SipUsageError

__all__ = ["GLARE_RETRIES", "ReInvites", "glare_backoff"]

#: Times our re-INVITE is sent again on its own after a 491 (§14.1) before
#: :class:`ReInviteFailed` (491) tells the user.
GLARE_RETRIES = 3


def glare_backoff(rng: random.Random, owner: bool) -> float:
    """§14.1: the wait before a re-INVITE goes again after a 491, in units of 10 ms: 2.1 to
    4 s for the owner of the Call-ID (who sent the first INVITE), 0 to 2 s for the other,
    so the two sides of a glare do not collide again."""
    return rng.randint(210, 400) / 100 if owner else rng.randint(0, 200) / 100


class ReInvites:
    """The re-INVITEs of one user agent's calls (see the module docstring). ``authorize``
    gives a request again with credentials for a 401/407 and a CSeq (``None``: none to
    give); ``rng`` draws the glare back-off."""

    def __init__(
        self, outbox: Outbox, events: EventQueue, contact: str, rng: random.Random,
        authorize: Callable[[Request, Response, int], Request | None],
    ) -> None:  # fmt: skip
        self._outbox = outbox
        self._events = events
        self._contact = contact
        self._rng = rng
        self._authorize = authorize

    # -- ours (§14.1) ----------------------------------------------------------------

    def send(self, call: Call, sdp: bytes) -> None:
        """A re-INVITE with a new offer; one at a time (§14.1: not while another INVITE
        transaction is pending either way, nor while ours waits to go again). While the
        peer's re-INVITE, answered, waits for its ACK, ours waits for that ACK too."""
        if call.state != "confirmed":
            raise SipUsageError(f"call {call.call_id} is not established")
        if (
            call.reinvite_pending
            or call.reinvite_backoff is not None
            or call.reinvite_queued is not None
        ):
            raise SipUsageError(f"call {call.call_id} has a re-INVITE in progress")
        if call.reinvite_server is not None and call.ok_deadline is None:
            raise SipUsageError(f"call {call.call_id} has the peer's re-INVITE to answer")
        call.reinvite_retries = 0
        if call.reinvite_server is not None:
            call.reinvite_queued = sdp  # sent on the ACK (on_ack)
            return
        self._send(call, sdp)

    def _send(self, call: Call, sdp: bytes) -> None:
        call.local_cseq += 1
        request = call.request("INVITE", call.local_cseq, sdp, (("Contact", self._contact),))
        call.reinvite_auth_tried = False
        self._transmit(call, request)

    def _transmit(self, call: Call, request: Request) -> None:
        call.reinvite = request
        call.reinvite_key = self._outbox.send_request(request, call.destination(), call.call_id)
        call.reinvite_pending = True

    def on_response(self, call: Call, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        if not call.reinvite_pending:
            if status < 300 and call.ack is not None:  # the 2xx again: our ACK was lost
                self._outbox.send_again(call.ack, call.destination())
            return
        call.reinvite_pending = False
        request = call.reinvite
        assert request is not None
        if status < 300:
            contacts = response.contacts
            if contacts:
                call.remote_target = contacts[0].uri  # §12.2.1.2: a target refresh
            self._outbox.send_ack(call, None, request)
            self._events.push(ReInviteAnswered(call.call_id, response.body or None))
            return
        if status == 491 and call.reinvite_retries < GLARE_RETRIES and call.state == "confirmed":
            # §14.1: glare; the owner of the Call-ID is the side that sent the first INVITE
            call.reinvite_retries += 1
            owner = call.role == "uac"
            call.reinvite_backoff = self._outbox.now + glare_backoff(self._rng, owner)
            return
        if status in (401, 407) and not call.reinvite_auth_tried and call.state == "confirmed":
            # §22.2, §14.1: once with credentials, the next CSeq of ours
            again = call.again_with_credentials(request, response, self._authorize)
            if again is not None:
                call.reinvite_auth_tried = True
                self._transmit(call, again)
                return
        self._events.push(ReInviteFailed(call.call_id, status, response.reason))

    def on_timeout(self, call: Call) -> None:
        """No final response (Timer B): the user hears of it; the call is theirs to end
        (§12.2.1.2 says it SHOULD end: :meth:`UserAgent.bye`)."""
        if call.reinvite_pending:
            call.reinvite_pending = False
            self._events.push(ReInviteFailed(call.call_id, 408, "Request Timeout"))

    def on_timer(self, call: Call) -> None:
        """The glare back-off is over: the re-INVITE goes again (a new transaction, the next
        CSeq, the same offer), unless the call ended; while the peer's re-INVITE is still
        unanswered or unacknowledged, it waits another back-off."""
        call.reinvite_backoff = None
        request = call.reinvite
        if call.state != "confirmed" or request is None:
            return
        if call.reinvite_server is not None or call.ok_deadline is not None:
            owner = call.role == "uac"
            call.reinvite_backoff = self._outbox.now + glare_backoff(self._rng, owner)
            return
        self._send(call, request.body)

    # -- the peer's (§14.2) ------------------------------------------------------------

    def on_request(self, call: Call | None, request: Request, key: str) -> None:
        """A re-INVITE in one of our confirmed dialogs is offered to the user; one in no
        dialog gets 481; one while ours is pending 491, while another of the peer's is
        pending 500 with Retry-After."""
        if (
            call is None
            or call.state != "confirmed"
            or request.to.tag != call.local_tag
            or request.from_.tag != call.remote_tag
        ):
            self._refuse(request, key, 481, "Call/Transaction Does Not Exist")
        elif call.reinvite_pending:
            self._refuse(request, key, 491, "Request Pending")
        elif call.reinvite_server is not None or call.ok_deadline is not None:
            self._refuse(request, key, 500, "Server Internal Error", (("Retry-After", "1"),))
        else:
            call.reinvite_server = (request, key)
            self._events.push(ReInvited(call.call_id, request.body or None))

    def answer(self, call: Call, sdp: bytes) -> None:
        """200 OK with the answer, sent again until its ACK (the agent's 2xx timer)."""
        request, key = self._unanswered(call)
        response = build_response(
            request, 200, "OK", tag=call.local_tag, contact=self._contact, body=sdp
        )
        self._outbox.send_response(key, response)
        call.ok = response.encode()
        call.ok_interval = T1
        call.ok_deadline = self._outbox.now + T1
        call.ok_until = self._outbox.now + 64 * T1

    def reject(self, call: Call, status: int, reason: str) -> None:
        if not 300 <= status <= 699:
            raise SipUsageError("reject_reinvite needs a 3xx-6xx status")
        request, key = self._unanswered(call)
        call.reinvite_server = None
        self._refuse(request, key, status, reason)

    def on_ack(self, call: Call, request: Request) -> bool:
        """True when ``request`` is the ACK to our 2xx to the peer's re-INVITE (§14.2)."""
        server = call.reinvite_server
        if server is None or call.ok_deadline is None:
            return False
        if request.cseq.number == server[0].cseq.number:
            call.ok_deadline = None
            call.reinvite_server = None
            queued, call.reinvite_queued = call.reinvite_queued, None
            if queued is not None:
                self._send(call, queued)
        return True

    def _unanswered(self, call: Call) -> tuple[Request, str]:
        if call.reinvite_server is None:
            raise SipUsageError(f"call {call.call_id} has no re-INVITE to answer")
        return call.reinvite_server

    def _refuse(
        self, request: Request, key: str, status: int, reason: str,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:  # fmt: skip
        response = build_response(
            request, status, reason, tag=None, contact=self._contact, extra=extra
        )
        self._outbox.send_response(key, response)
