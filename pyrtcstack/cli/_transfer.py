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
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from ..aio.peerconnection import PeerConnection
from ..peerconnection import Description, Settings

__all__ = ["CHUNK", "HIGH_WATER", "LOW_WATER", "Progress", "add_signaling_args", "connect"]

#: Bytes per data channel message (well under every peer's max-message-size).
CHUNK = 16 * 1024
#: The sender waits when this much is buffered, until it drops below LOW_WATER.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024


def add_signaling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--room", metavar="WS_URL", help="signaling server (ws:// or wss://)")
    p.add_argument("--join", metavar="ROOM", help="join this room (else create one)")
    p.add_argument(
        "--loopback", action="store_true", help="gather on 127.0.0.1 only (tests, demos)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to connect (--browser: counted from the page's offer)",
    )
    p.add_argument(
        "--browser",
        metavar="HOST:PORT",
        nargs="?",
        const="127.0.0.1:0",
        help="serve a page on HOST:PORT (default 127.0.0.1, any port): the browser that "
        "opens the printed URL is the other peer",
    )


def _settings(args: argparse.Namespace) -> Settings:
    if args.loopback:
        return Settings(host_addresses=["127.0.0.1"], allow_loopback=True)
    return Settings()


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
    return "".join(lines)


async def connect(
    args: argparse.Namespace,
    offerer_setup: Any = None,
    on_pc: Any = None,
    *,
    page: str = "chat.html",
    info: dict[str, Any] | None = None,
) -> PeerConnection:
    """Signal and connect: the side without ``--join`` (and without a pasted offer) offers.

    ``offerer_setup(pc)`` creates the channels before the offer (the offerer only);
    ``on_pc(pc)`` is called first on both sides (to catch ``datachannel`` early).
    With ``--browser`` the tool serves ``assets/<page>`` (and ``info`` as ``GET /info``):
    the browser offers and creates the channels, so ``offerer_setup`` is not used."""
    from ..signaling import decode_blob, encode_blob

    pc = PeerConnection(settings=_settings(args))
    if on_pc is not None:
        on_pc(pc)
    client = None
    try:
        if getattr(args, "browser", None):
            await _browser_signaling(args, pc, page, info)
        elif args.room:
            from ..signaling import SignalingClient

            client = await SignalingClient.connect(args.room)
            if args.join:
                await client.join(args.join)
                offer = await client.receive_signal(args.timeout)
                await pc.set_remote_description(Description.from_dict(offer))
                await pc.set_local_description()
                await pc.wait_gathering_complete()
                assert pc.local_description is not None
                await client.signal(pc.local_description.to_dict())
            else:
                room = await client.create_room()
                print(f"room: {room}", flush=True)
                print(
                    f"on the other machine: pyrtcstack receive --room {args.room} --join {room}",
                    file=sys.stderr,
                    flush=True,
                )
                if offerer_setup is not None:
                    offerer_setup(pc)
                await pc.set_local_description()
                await pc.wait_gathering_complete()
                while (await client.receive(args.timeout)).get("type") != "peer-joined":
                    pass
                assert pc.local_description is not None
                await client.signal(pc.local_description.to_dict())
                answer = await client.receive_signal(args.timeout)
                await pc.set_remote_description(Description.from_dict(answer))
        elif args.join == "-" or offerer_setup is None:
            kind, sdp = decode_blob(await _paste("paste the offer blob, then Enter:"))
            await pc.set_remote_description(Description(kind, sdp))
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            assert pc.local_description is not None
            print(encode_blob("answer", pc.local_description.sdp), flush=True)
        else:
            offerer_setup(pc)
            await pc.set_local_description()
            await pc.wait_gathering_complete()
            assert pc.local_description is not None
            print(encode_blob("offer", pc.local_description.sdp), flush=True)
            kind, sdp = decode_blob(await _paste("paste the answer blob, then Enter:"))
            await pc.set_remote_description(Description(kind, sdp))
        await pc.wait_connection_state("connected", timeout=args.timeout)
    except BaseException:
        await pc.close()
        raise
    finally:
        if client is not None:
            await client.close()
    return pc


async def _browser_signaling(
    args: argparse.Namespace,
    pc: PeerConnection,
    page_name: str = "chat.html",
    info: dict[str, Any] | None = None,
) -> None:
    """Serve the page; the browser offers through ``POST /offer`` (non-trickle) and gets
    our answer in the response. ``GET /info`` gives the page ``info`` (what to do)."""
    from importlib import resources

    from ..interop.httpserver import HttpServer, Request, Response

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

    host, _, port = str(args.browser).rpartition(":")
    server = HttpServer(handle)
    url = await server.start(host or "127.0.0.1", int(port or 0))
    print(f"open {url} in a browser", flush=True)
    if host in ("0.0.0.0", "::", "[::]"):
        print("(with this machine's address in place of 0.0.0.0)", file=sys.stderr, flush=True)
    try:
        await asyncio.wait_for(answered.wait(), None)
    finally:
        await server.close()


class Progress:
    """``\\r 42% 3.1 MB of 7.4 MB, 12.0 MB/s, ETA 0:00:01`` on stderr, at most 10×/s."""

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
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        sys.stderr.write(
            f"\r{self.label} {pct:5.1f}% {done / 1e6:.1f} of {self.total / 1e6:.1f} MB, "
            f"{rate / 1e6:.1f} MB/s, ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            + ("\n" if final else "")
        )
        sys.stderr.flush()
