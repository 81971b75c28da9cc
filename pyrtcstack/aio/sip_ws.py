"""SIP over WebSocket (RFC 7118) for :class:`~pyrtcstack.aio.sip.SipPhone`.

The same shape as :class:`~pyrtcstack.aio.sip.TcpEndpoint`: one listening socket (a
``ws://`` server with the ``sip`` subprotocol, RFC 7118 §4), one connection per peer
address (opened on the first message to it, or accepted). Each WebSocket message is one
whole SIP message (§5: no Content-Length framing needed, none trusted), so the core's
``datagrams_to_send`` are written one per message. The Via transport is ``WS`` (or
``WSS``), its sent-by a random ``.invalid`` host, and the Contact carries that host and
``;transport=ws`` (§5.2; the agent's core does both). Responses and in-dialog requests
to a peer go back over the connection it came from (keyed by its address).

``wss://`` (§5, WebSocket over TLS, RFC 6455 §3): the server side takes an
:class:`ssl.SSLContext` with its certificate (``server_ssl``), the client side one that
verifies the server's (``client_ssl``; ``ssl.create_default_context()`` uses the system
store). A connection that cannot be opened (refused, a TLS failure) ends the requests
waiting for it at once (:meth:`~pyrtcstack.sip.TransactionLayer.transport_error`), and
:attr:`WsEndpoint.last_error` says why in one line.

A message that does not parse is answered with 400 (505, 513) when it is a request
whose Via, From, To, Call-ID and CSeq can be read (RFC 3261 §21.4.1), then dropped and
counted; the connection stays (each WebSocket message is whole, §5).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from ..common.core import Address, Event
from ..sip import MAX_BODY_BYTES, MAX_HEADER_BYTES, SipParseError, UserAgent, parse_message
from .endpoint import CoreTimer
from .sip import drain_to_connections

__all__ = ["MAX_WS_CONNECTIONS", "WsEndpoint"]

#: WebSocket connections at once (accepted and opened); past it new ones are refused.
MAX_WS_CONNECTIONS = 64
#: Messages queued per connection (being opened, or a peer that reads slowly or not at
#: all) ...
MAX_QUEUED = 256
#: ... and their octets. Past either, the message is dropped and counted, and an open
#: connection is closed (a peer that does not read has stopped taking part).
MAX_QUEUED_BYTES = 262_144
_MAX_MESSAGE = MAX_HEADER_BYTES + MAX_BODY_BYTES
_SIP = Subprotocol("sip")  # RFC 7118 §4: the WebSocket subprotocol


class _WsConnection:
    def __init__(self, owner: WsEndpoint, key: Address) -> None:
        self.owner = owner
        self.key = key
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.ws: ClientConnection | ServerConnection | None = None

    def send(self, data: bytes) -> None:
        if len(self.queue) >= MAX_QUEUED or self.queued_bytes + len(data) > MAX_QUEUED_BYTES:
            self.owner.send_drops += 1
            if self.ws is not None:  # open, and the peer is not reading: close it
                self.owner.overflows += 1
                self.queue.clear()
                self.queued_bytes = 0
                self.ws.transport.abort()
                self.ws = None
            return
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.ready.set()

    async def run(self, ws: ClientConnection | ServerConnection) -> None:
        """Write what is queued and read what comes, until either side closes."""
        self.ws = ws
        writer = asyncio.ensure_future(self._write(ws))
        owner = self.owner
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else message
                try:
                    parsed = parse_message(data)
                except SipParseError as exc:  # counted, maybe answered (RFC 3261 §21.4.1)
                    owner.parse_errors += 1
                    owner.core.receive_malformed(data, exc, self.key, owner.loop.time())
                    owner.drain()
                    continue
                owner.core.receive_message(parsed, self.key, owner.loop.time())
                owner.drain()
        except ConnectionClosed:
            pass
        finally:
            self.ws = None
            writer.cancel()
            if owner.connections.get(self.key) is self:
                del owner.connections[self.key]

    async def _write(self, ws: ClientConnection | ServerConnection) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                while self.queue:
                    data = self.queue.popleft()
                    self.queued_bytes -= len(data)
                    # RFC 7118 §5: SIP is UTF-8 text but the body may not be; binary frames
                    await ws.send(data)
        except ConnectionClosed:
            pass  # the reading side sees it too and cleans up


class WsEndpoint:
    """One :class:`~pyrtcstack.sip.UserAgent` over WebSocket: see the module docstring."""

    def __init__(
        self,
        core: UserAgent,
        on_event: Callable[[Event], None],
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.core = core
        self.on_event = on_event
        self.server_ssl = server_ssl
        self.client_ssl = client_ssl
        self.connections: dict[Address, _WsConnection] = {}
        self.server: Server | None = None
        self.parse_errors = 0
        self.send_drops = 0
        #: accepted connections closed at once (1013): :data:`MAX_WS_CONNECTIONS` open
        self.refused = 0
        #: connections closed because their queue overflowed (a peer that does not read)
        self.overflows = 0
        #: why the last connection we tried to open failed (one line), or ``None``
        self.last_error: str | None = None
        #: the host name a ``wss://`` server's certificate must name, by address (the
        #: name DNS found it under, RFC 3263); else the address itself is checked
        self.server_names: dict[Address, str] = {}
        self.loop = asyncio.get_running_loop()
        self._timer = CoreTimer(self.loop, self._on_timer)
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, sock: socket.socket) -> None:
        self.server = await serve(
            self._accepted,
            sock=sock,
            subprotocols=[_SIP],
            max_size=_MAX_MESSAGE,
            ssl=self.server_ssl,
        )

    async def _accepted(self, ws: ServerConnection) -> None:
        if ws.subprotocol != "sip" or len(self.connections) >= MAX_WS_CONNECTIONS:
            if ws.subprotocol == "sip":
                self.refused += 1
            await ws.close(1008 if ws.subprotocol != "sip" else 1013)
            return
        peer = ws.remote_address
        key = (str(peer[0]), int(peer[1]))
        conn = _WsConnection(self, key)
        self.connections[key] = conn
        await conn.run(ws)

    def _on_timer(self, now: float) -> None:
        self.core.handle_timer(now)
        self.drain()

    def _connection(self, addr: Address) -> _WsConnection | None:
        conn = self.connections.get(addr)
        if conn is not None:
            return conn
        if len(self.connections) >= MAX_WS_CONNECTIONS:
            return None
        conn = _WsConnection(self, addr)
        self.connections[addr] = conn
        host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        scheme = "ws" if self.client_ssl is None else "wss"
        url = f"{scheme}://{host}:{addr[1]}"
        name = self.server_names.get(addr) if self.client_ssl is not None else None

        async def open_and_run() -> None:
            try:
                ws = await connect(
                    url, subprotocols=[_SIP], max_size=_MAX_MESSAGE, open_timeout=10,
                    ssl=self.client_ssl, proxy=None, server_hostname=name,
                )  # fmt: skip
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                self.last_error = f"{url}: {_describe(exc)}"
                # the requests waiting for it fail now, not at Timer B/F (§17.1.4)
                if self.connections.get(addr) is conn:
                    del self.connections[addr]
                self.core.transport_error(addr, self.loop.time())
                self.drain()
                return
            async with ws:
                await conn.run(ws)

        task = self.loop.create_task(open_and_run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn

    def drain(self) -> None:
        drain_to_connections(self.core, self.loop, self._connection, self.on_event, self)
        self._timer.arm(self.core.get_timer())

    def close(self) -> None:
        self._timer.cancel()
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        self.connections.clear()


def _describe(exc: BaseException) -> str:
    """One line for a connection that could not be opened."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate was refused ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return "no WebSocket handshake within 10 s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
