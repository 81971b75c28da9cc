"""``pyrtcstack signaling-server``: run the WebSocket room signaling server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from ._args import LOOPBACK, CliError, listening, number, server_tls

__all__ = ["DESCRIPTION", "register"]

DESCRIPTION = f"""\
Run the WebSocket signaling server with rooms (protocol and limits: docs/signaling.md),
for pyrtcstack send, receive and chat --room and for SignalingClient.

  pyrtcstack signaling-server --port 8765
  pyrtcstack signaling-server --host 0.0.0.0 --port 8765 --cert cert.pem --key key.pem

It prints "signaling server listening on ws://HOST:PORT" (wss:// with --cert) and runs
until interrupted (SIGINT/SIGTERM exit 0). Like every pyrtcstack server it listens on the
loopback address by default ({LOOPBACK}); --host 0.0.0.0 serves the network (use TLS
there: --cert and --key). Needs the optional websockets package (pyrtcstack[signaling]).
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "signaling-server",
        help=f"WebSocket signaling server with rooms ({LOOPBACK} unless --host)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host",
        default=LOOPBACK,
        help=f"listen address (default {LOOPBACK}, loopback only; 0.0.0.0 serves the network)",
    )
    p.add_argument(
        "--port",
        type=number(int, low=0, high=65535),
        default=8765,
        help="TCP port (default 8765; 0: any free one)",
    )
    p.add_argument("--cert", help="PEM certificate chain: serve wss:// (with --key)")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument(
        "--room-size",
        type=number(int, low=2, high=64),
        default=2,
        help="peers per room (default 2)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..signaling import SignalingServer
    except ImportError:  # pragma: no cover - depends on the extra
        raise CliError("signaling-server needs `pip install pyrtcstack[signaling]`") from None
    if bool(args.cert) != bool(args.key):
        raise CliError("--cert and --key go together")
    ssl_context = server_tls(args.cert, args.key) if args.cert else None

    async def main() -> int:
        server = SignalingServer(max_room_members=args.room_size)
        shown = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
        with listening(shown):
            url = await server.start(args.host, args.port, ssl_context=ssl_context)
        print(f"signaling server listening on {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.close()
        return 0

    return asyncio.run(main())
