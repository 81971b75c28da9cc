"""bench/bench_interop.py kept from rotting: its harness runs briefly (no timing asserted)
with aiortc (one process and two) and with werift (peer.js's bench channels and its
selfBench scenario), every transfer delivers its bytes and the table prints."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.interop.launchers import PeerUnavailableError, find_peer
from tests.peers import PROJECT, peer_missing, require_binary, require_module

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

sys.path.insert(0, str(PROJECT / "bench"))
import bench_interop  # noqa: E402
import bench_interop_link  # noqa: E402


@pytest.fixture(autouse=True)
def _bench_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The aiortc child process imports bench_interop (and bench_pc) with this path.
    path = os.pathsep.join([str(PROJECT), str(PROJECT / "bench")])
    monkeypatch.setenv("PYTHONPATH", path + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(bench_interop_link, "TRANSFER_TIMEOUT", 60.0)


def _rows(table: str, peer: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith(f"| {peer} (")
    ]


def test_aiortc_table(capsys: pytest.CaptureFixture[str]) -> None:
    require_module("aiortc")
    table = asyncio.run(bench_interop.run(["aiortc"], 0.25, 1, sizes=(16384, 1200)))
    rows = _rows(table, "aiortc")
    assert [r[:2] for r in rows] == [
        ["aiortc (1 proc)", "16,384"],
        ["aiortc (1 proc)", "1,200"],
        ["aiortc (2 procs)", "16,384"],
        ["aiortc (2 procs)", "1,200"],
    ]
    for row in rows:
        for rate in row[2:5] + row[7:9]:  # p→us, p→aiortc, p→self, us→p, aiortc→p
            assert float(rate) > 0
    # The child process's CPU is read from /proc; in one process there is no peer figure.
    assert rows[0][10].endswith("/ –") and not rows[2][10].endswith("/ –")
    assert "ours → ours (1 proc), 16,384 B" in table
    assert bench_interop.HEADER in capsys.readouterr().out + table


def test_werift_bench_channels_and_self_bench() -> None:
    try:
        find_peer("werift")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_module("aiortc")
    # Past the 1 MiB the sender keeps buffered: peer.js fills werift's buffer, waits for
    # bufferedamountlow and (werift_peer.mjs's yieldToIo) lets werift's I/O run meanwhile.
    total, size = 1000 * 1200, 1200
    rows: dict[int, Any] = {
        size: {k: [] for k in ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self")}
    }
    remote = bench_interop.HarnessPeer("werift", 2, [(total, size)])
    asyncio.run(bench_interop.measure(remote, [(total, size)], rows))
    for name, samples in rows[size].items():
        assert len(samples) == 1, name
        assert samples[0].failure is None, (name, samples[0].failure)
        assert samples[0].rate > 0, name
        # werift runs in its own process: its CPU is measured for every transfer.
        assert samples[0].peer_cpu is not None and samples[0].peer_cpu >= 0, name


def test_gstreamer_bench_channels_and_self_bench() -> None:
    """gst_peer.py serves bench-source/bench-sink as peer.js does, both transfers on one
    connection (the second channel opens after the first transfer: with the first one
    closed, webrtcbin 1.22 aborted the association), and its --self-bench row."""
    try:
        find_peer("gstreamer")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_module("aiortc")
    total, size = 200 * 1200, 1200
    rows: dict[int, Any] = {
        size: {k: [] for k in ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self")}
    }
    remote = bench_interop.REMOTES["gstreamer"][0][1]([(total, size)])
    asyncio.run(bench_interop.measure(remote, [(total, size)], rows))
    for name, samples in rows[size].items():
        assert len(samples) == 1, name
        assert samples[0].failure is None, (name, samples[0].failure)
        assert samples[0].rate > 0, name
        assert samples[0].peer_cpu is not None and samples[0].peer_cpu >= 0, name


def test_group_cpu_sums_the_process_group() -> None:
    # This process's group holds at least this process, which has used some CPU.
    assert bench_interop.group_cpu(os.getpgrp()) > 0
    assert bench_interop.group_cpu(2**22 + 12345) == 0  # no such group


def test_cli_refuses_an_unknown_peer() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, str(Path(bench_interop.__file__)), "--peers", "nope"],
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{PROJECT}{os.pathsep}{PROJECT / 'bench'}"},
    )
    assert done.returncode == 2
    assert len(done.stderr.decode().strip().splitlines()) == 1


def _granted(request: int) -> int:
    """What Linux keeps of a SO_RCVBUF request from an unprivileged call (Node's
    ``recvBufferSize``): capped at net.core.rmem_max, then doubled for bookkeeping."""
    with open("/proc/sys/net/core/rmem_max") as f:
        return 2 * min(request, int(f.read()))


def test_werift_sockets_get_the_harness_receive_buffer() -> None:
    """werift_peer.mjs asks a 4 MiB receive buffer for every UDP socket werift opens (werift
    has no option for it; with the system default its busy socket dropped our SACKs and
    its 1,200-byte transfers failed): each socket of werift's process group holds what the
    kernel grants such a request (``ss -uamp``: ``rb``)."""
    try:
        find_peer("werift")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    ss = require_binary("ss", "iproute2")
    remote = bench_interop.HarnessPeer("werift", 1, [])

    async def main() -> tuple[set[int], str]:
        await remote.start()
        side = bench_interop.Side("ours", "werift")
        try:
            await side.connect(remote)  # werift has opened its sockets
            leader = int(remote.process.process.pid)
            group = {int(p) for p in os.listdir("/proc") if p.isdigit() and _in_group(p, leader)}
            done = await asyncio.to_thread(
                subprocess.run, [ss, "-u", "-a", "-m", "-n", "-p"],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            return group, done.stdout
        finally:
            await side.close()
            await remote.end_link()
            await remote.close()

    group, out = asyncio.run(main())
    lines = out.splitlines()
    buffers = [
        int(match.group(1))
        for line, below in itertools.pairwise(lines)
        if any(f"pid={pid}," in line for pid in group)
        and (match := re.search(r"skmem:\(r\d+,rb(\d+),", below))
    ]
    assert buffers, out
    assert set(buffers) == {_granted(4 << 20)}, out


def _in_group(pid: str, leader: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[2]) == leader
    except OSError:
        return False


def test_janus_echo_rows() -> None:
    """The Janus rows: a round trip through the echotest (us ⇄ Janus, aiortc ⇄ Janus), past
    the 1 MiB window, both message sizes; every byte comes back in messages of the size
    sent, Janus's CPU is read from its process group, and the row prints."""
    from tests.test_janus_interop import one_address

    try:
        find_peer("janus")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_module("aiortc")
    import bench_interop_janus

    plan = [(128 * 16384, 16384), (1000 * 1200, 1200)]
    with one_address():
        lines, notes = asyncio.run(bench_interop_janus.run_echo(plan, 1))
    assert not notes, notes
    assert bench_interop_janus.ECHO_HEADER in "\n".join(lines)
    rows = _rows("\n".join(lines), "janus")
    assert [r[:2] for r in rows] == [["janus (2 procs)", "16,384"], ["janus (2 procs)", "1,200"]]
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0, row  # us ⇄ Janus, aiortc ⇄ Janus
        ours_cpu, janus_cpu = (float(v) for v in row[5].split(" / "))
        assert ours_cpu > 0 and janus_cpu > 0, row


