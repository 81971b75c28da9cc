"""Data channel throughput both ways between our stack and every other stack (issue 15, part 3).

For each peer (aiortc, werift, Pion, Chromium, Firefox, GStreamer webrtcbin) and each
message size (16 KiB and 1,200 bytes), in one run:

* **peer → us**: we create a channel labelled ``bench-source:N:SIZE``; the peer sends N
  bytes on it in SIZE-byte binary messages, keeping at most 1 MiB buffered (as
  bench_pc.py's senders); timed from our ``create_data_channel`` to the last byte.
* **us → peer**: on ``bench-sink:N`` we send N bytes (same flow control); timed until the
  peer answers ``done N`` on the channel.
* **peer → aiortc** and **aiortc → peer**: the same two transfers with aiortc in our place
  (the anchors of the targets "peer → us ≥ peer → aiortc" and "us → peer ≥ aiortc → peer").
* **peer → itself**: aiortc → aiortc (one process: both in ours; two processes: aiortc →
  an aiortc child process, i.e. its peer → aiortc row); werift, Chromium and Firefox: two
  peer connections in one werift process / one page (``selfBench`` scenarios of
  ``assets/peer.js``); Pion: its peer program's ``-pair-bench`` (Pion → a Pion child
  process, as Pion → us runs); GStreamer: two webrtcbins in one process
  (``gst_peer.py --self-bench``).
* **ours → ours** (one process, bench_pc.py) as the usual anchor.

Janus's echotest only echoes: its rows (``--peers janus``) are a round trip, us ⇄ Janus
beside aiortc ⇄ Janus, in a table of their own (bench_interop_janus.py).

Each transfer also has the CPU seconds per MB of each side: ours from this process
(``time.process_time``; with aiortc in one process that is both ends), the peer's from
``/proc/PID/stat`` (utime + stime) summed over its process group (a browser's every
process), and the peer's CPU as a share of the wall time (near 100 % or above: its own
sender is the limit; browsers spread over several processes and threads).

The peers other than aiortc are launched by the interop harness (pyrtcstack.interop), one
launch per repetition, and signal through it (we offer, non-trickle). aiortc is the
in-process ``RTCPeerConnection`` (one process) or a child process of this script (two
processes). Run inside a private namespace, loopback only::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/bench_interop.py \\
        [--peers aiortc,werift,pion,chromium,firefox] [--mib 32] [--repeat 3]'

The machine is shared and noisy: compare only within one run (the ratios).

To see who waits for whom: ``--counters`` prints our SCTP sender's counters after each of
our transfers and the datagrams each side's UDP socket dropped (``/proc/net/udp``: ours,
and the others', i.e. the peer's); ``--dtls 1.2 --keylog FILE`` lets tshark decrypt a
capture of the run (docs/interop.md, "Throughput"); ``--socket-buffer N`` changes our
sockets' buffer request. With ``--counters`` a browser's CPU per MB is also split by
process (renderer, network service, GPU, the browser process: their command lines), for
each transfer and for the peer → itself. ``--peer-offers``: the harness peers offer and
we answer (the other role: we are the DTLS client and both ends send INIT; no aiortc rows).
``--third pion`` (browsers, werift): the peer also sends to a third receiver in the same
launch, a Pion ``-pair-sink`` child process that gets the peer's offer relayed through this
script, so "the peer's sender is the limit" is checked against a receiver that is neither
us nor the peer itself (a table of its own: MB/s and each side's CPU s/MB).

This script is the run (launches, transfers, the table's assembly, the command line); the
pieces it runs are beside it: bench_interop_link.py (our end of a link, :class:`Side`, and
what it asks of the other end, :class:`Remote`), bench_interop_peers.py (the other ends:
aiortc here or in a child process, the harness's peers, each peer → itself),
bench_interop_counters.py (CPU from /proc, socket drops, ``--counters``),
bench_interop_table.py (the rows) and bench_interop_janus.py (Janus's round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys

import bench_interop_counters as counters
import bench_interop_link as link
from bench_interop_counters import group_cpu, udp_drops
from bench_interop_link import OURS_SETTINGS, Remote, Sample, Side
from bench_interop_peers import ECHO_PEERS, REMOTES, HarnessPeer, aiortc_child
from bench_interop_table import HEADER, THIRD_HEADER, Row, failures, fmt, format_row, third_row
from bench_pc import throughput

from pyrtcstack.interop.launchers import PeerUnavailableError

__all__ = [
    "HEADER",
    "REMOTES",
    "HarnessPeer",
    "Side",
    "group_cpu",
    "measure",
    "run",
]

SIZES = (16384, 1200)
DEFAULT_PEERS = ("aiortc", "werift", "pion", "chromium", "firefox")


async def measure(remote: Remote, sizes: list[tuple[int, int]], rows: dict[int, Row]) -> None:
    """One launch: peer ↔ us and peer ↔ aiortc for each size, then peer → itself."""
    await remote.start()
    try:
        # --peer-offers: the peer's offers are answered by us only (no aiortc rows)
        stacks = ("ours",) if link.PEER_OFFERS and isinstance(remote, HarnessPeer) else ()
        for stack in stacks or ("ours", "aiortc"):
            side = Side(stack, remote.name)
            failed: str | None = None
            try:
                await side.connect(remote)
            except (OSError, RuntimeError, TimeoutError) as exc:
                failed = f"no connection: {exc!r}"
            try:
                for total, size in sizes:
                    for name, transfer in (
                        (f"p->{stack}", side.receive),
                        (f"{stack}->p", side.send),
                    ):
                        if failed is not None:
                            rows[size][name].append(Sample(0.0, 0.0, None, failed))
                            continue
                        drops0 = udp_drops() if counters.ENABLED else {}
                        try:
                            sample = await transfer(remote, total, size)
                        except (OSError, RuntimeError, TimeoutError) as exc:
                            # A result (the connection is not used again): shown as such.
                            why = f"{exc}; {stack}'s connection {side.state()}"
                            sample = Sample(0.0, 0.0, None, why + _peer_note(remote))
                            failed = "not run: an earlier transfer on this connection failed"
                        rows[size][name].append(sample)
                        if counters.ENABLED and stack == "ours":
                            here = side.counters(), side.ports()
                            split = _split(remote, total)
                            counters.print_transfer(
                                remote.name, name, size, sample, *here, drops0, split
                            )
            finally:
                await side.close()
                await remote.end_link()
        for total, size in sizes if getattr(remote, "third_index", None) else []:
            try:
                sample = await remote.third_bench(total, size)  # type: ignore[attr-defined]
            except (OSError, RuntimeError, TimeoutError, ValueError) as exc:
                sample = Sample(0.0, 0.0, None, f"{exc!r}")
            rows[size]["p->third"].append(sample)
            if counters.ENABLED:
                print(f"  {remote.name} p->{link.THIRD} {size}: {sample.rate:.1f} MB/s, "
                      f"{fmt(sample.peer_cpu, '.4f')} / {fmt(sample.third_cpu, '.4f')} CPU s/MB "
                      f"(the peer / {link.THIRD}){_split(remote, total)}",
                      file=sys.stderr)  # fmt: skip
        for total, size in sizes:
            drops0 = udp_drops() if counters.ENABLED else None
            try:
                sample = await remote.self_bench(total, size)
            except TimeoutError:
                sample = Sample(0.0, 0.0, None, f"no result within {link.TRANSFER_TIMEOUT:g} s")
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                sample = Sample(0.0, 0.0, None, f"{exc}")
            if sample is None:  # aiortc: → itself is → aiortc
                sample = rows[size]["p->aiortc"][-1]
            rows[size]["p->self"].append(sample)
            if counters.ENABLED:
                counters.print_self(remote.name, size, sample, drops0, _split(remote, total))
    finally:
        await remote.close()


def _split(remote: Remote, total: int) -> str:
    """The peer's CPU per MB by process role over the last transfer (``--counters``)."""
    split = getattr(remote, "split", None)
    return split(total / 1e6) if split is not None else ""


