"""The harness's HTTP signaling protocol (server side), one instance per peer launch.

Routes (all JSON, documented in docs/interop.md):

* ``GET /`` the browser page, ``GET /peer.js`` the peer logic it imports;
* ``GET /config`` ``{"scenarios": [...], "stun": "stun:127.0.0.1:P" | null, "gumFirst": bool}``;
* ``POST /msg`` ``{"scenario": i, "kind": ..., ...}``: the peer's messages (description,
  candidate, open, closed, state, stats, echo-error, error, ended; ``scenario: -1`` for
  ``done``);
* ``GET /poll?scenario=i&after=n``: our messages to the peer for scenario ``i`` with
  sequence number > n (long poll, at most :data:`POLL_WAIT` seconds): description,
  candidate, channel, restart, stats, end.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from .httpserver import HttpServer, Request, Response

__all__ = ["MAX_QUEUED_MESSAGES", "POLL_WAIT", "PeerSession"]

#: Seconds a ``GET /poll`` waits for a message before answering with none.
POLL_WAIT = 5.0
#: Messages queued per scenario and direction before the session stops accepting more.
MAX_QUEUED_MESSAGES = 10_000


class _Outbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.changed = asyncio.Event()


class PeerSession:
    """Serves one peer: its scenario list, and both directions of every scenario's messages."""

    def __init__(
        self, scenarios: list[dict[str, Any]], *, stun: str | None = None, gum_first: bool = False
    ) -> None:
        self.scenarios = scenarios
        self.stun = stun
        self.gum_first = gum_first
        self.server = HttpServer(self._handle)
        self._inbox: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._outbox: dict[int, _Outbox] = {}
        self.done = asyncio.Event()
        self.peer_log: list[str] = []
        self.config_fetched = asyncio.Event()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        return await self.server.start(host, port)

    @property
    def url(self) -> str:
        return self.server.url

    async def close(self) -> None:
        await self.server.close()

    def inbox(self, scenario: int) -> asyncio.Queue[dict[str, Any]]:
        return self._inbox.setdefault(scenario, asyncio.Queue(MAX_QUEUED_MESSAGES))

    def send(self, scenario: int, message: dict[str, Any]) -> None:
        """Queue one message for the peer (it picks it up with ``GET /poll``)."""
        box = self._outbox.setdefault(scenario, _Outbox())
        if len(box.messages) >= MAX_QUEUED_MESSAGES:
            raise RuntimeError("too many messages queued for the peer")
        box.messages.append({**message, "seq": len(box.messages) + 1})
        box.changed.set()

    async def _handle(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path in ("/", "/index.html"):
            return self._asset("page.html", "text/html; charset=utf-8")
        if request.method == "GET" and path == "/peer.js":
            return self._asset("peer.js", "text/javascript; charset=utf-8")
        if request.method == "GET" and path == "/favicon.ico":
            return Response(404, b"", "text/plain")
        if request.method == "GET" and path == "/config":
            self.config_fetched.set()
            return Response.json(
                {"scenarios": self.scenarios, "stun": self.stun, "gumFirst": self.gum_first}
            )
        if request.method == "POST" and path == "/msg":
            message = request.json()
            if not isinstance(message, dict):
                raise ValueError("a message is a JSON object")
            scenario = int(message.get("scenario", -1))
            self.peer_log.extend(str(x) for x in message.get("log") or [])
            if message.get("kind") == "done":
                self.done.set()
            else:
                self.inbox(scenario).put_nowait(message)
            return Response.json({})
        if request.method == "GET" and path == "/poll":
            scenario = int(request.query.get("scenario", "0"))
            after = int(request.query.get("after", "0"))
            box = self._outbox.setdefault(scenario, _Outbox())
            if len(box.messages) <= after:
                box.changed.clear()
                try:
                    async with asyncio.timeout(POLL_WAIT):
                        await box.changed.wait()
                except TimeoutError:
                    pass
            return Response.json({"messages": box.messages[after:]})
        return Response(404, b"not found", "text/plain")

    @staticmethod
    def _asset(name: str, content_type: str) -> Response:
        data = resources.files("pyrtcstack.interop").joinpath("assets", name).read_bytes()
        return Response(200, data, content_type)
