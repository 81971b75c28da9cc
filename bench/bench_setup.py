"""Where the setup time goes: one setup as a per-phase timeline, and setup time beside Pion.

Setup is what bench_pc.py measures: from the two ``PeerConnection`` constructors (each makes
its ECDSA P-256 certificate) through the non-trickle offer/answer (each side waits for
gathering to complete, loopback host candidates only) to the offerer's channel ``open``.

* ``timeline`` (default): one setup on the real asyncio loop with a tracer on both peers;
  every protocol step with its wall time since the start, then the phases (milestones below)
  as medians of ``--runs`` setups. The tracer decodes every datagram, so the traced total is
  longer than the untraced one printed beside it: read the phases as shares.
* ``virtual``: the same setup with two sans-I/O cores on a virtual clock (``--delay``
  one-way, default 0): the virtual time of each milestone is what the protocols *wait*
  (timers, pacing), the thread's CPU time beside it what the cores *compute* (CPU time,
  not wall: steadier on a shared machine). With a zero delay every virtual millisecond
  is a timer the setup waited on.
* ``profile``: the CPU of ``--runs`` virtual-clock setups (no tracer, no sockets) under
  cProfile, by layer: the own time of each pyrtcstack package, of the crypto primitives
  (``cryptography``, ``hashlib``, ``hmac``) and of the rest. cProfile inflates Python
  function calls more than C calls: read it as shares, beside the unprofiled total.
* ``compare``: setup time, median of ``--setups``, ours (and ``ahead``: ours with each
  peer connection's certificate made before the clock starts) beside Pion (its peer program's
  ``-setup-bench``, built into .pion/ or ``$PYRTCSTACK_PION_DIR``) and, with
  ``--baseline DIR`` (e.g. ``git archive e62b4e4 | tar -x -C DIR``), the same bench run
  from that tree; rounds alternate so load drifts hit every stack alike. Also the CPU
  milliseconds per setup (both peers and their close). Rows ``x25519`` (ours without the
  ML-KEM share) and ``pion-ahead`` (Pion's certificates made before its clocks) too.
* ``counts``: the census of one setup per variant (``default``, ``ahead``, ``x25519``,
  ``dtls12``): datagrams by layer and peer, SDP texts written and parsed, Python calls;
  with ``--callgrind`` the instructions per setup (``count --setups N`` minus ``count
  --setups 0`` under ``valgrind --tool=callgrind``, heap frozen after three warm-ups),
  beside ``--baseline DIR``. Deterministic: what to judge a change by on a loaded machine.
* ``gc``: what the cyclic garbage collector does per loop setup (``--runs`` setups, both
  peers and their close): collections by generation, the objects it freed, its time.
  A closed pair freed by reference counting leaves it nothing to free.

Milestones: ``check`` the first ICE connectivity check sent (RFC 8445 §7.2.4), ``selected``
the first valid pair (either peer), ``hello`` the DTLS ClientHello sent, ``dtls`` the
handshake complete on the offerer (RFC 9147 / RFC 6347), ``sctp`` the offerer's
association established (RFC 9260 §5.1), ``open`` the offerer's channel open (RFC 8832 §6).

Run: ``python bench/bench_setup.py [timeline|virtual|profile|compare|counts|gc]`` inside
``unshare -n`` (loopback only). The machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.common.core import Address
from pyrtcstack.datachannel import ChannelOpen
from pyrtcstack.dtls import DtlsCertificate, NamedGroup
from pyrtcstack.peerconnection import Configuration, PeerConnectionCore, Settings
from pyrtcstack.peerconnection.trace import TraceRecord

MILESTONES = ("start", "offer", "answer", "check", "selected", "hello", "dtls", "sctp", "open")

Record = tuple[float, str, TraceRecord]


def milestone_of(peer: str, record: TraceRecord) -> str | None:
    """The milestone a trace record marks, if any (first occurrence counts)."""
    text = record.text
    if record.direction == "send" and text.startswith("STUN BINDING request"):
        return "check"
    if record.direction == "note" and text.startswith("selected pair"):
        return "selected"
    if record.direction == "send" and "ClientHello" in text:
        return "hello"
    if peer == "A" and record.direction == "note" and text.startswith("handshake complete"):
        return "dtls"
    if peer == "A" and "COOKIE-ACK" in text:
        return "sctp"  # A sent it (established on COOKIE-ECHO) or received it
    return None


def phases(marks: dict[str, float]) -> list[tuple[str, float]]:
    """(phase, milliseconds) between consecutive milestones that were seen."""
    seen = [m for m in MILESTONES if m in marks]
    return [(f"{a}→{b}", (marks[b] - marks[a]) * 1000) for a, b in itertools.pairwise(seen)]


def _collect(
    marks: dict[str, float], records: list[Record], clock: Callable[[], float]
) -> Callable[[str], Callable[[object], None]]:
    def for_peer(peer: str) -> Callable[[object], None]:
        def on_record(record: object) -> None:
            assert isinstance(record, TraceRecord)
            t = clock()
            records.append((t, peer, record))
            m = milestone_of(peer, record)
            if m is not None and m not in marks:
                marks[m] = t

        return on_record

    return for_peer


# --------------------------------------------------------------------------- real loop
async def loop_setup(
    trace: bool, ahead: bool = False, variant: str = "default"
) -> tuple[float, dict[str, float], list[Record]]:
    """One setup on the loop: (untraced-comparable seconds, milestones, records). With
    ``ahead`` each peer connection gets a certificate of its own made before the clock
    starts (W3C ``generateCertificate``; never one shared: see docs/peerconnection.md);
    ``variant`` ``x25519`` or ``dtls12`` changes the DTLS offer (see :data:`VARIANTS`)."""
    marks: dict[str, float] = {}
    records: list[Record] = []
    clock = time.perf_counter
    tracer = _collect(marks, records, clock) if trace else None
    configs = [
        Configuration(certificates=[DtlsCertificate.generate()]) if ahead else None
        for _ in range(2)
    ]
    t0 = clock()
    marks["start"] = t0
    versions = ("1.2",) if variant == "dtls12" else ("1.3", "1.2")
    a = PeerConnection(
        configs[0],
        Settings(
            host_addresses=["127.0.0.1"],
            tracer=tracer("A") if tracer else None,
            dtls_versions=versions,
        ),
    )
    b = PeerConnection(
        configs[1],
        Settings(
            host_addresses=["127.0.0.1"],
            tracer=tracer("B") if tracer else None,
            dtls_versions=versions,
        ),
    )
    if variant == "x25519":
        for pc in (a, b):
            pc.core.dtls_transport.connection.key_shares = (int(NamedGroup.X25519),)
    channel = a.create_data_channel("bench")
    await a.set_local_description()
    await a.wait_gathering_complete()
    marks["offer"] = clock()
    offer = a.local_description  # read once, as an application sends it (and Pion's bench)
    assert offer is not None
    await b.set_remote_description(offer)
    await b.set_local_description()
    await b.wait_gathering_complete()
    answer = b.local_description
    assert answer is not None
    await a.set_remote_description(answer)
    marks["answer"] = clock()
    await channel.wait_open(30)
    marks["open"] = clock()
    elapsed = marks["open"] - t0
    await a.close()
    await b.close()
    return elapsed, marks, records


def _print_records(records: list[Record], t0: float, virtual: dict[int, float] | None) -> None:
    for i, (t, peer, record) in enumerate(records):
        v = f"{virtual[i] * 1000:8.2f} " if virtual is not None else ""
        print(f"  {v}{(t - t0) * 1000:8.2f}  {peer} {record.layer:<4} {record.direction:<4} "
              f"{record.text[:96]}")  # fmt: skip


def _print_phases(runs: list[dict[str, float]], label: str) -> None:
    table: dict[str, list[float]] = {}
    for marks in runs:
        for name, ms in phases(marks):
            table.setdefault(name, []).append(ms)
    total = statistics.median((m["open"] - m["start"]) * 1000 for m in runs)
    print(f"  phases ({label}, median of {len(runs)}), ms:")
    for name, values in table.items():
        print(f"    {name:<18} {statistics.median(values):6.2f}")
    print(f"    {'total':<18} {total:6.2f}")


async def timeline(args: argparse.Namespace) -> None:
    for _ in range(3):  # warm imports, caches and the allocator
        await loop_setup(False)
    _, marks, records = await loop_setup(True)
    print("one setup on the asyncio loop (traced), wall ms since the constructors:")
    _print_records(records, marks["start"], None)
    traced = []
    plain = []
    for _ in range(args.runs):
        traced.append((await loop_setup(True))[1])
        plain.append((await loop_setup(False))[0])
    _print_phases(traced, "traced")
    print(f"  untraced total, median of {args.runs}: {statistics.median(plain) * 1000:6.2f} ms")


# --------------------------------------------------------------------------- virtual clock
A_ADDR: Address = ("127.0.0.1", 40000)
B_ADDR: Address = ("127.0.0.1", 40002)


def virtual_setup(
    delay: float,
    seed: int,
    trace: bool = True,
    variant: str = "default",
    certificates: list[DtlsCertificate] | None = None,
) -> tuple[dict[str, float], dict[str, float], list[Record], dict[int, float]]:
    """Two cores on a virtual clock: (virtual milestones, real milestones, records, the
    virtual time of each record). ``variant`` (see :data:`VARIANTS`) changes the DTLS
    offer; ``certificates``, two made ahead, are the peers' (W3C ``generateCertificate``)."""
    vmarks: dict[str, float] = {}
    rmarks: dict[str, float] = {}
    records: list[Record] = []
    vtimes: dict[int, float] = {}
    now = [0.0]

    def for_peer(peer: str) -> Callable[[object], None]:
        def on_record(record: object) -> None:
            assert isinstance(record, TraceRecord)
            t = time.thread_time()
            vtimes[len(records)] = now[0]
            records.append((t, peer, record))
            m = milestone_of(peer, record)
            if m is not None and m not in vmarks:
                vmarks[m], rmarks[m] = now[0], t

        return on_record

    rng = random.Random(seed)
    t0 = time.thread_time()
    rmarks["start"], vmarks["start"] = t0, 0.0
    versions = ("1.2",) if variant == "dtls12" else ("1.3", "1.2")
    a = PeerConnectionCore(
        Configuration(certificates=[certificates[0]]) if certificates else None,
        settings=Settings(tracer=for_peer("A") if trace else None, dtls_versions=versions),
        rng=random.Random(rng.random()),
    )
    b = PeerConnectionCore(
        Configuration(certificates=[certificates[1]]) if certificates else None,
        settings=Settings(tracer=for_peer("B") if trace else None, dtls_versions=versions),
        rng=random.Random(rng.random()),
    )
    if variant == "x25519":  # the offer without ML-KEM: x25519 alone (as Pion's 1.2)
        for pc in (a, b):
            pc.dtls_transport.connection.key_shares = (int(NamedGroup.X25519),)
    a.create_data_channel("bench")
    wire: list[tuple[float, bytes, Address, Address]] = []
    opened = [False]

    def pump() -> bool:
        moved = False
        for pc in (a, b):
            for data, local, remote in pc.transmits(now[0]):
                wire.append((now[0] + delay, data, local, remote))
                moved = True
            event = pc.next_event()
            while event is not None:
                moved = True
                if pc is a and isinstance(event, ChannelOpen):
                    opened[0] = True
                event = pc.next_event()
        return moved

    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A_ADDR], 0.0)
    pump()
    rmarks["offer"], vmarks["offer"] = time.thread_time(), 0.0
    offer = a.local_description  # each written once (a read writes the SDP text)
    assert offer is not None
    b.set_remote_description(offer, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B_ADDR], 0.0)
    pump()
    answer = b.local_description
    assert answer is not None
    a.set_remote_description(answer, 0.0)
    rmarks["answer"], vmarks["answer"] = time.thread_time(), 0.0
    while not opened[0]:
        if pump():
            continue
        # drained, as a driver is before it reads get_timer (pending output reads as
        # "now"): only a deadline that is due wakes a core
        due_cores = [pc for pc in (a, b) if (t := pc.get_timer()) is not None and t <= now[0]]
        for pc in due_cores:
            pc.handle_timer(now[0])
        if due_cores:
            continue
        times = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
        times += [w[0] for w in wire]
        now[0] = max(now[0], min(times))
        if now[0] > 60:
            raise RuntimeError("no channel after 60 virtual seconds")
        due = [w for w in wire if w[0] <= now[0]]
        wire[:] = [w for w in wire if w[0] > now[0]]
        for _t, data, src, dst in due:
            (a if dst == A_ADDR else b).receive_datagram(data, src, now[0], local=dst)
    rmarks["open"], vmarks["open"] = time.thread_time(), now[0]
    a.close(now[0])
    b.close(now[0])
    return vmarks, rmarks, records, vtimes


