"""A narrated timeline of a SIP call, for learners (``pyrtcstack sip call --trace``).

:class:`SipTracer` is the :class:`~pyrtcstack.sip.observer.SipObserver` a
:class:`~pyrtcstack.sip.UserAgent` calls at its observation points; it hands one
:class:`~pyrtcstack.common.trace.TraceRecord` per step to the user's callback, the same
record the peer connection's tracer writes, on the same clock (the driver's ``now``), so
a printer interleaves the SIP messages with the ICE and DTLS steps of the call's media.

* layer ``SIP``: every message in and out (``direction`` "recv" or "send"), described by
  :func:`~pyrtcstack.sip.describe`, with the transport and the peer's address. A message
  the tracer saw in the same direction a moment before is marked as a retransmission
  (the tracer remembers the last :attr:`SipTracer.REMEMBERED` messages each way).
* layer ``SIP tx``: each state a transaction enters (RFC 3261 §17, RFC 6026) and each
  timer that fires, with what it means.
* layer ``SIP call``: the user agent's events (an incoming call, the answer, the ACK
  that confirms the dialog, the end).

Describing never raises; text from the wire is escaped by :func:`describe`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from pyrtcstack.common.core import Address, Event
from pyrtcstack.common.trace import TraceRecord
from pyrtcstack.sip.describe import describe
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.events import (
    CallAnswered,
    CallEnded,
    CallEstablished,
    CallFailed,
    CallProgress,
    IncomingCall,
    Registered,
    RegistrationFailed,
    ReInviteAnswered,
    ReInvited,
    ReInviteFailed,
)
from pyrtcstack.sip.message import Message, Request
from pyrtcstack.sip.transaction import TxState

__all__ = ["SipTracer"]

_S = TxState
#: What entering each state means, by (INVITE?, server?, state): RFC 3261 §17.1.1.2
#: (INVITE client), §17.1.2.2 (non-INVITE client), §17.2.1 (INVITE server), §17.2.2
#: (non-INVITE server), RFC 6026 §7.1-7.2 (Accepted).
_STATES: dict[tuple[bool, bool, TxState], str] = {
    (True, False, _S.CALLING): "request sent; Timer A retransmits it over UDP, "
    "Timer B gives up after 64·T1 (§17.1.1.2)",
    (True, False, _S.PROCEEDING): "a provisional response: no more retransmissions, "
    "wait for the final one (§17.1.1.2)",
    (True, False, _S.ACCEPTED): "a 2xx: the dialog ACKs it itself; Timer M lets "
    "retransmitted 2xx through (RFC 6026 §7.2)",
    (True, False, _S.COMPLETED): "a 3xx-6xx: the transaction ACKs it; Timer D absorbs "
    "its retransmissions (§17.1.1.2)",
    (False, False, _S.TRYING): "request sent; Timer E retransmits it over UDP, "
    "Timer F gives up after 64·T1 (§17.1.2.2)",
    (False, False, _S.PROCEEDING): "a provisional response (§17.1.2.2)",
    (False, False, _S.COMPLETED): "the final response; Timer K absorbs its "
    "retransmissions (§17.1.2.2)",
    (True, True, _S.PROCEEDING): "a new INVITE: 100 Trying at once so the caller "
    "stops retransmitting (§17.2.1)",
    (True, True, _S.COMPLETED): "a 3xx-6xx sent; Timer G retransmits it until the ACK, "
    "Timer H gives up (§17.2.1)",
    (True, True, _S.CONFIRMED): "the ACK came; Timer I absorbs ACK retransmissions (§17.2.1)",
    (True, True, _S.ACCEPTED): "a 2xx sent: the dialog retransmits it until the ACK; "
    "Timer L absorbs INVITE retransmissions (RFC 6026 §7.1)",
    (False, True, _S.TRYING): "a new request (§17.2.2)",
    (False, True, _S.PROCEEDING): "a provisional response sent (§17.2.2)",
    (False, True, _S.COMPLETED): "the final response sent; Timer J absorbs request "
    "retransmissions (§17.2.2)",
}
_TIMERS = {
    "A": "retransmit the INVITE, the interval doubled (§17.1.1.2)",
    "B": "no final response in 64·T1: the INVITE times out (§17.1.1.2)",
    "D": "stop absorbing response retransmissions (§17.1.1.2)",
    "E": "retransmit the request, the interval doubled up to T2 (§17.1.2.2)",
    "F": "no final response in 64·T1: the request times out (§17.1.2.2)",
    "G": "retransmit the final response, until the ACK (§17.2.1)",
    "H": "no ACK in 64·T1: give up (§17.2.1)",
    "I": "stop absorbing ACKs (§17.2.1)",
    "J": "stop absorbing request retransmissions (§17.2.2)",
    "K": "stop absorbing response retransmissions (§17.1.2.2)",
    "L": "stop absorbing INVITE retransmissions (RFC 6026 §7.1)",
    "M": "stop waiting for 2xx retransmissions (RFC 6026 §7.2)",
}


def _short(text: str, n: int = 8) -> str:
    """An id for the line (a Call-ID, a branch): clipped, escaped."""
    clipped = text[:n]
    safe = "".join(c if c.isprintable() else f"\\x{ord(c) & 0xFF:02x}" for c in clipped)
    return safe + ("…" if len(text) > n else "")


def _transaction(key: str, method: str) -> tuple[bool, str]:
    """(server?, "INVITE client transaction z9hG4bKab…") from the layer's key."""
    parts = key.split("|")
    server = parts[0] == "s"
    branch = parts[1] if len(parts) > 1 else ""
    role = "server" if server else "client"
    return server, f"{_short(method, 16)} {role} transaction {_short(branch, 12)}"