def test_pion_to_itself_runs_in_two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pion's p→self is the like-for-like anchor of its two-process rows: ``-pair-bench``
    (the receiver in a child process), the CPU of both ends; never ``-self-bench``."""
    import bench_interop_peers

    try:
        find_peer("pion")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    calls: list[list[str]] = []
    run = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append([str(a) for a in args])
        return run(args, **kwargs)

    monkeypatch.setattr(bench_interop_peers.subprocess, "run", spy)
    sample = bench_interop_peers.pion_to_pion(1 << 20, 16384)
    assert sample.rate > 0 and sample.peer_cpu > 0
    assert [str(1 << 20), "16384"] in [c[2:] for c in calls if c[1:2] == ["-pair-bench"]]
    assert not any("-self-bench" in c for c in calls)


def test_process_roles_of_a_browser() -> None:
    """--counters splits a browser's CPU by process: the role comes from the command line,
    NUL-separated or, as Chromium's zygote children rewrite it, one line."""
    import bench_interop_counters as counters

    role = counters.process_role
    assert role(["/usr/lib/chromium/chromium", "--headless", "about:blank"]) == "main"
    assert role(["/usr/lib/chromium/chromium --type=renderer --lang=en-US"]) == "renderer"
    assert role(["chromium", "--type=gpu-process", "--ozone-platform=headless"]) == "gpu-process"
    utility = ["chromium", "--type=utility", "--utility-sub-type=network.mojom.NetworkService"]
    assert role(utility) == "utility:NetworkService"
    assert role([" ".join(utility)]) == "utility:NetworkService"
    assert role(["firefox-esr", "-contentproc", "-isForBrowser", "8", "tab"]) == "content:tab"
    # This process is in its own group's split, under its role, with the group's CPU.
    split = counters.group_cpu_split(os.getpgrp())
    assert split and sum(split.values()) > 0
    assert counters.group_cpu_split(2**22 + 12345) == {}
    line = counters.split_per_mb({"renderer": 1.0, "main": 0.5}, {"renderer": 2.0, "main": 0.5}, 10)
    assert line == "renderer=0.1000"