def virtual(args: argparse.Namespace) -> None:
    for seed in range(3):
        virtual_setup(args.delay, seed)
    _, rmarks, records, vtimes = virtual_setup(args.delay, 99)
    print(
        f"one setup, two sans-I/O cores on a virtual clock (one-way delay "
        f"{args.delay * 1000:g} ms): virtual ms, CPU ms, step"
    )
    _print_records(records, rmarks["start"], vtimes)
    vruns, rruns = [], []
    for seed in range(args.runs):
        v, r, _, _ = virtual_setup(args.delay, 1000 + seed)
        vruns.append(v)
        rruns.append(r)
    _print_phases(vruns, "virtual clock: time waited")
    _print_phases(rruns, "CPU time: computed, traced")


# --------------------------------------------------------------------------- profile
def _layer(filename: str, name: str) -> str:
    if "pyrtcstack/" in filename:
        return filename.split("pyrtcstack/")[1].split("/", maxsplit=1)[0].removesuffix(".py")
    if "cryptography" in filename or "hashlib" in filename or "hmac" in filename:
        return "crypto"
    if filename == "~" and any(word in name for word in _CRYPTO_WORDS):
        return "crypto"
    return "other"


#: What the crypto primitives (C and Rust) are called in a profile.
_CRYPTO_WORDS = ("cryptography", "_rust", "_hashlib", "mlkem", "x25519", "ec.", "aead", "ciphers")


