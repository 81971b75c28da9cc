"""The events of the SIP user agent (:class:`~pyrtcstack.sip.agent.UserAgent`), popped from
its ``next_event()``: registration (RFC 3261 §10), calls (§13-15) and re-INVITEs (§14).
Each names its call or registration by Call-ID."""

from __future__ import annotations

from dataclasses import dataclass

from pyrtcstack.common.core import Event
from pyrtcstack.sip.message import Request

__all__ = [
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
    "Unregistered",
]


@dataclass(frozen=True, slots=True)
class Registered(Event):
    """The registrar holds our binding for ``expires`` seconds (§10.2.4); again after each
    refresh."""

    call_id: str
    expires: int


@dataclass(frozen=True, slots=True)
class Unregistered(Event):
    """The registrar removed our binding (a 2xx to Expires: 0, §10.2.2)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class RegistrationFailed(Event):
    """A REGISTER (the first, a refresh or the removal) failed: the registration is over."""

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
