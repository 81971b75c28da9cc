"""bench_interop.py's view of who waits for whom: the CPU of a peer's processes
(``/proc/PID/stat``), the datagrams each UDP socket dropped (``/proc/net/udp``), our SCTP
sender's and DTLS's counters, and ``--counters``' line after each transfer (stderr)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bench_interop_table import fmt

if TYPE_CHECKING:
    from bench_interop_link import Sample

#: ``--counters``: print our SCTP counters after each transfer (stderr).
ENABLED = False

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: str | int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()  # the name may hold spaces and ")"


def _group(leader: int) -> Iterator[tuple[str, float]]:
    """(pid, utime + stime in seconds) of every live process in process group ``leader``
    (the launchers start each peer as a group leader: a browser's every process is in it)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = _stat_fields(name)
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == leader:  # field 5, pgrp
            yield name, (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15


def group_cpu(leader: int) -> float:
    """utime + stime (seconds) of every live process in process group ``leader``."""
    return sum(cpu for _, cpu in _group(leader))


def process_role(args: list[str]) -> str:
    """A browser process's role from its command line ``args``: Chromium's ``--type=``
    (with the utility process's service, e.g. ``utility:NetworkService``), Firefox's
    ``-contentproc`` (``content:`` and its kind, the last argument), else ``main`` (the
    process that started the others)."""
    if len(args) == 1:  # Chromium's zygote children rewrite theirs as one line
        args = args[0].split(" ")
    kind = next((a[7:] for a in args if a.startswith("--type=")), "")
    sub = next((a.rpartition(".")[2] for a in args if a.startswith("--utility-sub-type=")), "")
    if kind:
        return f"{kind}:{sub}" if sub else kind
    if "-contentproc" in args:
        return f"content:{args[-1]}"
    return "main"


def _role(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return process_role(f.read().decode(errors="replace").rstrip("\0").split("\0"))
    except OSError:
        return "?"


def group_cpu_split(leader: int) -> dict[str, float]:
    """:func:`group_cpu` by process role (:func:`process_role`): where a browser's CPU goes
    (renderer, network service, GPU, the browser process); a diagnostic of ``--counters``."""
    split: dict[str, float] = {}
    for pid, cpu in _group(leader):
        kind = _role(pid)
        split[kind] = split.get(kind, 0.0) + cpu
    return split


def split_per_mb(before: dict[str, float], after: dict[str, float], mb: float) -> str:
    """The CPU seconds per MB of each role between two :func:`group_cpu_split` readings."""
    parts = []
    for kind in sorted(after, key=lambda k: -(after[k] - before.get(k, 0.0))):
        spent = after[kind] - before.get(kind, 0.0)
        if spent > 0:
            parts.append(f"{kind}={spent / mb:.4f}")
    return " ".join(parts) or "-"


def udp_drops() -> dict[int, int]:
    """Datagrams each UDP socket of this namespace dropped (full receive buffer), by local
    port (/proc/net/udp's last column); a diagnostic of ``--counters``."""
    drops: dict[int, int] = {}
    with open("/proc/net/udp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            port = int(fields[1].rpartition(":")[2], 16)
            drops[port] = drops.get(port, 0) + int(fields[-1])
    return drops


def ours_counters(pc: Any) -> str:
    """Our SCTP sender's counters, our driver's datagrams and DTLS's drops on the
    connection of our peer connection ``pc`` (cumulative over the connection)."""
    a = pc.core.sctp.association
    s = a.sender
    d = pc.core.dtls.stats
    srtt = -1.0 if s.srtt is None else s.srtt
    return (
        f"t3={s.t3_expirations} fast_rtx={s.fast_retransmissions} rtx={s.retransmissions}"
        f" cwnd={s.cwnd} ssthresh={s.ssthresh} rto={s.rto:.3f} srtt={srtt:.4f}"
        f" peer_rwnd={s.peer_rwnd} rx={a.stats.packets_received} tx={a.stats.packets_sent}"
        f" dropped={a.stats.data_dropped} flight={s.flight} outstanding={s.outstanding}"
        # RFC 9260 §6.2: TSNs we dropped again to take a gap filler with the window
        # full, and chunks the peer dropped again that we put back in the flight
        f" reneged={a.receiver.reneged if a.receiver is not None else 0}"
        f" peer_reneged={s.reneged}"
        f" pending={s.pending} t3_at={s.t3} state={a.state.name}"
        # datagrams in ÷ out while a peer sends to us: our read batch (our SACKs of
        # a batch leave in one datagram); cumulative over the connection
        f" udp_in={pc._driver.datagrams_received} udp_out={pc._driver.datagrams_sent}"
        # DTLS records our side dropped (a datagram can arrive and its record still
        # be lost: werift's record that reuses its Finished's number, docs/interop.md)
        f" dtls_replay={d.dropped_replay} dtls_decrypt={d.dropped_decrypt}"
    )


def ours_ports(pc: Any) -> set[int]:
    """The local ports of our peer connection ``pc``'s sockets."""
    return {addr[1] for addr in pc._sockets}  # a diagnostic read


def print_transfer(
    peer: str,
    name: str,
    size: int,
    sample: Sample,
    counters: str,
    mine: set[int],
    drops0: dict[int, int],
    extra: str = "",
) -> None:
    """``--counters``' line after one of our transfers: MB/s, when the channel opened and
    the first byte came (peer → us), ``counters`` (:func:`ours_counters`) and the datagrams
    our sockets (ports ``mine``) and the others dropped since ``drops0``."""
    drops = udp_drops()
    ours_d = sum(drops[p] - drops0.get(p, 0) for p in drops if p in mine)
    other = sum(drops[p] - drops0.get(p, 0) for p in drops if p not in mine)
    start = ""
    if sample.first is not None:
        start = (f"open +{fmt(sample.opened, '.3f')} s, first byte "
                 f"+{sample.first:.3f} s ")  # fmt: skip
    # our local ports: the capture filter / tshark_webrtc.sh port of this connection
    ports = ",".join(map(str, sorted(mine)))
    print(f"  {peer} {name} {size}: {sample.rate:.1f} MB/s {start}"
          f"{counters} udp_drops ours={ours_d} others={other} ports={ports}{extra}",
          file=sys.stderr)  # fmt: skip


def print_self(
    peer: str, size: int, sample: Sample, drops0: dict[int, int] | None = None, extra: str = ""
) -> None:
    """``--counters``' line after a peer → itself transfer (with the datagrams the
    namespace's sockets dropped since ``drops0``)."""
    dropped = ""
    if drops0 is not None:
        drops = udp_drops()
        dropped = f", udp_drops {sum(drops[p] - drops0.get(p, 0) for p in drops)}"
    print(f"  {peer} p->self {size}: {sample.rate:.1f} MB/s, "
          f"{fmt(sample.peer_cpu, '.4f')} CPU s/MB{dropped}{extra}",
          file=sys.stderr)  # fmt: skip
