"""A socket connected to its one server (``stop_on_unreachable``) still reaches it
whatever form the address takes, and a core that sends elsewhere does not crash the loop.

asyncio's connected datagram transport refuses ``sendto(data, addr)`` unless ``addr`` is
exactly the sockaddr it connected to: ``('::1', port, 0, 0)`` for IPv6, the resolved
address for a host name. Our cores address their datagrams as they were given
(``('::1', port)``, ``('localhost', port)``), so before the endpoint matched them itself
every IPv6 or named server failed with a ``ValueError`` (``pyrtcstack stun [::1]:3478``
printed a traceback). Loopback only (the suite's namespace).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyrtcstack.aio.dtls import open_dtls
from pyrtcstack.aio.stun import serve_stun, stun_binding
from pyrtcstack.aio.turn import connect_turn, start_turn_server
from pyrtcstack.dtls import DtlsConnection, DtlsRole
from tests.peers import free_udp_port, ipv6_loopback
from tests.test_dtls_helpers import certificate

needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")


@pytest.mark.parametrize(
    ("listen", "name"),
    [
        pytest.param("127.0.0.1", "127.0.0.1", id="ipv4"),
        pytest.param("127.0.0.1", "localhost", id="host-name"),
        pytest.param("::1", "::1", id="ipv6", marks=needs_ipv6),
    ],
)
def test_stun_binding_on_a_connected_socket_reaches_any_form_of_address(
    listen: str, name: str
) -> None:
    async def run() -> None:
        runner = await serve_stun((listen, 0))
        try:
            port = runner.addresses[0][1]
            result = await asyncio.wait_for(
                stun_binding((name, port), stop_on_unreachable=True), 10
            )
            assert result.mapped is not None and result.mapped[0] == listen
        finally:
            runner.close()

    asyncio.run(run())


@needs_ipv6
def test_turn_over_udp6_on_a_connected_socket_allocates() -> None:
    async def run() -> None:
        port = free_udp_port("::1")
        server = await start_turn_server(("::1", port), {"user": "secret"}, realm="test")
        try:
            conn = await connect_turn(
                f"turn:[::1]:{port}", "user", "secret", stop_on_unreachable=True
            )
            try:
                allocated = await conn.allocate(timeout=10)
                assert allocated.relayed_address[0] == "::1"
            finally:
                await conn.close(1.0)
        finally:
            server.close()

    asyncio.run(run())


def _dtls_pair(host: str) -> tuple[DtlsConnection, DtlsConnection]:
    server = DtlsConnection(
        DtlsRole.SERVER,
        certificate=certificate(61),
        remote_fingerprints=[certificate(62).fingerprint()],
    )
    client = DtlsConnection(
        DtlsRole.CLIENT,
        certificate=certificate(62),
        remote_fingerprints=[certificate(61).fingerprint()],
    )
    return server, client


@pytest.mark.parametrize(
    "host", [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6", marks=needs_ipv6)]
)
def test_a_dtls_client_on_a_connected_socket_drops_what_it_sends_elsewhere(host: str) -> None:
    """The handshake and data over a connected socket (IPv6 too); then the client's
    remote address moves (``set_remote_address``, as ICE would) to where the connected
    socket cannot send: the records are dropped and counted (``misdirected``), nothing
    reaches the loop's exception handler (asyncio's ValueError did, from the driver's
    timer, and the connection stalled with nothing said)."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        server, client = _dtls_pair(host)
        server_sock = await open_dtls(server, (host, 0))
        client.set_remote_address(server_sock.local_address)
        client_sock = await open_dtls(client, (host, 0), stop_on_unreachable=True)
        try:
            await client_sock.handshake(10)
            await server_sock.handshake(10)
            client_sock.send(b"hello")
            assert await asyncio.wait_for(server_sock.recv(), 10) == b"hello"
            assert client_sock.endpoint is not None
            assert client_sock.endpoint.misdirected == 0
            elsewhere = (host, server_sock.local_address[1] ^ 1)
            client.set_remote_address(elsewhere)
            client_sock.send(b"lost")
            for _ in range(5):
                await asyncio.sleep(0.01)
            assert client_sock.endpoint.misdirected >= 1
            assert errors == []
        finally:
            client_sock.endpoint.close()  # type: ignore[union-attr]
            server_sock.endpoint.close()  # type: ignore[union-attr]

    asyncio.run(run())


def test_a_stray_port_unreachable_fails_only_the_waits_pending_then() -> None:
    """TURN with ``stop_on_unreachable``: an ICMP port unreachable fails the waits that
    are pending when it comes; one arriving after the allocation (spoofed, or a late one)
    does not fail every later call of the connection."""

    async def run() -> None:
        port = free_udp_port()
        server = await start_turn_server(
            ("127.0.0.1", port), {"user": "secret"}, realm="test", allow_loopback_peers=True
        )
        try:
            conn = await connect_turn(
                ("127.0.0.1", port), "user", "secret", stop_on_unreachable=True
            )
            try:
                await conn.allocate(timeout=10)
                conn._on_socket_error(ConnectionRefusedError())  # stray, after the allocation
                await conn.create_permission("127.0.0.1", timeout=10)
            finally:
                await conn.close(1.0)
        finally:
            server.close()

    asyncio.run(run())


def test_a_refused_dtls_client_stops_and_its_recv_ends() -> None:
    """DTLS with ``stop_on_unreachable`` and nothing listening: the handshake fails with
    the port unreachable, ``error`` says so, ``recv()`` returns None instead of waiting
    forever, and the socket is closed (no more flights)."""

    async def run() -> None:
        port = free_udp_port()  # bound, then closed: nothing listens
        client = DtlsConnection(
            DtlsRole.CLIENT, certificate=certificate(63), remote_address=("127.0.0.1", port)
        )
        sock = await open_dtls(client, ("127.0.0.1", 0), stop_on_unreachable=True)
        with pytest.raises(Exception, match="port unreachable"):
            await sock.handshake(10)
        assert sock.error is not None and "port unreachable" in str(sock.error)
        assert await asyncio.wait_for(sock.recv(), 5) is None
        assert sock.endpoint is not None and sock.endpoint.transport is not None
        assert sock.endpoint.transport.is_closing()

    asyncio.run(run())
