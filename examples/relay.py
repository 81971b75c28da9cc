"""A small relay: what one peer sends on its data channel, another peer receives.

Run it:  python examples/relay.py

    alice ══ channel ══> relay ══ channel ══> bob
          <══════════════       <══════════════

The relay holds two peer connections, one per side, and copies each message from one
channel to the other, text as text and binary as binary. Everything runs in this process
over loopback (the offers and answers are handed over in memory); in real life each
side would reach the relay through a signaling server.

A relay must bound its memory: if the outgoing side does not keep up (its
``buffered_amount``, the bytes the far peer has not acknowledged, passes MAX_BUFFERED), it
drops the message and counts it instead of queueing without limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pyrtcstack import PeerConnection
from pyrtcstack.peerconnection import Settings

MAX_BUFFERED = 4 * 1024 * 1024  # bytes not yet acknowledged by the far side


async def connect(offerer: PeerConnection, answerer: PeerConnection) -> None:
    """Offer/answer between two peers of this process (non-trickle, JSEP)."""
    await offerer.set_local_description()
    await offerer.wait_gathering_complete()
    await answerer.set_remote_description(offerer.local_description)
    await answerer.set_local_description()
    await answerer.wait_gathering_complete()
    await offerer.set_remote_description(answerer.local_description)


def pipe(source: Any, sink: Any, stats: dict[str, int]) -> None:
    """Copy every message of ``source`` to ``sink`` (both aio DataChannels)."""

    def forward(message: str | bytes) -> None:
        if sink.ready_state != "open" or sink.buffered_amount > MAX_BUFFERED:
            stats["dropped"] += 1  # bounded: never queue without limit
            return
        sink.send(message)
        stats["relayed"] += 1

    source.on("message", forward)


async def main() -> list[str]:
    loopback = Settings(host_addresses=["127.0.0.1"])
    alice, bob = PeerConnection(settings=loopback), PeerConnection(settings=loopback)
    relay_a, relay_b = PeerConnection(settings=loopback), PeerConnection(settings=loopback)
    stats = {"relayed": 0, "dropped": 0}
    log: list[str] = []
    bob_got: asyncio.Queue[str | bytes] = asyncio.Queue()
    alice_got: asyncio.Queue[str | bytes] = asyncio.Queue()
    try:
        # alice and bob each open a channel to the relay.
        to_relay = alice.create_data_channel("relay")
        from_relay = bob.create_data_channel("relay")
        accepted: dict[str, Any] = {}
        relay_a.on("datachannel", lambda ch: accepted.__setitem__("alice", ch))
        relay_b.on("datachannel", lambda ch: accepted.__setitem__("bob", ch))
        await connect(alice, relay_a)
        await connect(bob, relay_b)
        await to_relay.wait_open()
        await from_relay.wait_open()
        while len(accepted) < 2:  # the relay's side of both channels
            await asyncio.sleep(0.01)
        # The relay itself: two pipes, one per direction.
        pipe(accepted["alice"], accepted["bob"], stats)
        pipe(accepted["bob"], accepted["alice"], stats)
        from_relay.on("message", bob_got.put_nowait)
        to_relay.on("message", alice_got.put_nowait)

        to_relay.send("hi bob, it's alice")
        to_relay.send(bytes(range(8)))
        log.append(f"bob got {await asyncio.wait_for(bob_got.get(), 10)!r}")
        log.append(f"bob got {await asyncio.wait_for(bob_got.get(), 10)!r}")
        from_relay.send("hi alice")
        log.append(f"alice got {await asyncio.wait_for(alice_got.get(), 10)!r}")
        log.append(f"relay: {stats['relayed']} relayed, {stats['dropped']} dropped")
        return log
    finally:
        for pc in (alice, bob, relay_a, relay_b):
            await pc.close()


if __name__ == "__main__":
    for line in asyncio.run(main()):
        print(line)
