"""ice_transport_policy="relay" through coturn on loopback: only relayed candidates are
signalled and the data channel runs through TURN allocations (RFC 8656)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.peerconnection import Configuration, IceServer, Settings
from tests.pc_harness import WAIT, Aiortc, Ours, connect, wait_open
from tests.peers import free_udp_port, require_binary, require_module

pytestmark = pytest.mark.interop


def _port_free_for_tcp_and_udp() -> int:
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """coturn on 127.0.0.1 (INTEROP recipe: --allow-loopback-peers needs --no-cli)."""
    turnserver = require_binary("turnserver", "coturn")
    port = _port_free_for_tcp_and_udp()
    cmd = [
        turnserver, "-n", "--no-cli", "--no-dtls", "--no-tls", "--no-tcp",
        "-L", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
        "--allow-loopback-peers", "-a", "-u", "user:pass", "-r", "pyrtcstack",
        "--userdb", str(tmp_path / "turndb"), "--pidfile", str(tmp_path / "turn.pid"),
        "--log-file", "stdout", "--min-port", "40000", "--max-port", "60000",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        binding = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
        deadline = time.monotonic() + 10
        ready = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            while not ready and time.monotonic() < deadline and proc.poll() is None:
                s.sendto(binding, ("127.0.0.1", port))
                with contextlib.suppress(OSError):
                    s.recvfrom(2048)
                    ready = True
        if not ready:
            pytest.fail("coturn did not answer a Binding request in 10 s")
        yield port
    finally:
        proc.kill()
        proc.wait(5)


def _relay_config(port: int) -> Configuration:
    return Configuration(
        ice_servers=[IceServer(f"turn:127.0.0.1:{port}?transport=udp", "user", "pass")],
        ice_transport_policy="relay",
    )


async def _exchange(offerer: Any, answerer: Any, relayed: list[Ours]) -> None:
    got: list[Any] = []
    arrived = asyncio.Event()

    def on_dc(channel: Any) -> None:
        def echo(m: Any) -> None:
            channel.send(m)

        channel.on("message", echo)

    answerer.on_datachannel(on_dc)
    chat = offerer.channel("relay")

    def on_echo(m: Any) -> None:
        got.append(m)
        if len(got) == 100:
            arrived.set()

    chat.on("message", on_echo)
    await connect(offerer, answerer)
    for side in relayed:
        assert side.pc.local_description is not None
        cands = [
            ln for ln in side.pc.local_description.sdp.splitlines() if ln.startswith("a=candidate")
        ]
        assert cands and all(" typ relay " in c for c in cands)
    await wait_open(chat)
    for i in range(100):
        chat.send(f"r{i}")
    await asyncio.wait_for(arrived.wait(), WAIT)
    assert got == [f"r{i}" for i in range(100)]
    for side in relayed:
        stats = await side.pc.get_stats()
        transport = stats["T01"]
        local = stats[stats[transport["selectedCandidatePairId"]]["localCandidateId"]]
        assert local["candidateType"] == "relay"


def test_relay_policy_between_our_peers(coturn: int) -> None:
    async def main() -> None:
        settings = Settings(host_addresses=["127.0.0.1"])
        a = Ours(_relay_config(coturn), settings)
        b = Ours(_relay_config(coturn), Settings(host_addresses=["127.0.0.1"]))
        try:
            await _exchange(a, b, [a, b])
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_relay_policy_with_aiortc(coturn: int, monkeypatch: pytest.MonkeyPatch) -> None:
    aiortc = require_module("aiortc")
    aioice = require_module("aioice")
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])

    async def main() -> None:
        ours = Ours(_relay_config(coturn), Settings(host_addresses=["127.0.0.1"]))
        theirs = Aiortc(aiortc)
        try:
            await _exchange(ours, theirs, [ours])
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())
