"""TURN against real peers on loopback: our client ↔ coturn (UDP, TCP, TLS), coturn's
``turnutils_uclient`` ↔ our server, and our client ↔ our server over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers import free_tcp_port, free_udp_port, require_binary

from pyrtcstack.aio.turn import TurnClientConnection, connect_turn, start_turn_server
from pyrtcstack.common import Address

pytestmark = pytest.mark.interop

USER, PASSWORD, REALM = "user", "pass-w0rd", "example.org"


@dataclass
class Coturn:
    port: int
    tls_port: int
    log: Path


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


def _wait_ready(port: int, tls_port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    binding = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    deadline = time.monotonic() + 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"turnserver exited: {log.read_text()[-2000:]}")
            s.sendto(binding, ("127.0.0.1", port))
            try:
                s.recvfrom(2048)
            except OSError:
                continue
            break
        else:
            raise RuntimeError("turnserver did not answer a Binding request in 10 s")
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tls_port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError("turnserver TLS port not ready")


def _start_coturn(tmp_path: Path, extra: list[str]) -> Iterator[Coturn]:
    turnserver = require_binary("turnserver", "coturn")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
            "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    # coturn also listens on port + 1 and tls_port + 1 (its "alternative" ports): keep the
    # four apart.
    port, tls_port = _free_port_both(), free_tcp_port()
    while abs(tls_port - port) <= 1:
        tls_port = free_tcp_port()
    base = random.Random().randrange(20000, 60000, 100)
    log = tmp_path / "turnserver.log"
    args = [
        turnserver, "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
        "--listening-port", str(port), "--tls-listening-port", str(tls_port),
        "--cert", str(cert), "--pkey", str(key), "--no-dtls",
        "--min-port", str(base), "--max-port", str(base + 99),
        "--lt-cred-mech", "--user", f"{USER}:{PASSWORD}", "--realm", REALM, "--fingerprint",
        "--allow-loopback-peers", "--no-cli", "--no-tcp-relay", "--no-multicast-peers",
        "--log-file", "stdout", "--simple-log", "--pidfile", str(tmp_path / "turnserver.pid"),
        "--userdb", str(tmp_path / "turndb.sqlite"), "--relay-threads", "1", *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(port, tls_port, proc, log)
        yield Coturn(port, tls_port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    yield from _start_coturn(tmp_path, [])


@pytest.fixture
def coturn_stale(tmp_path: Path) -> Iterator[Coturn]:
    yield from _start_coturn(tmp_path, ["--stale-nonce=1"])


class EchoPeer(asyncio.DatagramProtocol):
    """A loopback UDP peer that records datagrams and echoes them with a prefix."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        src = (str(addr[0]), int(str(addr[1])))
        self.got.put_nowait((data, src))
        assert self.transport is not None
        self.transport.sendto(b"echo:" + data, src)


def _tls_context() -> ssl.SSLContext:
    # The test server's certificate is self-signed: verification is disabled explicitly.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _exercise(conn: TurnClientConnection, host: str = "127.0.0.1") -> dict[str, object]:
    """Allocate, permission, Send/Data indications, ChannelBind, ChannelData both ways,
    refresh and deallocate; returns what was observed."""
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(EchoPeer, local_addr=(host, 0))
    peer_addr = transport.get_extra_info("sockname")[:2]
    try:
        allocated = await conn.allocate(timeout=10)
        await conn.create_permission(peer_addr, timeout=10)
        conn.send(b"via-send-indication", peer_addr)
        at_peer_1 = await asyncio.wait_for(peer.got.get(), 5)
        at_client_1 = await conn.recv(timeout=5)
        channel = await conn.bind_channel(peer_addr, timeout=10)
        conn.send(b"via-channeldata", peer_addr)
        at_peer_2 = await asyncio.wait_for(peer.got.get(), 5)
        at_client_2 = await conn.recv(timeout=5)
        await conn.refresh(timeout=10)
        await conn.close(timeout=10)
    finally:
        transport.close()
    return {
        "allocated": allocated,
        "peer": peer_addr,
        "at_peer": [at_peer_1, at_peer_2],
        "at_client": [at_client_1, at_client_2],
        "channel": channel,
    }


