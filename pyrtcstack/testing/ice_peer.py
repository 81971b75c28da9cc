"""A command-line ICE peer for tests across real networks (network namespaces, two
machines): gathers with our asyncio driver, swaps credentials and candidates with the other
peer through files in a shared directory (no signalling server), connects, exchanges one
datagram each way and prints a JSON result.

::

    ip netns exec NS-A python -m pyrtcstack.testing.ice_peer controlling /tmp/x \\
        --stun 203.0.113.10:3478 --turn 203.0.113.10:3478 --user u --password p &
    ip netns exec NS-B python -m pyrtcstack.testing.ice_peer controlled /tmp/x ...

Exit status 0 when connected and both datagrams arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from ..aio import IceConnection
from ..common.core import Address
from ..ice import IceConfig, TurnServer

__all__ = ["main"]


def _addr(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return (host, int(port))


async def _run(args: argparse.Namespace) -> dict[str, object]:
    me = args.role
    other = "controlled" if me == "controlling" else "controlling"
    config = IceConfig(controlling=me == "controlling")
    if args.stun:
        config.stun_servers = [_addr(args.stun)]
    if args.turn:
        config.turn_servers = [TurnServer(_addr(args.turn), args.user, args.password)]
    config.relay_only = args.relay_only
    conn = IceConnection(config, addresses=args.address or None)
    await conn.gather()
    async with asyncio.timeout(args.timeout):
        await conn.gathering_complete.wait()
    folder = Path(args.dir)
    mine = {
        "ufrag": conn.local_ufrag,
        "pwd": conn.local_pwd,
        "candidates": [str(c.to_sdp()) for c in conn.local_candidates],
    }
    tmp = folder / f"{me}.tmp"
    tmp.write_text(json.dumps(mine))
    os.replace(tmp, folder / f"{me}.json")
    theirs_path = folder / f"{other}.json"
    async with asyncio.timeout(args.timeout):
        while not theirs_path.exists():
            await asyncio.sleep(0.02)
    theirs = json.loads(theirs_path.read_text())
    conn.set_remote_credentials(theirs["ufrag"], theirs["pwd"])
    for cand in theirs["candidates"]:
        conn.add_remote_candidate(cand)
    conn.end_of_remote_candidates()
    result: dict[str, object] = {"role": me, "candidates": mine["candidates"]}
    try:
        await conn.connected(args.timeout)
        pair = conn.agent.selected_pair
        assert pair is not None
        local = pair.valid_local or pair.local
        result["selected"] = [local.type.value, pair.remote.type.value]
        result["selected_addresses"] = [list(local.address), list(pair.remote.address)]
        payload = f"\x17hello from {me}".encode()
        received = b""
        async with asyncio.timeout(args.timeout):
            recv = asyncio.ensure_future(conn.recv())
            while not recv.done():
                conn.send(payload)
                await asyncio.wait([recv], timeout=0.2)
            received = recv.result()
            # keep answering a little so the other side gets ours too
            for _ in range(5):
                conn.send(payload)
                await asyncio.sleep(0.05)
        result["received"] = received.decode(errors="replace")
        result["ok"] = received == f"\x17hello from {other}".encode()
    except (TimeoutError, ConnectionError) as exc:
        result["ok"] = False
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["state"] = conn.state
    result["stats"] = dict(conn.agent.stats)
    await conn.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyrtcstack.testing.ice_peer")
    parser.add_argument("role", choices=["controlling", "controlled"])
    parser.add_argument("dir", help="shared directory for the candidate files")
    parser.add_argument("--stun", help="host:port of a STUN server")
    parser.add_argument("--turn", help="host:port of a TURN server (UDP)")
    parser.add_argument("--user", default="user")
    parser.add_argument("--password", default="pass")
    parser.add_argument("--relay-only", action="store_true")
    parser.add_argument("--address", action="append", help="host address (repeatable)")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args))
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
