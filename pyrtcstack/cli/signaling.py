"""``pyrtcstack signaling-server``: run the WebSocket room signaling server.

    pyrtcstack signaling-server --host 0.0.0.0 --port 8765 [--cert cert.pem --key key.pem]

It prints ``signaling server listening on ws://HOST:PORT`` (``wss://`` with TLS) and runs
until interrupted (SIGINT/SIGTERM exit 0). Protocol and limits: docs/signaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "signaling-server",
        help="WebSocket signaling server with rooms (needs the 'signaling' extra)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0: any free one)")
    p.add_argument("--cert", help="PEM certificate chain: serve wss:// (with --key)")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument("--room-size", type=int, default=2, help="peers per room (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..signaling import SignalingServer
    except ImportError:  # pragma: no cover - depends on the extra
        print(
            "pyrtcstack signaling-server needs `pip install pyrtcstack[signaling]`", file=sys.stderr
        )
        return 2
    if bool(args.cert) != bool(args.key):
        print("--cert and --key go together", file=sys.stderr)
        return 2
    ssl_context = None
    if args.cert:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(args.cert, args.key)

    async def main() -> int:
        server = SignalingServer(max_room_members=args.room_size)
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
