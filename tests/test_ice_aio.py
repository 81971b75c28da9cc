"""Our ICE agent on real loopback sockets: against itself and against aioice's Connection
in both roles, with data over the selected pair."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.ice import IceConnection, host_addresses
from pyrtcstack.ice import IceConfig, TurnServer
from tests.peers import free_tcp_port, free_udp_port, require_binary, require_module


def test_host_addresses_options() -> None:
    with_lo = host_addresses(allow_loopback=True)
    assert "127.0.0.1" in with_lo
    assert "127.0.0.1" not in host_addresses()


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["::1"], ["::1", "127.0.0.1"]], ids=str)
def test_two_agents_over_loopback(addresses: list[str]) -> None:
    if "::1" in addresses:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")

    async def main() -> None:
        a = IceConnection(IceConfig(controlling=True), addresses=addresses)
        b = IceConnection(IceConfig(controlling=False), addresses=addresses)
        await a.gather()
        await b.gather()
        a.set_remote_credentials(b.local_ufrag, b.local_pwd)
        b.set_remote_credentials(a.local_ufrag, a.local_pwd)
        for cand in b.local_candidates:
            a.add_remote_candidate(cand.to_sdp())
        for cand in a.local_candidates:
            b.add_remote_candidate(cand.to_sdp())
        a.end_of_remote_candidates()
        b.end_of_remote_candidates()
        await asyncio.gather(a.connected(5), b.connected(5))
        assert a.send(b"\x17hello")
        assert await asyncio.wait_for(b.recv(), 5) == b"\x17hello"
        assert b.send(b"\x17back")
        assert await asyncio.wait_for(a.recv(), 5) == b"\x17back"
        pair = a.agent.selected_pair
        assert pair is not None and pair.remote.address[0] == addresses[0]  # RFC 8421 order
        await a.close()
        await b.close()

    asyncio.run(main())


async def _aioice_pair(aioice: Any, we_control: bool) -> None:
    ours = IceConnection(IceConfig(controlling=we_control), addresses=["127.0.0.1"])
    theirs = aioice.Connection(ice_controlling=not we_control, use_ipv6=False)
    try:
        await ours.gather()
        await theirs.gather_candidates()
        assert theirs.local_candidates, "aioice gathered nothing on loopback"
        ours.set_remote_credentials(theirs.local_username, theirs.local_password)
        theirs.remote_username = ours.local_ufrag
        theirs.remote_password = ours.local_pwd
        for cand in theirs.local_candidates:
            assert ours.add_remote_candidate(cand.to_sdp())
        ours.end_of_remote_candidates()
        for cand in ours.local_candidates:
            await theirs.add_remote_candidate(aioice.Candidate.from_sdp(cand.to_sdp().value))
        await theirs.add_remote_candidate(None)
        await asyncio.wait_for(asyncio.gather(ours.connected(10), theirs.connect()), 10)
        assert ours.send(b"\x17from pyrtcstack")
        assert await asyncio.wait_for(theirs.recv(), 5) == b"\x17from pyrtcstack"
        await theirs.send(b"\x17from aioice")
        assert await asyncio.wait_for(ours.recv(), 5) == b"\x17from aioice"
        assert ours.agent.controlling is we_control
    finally:
        await theirs.close()
        await ours.close()


@pytest.mark.interop
@pytest.mark.parametrize("we_control", [True, False], ids=["we-controlling", "we-controlled"])
def test_against_aioice_on_loopback(we_control: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    aioice = require_module("aioice")
    # INTEROP.md §1: aioice skips loopback when gathering
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    asyncio.run(_aioice_pair(aioice, we_control))


def _free_port_both() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def _coturn_on_loopback(tmp: Path, tls: bool = False) -> tuple[subprocess.Popen[bytes], int, int]:
    turnserver = require_binary("turnserver", "coturn")
    port = _free_port_both()
    tls_port = free_tcp_port()
    if tls:
        openssl = require_binary("openssl", "openssl")
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
                "-days", "2", "-subj", "/CN=localhost",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        transport_opts = [
            "--cert", str(tmp / "cert.pem"), "--pkey", str(tmp / "key.pem"),
            "--tls-listening-port", str(tls_port),
        ]  # fmt: skip
    else:
        transport_opts = ["--no-tls", "--no-tcp"]
    cmd = [
        turnserver, "-n", "--no-cli", "--no-dtls", *transport_opts,
        "-L", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
        "--allow-loopback-peers", "-a", "-u", "user:pass", "-r", "pyrtcstack",
        "--userdb", str(tmp / "turndb"), "--pidfile", str(tmp / "turn.pid"),
        "--log-file", "stdout", "--min-port", "40000", "--max-port", "60000",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    binding = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    deadline = time.monotonic() + 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline and proc.poll() is None:
            s.sendto(binding, ("127.0.0.1", port))
            with contextlib.suppress(OSError):
                s.recvfrom(2048)
                if not tls:
                    return proc, port, tls_port
                break
    while tls and time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tls_port), 0.2):
            return proc, port, tls_port
        time.sleep(0.02)
    proc.kill()
    proc.wait(5)
    pytest.fail("coturn did not answer a Binding request in 10 s")


@pytest.mark.interop
def test_relay_only_through_coturn_on_loopback(tmp_path: Path) -> None:
    proc, port, _ = _coturn_on_loopback(tmp_path)

    async def main() -> None:
        server = TurnServer(("127.0.0.1", port), "user", "pass")
        configs = [
            IceConfig(controlling=c, turn_servers=[server], relay_only=True) for c in (True, False)
        ]
        a, b = (IceConnection(cfg, addresses=["127.0.0.1"]) for cfg in configs)
        try:
            await a.gather()
            await b.gather()
            await asyncio.wait_for(a.gathering_complete.wait(), 10)
            await asyncio.wait_for(b.gathering_complete.wait(), 10)
            assert [c.type.value for c in a.local_candidates] == ["relay"]
            a.set_remote_credentials(b.local_ufrag, b.local_pwd)
            b.set_remote_credentials(a.local_ufrag, a.local_pwd)
            for cand in b.local_candidates:
                a.add_remote_candidate(cand.to_sdp())
            for cand in a.local_candidates:
                b.add_remote_candidate(cand.to_sdp())
            a.end_of_remote_candidates()
            b.end_of_remote_candidates()
            await asyncio.gather(a.connected(10), b.connected(10))
            pair = a.agent.selected_pair
            assert pair is not None and pair.local.type.value == "relay"
            assert a.send(b"\x17relayed")
            assert await asyncio.wait_for(b.recv(), 5) == b"\x17relayed"
        finally:
            await a.close()
            await b.close()

    try:
        asyncio.run(main())
    finally:
        proc.kill()
        proc.wait(5)


@pytest.mark.interop
def test_relay_over_tcp_and_tls_to_coturn(tmp_path: Path) -> None:
    """RFC 8656 §3.1: one agent reaches coturn over TCP, the other over TLS; the relayed
    candidates (UDP relays) carry the checks and the data."""
    proc, port, tls_port = _coturn_on_loopback(tmp_path, tls=True)

    async def main() -> None:
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        context.check_hostname = False
        servers = [
            TurnServer(("127.0.0.1", port), "user", "pass", transport="tcp"),
            TurnServer(("127.0.0.1", tls_port), "user", "pass", transport="tls"),
        ]
        a, b = (
            IceConnection(
                IceConfig(controlling=i == 0, turn_servers=[servers[i]], relay_only=True),
                addresses=["127.0.0.1"],
                turn_ssl_context=context,
            )
            for i in range(2)
        )
        try:
            await a.gather()
            await b.gather()
            await asyncio.wait_for(a.gathering_complete.wait(), 10)
            await asyncio.wait_for(b.gathering_complete.wait(), 10)
            assert [c.type.value for c in a.local_candidates] == ["relay"]
            assert [c.type.value for c in b.local_candidates] == ["relay"]
            a.set_remote_credentials(b.local_ufrag, b.local_pwd)
            b.set_remote_credentials(a.local_ufrag, a.local_pwd)
            for cand in b.local_candidates:
                a.add_remote_candidate(cand.to_sdp())
            for cand in a.local_candidates:
                b.add_remote_candidate(cand.to_sdp())
            a.end_of_remote_candidates()
            b.end_of_remote_candidates()
            await asyncio.gather(a.connected(10), b.connected(10))
            assert a.send(b"\x17over tcp")
            assert await asyncio.wait_for(b.recv(), 5) == b"\x17over tcp"
            assert b.send(b"\x17over tls")
            assert await asyncio.wait_for(a.recv(), 5) == b"\x17over tls"
            assert [s.tls for s in a.agent.stream_transports] == [False]
            assert [s.tls for s in b.agent.stream_transports] == [True]
        finally:
            await a.close()
            await b.close()

    try:
        asyncio.run(main())
    finally:
        proc.kill()
        proc.wait(5)


def test_socket_errors_are_counted_live() -> None:
    """``IceConnection.stats["socket_errors"]`` sums its UDP sockets' counters when read,
    before close as after (it used to be summed at close only)."""

    async def main() -> None:
        conn = IceConnection(IceConfig(controlling=True), addresses=["127.0.0.1"])
        await conn.gather()
        assert conn.stats["socket_errors"] == 0
        sock = next(iter(conn._sockets.values()))  # a diagnostic write: an error was met
        sock.socket_errors += 2
        assert conn.stats["socket_errors"] == 2
        await conn.close()
        assert conn.stats["socket_errors"] == 2

    asyncio.run(main())
