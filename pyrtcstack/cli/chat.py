"""``pyrtcstack chat``: a text chat over a WebRTC data channel.

    pyrtcstack chat --room wss://signal.example:8765             # prints a room id
    pyrtcstack chat --room wss://signal.example:8765 --join ROOM
    pyrtcstack chat                    # copy-paste: prints an offer blob, reads the answer
    pyrtcstack chat --join -           # copy-paste: paste the offer, print the answer
    pyrtcstack chat --browser          # serves a page: open the printed URL in a browser

Each line you type is one message; the peer's messages are printed as ``< text``.
End with Ctrl-D (EOF): the channel is closed and the peer sees ``* peer left``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any

from ..aio.peerconnection import DataChannel, PeerConnection
from ._transfer import add_signaling_args, connect

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "chat",
        help="text chat over a data channel (room, copy-paste or a served browser page)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_signaling_args(p)
    p.set_defaults(func=lambda args: asyncio.run(_chat(args)))


async def _chat(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[DataChannel] = loop.create_future()
    closed = asyncio.Event()

    def wire(channel: DataChannel) -> None:
        def on_message(message: Any) -> None:
            text = message if isinstance(message, str) else f"<{len(message)} bytes>"
            print(f"< {text}", flush=True)

        channel.on("message", on_message)
        channel.on("close", closed.set)

        def on_open() -> None:
            if not ready.done():
                ready.set_result(channel)

        channel.on("open", on_open)
        if channel.ready_state == "open":
            on_open()

    def offerer(pc: PeerConnection) -> None:
        wire(pc.create_data_channel("chat"))

    offer_side = not args.join and not args.browser
    pc = await connect(
        args,
        offerer if offer_side else None,
        on_pc=None if offer_side else (lambda pc: pc.on("datachannel", wire)),
    )
    try:
        channel = await asyncio.wait_for(ready, args.timeout)
        print("* connected: type a line and Enter; Ctrl-D to leave", file=sys.stderr, flush=True)
        lines: asyncio.Queue[str] = asyncio.Queue()

        def read_stdin() -> None:  # a daemon thread: never blocks the exit
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, "")

        threading.Thread(target=read_stdin, daemon=True).start()
        while True:
            reader = asyncio.ensure_future(lines.get())
            waiter = asyncio.ensure_future(closed.wait())
            await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if closed.is_set():
                reader.cancel()
                print("* peer left", flush=True)
                return 0
            line = reader.result()
            if not line:
                break
            channel.send(line.rstrip("\n"))
        channel.close()
        await asyncio.sleep(0.2)
        return 0
    finally:
        await pc.close()
