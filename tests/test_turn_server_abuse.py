"""Hostile clients against the asyncio TURN server and ``pyrtcstack turn-server`` (issue 14,
items 1, 3 and 4): a foreign TURN client (aioice) is refused a loopback peer; idle and
slowloris TCP connections are closed; connection caps; running out of file descriptors
(accept and relay sockets) is refused, counted and logged without a traceback; users come
from a file or the environment, not argv; reprs hide the TURN credential.

Loopback only (run inside ``unshare -n`` as the suite does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from peers import free_udp_port, require_binary

from pyrtcstack.aio.turn import connect_turn, start_turn_server
from pyrtcstack.common import Address
from pyrtcstack.turn import PeerDenied, TurnRemoteError
from pyrtcstack.turn.errors import InsufficientCapacityError

USER, PASSWORD, REALM = "user", "pass-w0rd-secret", "example.org"


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Address]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.got.append((data, (str(addr[0]), int(str(addr[1])))))


async def _echo_peer() -> tuple[asyncio.DatagramTransport, _Echo]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    return transport, proto


@pytest.mark.parametrize("allow", [False, True])
def test_aioice_turn_client_is_refused_a_loopback_peer(
    allow: bool, caplog: pytest.LogCaptureFixture
) -> None:
    aioice_turn = pytest.importorskip("aioice.turn")

    class Receiver(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.errors: list[Exception] = []

        def error_received(self, exc: Exception) -> None:
            self.errors.append(exc)

    async def main() -> tuple[list[Exception], list[tuple[bytes, Address]], dict[str, int]]:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, allow_loopback_peers=allow
        )
        peer_transport, peer = await _echo_peer()
        try:
            transport, receiver = await aioice_turn.create_turn_endpoint(
                Receiver, ("127.0.0.1", port), USER, PASSWORD
            )
            target = peer_transport.get_extra_info("sockname")[:2]
            transport.sendto(b"through the relay", target)  # aioice: ChannelBind, then data
            for _ in range(200):
                if receiver.errors or peer.got:
                    break
                await asyncio.sleep(0.01)
            transport.close()
            await asyncio.sleep(0.05)
            return receiver.errors, peer.got, dict(server.server.stats)
        finally:
            peer_transport.close()
            server.close()

    with caplog.at_level(logging.INFO, logger="pyrtcstack.turn.server"):
        errors, got, stats = asyncio.run(main())
    if allow:
        assert [d for d, _ in got] == [b"through the relay"] and not errors
        assert stats["peer_denied"] == 0
    else:
        assert got == [] and stats["peer_denied"] == 1
        assert len(errors) == 1 and "403" in str(errors[0])
        lines = [r.getMessage() for r in caplog.records if "denied peer 127.0.0.1" in r.message]
        assert len(lines) == 1 and "loopback" in lines[0] and "channel-bind" in lines[0]
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_coturn_uclient_is_refused_a_loopback_peer() -> None:
    uclient = require_binary("turnutils_uclient", "coturn")
    peer_bin = require_binary("turnutils_peer", "coturn")

    async def main() -> tuple[str, dict[str, int], list[object]]:
        port, peer_port = free_udp_port(), free_udp_port()
        seen: list[object] = []
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, on_event=seen.append
        )
        peer = await asyncio.create_subprocess_exec(
            peer_bin, "-L", "127.0.0.1", "-p", str(peer_port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.sleep(0.3)
            client = await asyncio.create_subprocess_exec(
                uclient, "-u", USER, "-w", PASSWORD, "-p", str(port), "-e", "127.0.0.1",
                "-r", str(peer_port), "-n", "5", "-m", "1", "-c", "127.0.0.1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                out, _ = await asyncio.wait_for(client.communicate(), 60)
            finally:
                if client.returncode is None:
                    client.kill()
                    await client.wait()
            return out.decode(errors="replace"), dict(server.server.stats), seen
        finally:
            peer.terminate()
            await peer.wait()
            server.close()

    out, stats, seen = asyncio.run(main())
    assert "error 403" in out, out[-2000:]
    assert stats["peer_denied"] >= 1 and stats["relayed_to_peer"] == 0
    denied = [e for e in seen if isinstance(e, PeerDenied)]
    assert denied and all(e.reason == "loopback" for e in denied)


def test_our_client_gets_403_and_denials_are_logged_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> dict[str, int]:
        port = free_udp_port()
        server = await start_turn_server(("127.0.0.1", port), {USER: PASSWORD}, realm=REALM)
        try:
            conn = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
            await conn.allocate(timeout=5)
            for i in range(40):
                # 127.0.0.1 is the relay's own IP (only its relayed ports may be peers):
                # any other loopback IP is refused outright.
                with pytest.raises(TurnRemoteError) as info:
                    await conn.create_permission((f"127.0.1.{i}", 1000), timeout=5)
                assert info.value.code == 403
            with pytest.raises(TurnRemoteError):
                await conn.create_permission(("169.254.169.254", 80), timeout=5)
            await conn.close()
            return dict(server.server.stats)
        finally:
            server.close()

    with caplog.at_level(logging.INFO, logger="pyrtcstack.turn.server"):
        stats = asyncio.run(main())
    assert stats["peer_denied"] == 41
    messages = [r.getMessage() for r in caplog.records]
    loopback = [m for m in messages if "denied peer 127.0.1." in m]
    assert 1 <= len(loopback) <= 3  # a burst of three, then one per 10 s with a count
    assert len([m for m in messages if "169.254.169.254" in m and "link-local" in m]) == 1
    assert len([m for m in messages if m.startswith("allocation 127.0.0.1:")]) == 1


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except (TimeoutError, ConnectionError):
        return False


def test_idle_and_slowloris_tcp_connections_are_closed_authenticated_ones_are_not() -> None:
    async def main() -> dict[str, int]:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, tcp=True, auth_timeout=0.5
        )
        try:
            idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
            slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
            conn = await connect_turn(f"turn:127.0.0.1:{port}?transport=tcp", USER, PASSWORD)
            await conn.allocate(timeout=5)

            async def trickle() -> None:
                # A Binding request header, one byte every 50 ms: never a whole frame.
                for byte in bytes.fromhex("000100082112a442") + bytes(12):
                    slow_w.write(bytes([byte]))
                    await asyncio.sleep(0.05)

            trickling = asyncio.ensure_future(trickle())
            started = time.monotonic()
            assert await _closed_within(idle_r, 3.0)
            assert await _closed_within(slow_r, 3.0)
            assert time.monotonic() - started < 2.0
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await trickling
            await asyncio.sleep(1.2)  # two more checks: the allocated connection stays
            await conn.refresh(timeout=5)
            await conn.close()
            idle_w.close()
            slow_w.close()
            return dict(server.stats)
        finally:
            server.close()

    stats = asyncio.run(main())
    assert stats["auth_timeouts"] == 2


def test_a_tcp_stream_that_does_not_frame_is_closed_and_counted() -> None:
    """RFC 8656 §12.5: a first byte that is neither STUN nor ChannelData cannot be
    resynchronised; the server closes that connection at once (long before the
    authentication timeout), counts it, and keeps serving a well-framed client."""

    async def main() -> tuple[bool, float, dict[str, int]]:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, tcp=True, auth_timeout=5.0
        )
        try:
            bad_r, bad_w = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            bad_w.write(b"\xc0\x00\x00\x04abcd")
            closed = await _closed_within(bad_r, 3.0)
            elapsed = time.monotonic() - started
            conn = await connect_turn(f"turn:127.0.0.1:{port}?transport=tcp", USER, PASSWORD)
            await conn.allocate(timeout=5)
            await conn.close()
            bad_w.close()
            return closed, elapsed, dict(server.stats)
        finally:
            server.close()

    closed, elapsed, stats = asyncio.run(main())
    assert closed and elapsed < 2.0
    assert stats["framing_errors"] == 1
    assert stats["handler_errors"] == 0


def test_a_tcp_client_that_does_not_read_gets_a_bounded_buffer() -> None:
    from pyrtcstack.aio.turn_server import MAX_STREAM_BUFFER

    async def main() -> tuple[int, int, dict[str, int]]:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, tcp=True,
            allow_loopback_peers=True,
        )  # fmt: skip
        peer_transport, _peer = await _echo_peer()
        try:
            conn = await connect_turn(f"turn:127.0.0.1:{port}?transport=tcp", USER, PASSWORD)
            allocated = await conn.allocate(timeout=5)
            peer_addr = peer_transport.get_extra_info("sockname")[:2]
            await conn.create_permission(peer_addr, timeout=5)
            assert conn._driver is not None and conn._driver.transport is not None
            client_transport = conn._driver.transport
            client_transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
            )
            client_transport.pause_reading()  # the client stops reading
            (stream,) = server.streams.values()
            stream.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            most = 0
            for _ in range(100):  # 6 MB from the peer to the relayed address
                for _ in range(50):
                    peer_transport.sendto(b"z" * 1200, allocated.relayed_address)
                await asyncio.sleep(0.002)
                most = max(most, stream.get_write_buffer_size())
            await asyncio.sleep(0.1)
            delivered = server.server.stats["relayed_to_client"]
            client_transport.resume_reading()
            await conn.close(timeout=2)
            return most, delivered, dict(server.stats)
        finally:
            peer_transport.close()
            server.close()

    most, delivered, stats = asyncio.run(main())
    assert delivered > 1000  # the flood reached the server
    assert stats["stream_overflow"] > 0
    assert most <= MAX_STREAM_BUFFER + 2 * 1300


def test_connection_caps_in_total_and_per_ip() -> None:
    async def main() -> tuple[list[bool], list[bool], dict[str, int]]:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {USER: PASSWORD}, realm=REALM, tcp=True,
            max_connections_per_ip=3, max_connections=5,
        )  # fmt: skip
        try:
            same = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
            per_ip = [await _closed_within(r, 0.3) for r, _w in same]
            # Other loopback IPs: the total cap (5) now counts the 3 kept open.
            others = [
                await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.0.{i}", 0))
                for i in (2, 3, 4)
            ]
            total = [await _closed_within(r, 0.3) for r, _w in others]
            for _r, w in same + others:
                w.close()
            return per_ip, total, dict(server.stats)
        finally:
            server.close()

    per_ip, total, stats = asyncio.run(main())
    assert per_ip == [False, False, False, True, True]
    assert total == [False, False, True]
    assert stats["connections_refused"] == 3


def test_no_relay_socket_answers_508_and_the_server_keeps_serving() -> None:
    async def main() -> dict[str, int]:
        port = free_udp_port()
        server = await start_turn_server(("127.0.0.1", port), {USER: PASSWORD}, realm=REALM)
        try:
            conn = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            lowest_free = os.dup(0)
            os.close(lowest_free)
            resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # socket(): EMFILE
            try:
                with pytest.raises(InsufficientCapacityError):
                    await conn.allocate(timeout=5)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            conn2 = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
            await conn2.allocate(timeout=5)
            await conn2.close()
            return dict(server.stats)
        finally:
            server.close()

    stats = asyncio.run(main())
    assert stats["relay_socket_errors"] == 1


def test_a_bug_in_the_core_never_escapes_a_datagram_handler() -> None:
    async def main() -> tuple[int, list[dict[str, object]]]:
        loop = asyncio.get_running_loop()
        escaped: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: escaped.append(context))
        port = free_udp_port()
        server = await start_turn_server(("127.0.0.1", port), {USER: PASSWORD}, realm=REALM)

        def boom(*args: object) -> None:
            raise RuntimeError("simulated bug")

        server.server.receive_datagram = boom  # type: ignore[method-assign]
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(3):
                sock.sendto(b"\x00\x01\x00\x00" + bytes(16), ("127.0.0.1", port))
            sock.close()
            for _ in range(250):  # the three datagrams handled (5 s at most)
                if server.stats["handler_errors"] >= 3:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)  # and nothing more escapes afterwards
            return server.stats["handler_errors"], escaped
        finally:
            server.close()

    errors, escaped = asyncio.run(main())
    assert errors == 3 and escaped == []


# ``python -m pyrtcstack`` with the open-file limit set first (no preexec_fn).
_LIMITED = (
    "import resource, runpy, sys; n = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)) if n else None; "
    "runpy.run_module('pyrtcstack', run_name='__main__', alter_sys=True)"
)


def _run_cli_server(
    args: list[str], env: dict[str, str], nofile: int = 0
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _LIMITED, str(nofile), "turn-server", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    assert first.startswith("TURN server on udp"), first + proc.stderr.read().decode()  # type: ignore[union-attr]
    proc.first_line = first  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    return out.decode(), err.decode()


def test_cli_out_of_file_descriptors_refuses_without_tracebacks() -> None:
    port = free_udp_port()
    env = dict(os.environ)
    env["PYRTCSTACK_TURN_USERS"] = f"{USER}:{PASSWORD}"
    proc = _run_cli_server(
        ["--listen", f"127.0.0.1:{port}", "--tcp", "--max-connections", "1000",
         "--max-connections-per-ip", "1000", "--auth-timeout", "30"],
        env,
        nofile=48,
    )  # fmt: skip

    async def main() -> tuple[bool, bool]:
        writers = []
        for _ in range(120):  # far more than the server has descriptors for
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", port)
                writers.append(w)
        await asyncio.sleep(1.5)
        conn = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
        starved = False
        try:
            await conn.allocate(timeout=5)
        except InsufficientCapacityError:
            starved = True  # no descriptor for a relay socket: 508, not a crash
        for w in writers:
            w.close()
        await asyncio.sleep(1.5)  # accepting resumes, the backlog is served and closed
        conn2 = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
        await conn2.allocate(timeout=5)
        await conn2.close()
        return starved, True

    try:
        starved, recovered = asyncio.run(main())
    finally:
        out, err = _stop(proc)
    assert starved and recovered
    assert "Traceback" not in out + err, (out + err)[-3000:]
    accept_lines = [line for line in out.splitlines() if "accept() failed" in line]
    assert 1 <= len(accept_lines) <= 4, out[-3000:]
    assert "Too many open files" in accept_lines[0]
    assert any("no relay socket" in line for line in out.splitlines()), out[-3000:]
    assert len(out.splitlines()) < 200


@pytest.mark.parametrize("source", ["file", "env", "coturn-file"])
def test_cli_users_from_a_file_or_the_environment_not_argv(source: str, tmp_path: Path) -> None:
    port = free_udp_port()
    env = dict(os.environ)
    env.pop("PYRTCSTACK_TURN_USERS", None)
    args = ["--listen", f"127.0.0.1:{port}"]
    if source == "env":
        env["PYRTCSTACK_TURN_USERS"] = f"other:x\n{USER}:{PASSWORD}"
    else:
        users = tmp_path / "users"
        prefix = "user=" if source == "coturn-file" else ""
        users.write_text(f"# TURN users\n\nother:x\n{prefix}{USER}:{PASSWORD}\n")
        users.chmod(0o600)
        args += ["--users-file", str(users)]
    proc = _run_cli_server(args, env)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in cmdline

        async def main() -> None:
            conn = await connect_turn(f"turn:127.0.0.1:{port}", USER, PASSWORD)
            await conn.allocate(timeout=5)
            await conn.close()

        asyncio.run(main())
    finally:
        out, err = _stop(proc)
    assert "2 user(s)" in proc.first_line
    assert PASSWORD not in out + err
    assert "allocation 127.0.0.1:" in out and f"user {USER!r}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no users"),
        (["--users-file", "/nonexistent/users"], "cannot read --users-file"),
        (["--user", "nopassword"], "expected NAME:PASSWORD"),
        (["--user", "u:p", "--denied-peer-ip", "10.0.0.0/33"], "not an IP, CIDR range"),
        (["--user", "u:p", "--user-quota", "-1"], "must be at least 0"),
    ],
)
def test_cli_mistakes_get_one_line_and_exit_2(args: list[str], message: str) -> None:
    env = dict(os.environ)
    env.pop("PYRTCSTACK_TURN_USERS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "turn-server", "--listen", "127.0.0.1:0", *args],
        capture_output=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_users_file_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("u:p\n")
    users.chmod(0o644)
    env = dict(os.environ)
    proc = _run_cli_server(["--listen", f"127.0.0.1:{free_udp_port()}", "--users-file",
                            str(users)], env)  # fmt: skip
    _out, err = _stop(proc)
    assert "readable by other users" in err


def test_reprs_hide_the_turn_credential() -> None:
    from pyrtcstack.ice import TurnServer as IceTurnServer
    from pyrtcstack.peerconnection.config import Configuration, IceServer

    server = IceServer(["turn:turn.example.org:3478"], "alice", "hunter2-credential")
    config = Configuration(ice_servers=[server])
    for text in (repr(server), repr(config), str(config)):
        assert "hunter2-credential" not in text and "alice" in text
    assert "hunter2" not in repr(IceTurnServer(("192.0.2.1", 3478), "alice", "hunter2"))
    assert config.to_dict()["iceServers"] == [  # getConfiguration() still returns it
        {"urls": ["turn:turn.example.org:3478"], "username": "alice",
         "credential": "hunter2-credential"}
    ]  # fmt: skip


def test_cli_options_map_onto_the_server() -> None:
    from pyrtcstack.cli import build_parser
    from pyrtcstack.cli.turn import _server_options

    args = build_parser().parse_args(
        ["turn-server", "--user", "u:p", "--allow-loopback-peers", "--denied-peer-ip",
         "203.0.113.0/24", "--allowed-peer-ip", "10.1.0.0-10.1.0.255", "--user-quota", "0",
         "--total-quota", "5", "--max-bps", "64000", "--auth-timeout", "3",
         "--max-connections-per-ip", "4"]
    )  # fmt: skip
    options = _server_options(args)
    policy = options["peer_policy"]
    assert policy.classify("127.0.0.1") is None and policy.classify("203.0.113.9") == (
        "denied-range"
    )
    assert policy.classify("10.1.0.7") is None and policy.classify("10.2.0.7") == "private"
    assert options["user_quota"] == sys.maxsize and options["total_quota"] == 5  # 0: no limit
    assert options["max_bps"] == 64000 and options["auth_timeout"] == 3.0
    assert options["max_connections_per_ip"] == 4 and options["max_connections"] is None
