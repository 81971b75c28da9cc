"""SIP transactions (RFC 3261 §17, with the RFC 6026 Accepted state): a sans-I/O core.

A *transaction* is one request and every response to it, kept alive long enough to
retransmit over UDP and to absorb the other side's retransmissions. There are four state
machines (§17.1.1 INVITE client, §17.1.2 non-INVITE client, §17.2.1 INVITE server,
§17.2.2 non-INVITE server) and ten timers, all derived from T1 (an RTT estimate, 500 ms),
T2 (the longest retransmit interval, 4 s) and T4 (how long the network keeps a message,
5 s):

======  ============================  =======================  ===================
timer   what                          over UDP                 reliable (TCP)
======  ============================  =======================  ===================
A       INVITE request retransmit     T1, doubling             off
B       INVITE client timeout         64·T1                    64·T1
D       absorb final responses        32 s (> 64·T1)           0
E       non-INVITE retransmit         T1, doubling to T2       off
F       non-INVITE client timeout     64·T1                    64·T1
G       INVITE final-response rtx     T1, doubling to T2       off
H       wait for the ACK              64·T1                    64·T1
I       absorb ACKs                   T4                       0
J       absorb request retransmits    64·T1                    0
K       absorb responses              T4                       0
L, M    RFC 6026 Accepted (2xx sent   64·T1                    64·T1
        / received)
======  ============================  =======================  ===================

:class:`TransactionLayer` is the core (the :class:`~pyrtcstack.common.core.DatagramCore`
contract): datagrams in with :meth:`~TransactionLayer.receive_datagram` (or whole messages
from a stream with :meth:`~TransactionLayer.receive_message`), requests and responses
sent with :meth:`~TransactionLayer.send_request` / :meth:`~TransactionLayer.send_response`,
time passed as an argument, events out of :meth:`~TransactionLayer.next_event`. Branch ids
come from the injected random generator (a CSPRNG by default) with the RFC 3261 magic
cookie ``z9hG4bK`` (§8.1.1.7).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from pyrtcstack.common.core import (
    Address,
    Event,
    EventQueue,
    default_rng,
    random_text,
)
from pyrtcstack.common.errors import LocalProtocolError
from pyrtcstack.sip.errors import SipParseError
from pyrtcstack.sip.message import Message, Request, Response, parse_message
from pyrtcstack.sip.reject import error_response

if TYPE_CHECKING:
    from pyrtcstack.sip.observer import SipObserver

__all__ = [
    "ERROR_ANSWERS_PER_SECOND",
    "MAGIC_COOKIE",
    "MAX_TRANSACTIONS",
    "T1",
    "T2",
    "T4",
    "RequestReceived",
    "ResponseReceived",
    "SipUsageError",
    "TransactionLayer",
    "TransactionTerminated",
    "TransactionTimeout",
    "TxState",
]

T1 = 0.5
T2 = 4.0
T4 = 5.0
#: §8.1.1.7: a branch starting with this was made by an RFC 3261 element.
MAGIC_COOKIE = "z9hG4bK"
#: Transactions alive at once (PJSIP: 1,023). Past it, a new request is answered 503
#: statelessly and a new client transaction is refused.
MAX_TRANSACTIONS = 1024
#: Datagrams queued between two drains.
MAX_QUEUED = 4096
#: Stateless answers to malformed requests (400, 505, ...) per second, at most; the
#: same number may go out in one burst. Past it a malformed request is only dropped.
ERROR_ANSWERS_PER_SECOND = 10
_BRANCH_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HOST_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
#: RFC 7118 §5.2: WebSocket transports, whose clients cannot name a reachable address
_WEBSOCKET = ("WS", "WSS")


class SipUsageError(LocalProtocolError):
    """The caller used the transaction layer wrongly (unknown key, bad Via, too many)."""


class TxState(Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class RequestReceived(Event):
    """A new request (a server transaction ``key``), or an ACK to a 2xx (``key`` is
    ``None``: that ACK is no transaction, §17)."""

    key: str | None
    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class ResponseReceived(Event):
    """A response for client transaction ``key``. ``key`` is ``None`` for a response no
    transaction matches: a retransmitted 2xx to an INVITE the dialog layer must ACK again
    (§13.2.2.4)."""

    key: str | None
    response: Response
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimeout(Event):
    """Timer B, F (no final response) or H (no ACK) fired: §17.1.1.2, §17.1.2.2, §17.2.1;
    or ``timer`` is ``"transport"``: the transport could not deliver the request (§17.1.4,
    :meth:`TransactionLayer.transport_error`)."""

    key: str
    timer: str


@dataclass(frozen=True, slots=True)
class TransactionTerminated(Event):
    key: str


class _Tx:
    __slots__ = (
        "ack",
        "interval",
        "invite",
        "key",
        "last_response",
        "peer",
        "request",
        "server",
        "state",
        "timers",
        "wire",
    )  # fmt: skip

    def __init__(self, key: str, request: Request, peer: Address, server: bool) -> None:
        self.key = key
        self.request = request
        self.peer = peer
        self.server = server
        self.invite = request.method == "INVITE"
        self.state = TxState.TRYING
        self.timers: dict[str, float] = {}
        self.wire = b""  # the request (client) as sent
        self.last_response: bytes | None = None
        self.ack: bytes | None = None
        self.interval = T1


class TransactionLayer:
    """Every SIP transaction of one transport (see the module docstring).

    ``local`` is the address our Via names (``sent-by``); ``reliable`` is True on TCP
    or TLS (§17.1.1.2: no retransmissions, the absorbing timers D, I, J, K are zero).
    On WebSocket (``WS``, ``WSS``) the Via names instead a random ``.invalid`` host from
    the injected generator (RFC 7118 §5.2: a WebSocket client has no address a server
    could open a connection to; responses follow the connection, §5.2 and RFC 3581).
    That host is :attr:`sent_by`.
    """

    def __init__(
        self,
        local: Address,
        *,
        transport: str = "UDP",
        reliable: bool | None = None,
        rng: random.Random | None = None,
        auto_trying: bool = True,
        max_transactions: int = MAX_TRANSACTIONS,
    ) -> None:
        self.local = local
        self.transport = transport.upper()
        self.reliable = self.transport != "UDP" if reliable is None else reliable
        self.auto_trying = auto_trying
        self.max_transactions = max_transactions
        self._rng = default_rng(rng)
        host, port = local
        #: the sent-by of our Via (§18.2.1): ``host:port``, or ``<random>.invalid`` on
        #: WebSocket (RFC 7118 §5.2)
        self.sent_by = (
            random_text(self._rng, _HOST_ALPHABET, 12) + ".invalid"
            if self.transport in _WEBSOCKET
            else f"{_host(host)}:{port}"
        )
        self._txs: dict[str, _Tx] = {}
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = 0
        self._out: list[tuple[bytes, Address]] = []
        self._events = EventQueue()
        self._now = 0.0
        #: datagrams that did not parse, or matched nothing they could act on
        self.dropped = 0
        #: malformed requests answered (400, 505, ...), a subset of ``dropped``
        self.errors_answered = 0
        self._error_tokens = float(ERROR_ANSWERS_PER_SECOND)
        self._error_time = 0.0
        #: told every message in and out, every state a transaction enters and every
        #: timer that fires (a :class:`~pyrtcstack.sip.SipTracer`; the
        #: :class:`~pyrtcstack.sip.UserAgent` sets it with its own)
        self.observer: SipObserver | None = None

    # -- the core contract ---------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """A UDP datagram (§18.3); malformed ones are dropped and counted, and a
        malformed request is answered when it can be (:meth:`receive_malformed`)."""
        self._now = now
        if self.observer is not None:  # observation point: the wire, in
            self.observer.message_received(data, addr, now)
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self._malformed(data, exc, addr)
            return
        self._receive(message, addr)

    def receive_malformed(
        self, data: bytes, error: SipParseError, addr: Address, now: float
    ) -> None:
        """A message that did not parse (``error``): dropped and counted, and a request
        answered statelessly to ``addr`` with ``error``'s status (400, 505, 513) and the
        reason, when its Via, From, To, Call-ID and CSeq can be read
        (:func:`~pyrtcstack.sip.reject.error_response`), at most
        :data:`ERROR_ANSWERS_PER_SECOND` a second. Drivers of stream transports pass the
        head a framer could not parse (TCP) or a whole WebSocket message."""
        self._now = now
        if self.observer is not None:  # observation point: the wire, in (a stream's)
            self.observer.message_received(data, addr, now)
        self._malformed(data, error, addr)

    def _malformed(self, data: bytes, error: SipParseError, addr: Address) -> None:
        now = self._now
        self.dropped += 1
        elapsed = max(0.0, now - self._error_time)
        self._error_time = max(self._error_time, now)
        self._error_tokens = min(
            float(ERROR_ANSWERS_PER_SECOND),
            self._error_tokens + elapsed * ERROR_ANSWERS_PER_SECOND,
        )
        if self._error_tokens < 1.0:
            return
        answer = error_response(data, error, random_text(self._rng, _HOST_ALPHABET, 16))
        if answer is not None:
            self._error_tokens -= 1.0
            self.errors_answered += 1
            self._send(answer, addr)

    def transport_error(self, destination: Address, now: float) -> None:
        """The transport could not deliver to ``destination`` (a connection refused, a
        TLS handshake failed): every client transaction waiting there ends at once with
        :class:`TransactionTimeout` (timer ``"transport"``) instead of at Timer B or F
        (§17.1.4, §8.1.3.1)."""
        self._now = now
        for tx in list(self._txs.values()):
            if (
                not tx.server
                and tx.peer == destination
                and tx.state in (TxState.CALLING, TxState.TRYING, TxState.PROCEEDING)
            ):
                self._events.push(TransactionTimeout(tx.key, "transport"))
                self._terminate(tx)

    def receive_message(self, message: Message, addr: Address, now: float) -> None:
        """A whole message (from a :class:`~pyrtcstack.sip.StreamFramer` on TCP)."""
        self._now = now
        if self.observer is not None:  # observation point: the wire, in (a stream)
            self.observer.message_received(message, addr, now)
        self._receive(message, addr)

    def _receive(self, message: Message, addr: Address) -> None:
        if isinstance(message, Request):
            self._on_request(message, addr)
        else:
            self._on_response(message, addr)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        self._now = now
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        if self._out:
            return self._now  # pending output is a deadline (common/core.py)
        heap = self._heap
        while heap:
            when, _, key, name = heap[0]
            tx = self._txs.get(key)
            if tx is not None and tx.timers.get(name) == when:
                return when
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        self._now = now
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, key, name = heapq.heappop(heap)
            tx = self._txs.get(key)
            if tx is None or tx.timers.get(name) != when:
                continue
            del tx.timers[name]
            self._fire(tx, name)

    def next_event(self) -> Event | None:
        return self._events.pop()

    # -- API -----------------------------------------------------------------------

    def new_branch(self) -> str:
        """A fresh branch id: the magic cookie and 22 random characters (§8.1.1.7)."""
        return MAGIC_COOKIE + random_text(self._rng, _BRANCH_ALPHABET, 22)

    def state(self, key: str) -> TxState:
        tx = self._txs.get(key)
        return TxState.TERMINATED if tx is None else tx.state

    def __len__(self) -> int:
        return len(self._txs)

    def send_request(self, request: Request, destination: Address, now: float) -> str:
        """Start a client transaction (§17.1) and return its key.

        Without a Via, one naming ``local`` with a fresh branch and ``rport`` (RFC 3581)
        is put on top; a Via given by the caller must carry a ``z9hG4bK`` branch. An ACK
        is sent without a transaction (§17.1.1.3: the ACK to a 2xx is the TU's) and
        returns its branch.
        """
        self._now = now
        vias = request.get_all("Via")
        if not vias:
            branch = self.new_branch()
            via = f"SIP/2.0/{self.transport} {self.sent_by};branch={branch};rport"
            request = Request(request.method, request.uri, (("Via", via), *request.headers),
                              request.body)  # fmt: skip
        else:
            try:
                branch = request.vias[0].branch or ""
            except SipParseError as exc:
                raise SipUsageError(f"bad Via: {exc}") from None
            if not branch.startswith(MAGIC_COOKIE):
                raise SipUsageError(f"the top Via's branch must start with {MAGIC_COOKIE}")
        wire = request.encode()
        if request.method == "ACK":
            self._send(wire, destination)
            return branch
        key = _client_key(branch, request.method)
        if key in self._txs:
            raise SipUsageError(f"a transaction with branch {branch} exists")
        if len(self._txs) >= self.max_transactions:
            raise SipUsageError(f"more than {self.max_transactions} transactions")
        tx = _Tx(key, request, destination, server=False)
        tx.wire = wire
        self._txs[key] = tx
        self._send(wire, destination)
        if tx.invite:
            self._enter(tx, TxState.CALLING, first=True)
            if not self.reliable:
                self._set(tx, "A", T1)
            self._set(tx, "B", 64 * T1)
        else:
            self._enter(tx, TxState.TRYING, first=True)
            if not self.reliable:
                self._set(tx, "E", T1)
            self._set(tx, "F", 64 * T1)
        return key

    def send_response(self, key: str, response: Response, now: float) -> None:
        """Send a response in server transaction ``key`` (§17.2.1, §17.2.2)."""
        self._now = now
        tx = self._txs.get(key)
        if tx is None or not tx.server:
            raise SipUsageError(f"no server transaction {key}")
        final = response.status >= 200
        if tx.state not in (TxState.TRYING, TxState.PROCEEDING) and not (
            tx.state is TxState.ACCEPTED and 200 <= response.status < 300
        ):
            raise SipUsageError(f"transaction {key} is {tx.state.value}: no response now")
        wire = response.encode()
        tx.last_response = wire
        self._send(wire, tx.peer)
        if not final:
            self._enter(tx, TxState.PROCEEDING)
            return
        if tx.invite and response.status < 300:
            # RFC 6026 §7.1: Accepted, absorbing INVITE retransmissions for Timer L;
            # the TU (dialog) retransmits its 2xx itself (§13.3.1.4).
            if tx.state is not TxState.ACCEPTED:
                self._enter(tx, TxState.ACCEPTED)
                self._set(tx, "L", 64 * T1)
        elif tx.invite:
            self._enter(tx, TxState.COMPLETED)  # §17.2.1: wait for the ACK
            if not self.reliable:
                tx.interval = T1
                self._set(tx, "G", T1)
            self._set(tx, "H", 64 * T1)
        else:
            self._enter(tx, TxState.COMPLETED)  # §17.2.2
            self._set(tx, "J", 0.0 if self.reliable else 64 * T1)

    # -- inside --------------------------------------------------------------------

    def _send(self, data: bytes, addr: Address) -> None:
        if len(self._out) >= MAX_QUEUED:
            self.dropped += 1
            return
        self._out.append((data, addr))
        if self.observer is not None:  # observation point: the wire, out (as queued)
            self.observer.message_sent(data, addr, self._now)

    def _set(self, tx: _Tx, name: str, delay: float) -> None:
        when = self._now + delay
        tx.timers[name] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, tx.key, name))

    def _terminate(self, tx: _Tx) -> None:
        self._enter(tx, TxState.TERMINATED)
        tx.timers.clear()
        self._txs.pop(tx.key, None)
        self._events.push(TransactionTerminated(tx.key))

    def _enter(self, tx: _Tx, state: TxState, *, first: bool = False) -> None:
        """Every change of a transaction's state goes through here, and a new
        transaction enters its first state here (``first``)."""
        old = None if first else tx.state
        tx.state = state
        if self.observer is not None and old is not state:  # observation point: states
            self.observer.transaction_state(tx.key, tx.request.method, old, state, self._now)

    def _fire(self, tx: _Tx, name: str) -> None:
        if self.observer is not None:  # observation point: the timers
            self.observer.timer_fired(tx.key, tx.request.method, name, self._now)
        if name in ("A", "E", "G"):
            # A: §17.1.1.2 doubling without cap; E: §17.1.2.2 doubling up to T2 (and T2
            # in Proceeding); G: §17.2.1 doubling up to T2.
            if name == "A":
                tx.interval *= 2
            elif name == "E" and tx.state is TxState.PROCEEDING:
                tx.interval = T2
            else:
                tx.interval = min(2 * tx.interval, T2)
            wire = tx.last_response if name == "G" else tx.wire
            if wire is not None:
                self._send(wire, tx.peer)
            self._set(tx, name, tx.interval)
        elif name in ("B", "F", "H"):
            self._events.push(TransactionTimeout(tx.key, name))
            self._terminate(tx)
        else:  # D, I, J, K, L, M: the absorbing period is over
            self._terminate(tx)

    def _on_response(self, response: Response, addr: Address) -> None:
        # §17.1.3: the top Via's branch and the CSeq method name the client transaction
        try:
            branch = response.vias[0].branch or ""
            method = response.cseq.method
        except SipParseError:
            self.dropped += 1
            return
        tx = self._txs.get(_client_key(branch, method))
        if tx is None or tx.server:
            # a 2xx retransmission after the transaction ended: the dialog's business
            self._events.push(ResponseReceived(None, response, addr))
            return
        status = response.status
        if tx.invite:
            self._invite_client_response(tx, response, addr)
            return
        # §17.1.2.2: the non-INVITE client transaction
        if tx.state in (TxState.TRYING, TxState.PROCEEDING):
            if status < 200:
                self._enter(tx, TxState.PROCEEDING)
            else:
                self._enter(tx, TxState.COMPLETED)
                tx.timers.pop("E", None)
                tx.timers.pop("F", None)
                self._set(tx, "K", 0.0 if self.reliable else T4)
            self._events.push(ResponseReceived(tx.key, response, addr))
        # Completed: retransmissions absorbed

    def _invite_client_response(self, tx: _Tx, response: Response, addr: Address) -> None:
        status = response.status
        if tx.state in (TxState.CALLING, TxState.PROCEEDING):
            tx.timers.pop("A", None)
            if status < 200:
                self._enter(tx, TxState.PROCEEDING)
                tx.timers.pop("B", None)  # Timer B only runs in Calling (§17.1.1.2)
            elif status < 300:
                # RFC 6026 §7.2: Accepted, so retransmitted 2xx reach the TU via Timer M
                self._enter(tx, TxState.ACCEPTED)
                tx.timers.pop("B", None)
                self._set(tx, "M", 64 * T1)
            else:
                self._enter(tx, TxState.COMPLETED)
                tx.timers.pop("B", None)
                tx.ack = _ack_for(tx.request, response)
                self._send(tx.ack, tx.peer)
                self._set(tx, "D", 0.0 if self.reliable else 32.0)
            self._events.push(ResponseReceived(tx.key, response, addr))
        elif tx.state is TxState.ACCEPTED and 200 <= status < 300:
            self._events.push(ResponseReceived(tx.key, response, addr))
        elif tx.state is TxState.COMPLETED and status >= 300 and tx.ack is not None:
            self._send(tx.ack, tx.peer)  # §17.1.1.2: ACK every retransmitted final

    def _on_request(self, request: Request, addr: Address) -> None:
        try:
            via = request.vias[0]
        except SipParseError:
            self.dropped += 1
            return
        branch = via.branch or ""
        if not branch.startswith(MAGIC_COOKIE):
            # RFC 2543 peers (§17.2.3's longer matching rules) are not served
            self.dropped += 1
            return
        sent_by = f"{via.host.lower()}:{via.port or ''}"
        method = "INVITE" if request.method == "ACK" else request.method
        key = f"s|{branch}|{sent_by}|{method}"
        tx = self._txs.get(key)
        if tx is not None:
            self._server_retransmission(tx, request)
            return
        if request.method == "ACK":
            self._events.push(RequestReceived(None, request, addr))  # ACK to a 2xx
            return
        if len(self._txs) >= self.max_transactions:
            self.dropped += 1
            self._send(_stateless(request, 503, "Service Unavailable"), addr)
            return
        # Responses go back to the request's source address and port, as RFC 3581 (rport)
        # asks, whatever the Via's sent-by says (docs/sip.md, deviations).
        tx = _Tx(key, request, addr, server=True)
        self._txs[key] = tx
        self._enter(tx, TxState.PROCEEDING if tx.invite else TxState.TRYING, first=True)
        if tx.invite and self.auto_trying:
            # §17.2.1: 100 Trying at once, so the client stops retransmitting
            tx.last_response = _stateless(request, 100, "Trying")
            self._send(tx.last_response, tx.peer)
        self._events.push(RequestReceived(key, request, addr))

    def _server_retransmission(self, tx: _Tx, request: Request) -> None:
        if request.method == "ACK":
            if tx.state is TxState.COMPLETED:  # §17.2.1: the ACK for our 3xx-6xx
                self._enter(tx, TxState.CONFIRMED)
                tx.timers.pop("G", None)
                tx.timers.pop("H", None)
                self._set(tx, "I", 0.0 if self.reliable else T4)
            return
        # the request again: send the last response again (§17.2.1, §17.2.2)
        if tx.state in (TxState.PROCEEDING, TxState.COMPLETED) and tx.last_response:
            self._send(tx.last_response, tx.peer)


def _client_key(branch: str, method: str) -> str:
    return f"c|{branch}|{'INVITE' if method == 'ACK' else method}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _copy(request: Request, names: tuple[str, ...]) -> list[tuple[str, str]]:
    keys = {n.lower() for n in names}
    return [(n, v) for n, v in request.headers if n.lower() in keys]


def _stateless(request: Request, status: int, reason: str) -> bytes:
    """A response built from the request alone (§8.2.6: Via, From, To, Call-ID, CSeq)."""
    headers = _copy(request, ("Via", "From", "To", "Call-ID", "CSeq"))
    return Response(status, reason, tuple(headers)).encode()


def _ack_for(invite: Request, response: Response) -> bytes:
    """§17.1.1.3: the ACK for a 3xx-6xx, inside the transaction: the INVITE's Request-URI,
    top Via, From, Call-ID, CSeq number and Route; To from the response (its tag)."""
    headers: list[tuple[str, str]] = [("Via", invite.get_all("Via")[0])]
    headers += _copy(invite, ("Route",))
    headers += [
        ("From", invite.get("From") or ""),
        ("To", response.get("To") or ""),
        ("Call-ID", invite.get("Call-ID") or ""),
        ("CSeq", f"{invite.cseq.number} ACK"),
        ("Max-Forwards", "70"),
    ]
    return Request("ACK", invite.uri, tuple(headers)).encode()