def profile(args: argparse.Namespace) -> None:
    import cProfile
    import pstats

    for seed in range(5):
        virtual_setup(0.0, seed, trace=False)
    t0 = time.thread_time()
    for seed in range(args.runs):
        virtual_setup(0.0, 1000 + seed, trace=False)
    plain = (time.thread_time() - t0) * 1000 / args.runs
    profiler = cProfile.Profile()
    profiler.enable()
    for seed in range(args.runs):
        virtual_setup(0.0, 2000 + seed, trace=False)
    profiler.disable()
    stats = pstats.Stats(profiler)
    layers: dict[str, float] = {}
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in entries.items():
        key = _layer(filename, name)
        layers[key] = layers.get(key, 0.0) + own
    total = sum(layers.values())
    print(
        f"CPU of one setup by layer (two sans-I/O cores, virtual clock, no tracer), own time"
        f" under cProfile, {args.runs} setups; unprofiled: {plain:.2f} CPU ms per setup"
    )
    for key, own in sorted(layers.items(), key=lambda kv: -kv[1]):
        print(f"  {key:<16} {own * 1000 / args.runs:6.3f} ms  {100 * own / total:5.1f} %")


# --------------------------------------------------------------------------- counts
#: What ``count``/``counts`` can vary: ``default`` (DTLS 1.3 with X25519MLKEM768 and x25519
#: shares, a certificate made by each constructor), ``ahead`` (each peer's certificate made
#: before the count starts), ``x25519`` (DTLS 1.3, x25519 share only), ``dtls12``.
VARIANTS = ("default", "ahead", "x25519", "dtls12")


