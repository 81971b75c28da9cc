"""asyncio driver for the SIP user agent (:class:`pyrtcstack.sip.UserAgent`) over UDP or TCP.

Over UDP, the single-socket pattern of :mod:`pyrtcstack.aio.endpoint`: one socket, one
core, one re-armed timer. Over TCP (RFC 3261 §18.3), :class:`TcpEndpoint` keeps the same
shape: one listening socket, one connection per peer address (opened on the first
message to it, or accepted), each cut into messages by a
:class:`~pyrtcstack.sip.StreamFramer`, and the core's ``datagrams_to_send`` written to the
connection of their address. The socket is bound first so the agent's Via and Contact
name its real port. :class:`SipPhone` adds awaitables on top of the events:

    phone = await SipPhone.open(("127.0.0.1", 0), user="alice")
    call_id = await phone.call("sip:bob@127.0.0.1:5070", ("127.0.0.1", 5070), offer)
    ...
    await phone.hang_up(call_id)
    phone.close()
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..common.core import Address, Event
from ..sip import (
    CallAnswered,
    CallEnded,
    CallEstablished,
    CallFailed,
    DigestClient,
    IncomingCall,
    Message,
    Registered,
    RegistrationFailed,
    ReInviteAnswered,
    ReInviteFailed,
    SipParseError,
    StreamFramer,
    Unregistered,
    UserAgent,
)
from .endpoint import CoreEndpoint, CoreTimer
from .stream import StreamEndpoint

if TYPE_CHECKING:
    from .sip_ws import WsEndpoint

__all__ = ["MAX_CONNECTIONS", "MAX_PENDING_CALLS", "SipCallError", "SipPhone", "TcpEndpoint"]

#: Incoming calls queued for :meth:`SipPhone.incoming` (more are rejected with 486).
MAX_PENDING_CALLS = 16
#: TCP connections at once (accepted and opened); past it new ones are closed at once.
MAX_CONNECTIONS = 64
#: Octets queued for a connection: still being opened, or written faster than the peer
#: reads (asyncio's write buffer). Past it the message is dropped and counted, and an
#: open connection is aborted (a peer that does not read has stopped taking part).
MAX_PENDING_BYTES = 262_144


class _Connection(StreamEndpoint[Message]):
    """One TCP connection of a :class:`TcpEndpoint`: a :class:`StreamEndpoint` into the
    agent's one core, which the endpoint drains (one timer for every connection)."""

    def __init__(self, owner: TcpEndpoint, key: Address | None) -> None:
        self.sip_framer = StreamFramer()
        super().__init__(
            self.sip_framer,
            SipParseError,
            peer=key,
            receive=owner.core.receive_message,
            drain=owner.drain,
        )
        self.owner = owner
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        accepted = self.peer is None  # accepted: known by the peer's address
        super().connection_made(transport)
        if accepted:
            if self.peer is None or len(self.owner.connections) >= MAX_CONNECTIONS:
                self.owner.refused += 1
                self.transport = None  # nothing it sends is read
                transport.close()
                return
            self.owner.connections[self.peer] = self
        out = self.transport
        assert out is not None
        for data in self.pending:
            out.write(data)
        self.pending.clear()

    def send(self, data: bytes) -> None:
        """Write ``data``, or hold it while the connection is still opening; at most
        :data:`MAX_PENDING_BYTES` either way: past that it is dropped and counted, and
        an open connection whose peer does not read is aborted."""
        transport = self.transport
        if transport is not None:
            if transport.is_closing():
                self.owner.send_drops += 1
                return
            if transport.get_write_buffer_size() + len(data) > MAX_PENDING_BYTES:
                self.owner.send_drops += 1
                self.owner.overflows += 1
                transport.abort()  # frees the buffer; connection_lost forgets us
                return
            transport.write(data)
        elif sum(map(len, self.pending)) + len(data) <= MAX_PENDING_BYTES:
            self.pending.append(data)
        else:
            self.owner.send_drops += 1

    def framing_error(self, exc: Exception) -> None:
        # closed after this: a stream cannot be re-synchronised (§18.3); a request whose
        # head was read whole gets its 400 (505, 513) first (RFC 3261 §21.4.1)
        self.owner.parse_errors += 1
        head = self.sip_framer.failed_head
        if head is not None and self.peer is not None and isinstance(exc, SipParseError):
            self.owner.core.receive_malformed(head, exc, self.peer, self._loop.time())
            self.owner.drain()

    def deliver(self, frames: list[Message], now: float) -> None:
        framer = self.sip_framer
        if framer.crlfs >= 2:  # RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong
            framer.crlfs = 0
            if self.transport is not None:
                self.transport.write(b"\r\n")
        super().deliver(frames, now)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.peer is not None and self.owner.connections.get(self.peer) is self:
            del self.owner.connections[self.peer]


