"""SIP (RFC 3261): a sans-I/O message codec.

* :func:`parse_message` — one message from a datagram (§18.3); :class:`StreamFramer` —
  messages from a TCP byte stream (Content-Length framing, §18.3).
* :class:`Request`, :class:`Response` — the message model (§7), ``encode()`` to bytes.
* :class:`SipUri` (§19.1), :class:`Via` (§20.42), :class:`NameAddress` (§20.10, §20.20,
  §20.39), :class:`CSeq` (§20.16) — the typed header values.
* :class:`SipParseError` — the one error malformed input raises; limits in
  :mod:`pyrtcstack.sip.errors`.
* :class:`TransactionLayer` — the transactions of RFC 3261 §17 (timers A–K, RFC 6026
  L and M) as a sans-I/O core on the virtual clock; it answers a malformed request with
  400 (505, 513) when it can, bounded in size and rate (:mod:`pyrtcstack.sip.reject`).
* :class:`DigestClient`, :class:`DigestChallenge` — digest authentication (RFC 7616,
  RFC 8760: SHA-512-256, SHA-256, MD5).
* :class:`ServerLocator` — RFC 3263 §4: a URI to an ordered list of :class:`SipTarget`
  (NAPTR, SRV with RFC 2782's weighted order, A/AAAA), asking its DNS questions of a
  driver; uses :mod:`pyrtcstack.dns`.
* :func:`describe` — one line per message for a trace (secrets never shown);
  :class:`SipTracer` — the narrated trace of a user agent (``UserAgent.observer``), through
  the observation points of :class:`SipObserver`.
* :class:`UserAgent` — REGISTER (refreshed, removed), calls with or without an SDP offer,
  ring, answer, reject, ACK, BYE, CANCEL, re-INVITE, dialogs (§8-15), a sans-I/O core too.

Imports only :mod:`pyrtcstack.common`, :mod:`pyrtcstack.dns` and (for the media of a call)
:mod:`pyrtcstack.sdp`. See docs/sip.md.
"""

from __future__ import annotations

from pyrtcstack.sip.agent import MAX_CALLS, UserAgent
from pyrtcstack.sip.describe import describe
from pyrtcstack.sip.digest import ALGORITHMS, DigestChallenge, DigestClient, choose_challenge
from pyrtcstack.sip.errors import MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, SipParseError
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
    Unregistered,
)
from pyrtcstack.sip.explain import explain as explain_message
from pyrtcstack.sip.framing import StreamFramer
from pyrtcstack.sip.grammar import Params, get_param, parse_params
from pyrtcstack.sip.headers import (
    COMPACT_FORMS,
    MULTI_VALUED,
    CSeq,
    NameAddress,
    Via,
    canonical_name,
)
from pyrtcstack.sip.locate import (
    DEFAULT_PORTS,
    MAX_QUERIES,
    MAX_SRV_TARGETS,
    LocateError,
    ServerLocator,
    SipTarget,
    order_srv,
)
from pyrtcstack.sip.message import SIP_VERSION, Headers, Message, Request, Response, parse_message
from pyrtcstack.sip.observer import SipObserver
from pyrtcstack.sip.trace import SipTracer
from pyrtcstack.sip.transaction import (
    MAGIC_COOKIE,
    MAX_TRANSACTIONS,
    T1,
    T2,
    T4,
    RequestReceived,
    ResponseReceived,
    SipUsageError,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TxState,
)
from pyrtcstack.sip.uri import SipUri

__all__ = [
    "ALGORITHMS",
    "COMPACT_FORMS",
    "DEFAULT_PORTS",
    "MAGIC_COOKIE",
    "MAX_BODY_BYTES",
    "MAX_CALLS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_QUERIES",
    "MAX_SRV_TARGETS",
    "MAX_TRANSACTIONS",
    "MULTI_VALUED",
    "SIP_VERSION",
    "T1",
    "T2",
    "T4",
    "CSeq",
    "CallAnswered",
    "CallEnded",
    "CallEstablished",
    "CallFailed",
    "CallProgress",
    "DigestChallenge",
    "DigestClient",
    "Headers",
    "IncomingCall",
    "LocateError",
    "Message",
    "NameAddress",
    "Params",
    "ReInviteAnswered",
    "ReInviteFailed",
    "ReInvited",
    "Registered",
    "RegistrationFailed",
    "Request",
    "RequestReceived",
    "Response",
    "ResponseReceived",
    "ServerLocator",
    "SipObserver",
    "SipParseError",
    "SipTarget",
    "SipTracer",
    "SipUri",
    "SipUsageError",
    "StreamFramer",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimeout",
    "TxState",
    "Unregistered",
    "UserAgent",
    "Via",
    "canonical_name",
    "choose_challenge",
    "describe",
    "explain_message",
    "get_param",
    "order_srv",
    "parse_message",
    "parse_params",
]
