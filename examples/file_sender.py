"""Send a file over a WebRTC data channel, with back-pressure, and check it arrived intact.

Run it:  python examples/file_sender.py [FILE] [--out DIR]

Both peers run in this process over loopback (no STUN server, no signaling server: the
offer and answer are handed over in memory). Without FILE the script sends itself.

The protocol is the simplest that is still honest:
1. a text message with a JSON header: name, size and SHA-256;
2. the file in binary messages of CHUNK bytes;
3. the receiver hashes what it wrote and compares.

Back-pressure: ``send()`` only queues, so a sender that loops over a 1 GB file would queue
1 GB. We stop when ``buffered_amount`` (bytes the peer has not acknowledged yet) passes
HIGH_WATER and resume on the "bufferedamountlow" event (the W3C pattern).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from pyrtcstack import PeerConnection
from pyrtcstack.peerconnection import Settings

CHUNK = 16 * 1024  # bytes per message: every WebRTC stack accepts 16 KiB
HIGH_WATER = 1024 * 1024  # stop sending above this many unacknowledged bytes
LOW_WATER = 256 * 1024  # ... and resume when the peer has acknowledged down to this


async def send_file(channel: Any, path: Path) -> None:
    data = path.read_bytes()
    header = {"name": path.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    channel.send(json.dumps(header))  # str → a text message (PPID 51)
    can_send = asyncio.Event()
    can_send.set()
    channel.buffered_amount_low_threshold = LOW_WATER
    channel.on("bufferedamountlow", can_send.set)
    for offset in range(0, len(data), CHUNK):
        if channel.buffered_amount > HIGH_WATER:
            can_send.clear()
            await can_send.wait()  # the peer is behind: wait for its acknowledgements
        channel.send(data[offset : offset + CHUNK])  # bytes → a binary message (PPID 53)


def receive_file(channel: Any, out_dir: Path, done: asyncio.Future[str]) -> None:
    state: dict[str, Any] = {}

    def on_message(message: str | bytes) -> None:
        if isinstance(message, str):  # the header comes first, as text
            state.update(json.loads(message), received=0, hash=hashlib.sha256())
            # keep only the file name: a peer must not choose where we write (../../etc)
            state["file"] = (out_dir / Path(state["name"]).name).open("wb")
            if state["size"] == 0:  # an empty file: nothing will follow
                on_message(b"")
            return
        state["file"].write(message)
        state["hash"].update(message)
        state["received"] += len(message)
        if state["received"] >= state["size"]:
            state["file"].close()
            ok = state["hash"].hexdigest() == state["sha256"]
            check = "ok" if ok else "MISMATCH"
            done.set_result(f"{state['name']}: {state['received']:,} bytes, SHA-256 {check}")

    channel.on("message", on_message)


async def main(path: Path, out_dir: Path) -> str:
    loopback = Settings(host_addresses=["127.0.0.1"])
    sender, receiver = PeerConnection(settings=loopback), PeerConnection(settings=loopback)
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    receiver.on("datachannel", lambda channel: receive_file(channel, out_dir, done))
    channel = sender.create_data_channel("file")
    try:
        # Offer/answer, non-trickle: each description carries all candidates (JSEP).
        await sender.set_local_description()
        await sender.wait_gathering_complete()
        await receiver.set_remote_description(sender.local_description)
        await receiver.set_local_description()
        await receiver.wait_gathering_complete()
        await sender.set_remote_description(receiver.local_description)
        await channel.wait_open()
        await send_file(channel, path)
        return await asyncio.wait_for(done, 60)
    finally:
        await sender.close()
        await receiver.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=__file__, help="what to send (default: me)")
    parser.add_argument("--out", help="where the receiver writes it (default: a temp dir)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="file-sender-"))
    print(asyncio.run(main(Path(args.file), out)), "->", out)
