"""``pyrtcstack chat``: a text chat over a WebRTC data channel.

    pyrtcstack chat --room wss://signal.example:8765             # prints a room id
    pyrtcstack chat --room wss://signal.example:8765 --join ROOM
    pyrtcstack chat                    # copy-paste: prints an offer blob, reads the answer
    pyrtcstack chat --join -           # copy-paste: paste the offer, print the answer
    pyrtcstack chat --browser          # serves a page: open the printed URL in a browser

Each line you type is one message; the peer's messages are printed as ``< text``.
End with Ctrl-D (EOF) or Ctrl-C: the channel is closed and the peer sees ``* peer left``.
If the connection is lost instead (no answer to ICE consent checks for a few seconds),
``* connection lost`` and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any

from ..aio import DataChannel, PeerConnection
from ._transfer import PeerGoneError, add_signaling_args, connect, say

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

    def wire(channel: DataChannel) -> None:
        def on_message(message: Any) -> None:
            text = message if isinstance(message, str) else f"<{len(message)} bytes>"
            say(f"< {text}")

        channel.on("message", on_message)

        def on_open() -> None:
            if not ready.done():
                ready.set_result(channel)

        channel.on("open", on_open)
        if channel.ready_state == "open":
            on_open()

    def offerer(pc: PeerConnection) -> None:
        wire(pc.create_data_channel("chat"))

    offer_side = not args.join and not args.browser
    link = await connect(
        args,
        offerer if offer_side else None,
        on_pc=None if offer_side else (lambda pc: pc.on("datachannel", wire)),
    )
    try:
        channel = await link.race(ready, args.timeout)
        link.watch_channel(channel)
        say("* connected: type a line and Enter; Ctrl-D to leave", sys.stderr)
        lines: asyncio.Queue[str] = asyncio.Queue()

        def read_stdin() -> None:  # a daemon thread: never blocks the exit
            try:
                for line in sys.stdin:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
                loop.call_soon_threadsafe(lines.put_nowait, "")
            except RuntimeError:  # the loop already closed: we are exiting
                return

        threading.Thread(target=read_stdin, daemon=True).start()
        while True:
            line = await link.race(lines.get())
            if not line:
                break
            channel.send(line.rstrip("\n"))
        channel.close()
        await asyncio.sleep(0.2)
        return 0
    except PeerGoneError as gone:
        if gone.clean:
            say("* peer left")
            return 0
        say(f"* connection lost: {gone.reason}")
        return 1
    finally:
        await link.close()