class _Sender(Protocol):
    def send(self, data: bytes) -> None: ...


class _DropCounter(Protocol):
    send_drops: int


def drain_to_connections(
    core: UserAgent,
    loop: asyncio.AbstractEventLoop,
    connection: Callable[[Address], _Sender | None],
    on_event: Callable[[Event], None],
    counters: _DropCounter,
) -> None:
    """The drain of a stream transport's endpoint (TCP here, WebSocket in
    :mod:`pyrtcstack.aio.sip_ws`): each message to the connection for its address (made
    on demand; none: dropped and counted), each event out, until the core is quiet. The
    caller then re-arms its one timer from ``core.get_timer()``."""
    while True:
        progressed = False
        for data, addr in core.datagrams_to_send(loop.time()):
            progressed = True
            conn = connection(addr)
            if conn is None:
                counters.send_drops += 1
            else:
                conn.send(data)
        while (event := core.next_event()) is not None:
            progressed = True
            on_event(event)
        if not progressed:
            return


class TcpEndpoint:
    """One :class:`~pyrtcstack.sip.UserAgent` over TCP: see the module docstring."""

    def __init__(self, core: UserAgent, on_event: Callable[[Event], None]) -> None:
        self.core = core
        self.on_event = on_event
        self.connections: dict[Address, _Connection] = {}
        self.server: asyncio.Server | None = None
        self.parse_errors = 0
        self.send_drops = 0
        #: accepted connections closed at once: :data:`MAX_CONNECTIONS` were open
        self.refused = 0
        #: connections aborted because the peer did not read (:data:`MAX_PENDING_BYTES`)
        self.overflows = 0
        self._loop = asyncio.get_running_loop()
        self._timer = CoreTimer(self._loop, self._on_timer)
        self._tasks: set[asyncio.Task[None]] = set()

    def _on_timer(self, now: float) -> None:
        self.core.handle_timer(now)
        self.drain()

    def _connection(self, addr: Address) -> _Connection | None:
        conn = self.connections.get(addr)
        if conn is not None:
            return conn
        if len(self.connections) >= MAX_CONNECTIONS:
            return None
        conn = _Connection(self, addr)
        self.connections[addr] = conn

        async def connect() -> None:
            try:
                await self._loop.create_connection(lambda: conn, addr[0], addr[1])
            except OSError:
                # the requests waiting for it fail now, not at Timer B/F (§17.1.4)
                if self.connections.get(addr) is conn:
                    del self.connections[addr]
                self.core.transport_error(addr, self._loop.time())
                self.drain()

        task = self._loop.create_task(connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    def drain(self) -> None:
        drain_to_connections(self.core, self._loop, self._connection, self.on_event, self)
        self._timer.arm(self.core.get_timer())

    def close(self) -> None:
        self._timer.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()


class SipCallError(Exception):
    """A call or registration failed: ``status`` is the SIP status (408 on a timeout)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class SipPhone:
    """A :class:`~pyrtcstack.sip.UserAgent` on a UDP socket (see the module docstring)."""

    def __init__(self, agent: UserAgent, endpoint: CoreEndpoint | TcpEndpoint | WsEndpoint) -> None:
        self.agent = agent
        self.endpoint = endpoint
        self.events: list[Event] = []  # every event, in order (bounded below)
        #: called with every event as it happens, before any awaiting code resumes
        self.listeners: list[Callable[[Event], None]] = []
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []
        self._incoming: deque[IncomingCall] = deque()
        self._incoming_ready = asyncio.Event()

    @classmethod
    async def open(
        cls,
        local: Address = ("127.0.0.1", 0),
        *,
        user: str = "pyrtcstack",
        credentials: DigestClient | None = None,
        transport: str = "UDP",
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> SipPhone:
        """Bind ``local`` (UDP, or a TCP listener with ``transport="TCP"``, or a ``ws://``
        listener with ``transport="WS"``, RFC 7118) and start.

        ``transport="WSS"`` is WebSocket over TLS: connections we open are ``wss://``,
        verified with ``client_ssl`` (default: ``ssl.create_default_context()``, the
        system store); we listen for ``wss://`` only with ``server_ssl`` (a context with
        our certificate), else not at all (a client, as a browser is)."""
        loop = asyncio.get_running_loop()
        kind = transport.upper()
        if kind not in ("UDP", "TCP", "WS", "WSS"):
            raise ValueError(f"unknown SIP transport {transport!r}")
        ws = kind in ("WS", "WSS")
        tcp = kind == "TCP" or ws
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        if tcp:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(local)
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        agent = UserAgent(
            (str(host), int(port)), user=user, credentials=credentials, transport=kind
        )
        phone: SipPhone | None = None

        def on_event(event: Event) -> None:
            assert phone is not None
            phone._on_event(event)

        endpoint: CoreEndpoint | TcpEndpoint | WsEndpoint
        if ws:
            from .sip_ws import WsEndpoint

            if kind == "WSS" and client_ssl is None:
                client_ssl = ssl.create_default_context()
            endpoint = WsEndpoint(
                agent,
                on_event,
                server_ssl=server_ssl,
                client_ssl=client_ssl if kind == "WSS" else None,
            )
            if kind == "WS" or server_ssl is not None:
                sock.listen(16)
                await endpoint.listen(sock)
            else:
                sock.close()  # a wss:// client only: nothing to listen with
        elif tcp:
            sock.listen(16)
            endpoint = TcpEndpoint(agent, on_event)
            tcp_endpoint = endpoint
            endpoint.server = await loop.create_server(
                lambda: _Connection(tcp_endpoint, None), sock=sock
            )
        else:
            _, endpoint = await loop.create_datagram_endpoint(
                lambda: CoreEndpoint(agent, on_event), sock=sock
            )
        phone = cls(agent, endpoint)
        return phone

    @property
    def local(self) -> Address:
        return self.agent.local

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)
        if len(self.events) > 1000:
            del self.events[:500]
        if isinstance(event, IncomingCall):
            if len(self._incoming) >= MAX_PENDING_CALLS:
                self.agent.reject(event.call_id, self._now(), 486, "Busy Here")
                return
            self._incoming.append(event)
            self._incoming_ready.set()
        for matcher, future in list(self._waiters):
            if not future.done() and matcher(event):
                future.set_result(event)
                self._waiters.remove((matcher, future))

    async def _wait(
        self, matcher: Callable[[Event], bool], timeout: float, *, past: bool = False
    ) -> Event:
        if past:  # the event may already have happened (a call ended while we were away)
            for event in self.events:
                if matcher(event):
                    return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((matcher, future))
        try:
            # not asyncio.wait_for: on Python 3.11 it returns the result, and loses a
            # cancellation (Ctrl-C) that lands as the future completes
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if (matcher, future) in self._waiters:
                self._waiters.remove((matcher, future))

    async def register(
        self, registrar: str, server: Address, *, timeout: float = 40.0, expires: int = 3600
    ) -> int:
        """REGISTER and return the expiry granted; :class:`SipCallError` on a failure. The
        agent refreshes the binding before it lapses, until :meth:`unregister`."""
        call_id = self.agent.register(registrar, server, self._now(), expires=expires)
        self.endpoint.drain()
        event = await self._wait(
            lambda e: isinstance(e, Registered | RegistrationFailed) and e.call_id == call_id,
            timeout,
        )
        if isinstance(event, RegistrationFailed):
            raise SipCallError(event.status, event.reason)
        assert isinstance(event, Registered)
        return event.expires

    async def unregister(self, *, timeout: float = 40.0) -> None:
        """Remove every binding this phone holds (Expires: 0, RFC 3261 §10.2.2) and wait for
        the registrars' answers; :class:`SipCallError` if one refused or timed out."""

        def removed(call_id: str) -> Callable[[Event], bool]:
            return lambda e: (
                isinstance(e, Unregistered | RegistrationFailed) and (e.call_id == call_id)
            )

        waiting = []
        for call_id in self.agent.registrations:
            self.agent.unregister(call_id, self._now())
            waiting.append(self._wait(removed(call_id), timeout, past=True))
        self.endpoint.drain()
        for event in await asyncio.gather(*waiting):
            if isinstance(event, RegistrationFailed):
                raise SipCallError(event.status, event.reason)

    async def call(
        self, target: str, server: Address, offer: bytes | None, *, timeout: float = 60.0
    ) -> tuple[str, bytes | None]:
        """INVITE ``target`` and wait for the answer: ``(call_id, sdp of the 200)``."""
        call_id = self.agent.invite(target, server, self._now(), offer)
        self.endpoint.drain()
        event = await self._wait(
            lambda e: isinstance(e, CallAnswered | CallFailed) and e.call_id == call_id,
            timeout,
        )
        if isinstance(event, CallFailed):
            raise SipCallError(event.status, event.reason)
        assert isinstance(event, CallAnswered)
        return call_id, event.sdp

    async def incoming(self) -> IncomingCall:
        """The next incoming call (answer it with :meth:`answer` or reject it)."""
        while not self._incoming:
            self._incoming_ready.clear()
            await self._incoming_ready.wait()
        return self._incoming.popleft()

    async def answer(self, call_id: str, sdp: bytes | None, *, ring: bool = True,
                     timeout: float = 40.0) -> bytes | None:  # fmt: skip
        """180 (optional) and 200 with ``sdp``; wait for the ACK and return its body."""
        if ring:
            self.agent.ring(call_id, self._now())
        self.agent.answer(call_id, sdp, self._now())
        self.endpoint.drain()
        event = await self._wait(
            lambda e: (
                isinstance(e, CallEstablished | CallFailed | CallEnded) and e.call_id == call_id
            ),
            timeout,
        )
        if isinstance(event, CallEstablished):
            return event.sdp
        if isinstance(event, CallFailed):
            raise SipCallError(event.status, event.reason)
        raise SipCallError(487, "ended before the ACK")

    def cancel(self, call_id: str) -> None:
        """CANCEL a call not yet answered (:meth:`call` then raises 487, or, if the 200
        wins the race, the call is ACKed and ended with a BYE)."""
        self.agent.cancel(call_id, self._now())
        self.endpoint.drain()

    def reject(self, call_id: str, status: int = 486, reason: str = "Busy Here") -> None:
        self.agent.reject(call_id, self._now(), status, reason)
        self.endpoint.drain()

    async def wait_ended(self, call_id: str, timeout: float = 60.0) -> bool:
        """Wait for the call to end; True when the peer hung up."""
        event = await self._wait(
            lambda e: isinstance(e, CallEnded) and e.call_id == call_id, timeout, past=True
        )
        assert isinstance(event, CallEnded)
        return event.by_remote

    async def reinvite(self, call_id: str, offer: bytes, *, timeout: float = 40.0) -> bytes | None:
        """A re-INVITE with ``offer`` (RFC 3261 §14.1); the answer of its 200, or
        :class:`SipCallError` (the call goes on with the old session)."""
        self.agent.reinvite(call_id, offer, self._now())
        self.endpoint.drain()
        event = await self._wait(
            lambda e: isinstance(e, ReInviteAnswered | ReInviteFailed) and e.call_id == call_id,
            timeout,
        )
        if isinstance(event, ReInviteFailed):
            raise SipCallError(event.status, event.reason)
        assert isinstance(event, ReInviteAnswered)
        return event.sdp

    def answer_reinvite(self, call_id: str, answer: bytes) -> None:
        """200 with ``answer`` to a :class:`~pyrtcstack.sip.ReInvited` (see ``listeners``)."""
        self.agent.answer_reinvite(call_id, answer, self._now())
        self.endpoint.drain()

    def reject_reinvite(self, call_id: str, status: int = 488,
                        reason: str = "Not Acceptable Here") -> None:  # fmt: skip
        self.agent.reject_reinvite(call_id, self._now(), status, reason)
        self.endpoint.drain()

    async def hang_up(self, call_id: str, timeout: float = 40.0) -> None:
        """BYE, and wait for its answer (or its timeout)."""
        waiter = asyncio.ensure_future(self.wait_ended(call_id, timeout))
        self.agent.bye(call_id, self._now())
        self.endpoint.drain()
        await waiter

    def close(self) -> None:
        self.endpoint.close()
