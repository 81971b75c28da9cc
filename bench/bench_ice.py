"""ICE benchmark: pyrtcstack.ice on the virtual network, and beside aioice on loopback.

Measures:

* **checks/s on the virtual network**: one agent pair, 8 host addresses each (64 pairs),
  Ta = 1 ms, the best pair black-holed so nomination waits and every other pair gets
  checked; the number is connectivity checks (requests, each answered) per wall second,
  both agents and the network simulation included;
* **NAT matrix**: wall time of the 16 cases {full-cone, restricted, port-restricted,
  symmetric}² with our TURN server (every case connects, relayed when RFC 4787 says so);
* **data path**: application datagrams through a connected agent (receive to event, send to
  the selected pair), per second, no sockets;
* **consent checks** (RFC 7675): CPU per check between two connected agents wired directly
  (no network, no driver): the request built and sent on a timer, answered by the peer,
  the answer read; both agents' timers and deadlines included. What the agent costs in
  the idle-CPU figure of ``bench_pc.py --sections pairs`` (issue 15 §5);
* **setup on loopback, beside aioice**: wall time from "both sides gathered and have each
  other's candidates" to "connected" for two of our agents (asyncio driver, real UDP) — with
  a valid pair in use before selection (RFC 8445 §12.1), and to the nominated pair selected
  on both sides, Ta 50 and 20 ms, and with ``use_valid_pairs=False`` — and to ``connect()``
  returning for two aioice ``Connection``s; medians of N runs, and the ratios.

Run: ``.venv/bin/python bench/bench_ice.py [--runs 20] [--sections data,consent]``. The
machine is shared and its speed drifts: run it a few times and quote medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from pyrtcstack.aio.ice import IceConnection
from pyrtcstack.ice import IceConfig, PairState
from pyrtcstack.testing.icenet import build
from pyrtcstack.testing.vnet import Link

MATRIX = ["full-cone", "restricted", "port-restricted", "symmetric"]


def vnet_checks_per_second() -> tuple[float, int]:
    def config(controlling: bool) -> IceConfig:
        return IceConfig(
            controlling=controlling, ta=0.001, nomination_delay=30.0, nomination_patience=1e4
        )

    world = build(
        None,
        None,
        stun=False,
        internet=Link(delay=0.005),
        left_config=config(True),
        right_config=config(False),
    )
    world.net.record = False
    for side, base in ((world.left, 30), (world.right, 40)):
        for i in range(7):
            ip = f"198.51.{base}.{i + 1}"
            world.net.add_host(side.name, ip)
            world.net.bind(side.node, (ip, 5000))
    best = (world.left.node.sockets[0], world.right.node.sockets[0])

    def blackhole(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bool:
        return (src, dst) in (best, best[::-1])

    world.net.internet.link.drop_if = blackhole
    left, right = world.left.agent, world.right.agent
    start = time.perf_counter()
    world.start()
    world.net.run(lambda: left.generation.count(PairState.SUCCEEDED) >= 63, timeout=60)
    elapsed = time.perf_counter() - start
    checks = left.stats["checks_sent"] + right.stats["checks_sent"]
    return checks / elapsed, checks


def data_path_rates() -> tuple[float, float]:
    """Application datagrams (1200 bytes) through a connected agent: receive (the RFC 7983
    fast path to a DataReceived event) and send (onto the selected pair), per second."""
    world = build(None, None, stun=False)
    world.start()
    world.run(10)
    world.net.run_for(1)
    agent = world.right.agent
    pair = agent.selected_pair
    assert pair is not None
    src, local = world.left.node.sockets[0], pair.local.address
    data = b"\x17" + bytes(1199)
    n = 50_000
    start = time.perf_counter()
    for _ in range(n):
        agent.receive_datagram(data, src, 100.0, local=local)
        while agent.next_event() is not None:
            pass
    receive = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n):
        agent.send(data, 100.0)
        agent.transmits(100.0)
    return receive, n / (time.perf_counter() - start)


def consent_check_cpu_us(checks: int = 1000, repeat: int = 7) -> float:
    """CPU microseconds per consent check (best of ``repeat`` runs of ``checks`` checks):
    two agents connected on the virtual network, then driven by hand on their own timers
    with every datagram handed straight to the other agent."""
    world = build(None, None, stun=False, seed=1)
    world.start()
    assert world.run(10)
    world.net.run_for(3)
    a, b = world.left.agent, world.right.agent
    now = world.net.now

    def run(n: int) -> None:
        nonlocal now
        sent = 0
        while sent < n:
            now = min(t for t in (a.get_timer(), b.get_timer()) if t is not None)
            for agent in (a, b):
                t = agent.get_timer()
                if t is not None and t <= now:
                    agent.handle_timer(now)
            moved = True
            while moved:
                moved = False
                for src, dst in ((a, b), (b, a)):
                    for data, local, remote in src.transmits(now):
                        moved = True
                        dst.receive_datagram(data, local, now, local=remote)
                        sent += data[:2] == b"\x00\x01"
            while a.next_event() is not None or b.next_event() is not None:
                pass

    run(50)
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        run(checks)
        best = min(best, time.process_time() - c0)
    assert a.connection_state == b.connection_state == "completed"
    return best / checks * 1e6


def nat_matrix_seconds() -> float:
    start = time.perf_counter()
    for left in MATRIX:
        for right in MATRIX:
            world = build(left, right, turn=True, seed=1)
            world.net.record = False
            world.start()
            world.run(60)
            assert world.connected(), (left, right)
    return time.perf_counter() - start


async def ours_setup(ta: float = 0.05, use_valid_pairs: bool = True) -> tuple[float, float]:
    """(to connected on both sides, to a nominated selected pair on both sides)."""
    conns: dict[str, IceConnection] = {}
    selected: dict[str, float] = {}

    def watch(name: str) -> Any:
        def on_event(event: object) -> None:
            pair = conns[name].agent.selected_pair if name in conns else None
            if pair is not None and pair.nominated:
                selected.setdefault(name, time.perf_counter())

        return on_event

    def conn(name: str, controlling: bool) -> IceConnection:
        config = IceConfig(controlling=controlling, ta=ta, use_valid_pairs=use_valid_pairs)
        conns[name] = IceConnection(config, addresses=["127.0.0.1"], on_event=watch(name))
        return conns[name]

    a, b = conn("a", True), conn("b", False)
    await a.gather()
    await b.gather()
    start = time.perf_counter()
    a.set_remote_credentials(b.local_ufrag, b.local_pwd)
    b.set_remote_credentials(a.local_ufrag, a.local_pwd)
    for cand in b.local_candidates:
        a.add_remote_candidate(cand.to_sdp())
    for cand in a.local_candidates:
        b.add_remote_candidate(cand.to_sdp())
    a.end_of_remote_candidates()
    b.end_of_remote_candidates()
    await asyncio.gather(a.connected(10), b.connected(10))
    elapsed = time.perf_counter() - start
    async with asyncio.timeout(10):
        while len(selected) < 2:
            await asyncio.sleep(0.001)
    nominated = max(selected.values()) - start
    await a.close()
    await b.close()
    return elapsed, nominated


async def aioice_setup(aioice: Any) -> float:
    a = aioice.Connection(ice_controlling=True, use_ipv6=False)
    b = aioice.Connection(ice_controlling=False, use_ipv6=False)
    await a.gather_candidates()
    await b.gather_candidates()
    start = time.perf_counter()
    a.remote_username, a.remote_password = b.local_username, b.local_password
    b.remote_username, b.remote_password = a.local_username, a.local_password
    for cand in b.local_candidates:
        await a.add_remote_candidate(cand)
    for cand in a.local_candidates:
        await b.add_remote_candidate(cand)
    await a.add_remote_candidate(None)
    await b.add_remote_candidate(None)
    await asyncio.gather(a.connect(), b.connect())
    elapsed = time.perf_counter() - start
    await a.close()
    await b.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--sections",
        default="vnet,nat,data,consent,setup",
        help="comma-separated subset of: vnet, nat, data, consent, setup",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))

    if "vnet" in sections:
        rates = [vnet_checks_per_second() for _ in range(5)]
        rate, checks = max(rates)
        print(f"vnet: {checks} checks per session (64 pairs) -> {rate:,.0f} checks/s (best of 5)")
    if "nat" in sections:
        print(f"NAT matrix, 16 cases with TURN: {nat_matrix_seconds():.2f} s wall")
    if "data" in sections:
        receive, send = max(data_path_rates() for _ in range(3))
        print(f"data path, 1200-byte datagrams: receive {receive:,.0f}/s, send {send:,.0f}/s")
    if "consent" in sections:
        print(f"consent check (RFC 7675), both agents: {consent_check_cpu_us():.1f} us CPU each")
    if "setup" not in sections:
        return

    try:
        import aioice
        import aioice.ice
    except ImportError:
        aioice = None

    def setup(ta: float, early: bool) -> tuple[float, float]:
        runs = [asyncio.run(ours_setup(ta, early)) for _ in range(args.runs)]
        connected = statistics.median(r[0] for r in runs) * 1000
        nominated = statistics.median(r[1] for r in runs) * 1000
        what = "valid pair used before selection" if early else "selection only"
        print(
            f"loopback setup, pyrtcstack (Ta {ta * 1000:.0f} ms, {what}): connected "
            f"{connected:.1f} ms, nominated pair selected {nominated:.1f} ms "
            f"(medians, {args.runs} runs)"
        )
        return connected, nominated

    ours_ms, ours_nom = setup(0.05, True)
    fast_ms, fast_nom = setup(0.02, True)
    old_ms, _ = setup(0.05, False)
    if aioice is None:
        print("aioice not installed: no baseline")
        return
    aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
    theirs = [asyncio.run(aioice_setup(aioice)) for _ in range(args.runs)]
    theirs_ms = statistics.median(theirs) * 1000
    print(f"loopback setup, aioice (checks every 20 ms): median {theirs_ms:.1f} ms")
    print("ratios aioice / pyrtcstack (>1: we are faster):")
    for what, slow, fast in (("connected", ours_ms, fast_ms), ("nominated", ours_nom, fast_nom)):
        print(f"  {what}, Ta 50 ms: {theirs_ms / slow:.2f}x; Ta 20 ms: {theirs_ms / fast:.2f}x")
    print(f"  selection only (use_valid_pairs=False), Ta 50 ms: {theirs_ms / old_ms:.2f}x")


if __name__ == "__main__":
    main()
