"""``pyrtcstack interop URL``: the harness as the *client* of a remote endpoint.

A third-party WebRTC endpoint (a server, an SFU, another machine running
``pyrtcstack interop --endpoint``) serves the small HTTP protocol of docs/interop.md,
"Testing your endpoint": ``GET URL`` says what it supports, ``POST URL/scenarios`` starts
one scenario (a fresh peer connection on its side), and each scenario's messages travel
both ways through ``POST``/long-poll ``GET URL/scenarios/ID/messages``. The messages and
the endpoint's behaviour (echo every data channel message, ``__close__``...) are the same
as the browser page's, so :func:`~pyrtcstack.interop.scenarios.run_scenario` drives our
side unchanged and the same table comes out.

::

    results = await run_url("http://192.0.2.7:8080/")
    print(format_table(results))
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

from ..peerconnection import Settings
from .matrix import loopback_settings
from .scenarios import ScenarioResult, apply_known_gaps, run_scenario, scenario_spec
from .session import MAX_QUEUED_MESSAGES, POLL_WAIT, PeerSession

__all__ = [
    "MAX_RESPONSE_BYTES",
    "PROTOCOL",
    "REQUEST_TIMEOUT",
    "EndpointError",
    "RemoteSession",
    "checked_messages",
    "http_json",
    "parse_response",
    "plan_for",
    "run_url",
    "settings_for",
]

#: The ``protocol`` value of the endpoint's hello (``GET URL``).
PROTOCOL = "pyrtcstack-interop/1"
#: Seconds one request may take, beyond the long poll's own wait.
REQUEST_TIMEOUT = 15.0
#: Largest response body read from an endpoint.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Consecutive failed requests after which a scenario's message pump gives up.
MAX_REQUEST_FAILURES = 5


class EndpointError(RuntimeError):
    """The endpoint could not be reached, or answered outside the protocol."""


async def http_json(
    method: str, url: str, body: Any = None, *, timeout: float = REQUEST_TIMEOUT
) -> Any:
    """One HTTP/1.1 request (``Connection: close``), JSON in and out; raises
    :class:`EndpointError` for a transport failure, a non-200 status or a non-JSON body."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    payload = b"" if body is None else json.dumps(body).encode()
    host_header = parts.netloc.rpartition("@")[2]
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    context = ssl.create_default_context() if parts.scheme == "https" else None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
            try:
                writer.write(head.encode("latin-1") + payload)
                await writer.drain()
                chunks: list[bytes] = []
                total = 0
                while block := await reader.read(64 * 1024):
                    total += len(block)
                    if total > MAX_RESPONSE_BYTES + 64 * 1024:
                        raise EndpointError(f"{method} {url}: response over {MAX_RESPONSE_BYTES}")
                    chunks.append(block)
                raw = b"".join(chunks)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except TimeoutError:
        raise EndpointError(f"{method} {url}: no response within {timeout:.0f} s") from None
    except OSError as exc:
        raise EndpointError(f"{method} {url}: {exc}") from None
    return parse_response(raw, f"{method} {url}")


