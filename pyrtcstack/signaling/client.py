"""The client side of :mod:`pyrtcstack.signaling.server`'s room protocol.

::

    client = await SignalingClient.connect("ws://127.0.0.1:8765")
    room = await client.create_room()          # or: await client.join(room)
    await client.signal({"description": pc.local_description.to_dict()})
    message = await client.receive()            # {"type": "signal", "from": ..., "data": ...}
    await client.close()
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..common.errors import RemoteProtocolError
from .server import MAX_MESSAGE_BYTES

__all__ = ["SignalingClient", "SignalingError"]


class SignalingError(RemoteProtocolError):
    """The server refused a request (``reason`` is its message) or closed the connection."""


class SignalingClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.peer: str | None = None
        self.room: str | None = None
        self.peers: list[str] = []

    @classmethod
    async def connect(
        cls, url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0
    ) -> SignalingClient:
        """Open a WebSocket to the server at ``url`` (``ws://`` or ``wss://``).

        ``wss://`` verifies the server's certificate and name against the system's trust
        store unless ``ssl_context`` says otherwise (e.g.
        ``ssl.create_default_context(cafile="private-ca.pem")``). A URL that is not
        ``ws://``/``wss://``, or a server that does not speak WebSocket, raises
        :class:`SignalingError`; socket and TLS failures raise :class:`OSError` (e.g.
        :class:`ConnectionRefusedError`, :class:`ssl.SSLCertVerificationError`) and a
        server that does not answer within ``timeout`` :class:`TimeoutError`."""
        secure = url[:4].lower() == "wss:"
        if secure and ssl_context is None:
            ssl_context = ssl.create_default_context()
        try:
            connection = await connect(
                url,
                ssl=ssl_context if secure else None,
                max_size=MAX_MESSAGE_BYTES,
                open_timeout=timeout,
                proxy=None,
            )
        except InvalidURI as exc:
            raise SignalingError(f"{url!r} is not a ws:// or wss:// URL ({exc})") from None
        except InvalidHandshake as exc:
            # the handshake's refusal (e.g. an HTTP 429 from a server at its limit) stays
            # available as __cause__
            raise SignalingError(f"{url} did not accept a WebSocket connection: {exc}") from exc
        return cls(connection)

    async def _request(self, message: dict[str, Any], want: str) -> dict[str, Any]:
        await self.connection.send(json.dumps(message))
        while True:
            reply = await self.receive()
            if reply.get("type") == want:
                return reply
            if reply.get("type") == "error":
                raise SignalingError(str(reply.get("reason")))

    async def create_room(self) -> str:
        reply = await self._request({"type": "create"}, "created")
        self.room, self.peer = str(reply["room"]), str(reply["peer"])
        return self.room

    async def join(self, room: str) -> list[str]:
        """Join ``room``; returns the peers already there."""
        reply = await self._request({"type": "join", "room": room}, "joined")
        self.room, self.peer = room, str(reply["peer"])
        self.peers = [str(p) for p in reply.get("peers", [])]
        return self.peers

    async def signal(self, data: Any, to: str | None = None) -> None:
        message: dict[str, Any] = {"type": "signal", "data": data}
        if to is not None:
            message["to"] = to
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message from the server (signal, peer-joined, peer-left, error...)."""
        try:
            async with asyncio.timeout(timeout):
                raw = await self.connection.recv()
        except ConnectionClosed as exc:
            raise SignalingError(f"signaling connection closed ({exc})") from None
        try:
            message = json.loads(raw)
        except ValueError:
            raise SignalingError("the server sent a message that is not JSON") from None
        if not isinstance(message, dict):
            raise SignalingError("the server sent a non-object message")
        return message

    async def receive_signal(self, timeout: float | None = None) -> Any:
        """The ``data`` of the next ``signal`` message (other messages are skipped;
        a ``peer-left`` raises :class:`SignalingError`)."""
        while True:
            message = await self.receive(timeout)
            if message.get("type") == "signal":
                return message.get("data")
            if message.get("type") == "peer-left":
                raise SignalingError(f"peer {message.get('peer')} left the room")

    async def close(self) -> None:
        await self.connection.close()
