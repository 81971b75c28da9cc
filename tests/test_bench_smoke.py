"""The benchmarks in bench/ keep running: each one once, with the smallest arguments that
still go through its measuring code, checked for exit code 0 and the figure lines (or JSON
keys) it prints. Only the format is checked, never a number's size: a timing is no test
(the benches give figures; they are quoted from runs, as ratios beside an anchor).

Each bench runs as a subprocess of this interpreter, in the test's network namespace
(loopback only), with the environment (PYTHONPATH) of the suite. The baselines that the
benches compare with (aiortc, aioice, pyOpenSSL) are the suite's mandatory peers: their rows
are required. Callgrind modes (valgrind) are not run here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TIMEOUT = 120  # seconds per bench: far above what each takes (a few seconds)

NUM = r"-?[\d,]+(?:\.\d+)?"  # a figure as the benches print it: 1,234 or 12.5


def _run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _ok(name: str, *args: str) -> str:
    """Run a bench, require exit code 0 and no traceback; its stdout."""
    proc = _run(name, *args)
    assert proc.returncode == 0, f"{name} {args}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stdout


def _lines(out: str, *patterns: str) -> None:
    """Each pattern matches a whole line of ``out``."""
    lines = out.splitlines()
    for pattern in patterns:
        rx = re.compile(pattern)
        assert any(rx.fullmatch(line) for line in lines), f"no line {pattern!r} in:\n{out}"


def _json(out: str) -> dict[str, Any]:
    """The JSON object on the last line of ``out``."""
    result = json.loads(out.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def _numbers(result: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert isinstance(result.get(key), int | float), f"{key} missing or not a number: {result}"


# --- in-memory benches: stun, sdp, dtls, rtp, turn, sctp, sctp_path, pc_cores -----------------


def test_bench_stun() -> None:
    out = _ok("bench_stun", "--seconds", "0.02", "--repeat", "1")
    for who in ("pyrtcstack", "aioice"):
        for op in ("encode", "decode"):
            _lines(out, rf"{who} {op}\s+{NUM} k msg/s  \(median of 1: {NUM}\)")
    for op in ("encode", "decode"):
        _lines(out, rf"ratio {op}: {NUM}x aioice \(median of 1 paired windows, .*\)")


def test_bench_sdp() -> None:
    out = _ok("bench_sdp", "--seconds", "0.02", "--repeat", "1")
    _lines(out, r"SDP: modern Chrome audio\+video\+data offer, \d+ bytes, \d+ lines; 1 runs .*")
    for who in ("pyrtcstack", "aiortc"):
        for op in ("parse", "write"):
            _lines(out, rf"  {who} {op}\s+{NUM} ops/s\s+{NUM} µs/op")
    _lines(out, rf"  parse\+write: pyrtcstack / aiortc = {NUM}x")


def test_bench_dtls() -> None:
    out = _ok("bench_dtls", "--seconds", "0.02")
    _lines(out, r"measurement\s+pyrtcstack\s+pyOpenSSL\s+ratio\s+vs our 1\.2")
    for row in (
        "handshakes/s (in memory, both ends)",
        "record protect, 1200-byte payload",
        "record unprotect, 1200-byte payload",
    ):
        _lines(out, rf"{re.escape(row)}\s+{NUM}\s+{NUM}\s+{NUM}\s+(/s|MB/s)")
    for row in (
        "DTLS 1.3 handshakes/s, x25519",
        "DTLS 1.3 handshakes/s, X25519MLKEM768",
        "DTLS 1.3 record protect",
        "DTLS 1.3 record unprotect",
    ):
        _lines(out, rf"{re.escape(row)}\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+(/s|MB/s)")


def test_bench_rtp() -> None:
    out = _ok("bench_rtp", "--repeat", "1")
    _lines(out, r"1,200-byte packets; packets per second, median of 1 runs")
    rate = rf"ours\s+{NUM}/s  aiortc\s+{NUM}/s  ratio\s+{NUM}x"
    _lines(out, rf"RTP parse\s+{rate}", rf"RTP serialise\s+{rate}")
    srtp = [line for line in out.splitlines() if line.startswith("SRTP ")]
    assert len(srtp) >= 2, out  # one row per profile (AES-CM and GCM at least)
    _lines(out, *(rf"{re.escape(line.split(' ours')[0])}\s+{rate}" for line in srtp))


def test_bench_turn() -> None:
    out = _ok("bench_turn", "--repeat", "1")
    _lines(out, r"case\s+ours/s\s+aioice/s\s+ratio")
    for case in (
        "channeldata-in (event)",
        "channeldata-in (on_data)",
        "data-indication-in",
        "send-indication-out",
        "stream-framing (x1000 frames)",
    ):
        _lines(out, rf"{re.escape(case)}\s+{NUM}\s+{NUM}\s+{NUM}x")


def test_bench_sctp() -> None:
    out = _ok("bench_sctp", "--repeat", "1", "--mib", "1", "--aiortc-mib", "1", "--cpu")
    for size in (16384, 1200):
        _lines(
            out,
            rf"{size}-byte messages, median of 1 runs \(in memory, one process, per CPU second\)",
        )
    for label in (
        "pyrtcstack Association pair (no crypto)",
        "pyrtcstack DataChannelManager pair (no crypto)",
        "aiortc SCTP + RTCDataChannel (no crypto)",
        "pyrtcstack data channel over our DTLS",
        "aiortc data channel over its DTLS",
    ):
        _lines(out, rf"  {re.escape(label)}\s+{NUM} MB/s\s+{NUM} msg/s  x{NUM} vs aiortc")
    assert out.count(" MB/s ") == 10, out  # five rows, two sizes


def test_bench_sctp_path() -> None:
    out = _ok("bench_sctp_path", "--mib", "0.125", "--seeds", "1")
    _lines(
        out,
        r"SCTP on a \d+ Mbit/s path, drop-tail queue \d+, RTT \d+ ms, 0\.125 MiB .*",
        r"  bulk: everything queued at once, .*",
        r"  bursty: a \d+ KiB message every .*",
    )
    drops = rf"  drops: queue {NUM} random {NUM} %  rtx\s+{NUM}  T3\s+{NUM}"
    rows = [line for line in out.splitlines() if "Max.Burst" in line]
    assert len(rows) == 8, out  # {bulk, bursty} x {0, 1 % loss} x {Max.Burst 4, 64}
    bulk = rf"    loss [01] %  Max\.Burst\s+(4|64):\s+{NUM} Mbit/s{drops}"
    bursty = (
        rf"    loss [01] %  Max\.Burst\s+(4|64):\s+{NUM} Mbit/s"
        rf"  message latency median\s+{NUM} ms p95\s+{NUM} ms{drops}"
    )
    assert all(re.fullmatch(bulk, row) for row in rows[:4]), out
    assert all(re.fullmatch(bursty, row) for row in rows[4:]), out


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # below one 128 KiB bursty message: nothing to time (was a ZeroDivisionError)
        ("bench_sctp_path", ["--mib", "0.1"]),
        ("bench_sctp_path", ["--seeds", "0"]),
        # 0 MiB: the aiortc rows waited 300 s for a transfer that never ends
        ("bench_sctp", ["--mib", "0"]),
        ("bench_sctp", ["--aiortc-mib", "0"]),
        ("bench_sctp", ["--repeat", "0"]),
    ],
)
def test_bench_bad_sizes_are_one_line_errors(name: str, args: list[str]) -> None:
    proc = _run(name, *args)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    assert re.search(r"error: .*must be", proc.stderr), proc.stderr


def test_bench_pc_cores_transfer() -> None:
    out = _ok("bench_pc_cores", "--mib", "0.1", "--cpu")
    _lines(out, rf"{NUM} MB/s per CPU second \({NUM} s\)")
    match = re.search(r"^records a->b (\d+) b->a (\d+)$", out, re.M)
    assert match is not None, out
    assert int(match[1]) > 0 and int(match[2]) > 0, out


def test_bench_pc_cores_profile() -> None:
    out = _ok("bench_pc_cores", "--mib", "0.1", "--profile")
    _lines(out, rf"python calls per MiB: {NUM}", r"\s*ncalls\s+tottime\s+percall.*")


def test_bench_pc_cores_opcodes_dtls12() -> None:
    out = _ok("bench_pc_cores", "--mib", "0.05", "--opcodes", "--dtls12")
    _lines(out, rf"python opcodes per MiB: {NUM}")
    rows = [line for line in out.splitlines() if re.fullmatch(rf"\s*{NUM}  \S+:\d+:\S+", line)]
    assert len(rows) >= 10, out  # the top functions, file:line:name


def test_bench_pc_cores_one_side() -> None:
    """``--side``: the opcodes of one end only (the receiver's DATA path is not the
    sender's), with the package totals; ``--sack-every`` is taken."""
    totals: dict[str, str] = {}
    for side in ("sender", "receiver"):
        out = _ok(
            "bench_pc_cores", "--mib", "0.05", "--opcodes", "--side", side, "--sack-every", "4"
        )
        match = re.search(rf"python opcodes per MiB: ({NUM})", out)
        assert match is not None, out
        totals[side] = out
        assert re.search(r"^by package: .*sctp [\d,]+", out, re.M), out
    # a SentChunk per DATA chunk sent: the sender's; SACKs built: the receiver's
    assert "sctp/outgoing.py" in totals["sender"] and "outgoing.py" not in totals["receiver"]
    assert "sctp/acks.py" in totals["receiver"] and "acks.py" not in totals["sender"]


# --- the ICE bench: every section, setup beside aioice on loopback ----------------------------


def test_bench_ice() -> None:
    out = _ok("bench_ice", "--runs", "1")
    _lines(
        out,
        rf"vnet: \d+ checks per session \(64 pairs\) -> {NUM} checks/s \(best of 5\)",
        rf"NAT matrix, 16 cases with TURN: {NUM} s wall",
        rf"data path, 1200-byte datagrams: receive {NUM}/s, send {NUM}/s",
        rf"consent check \(RFC 7675\), both agents: {NUM} us CPU each",
        *(
            rf"loopback setup, pyrtcstack \(Ta {ta} ms, {what}\): "
            rf"connected {NUM} ms, nominated pair selected {NUM} ms \(medians, 1 runs\)"
            for ta, what in (
                (50, "valid pair used before selection"),
                (20, "valid pair used before selection"),
                (50, "selection only"),
            )
        ),
        rf"loopback setup, aioice \(checks every 20 ms\): median {NUM} ms",
        rf"  connected, Ta 50 ms: {NUM}x; Ta 20 ms: {NUM}x",
        rf"  nominated, Ta 50 ms: {NUM}x; Ta 20 ms: {NUM}x",
        rf"  selection only \(use_valid_pairs=False\), Ta 50 ms: {NUM}x",
    )


# --- idle benches: asyncio floor and idle peer connections (JSON) --------------------------


def test_bench_asyncio_floor() -> None:
    # the bench waits 6 s for its timers' first round before its window: the floor of this file
    result = _json(_ok("bench_asyncio_floor", "--pairs", "2", "--idle", "0.2"))
    assert result["pairs"] == 2
    _numbers(result, "idle_cpu_percent", "cpu_us_per_cycle", "cycles")


IDLE = ("--pairs", "1", "--settle", "0", "--idle", "0.2")
IDLE_KEYS = (
    "idle_cpu_percent",
    "consent_checks",
    "heartbeats",
    "cpu_us_per_check",
    "datagrams_per_check",
    "open_seconds",
    "rss_kib_per_connection",
    "peak_rss_kib_per_connection",
)


def test_bench_idle_count_and_concurrent_child() -> None:
    result = _json(_ok("bench_idle", *IDLE, "--count"))
    assert result["stack"] == "ours" and result["pairs"] == 1
    _numbers(result, *IDLE_KEYS, "wakeups_per_check", "timers_per_check", "cancels_per_check")
    _numbers(result, "concurrent_peak_rss_kib_per_connection", "concurrent_open_seconds")


def test_bench_idle_profile() -> None:
    proc = _run("bench_idle", *IDLE, "--profile", "--top", "5", "--no-concurrent")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _json(proc.stdout)
    _numbers(result, *IDLE_KEYS, "calls_per_check")
    assert result["calls_per_check"] > 0
    assert re.search(r"ncalls\s+tottime", proc.stderr), proc.stderr


@pytest.mark.parametrize("stack", ["ours12", "aiortc"])
def test_bench_idle_other_stacks(stack: str) -> None:
    proc = _run("bench_idle", *IDLE, "--stack", stack, "--no-concurrent", "--tracemalloc")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _json(proc.stdout)
    assert result["stack"] == stack
    _numbers(result, *IDLE_KEYS)
    assert "Python allocations kept:" in proc.stdout + proc.stderr


def test_bench_idle_sans_io() -> None:
    result = _json(_ok("bench_idle", "--sans-io"))
    keys = ("cores_calls_per_check", "cores_best_us_per_check")
    _numbers(result, *keys, "agents_calls_per_round", "agents_best_us_per_round")
    assert result["cores_calls_per_check"] > 0 and result["agents_calls_per_round"] > 0


# --- the setup bench's collector census ----------------------------------------------------
def test_bench_setup_gc() -> None:
    out = _ok("bench_setup", "gc", "--runs", "2")
    _lines(
        out,
        rf"garbage collector per loop setup \(2 setups\): collections young {NUM}, middle {NUM},"
        rf" full {NUM}; objects freed {NUM}; {NUM} ms",
    )
