"""``pyrtcstack interop PEER|URL``: run the interop scenarios and print the table.

    pyrtcstack interop chromium firefox werift pion  # launch each peer headless, loopback
    pyrtcstack interop gstreamer janus             # GStreamer webrtcbin (system python3),
                                                   # Janus's echotest plugin (HTTP API)
    pyrtcstack interop http://HOST:PORT/           # test a remote endpoint that serves the
                                                   # harness's HTTP protocol (docs/interop.md)
    pyrtcstack interop --endpoint --host 0.0.0.0 --port 8080
                                                   # be such an endpoint (our PeerConnection),
                                                   # so another machine can test this one
    pyrtcstack interop --serve                     # serve the page; open the printed URL
                                                   # in any browser (it is the peer)

A local peer is launched once and runs every scenario (we offer / they offer, trickle or
not, ICE restart, PCMU audio, TURN relay for browsers, the data channel checks, getStats
agreement). A URL endpoint runs the scenarios its hello says it supports (roles, trickle,
restart, audio; relay with --turn). For the browsers to stay on loopback, run it inside
a private network namespace, as the test suite does:
``unshare -n sh -c 'ip link set lo up && exec pyrtcstack interop chromium'`` (root).
Exit status: 0 when no check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile

from ._args import CliError, listening, number

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "interop",
        help="run the interop scenarios against Chromium, Firefox, werift, Pion, GStreamer, "
        "Janus, any browser, or an endpoint URL; or serve as an endpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "peers",
        nargs="*",
        metavar="PEER|URL",
        help="chromium, firefox, werift, pion, gstreamer, janus, or an http(s):// endpoint URL",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--serve",
        action="store_true",
        help="serve the harness page and wait for a browser to open it (manual peer)",
    )
    mode.add_argument(
        "--endpoint",
        action="store_true",
        help="serve the endpoint protocol with our PeerConnection until Ctrl-C "
        "(another machine runs `pyrtcstack interop URL`)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="--serve/--endpoint: listen address (default 127.0.0.1, loopback only; "
        "0.0.0.0 serves the network)",
    )
    p.add_argument(
        "--port",
        type=number(int, low=0, high=65535),
        default=0,
        help="--serve/--endpoint: TCP port (default 0: any free port)",
    )
    p.add_argument(
        "--turn",
        metavar="TURN_URL",
        help="URL form: also run the relay scenarios, the endpoint forced through this TURN "
        "server (if its hello says relay), e.g. turn:192.0.2.1:3478?transport=udp",
    )
    p.add_argument("--turn-user", default="", help="--turn: username")
    p.add_argument("--turn-password", default="", help="--turn: password")
    p.add_argument("--field-trials", help="Chromium --force-fieldtrials value")
    p.add_argument("--logs", help="folder for peer logs (default: a new temp folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="print each scenario's rows")
    p.set_defaults(func=run)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def run(args: argparse.Namespace) -> int:
    from ..interop import (
        PEERS,
        EndpointError,
        Launch,
        PeerSession,
        PeerUnavailableError,
        default_plan,
        default_scenarios,
        format_table,
        run_launch,
        run_scenario,
        run_url,
        settings_for,
        summary,
    )

    if args.endpoint:
        return _serve_endpoint(args)
    if not args.peers and not args.serve:
        raise CliError(f"name a peer ({', '.join(PEERS)}), an endpoint URL, or use --serve")
    for peer in args.peers:
        if not _is_url(peer) and peer not in PEERS:
            raise CliError(
                f"unknown peer {peer!r}: one of {', '.join(PEERS)}, or an http(s):// URL"
            )
    local = args.serve or not all(_is_url(peer) for peer in args.peers)
    log_dir = args.logs or (tempfile.mkdtemp(prefix="pyrtcstack-interop-") if local else "")
    if args.logs:
        try:
            os.makedirs(args.logs, exist_ok=True)
        except OSError as exc:
            raise CliError(f"--logs {args.logs}: {exc.strerror}") from None

    def verbose(text: str) -> None:
        if args.verbose:
            print(text, file=sys.stderr, flush=True)

    async def serve() -> list:  # type: ignore[type-arg]
        scenarios = default_scenarios()
        session = PeerSession(scenarios, gum_first=True)
        with listening(f"{args.host}:{args.port}"):
            url = await session.start(args.host, args.port)
        print(f"open {url} in a browser (it runs {len(scenarios)} scenarios)", flush=True)
        await session.config_fetched.wait()
        # A page opened from another machine needs our real addresses, not 127.0.0.1.
        factory = settings_for(url)
        results = [
            await run_scenario(session, index, "browser", factory)
            for index in range(len(scenarios))
        ]
        await session.close()
        return results

    async def launch_all() -> list:  # type: ignore[type-arg]
        results = []
        for peer in args.peers:
            if _is_url(peer):
                try:
                    results += await run_url(peer, verbose=verbose, turn=turn)
                except EndpointError as exc:
                    print(f"{peer}: {exc}", file=sys.stderr)
                    errors.append(peer)
                continue
            plan = default_plan(peer)
            if args.field_trials:
                plan = [Launch(peer, plan[0].scenarios, args.field_trials, "trials")]
            for item in plan:
                try:
                    results += await run_launch(item, log_dir=log_dir, verbose=verbose)
                except PeerUnavailableError as exc:
                    print(f"{peer}: {exc}", file=sys.stderr)
                    errors.append(peer)
        return results

    errors: list[str] = []
    turn = None
    if args.turn:
        turn = {"urls": args.turn, "username": args.turn_user, "credential": args.turn_password}
    results = asyncio.run(serve() if args.serve else launch_all())
    print(format_table(results))
    passed, failed = summary(results)
    logs = f" (peer logs in {log_dir})" if log_dir else ""
    print(f"\n{passed} passed, {failed} failed{logs}")
    return 0 if failed == 0 and results and not errors else 1


def _serve_endpoint(args: argparse.Namespace) -> int:
    from ..interop import Endpoint

    async def main() -> None:
        endpoint = Endpoint()
        with listening(f"{args.host}:{args.port}"):
            url = await endpoint.start(args.host, args.port)
        print(f"endpoint: {url}", flush=True)
        shown = url.replace("0.0.0.0", "THIS-HOST").replace("[::]", "THIS-HOST")
        print(f"on the other machine: pyrtcstack interop {shown}", file=sys.stderr, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await endpoint.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