def _address(addr: Address) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class SipTracer:
    """The :class:`~pyrtcstack.sip.observer.SipObserver` behind ``UserAgent.observer``:
    one :class:`~pyrtcstack.common.trace.TraceRecord` per SIP step for ``callback``.
    ``transport`` names the agent's transport in the lines ("UDP", "TCP", "WS")."""

    #: Messages remembered each way to spot a retransmission.
    REMEMBERED = 64

    def __init__(self, callback: Callable[[object], None], transport: str = "UDP") -> None:
        self.callback = callback
        self.transport = transport.upper()
        self._seen: dict[str, OrderedDict[bytes, int]] = {
            "send": OrderedDict(),
            "recv": OrderedDict(),
        }

    def note(self, now: float, layer: str, text: str) -> None:
        self.callback(TraceRecord(now, layer, "note", text))

    # ---------------------------------------------------------------- the observer calls
    def message_received(self, data: bytes | Message, source: Address, now: float) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        self.message("recv", raw, data, source, now)

    def message_sent(self, data: bytes, destination: Address, now: float) -> None:
        self.message("send", data, data, destination, now)

    def transaction_state(
        self, key: str, method: str, old: TxState | None, new: TxState, now: float
    ) -> None:
        server, name = _transaction(key, method)
        before = "new" if old is None else old.name.capitalize()
        text = f"{name}: {before} → {new.name.capitalize()}"
        meaning = _STATES.get((method in ("INVITE", "ACK"), server, new))
        if meaning:
            text += f" — {meaning}"
        self.note(now, "SIP tx", text)

    def timer_fired(self, key: str, method: str, timer: str, now: float) -> None:
        _, name = _transaction(key, method)
        what = _TIMERS.get(timer, "")
        self.note(now, "SIP tx", f"{name}: Timer {_short(timer, 2)} fired: {what}")

    def event(self, source: object, event: Event, now: float) -> None:
        """The user agent's events: the steps of a call or a registration (§12-15, §10)."""
        text = _event_text(event)
        if text is not None:
            self.note(now, "SIP call", text)

    def digest_retry(self, request: Request, status: int, now: float) -> None:
        """A request made again with credentials after a 401/407 (RFC 3261 §22.2, §22.3):
        its new CSeq; who the credentials are for is on the message's own line."""
        try:
            call_id, cseq = _short(request.call_id), request.cseq.number
        except SipParseError:
            return
        method = _short(request.method, 16)
        noun = "registration" if request.method == "REGISTER" else "call"
        who = "the proxy's" if status == 407 else "the"
        section = "§22.3" if status == 407 else "§22.2"
        self.note(
            now,
            "SIP call",
            f"{noun} {call_id}: {who} {status} challenge answered: the {method} again with "
            f"digest credentials, CSeq {cseq} ({section}, RFC 7616 §3.4)",
        )

    # ---------------------------------------------------------------- one item each
    def message(
        self, direction: str, raw: bytes, data: bytes | Message, peer: Address, now: float
    ) -> None:
        """One message on the wire, described, marked when it repeats one just seen (a
        CRLF keep-alive is the same every time, and no retransmission: never marked)."""
        count = 1
        if raw.strip(b"\r\n"):
            seen = self._seen[direction]
            digest = hashlib.blake2b(raw, digest_size=16).digest()
            count = seen.pop(digest, 0) + 1
            seen[digest] = count
            if len(seen) > self.REMEMBERED:
                seen.popitem(last=False)
        way = "to" if direction == "send" else "from"
        text = f"{self.transport} {way} {_address(peer)}: {describe(data)}"
        if count > 1:
            text += f" [again: retransmission {count - 1}]"
        self.callback(TraceRecord(now, "SIP", direction, text, peer=peer))


