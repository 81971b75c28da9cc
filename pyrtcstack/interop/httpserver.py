"""A tiny HTTP/1.1 server on asyncio streams for the harness's signaling protocol.

Only what the page and the werift script need: ``GET`` and ``POST`` with a
``Content-Length`` body, one request per connection (``Connection: close``), JSON or static
files. Bounded: request line and headers at most :data:`MAX_HEADER_BYTES`, bodies at most
:data:`MAX_BODY_BYTES`, and each request must arrive within :data:`REQUEST_TIMEOUT` seconds.
It listens on loopback only unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "REQUEST_TIMEOUT",
    "HttpServer",
    "Request",
    "Response",
]

#: Largest request body accepted (a description with every candidate, or getStats, fits).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Largest request line plus headers.
MAX_HEADER_BYTES = 32 * 1024
#: Seconds a client has to send a whole request.
REQUEST_TIMEOUT = 30.0

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(obj).encode())


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """``await HttpServer(handler).start(host, port)``; ``url`` is then ``http://host:port/``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, host, port)
        sock_host, sock_port = self._server.sockets[0].getsockname()[:2]
        shown = f"[{sock_host}]" if ":" in sock_host else sock_host
        self.url = f"http://{shown}:{sock_port}/"
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    request = await self._read(reader)
            except (ValueError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                request = None
            if request is None:
                response = Response(400, b"bad request", "text/plain")
            elif isinstance(request, Response):
                response = request
            else:
                try:
                    response = await self.handler(request)
                except (ValueError, KeyError, TypeError) as exc:
                    response = Response(400, f"bad request: {exc}".encode(), "text/plain")
            head = [
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
                f"Content-Type: {response.content_type}",
                f"Content-Length: {len(response.body)}",
                "Cache-Control: no-store",
                "Connection: close",
            ]
            head += [f"{k}: {v}" for k, v in response.headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + response.body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Request | Response:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            return Response(413, b"headers too large", "text/plain")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length < 0 or length > MAX_BODY_BYTES:
            return Response(413, b"body too large", "text/plain")
        body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return Request(method.upper(), parts.path, query, body)
