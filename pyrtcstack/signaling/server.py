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

Exhaustion (issue 14; each is a keyword argument of :class:`SignalingServer`):

* at most :data:`MAX_CONNECTIONS_PER_IP` connections from one IP address and
  :data:`MAX_CONNECTIONS` in all (capped below the process's open-file limit): beyond
  that the opening handshake is answered HTTP 429 (per IP) or 503 (in all), and a
  connection that slips past in a race is closed with 1008;
* a connection that is in no room :data:`JOIN_TIMEOUT` seconds after it opened (or after
  it left its room) is closed with 1008;
* room creation is a token bucket per IP address (:data:`ROOM_CREATE_BURST` at once,
  :data:`ROOM_CREATE_PER_MINUTE` on average): beyond it, ``{"type": "error"}``;
* JSON nested deeper than :data:`MAX_JSON_DEPTH` closes the connection with 1008: the
  C decoder's RecursionError (past ~1000 levels; before, it escaped as code 1011 and a
  traceback per message) and an iterative depth walk of what parsed (only when the text
  has more brackets than the limit) both count as too deep.

Denials are counted in :attr:`SignalingServer.denied` and logged at most once per
reason every :data:`LOG_INTERVAL` seconds (logger ``pyrtcstack.signaling``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = [
    "JOIN_TIMEOUT",
    "LOG_INTERVAL",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_IP",
    "MAX_JSON_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_RATE_ERRORS",
    "MAX_ROOMS",
    "MAX_ROOM_MEMBERS",
    "RATE_BURST",
    "RATE_PER_SECOND",
    "ROOM_CREATE_BURST",
    "ROOM_CREATE_PER_MINUTE",
    "ROOM_ID_BYTES",
    "SignalingServer",
]

#: Random bytes in a room id (base64url: 22 characters, 128 bits: not guessable).
ROOM_ID_BYTES = 16


def new_room_id() -> str:
    """A random room id (CSPRNG) that never starts with ``-``: people type it after
    ``--join``, where argparse would take ``-abc…`` for an option."""
    while True:
        room = secrets.token_urlsafe(ROOM_ID_BYTES)
        if not room.startswith("-"):
            return room


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
#: Open connections from one IP address (a browser tab needs one).
MAX_CONNECTIONS_PER_IP = 32
#: Open connections in all; also kept 64 below the open-file limit (RLIMIT_NOFILE).
MAX_CONNECTIONS = 10_000
#: Seconds a connection may stay outside any room (after opening or leaving).
JOIN_TIMEOUT = 30.0
#: Room creation per IP address: burst, and the average rate per minute.
ROOM_CREATE_BURST = 10
ROOM_CREATE_PER_MINUTE = 10.0
#: Deepest JSON nesting accepted (a signal carries a description: depth 3 or 4).
MAX_JSON_DEPTH = 32
#: A denial reason is logged at most once per this many seconds.
LOG_INTERVAL = 60.0

_LOG = logging.getLogger("pyrtcstack.signaling")


def _ip_of(connection: ServerConnection) -> str:
    peer = connection.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def json_depth_exceeds(value: object, limit: int) -> bool:
    """True if the parsed JSON ``value`` nests arrays/objects deeper than ``limit``
    (an explicit stack, no recursion; stops at the first container past the limit)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


@dataclass(eq=False)
class _Member:
    connection: ServerConnection
    peer: str
    room: str | None = None
    tokens: float = RATE_BURST
    refilled: float = field(default_factory=time.monotonic)
    rate_errors: int = 0
    address: str = ""
    #: when the connection was last outside any room (opened, or left)
    outside_since: float = field(default_factory=time.monotonic)
    left: asyncio.Event | None = None

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled) * RATE_PER_SECOND)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(eq=False)
class _Bucket:
    """A token bucket (room creation per IP address)."""

    tokens: float
    refilled: float = field(default_factory=time.monotonic)

    def take(self, burst: float, per_second: float) -> bool:
        now = time.monotonic()
        self.tokens = min(burst, self.tokens + (now - self.refilled) * per_second)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _default_max_connections() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - 64))


class SignalingServer:
    """``server = await SignalingServer().start("127.0.0.1", 0, ssl_context=None)``;
    ``server.url`` is then ``ws://127.0.0.1:PORT`` (``wss://`` with TLS). The keyword
    arguments are the limits of the module docstring."""

    def __init__(
        self,
        *,
        max_room_members: int = MAX_ROOM_MEMBERS,
        max_connections_per_ip: int = MAX_CONNECTIONS_PER_IP,
        max_connections: int | None = None,
        join_timeout: float = JOIN_TIMEOUT,
        room_create_burst: int = ROOM_CREATE_BURST,
        room_create_per_minute: float = ROOM_CREATE_PER_MINUTE,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.max_room_members = max_room_members
        self.max_connections_per_ip = max_connections_per_ip
        self.max_connections = (
            _default_max_connections() if max_connections is None else max_connections
        )
        self.join_timeout = join_timeout
        self.room_create_burst = room_create_burst
        self.room_create_per_minute = room_create_per_minute
        self.max_json_depth = max_json_depth
        self.rooms: dict[str, dict[str, _Member]] = {}
        self._server: Server | None = None
        self.url = ""
        #: Open connections per IP address (entries removed at zero).
        self.connections: Counter[str] = Counter()
        self._buckets: dict[str, _Bucket] = {}
        self._logged: dict[str, float] = {}
        #: Counters for tests and logs.
        self.relayed = 0
        self.rejected = 0
        #: Denials by reason: "per-ip", "total", "join-timeout", "room-rate", "json-depth".
        self.denied: Counter[str] = Counter()

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        self._server = await serve(
            self._serve,
            host,
            port,
            ssl=ssl_context,
            process_request=self._admit,
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

    # ------------------------------------------------------------------ limits
    def _deny(self, reason: str, address: str, detail: str) -> None:
        """Count a denial; log it once per reason per LOG_INTERVAL (never a traceback)."""
        self.denied[reason] += 1
        now = time.monotonic()
        if now - self._logged.get(reason, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._logged[reason] = now
            _LOG.warning(
                "signaling: %s (%s; %d denials of this kind so far)",
                detail,
                address,
                self.denied[reason],
            )

    def _over_cap(self, address: str) -> str | None:
        if self.connections[address] >= self.max_connections_per_ip:
            return "per-ip"
        if sum(self.connections.values()) >= self.max_connections:
            return "total"
        return None

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """``process_request``: refuse the opening handshake when a cap is reached."""
        address = _ip_of(connection)
        over = self._over_cap(address)
        if over == "per-ip":
            self._deny(over, address, "too many connections from one address")
            return connection.respond(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"too many connections from your address (at most {self.max_connections_per_ip})\n",
            )
        if over == "total":
            self._deny(over, address, "server connection limit reached")
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "too many connections, try again later\n"
            )
        return None

    async def _watch_join(self, member: _Member) -> None:
        """Close a connection that stays outside any room for ``join_timeout`` seconds."""
        while True:
            deadline = member.outside_since + self.join_timeout
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            if member.room is None and time.monotonic() >= member.outside_since + (
                self.join_timeout
            ):
                self._deny("join-timeout", member.address, "connection joined no room in time")
                with contextlib.suppress(ConnectionClosed):
                    await member.connection.close(
                        1008, f"join or create a room within {self.join_timeout:g} s"
                    )
                return
            if member.room is not None:
                # in a room: wake up again once it has left (see _leave)
                member.left = asyncio.Event()
                await member.left.wait()

    # ------------------------------------------------------------------ per connection
    async def _serve(self, connection: ServerConnection) -> None:
        address = _ip_of(connection)
        over = self._over_cap(address)
        if over is not None:  # a race past _admit
            self._deny(over, address, "connection over the limit")
            await connection.close(1008, "too many connections")
            return
        self.connections[address] += 1
        member = _Member(connection, secrets.token_urlsafe(6), address=address)
        watchdog = asyncio.create_task(self._watch_join(member))
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
                    too_deep = raw.count("[") + raw.count("{") > self.max_json_depth and (
                        json_depth_exceeds(message, self.max_json_depth)
                    )
                except RecursionError:  # the C decoder's own guard, far past our limit
                    too_deep = True
                except ValueError:
                    await self._error(member, "not JSON")
                    continue
                if too_deep:
                    self._deny("json-depth", address, "JSON nested too deep")
                    await connection.close(
                        1008, f"JSON nested deeper than {self.max_json_depth} levels"
                    )
                    break
                if not isinstance(message, dict):
                    await self._error(member, "a message is a JSON object")
                    continue
                await self._handle(member, message)
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            await self._leave(member)
            self.connections[address] -= 1
            if self.connections[address] <= 0:
                del self.connections[address]  # its bucket stays: reconnecting resets nothing

    async def _handle(self, member: _Member, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "create":
            if len(self.rooms) >= MAX_ROOMS:
                await self._error(member, "server full")
                return
            if member.address not in self._buckets and len(self._buckets) >= 2 * max(
                self.max_connections, 1
            ):
                # bounded: forget the addresses that have no connection left
                for stale in [a for a in self._buckets if a not in self.connections]:
                    del self._buckets[stale]
            bucket = self._buckets.setdefault(
                member.address, _Bucket(float(self.room_create_burst))
            )
            if not bucket.take(self.room_create_burst, self.room_create_per_minute / 60.0):
                # refused before leaving: a refused create keeps the room one is in
                self._deny("room-rate", member.address, "room creation rate limit")
                await self._error(member, "rate limit: too many rooms created, slow down")
                return
            if member.room is not None:
                await self._leave(member)
            new_room = new_room_id()
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
        member.outside_since = time.monotonic()
        if member.left is not None:
            member.left.set()
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
