"""Two peer connection cores in memory: the whole data path (data channel, SCTP, DTLS
records, the core's demux) without sockets or asyncio, on a virtual clock.

Deterministic enough to count: the work per MiB in instructions (run it under
``valgrind --tool=callgrind`` at two sizes and take the difference, which removes setup)
or in Python calls (``--profile``) or in Python opcodes executed (``--opcodes``, by function:
exact and repeatable, but an opcode is anything from a local read to a call, so check a
change in instructions too). Every datagram one core sends in a step reaches the
other in one ``receive_datagrams`` batch, as the asyncio driver hands over what it read.
The sender keeps at most 1 MiB buffered, as ``bench_pc.py`` does. ``--cpu`` prints MB
per CPU second of the transfer (noisy on a shared machine: compare trees alternating).

    python bench/bench_pc_cores.py --mib 16 --size 16384 --cpu
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg python bench/bench_pc_cores.py --mib 2

One end alone: ``--side sender`` (or ``receiver``) makes every call the bench makes into
that end's core during the transfer (``receive_datagrams``, ``transmits``, the timers,
``next_event``, the channel's ``send``) go through ``operator.call``, a C function nothing
else on the path uses, so that callgrind counts that end's work and nothing else:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=_operator_call \
        python bench/bench_pc_cores.py --mib 2 --side receiver
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import dataclasses
import operator
import os
import pstats
import random
import sys
import time
from types import FrameType
from typing import Any

from pyrtcstack.datachannel import ChannelMessage
from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.peerconnection import core as pc_core

A = ("127.0.0.1", 40010)
B = ("127.0.0.1", 40012)
HIGH_WATER = 1 << 20
# (data, source) of a (data, source, destination) transmit, taken in C: the bench's own
# work per datagram stays out of the counts
_data = operator.itemgetter(0)
_src = operator.itemgetter(1)


def _connect(dtls: tuple[str, ...] | None) -> tuple[Any, Any, Any]:
    settings = Settings() if dtls is None else Settings(dtls_versions=dtls)
    a = PeerConnectionCore(settings=settings, rng=random.Random(7))
    b = PeerConnectionCore(settings=settings, rng=random.Random(8))
    chan = a.create_data_channel("bulk")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A], 0.0)
    _run(a, b, lambda: a.local_description is not None and a.ice.gathering_started)
    offer = a.local_description
    b.set_remote_description(offer, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B], 0.0)
    a.set_remote_description(b.local_description, 0.0)

    def drain() -> bool:
        for pc in (a, b):
            while pc.next_event() is not None:
                pass
        return False

    _run(a, b, lambda: drain() or chan.ready_state == "open")
    return a, b, chan


_state = {"now": 0.0}


def _direct(f: Any, /, *args: Any, **kwargs: Any) -> Any:
    return f(*args, **kwargs)


#: how the bench calls each end (``--side``: the counted end through ``operator.call``)
_calls: dict[int, Any] = {}


def _run(a: Any, b: Any, until: Any, tick: float = 0.0001) -> None:
    """Move datagrams between the cores until ``until()``; the clock advances by ``tick``
    per step that moved something, to the next timer when nothing moved."""
    now = _state["now"]
    ca = _calls.get(id(a), _direct)
    cb = _calls.get(id(b), _direct)
    pairs = ((a, ca, b, cb, B), (b, cb, a, ca, A))
    while not until():
        moved = False
        for src, csrc, dst, cdst, local in pairs:
            out = csrc(src.transmits, now)
            if out:
                moved = True
                cdst(
                    dst.receive_datagrams,
                    list(zip(map(_data, out), map(_src, out), strict=True)),
                    now,
                    local=local,
                )
        if moved:
            now += tick
        else:
            times = [t for t in (ca(a.get_timer), cb(b.get_timer)) if t is not None]
            now = max(now + tick, min(times)) if times else now + tick
        for pc, call in ((a, ca), (b, cb)):
            t = call(pc.get_timer)
            if t is not None and t <= now:
                call(pc.handle_timer, now)
    _state["now"] = now


def transfer(a: Any, b: Any, chan: Any, size: int, total: int) -> float:
    count = total // size
    msg = bytes(size)
    sent = 0
    got = 0

    ca = _calls.get(id(a), _direct)
    cb = _calls.get(id(b), _direct)

    def step() -> bool:
        nonlocal sent, got
        while sent < count and chan.buffered_amount < HIGH_WATER:
            ca(chan.send, msg)
            sent += 1
        ev = cb(b.next_event)
        while ev is not None:
            if type(ev) is ChannelMessage:
                got += 1
            ev = cb(b.next_event)
        while ca(a.next_event) is not None:
            pass
        return got >= count

    t0 = time.thread_time()
    _run(a, b, step)
    return time.thread_time() - t0


def _count_opcodes(run: Any, side: bool = False) -> collections.Counter[str]:
    """The opcodes each function executes while ``run()`` runs (sys.settrace with
    f_trace_opcodes: slow, but the same count every time). ``side``: only the frames the
    bench entered through ``operator.call`` (``--side``) and what they call."""
    counts: collections.Counter[str] = collections.Counter()
    bench = __file__

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if side:
            # the first frame of this file above it: called by _direct (the other end) or
            # by the bench's loop through operator.call (the counted end)
            up: FrameType | None = frame
            while up is not None and up.f_code.co_filename != bench:
                up = up.f_back
            if up is None or up is frame or up.f_code.co_name == "_direct":
                return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        code = frame.f_code
        package = os.path.basename(os.path.dirname(code.co_filename))
        name = (
            f"{package}/{os.path.basename(code.co_filename)}:{code.co_firstlineno}:{code.co_name}"
        )

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[name] += 1
            return local

        return local

    sys.settrace(trace)
    try:
        run()
    finally:
        sys.settrace(None)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=float, default=4)
    p.add_argument("--size", type=int, default=16384)
    p.add_argument("--dtls12", action="store_true", help="force DTLS 1.2 (default: 1.3, 1.2)")
    p.add_argument("--cpu", action="store_true", help="print MB per CPU second")
    p.add_argument("--profile", action="store_true", help="Python calls of the transfer")
    p.add_argument("--opcodes", action="store_true", help="Python opcodes of the transfer")
    p.add_argument(
        "--side",
        choices=("sender", "receiver"),
        help="call that end through operator.call (callgrind --toggle-collect=_operator_call)",
    )
    p.add_argument(
        "--sack-every",
        type=int,
        default=0,
        help="SctpConfig.sack_every of both ends (the cost of a SACK: 2 against 4)",
    )
    args = p.parse_args()
    if args.sack_every:
        made = pc_core.sctp_config  # type: ignore[attr-defined]
        every = args.sack_every
        pc_core.sctp_config = lambda s: dataclasses.replace(made(s), sack_every=every)
    a, b, chan = _connect(("1.2",) if args.dtls12 else None)
    if args.side:
        _calls[id(a if args.side == "sender" else b)] = operator.call
    total = int(args.mib * (1 << 20))
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        transfer(a, b, chan, args.size, total)
        prof.disable()
        st = pstats.Stats(prof)
        calls = sum(v[1] for v in st.stats.values())  # type: ignore[attr-defined]
        print(f"python calls per MiB: {calls / args.mib:,.0f}")
        st.sort_stats("tottime").print_stats(25)
        return
    if args.opcodes:
        counts = _count_opcodes(
            lambda: transfer(a, b, chan, args.size, total), side=args.side is not None
        )
        print(f"python opcodes per MiB: {sum(counts.values()) / args.mib:,.0f}")
        for name, n in counts.most_common(20):
            print(f"{n / args.mib:10,.0f}  {name}")
        layers: collections.Counter[str] = collections.Counter()
        for name, n in counts.items():
            layers[name.split("/")[0]] += n
        print("by package:", ", ".join(f"{k} {v / args.mib:,.0f}" for k, v in layers.most_common()))
        return
    cpu = transfer(a, b, chan, args.size, total)
    if args.cpu:
        print(f"{total / cpu / 1e6:.1f} MB/s per CPU second ({cpu:.3f} s)")
    print(
        "records a->b",
        b.counters.get("dtls_records_received"),
        "b->a",
        a.counters.get("dtls_records_received"),
    )


if __name__ == "__main__":
    main()