def _check(result: dict[str, object], conn: TurnClientConnection, host: str = "127.0.0.1") -> None:
    from pyrtcstack.turn import ClientState, Deallocated, Refreshed

    allocated = result["allocated"]
    relayed = allocated.relayed_address  # type: ignore[attr-defined]
    peer = result["peer"]
    assert relayed[0] == host
    local = conn.local_address
    assert local is not None
    assert allocated.mapped_address == (host, local[1])  # type: ignore[attr-defined]
    assert result["at_peer"] == [(b"via-send-indication", relayed), (b"via-channeldata", relayed)]
    assert result["at_client"] == [
        (b"echo:via-send-indication", tuple(peer)),  # type: ignore[arg-type]
        (b"echo:via-channeldata", tuple(peer)),  # type: ignore[arg-type]
    ]
    assert result["channel"] == 0x4000
    assert any(isinstance(e, Refreshed) for e in conn.events)
    assert any(isinstance(e, Deallocated) for e in conn.events)
    assert conn.core.state is ClientState.CLOSED
    assert conn.core.stats["dropped"] == 0 and conn.core.stats["bad_integrity"] == 0


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_client_against_coturn(coturn: Coturn, transport: str) -> None:
    async def main() -> None:
        port = coturn.tls_port if transport == "tls" else coturn.port
        scheme = "turns" if transport == "tls" else "turn"
        query = "?transport=tcp" if transport == "tcp" else ""
        conn = await connect_turn(
            f"{scheme}:127.0.0.1:{port}{query}", USER, PASSWORD, ssl_context=_tls_context()
        )
        _check(await _exercise(conn), conn)
        assert conn.core.reliable is (transport != "udp")

    asyncio.run(main())


def test_client_recovers_from_coturn_stale_nonce(coturn_stale: Coturn) -> None:
    async def main() -> None:
        conn = await connect_turn(("127.0.0.1", coturn_stale.port), USER, PASSWORD)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(EchoPeer, local_addr=("127.0.0.1", 0))
        peer_addr = transport.get_extra_info("sockname")[:2]
        try:
            await conn.allocate(timeout=10)
            # coturn's nonce lives 1 s: wait it out, then every request meets 438 once.
            await asyncio.sleep(2.2)
            await conn.create_permission(peer_addr, timeout=10)
            await asyncio.sleep(2.2)
            await conn.refresh(timeout=10)
            assert conn.core.stats["stale_nonce"] >= 2
            await conn.close(timeout=10)
        finally:
            transport.close()
        from pyrtcstack.turn import Deallocated, RequestFailed

        assert not [e for e in conn.events if isinstance(e, RequestFailed)]
        assert any(isinstance(e, Deallocated) for e in conn.events)

    asyncio.run(main())


def _free_v6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def _loopback_v6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _server_tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A TLS server context with a fresh self-signed ECDSA certificate for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.mark.parametrize("transport", ["udp", "udp6", "tcp", "tls"])
def test_client_against_our_server_over_loopback(transport: str, tmp_path: Path) -> None:
    host = "::1" if transport == "udp6" else "127.0.0.1"
    if host == "::1" and not _loopback_v6():
        pytest.skip("no IPv6 loopback here")

    async def main() -> None:
        port = free_udp_port(host) if host == "127.0.0.1" else _free_v6_port()
        tls_port = free_tcp_port()
        server = await start_turn_server(
            (host, port),
            {USER: PASSWORD},
            realm=REALM,
            tcp=transport == "tcp",
            tls=(host, tls_port) if transport == "tls" else None,
            allow_loopback_peers=True,  # the echo peer is on loopback
            ssl_context=_server_tls_context(tmp_path) if transport == "tls" else None,
        )
        try:
            literal = f"[{host}]" if ":" in host else host
            if transport == "tls":
                url = f"turns:{literal}:{tls_port}"
            else:
                url = f"turn:{literal}:{port}" + ("?transport=tcp" if transport == "tcp" else "")
            conn = await connect_turn(url, USER, PASSWORD, ssl_context=_tls_context())
            _check(await _exercise(conn, host), conn, host)
            assert conn.core.reliable is (transport in ("tcp", "tls"))
            assert server.server.allocations == {}
            assert server.relays == {}
        finally:
            server.close()

    asyncio.run(main())


def test_our_server_deletes_the_allocation_when_the_tcp_connection_closes() -> None:
    async def main() -> None:
        port = free_udp_port()
        closed: list[object] = []
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, tcp=True, on_event=closed.append
        )
        try:
            conn = await connect_turn(f"turn:127.0.0.1:{port}?transport=tcp", USER, PASSWORD)
            await conn.allocate(timeout=10)
            assert len(server.server.allocations) == 1
            assert conn._driver is not None
            conn._driver.close()  # no deallocation: just drop the connection
            for _ in range(200):
                if not server.server.allocations:
                    break
                await asyncio.sleep(0.01)
            assert server.server.allocations == {} and server.relays == {}
            from pyrtcstack.turn import RelayClosed

            assert [e.reason for e in closed if isinstance(e, RelayClosed)] == ["connection closed"]
        finally:
            server.close()

    asyncio.run(main())


