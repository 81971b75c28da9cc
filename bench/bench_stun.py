"""STUN codec throughput, pyrtcstack.stun beside aioice.stun in the same run.

The message is an ICE connectivity check: Binding request with USERNAME, PRIORITY,
ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY and FINGERPRINT. "encode" builds the
message object and serialises it with MI + FINGERPRINT; "decode" parses it, checks
FINGERPRINT and verifies MI with the key (what an ICE agent does for every check).

Run: .venv/bin/python bench/bench_stun.py [--seconds S] [--repeat N]
The machine is shared: run a few times and quote the median.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from pyrtcstack.stun import AttributeType, Message, Method, decode

KEY = b"VOkJxbRl1RmTxUk/WvJxBt"
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
USERNAME = "evtj:h6vY"
PRIORITY = 1845494271
TIEBREAKER = 0x932FF9B151263B36


def ours_encode() -> bytes:
    m = Message(Method.BINDING, transaction_id=TID)
    m.add_text(AttributeType.USERNAME, USERNAME)
    m.add_uint32(AttributeType.PRIORITY, PRIORITY)
    m.add_uint64(AttributeType.ICE_CONTROLLING, TIEBREAKER)
    m.add(AttributeType.USE_CANDIDATE)
    return m.encode(KEY, fingerprint=True)


def ours_decode(data: bytes) -> None:
    m = decode(data)
    if not m.verify_integrity(KEY):
        raise AssertionError("integrity")


def rate(fn: Callable[[], object], seconds: float) -> float:
    n = 0
    batch = 200
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.3, help="window per measurement")
    parser.add_argument("--repeat", type=int, default=9, help="paired windows per op")
    args = parser.parse_args()

    data = ours_encode()
    cases: dict[str, Callable[[], object]] = {
        "pyrtcstack encode": ours_encode,
        "pyrtcstack decode": lambda: ours_decode(data),
    }
    try:
        from aioice import stun as ai

        def ai_encode() -> bytes:
            m = ai.Message(
                message_method=ai.Method.BINDING,
                message_class=ai.Class.REQUEST,
                transaction_id=TID,
            )
            m.attributes["USERNAME"] = USERNAME
            m.attributes["PRIORITY"] = PRIORITY
            m.attributes["ICE-CONTROLLING"] = TIEBREAKER
            m.attributes["USE-CANDIDATE"] = None
            m.add_message_integrity(KEY)  # aioice >= 0.10 adds FINGERPRINT here too
            if "FINGERPRINT" not in m.attributes:
                m.add_fingerprint()
            return bytes(m)

        ai_data = ai_encode()
        assert ai_data == data, "both encoders must produce the same bytes"
        cases["aioice encode"] = ai_encode

        def ai_decode() -> None:
            m = ai.parse_message(ai_data)
            if not m.check_message_integrity(KEY):
                raise AssertionError("integrity")

        cases["aioice decode"] = ai_decode
    except ImportError:
        print("aioice not installed: no baseline")

    # The machine is shared: measure ours and the baseline back to back in short
    # alternating windows and take the median of the per-window ratios, so a burst of
    # load from elsewhere hits both sides of a ratio alike.
    results: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {"encode": [], "decode": []}
    for _ in range(args.repeat):
        for op in ("encode", "decode"):
            ours = rate(cases[f"pyrtcstack {op}"], args.seconds)
            results[f"pyrtcstack {op}"].append(ours)
            if f"aioice {op}" in cases:
                base = rate(cases[f"aioice {op}"], args.seconds)
                results[f"aioice {op}"].append(base)
                ratios[op].append(ours / base)
    for name, values in results.items():
        print(
            f"{name:20s} {statistics.median(values) / 1000:8.1f} k msg/s  "
            f"(median of {len(values)}: {', '.join(f'{r / 1000:.1f}' for r in values)})"
        )
    for op, values in ratios.items():
        if values:
            print(
                f"ratio {op}: {statistics.median(values):.2f}x aioice "
                f"(median of {len(values)} paired windows, min {min(values):.2f}, "
                f"max {max(values):.2f})"
            )


if __name__ == "__main__":
    main()
