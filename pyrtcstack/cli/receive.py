"""``pyrtcstack receive``: receive a file sent with ``pyrtcstack send`` or from a browser.

    pyrtcstack receive --room wss://signal.example:8765 --join ROOM [--out DIR]
    pyrtcstack receive                                   # copy-paste: paste the offer blob,
                                                         # send back the printed answer
    pyrtcstack receive --browser [--out DIR]             # serves a page: open the printed
                                                         # URL, pick a file, it comes here

The file is written to ``--out`` (default: the current folder) under a ``.part`` name and
renamed only once its size and SHA-256 match the sender's header; the sender is told what
we computed, then ``ok`` or ``bad``. Progress with rate and ETA on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from typing import Any

from ._transfer import Progress, add_signaling_args, connect

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


async def _receive(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.out):
        print(f"receive: {args.out!r} is not a folder", file=sys.stderr)
        return 2
    if not args.room and not args.browser:
        args.join = "-"
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    state: dict[str, Any] = {}

    def finish(code: int) -> None:
        if not done.done():
            done.set_result(code)

    def on_message(channel: Any, message: str | bytes) -> None:
        if isinstance(message, bytes):
            if "file" not in state:
                return
            state["file"].write(message)
            state["hash"].update(message)
            state["got"] += len(message)
            state["progress"].update(state["got"])
        elif "header" not in state:
            try:
                header = json.loads(message)
                name = os.path.basename(str(header["name"])) or "received"
                size = int(header["size"])
                str(header["sha256"])
            except (ValueError, KeyError, TypeError) as exc:
                print(f"receive: bad header {message[:100]!r}: {exc}", file=sys.stderr)
                channel.send("bad")
                finish(1)
                return
            state.update(
                header=header,
                path=os.path.join(args.out, name),
                got=0,
                hash=hashlib.sha256(),
                progress=Progress(size, f"receive {name}"),
            )
            state["file"] = open(state["path"] + ".part", "wb")  # noqa: SIM115
        elif message.startswith("{"):  # the sender's back-pressure log
            try:
                log = json.loads(message)
                print(
                    f"the sender waited for bufferedamountlow {int(log['waits'])} times "
                    f"(window {int(log['window'])} bytes)",
                    flush=True,
                )
            except (ValueError, KeyError, TypeError):
                pass
        elif message == "end":
            state["file"].close()
            state["progress"].update(state["got"], final=True)
            computed = state["hash"].hexdigest()
            ok = computed == state["header"]["sha256"] and state["got"] == state["header"]["size"]
            if ok:
                os.replace(state["path"] + ".part", state["path"])
                print(f"received {state['path']}: {state['got']} bytes, sha-256 verified")
                print(f"sha-256 {computed}", flush=True)
            else:
                print("sha-256 or size mismatch: the file was kept as .part", file=sys.stderr)
            report = {"sha256": computed, "size": state["got"], "impl": "hashlib"}
            channel.send(json.dumps(report))
            channel.send("ok" if ok else "bad")
            finish(0 if ok else 1)

    def on_channel(channel: Any) -> None:
        channel.on("message", lambda m: on_message(channel, m))
        channel.on("close", lambda: finish(1))

    info = {"tool": "receive"}
    pc = await connect(
        args,
        on_pc=lambda pc: pc.on("datachannel", on_channel),
        page="transfer.html",
        info=info,
    )
    try:
        return await done
    finally:
        if "file" in state and not state["file"].closed:
            state["file"].close()
        await asyncio.sleep(0.2)  # let the verdict leave before closing
        await pc.close()
