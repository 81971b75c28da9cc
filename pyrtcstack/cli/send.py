"""``pyrtcstack send FILE``: send a file over a WebRTC data channel.

    pyrtcstack send big.iso --room wss://signal.example:8765   # prints a room id
    pyrtcstack send big.iso                                    # copy-paste: prints an offer
                                                               # blob, reads the answer blob
    pyrtcstack send big.iso --browser                          # serves a page: open the
                                                               # printed URL in a browser

The receiver runs ``pyrtcstack receive`` (same ``--room`` plus ``--join ROOM``, or paste the
offer), or is the browser that opens the page (it shows progress, checks the SHA-256 with
``crypto.subtle`` and offers the file as a download). Progress with rate and ETA on
stderr; the receiver checks the SHA-256 and says ``ok``; the exit status is 0 only then.
Back-pressure through ``bufferedamountlow``.

If the receiver goes away (it leaves the room, closes the channel, or stops answering ICE
consent checks for a few seconds), the sender says so and exits with status 1; Ctrl-C
closes the connection, so the receiver learns it at once (exit status 130).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from typing import Any

from ..aio import DataChannel, PeerConnection
from ._args import CliError, number
from ._transfer import (
    CHUNK,
    HIGH_WATER,
    PeerGoneError,
    Progress,
    add_signaling_args,
    connect,
    say,
)

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "send",
        help="send a file over a data channel (room, copy-paste or browser page)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the file to send")
    p.add_argument(
        "--window",
        type=number(int, low=CHUNK, high=1 << 30),
        default=HIGH_WATER,
        metavar="BYTES",
        help="most bytes queued in the channel before waiting for bufferedamountlow "
        f"(threshold a quarter of it; default {HIGH_WATER})",
    )
    add_signaling_args(p)
    p.set_defaults(func=run)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def run(args: argparse.Namespace) -> int:
    if args.join:
        raise CliError("send creates the room (or prints the offer); the receiver joins")
    if os.path.isdir(args.file):
        raise CliError(f"{args.file!r} is a folder; send one file (or an archive of it)")
    try:
        size = os.path.getsize(args.file)
        digest = _sha256(args.file)
    except OSError as exc:
        raise CliError(f"cannot read {args.file!r}: {exc.strerror}") from None
    return asyncio.run(_send(args, size, digest))


def _of(done: int, size: int) -> str:
    return f"{done / 1e6:.1f} of {size / 1e6:.1f} MB"


async def _send(args: argparse.Namespace, size: int, digest: str) -> int:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[DataChannel] = loop.create_future()
    name = os.path.basename(args.file)

    def got_channel(channel: DataChannel) -> None:
        if channel.label == "file" and not ready.done():
            ready.set_result(channel)

    def setup(pc: PeerConnection) -> None:
        got_channel(pc.create_data_channel("file"))

    if args.browser:
        # The page offers and creates the channel; GET /info tells it what is coming.
        info = {"tool": "send", "name": name, "size": size}

        def on_pc(pc: PeerConnection) -> None:
            pc.on("datachannel", got_channel)

        link = await connect(args, None, on_pc, page="transfer.html", info=info)
    else:
        link = await connect(args, setup)
    acked = 0  # bytes that left our buffer (what the receiver has, give or take the network)
    progress: Progress | None = None
    try:
        channel = await link.race(ready, args.timeout)
        link.watch_channel(channel)
        await link.race(channel.wait_open(args.timeout))
        verdict: asyncio.Future[str] = loop.create_future()

        def settle(answer: object) -> None:
            if isinstance(answer, str) and answer.startswith("{"):
                # What the receiver computed (the browser page reports its crypto.subtle
                # digest this way), before its verdict.
                try:
                    report = json.loads(answer)
                    say(
                        f"the receiver computed sha-256 {report.get('sha256')} over "
                        f"{report.get('size')} bytes ({report.get('impl', '?')})"
                    )
                except (ValueError, AttributeError):
                    pass
                return
            if not verdict.done():
                verdict.set_result(str(answer))

        channel.on("message", settle)
        low = asyncio.Event()
        window = max(args.window, CHUNK)
        channel.buffered_amount_low_threshold = window // 4
        channel.on("bufferedamountlow", low.set)
        waits = 0
        channel.send(json.dumps({"name": name, "size": size, "sha256": digest}))
        progress = Progress(size, f"send {name}")
        progress.update(0, final=False)
        sent = 0
        with open(args.file, "rb") as f:
            while block := f.read(CHUNK):
                while channel.buffered_amount > window:
                    low.clear()
                    waits += 1
                    await link.race(low.wait())
                if link.gone.done():
                    raise link.gone.result()
                channel.send(block)
                sent += len(block)
                acked = max(0, sent - channel.buffered_amount)
                progress.update(acked)
                if sent % (16 * CHUNK) == 0:
                    await asyncio.sleep(0)  # let the loop flush
        channel.send(json.dumps({"waits": waits, "window": window}))  # for the receiver's log
        channel.send("end")
        deadline = loop.time() + args.timeout + size / 1e5
        while not verdict.done():  # the queue drains, then the receiver hashes
            if loop.time() > deadline:
                raise CliError("no verdict from the receiver (it never said ok or bad)", 1)
            acked = size - channel.buffered_amount
            if channel.buffered_amount:  # still draining (then: the receiver hashes)
                progress.update(acked)
            waiting: set[asyncio.Future[Any]] = {verdict, link.gone}
            await asyncio.wait(waiting, timeout=0.1)
            if link.gone.done() and not verdict.done():
                raise link.gone.result()
        answer = verdict.result()
        progress.update(size, final=True)
        if answer != "ok":
            raise CliError(f"the receiver says {answer!r}: the file it got does not match", 1)
        say(f"sent {name}: {size} bytes, sha-256 {digest} verified by the receiver")
        say(
            f"back-pressure: waited for bufferedamountlow {waits} times (window {window} bytes)",
            sys.stderr,
        )
        return 0
    except PeerGoneError as gone:
        raise CliError(
            f"the receiver went away ({gone.reason}) after {_of(acked, size)}: "
            "the transfer is incomplete",
            1,
        ) from None
    except asyncio.CancelledError:  # Ctrl-C
        say(
            f"pyrtcstack send: interrupted after {_of(acked, size)}; closing the connection "
            "tells the receiver",
            sys.stderr,
        )
        raise
    finally:
        Progress.finish()
        await asyncio.sleep(0.1)  # let a last message leave before closing
        await link.close()
