"""``pyrtcstack send FILE``: send a file over a WebRTC data channel.

    pyrtcstack send big.iso --room wss://signal.example:8765   # prints a room id
    pyrtcstack send big.iso                                    # copy-paste: prints an offer
                                                               # blob, reads the answer blob

The receiver runs ``pyrtcstack receive`` (same ``--room`` plus ``--join ROOM``, or paste the
offer). Progress with rate and ETA on stderr; the receiver checks the SHA-256 and says
``ok``; the exit status is 0 only then. Back-pressure through ``bufferedamountlow``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys

from ..aio.peerconnection import DataChannel, PeerConnection
from ._transfer import CHUNK, HIGH_WATER, LOW_WATER, Progress, add_signaling_args, connect

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "send",
        help="send a file over a data channel (room or copy-paste signaling)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE")
    add_signaling_args(p)
    p.set_defaults(func=run)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def run(args: argparse.Namespace) -> int:
    if args.browser:
        print("send --browser is not there yet: use chat --browser", file=sys.stderr)
        return 2
    size = os.path.getsize(args.file)
    digest = _sha256(args.file)
    return asyncio.run(_send(args, size, digest))


async def _send(args: argparse.Namespace, size: int, digest: str) -> int:
    channels: list[DataChannel] = []

    def setup(pc: PeerConnection) -> None:
        channels.append(pc.create_data_channel("file"))

    pc = await connect(args, setup)
    try:
        channel = channels[0]
        await channel.wait_open(args.timeout)
        verdict: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def settle(answer: object) -> None:
            if not verdict.done():
                verdict.set_result(str(answer))

        channel.on("message", settle)
        channel.on("close", lambda: settle("closed"))
        low = asyncio.Event()
        channel.buffered_amount_low_threshold = LOW_WATER
        channel.on("bufferedamountlow", low.set)
        name = os.path.basename(args.file)
        channel.send(json.dumps({"name": name, "size": size, "sha256": digest}))
        progress = Progress(size, f"send {name}")
        sent = 0
        with open(args.file, "rb") as f:
            while block := f.read(CHUNK):
                while channel.buffered_amount > HIGH_WATER:
                    low.clear()
                    await low.wait()
                channel.send(block)
                sent += len(block)
                progress.update(max(0, sent - channel.buffered_amount))
                if sent % (16 * CHUNK) == 0:
                    await asyncio.sleep(0)  # let the loop flush
        channel.send("end")
        answer = await asyncio.wait_for(verdict, args.timeout + size / 1e5)
        progress.update(size, final=True)
        if answer != "ok":
            print(f"the receiver says {answer!r}", file=sys.stderr)
            return 1
        print(f"sent {name}: {size} bytes, sha-256 {digest} verified by the receiver")
        return 0
    finally:
        await pc.close()