def parse_response(raw: bytes, what: str = "response") -> Any:
    """The JSON body of a whole HTTP/1.1 response (status line, headers, body up to
    ``Content-Length`` or the end); raises :class:`EndpointError` for anything else: a
    status other than 200, chunked encoding, no JSON. ``what`` prefixes the messages."""
    header, sep, content = raw.partition(b"\r\n\r\n")
    status_line = header.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split(" ", 2)
    if not sep or len(fields) < 2 or not fields[0].startswith("HTTP/"):
        raise EndpointError(f"{what}: not an HTTP response")
    status = int(fields[1]) if _is_number(fields[1], 3) else 0
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            if not _is_number(value, 12):
                raise EndpointError(f"{what}: bad Content-Length {value[:20]!r}")
            content = content[: int(value)]
        elif name == "transfer-encoding":
            raise EndpointError(f"{what}: chunked responses are not supported")
    if status != 200:
        text = content[:200].decode("utf-8", "replace")
        raise EndpointError(f"{what}: HTTP {status} {text}".rstrip())
    try:
        return json.loads(content.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise EndpointError(f"{what}: the body is not JSON") from None


def _is_number(text: str, max_digits: int) -> bool:
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def checked_messages(answer: Any) -> list[dict[str, Any]]:
    """The ``messages`` of a long-poll answer: a list of objects, each with a string
    ``kind`` and an integer ``seq``; raises :class:`EndpointError` otherwise."""
    messages = answer.get("messages") if isinstance(answer, dict) else None
    if not isinstance(messages, list):
        raise EndpointError(f"no 'messages' list in {str(answer)[:100]}")
    for message in messages:
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("kind"), str)
            or not isinstance(message.get("seq"), int)
            or isinstance(message.get("seq"), bool)
        ):
            shown = str(message)[:100]
            raise EndpointError(f"a message needs a string 'kind' and an integer 'seq': {shown}")
    return messages