def _certificates(variant: str, pool: int) -> list[list[DtlsCertificate]]:
    if variant != "ahead":
        return []
    return [[DtlsCertificate.generate(), DtlsCertificate.generate()] for _ in range(pool)]


def count(args: argparse.Namespace) -> None:
    """``--setups`` virtual setups after three warm-ups, the heap frozen: run it under
    ``valgrind --tool=callgrind`` at N and at 0 setups (``counts`` does) and take the
    difference. ``--pool`` certificates pairs are made in both runs (``ahead``)."""
    import gc

    pool = _certificates(args.variant, max(args.pool, args.setups) + 3)
    for seed in range(3):
        virtual_setup(0.0, seed, False, args.variant, pool.pop() if pool else None)
    gc.collect()
    gc.freeze()  # a full collection inside one run and not the other moved counts by ±1 M
    for seed in range(args.setups):
        virtual_setup(0.0, 1000 + seed, False, args.variant, pool.pop() if pool else None)


def census(variant: str) -> dict[str, int]:
    """What one setup (two cores, virtual clock) sends and writes: datagrams by layer and
    peer, SDP texts written and parsed, Python calls (cProfile, load-independent)."""
    import cProfile
    import pstats

    from pyrtcstack.sdp import SessionDescription

    counts: dict[str, int] = {}
    parse, write = SessionDescription.parse.__func__, SessionDescription.__str__  # type: ignore[attr-defined]

    def counted_parse(cls: type, text: str | bytes) -> SessionDescription:
        counts["SDP parsed"] = counts.get("SDP parsed", 0) + 1
        result: SessionDescription = parse(cls, text)
        return result

    def counted_write(self: SessionDescription) -> str:
        counts["SDP written"] = counts.get("SDP written", 0) + 1
        text: str = write(self)
        return text

    pool = _certificates(variant, 2)
    virtual_setup(0.0, 1, False, variant, pool.pop() if pool else None)
    SessionDescription.parse = classmethod(counted_parse)  # type: ignore[method-assign,assignment]
    SessionDescription.__str__ = counted_write  # type: ignore[method-assign]
    try:
        _, _, records, _ = virtual_setup(0.0, 7, True, variant, pool.pop() if pool else None)
    finally:
        SessionDescription.parse = classmethod(parse)  # type: ignore[method-assign,assignment]
        SessionDescription.__str__ = write  # type: ignore[method-assign]
    for _t, peer, record in records:
        if record.direction == "send":
            key = f"{record.layer} datagrams sent by {peer}"
            counts[key] = counts.get(key, 0) + 1
    profiler = cProfile.Profile()
    profiler.enable()
    virtual_setup(0.0, 8, False, variant, pool.pop() if pool else None)
    profiler.disable()
    counts["Python calls"] = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
    return dict(sorted(counts.items()))


