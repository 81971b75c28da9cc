"""``pyrtcstack receive``: receive a file sent with ``pyrtcstack send`` or from a browser.

    pyrtcstack receive --room wss://signal.example:8765 --join ROOM [--out DIR]
    pyrtcstack receive                                   # copy-paste: paste the offer blob,
                                                         # send back the printed answer
    pyrtcstack receive --browser [--out DIR]             # serves a page: open the printed
                                                         # URL, pick a file, it comes here

The file is written to ``--out`` (default: the current folder) under a ``.part`` name and
renamed only once its size and SHA-256 match the sender's header; the sender is told what
we computed, then ``ok`` or ``bad``. Progress with rate and ETA on stderr.

If the sender goes away before the end (Ctrl-C, it leaves the room, closes the channel
or stops answering ICE consent checks for a few seconds), or on Ctrl-C here, the partial
``.part`` file is removed (there is no resume) and a line says so; exit status 1 (130 on
Ctrl-C). Only a file whose size or SHA-256 does not match is kept as ``.part``. If this
process is killed (SIGKILL), its ``.part`` file stays behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
from typing import Any, BinaryIO

from ._args import CliError
from ._transfer import PeerGoneError, Progress, add_signaling_args, connect, say

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "receive",
        help="receive a file from `pyrtcstack send` or a browser page (room, copy-paste "
        "or browser)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default=".", help="folder to write into (default: .)")
    add_signaling_args(p)
    p.set_defaults(func=lambda args: asyncio.run(_receive(args)))


class _Incoming:
    """The file being received: header, ``.part`` file, hash, progress."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.header: dict[str, Any] | None = None
        self.path = ""
        self.size = 0
        self.got = 0
        self.hash = hashlib.sha256()
        self.file: BinaryIO | None = None
        self.progress: Progress | None = None
        self.stopped = False  # no more writes (ended, abandoned or interrupted)
        self.answered = False  # our verdict was sent

    @property
    def part(self) -> str:
        return self.path + ".part"

    def open(self, header: dict[str, Any], name: str, size: int) -> None:
        self.header = header
        self.path = os.path.join(self.out, name)
        self.size = size
        self.file = open(self.part, "wb")  # noqa: SIM115
        self.progress = Progress(size, f"receive {name}")
        self.progress.update(0)

    def write(self, data: bytes) -> None:
        if self.stopped or self.file is None or self.progress is None:
            return
        self.file.write(data)
        self.hash.update(data)
        self.got += len(data)
        self.progress.update(self.got)

    def abandon(self, why: str) -> None:
        """Stop; remove the partial file; say what happened and what became of it."""
        self.stopped = True
        Progress.finish()
        if self.file is None:
            say(f"pyrtcstack receive: {why} before sending a file", sys.stderr)
            return
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.part)
        say(
            f"pyrtcstack receive: {why} after {self.got / 1e6:.1f} of {self.size / 1e6:.1f} MB; "
            f"removed the partial file {self.part}",
            sys.stderr,
        )

    def close(self) -> None:
        self.stopped = True
        if self.file is not None and not self.file.closed:
            self.file.close()


async def _receive(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.out):
        raise CliError(f"{args.out!r} is not a folder")
    if args.room and not args.join:
        raise CliError("receive --room needs --join ROOM (the room that the sender printed)")
    if not args.room and not args.browser:
        args.join = "-"
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    incoming = _Incoming(args.out)
    channels: list[Any] = []

    def finish(code: int) -> None:
        if not done.done():
            done.set_result(code)

    def on_message(channel: Any, message: str | bytes) -> None:
        if incoming.stopped:
            return
        if isinstance(message, bytes):
            incoming.write(message)
        elif incoming.header is None:
            try:
                header = json.loads(message)
                name = os.path.basename(str(header["name"])) or "received"
                size = int(header["size"])
                str(header["sha256"])
            except (ValueError, KeyError, TypeError) as exc:
                say(f"pyrtcstack receive: bad header {message[:100]!r}: {exc}", sys.stderr)
                channel.send("bad")
                incoming.stopped = incoming.answered = True
                finish(1)
                return
            incoming.open(header, name, size)
        elif message.startswith("{"):  # the sender's back-pressure log
            try:
                log = json.loads(message)
                say(
                    f"the sender waited for bufferedamountlow {int(log['waits'])} times "
                    f"(window {int(log['window'])} bytes)"
                )
            except (ValueError, KeyError, TypeError):
                pass
        elif message == "end":
            incoming.close()
            assert incoming.progress is not None and incoming.header is not None
            incoming.progress.update(incoming.got, final=True)
            computed = incoming.hash.hexdigest()
            ok = computed == incoming.header["sha256"] and incoming.got == incoming.size
            if ok:
                os.replace(incoming.part, incoming.path)
                say(f"received {incoming.path}: {incoming.got} bytes, sha-256 verified")
                say(f"sha-256 {computed}")
            else:
                say(
                    "pyrtcstack receive: sha-256 or size mismatch: the file was kept as "
                    + incoming.part,
                    sys.stderr,
                )
            report = {"sha256": computed, "size": incoming.got, "impl": "hashlib"}
            channel.send(json.dumps(report))
            channel.send("ok" if ok else "bad")
            incoming.answered = True
            finish(0 if ok else 1)

    def on_channel(channel: Any) -> None:
        channels.append(channel)
        channel.on("message", lambda m: on_message(channel, m))

    info = {"tool": "receive"}
    link = await connect(
        args,
        on_pc=lambda pc: pc.on("datachannel", on_channel),
        page="transfer.html",
        info=info,
    )
    for channel in channels:
        link.watch_channel(channel)
    link.pc.on("datachannel", link.watch_channel)
    try:
        return await link.race(done)
    except PeerGoneError as gone:
        incoming.abandon(f"the sender went away ({gone.reason})")
        return 1
    except asyncio.CancelledError:  # Ctrl-C
        incoming.abandon("interrupted")
        raise
    finally:
        incoming.close()
        Progress.finish()
        if incoming.answered:
            await asyncio.sleep(0.2)  # let the verdict leave before closing
        await link.close()
