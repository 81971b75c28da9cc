"""Shared by ``pyrtcstack send`` / ``receive`` / ``chat``: signaling (a room on a
signaling server, or copy-paste blobs) and the file transfer protocol over a data channel.

File protocol on the channel ``file`` (reliable, ordered): a JSON text header
``{"name", "size", "sha256"}``, then binary chunks of :data:`CHUNK` bytes, then the text
``"end"`` (just before it, the sender may send a JSON text ``{"waits", "window"}``: how
often it waited for ``bufferedamountlow``; receivers only log it); the receiver checks
size and SHA-256, may report what it computed as a JSON text ``{"sha256", "size",
"impl"}``, and answers ``"ok"`` or ``"bad"``.
Back-pressure: the sender stops queueing above :data:`HIGH_WATER` buffered bytes (``send
--window``) and waits for ``bufferedamountlow`` (threshold :data:`LOW_WATER`, a quarter).
The browser page (``assets/transfer.html``, ``--browser``) speaks the same protocol in
either role.

Ending: after connecting, :class:`Link` watches for the other side going away — its
``peer-left`` on the signaling server (the connection to the room is kept open for
that), its data channel closing, the connection failing, or staying "disconnected" (no
answer to ICE consent checks, RFC 7675) for :data:`DISCONNECTED_GRACE` seconds — and
:meth:`Link.race` turns that into :class:`PeerGoneError` wherever a command waits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from ..aio import DataChannel, PeerConnection
from ..peerconnection import Description, Settings
from . import _args
from ._args import CliError, number, ws_url

__all__ = [
    "CHUNK",
    "DISCONNECTED_GRACE",
    "HIGH_WATER",
    "LOW_WATER",
    "Link",
    "PeerGoneError",
    "Progress",
    "add_signaling_args",
    "connect",
    "say",
]

#: Bytes per data channel message (well under every peer's max-message-size).
CHUNK = 16 * 1024
#: The sender waits when this much is buffered, until it drops below LOW_WATER.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
#: Seconds a connection may stay "disconnected" (its ICE consent checks unanswered for
#: 1.5 s, RFC 7675) before a transfer gives up on the peer. Consent itself only expires
#: after 30 s; a person waiting for a file wants to know sooner.
DISCONNECTED_GRACE = 3.0

T = TypeVar("T")


def add_signaling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--room",
        metavar="WS_URL",
        type=ws_url,
        help="signaling server (ws:// or wss://), e.g. one run by pyrtcstack signaling-server",
    )
    p.add_argument(
        "--ca-file",
        metavar="PEM",
        help="wss:// only: trust this CA (a private one) instead of the system's trust store",
    )
    p.add_argument("--join", metavar="ROOM", help="join this room (else create one)")
    p.add_argument(
        "--loopback", action="store_true", help="gather on 127.0.0.1 only (tests, demos)"
    )
    p.add_argument(
        "--timeout",
        type=number(above=0),
        default=60.0,
        metavar="S",
        help="seconds to connect (default 60; --browser: counted from the page's offer)",
    )
    p.add_argument(
        "--browser",
        metavar="HOST:PORT",
        nargs="?",
        const=("127.0.0.1", 0),
        type=_args.host_port(default_host="127.0.0.1", listen=True),
        help="serve a page on HOST:PORT (default 127.0.0.1, any port): the browser that "
        "opens the printed URL is the other peer",
    )


def say(text: str, file: TextIO | None = None) -> None:
    """Print a line without writing it onto an open progress line."""
    _args.end_status_line()
    print(text, file=sys.stdout if file is None else file, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    if args.loopback:
        return Settings(host_addresses=["127.0.0.1"], allow_loopback=True)
    return Settings()


class PeerGoneError(Exception):
    """The other side went away (``reason`` says how; ``clean`` if it said goodbye)."""

    def __init__(self, reason: str, clean: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.clean = clean


class Link:
    """A connected peer: ``pc``, and ``gone``, a future that resolves to a
    :class:`PeerGoneError` as soon as the other side is seen leaving."""

    def __init__(self, pc: PeerConnection, client: Any = None) -> None:
        self.pc = pc
        self.client = client
        self.gone: asyncio.Future[PeerGoneError] = asyncio.get_running_loop().create_future()
        self._grace: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        pc.on("connectionstatechange", self._on_state)
        if client is not None:
            self._watcher = asyncio.ensure_future(self._watch_signaling())
        self._on_state(pc.connection_state)

    def lost(self, reason: str, clean: bool = True) -> None:
        if not self.gone.done():
            self.gone.set_result(PeerGoneError(reason, clean))

    def watch_channel(self, channel: DataChannel) -> None:
        channel.on("close", lambda: self.lost("it closed the data channel"))

    def _on_state(self, state: str) -> None:
        if state == "disconnected" and self._grace is None:
            self._grace = asyncio.get_running_loop().call_later(
                DISCONNECTED_GRACE,
                self.lost,
                f"no answer to ICE consent checks for {DISCONNECTED_GRACE + 1.5:g} s "
                "(RFC 7675): it is gone or the network between us is",
                False,
            )
        elif state != "disconnected" and self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if state in ("failed", "closed"):
            self.lost(f"the connection {state}", state == "closed")

    async def _watch_signaling(self) -> None:
        from ..signaling import SignalingError

        while True:
            try:
                message = await self.client.receive()
            except SignalingError:  # the server went away: the peer-to-peer link goes on
                return
            if message.get("type") == "peer-left":
                self.lost("it left the signaling room")
                return

    async def race(self, aw: Awaitable[T], timeout: float | None = None) -> T:
        """``await aw``, unless the peer goes first (:class:`PeerGoneError`) or ``timeout``
        passes (:class:`TimeoutError`)."""
        task = asyncio.ensure_future(aw)
        waiting: set[asyncio.Future[Any]] = {task, self.gone}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        if self.gone.done():
            raise self.gone.result()
        raise TimeoutError

    async def close(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        try:
            await self.pc.close()
        finally:
            if self.client is not None:
                await self.client.close()


async def _paste(prompt: str) -> str:
    """Read a pasted blob from stdin: lines until they decode (a chat app may have wrapped
    it), an empty line after some text, or EOF."""
    from ..signaling import BlobError, decode_blob

    print(prompt, file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    lines: list[str] = []
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line)
        try:
            decode_blob("".join(lines))
        except BlobError:
            continue
        break
    if not lines:
        raise CliError("no blob was pasted (end of input)", 1)
    return "".join(lines)


async def _pasted(prompt: str, want: str) -> Description:
    from ..signaling import decode_blob

    kind, sdp = decode_blob(await _paste(prompt))
    if kind != want:
        raise CliError(f"that is an {kind} blob; paste the {want} blob from the other side", 1)
    return Description(kind, sdp)


async def _within(aw: Awaitable[T], timeout: float, what: str) -> T:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise CliError(f"{what} within {timeout:g} s (--timeout)", 1) from None


def _hint(args: argparse.Namespace, room: str) -> str:
    other = {"send": "receive", "receive": "send FILE"}.get(args.command, args.command)
    words = ["pyrtcstack", other, "--room", args.room, "--join", room]
    if args.ca_file:
        words += ["--ca-file", args.ca_file]
    if args.loopback:
        words.append("--loopback")
    return "on the other machine: " + " ".join(words)


async def _open_room(args: argparse.Namespace) -> Any:
    from ..signaling import SignalingClient

    ssl_context = _args.client_tls(args.ca_file) if args.room.lower().startswith("wss:") else None
    if args.ca_file and ssl_context is None:
        raise CliError("--ca-file is for wss:// rooms")
    try:
        return await SignalingClient.connect(args.room, ssl_context=ssl_context)
    except OSError as exc:
        raise CliError(
            f"cannot reach the signaling server {args.room}: {_args.describe_os_error(exc)}", 1
        ) from None


async def connect(
    args: argparse.Namespace,
    offerer_setup: Callable[[PeerConnection], None] | None = None,
    on_pc: Callable[[PeerConnection], None] | None = None,
    *,
    page: str = "chat.html",
    info: dict[str, Any] | None = None,
) -> Link:
    """Signal and connect: the side without ``--join`` (and without a pasted offer) offers.

    ``offerer_setup(pc)`` creates the channels before the offer (the offerer only);
    ``on_pc(pc)`` is called first on both sides (to catch ``datachannel`` early).
    With ``--browser`` the tool serves ``assets/<page>`` (and ``info`` as ``GET /info``):
    the browser offers and creates the channels, so ``offerer_setup`` is not used.
    A room's signaling connection stays open in the returned :class:`Link` (to hear
    ``peer-left``)."""
    from ..signaling import SignalingError, encode_blob

    if args.ca_file and not args.room:
        raise CliError("--ca-file goes with a wss:// --room")
    pc = PeerConnection(settings=_settings(args))
    if on_pc is not None:
        on_pc(pc)
    client = None
    try:
        if getattr(args, "browser", None):
            await _browser_signaling(args, pc, page, info)
        elif args.room:
            client = await _open_room(args)
            if args.join:
                try:
                    await client.join(args.join)
                except SignalingError as exc:
                    raise CliError(f"cannot join room {args.join!r}: {exc}", 1) from None
                offer = await _within(
                    client.receive_signal(), args.timeout, "no offer from the room's creator"
                )
                await pc.set_remote_description(Description.from_dict(offer))
                await pc.set_local_description()
                await pc.wait_gathering_complete()
                assert pc.local_description is not None
                await client.signal(pc.local_description.to_dict())
            else:
                room = await client.create_room()
                say(f"room: {room}")
                say(_hint(args, room), sys.stderr)
                if offerer_setup is not None:
                    offerer_setup(pc)
                await pc.set_local_description()
                await pc.wait_gathering_complete()

                async def joined() -> None:
                    while (await client.receive()).get("type") != "peer-joined":
                        pass

                await _within(joined(), args.timeout, "nobody joined the room")
                assert pc.local_description is not None
                await client.signal(pc.local_description.to_dict())
                answer = await _within(
                    client.receive_signal(), args.timeout, "no answer from the peer"
                )
                await pc.set_remote_description(Description.from_dict(answer))
        elif args.join == "-" or offerer_setup is None:
            await pc.set_remote_description(
                await _pasted("paste the offer blob, then Enter:", "offer")
            )
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            assert pc.local_description is not None
            say(encode_blob("answer", pc.local_description.sdp))
        else:
            offerer_setup(pc)
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            assert pc.local_description is not None
            say(encode_blob("offer", pc.local_description.sdp))
            await pc.set_remote_description(
                await _pasted("paste the answer blob, then Enter:", "answer")
            )
        await _within(
            pc.wait_connection_state("connected", timeout=args.timeout + 1),
            args.timeout,
            "no connection to the peer (ICE and DTLS)",
        )
    except BaseException:
        await pc.close()
        if client is not None:
            await client.close()
        raise
    return Link(pc, client)


async def _browser_signaling(
    args: argparse.Namespace,
    pc: PeerConnection,
    page_name: str = "chat.html",
    info: dict[str, Any] | None = None,
) -> None:
    """Serve the page; the browser offers through ``POST /offer`` (non-trickle) and gets
    our answer in the response. ``GET /info`` gives the page ``info`` (what to do)."""
    from importlib import resources

    from ..interop import HttpServer, Request, Response

    answered = asyncio.Event()
    page = resources.files("pyrtcstack.interop").joinpath("assets", page_name).read_bytes()

    async def handle(request: Request) -> Response:
        if request.method == "GET" and request.path == "/":
            return Response(200, page, "text/html; charset=utf-8")
        if request.method == "GET" and request.path == "/info" and info is not None:
            return Response.json(info)
        if request.method == "POST" and request.path == "/offer" and not answered.is_set():
            try:
                await pc.set_remote_description(Description.from_dict(request.json()))
                await pc.set_local_description()
                await pc.wait_gathering_complete()
            except Exception as exc:  # a broken offer: tell the page, wait for another
                return Response(400, f"{type(exc).__name__}: {exc}".encode(), "text/plain")
            assert pc.local_description is not None
            answered.set()
            return Response.json(pc.local_description.to_dict())
        return Response(404, b"not found", "text/plain")

    host, port = args.browser
    server = HttpServer(handle)
    with _args.listening(args.browser):
        url = await server.start(host, port)
    print(f"open {url} in a browser", flush=True)
    if host in ("0.0.0.0", "::"):
        print("(with this machine's address in place of 0.0.0.0)", file=sys.stderr, flush=True)
    try:
        await asyncio.wait_for(answered.wait(), None)
    finally:
        await server.close()


class Progress:
    """``\\r 42% 3.1 of 7.4 MB, 12.0 MB/s, ETA 0:01`` on stderr, at most 10×/s; the rate
    and ETA only once there is a rate to tell (not ``ETA 0:00`` at 0 %)."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.start = time.monotonic()
        self._shown = 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._shown < 0.1:
            return
        self._shown = now
        elapsed = now - self.start
        pct = 100.0 * done / self.total if self.total else 100.0
        line = f"{self.label} {pct:5.1f}% {done / 1e6:.1f} of {self.total / 1e6:.1f} MB"
        if done > 0 and (elapsed >= 0.2 or final):
            rate = done / max(elapsed, 1e-6)
            line += f", {rate / 1e6:.1f} MB/s"
            if not final:
                eta = int((self.total - done) / rate)
                line += f", ETA {eta // 60}:{eta % 60:02d}"
        elif not final and done == 0 and self.total:
            line += ", starting"
        _args.status_line(line)
        if final:
            _args.end_status_line()

    @staticmethod
    def finish() -> None:
        """End an open progress line (before a message, or at exit)."""
        _args.end_status_line()
