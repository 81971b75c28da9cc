"""A small SIP user agent (RFC 3261 §8, §10, §12-15) as a sans-I/O core.

:class:`UserAgent` sits on a :class:`~pyrtcstack.sip.transaction.TransactionLayer` and
adds what a phone does: REGISTER with digest authentication (§10, §22), calls with an SDP
offer in the INVITE or without one (the offer then comes in the 200, the answer in the
ACK, §13.2.1), 180/200 answers, ACK, BYE (§15), CANCEL (§9), and the dialog state that
ties a call's requests together (§12: Call-ID, the two tags, CSeq numbers, the remote
target and route set). Bodies are opaque bytes here (``application/sdp``); what builds
and reads them — :mod:`pyrtcstack.sdp`, a PeerConnection — is the caller's choice.

The agent is made of parts it owns: each call's state is a :class:`~.dialog.Call`
(:mod:`.dialog`, with the :class:`~.dialog.Outbox` every part sends through),
registrations are :class:`~.registration.Registrations`, re-INVITEs
:class:`~.reinvite.ReInvites`; the messages are built in :mod:`.builders` and the events
are in :mod:`.events`. This module holds the calls themselves (INVITE, answers, ACK, BYE,
CANCEL) and routes what the transaction layer reports to the part it concerns.

The same contract as every core (common/core.py): input with ``receive_datagram`` /
``receive_message``, output from ``datagrams_to_send``, ``get_timer`` / ``handle_timer``
on the caller's clock, events from ``next_event``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from pyrtcstack.common.core import Address, Event, EventQueue, default_rng, random_text
from pyrtcstack.sip.builders import (
    ALLOW,
    build_request,
    build_response,
    host_text,
    with_credentials,
)
from pyrtcstack.sip.dialog import Call, Outbox
from pyrtcstack.sip.digest import DigestClient
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.events import (
    CallAnswered,
    CallEnded,
    CallEstablished,
    CallFailed,
    CallProgress,
    IncomingCall,
)
from pyrtcstack.sip.message import Message, Request, Response
from pyrtcstack.sip.registration import Registrations
from pyrtcstack.sip.reinvite import ReInvites
from pyrtcstack.sip.transaction import (
    T1,
    T2,
    RequestReceived,
    ResponseReceived,
    SipUsageError,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
)
from pyrtcstack.sip.uri import SipUri

if TYPE_CHECKING:
    from pyrtcstack.sip.observer import SipObserver

__all__ = ["MAX_CALLS", "UserAgent"]

#: Calls (dialogs and pending INVITEs) at once; past it a new INVITE gets 486 Busy Here.
MAX_CALLS = 256
_TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class UserAgent:
    """A SIP phone on one transport (see the module docstring)."""

    def __init__(
        self,
        local: Address,
        *,
        user: str = "pyrtcstack",
        transport: str = "UDP",
        credentials: DigestClient | None = None,
        rng: random.Random | None = None,
        max_calls: int = MAX_CALLS,
    ) -> None:
        self._rng = default_rng(rng)
        self.layer = TransactionLayer(local, transport=transport, rng=self._rng)
        self.local = local
        self.user = user
        self.credentials = credentials
        self.max_calls = max_calls
        # RFC 7118 §5.2: on WebSocket the Contact names the Via's .invalid host, and
        # §7 registers only transport=ws (for WSS too; RFC 3261 §19.1 for the others)
        kind = "ws" if transport.upper() == "WSS" else transport.lower()
        params = "" if transport.upper() == "UDP" else f";transport={kind}"
        self.contact = f"<sip:{user}@{self.layer.sent_by}{params}>"
        self._calls: dict[str, Call] = {}
        self._events = EventQueue()
        self._plain_push = self._events.push
        self._observer: SipObserver | None = None
        self._outbox = Outbox(self.layer)
        self._registrations = Registrations(self._outbox, self._events, self._authorize)
        self._reinvites = ReInvites(
            self._outbox, self._events, self.contact, self._rng, self._authorize
        )

    @property
    def observer(self) -> SipObserver | None:
        """Told what crosses the agent's boundaries (a :class:`~pyrtcstack.sip.SipTracer`,
        the points in :mod:`pyrtcstack.sip.observer`): through the transaction layer,
        every message in and out and each transaction's states and timers; through the
        outbox, the 2xx and ACKs sent again outside a transaction; here, each event as
        it is made. ``None`` (the default) costs one ``None`` test per point and nothing
        per event."""
        return self._observer

    @observer.setter
    def observer(self, observer: SipObserver | None) -> None:
        self._observer = observer
        self.layer.observer = observer
        # observation point: the events, as each is made. The queue's push is swapped,
        # so the parts that push events (registrations, re-INVITEs) need not know.
        self._events.push = self._plain_push if observer is None else self._observed_push

    def _observed_push(self, event: Event) -> None:
        self._plain_push(event)
        if self._observer is not None:
            self._observer.event(self, event, self._outbox.now)

    # -- the core contract ---------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self._outbox.now = now
        self.layer.receive_datagram(data, addr, now)
        self._pump()

    def receive_message(self, message: Message, addr: Address, now: float) -> None:
        self._outbox.now = now
        self.layer.receive_message(message, addr, now)
        self._pump()

    def receive_malformed(
        self, data: bytes, error: SipParseError, addr: Address, now: float
    ) -> None:
        """A message a stream driver could not parse: counted, and a request answered
        when it can be (:meth:`TransactionLayer.receive_malformed`, RFC 3261 §21.4.1)."""
        self._outbox.now = now
        self.layer.receive_malformed(data, error, addr, now)

    def transport_error(self, destination: Address, now: float) -> None:
        """The driver could not open a connection to ``destination``: what waits there
        fails now (408, :meth:`TransactionLayer.transport_error`), not at Timer B/F."""
        self._outbox.now = now
        self.layer.transport_error(destination, now)
        self._pump()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        self._outbox.now = now
        return self._outbox.take(now)

    def get_timer(self) -> float | None:
        if self._outbox.pending:
            return self._outbox.now
        times = [c.ok_deadline for c in self._calls.values() if c.ok_deadline is not None]
        times += [
            c.reinvite_backoff for c in self._calls.values() if c.reinvite_backoff is not None
        ]
        for timer in (self.layer.get_timer(), self._registrations.get_timer()):
            if timer is not None:
                times.append(timer)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self._outbox.now = now
        self.layer.handle_timer(now)
        self._registrations.handle_timer(now)
        for call in list(self._calls.values()):
            if call.ok_deadline is not None and call.ok_deadline <= now:
                self._retransmit_ok(call)
            if call.reinvite_backoff is not None and call.reinvite_backoff <= now:
                self._reinvites.on_timer(call)
        self._pump()

    def next_event(self) -> Event | None:
        return self._events.pop()

    # -- API -----------------------------------------------------------------------

    def register(
        self, registrar: str, destination: Address, now: float, *, aor: str | None = None,
        expires: int = 3600,
    ) -> str:  # fmt: skip
        """REGISTER our Contact for ``aor`` (default ``sip:user@<registrar host>``) at
        ``registrar`` (§10.2); a 401/407 is answered once with the credentials. The binding
        is refreshed before it lapses (:func:`~.registration.refresh_delay`) until
        :meth:`unregister`. Returns the Call-ID that names the registration in events."""
        self._outbox.now = now
        uri = SipUri.parse(registrar)
        call_id = self._new_call_id()
        self._registrations.register(
            registrar, destination, aor=aor or f"sip:{self.user}@{uri.host}", tag=self._tag(),
            call_id=call_id, contact=self.contact, expires=expires,
        )  # fmt: skip
        return call_id

    def unregister(self, call_id: str, now: float) -> None:
        """Remove the binding of registration ``call_id`` (Expires: 0, §10.2.2); then
        :class:`~.events.Unregistered`, or :class:`RegistrationFailed`."""
        self._outbox.now = now
        self._registrations.unregister(call_id)

    @property
    def registrations(self) -> list[str]:
        """The Call-IDs of the registrations in progress or held (refreshed)."""
        return self._registrations.ids()

    def invite(
        self, target: str, destination: Address, now: float, sdp: bytes | None = None,
        *, from_uri: str | None = None,
    ) -> str:  # fmt: skip
        """Call ``target`` (a SIP URI); ``sdp`` is the offer, or ``None`` for an offerless
        INVITE (§13.2.1). Returns the Call-ID that names the call in events."""
        self._outbox.now = now
        SipUri.parse(target)
        if len(self._calls) >= self.max_calls:
            raise SipUsageError(f"more than {self.max_calls} calls")
        call = Call(self._new_call_id(), "uac", destination)
        call.local_tag = self._tag()
        call.local_uri = from_uri or f"sip:{self.user}@{host_text(self.local[0])}"
        call.remote_uri = target
        call.remote_target = target
        call.invite = build_request(
            "INVITE", target, from_=f"<{call.local_uri}>;tag={call.local_tag}",
            to=f"<{target}>", call_id=call.call_id, cseq=call.local_cseq,
            extra=(("Contact", self.contact), ("Allow", ALLOW)), body=sdp,
        )  # fmt: skip
        self._calls[call.call_id] = call
        self._send_invite(call)
        return call.call_id

    def ring(self, call_id: str, now: float) -> None:
        """Send 180 Ringing for an incoming call."""
        self._outbox.now = now
        call = self._uas_call(call_id)
        self._respond(call, 180, "Ringing")
        call.state = "early"

    def answer(self, call_id: str, sdp: bytes | None, now: float) -> None:
        """200 OK for an incoming call, retransmitted until the ACK (§13.3.1.4)."""
        self._outbox.now = now
        call = self._uas_call(call_id)
        call.ok = self._respond(call, 200, "OK", sdp)
        call.state = "answered"
        call.ok_interval = T1
        call.ok_deadline = now + T1
        call.ok_until = now + 64 * T1

    def reject(
        self, call_id: str, now: float, status: int = 486, reason: str = "Busy Here"
    ) -> None:
        """A final failure (3xx-6xx) for an incoming call."""
        self._outbox.now = now
        if not 300 <= status <= 699:
            raise SipUsageError("reject needs a 3xx-6xx status")
        call = self._uas_call(call_id)
        self._respond(call, status, reason)
        self._end(call)

    def ack(self, call_id: str, sdp: bytes, now: float) -> None:
        """The ACK with the SDP answer, after a 200 to an offerless INVITE (§13.2.1)."""
        self._outbox.now = now
        call = self._calls.get(call_id)
        if call is None or call.role != "uac" or call.state != "answered" or call.ack:
            raise SipUsageError(f"call {call_id} waits for no ACK")
        assert call.invite is not None
        self._outbox.send_ack(call, sdp, call.invite)
        call.state = "confirmed"

    def reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        """Send a re-INVITE with a new offer in a confirmed call (§14.1), e.g. an ICE
        restart; one at a time (§14.1: not while another INVITE transaction is pending).
        A 491 (glare) sends it again after the §14.1 back-off, at most
        :data:`~.reinvite.GLARE_RETRIES` times; a 401/407 once with the credentials."""
        self._outbox.now = now
        call = self._calls.get(call_id)
        if call is None:
            raise SipUsageError(f"call {call_id} is not established")
        self._reinvites.send(call, sdp)

    def answer_reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        """200 OK with the answer to a :class:`ReInvited`, retransmitted until its ACK."""
        self._outbox.now = now
        self._reinvites.answer(self._reinvited_call(call_id), sdp)

    def reject_reinvite(
        self, call_id: str, now: float, status: int = 488, reason: str = "Not Acceptable Here"
    ) -> None:
        """A failure to a :class:`ReInvited`; the call goes on as before (§14.2)."""
        self._outbox.now = now
        self._reinvites.reject(self._reinvited_call(call_id), status, reason)

    def bye(self, call_id: str, now: float) -> None:
        """End a confirmed call (§15.1.1)."""
        self._outbox.now = now
        call = self._calls.get(call_id)
        if call is None or call.state not in ("answered", "confirmed"):
            raise SipUsageError(f"call {call_id} is not established")
        self._send_bye(call)

    def cancel(self, call_id: str, now: float) -> None:
        """CANCEL an INVITE not yet answered (§9.1): the same branch, Request-URI,
        Call-ID, From, To and CSeq number as the INVITE, method CANCEL."""
        self._outbox.now = now
        call = self._calls.get(call_id)
        if call is None or call.role != "uac" or call.state not in ("calling", "early"):
            raise SipUsageError(f"call {call_id} has no pending INVITE")
        invite = self._sent_invite(call)
        call.cancelled = True
        if call.state == "calling":
            return  # §9.1: no CANCEL before a provisional response; sent on the 1xx
        self._send_cancel(call, invite)

    # -- requests we make ------------------------------------------------------------

    def _authorize(
        self, request: Request, challenge: Response, cseq: int | None = None
    ) -> Request | None:
        """``request`` again with credentials for the 401/407 ``challenge`` (§22.2)."""
        if self.credentials is None:
            return None
        retry = with_credentials(request, challenge, self.credentials, cseq)
        if retry is not None and self._observer is not None:  # observation point: digest
            self._observer.digest_retry(retry, challenge.status, self._outbox.now)
        return retry

    def _send_invite(self, call: Call) -> None:
        assert call.invite is not None
        call.invite_key = self._outbox.send_request(call.invite, call.peer, call.call_id)

    def _sent_invite(self, call: Call) -> Request:
        """The INVITE as the transaction layer sent it (with its Via)."""
        assert call.invite is not None and call.invite_key is not None
        branch = call.invite_key.split("|")[1]
        via = f"SIP/2.0/{self.layer.transport} {self.layer.sent_by};branch={branch};rport"
        return Request("INVITE", call.invite.uri, (("Via", via), *call.invite.headers),
                       call.invite.body)  # fmt: skip

    def _send_cancel(self, call: Call, invite: Request) -> None:
        keep = {"via", "from", "to", "call-id", "route", "max-forwards"}
        headers = [(n, v) for n, v in invite.headers if n.lower() in keep]
        headers.append(("CSeq", f"{invite.cseq.number} CANCEL"))
        cancel = Request("CANCEL", invite.uri, tuple(headers))
        self._outbox.send_request(cancel, call.peer, call.call_id)

    def _send_bye(self, call: Call, request: Request | None = None) -> None:
        """BYE (§15.1.1), or ``request``: the BYE again with credentials (§22.2)."""
        if request is None:
            call.local_cseq += 1
            request = call.request("BYE", call.local_cseq)
        call.bye = request
        call.bye_key = self._outbox.send_request(request, call.destination(), call.call_id)
        call.state = "ending"
        call.ok_deadline = None
        call.reinvite_backoff = None

    # -- responses we make -----------------------------------------------------------

    def _respond(self, call: Call, status: int, reason: str, sdp: bytes | None = None) -> bytes:
        assert call.invite is not None and call.server_key is not None
        response = build_response(
            call.invite, status, reason, tag=call.local_tag, contact=self.contact, body=sdp
        )
        self._outbox.send_response(call.server_key, response)
        return response.encode()

    def _answer(
        self, request: Request, key: str, status: int, reason: str, tag: bool,
        *, extra: tuple[tuple[str, str], ...] = (),
    ) -> None:  # fmt: skip
        """A response outside any call of ours (with a fresh To tag when ``tag``)."""
        response = build_response(
            request, status, reason, tag=self._tag() if tag else None, contact=self.contact,
            extra=extra,
        )  # fmt: skip
        self._outbox.send_response(key, response)

    def _retransmit_ok(self, call: Call) -> None:
        now = self._outbox.now
        if now >= call.ok_until:
            # §13.3.1.4: no ACK within 64·T1: the dialog ends with a BYE
            call.ok_deadline = None
            self._send_bye(call)
            self._events.push(CallFailed(call.call_id, 408, "no ACK for the 200"))
            return
        if call.ok is not None:
            self._outbox.send_again(call.ok, call.peer)
        call.ok_interval = min(2 * call.ok_interval, T2)
        call.ok_deadline = now + call.ok_interval

    # -- what the transaction layer reports ------------------------------------------

    def _pump(self) -> None:
        layer = self.layer
        while (event := layer.next_event()) is not None:
            try:
                if isinstance(event, RequestReceived):
                    self._on_request(event)
                elif isinstance(event, ResponseReceived):
                    self._on_response(event)
                elif isinstance(event, TransactionTimeout):
                    self._on_timeout(event.key)
                elif isinstance(event, TransactionTerminated):
                    self._outbox.release(event.key)
            except SipParseError:
                layer.dropped += 1  # a field we need was malformed: the message is dropped

    def _on_timeout(self, key: str) -> None:
        owner = self._outbox.owner(key)
        if owner is None:
            return
        if self._registrations.owns(owner):
            self._registrations.on_timeout(owner, key)
            return
        call = self._calls.get(owner)
        if call is None:
            return
        if key == call.invite_key and call.state in ("calling", "early"):
            self._events.push(CallFailed(call.call_id, 408, "Request Timeout"))
            self._end(call)
        elif key == call.reinvite_key:
            self._reinvites.on_timeout(call)
        elif key == call.bye_key:
            self._events.push(CallEnded(call.call_id, by_remote=False))
            self._end(call)

    def _on_request(self, event: RequestReceived) -> None:
        request, key = event.request, event.key
        call = self._calls.get(request.call_id)
        if key is None:  # an ACK to our 2xx (§13.3.1.4)
            if call is None or self._reinvites.on_ack(call, request):
                return
            if call.role == "uas" and call.state == "answered":
                call.ok_deadline = None
                call.state = "confirmed"
                self._events.push(CallEstablished(call.call_id, request.body or None))
            return
        method = request.method
        if request.uri.partition(":")[0].lower() not in ("sip", "sips"):
            # §8.2.2.1: a Request-URI scheme we do not serve (tel:, mailto:, ...)
            self._answer(request, key, 416, "Unsupported URI Scheme", tag=True)
            return
        required = request.get_all("Require")
        if required and method != "CANCEL":
            # §8.2.2.3: we support no extension, so every option tag required is unknown
            # (ACK never reaches here: an ACK to a 2xx has no key, §8.2.2.3 exempts it)
            unsupported = (("Unsupported", ", ".join(required)),)
            self._answer(request, key, 420, "Bad Extension", tag=True, extra=unsupported)
            return
        if method == "INVITE":
            if request.to.tag is not None:
                self._reinvites.on_request(call, request, key)
            else:
                self._on_invite(request, key, event.source)
        elif method == "BYE":
            if call is None or request.from_.tag != call.remote_tag:
                self._answer(request, key, 481, "Call/Transaction Does Not Exist", tag=False)
                return
            self._answer(request, key, 200, "OK", tag=False)
            self._events.push(CallEnded(call.call_id, by_remote=True))
            self._end(call)
        elif method == "CANCEL":
            self._on_cancel(request, key, call)
        elif method == "OPTIONS":
            self._answer(request, key, 200, "OK", tag=True)
        else:
            self._answer(request, key, 405, "Method Not Allowed", tag=True)

    def _on_invite(self, request: Request, key: str, source: Address) -> None:
        if len(self._calls) >= self.max_calls or request.call_id in self._calls:
            self._answer(request, key, 486, "Busy Here", tag=True)
            return
        call = Call(request.call_id, "uas", source)
        call.local_tag = self._tag()
        call.remote_tag = request.from_.tag
        call.remote_uri = request.from_.uri
        call.local_uri = request.to.uri
        contacts = request.contacts
        call.remote_target = contacts[0].uri if contacts else request.from_.uri
        call.route_set = request.get_all("Record-Route")  # §12.1.1: in order for the UAS
        call.invite = request
        call.server_key = key
        self._calls[call.call_id] = call
        self._events.push(
            IncomingCall(call.call_id, request.from_.uri, request.body or None, request)
        )

    def _on_cancel(self, request: Request, key: str, call: Call | None) -> None:
        # §9.2: the CANCEL matches the INVITE by branch; 200 to it, 487 to the INVITE
        if call is None or call.role != "uas" or call.invite is None:
            self._answer(request, key, 481, "Call/Transaction Does Not Exist", tag=False)
            return
        self._outbox.send_response(
            key, build_response(request, 200, "OK", tag=call.local_tag, contact=self.contact)
        )
        if call.state in ("calling", "early"):
            self._respond(call, 487, "Request Terminated")
            self._events.push(CallFailed(call.call_id, 487, "Request Terminated"))
            self._end(call)

    def _on_response(self, event: ResponseReceived) -> None:
        response, key = event.response, event.key
        if key is None:
            # a 2xx retransmitted after the INVITE transaction: ACK it again (§13.2.2.4)
            call = self._calls.get(response.call_id)
            if call is not None and call.ack is not None and response.cseq.method == "INVITE":
                self._outbox.send_again(call.ack, call.destination())
            return
        owner = self._outbox.owner(key)
        if owner is None:
            return
        if self._registrations.owns(owner):
            self._registrations.on_response(owner, key, response)
            return
        call = self._calls.get(owner)
        if call is None:
            return
        if key == call.invite_key:
            self._on_invite_response(call, response)
        elif key == call.reinvite_key:
            self._reinvites.on_response(call, response)
        elif key == call.bye_key:
            self._on_bye_response(call, response)

    def _on_bye_response(self, call: Call, response: Response) -> None:
        """§15.1.1: the call is over whatever the answer; a 401/407 is answered once with
        the credentials (§22.2), a second one (or none to give) reported as
        :class:`CallFailed` before :class:`CallEnded`."""
        status = response.status
        if status < 200:
            return
        if status in (401, 407):
            again = None
            if not call.bye_auth_tried and call.bye is not None:
                again = call.again_with_credentials(call.bye, response, self._authorize)
            if again is not None:
                call.bye_auth_tried = True
                self._send_bye(call, again)
                return
            self._events.push(CallFailed(call.call_id, status, response.reason))
        self._events.push(CallEnded(call.call_id, by_remote=False))
        self._end(call)

    def _on_invite_response(self, call: Call, response: Response) -> None:
        status = response.status
        if status < 200:
            if status > 100:
                call.remote_tag = response.to.tag or call.remote_tag
                self._events.push(CallProgress(call.call_id, status, response.reason))
            if call.state == "calling":
                call.state = "early"
                if call.cancelled:
                    self._send_cancel(call, self._sent_invite(call))
            return
        if status < 300:
            if call.state not in ("calling", "early"):
                # the 2xx again (RFC 6026 Accepted): our ACK was lost, send it again
                if call.ack is not None:
                    self._outbox.send_again(call.ack, call.destination())
                return
            call.remote_tag = response.to.tag
            contacts = response.contacts
            if contacts:
                call.remote_target = contacts[0].uri
            call.route_set = list(reversed(response.get_all("Record-Route")))  # §12.1.2
            call.state = "answered"
            invite = call.invite
            assert invite is not None  # ours: made in invite()
            offerless = not invite.body
            if not offerless:
                self._outbox.send_ack(call, None, invite)
                call.state = "confirmed"
            self._events.push(CallAnswered(call.call_id, response.body or None))
            if call.cancelled:  # §9.1: the CANCEL lost the race: end with BYE
                if offerless:
                    self._outbox.send_ack(call, None, invite)
                self._send_bye(call)
            return
        if status in (401, 407) and not call.auth_tried and call.invite is not None:
            again = self._authorize(call.invite, response)
            if again is not None:  # §22.2: CSeq + 1, the credentials added
                call.auth_tried = True
                call.local_cseq = again.cseq.number
                call.invite = again
                call.state = "calling"
                self._send_invite(call)
                return
        self._events.push(CallFailed(call.call_id, status, response.reason))
        self._end(call)

    # -- bookkeeping ---------------------------------------------------------------

    def _uas_call(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None or call.role != "uas" or call.state not in ("calling", "early"):
            raise SipUsageError(f"call {call_id} is not an incoming call waiting for an answer")
        return call

    def _reinvited_call(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            raise SipUsageError(f"call {call_id} has no re-INVITE to answer")
        return call

    def _end(self, call: Call) -> None:
        call.state = "ended"
        call.ok_deadline = None
        call.reinvite_backoff = None
        self._calls.pop(call.call_id, None)

    def _tag(self) -> str:
        return random_text(self._rng, _TAG_ALPHABET, 16)  # §19.3: 32 bits at least

    def _new_call_id(self) -> str:
        return f"{random_text(self._rng, _TAG_ALPHABET, 20)}@{host_text(self.local[0])}"
