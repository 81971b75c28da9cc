"""aio.udp.UdpSocket: batched reads/writes with UDP GSO/GRO deliver exactly the datagrams
that were sent, in order, whether or not the receiver coalesces (loopback only)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from pyrtcstack.aio.udp import MAX_SEGMENTS, UdpSocket, request_buffers


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    sock.bind(("127.0.0.1", 0))
    return sock


def _datagrams() -> list[bytes]:
    """Runs of equal sizes, shorter tails, a run longer than MAX_SEGMENTS, singletons."""
    out: list[bytes] = []
    n = 0

    def add(size: int) -> None:
        nonlocal n
        n += 1
        out.append(n.to_bytes(4, "big") + bytes([n % 251]) * (size - 4))

    for _ in range(10):
        add(1200)
    add(700)  # shorter: ends the run
    add(1200)  # alone
    add(1300)  # longer than the run before it: a new run
    for _ in range(MAX_SEGMENTS + 7):
        add(1000)
    for _ in range(3):
        add(60)
    add(9)
    return out


async def _exchange(
    sender_offload: bool, receiver_offload: bool, expected: list[bytes] | None = None
) -> tuple[list[bytes], Any]:
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    batches: list[int] = []
    expected = _datagrams() if expected is None else expected
    done = asyncio.Event()

    def on_batch(batch: list[tuple[bytes, tuple[str, int]]], local: tuple[str, int]) -> None:
        batches.append(len(batch))
        for data, _addr in batch:
            got.append(data)
        if len(got) >= len(expected):
            done.set()

    rx = UdpSocket(loop, _bound(), on_batch, offload=receiver_offload, max_batch=64)
    tx = UdpSocket(loop, _bound(), lambda b, a: None, offload=sender_offload)
    try:
        tx.send_many(expected, rx.local)
        await asyncio.wait_for(done.wait(), 10)
    finally:
        rx.close()
        tx.close()
    assert got == expected
    assert tx.send_drops == 0 and tx.socket_errors == 0
    return got, (tx, rx, batches)


@pytest.mark.parametrize("sender", [True, False])
@pytest.mark.parametrize("receiver", [True, False])
def test_every_datagram_arrives_once_in_order(sender: bool, receiver: bool) -> None:
    _, (tx, rx, _batches) = asyncio.run(_exchange(sender, receiver))
    assert isinstance(tx, UdpSocket) and isinstance(rx, UdpSocket)
    if not sender:
        assert tx.gso_sends == 0
    if not receiver:
        assert rx.gro_reads == 0


def test_offload_reduces_system_calls_on_linux() -> None:
    """On a kernel with UDP GSO/GRO (Linux ≥ 5.0) the runs above leave in few sendmsg
    calls and arrive coalesced; elsewhere the socket falls back (skip)."""
    _, (tx, rx, _batches) = asyncio.run(_exchange(True, True))
    assert isinstance(tx, UdpSocket) and isinstance(rx, UdpSocket)
    if not (tx.gso and rx.gro):
        pytest.skip("this kernel refused UDP GSO/GRO; the plain path was used")
    # runs: 10×1200 + 700 | 1200 | 1300 | 64×1000 | 7×1000 + 60 | 60 + 60 + 9
    assert tx.gso_sends >= 3
    assert rx.gro_reads >= 1


@pytest.mark.parametrize("tail", [1188, 500])
def test_a_burst_of_one_size_leaves_in_full_sends(tail: int) -> None:
    """The bulk of a transfer: 130 datagrams of one size (the last perhaps shorter) leave
    in sends of as many segments as fit 65,000 bytes (54 of 1,188), all arriving in order."""
    expected = [i.to_bytes(4, "big") + bytes([i % 251]) * 1184 for i in range(129)]
    expected.append(b"last" + bytes(tail - 4))
    _, (tx, _rx, _batches) = asyncio.run(_exchange(True, True, expected))
    assert isinstance(tx, UdpSocket)
    if not tx.gso:
        pytest.skip("this kernel refused UDP GSO; the plain path was used")
    assert tx.gso_sends == 3  # 54 + 54 + 22


def test_close_releases_the_reader() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        sock = UdpSocket(loop, _bound(), lambda b, a: None)
        fd = sock.sock.fileno()
        sock.close()
        sock.close()  # idempotent
        assert sock.sock.fileno() == -1
        assert not loop.remove_reader(fd)

    asyncio.run(run())


def test_a_cut_buffer_request_is_reported_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Linux caps SO_RCVBUF at net.core.rmem_max without an error: ``request_buffers``
    reports what was kept, and the peer connection's driver logs one INFO line per process
    (not one per socket) when that is less than it asked for."""
    from pyrtcstack.aio import peerconnection as aio_pc

    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    asked = 2 * rmem_max + (1 << 20)  # beyond what the kernel keeps for us
    monkeypatch.setattr(aio_pc, "SOCKET_BUFFER", asked)
    monkeypatch.setattr(aio_pc, "_buffer_cut_logged", False)
    caplog.set_level("INFO", logger="pyrtcstack.aio")
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        rcv, _snd = request_buffers(socks[0], asked)
        assert 0 < rcv < asked
        for sock in socks:
            aio_pc._request_buffers(sock)
    finally:
        for sock in socks:
            sock.close()
    cut = [r for r in caplog.records if "cut by the kernel" in r.getMessage()]
    assert len(cut) == 1 and str(asked) in cut[0].getMessage()
    assert cut[0].levelname == "INFO"  # not printed by Python's last-resort handler


def test_a_granted_buffer_request_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A request the kernel keeps whole is silent (and reported as asked)."""
    from pyrtcstack.aio import peerconnection as aio_pc

    caplog.set_level("INFO", logger="pyrtcstack.aio")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert request_buffers(sock, 65536) == (65536, 65536)
    assert not [r for r in caplog.records if r.name == aio_pc._LOG.name]


def test_empty_datagrams_and_a_short_one_inside_a_burst_each_arrive() -> None:
    """send_many cuts a burst into GSO sends per run of one size: a shorter datagram in
    the middle ends one send as its last segment (one send for 40 + 1, one for the rest),
    and empty datagrams (which GSO cannot segment) leave one by one, each arriving."""
    full = [i.to_bytes(2, "big") + bytes(1198) for i in range(80)]
    expected = [b"", b"", *full[:40], b"short", *full[40:], b"", b"tail"]
    _, (tx, _rx, _batches) = asyncio.run(_exchange(True, True, expected))
    assert isinstance(tx, UdpSocket)
    if not tx.gso:
        pytest.skip("this kernel refused UDP GSO; the plain path was used")
    assert tx.gso_sends == 2  # 40 × 1,200 + "short", 40 × 1,200 + ""