def _instructions(tree: str, variant: str, setups: int) -> float:
    """Instructions per setup under callgrind: (run with ``setups`` − run with 0) / setups."""
    import tempfile

    totals = []
    for n in (setups, 0):
        with tempfile.NamedTemporaryFile(suffix=".cg") as out:
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
                 sys.executable, __file__, "count", "--variant", variant,
                 "--setups", str(n), "--pool", str(setups)],
                env={**os.environ, "PYTHONPATH": tree, "PYTHONHASHSEED": "0"},
                capture_output=True, timeout=1800, check=True,
            )  # fmt: skip
            text = open(out.name).read()  # noqa: SIM115 - the temporary file closes it
        totals.append(int(text.rsplit("totals:", 1)[1].split()[0]))
    return (totals[0] - totals[1]) / setups


def counts(args: argparse.Namespace) -> None:
    """The census of one setup for each variant, and with ``--callgrind`` its instructions
    (beside ``--baseline DIR``'s, run the same way)."""
    if args.callgrind and shutil.which("valgrind") is None:
        sys.exit("bench_setup: --callgrind needs valgrind (Debian package 'valgrind')")
    trees = [("ours", os.environ.get("PYTHONPATH", ""))]
    if args.baseline:
        trees.append(("base", args.baseline))
    for variant in args.variants.split(","):
        print(f"{variant}: {json.dumps(census(variant))}")
        if args.callgrind:
            for name, tree in trees:
                ins = _instructions(tree, variant, args.setups)
                print(f"  {name:<5} {ins / 1e6:7.2f} M instructions per setup (callgrind)")