def _event_text(event: Event) -> str | None:
    kind = type(event)
    if kind is IncomingCall:
        assert isinstance(event, IncomingCall)
        offer = "with an SDP offer" if event.offer else "without an offer"
        caller = _short(event.caller, 48)
        return f"call {_short(event.call_id)}: incoming from {caller}, {offer} (§13.3.1)"
    if kind is CallProgress:
        assert isinstance(event, CallProgress)
        return (
            f"call {_short(event.call_id)}: {event.status} {_short(event.reason, 24)}: "
            "an early dialog (§13.2.2.1)"
        )
    if kind is CallAnswered:
        assert isinstance(event, CallAnswered)
        return f"call {_short(event.call_id)}: answered, the dialog is established (§12.1.2)"
    if kind is CallEstablished:
        assert isinstance(event, CallEstablished)
        return f"call {_short(event.call_id)}: the ACK came: the dialog is confirmed (§13.3.1.4)"
    if kind is CallFailed:
        assert isinstance(event, CallFailed)
        return f"call {_short(event.call_id)}: failed, {event.status} {_short(event.reason, 32)}"
    if kind is CallEnded:
        assert isinstance(event, CallEnded)
        who = "the peer's BYE" if event.by_remote else "our BYE answered"
        return f"call {_short(event.call_id)}: ended by {who} (§15)"
    if kind is ReInvited:
        assert isinstance(event, ReInvited)
        return f"call {_short(event.call_id)}: a re-INVITE with a new offer (§14.2)"
    if kind is ReInviteAnswered:
        assert isinstance(event, ReInviteAnswered)
        return f"call {_short(event.call_id)}: our re-INVITE answered and ACKed (§14.1)"
    if kind is ReInviteFailed:
        assert isinstance(event, ReInviteFailed)
        reason = _short(event.reason, 32)
        return (
            f"call {_short(event.call_id)}: re-INVITE refused, {event.status} {reason}; "
            "the session stays as it was (§14.1)"
        )
    if kind is Registered:
        assert isinstance(event, Registered)
        return f"registration {_short(event.call_id)}: bound for {event.expires} s (§10.2.4)"
    if kind is RegistrationFailed:
        assert isinstance(event, RegistrationFailed)
        reason = _short(event.reason, 32)
        return f"registration {_short(event.call_id)}: failed, {event.status} {reason}"
    return None
