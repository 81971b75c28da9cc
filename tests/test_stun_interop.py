"""Interop on loopback: our STUN client and RFC 5780 classifier against coturn, coturn's
``turnutils_stunclient`` against our server, our client against our server over asyncio,
and the ``pyrtcstack stun`` / ``stun-server`` commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import PROJECT, free_udp_port, require_binary

from pyrtcstack.aio.endpoint import open_endpoint
from pyrtcstack.aio.stun import (
    StunResponseError,
    StunTimeoutError,
    StunUnreachableError,
    discover_nat,
    serve_stun,
    stun_binding,
)
from pyrtcstack.cli import main as cli_main
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Filtering, Mapping, RetransmissionPolicy, decode

QUICK = RetransmissionPolicy(rto=0.1, rc=3, rm=4)  # for silence that is expected: 0.7 s
# For probes that are expected to be answered (EIF on loopback), generous so a loaded
# machine cannot turn a slow answer into a wrong verdict; an answer ends the wait anyway.
PROBE = RetransmissionPolicy(rto=0.25, rc=4, rm=16)  # gives up after 5.75 s


def _free_port_pair() -> tuple[int, int]:
    """Two ports free on both 127.0.0.1 and 127.0.0.2."""
    for _ in range(50):
        p1, p2 = free_udp_port(), free_udp_port()
        if p1 == p2:
            continue
        try:
            socks = []
            for ip in ("127.0.0.1", "127.0.0.2"):
                for port in (p1, p2):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((ip, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return p1, p2
    raise RuntimeError("no free port pair")


async def _wait_ready(addr: tuple[str, int], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"turnserver exited: {log.read_text()[-2000:]}")
        try:
            await stun_binding(addr, local_addr=("127.0.0.1", 0), policy=QUICK)
            return
        except StunTimeoutError:
            continue
    raise RuntimeError("turnserver did not answer a Binding request in 10 s")


@contextlib.contextmanager
def coturn(tmp_path: Path, *, rfc5780: bool) -> Iterator[tuple[int, int]]:
    turnserver = require_binary("turnserver", "coturn")
    p1, p2 = _free_port_pair()
    log = tmp_path / "turnserver.log"
    args = [turnserver, "-n", "-L", "127.0.0.1"]
    if rfc5780:
        args += ["-L", "127.0.0.2", "--alt-listening-port", str(p2)]
    args += [
        "--listening-port", str(p1), "--relay-ip", "127.0.0.1",
        "--min-port", "49160", "--max-port", "49200",
        "--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay", "--fingerprint",
        "--log-file", "stdout", "--simple-log", "--relay-threads", "1",
        "--pidfile", str(tmp_path / "turnserver.pid"),
        "--userdb", str(tmp_path / "turndb.sqlite"),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        asyncio.run(_wait_ready(("127.0.0.1", p1), proc, log))
        yield p1, p2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.interop
def test_binding_against_coturn(tmp_path: Path) -> None:
    with coturn(tmp_path, rfc5780=False) as (port, _):
        result = asyncio.run(stun_binding(("127.0.0.1", port), local_addr=("127.0.0.1", 0)))
    assert result.mapped == result.local
    assert "Coturn" in (result.response.get_text(A.SOFTWARE) or "")
    assert result.response.has_fingerprint  # coturn runs with --fingerprint


@pytest.mark.interop
def test_rfc5780_classifier_against_coturn_with_two_addresses(tmp_path: Path) -> None:
    with coturn(tmp_path, rfc5780=True) as (p1, p2):
        first = asyncio.run(stun_binding(("127.0.0.1", p1), local_addr=("127.0.0.1", 0)))
        assert first.response.get_address(A.OTHER_ADDRESS) == ("127.0.0.2", p2)
        report = asyncio.run(
            discover_nat(("127.0.0.1", p1), local_addr=("127.0.0.1", 0), probe_policy=PROBE)
        )
    assert report.error is None
    assert report.other_address == ("127.0.0.2", p2)
    assert report.response_origin == ("127.0.0.1", p1)
    # loopback has no NAT and no filter: the right verdict is "no NAT, open"
    assert report.mapping is Mapping.NO_NAT
    assert report.filtering is Filtering.ENDPOINT_INDEPENDENT
    assert report.verdict == "direct"


@pytest.mark.interop
def test_turnutils_stunclient_against_our_server() -> None:
    stunclient = require_binary("turnutils_stunclient", "coturn")
    p1, p2 = _free_port_pair()

    async def run() -> str:
        runner = await serve_stun(("127.0.0.1", p1), other=("127.0.0.2", p2), software="ours")
        try:
            proc = await asyncio.create_subprocess_exec(
                stunclient, "-p", str(p1), "127.0.0.1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise
            assert proc.returncode == 0, out
            return out.decode()
        finally:
            runner.close()

    out = asyncio.run(run())
    reflexive = re.findall(r"UDP reflexive addr: 127\.0\.0\.1:(\d+)", out)
    assert reflexive, out
    origins = re.findall(r"Response origin: : ([\d.]+:\d+)", out)
    # RFC 5780 mode: plain answer from the primary, CHANGE-REQUEST answers from elsewhere
    assert f"127.0.0.1:{p1}" in origins and f"127.0.0.2:{p2}" in origins, out
    assert re.search(rf"Other addr: : 127\.0\.0\.2:{p2}", out), out


def test_our_client_and_server_over_asyncio() -> None:
    p1, p2 = _free_port_pair()

    async def run() -> None:
        runner = await serve_stun(("127.0.0.1", p1), other=("127.0.0.2", p2))
        try:
            result = await stun_binding(("127.0.0.1", p1), local_addr=("127.0.0.1", 0))
            assert result.mapped == result.local
            report = await discover_nat(
                ("127.0.0.1", p1), local_addr=("127.0.0.1", 0), probe_policy=PROBE
            )
            assert (report.mapping, report.filtering) == (
                Mapping.NO_NAT,
                Filtering.ENDPOINT_INDEPENDENT,
            )
            assert runner.server.answered == 3  # binding, test I, filtering test II
        finally:
            runner.close()
            await runner.wait_closed()

    asyncio.run(run())


def test_binding_timeout_against_silence() -> None:
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", port))
        with pytest.raises(StunTimeoutError):
            asyncio.run(stun_binding(("127.0.0.1", port), policy=QUICK))


def test_binding_stops_on_port_unreachable_only_when_asked() -> None:
    """Nothing listens on the port: with ``stop_on_unreachable`` the kernel's ICMP port
    unreachable ends the transaction at once (StunUnreachableError, a StunTimeoutError);
    without it the schedule runs out as before. The default schedule is 39.5 s, so
    ``wait_for`` fails the first case if the ICMP error is not used."""
    port = free_udp_port()  # bound, then closed: nothing listens

    async def asked() -> None:
        await asyncio.wait_for(
            stun_binding(("127.0.0.1", port), stop_on_unreachable=True), timeout=10
        )

    with pytest.raises(StunUnreachableError, match="port unreachable"):
        asyncio.run(asked())
    with pytest.raises(StunTimeoutError) as info:
        asyncio.run(stun_binding(("127.0.0.1", port), policy=QUICK))
    assert not isinstance(info.value, StunUnreachableError)


def test_binding_on_a_connected_socket_still_gets_its_answer() -> None:
    """``stop_on_unreachable`` connects the socket to the server: a real answer (our
    server on loopback) still arrives, with the mapped address."""

    async def run() -> None:
        runner = await serve_stun(("127.0.0.1", 0))
        try:
            result = await stun_binding(
                runner.addresses[0], local_addr=("127.0.0.1", 0), stop_on_unreachable=True
            )
            assert result.mapped == result.local
        finally:
            runner.close()

    asyncio.run(run())


def test_cli_stun_and_stun_server(capsys: pytest.CaptureFixture[str]) -> None:
    p1, p2 = _free_port_pair()
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "stun-server", "--listen", f"127.0.0.1:{p1}",
         "--other", f"127.0.0.2:{p2}", "--duration", "30"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline().decode() for _ in range(4)]
        assert all(line.startswith("listening on udp") for line in lines), lines
        rc = cli_main(["stun", f"127.0.0.1:{p1}", "--local", "127.0.0.1:0", "--probe-timeout", "5"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert re.search(r"^mapped\s+127\.0\.0\.1:\d+$", out, re.M), out
        assert re.search(rf"^other_address\s+127\.0\.0\.2:{p2}$", out, re.M), out
        assert re.search(r"^verdict\s+direct$", out, re.M), out
    finally:
        server.terminate()
        server.wait(timeout=10)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback in this namespace")
def test_ipv6_binding_over_asyncio() -> None:
    async def run() -> None:
        runner = await serve_stun(("::1", 0))
        try:
            port = runner.addresses[0][1]
            result = await stun_binding(("::1", port), local_addr=("::1", 0))
            assert result.mapped == result.local and result.mapped[0] == "::1"
            # XOR-MAPPED-ADDRESS for IPv6 is XORed with cookie and transaction id
            raw = result.response.get(A.XOR_MAPPED_ADDRESS)
            assert raw is not None and len(raw) == 20
        finally:
            runner.close()

    asyncio.run(run())


def test_cli_json_against_plain_server(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_udp_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "stun-server", "--listen", f"127.0.0.1:{port}",
         "--software", "", "--duration", "30"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().decode().startswith("listening on udp")
        rc = cli_main(["stun", f"127.0.0.1:{port}", "--json"])
        out = capsys.readouterr().out
        assert rc == 0, out
        doc = json.loads(out)
        assert doc["mapped"].startswith("127.0.0.1:") and doc["mapped"] == doc["local"]
        assert doc["other_address"] is None and "RFC 5780" in doc["note"]
        assert "software" not in doc
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_cli_stun_reports_silence(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", port))
        rc = cli_main(["stun", f"127.0.0.1:{port}", "--timeout", "1"])
    assert rc == 1
    assert "no answer" in capsys.readouterr().err


def test_parse_hostport() -> None:
    from pyrtcstack.cli.stun import parse_hostport

    assert parse_hostport("example.org") == ("example.org", 3478)
    assert parse_hostport("example.org:19302") == ("example.org", 19302)
    assert parse_hostport("[2001:db8::1]:5000") == ("2001:db8::1", 5000)
    assert parse_hostport("[2001:db8::1]") == ("2001:db8::1", 3478)
    assert parse_hostport("2001:db8::1") == ("2001:db8::1", 3478)


def test_cli_timeouts_keep_the_rfc_shape() -> None:
    from pyrtcstack.cli.stun import _probe_policy

    assert _probe_policy(39.5) == RetransmissionPolicy()  # RFC 8489 §6.2.1 exactly
    assert _probe_policy(3.5).schedule() == ([0.0, 0.5, 1.5], 3.5)


class _Redirector:
    """A core answering every Binding request with 300 Try Alternate (RFC 8489 §6.3.4)."""

    def __init__(self, alternate: tuple[str, int]) -> None:
        self.alternate = alternate
        self.out: list[tuple[bytes, tuple[str, int]]] = []

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        req = decode(data)
        resp = req.error_response(300).add_address(A.ALTERNATE_SERVER, self.alternate)
        self.out.append((resp.encode(), addr))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> None:
        return None


def test_binding_follows_one_alternate_server() -> None:
    async def run() -> None:
        runner = await serve_stun(("127.0.0.1", 0))
        real = runner.addresses[0]
        redirector = await open_endpoint(_Redirector(real))  # type: ignore[arg-type]
        loop_back = await open_endpoint(_Redirector(("127.0.0.1", 9)))  # type: ignore[arg-type]
        loop_back.core.alternate = loop_back.local_address  # type: ignore[attr-defined]
        try:
            result = await stun_binding(redirector.local_address, local_addr=("127.0.0.1", 0))
            assert result.mapped == result.local
            with pytest.raises(StunResponseError) as info:  # a second redirect is refused
                await stun_binding(loop_back.local_address, policy=PROBE)
            assert info.value.code == 300
        finally:
            redirector.close()
            loop_back.close()
            runner.close()

    asyncio.run(run())


def test_cli_long_term_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_udp_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "stun-server", "--listen", f"127.0.0.1:{port}",
         "--user", "alice:wonderland", "--realm", "test.org", "--duration", "30"],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().decode().startswith("listening on udp")
        target = f"127.0.0.1:{port}"
        rc = cli_main(["stun", target, "--user", "alice:wonderland", "--no-classify", "--json"])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert json.loads(out)["mapped"].startswith("127.0.0.1:")
        assert cli_main(["stun", target, "--no-classify"]) == 1  # no credentials: 401
        assert "401" in capsys.readouterr().err
        assert cli_main(["stun", target, "--user", "alice:queen", "--no-classify"]) == 1
        assert "401" in capsys.readouterr().err
    finally:
        server.terminate()
        server.wait(timeout=10)