# --------------------------------------------------------------------------- compare
def _pion_setup(n: int, ahead: bool = False) -> dict[str, Any] | None:
    try:
        from pyrtcstack.interop.launchers import build_pion_peer

        binary = build_pion_peer()
    except Exception as exc:  # a missing peer is a skipped row
        print(f"  (Pion skipped: {exc})")
        return None
    done = subprocess.run(
        [str(binary), "-setup-bench", str(n)] + (["-ahead"] if ahead else []),
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        print(f"  (Pion failed: {done.stderr.decode(errors='replace')[-300:]})")
        return None
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


async def _ours_setups(n: int, ahead: bool, variant: str) -> dict[str, Any]:
    times = []
    cpu = 0.0
    for _ in range(n):
        c0 = time.process_time()
        times.append((await loop_setup(False, ahead, variant))[0] * 1000)
        cpu += time.process_time() - c0
    if ahead:  # the certificates were made inside the CPU window, not the wall one
        c0 = time.process_time()
        for _ in range(2 * n):
            DtlsCertificate.generate()
        cpu -= time.process_time() - c0
    cpu = cpu * 1000 / n
    return {"medianMs": statistics.median(times), "cpuMsPerSetup": cpu, "ms": times}


def _baseline_setups(
    tree: str, n: int, ahead: bool = False, variant: str = "default"
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": tree}
    done = subprocess.run(
        [sys.executable, __file__, "ours-child", "--setups", str(n), "--variant", variant]
        + (["--ahead"] if ahead else []),
        env=env, capture_output=True, timeout=300, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def compare(args: argparse.Namespace) -> None:
    """Rounds of ``--setups`` each, alternating the stacks; medians over all setups.

    Rows: ``ours`` (defaults: DTLS 1.3, X25519MLKEM768, a certificate made by each
    constructor), ``ahead`` (each connection's certificate made before the clock, W3C
    ``generateCertificate``), ``x25519`` (DTLS 1.3 without the ML-KEM share, the key
    exchange Pion 3.1.56 does), ``pion`` and ``pion-ahead`` (Pion's program, likewise), and
    ``base`` with ``--baseline``. Like is compared with like: ahead with pion-ahead."""
    rows: dict[str, list[dict[str, Any]]] = {
        "ours": [], "ahead": [], "x25519": [], "pion": [], "pion-ahead": [],
    }  # fmt: skip
    if args.baseline:
        rows["base"] = []
    for _ in range(args.rounds):
        rows["ours"].append(_own_child(args.setups))
        rows["ahead"].append(_own_child(args.setups, ahead=True))
        rows["x25519"].append(_own_child(args.setups, variant="x25519"))
        if args.baseline:
            rows["base"].append(_baseline_setups(args.baseline, args.setups))
        for name, ahead in (("pion", False), ("pion-ahead", True)):
            pion = _pion_setup(args.setups, ahead)
            if pion is not None:
                rows[name].append(pion)
    print(
        f"setup time (constructors → offerer's channel open), {args.rounds} rounds of"
        f" {args.setups}, each stack in a fresh process"
    )
    summary: dict[str, tuple[float, float]] = {}
    for stack, results in rows.items():
        if not results:
            continue
        times = [t for r in results for t in r["ms"]]
        per_round = [r["medianMs"] for r in results]
        cpu = statistics.median(r["cpuMsPerSetup"] for r in results)
        summary[stack] = (statistics.median(times), cpu)
        print(
            f"  {stack:<10} median {summary[stack][0]:6.2f} ms (per-round medians"
            f" {', '.join(f'{x:.2f}' for x in per_round)})   CPU {cpu:5.2f} ms per setup"
        )
    for ours, other in (
        ("ours", "pion"), ("ahead", "pion-ahead"), ("x25519", "pion"), ("ours", "base"),
    ):  # fmt: skip
        if ours in summary and other in summary:
            mine, theirs = summary[ours], summary[other]
            print(
                f"  {ours}/{other} wall {mine[0] / theirs[0]:4.2f}   CPU {mine[1] / theirs[1]:4.2f}"
            )


def _own_child(n: int, ahead: bool = False, variant: str = "default") -> dict[str, Any]:
    return _baseline_setups(os.environ.get("PYTHONPATH", ""), n, ahead, variant)


async def _child_main(n: int, ahead: bool, variant: str) -> None:
    for _ in range(3):
        await loop_setup(False, ahead, variant)
    print(json.dumps(await _ours_setups(n, ahead, variant)))


# --------------------------------------------------------------------------- gc
async def gc_census(args: argparse.Namespace) -> None:
    """What the cyclic garbage collector does per loop setup (both peers, their close):
    collections by generation and the objects it freed, after three warm-ups. A closed
    pair freed by reference counting leaves it nothing to free; objects left in reference
    cycles are what it frees (and what promotes the others to the older generations)."""
    import gc

    for _ in range(3):
        await loop_setup(False)
    gc.collect()
    counts = [0, 0, 0]
    freed = 0
    spent = 0.0
    started = 0.0

    def observe(phase: str, info: dict[str, int]) -> None:
        nonlocal freed, spent, started
        if phase == "start":
            started = time.perf_counter()
            return
        counts[info["generation"]] += 1
        freed += info["collected"]
        spent += time.perf_counter() - started

    gc.callbacks.append(observe)
    try:
        for _ in range(args.runs):
            await loop_setup(False)
    finally:
        gc.callbacks.remove(observe)
    n = args.runs
    print(
        f"garbage collector per loop setup ({n} setups): collections young {counts[0] / n:.2f},"
        f" middle {counts[1] / n:.3f}, full {counts[2] / n:.3f}; objects freed {freed / n:.1f};"
        f" {spent * 1000 / n:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "mode", nargs="?", default="timeline",
        choices=[
            "timeline", "virtual", "profile", "compare", "count", "counts", "gc", "ours-child",
        ],
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=20, help="setups for the phase medians")
    parser.add_argument("--delay", type=float, default=0.0, help="virtual one-way delay, s")
    parser.add_argument("--setups", type=int, default=20, help="setups per round (compare)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (compare)")
    parser.add_argument("--baseline", help="a source tree to compare with (PYTHONPATH)")
    parser.add_argument("--ahead", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, default="default", help="(count)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="(counts)")
    parser.add_argument("--pool", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--callgrind", action="store_true", help="(counts) instructions too")
    args = parser.parse_args()
    if args.mode == "timeline":
        asyncio.run(timeline(args))
    elif args.mode == "virtual":
        virtual(args)
    elif args.mode == "profile":
        profile(args)
    elif args.mode == "compare":
        compare(args)
    elif args.mode == "count":
        count(args)
    elif args.mode == "counts":
        counts(args)
    elif args.mode == "gc":
        asyncio.run(gc_census(args))
    else:
        asyncio.run(_child_main(args.setups, args.ahead, args.variant))


if __name__ == "__main__":
    main()
