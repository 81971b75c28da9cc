"""A small SIP user agent (RFC 3261 §8, §10, §12-15) as a sans-I/O core.

:class:`UserAgent` sits on a :class:`~pyrtcstack.sip.transaction.TransactionLayer` and
adds what a phone does: REGISTER with digest authentication (§10, §22), calls with an SDP
offer in the INVITE or without one (the offer then comes in the 200, the answer in the
ACK, §13.2.1), 180/200 answers, ACK, BYE (§15), CANCEL (§9), and the dialog state that
ties a call's requests together (§12: Call-ID, the two tags, CSeq numbers, the remote
target and route set). Bodies are opaque bytes here (``application/sdp``); what builds
and reads them — :mod:`pyrtcstack.sdp`, a PeerConnection — is the caller's choice.

The same contract as every core (common/core.py): input with ``receive_datagram`` /
``receive_message``, output from ``datagrams_to_send``, ``get_timer`` / ``handle_timer``
on the caller's clock, events from ``next_event``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pyrtcstack.common.core import Address, Event, EventQueue, default_rng, random_text
from pyrtcstack.sip.digest import DigestChallenge, DigestClient, choose_challenge
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.message import Message, Request, Response
from pyrtcstack.sip.transaction import (
    T1,
    T2,
    RequestReceived,
    ResponseReceived,
    SipUsageError,
    TransactionLayer,
    TransactionTimeout,
)
from pyrtcstack.sip.uri import SipUri

__all__ = [
    "MAX_CALLS",
    "CallAnswered",
    "CallEnded",
    "CallEstablished",
    "CallFailed",
    "CallProgress",
    "IncomingCall",
    "ReInviteAnswered",
    "ReInviteFailed",
    "ReInvited",
    "Registered",
    "RegistrationFailed",
    "UserAgent",
]

#: Calls (dialogs and pending INVITEs) at once; past it a new INVITE gets 486 Busy Here.
MAX_CALLS = 256
_TAG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


@dataclass(frozen=True, slots=True)
class Registered(Event):
    call_id: str
    expires: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed(Event):
    call_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class IncomingCall(Event):
    """A new INVITE: answer with :meth:`UserAgent.ring`, :meth:`~UserAgent.answer` or
    :meth:`~UserAgent.reject`. ``offer`` is ``None`` for an offerless INVITE (then
    :meth:`~UserAgent.answer` gets the offer, and the ACK brings the answer)."""

    call_id: str
    caller: str
    offer: bytes | None
    request: Request


@dataclass(frozen=True, slots=True)
class CallProgress(Event):
    call_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class CallAnswered(Event):
    """A 200 to our INVITE: ``sdp`` is the answer (or, to an offerless INVITE, the offer:
    then call :meth:`UserAgent.ack` with the answer)."""

    call_id: str
    sdp: bytes | None


@dataclass(frozen=True, slots=True)
class CallEstablished(Event):
    """The dialog is confirmed: the callee saw the ACK; ``sdp`` is what the ACK carried."""

    call_id: str
    sdp: bytes | None


@dataclass(frozen=True, slots=True)
class CallFailed(Event):
    call_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReInvited(Event):
    """A re-INVITE in a confirmed call (§14.2): a new ``offer`` (an ICE restart, a hold).
    Answer it with :meth:`UserAgent.answer_reinvite` or :meth:`~UserAgent.reject_reinvite`;
    the call goes on either way."""

    call_id: str
    offer: bytes | None


@dataclass(frozen=True, slots=True)
class ReInviteAnswered(Event):
    """A 2xx to our re-INVITE (§14.1), ACKed: ``sdp`` is the answer."""

    call_id: str
    sdp: bytes | None


@dataclass(frozen=True, slots=True)
class ReInviteFailed(Event):
    """A failure to our re-INVITE: the session stays as it was (§14.1)."""

    call_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class CallEnded(Event):
    call_id: str
    by_remote: bool


class _Call:
    __slots__ = (
        "ack",
        "auth_tried",
        "bye_key",
        "call_id",
        "cancelled",
        "invite",
        "invite_key",
        "local_cseq",
        "local_tag",
        "local_uri",
        "ok",
        "ok_deadline",
        "ok_interval",
        "ok_until",
        "peer",
        "reinvite_key",
        "reinvite_pending",
        "reinvite_server",
        "remote_tag",
        "remote_target",
        "remote_uri",
        "role",
        "route_set",
        "server_key",
        "state",
    )  # fmt: skip

    def __init__(self, call_id: str, role: str, peer: Address) -> None:
        self.call_id = call_id
        self.role = role  # "uac" or "uas"
        self.peer = peer
        self.state = "calling"  # calling, early, answered, confirmed, ended
        self.local_tag = ""
        self.remote_tag: str | None = None
        self.local_uri = ""
        self.remote_uri = ""
        self.remote_target = ""
        self.route_set: list[str] = []
        self.local_cseq = 1
        self.invite: Request | None = None
        self.invite_key: str | None = None
        self.server_key: str | None = None
        self.bye_key: str | None = None
        self.ack: bytes | None = None
        self.ok: bytes | None = None
        self.ok_deadline: float | None = None
        self.ok_interval = T1
        self.ok_until = 0.0
        self.cancelled = False
        self.auth_tried = False
        self.reinvite_key: str | None = None  # our last re-INVITE's client transaction
        self.reinvite_pending = False  # ... and it has no final answer yet
        self.reinvite_server: tuple[Request, str] | None = None  # one we received, unanswered


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
        self._calls: dict[str, _Call] = {}
        self._keys: dict[str, str] = {}  # client transaction key -> call id
        self._registrations: dict[str, tuple[Request, Address, bool]] = {}
        self._events = EventQueue()
        self._out: list[tuple[bytes, Address]] = []
        self._now = 0.0
        # RFC 7118 §5.2: on WebSocket the Contact names the Via's .invalid host, and
        # §7 registers only transport=ws (for WSS too; RFC 3261 §19.1 for the others)
        kind = "ws" if transport.upper() == "WSS" else transport.lower()
        params = "" if transport.upper() == "UDP" else f";transport={kind}"
        self.contact = f"<sip:{user}@{self.layer.sent_by}{params}>"

    # -- the core contract ---------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self._now = now
        self.layer.receive_datagram(data, addr, now)
        self._pump()

    def receive_message(self, message: Message, addr: Address, now: float) -> None:
        self._now = now
        self.layer.receive_message(message, addr, now)
        self._pump()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        self._now = now
        # what the agent queued itself (an ACK, with the layer's output before it) first:
        # a BYE sent after an ACK must not overtake it
        out = self._out
        self._out = []
        out += self.layer.datagrams_to_send(now)
        return out

    def get_timer(self) -> float | None:
        if self._out:
            return self._now
        times = [c.ok_deadline for c in self._calls.values() if c.ok_deadline is not None]
        layer = self.layer.get_timer()
        if layer is not None:
            times.append(layer)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self._now = now
        self.layer.handle_timer(now)
        for call in list(self._calls.values()):
            if call.ok_deadline is not None and call.ok_deadline <= now:
                self._retransmit_ok(call)
        self._pump()

    def next_event(self) -> Event | None:
        return self._events.pop()

    # -- API -----------------------------------------------------------------------

    def register(
        self, registrar: str, destination: Address, now: float, *, aor: str | None = None,
        expires: int = 3600,
    ) -> str:  # fmt: skip
        """REGISTER our Contact for ``aor`` (default ``sip:user@<registrar host>``) at
        ``registrar`` (§10.2); a 401/407 is answered once with the credentials."""
        self._now = now
        uri = SipUri.parse(registrar)
        aor = aor or f"sip:{self.user}@{uri.host}"
        call_id = self._new_call_id()
        headers = (
            ("From", f"<{aor}>;tag={self._tag()}"),
            ("To", f"<{aor}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 REGISTER"),
            ("Max-Forwards", "70"),
            ("Contact", self.contact),
            ("Expires", str(expires)),
        )
        request = Request("REGISTER", registrar, headers)
        key = self.layer.send_request(request, destination, now)
        self._keys[key] = call_id
        self._registrations[call_id] = (request, destination, False)
        return call_id

    def invite(
        self, target: str, destination: Address, now: float, sdp: bytes | None = None,
        *, from_uri: str | None = None,
    ) -> str:  # fmt: skip
        """Call ``target`` (a SIP URI); ``sdp`` is the offer, or ``None`` for an offerless
        INVITE (§13.2.1). Returns the Call-ID that names the call in events."""
        self._now = now
        SipUri.parse(target)
        if len(self._calls) >= self.max_calls:
            raise SipUsageError(f"more than {self.max_calls} calls")
        call = _Call(self._new_call_id(), "uac", destination)
        call.local_tag = self._tag()
        call.local_uri = from_uri or f"sip:{self.user}@{_host(self.local[0])}"
        call.remote_uri = target
        call.remote_target = target
        call.invite = self._invite_request(call, sdp)
        self._calls[call.call_id] = call
        self._send_invite(call)
        return call.call_id

    def ring(self, call_id: str, now: float) -> None:
        """Send 180 Ringing for an incoming call."""
        self._now = now
        call = self._uas_call(call_id)
        self._respond(call, 180, "Ringing")
        call.state = "early"

    def answer(self, call_id: str, sdp: bytes | None, now: float) -> None:
        """200 OK for an incoming call, retransmitted until the ACK (§13.3.1.4)."""
        self._now = now
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
        self._now = now
        if not 300 <= status <= 699:
            raise SipUsageError("reject needs a 3xx-6xx status")
        call = self._uas_call(call_id)
        self._respond(call, status, reason)
        self._end(call)

    def ack(self, call_id: str, sdp: bytes, now: float) -> None:
        """The ACK with the SDP answer, after a 200 to an offerless INVITE (§13.2.1)."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.role != "uac" or call.state != "answered" or call.ack:
            raise SipUsageError(f"call {call_id} waits for no ACK")
        self._send_ack(call, sdp)
        call.state = "confirmed"

    def reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        """Send a re-INVITE with a new offer in a confirmed call (§14.1), e.g. an ICE
        restart; one at a time (§14.1: not while another INVITE transaction is pending)."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.state != "confirmed":
            raise SipUsageError(f"call {call_id} is not established")
        if call.reinvite_pending or call.reinvite_server is not None:
            raise SipUsageError(f"call {call_id} has a re-INVITE in progress")
        call.local_cseq += 1
        base = self._in_dialog(call, "INVITE", call.local_cseq, sdp)
        request = Request("INVITE", base.uri, (*base.headers, ("Contact", self.contact)), sdp)
        key = self.layer.send_request(request, self._target(call), now)
        self._keys[key] = call.call_id
        call.reinvite_key = key
        call.reinvite_pending = True

    def answer_reinvite(self, call_id: str, sdp: bytes, now: float) -> None:
        """200 OK with the answer to a :class:`ReInvited`, retransmitted until its ACK."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.reinvite_server is None:
            raise SipUsageError(f"call {call_id} has no re-INVITE to answer")
        request, key = call.reinvite_server
        response = self._response(request, 200, "OK", call.local_tag, sdp)
        self.layer.send_response(key, response, now)
        call.ok = response.encode()
        call.ok_interval = T1
        call.ok_deadline = now + T1
        call.ok_until = now + 64 * T1

    def reject_reinvite(
        self, call_id: str, now: float, status: int = 488, reason: str = "Not Acceptable Here"
    ) -> None:
        """A failure to a :class:`ReInvited`; the call goes on as before (§14.2)."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.reinvite_server is None:
            raise SipUsageError(f"call {call_id} has no re-INVITE to answer")
        if not 300 <= status <= 699:
            raise SipUsageError("reject_reinvite needs a 3xx-6xx status")
        request, key = call.reinvite_server
        call.reinvite_server = None
        self.layer.send_response(key, self._response(request, status, reason, None), now)

    def bye(self, call_id: str, now: float) -> None:
        """End a confirmed call (§15.1.1)."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.state not in ("answered", "confirmed"):
            raise SipUsageError(f"call {call_id} is not established")
        self._send_bye(call)

    def cancel(self, call_id: str, now: float) -> None:
        """CANCEL an INVITE not yet answered (§9.1): the same branch, Request-URI,
        Call-ID, From, To and CSeq number as the INVITE, method CANCEL."""
        self._now = now
        call = self._calls.get(call_id)
        if call is None or call.role != "uac" or call.state not in ("calling", "early"):
            raise SipUsageError(f"call {call_id} has no pending INVITE")
        assert call.invite is not None
        invite = self._sent_invite(call)
        call.cancelled = True
        if call.state == "calling":
            return  # §9.1: no CANCEL before a provisional response; sent on the 1xx
        self._send_cancel(call, invite)

    # -- requests we make ------------------------------------------------------------

    def _invite_request(self, call: _Call, sdp: bytes | None) -> Request:
        headers = [
            ("From", f"<{call.local_uri}>;tag={call.local_tag}"),
            ("To", f"<{call.remote_uri}>"),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.local_cseq} INVITE"),
            ("Max-Forwards", "70"),
            ("Contact", self.contact),
            ("Allow", _ALLOW),
        ]
        if sdp is not None:
            headers.append(("Content-Type", "application/sdp"))
        return Request("INVITE", call.remote_target, tuple(headers), sdp or b"")

    def _send_invite(self, call: _Call) -> None:
        assert call.invite is not None
        key = self.layer.send_request(call.invite, call.peer, self._now)
        call.invite_key = key
        self._keys[key] = call.call_id

    def _sent_invite(self, call: _Call) -> Request:
        """The INVITE as the transaction layer sent it (with its Via)."""
        assert call.invite is not None and call.invite_key is not None
        branch = call.invite_key.split("|")[1]
        via = f"SIP/2.0/{self.layer.transport} {self.layer.sent_by};branch={branch};rport"
        return Request("INVITE", call.invite.uri, (("Via", via), *call.invite.headers),
                       call.invite.body)  # fmt: skip

    def _send_cancel(self, call: _Call, invite: Request) -> None:
        keep = {"via", "from", "to", "call-id", "route", "max-forwards"}
        headers = [(n, v) for n, v in invite.headers if n.lower() in keep]
        headers.append(("CSeq", f"{invite.cseq.number} CANCEL"))
        key = self.layer.send_request(Request("CANCEL", invite.uri, tuple(headers)),
                                      call.peer, self._now)  # fmt: skip
        self._keys[key] = call.call_id

    def _in_dialog(self, call: _Call, method: str, cseq: int, body: bytes | None = None) -> Request:
        """A request inside the dialog (§12.2.1.1)."""
        to = f"<{call.remote_uri}>" + (f";tag={call.remote_tag}" if call.remote_tag else "")
        headers = [("Route", r) for r in call.route_set]
        headers += [
            ("From", f"<{call.local_uri}>;tag={call.local_tag}"),
            ("To", to),
            ("Call-ID", call.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
        ]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Request(method, call.remote_target, tuple(headers), body or b"")

    def _send_ack(self, call: _Call, sdp: bytes | None) -> None:
        # §13.2.2.4: the ACK to a 2xx is its own transaction-less request, new branch
        request = self._in_dialog(call, "ACK", call.local_cseq, sdp)
        self.layer.send_request(request, self._target(call), self._now)
        sent = self.layer.datagrams_to_send(self._now)
        call.ack = sent[-1][0] if sent else None
        self._out += sent

    def _send_bye(self, call: _Call) -> None:
        call.local_cseq += 1
        request = self._in_dialog(call, "BYE", call.local_cseq)
        key = self.layer.send_request(request, self._target(call), self._now)
        call.bye_key = key
        self._keys[key] = call.call_id
        call.state = "ending"
        call.ok_deadline = None

    def _target(self, call: _Call) -> Address:
        """Where in-dialog requests go: the first route, else the remote target when it
        names an IP address, else the address the dialog came from (no DNS here)."""
        uri_text = (
            call.route_set[0].strip("<>").split(">")[0] if call.route_set else call.remote_target
        )
        try:
            uri = SipUri.parse(uri_text)
        except SipParseError:
            return call.peer
        host = uri.host.strip("[]")
        if host.replace(".", "").isdigit() or ":" in host:
            return (host, uri.port or 5060)
        return call.peer

    # -- responses we make -----------------------------------------------------------

    def _respond(self, call: _Call, status: int, reason: str, sdp: bytes | None = None) -> bytes:
        assert call.invite is not None and call.server_key is not None
        response = self._response(call.invite, status, reason, call.local_tag, sdp)
        self.layer.send_response(call.server_key, response, self._now)
        return response.encode()

    def _response(
        self, request: Request, status: int, reason: str, tag: str | None, body: bytes | None = None
    ) -> Response:
        """§8.2.6.2: Via, From, Call-ID, CSeq copied; To tagged; Record-Route copied for
        a dialog (§12.1.1)."""
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
            headers += [("Contact", self.contact), ("Allow", _ALLOW)]
        if status == 405:
            headers.append(("Allow", _ALLOW))
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Response(status, reason, tuple(headers), body or b"")

    def _retransmit_ok(self, call: _Call) -> None:
        if self._now >= call.ok_until:
            # §13.3.1.4: no ACK within 64·T1: the dialog ends with a BYE
            call.ok_deadline = None
            self._send_bye(call)
            self._events.push(CallFailed(call.call_id, 408, "no ACK for the 200"))
            return
        if call.ok is not None:
            self._out.append((call.ok, call.peer))
        call.ok_interval = min(2 * call.ok_interval, T2)
        call.ok_deadline = self._now + call.ok_interval

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
            except SipParseError:
                layer.dropped += 1  # a field we need was malformed: the message is dropped

    def _on_timeout(self, key: str) -> None:
        call_id = self._keys.pop(key, None)
        if call_id is None:
            return
        if call_id in self._registrations:
            del self._registrations[call_id]
            self._events.push(RegistrationFailed(call_id, 408, "Request Timeout"))
            return
        call = self._calls.get(call_id)
        if call is None:
            return
        if key == call.invite_key and call.state in ("calling", "early"):
            self._events.push(CallFailed(call_id, 408, "Request Timeout"))
            self._end(call)
        elif key == call.bye_key:
            self._events.push(CallEnded(call_id, by_remote=False))
            self._end(call)

    def _on_request(self, event: RequestReceived) -> None:
        request, key = event.request, event.key
        call = self._calls.get(request.call_id)
        if key is None:  # an ACK to our 2xx (§13.3.1.4)
            server = call.reinvite_server if call is not None else None
            if call is not None and server is not None and call.ok_deadline is not None:
                if request.cseq.number == server[0].cseq.number:  # the re-INVITE's (§14.2)
                    call.ok_deadline = None
                    call.reinvite_server = None
                return
            if call is not None and call.role == "uas" and call.state == "answered":
                call.ok_deadline = None
                call.state = "confirmed"
                self._events.push(CallEstablished(call.call_id, request.body or None))
            return
        method = request.method
        if method == "INVITE":
            self._on_invite(request, key, event.source)
        elif method == "BYE":
            if call is None or request.from_.tag != call.remote_tag:
                self.layer.send_response(
                    key,
                    self._response(request, 481, "Call/Transaction Does Not Exist", None),
                    self._now,
                )
                return
            self.layer.send_response(key, self._response(request, 200, "OK", None), self._now)
            self._events.push(CallEnded(call.call_id, by_remote=True))
            self._end(call)
        elif method == "CANCEL":
            self._on_cancel(request, key, call)
        elif method == "OPTIONS":
            self.layer.send_response(
                key, self._response(request, 200, "OK", self._tag()), self._now
            )
        else:
            self.layer.send_response(
                key, self._response(request, 405, "Method Not Allowed", self._tag()), self._now
            )

    def _on_invite(self, request: Request, key: str, source: Address) -> None:
        if request.to.tag is not None:
            self._on_reinvite(request, key)
            return
        if len(self._calls) >= self.max_calls or request.call_id in self._calls:
            self.layer.send_response(
                key, self._response(request, 486, "Busy Here", self._tag()), self._now
            )
            return
        call = _Call(request.call_id, "uas", source)
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

    def _on_cancel(self, request: Request, key: str, call: _Call | None) -> None:
        # §9.2: the CANCEL matches the INVITE by branch; 200 to it, 487 to the INVITE
        if call is None or call.role != "uas" or call.invite is None:
            self.layer.send_response(
                key,
                self._response(request, 481, "Call/Transaction Does Not Exist", None),
                self._now,
            )
            return
        self.layer.send_response(key, self._response(request, 200, "OK", call.local_tag), self._now)
        if call.state in ("calling", "early"):
            self._respond(call, 487, "Request Terminated")
            self._events.push(CallFailed(call.call_id, 487, "Request Terminated"))
            self._end(call)

    def _on_reinvite(self, request: Request, key: str) -> None:
        """§14.2: a re-INVITE in one of our confirmed dialogs is offered to the user; one
        in no dialog gets 481; one while ours is pending 491, while another of the peer's
        is pending 500 with Retry-After."""
        call = self._calls.get(request.call_id)
        if (
            call is None
            or call.state != "confirmed"
            or request.to.tag != call.local_tag
            or request.from_.tag != call.remote_tag
        ):
            response = self._response(request, 481, "Call/Transaction Does Not Exist", None)
        elif call.reinvite_pending:
            response = self._response(request, 491, "Request Pending", None)
        elif call.reinvite_server is not None or call.ok_deadline is not None:
            base = self._response(request, 500, "Server Internal Error", None)
            response = Response(500, base.reason, (*base.headers, ("Retry-After", "1")))
        else:
            call.reinvite_server = (request, key)
            self._events.push(ReInvited(call.call_id, request.body or None))
            return
        self.layer.send_response(key, response, self._now)

    def _on_response(self, event: ResponseReceived) -> None:
        response, key = event.response, event.key
        if key is None:
            # a 2xx retransmitted after the INVITE transaction: ACK it again (§13.2.2.4)
            call = self._calls.get(response.call_id)
            if call is not None and call.ack is not None and response.cseq.method == "INVITE":
                self._out.append((call.ack, self._target(call)))
            return
        call_id = self._keys.get(key)
        if call_id is None:
            return
        if call_id in self._registrations:
            self._on_register_response(call_id, key, response)
            return
        call = self._calls.get(call_id)
        if call is None:
            return
        method = response.cseq.method
        if method == "INVITE" and key == call.invite_key:
            self._on_invite_response(call, response)
        elif method == "INVITE" and key == call.reinvite_key:
            self._on_reinvite_response(call, response)
        elif method == "BYE" and response.status >= 200:
            self._events.push(CallEnded(call.call_id, by_remote=False))
            self._end(call)

    def _on_invite_response(self, call: _Call, response: Response) -> None:
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
                    self._out.append((call.ack, self._target(call)))
                return
            call.remote_tag = response.to.tag
            contacts = response.contacts
            if contacts:
                call.remote_target = contacts[0].uri
            call.route_set = list(reversed(response.get_all("Record-Route")))  # §12.1.2
            call.state = "answered"
            offerless = call.invite is not None and not call.invite.body
            if not offerless:
                self._send_ack(call, None)
                call.state = "confirmed"
            self._events.push(CallAnswered(call.call_id, response.body or None))
            if call.cancelled:  # §9.1: the CANCEL lost the race: end with BYE
                if offerless:
                    self._send_ack(call, None)
                self._send_bye(call)
            return
        if status in (401, 407) and self.credentials is not None and not call.auth_tried:
            auth = self._authorization(response, "INVITE", call.remote_target)
            if auth is not None and call.invite is not None:
                call.auth_tried = True
                call.local_cseq += 1
                name, value = auth
                base = self._invite_request(call, call.invite.body or None)
                call.invite = Request("INVITE", base.uri, (*base.headers, (name, value)), base.body)
                call.state = "calling"
                self._send_invite(call)
                return
        self._events.push(CallFailed(call.call_id, status, response.reason))
        self._end(call)

    def _on_reinvite_response(self, call: _Call, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        if not call.reinvite_pending:
            if status < 300 and call.ack is not None:  # the 2xx again: our ACK was lost
                self._out.append((call.ack, self._target(call)))
            return
        call.reinvite_pending = False
        if status < 300:
            contacts = response.contacts
            if contacts:
                call.remote_target = contacts[0].uri  # §12.2.1.2: a target refresh
            self._send_ack(call, None)
            self._events.push(ReInviteAnswered(call.call_id, response.body or None))
        else:
            self._events.push(ReInviteFailed(call.call_id, status, response.reason))

    def _on_register_response(self, call_id: str, key: str, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        request, destination, retried = self._registrations[call_id]
        if status < 300:
            del self._registrations[call_id]
            expires = _expires(response, request)
            self._events.push(Registered(call_id, expires))
            return
        if status in (401, 407) and self.credentials is not None and not retried:
            auth = self._authorization(response, "REGISTER", request.uri)
            if auth is not None:
                # §10.2 and §22.2: the same Call-ID, CSeq + 1, the credentials added
                cseq = request.cseq.number + 1
                headers = [(n, f"{cseq} REGISTER" if n == "CSeq" else v)
                           for n, v in request.headers if n not in ("Authorization", "Proxy-Authorization")]  # fmt: skip  # noqa: E501
                headers.append(auth)
                again = Request("REGISTER", request.uri, tuple(headers))
                new_key = self.layer.send_request(again, destination, self._now)
                self._keys[new_key] = call_id
                self._registrations[call_id] = (again, destination, True)
                return
        del self._registrations[call_id]
        self._events.push(RegistrationFailed(call_id, status, response.reason))

    def _authorization(self, response: Response, method: str, uri: str) -> tuple[str, str] | None:
        """The (Proxy-)Authorization field answering a 401/407 (§22.2, §22.3)."""
        assert self.credentials is not None
        field = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenges = []
        for value in response.get_all(field):
            try:
                challenges.append(DigestChallenge.parse(value))
            except SipParseError:
                continue
        challenge = choose_challenge(challenges)
        if challenge is None:
            return None
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return name, self.credentials.authorization(challenge, method, uri)

    # -- bookkeeping ---------------------------------------------------------------

    def _uas_call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None or call.role != "uas" or call.state not in ("calling", "early"):
            raise SipUsageError(f"call {call_id} is not an incoming call waiting for an answer")
        return call

    def _end(self, call: _Call) -> None:
        call.state = "ended"
        call.ok_deadline = None
        self._calls.pop(call.call_id, None)
        for key in [k for k, v in self._keys.items() if v == call.call_id]:
            del self._keys[key]

    def _tag(self) -> str:
        return random_text(self._rng, _TAG_ALPHABET, 16)  # §19.3: 32 bits at least

    def _new_call_id(self) -> str:
        return f"{random_text(self._rng, _TAG_ALPHABET, 20)}@{_host(self.local[0])}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _expires(response: Response, request: Request) -> int:
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
