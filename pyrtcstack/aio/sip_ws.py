"""SIP over WebSocket (RFC 7118) for :class:`~pyrtcstack.aio.sip.SipPhone`.

The same shape as :class:`~pyrtcstack.aio.sip.TcpEndpoint`: one listening socket (a
``ws://`` server with the ``sip`` subprotocol, RFC 7118 §4), one connection per peer
address (opened on the first message to it, or accepted). Each WebSocket message is one
whole SIP message (§5: no Content-Length framing needed, none trusted), so the core's
``datagrams_to_send`` are written one per message. The Via transport is ``WS``
(§5.2) and the Contact carries ``;transport=ws``. ``wss://`` is not done.
"""

from __future__ import annotations

import asyncio
import socket
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
#: Messages queued per connection (being opened, or slow); past it they are dropped.
MAX_QUEUED = 256
_MAX_MESSAGE = MAX_HEADER_BYTES + MAX_BODY_BYTES
_SIP = Subprotocol("sip")  # RFC 7118 §4: the WebSocket subprotocol


class _WsConnection:
    def __init__(self, owner: WsEndpoint, key: Address) -> None:
        self.owner = owner
        self.key = key
        self.queue: deque[bytes] = deque()
        self.ready = asyncio.Event()

    def send(self, data: bytes) -> None:
        if len(self.queue) >= MAX_QUEUED:
            self.owner.send_drops += 1
            return
        self.queue.append(data)
        self.ready.set()

    async def run(self, ws: ClientConnection | ServerConnection) -> None:
        """Write what is queued and read what comes, until either side closes."""
        writer = asyncio.ensure_future(self._write(ws))
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else message
                try:
                    parsed = parse_message(data)
                except SipParseError:
                    self.owner.parse_errors += 1
                    continue
                self.owner.core.receive_message(parsed, self.key, self.owner.loop.time())
                self.owner.drain()
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
            if self.owner.connections.get(self.key) is self:
                del self.owner.connections[self.key]

    async def _write(self, ws: ClientConnection | ServerConnection) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.queue:
                # RFC 7118 §5: SIP is UTF-8 text but the body may not be; binary frames
                await ws.send(self.queue.popleft())


class WsEndpoint:
    """One :class:`~pyrtcstack.sip.UserAgent` over WebSocket: see the module docstring."""

    def __init__(self, core: UserAgent, on_event: Callable[[Event], None]) -> None:
        self.core = core
        self.on_event = on_event
        self.connections: dict[Address, _WsConnection] = {}
        self.server: Server | None = None
        self.parse_errors = 0
        self.send_drops = 0
        self.loop = asyncio.get_running_loop()
        self._timer = CoreTimer(self.loop, self._on_timer)
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, sock: socket.socket) -> None:
        self.server = await serve(
            self._accepted,
            sock=sock,
            subprotocols=[_SIP],
            max_size=_MAX_MESSAGE,
        )

    async def _accepted(self, ws: ServerConnection) -> None:
        if ws.subprotocol != "sip" or len(self.connections) >= MAX_WS_CONNECTIONS:
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

        async def open_and_run() -> None:
            try:
                ws = await connect(
                    f"ws://{host}:{addr[1]}", subprotocols=[_SIP],
                    max_size=_MAX_MESSAGE, open_timeout=10,
                )  # fmt: skip
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError):
                self.connections.pop(addr, None)  # the transaction times out (408)
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
