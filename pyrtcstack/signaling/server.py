"""A WebSocket signaling server with rooms (RFC 6455 through the ``websockets`` library).

Protocol: JSON text messages (docs/signaling.md).

Client → server:

* ``{"type": "create"}`` → ``{"type": "created", "room": ID, "peer": YOU}``: a new room with
  an unguessable id (:data:`ROOM_ID_BYTES` random bytes from :mod:`secrets`), you in it;
* ``{"type": "join", "room": ID}`` → ``{"type": "joined", "room": ID, "peer": YOU,
  "peers": [...]}`` and everyone else gets ``{"type": "peer-joined", "peer": YOU}``;
  an unknown id or a full room gives ``{"type": "error", ...}``;
* ``{"type": "signal", "data": ANY, "to": PEER?}``: relayed as ``{"type": "signal",
  "from": YOU, "data": ANY}`` to the other members of your room (or just to ``to``);
* ``{"type": "leave"}`` (or closing the connection): the others get ``{"type":
  "peer-left", "peer": YOU}``; an empty room is deleted.

Limits: a message is at most :data:`MAX_MESSAGE_BYTES` (bigger ones close the connection,
code 1009), each connection may send :data:`RATE_BURST` messages at once and
:data:`RATE_PER_SECOND` on average (beyond that: an error, then the connection is closed
with code 1008 after :data:`MAX_RATE_ERRORS`), rooms hold :data:`MAX_ROOM_MEMBERS` peers,
and the server holds at most :data:`MAX_ROOMS` rooms. Only members of a room ever see its
messages. TLS: pass an :class:`ssl.SSLContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_RATE_ERRORS",
    "MAX_ROOMS",
    "MAX_ROOM_MEMBERS",
    "RATE_BURST",
    "RATE_PER_SECOND",
    "ROOM_ID_BYTES",
    "SignalingServer",
]

#: Random bytes in a room id (base64url: 22 characters, 128 bits: not guessable).
ROOM_ID_BYTES = 16
#: Largest WebSocket message accepted (a description with many candidates fits easily).
MAX_MESSAGE_BYTES = 64 * 1024
#: Peers in one room.
MAX_ROOM_MEMBERS = 2
#: Rooms the server holds at once.
MAX_ROOMS = 10_000
#: Token bucket per connection: burst size and refill rate (messages per second).
RATE_BURST = 50
RATE_PER_SECOND = 20.0
#: Rate-limit errors after which the connection is closed (code 1008, policy violation).
MAX_RATE_ERRORS = 3


@dataclass(eq=False)
class _Member:
    connection: ServerConnection
    peer: str
    room: str | None = None
    tokens: float = RATE_BURST
    refilled: float = field(default_factory=time.monotonic)
    rate_errors: int = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled) * RATE_PER_SECOND)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class SignalingServer:
    """``server = await SignalingServer().start("127.0.0.1", 0, ssl_context=None)``;
    ``server.url`` is then ``ws://127.0.0.1:PORT`` (``wss://`` with TLS)."""

    def __init__(self, *, max_room_members: int = MAX_ROOM_MEMBERS) -> None:
        self.max_room_members = max_room_members
        self.rooms: dict[str, dict[str, _Member]] = {}
        self._server: Server | None = None
        self.url = ""
        #: Counters for tests and logs.
        self.relayed = 0
        self.rejected = 0

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        self._server = await serve(
            self._serve,
            host,
            port,
            ssl=ssl_context,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=16,
            ping_interval=20,
            ping_timeout=20,
        )
        sock = next(iter(self._server.sockets))
        sock_host, sock_port = sock.getsockname()[:2]
        shown = f"[{sock_host}]" if ":" in sock_host else sock_host
        self.url = f"{'wss' if ssl_context else 'ws'}://{shown}:{sock_port}"
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    # ------------------------------------------------------------------ per connection
    async def _serve(self, connection: ServerConnection) -> None:
        member = _Member(connection, secrets.token_urlsafe(6))
        try:
            async for raw in connection:
                if not member.allow():
                    member.rate_errors += 1
                    self.rejected += 1
                    if member.rate_errors >= MAX_RATE_ERRORS:
                        # Closing from inside the receive loop could wait for a
                        # close frame stuck behind the backlog: fail fast instead.
                        connection.protocol.fail(1008, "rate limit")
                        for data in connection.protocol.data_to_send():
                            if data:
                                connection.transport.write(data)
                        connection.transport.close()
                        break
                    await self._error(member, "rate limit: slow down")
                    continue
                if not isinstance(raw, str):
                    await self._error(member, "send JSON text messages")
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    await self._error(member, "not JSON")
                    continue
                if not isinstance(message, dict):
                    await self._error(member, "a message is a JSON object")
                    continue
                await self._handle(member, message)
        except ConnectionClosed:
            pass
        finally:
            await self._leave(member)

    async def _handle(self, member: _Member, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "create":
            if member.room is not None:
                await self._leave(member)
            if len(self.rooms) >= MAX_ROOMS:
                await self._error(member, "server full")
                return
            new_room = secrets.token_urlsafe(ROOM_ID_BYTES)
            self.rooms[new_room] = {member.peer: member}
            member.room = new_room
            await self._send(member, {"type": "created", "room": new_room, "peer": member.peer})
        elif kind == "join":
            room = message.get("room")
            members = self.rooms.get(room) if isinstance(room, str) else None
            if members is None or not isinstance(room, str):
                await self._error(member, "no such room")
                return
            if member.room == room:
                return
            if len(members) >= self.max_room_members:
                await self._error(member, "room full")
                return
            if member.room is not None:
                await self._leave(member)
            others = list(members.values())
            members[member.peer] = member
            member.room = room
            await self._send(
                member,
                {
                    "type": "joined",
                    "room": room,
                    "peer": member.peer,
                    "peers": [m.peer for m in others],
                },
            )
            for other in others:
                await self._send(other, {"type": "peer-joined", "peer": member.peer})
        elif kind == "signal":
            if member.room is None:
                await self._error(member, "join a room first")
                return
            members = self.rooms.get(member.room, {})
            target = message.get("to")
            out = {"type": "signal", "from": member.peer, "data": message.get("data")}
            for peer, other in list(members.items()):
                if other is member or (target is not None and peer != target):
                    continue
                await self._send(other, out)
                self.relayed += 1
        elif kind == "leave":
            await self._leave(member)
            await self._send(member, {"type": "left"})
        else:
            await self._error(member, f"unknown message type {kind!r}")

    async def _leave(self, member: _Member) -> None:
        room = member.room
        if room is None:
            return
        member.room = None
        members = self.rooms.get(room)
        if members is None:
            return
        members.pop(member.peer, None)
        if not members:
            del self.rooms[room]
            return
        for other in list(members.values()):
            await self._send(other, {"type": "peer-left", "peer": member.peer})

    @staticmethod
    async def _send(member: _Member, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed):
            await member.connection.send(json.dumps(message))

    async def _error(self, member: _Member, reason: str) -> None:
        await self._send(member, {"type": "error", "reason": reason})
