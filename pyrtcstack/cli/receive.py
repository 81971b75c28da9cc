"""``pyrtcstack receive``: receive a file sent with ``pyrtcstack send``.

    pyrtcstack receive --room wss://signal.example:8765 --join ROOM [--out DIR]
    pyrtcstack receive                                   # copy-paste: paste the offer blob,
                                                         # send back the printed answer

The file is written to ``--out`` (default: the current folder) under a ``.part`` name and
renamed only once its SHA-256 matches the sender's; the sender is told ``ok`` or ``bad``.
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
        help="receive a file from `pyrtcstack send` (room or copy-paste signaling)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default=".", help="folder to write into (default: .)")
    add_signaling_args(p)
    p.set_defaults(func=lambda args: asyncio.run(_receive(args)))


async def _receive(args: argparse.Namespace) -> int:
    if args.browser:
        print("receive --browser is not there yet: use chat --browser", file=sys.stderr)
        return 2
    if not args.room:
        args.join = "-"
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    state: dict[str, Any] = {}

    def on_message(channel: Any, message: str | bytes) -> None:
        if isinstance(message, bytes):
            if "file" not in state:
                return
            state["file"].write(message)
            state["hash"].update(message)
            state["got"] += len(message)
            state["progress"].update(state["got"])
        elif "header" not in state:
            header = json.loads(message)
            name = os.path.basename(str(header["name"])) or "received"
            state.update(
                header=header,
                path=os.path.join(args.out, name),
                got=0,
                hash=hashlib.sha256(),
                progress=Progress(int(header["size"]), f"receive {name}"),
            )
            state["file"] = open(state["path"] + ".part", "wb")  # noqa: SIM115
        elif message == "end":
            state["file"].close()
            state["progress"].update(state["got"], final=True)
            ok = (
                state["hash"].hexdigest() == state["header"]["sha256"]
                and state["got"] == state["header"]["size"]
            )
            if ok:
                os.replace(state["path"] + ".part", state["path"])
                print(f"received {state['path']}: {state['got']} bytes, sha-256 verified")
            else:
                print("sha-256 mismatch: the file was kept as .part", file=sys.stderr)
            channel.send("ok" if ok else "bad")
            if not done.done():
                done.set_result(0 if ok else 1)

    def on_channel(channel: Any) -> None:
        channel.on("message", lambda m: on_message(channel, m))

    pc = await connect(args, on_pc=lambda pc: pc.on("datachannel", on_channel))
    try:
        return await done
    finally:
        await asyncio.sleep(0.2)  # let the verdict leave before closing
        await pc.close()