def plan_for(hello: dict[str, Any], turn: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The scenarios an endpoint's capabilities allow (docs/interop.md has the table).

    Per role it supports (``answer``: we offer; ``offer``: it offers): a trickle scenario
    (with ICE restart if ``restart``) when it does ``trickle``, and a non-trickle one (with
    PCMU audio both ways if ``audio``). Non-trickle is mandatory for an endpoint. With a
    ``turn`` server (a W3C RTCIceServer dict) and ``relay``, one more per role with the
    endpoint forced to ``iceTransportPolicy: "relay"`` through it."""
    plans: list[dict[str, Any]] = []
    for role, capability in (("we-offer", "answer"), ("peer-offers", "offer")):
        if not hello.get(capability):
            continue
        trickle = bool(hello.get("trickle"))
        if trickle:
            restart = bool(hello.get("restart"))
            name = "dc+restart" if restart else "dc"
            plans.append(scenario_spec(name, role, trickle=True, restart=restart))
        audio = bool(hello.get("audio"))
        plans.append(scenario_spec("dc+audio" if audio else "dc", role, trickle=False, audio=audio))
        if turn is not None and hello.get("relay"):
            spec = scenario_spec("dc+turn", role, trickle=trickle, relay=True)
            spec["pcConfig"] = {"iceServers": [turn], "iceTransportPolicy": "relay"}
            plans.append(spec)
    return plans


class RemoteSession:
    """The scenario runner's view of a remote endpoint: the same ``scenarios``, ``inbox``
    and ``send`` as :class:`~pyrtcstack.interop.session.PeerSession`, with this side as
    the HTTP client (one message pump per scenario)."""

    def __init__(self, base: str, scenarios: list[dict[str, Any]]) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.scenarios = scenarios
        self._inbox: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._outbox: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: dict[int, list[asyncio.Task[None]]] = {}
        self.ids: dict[int, str] = {}
        self.log: list[str] = []

    async def hello(self) -> dict[str, Any]:
        hello = await http_json("GET", self.base)
        if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
            raise EndpointError(
                f"{self.base} does not speak {PROTOCOL} (hello: {str(hello)[:200]})"
            )
        return hello

    def inbox(self, scenario: int) -> asyncio.Queue[dict[str, Any]]:
        return self._inbox.setdefault(scenario, asyncio.Queue(MAX_QUEUED_MESSAGES))

    def send(self, scenario: int, message: dict[str, Any]) -> None:
        """Queue one message for the endpoint; they are POSTed one at a time, in order."""
        box = self._outbox.setdefault(scenario, asyncio.Queue(MAX_QUEUED_MESSAGES))
        box.put_nowait(message)

    async def open(self, scenario: int) -> None:
        """``POST URL/scenarios``: the endpoint makes its peer connection for the scenario."""
        answer = await http_json("POST", urljoin(self.base, "scenarios"), self.scenarios[scenario])
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise EndpointError(f"POST scenarios: no id in {str(answer)[:200]}")
        self.ids[scenario] = answer["id"]
        self._tasks[scenario] = [
            asyncio.ensure_future(self._poll(scenario)),
            asyncio.ensure_future(self._post(scenario)),
        ]

    async def finish(self, scenario: int) -> None:
        """Let the last messages (``end``) leave, then stop the scenario's pumps."""
        box = self._outbox.get(scenario)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                while box is not None and not box.empty():
                    await asyncio.sleep(0.05)
        for task in self._tasks.pop(scenario, []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _messages_url(self, scenario: int) -> str:
        return urljoin(self.base, f"scenarios/{self.ids[scenario]}/messages")

    def _failed(self, scenario: int, error: str) -> None:
        self.log.append(f"scenario {scenario}: {error}")
        with contextlib.suppress(asyncio.QueueFull):
            self.inbox(scenario).put_nowait({"kind": "error", "error": error})

    async def _poll(self, scenario: int) -> None:
        after, failures = 0, 0
        while failures < MAX_REQUEST_FAILURES:
            url = f"{self._messages_url(scenario)}?after={after}"
            try:
                answer = await http_json("GET", url, timeout=POLL_WAIT + REQUEST_TIMEOUT)
                messages = checked_messages(answer)
                failures = 0
            except EndpointError as exc:
                failures += 1
                self._failed(scenario, f"poll: {exc}")
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                if message["seq"] > after:
                    after = message["seq"]
                    self.inbox(scenario).put_nowait(message)

    async def _post(self, scenario: int) -> None:
        box = self._outbox.setdefault(scenario, asyncio.Queue(MAX_QUEUED_MESSAGES))
        while True:
            message = await box.get()
            for attempt in range(3):
                try:
                    await http_json("POST", self._messages_url(scenario), message)
                    break
                except EndpointError as exc:
                    if attempt == 2:
                        self._failed(scenario, f"post {message.get('kind')}: {exc}")
                    await asyncio.sleep(0.2)


def settings_for(url: str) -> Callable[[], Settings]:
    """Loopback only for a loopback endpoint; every host address otherwise."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return loopback_settings if loopback else Settings


async def run_url(
    url: str,
    *,
    settings_factory: Callable[[], Settings] | None = None,
    verbose: Callable[[str], None] | None = None,
    scenarios: list[dict[str, Any]] | None = None,
    turn: dict[str, Any] | None = None,
) -> list[ScenarioResult]:
    """Run every scenario the endpoint at ``url`` supports (:func:`plan_for`, ``turn``
    adds the relay scenarios), one after another, and return the results (raises
    :class:`EndpointError` if it is unusable)."""
    from .matrix import format_table

    probe = RemoteSession(url, [])
    hello = await probe.hello()
    plans = scenarios if scenarios is not None else plan_for(hello, turn)
    if not plans:
        raise EndpointError(f"{url} supports neither role (hello: {hello})")
    session = RemoteSession(url, plans)
    peer = str(hello.get("name") or urlsplit(url).netloc)[:40]
    factory = settings_factory or settings_for(url)
    results: list[ScenarioResult] = []
    for index in range(len(plans)):
        t0 = time.monotonic()
        try:
            await session.open(index)
        except EndpointError as exc:
            spec = plans[index]
            result = ScenarioResult(peer, spec["name"], spec["role"], spec["trickle"])
            result.error = str(exc)
        else:
            try:
                # run_scenario only uses scenarios/inbox/send, which RemoteSession provides.
                result = await run_scenario(cast(PeerSession, session), index, peer, factory)
            finally:
                await session.finish(index)
        apply_known_gaps(result)
        if result.error and session.log:
            result.error += f" (signaling: {session.log[-1]})"
        results.append(result)
        if verbose:
            verbose(format_table([result]) + f"\n({time.monotonic() - t0:.1f} s)")
    return results