async def _wait_for_echo(addr: Address, timeout: float = 10.0) -> None:
    """Wait until the UDP echo server at ``addr`` (turnutils_peer) answers."""
    loop = asyncio.get_running_loop()
    got = asyncio.Event()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, src: tuple[str | object, ...]) -> None:
            got.set()

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    try:
        deadline = loop.time() + timeout
        while not got.is_set():
            if loop.time() > deadline:
                raise TimeoutError(f"no echo from {addr}")
            transport.sendto(b"ready?", addr)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got.wait(), 0.05)
    finally:
        transport.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_turnutils_uclient_through_our_server(tmp_path: Path, transport: str) -> None:
    uclient = require_binary("turnutils_uclient", "coturn")
    peer_bin = require_binary("turnutils_peer", "coturn")

    async def main() -> str:
        port, peer_port = free_udp_port(), free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port),
            {USER: PASSWORD},
            realm=REALM,
            tcp=transport == "tcp",
            allow_loopback_peers=True,
        )
        peer = await asyncio.create_subprocess_exec(
            peer_bin, "-L", "127.0.0.1", "-p", str(peer_port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await _wait_for_echo(("127.0.0.1", peer_port))
            client = await asyncio.create_subprocess_exec(
                uclient, *(["-t"] if transport == "tcp" else []),
                "-u", USER, "-w", PASSWORD, "-p", str(port), "-e", "127.0.0.1",
                "-r", str(peer_port), "-n", "20", "-m", "2", "-c", "127.0.0.1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                out, _ = await asyncio.wait_for(client.communicate(), 60)
            finally:
                if client.returncode is None:
                    client.kill()
                    await client.wait()
            assert server.server.stats["relayed_to_peer"] >= 40
            return out.decode(errors="replace")
        finally:
            peer.terminate()
            await peer.wait()
            server.close()

    output = asyncio.run(main())
    match = re.search(r"Total lost packets (\d+) \(([\d.]+)%\)", output)
    assert match is not None, output[-2000:]
    assert match.group(1) == "0", output[-2000:]
    sent = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", output, re.M)
    assert sent is not None and sent.group(1) == sent.group(2) == "40", output[-2000:]


def test_cli_probe_against_our_cli_server(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from pyrtcstack.cli import main

    port = free_udp_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "turn-server", "--listen", f"127.0.0.1:{port}",
         "--user", f"{USER}:{PASSWORD}", "--realm", REALM, "--allow-loopback-peers"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = server.stdout.readline().decode()
        assert first.startswith("TURN server on udp"), first
        rc = main(["turn", f"turn:127.0.0.1:{port}", "-u", USER, "-p", PASSWORD, "--probe"])
    finally:
        server.terminate()
        server.wait(timeout=5)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("PASS") == 9 and "FAIL" not in out
    assert PASSWORD not in out


def test_client_stops_at_port_unreachable_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens on the UDP port: with ``stop_on_unreachable`` the ICMP port
    unreachable fails ``allocate`` at once (a TurnError), where it otherwise waits its
    timeout; ``pyrtcstack turn`` asks for it (its --timeout is 10 s, ``wait_for`` 5)."""
    from pyrtcstack.cli import main
    from pyrtcstack.turn import TurnError

    port = free_udp_port()  # bound, then closed: nothing listens

    async def allocate(stop: bool) -> None:
        conn = await connect_turn(
            ("127.0.0.1", port), USER, PASSWORD, transport="udp", stop_on_unreachable=stop
        )
        try:
            await conn.allocate(timeout=5 if stop else 1.5)
        finally:
            await conn.close(0.1)

    with pytest.raises(TurnError, match="port unreachable"):
        asyncio.run(asyncio.wait_for(allocate(True), 5))
    with pytest.raises(TimeoutError):
        asyncio.run(allocate(False))

    async def cli() -> int:
        return await asyncio.to_thread(
            main, ["turn", f"turn:127.0.0.1:{port}", "-u", USER, "-p", PASSWORD]
        )

    rc = asyncio.run(asyncio.wait_for(cli(), 5))
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL allocate: TurnError: no answer from" in out, out
    assert "port unreachable" in out, out


def test_cli_probe_against_coturn_over_tls(
    coturn: Coturn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyrtcstack.cli import main

    monkeypatch.setenv("TURN_PASSWORD", PASSWORD)
    url = f"turns:127.0.0.1:{coturn.tls_port}"
    rc = main(["turn", url, "-u", USER, "--insecure", "--probe"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASS allocate over TLS" in out and "FAIL" not in out
