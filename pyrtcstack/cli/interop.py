"""``pyrtcstack interop PEER|URL``: run the interop scenarios and print the table.

    pyrtcstack interop chromium firefox werift     # launch each peer headless, loopback
    pyrtcstack interop --serve                     # serve the page; open the printed URL
                                                   # in any browser (it is the peer)

Each peer is launched once and runs every scenario (we offer / they offer, trickle or
not, ICE restart, the data channel checks, getStats agreement). For the browsers to stay
on loopback, run it inside a private network namespace, as the test suite does:
``unshare -n sh -c 'ip link set lo up && exec pyrtcstack interop chromium'`` (root).
The HTTP signaling protocol a custom endpoint must speak is in docs/interop.md.
Exit status: 0 when no check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "interop",
        help="run the interop scenarios against Chromium, Firefox, werift or any browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("peers", nargs="*", metavar="PEER", help="chromium, firefox, werift")
    p.add_argument(
        "--serve",
        action="store_true",
        help="serve the harness page and wait for a browser to open it (manual peer)",
    )
    p.add_argument("--host", default="127.0.0.1", help="--serve: listen address")
    p.add_argument("--port", type=int, default=0, help="--serve: TCP port")
    p.add_argument("--field-trials", help="Chromium --force-fieldtrials value")
    p.add_argument("--logs", help="folder for peer logs (default: a new temp folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..interop import PeerUnavailableError, default_plan, format_table, run_launch
    from ..interop.matrix import Launch, default_scenarios, loopback_settings, summary
    from ..interop.scenarios import run_scenario
    from ..interop.session import PeerSession

    if not args.peers and not args.serve:
        print("name a peer (chromium, firefox, werift) or use --serve", file=sys.stderr)
        return 2
    log_dir = args.logs or tempfile.mkdtemp(prefix="pyrtcstack-interop-")

    async def serve() -> list:  # type: ignore[type-arg]
        scenarios = default_scenarios()
        session = PeerSession(scenarios, gum_first=True)
        url = await session.start(args.host, args.port)
        print(f"open {url} in a browser (it runs {len(scenarios)} scenarios)", flush=True)
        await session.config_fetched.wait()
        results = [
            await run_scenario(session, index, "browser", loopback_settings)
            for index in range(len(scenarios))
        ]
        await session.close()
        return results

    async def launch_all() -> list:  # type: ignore[type-arg]
        results = []
        for peer in args.peers:
            plan = default_plan(peer)
            if args.field_trials:
                plan = [Launch(peer, plan[0].scenarios, args.field_trials, "trials")]
            for item in plan:
                try:
                    results += await run_launch(item, log_dir=log_dir)
                except PeerUnavailableError as exc:
                    print(f"{peer}: {exc}", file=sys.stderr)
        return results

    results = asyncio.run(serve() if args.serve else launch_all())
    print(format_table(results))
    passed, failed = summary(results)
    print(f"\n{passed} passed, {failed} failed (peer logs in {log_dir})")
    return 0 if failed == 0 and results else 1