def _peer_note(remote: Remote) -> str:
    """The last connection state the launched peer logged, if it is one (a failed one
    says whose side gave up)."""
    log = getattr(getattr(remote, "process", None), "log_tail", None)
    if log is None:
        return ""
    states = [line for line in log(200).splitlines() if " pc " in line]
    return f"; the peer's log: {states[-1].strip()!r}" if states else ""


async def run(peers: list[str], mib: float, repeat: int, sizes: tuple[int, ...] = SIZES) -> str:
    """The whole table (markdown) for ``peers``; MB/s are medians of ``repeat`` launches."""
    plan = [(size * (int(mib * (1 << 20)) // size), size) for size in sizes]
    lines = [
        f"{mib:g} MiB per transfer, MB/s (medians of {repeat}); CPU: ours / the peer's",
        HEADER,
    ]
    notes: list[str] = []
    echo_lines: list[str] = []
    third_lines: list[str] = []
    for peer in peers:
        if peer in ECHO_PEERS:
            from bench_interop_janus import run_echo

            more, failed = await run_echo(plan, repeat)
            echo_lines += more
            notes += failed
            continue
        for label, factory in REMOTES[peer]:
            rows: dict[int, Row] = {
                size: {
                    k: []
                    for k in ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self", "p->third")
                }
                for size in sizes
            }
            try:
                for _ in range(repeat):
                    await measure(factory(plan), plan, rows)
            except PeerUnavailableError as exc:
                print(f"{peer}: skipped ({exc})", file=sys.stderr)
                continue
            for size in sizes:
                line = format_row(f"{peer} ({label})", size, rows[size])
                print(line, flush=True)
                lines.append(line)
                notes += failures(f"{peer} ({label})", size, rows[size])
                if rows[size]["p->third"]:
                    third_lines.append(third_row(f"{peer} ({label})", size, rows[size]))
    if len(lines) == 2:  # only echo peers: no row of the main table
        lines = [lines[0].partition(";")[0]]
    lines += echo_lines
    if third_lines:
        lines += ["", f"The peer's sender towards a third receiver ({link.THIRD}), same launches:"]
        lines += [THIRD_HEADER.replace("third", link.THIRD or "third"), *third_lines]
    if notes:
        lines += ["", "Failed transfers (fail, or * beside a median of the others):"]
        lines += [f"- {note}" for note in notes]
    anchor = []
    for total, size in plan:
        values = [await throughput("ours", size, total) for _ in range(repeat)]
        rate = statistics.median(v[0] for v in values)
        cpu = statistics.median(1 / v[1] for v in values)
        anchor.append(f"ours → ours (1 proc), {size:,} B: {rate:.1f} MB/s, {cpu:.4f} CPU s/MB")
    lines.append("")
    lines.extend(anchor)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS), help="comma-separated")
    parser.add_argument("--mib", type=float, default=32.0, help="MiB per transfer")
    parser.add_argument("--repeat", type=int, default=3, help="launches per peer (medians)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="message sizes")
    parser.add_argument("--dtls", help="our DTLS versions, e.g. 1.2 (default: ours)")
    parser.add_argument("--keylog", help="append our DTLS key log here (to decrypt a trace)")
    parser.add_argument("--counters", action="store_true", help="our SCTP counters (stderr)")
    parser.add_argument("--socket-buffer", type=int, help="our SO_RCVBUF/SO_SNDBUF request")
    parser.add_argument(
        "--no-sack-at-batch-end",
        action="store_true",
        help="ours: Settings(sctp_sack_at_batch_end=False), the delayed SACK",
    )
    parser.add_argument(
        "--sack-coalesce", action="store_true", help="ours: Settings.sctp_sack_coalesce"
    )
    parser.add_argument(
        "--peer-offers", action="store_true", help="harness peers offer, we answer (ours only)"
    )
    parser.add_argument(
        "--third",
        choices=("pion",),
        help="also the peer → this third receiver (browsers, werift: a Pion -pair-sink child)",
    )
    parser.add_argument("--aiortc-peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aiortc_peer:
        asyncio.run(aiortc_child())
        sys.exit(0)
    names = [p for p in args.peers.split(",") if p]
    unknown = [p for p in names if p not in REMOTES and p not in ECHO_PEERS]
    if unknown or args.mib <= 0 or args.repeat < 1:
        known = ", ".join([*REMOTES, *ECHO_PEERS])
        print(f"bench_interop: bad --peers/--mib/--repeat (peers: {known})",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    counters.ENABLED = args.counters
    if args.socket_buffer:
        import pyrtcstack.aio.peerconnection as aio_pc

        aio_pc.SOCKET_BUFFER = args.socket_buffer
    if args.dtls:
        OURS_SETTINGS["dtls_versions"] = tuple(args.dtls.split(","))
    if args.keylog:
        OURS_SETTINGS["keylog_file"] = args.keylog
    if args.no_sack_at_batch_end:
        OURS_SETTINGS["sctp_sack_at_batch_end"] = False
    if args.sack_coalesce:
        OURS_SETTINGS["sctp_sack_coalesce"] = True
    link.PEER_OFFERS = args.peer_offers
    link.THIRD = args.third
    if args.third and args.peer_offers:
        print("bench_interop: --third needs our offers (not --peer-offers)", file=sys.stderr)
        sys.exit(2)
    table = asyncio.run(
        run(names, args.mib, args.repeat, tuple(int(s) for s in args.sizes.split(",")))
    )
    print()
    print(table)