def test_chromium_offers_and_we_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """--peer-offers: the harness peer offers (its channel ``chat``) and we answer, so we
    are the DTLS client and both ends send INIT; no aiortc rows, and the peer's CPU is
    split by process (--counters)."""
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    import bench_interop_counters as counters

    monkeypatch.setattr(bench_interop_link, "PEER_OFFERS", True)
    monkeypatch.setattr(counters, "ENABLED", True)
    clients: list[bool] = []
    close = bench_interop_link.Side.close

    async def closing(self: Any) -> None:
        clients.append(self.pc.core.dtls_transport.is_client)
        await close(self)

    monkeypatch.setattr(bench_interop_link.Side, "close", closing)
    total, size = 200 * 16384, 16384
    rows: dict[int, Any] = {
        size: {k: [] for k in ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self")}
    }
    remote = bench_interop.HarnessPeer("chromium", 2, [(total, size)])
    assert [spec["role"] for spec in remote.specs] == ["peer-offers", "we-offer"]
    asyncio.run(bench_interop.measure(remote, [(total, size)], rows))
    assert clients == [True]  # we answered Chromium's actpass offer with setup:active
    for name in ("p->ours", "ours->p", "p->self"):
        (sample,) = rows[size][name]
        assert sample.failure is None and sample.rate > 0, (name, sample.failure)
    assert rows[size]["p->aiortc"] == rows[size]["aiortc->p"] == []
    cells = bench_interop.format_row("chromium (2 procs)", size, rows[size]).split(" | ")
    assert cells[3] == cells[8] == "–"  # p→aiortc and aiortc→p did not run: not "fail"
    assert {"main", "renderer"} <= set(remote.splits[-1])


def test_chromium_to_a_third_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """--third pion: Chromium's offer (a channel bench-source:N:SIZE it sends on) goes to a
    Pion -pair-sink child and Pion's answer back; the transfer delivers its bytes, with the
    CPU of Chromium's processes and of Pion's, in a table of its own beside p→us."""
    for peer in ("chromium", "pion"):
        try:
            find_peer(peer)
        except PeerUnavailableError as exc:
            peer_missing(str(exc))
    import bench_interop_table

    monkeypatch.setattr(bench_interop_link, "THIRD", "pion")
    # 4.2 MB: Chromium spends ≥ 0.03 s/MB sending, many of /proc's 10 ms ticks
    total, size = 3500 * 1200, 1200
    keys = ("p->ours", "ours->p", "p->aiortc", "aiortc->p", "p->self", "p->third")
    rows: dict[int, Any] = {size: {k: [] for k in keys}}
    remote = bench_interop.HarnessPeer("chromium", 2, [(total, size)])
    roles = [spec["role"] for spec in remote.specs]
    assert roles == ["we-offer", "we-offer", "peer-offers", "we-offer"]
    assert remote.specs[2]["peerChannels"] == [{"label": f"bench-source:{total}:{size}"}]
    asyncio.run(bench_interop.measure(remote, [(total, size)], rows))
    (sample,) = rows[size]["p->third"]
    assert sample.failure is None, sample.failure
    assert sample.rate > 0 and sample.peer_cpu is not None and sample.third_cpu is not None
    assert sample.peer_cpu > 0 and sample.third_cpu > 0
    (after,) = rows[size]["p->self"]  # the page went on to its next scenario
    assert after.failure is None and after.rate > 0
    cells = bench_interop_table.third_row("chromium (2 procs)", size, rows[size]).split(" | ")
    assert len(cells) == 9 and float(cells[3]) > 0


def test_a_gso_send_in_a_capture_splits_into_one_packet_per_dtls_record() -> None:
    """bench/split_gso_capture.py: a captured GSO send (three DTLS records back to back in
    one UDP payload) becomes three frames with valid IPv4 and UDP lengths; a payload that
    is not whole DTLS records stays one frame."""
    import struct

    import split_gso_capture as sgc

    def frame(payload: bytes) -> bytes:
        ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                                   bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))  # fmt: skip
        struct.pack_into(">H", ip, 10, sgc._ipv4_checksum(bytes(ip)))
        udp = struct.pack(">HHHH", 5000, 6000, 8 + len(payload), 0)
        return bytes(12) + b"\x08\x00" + bytes(ip) + udp + payload

    def record(seq: int, body: bytes) -> bytes:
        return (
            bytes([23, 0xFE, 0xFD, 0, 1])
            + seq.to_bytes(6, "big")
            + len(body).to_bytes(2, "big")
            + body
        )

    parts = [record(i, bytes([i]) * (10 + i)) for i in range(3)]
    out = sgc.split(frame(b"".join(parts)))
    assert len(out) == 3
    for piece, part in zip(out, parts, strict=True):
        ip = piece[14:34]
        assert struct.unpack(">H", ip[2:4])[0] == 28 + len(part)
        assert sgc._ipv4_checksum(ip) == 0  # the header sums to 0xFFFF: valid
        assert struct.unpack(">H", piece[38:40])[0] == 8 + len(part)
        assert piece[42:] == part
    whole = frame(b"not dtls at all")
    assert sgc.split(whole) == [whole]
    cut = frame(b"".join(parts)[:-1])  # the last record is short: not a GSO send
    assert sgc.split(cut) == [cut]
