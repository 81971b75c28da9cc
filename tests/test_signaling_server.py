"""The WebSocket signaling server and client on loopback: rooms, isolation, limits, TLS,
leave announcements, and ``pyrtcstack signaling-server`` as a real process."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.peers import require_module

require_module("websockets")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from pyrtcstack.signaling import SignalingClient, SignalingError, SignalingServer  # noqa: E402
from pyrtcstack.signaling.server import MAX_MESSAGE_BYTES, RATE_BURST  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def run(
    test: Callable[[SignalingServer], Awaitable[None]], ssl_context: ssl.SSLContext | None = None
) -> None:
    async def main() -> None:
        server = SignalingServer()
        await server.start("127.0.0.1", 0, ssl_context=ssl_context)
        try:
            async with asyncio.timeout(30):
                await test(server)
        finally:
            await server.close()

    asyncio.run(main())


async def pair(server: SignalingServer) -> tuple[SignalingClient, SignalingClient, str]:
    a = await SignalingClient.connect(server.url)
    b = await SignalingClient.connect(server.url)
    room = await a.create_room()
    assert await b.join(room) == [a.peer]
    joined = await a.receive(5)
    assert joined == {"type": "peer-joined", "peer": b.peer}
    return a, b, room


def test_relay_both_ways_and_leave_is_announced() -> None:
    async def test(server: SignalingServer) -> None:
        a, b, room = await pair(server)
        assert len(room) >= 22 and a.peer != b.peer
        offer = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
        await a.signal(offer)
        assert await b.receive(5) == {"type": "signal", "from": a.peer, "data": offer}
        await b.signal({"candidate": None})
        assert await a.receive_signal(5) == {"candidate": None}
        await b.close()  # disconnecting is leaving
        assert await a.receive(5) == {"type": "peer-left", "peer": b.peer}
        await a.connection.send(json.dumps({"type": "leave"}))
        assert (await a.receive(5))["type"] == "left"
        assert server.rooms == {}  # empty rooms are deleted
        await a.close()

    run(test)


def test_only_members_receive_a_rooms_messages() -> None:
    async def test(server: SignalingServer) -> None:
        a, b, room = await pair(server)
        c, d, other_room = await pair(server)
        outsider = await SignalingClient.connect(server.url)
        assert room != other_room
        await a.signal("for room 1")
        await c.signal("for room 2")
        assert await b.receive_signal(5) == "for room 1"
        assert await d.receive_signal(5) == "for room 2"
        # Nobody else got anything: the outsider, the senders, the other room.
        for client in (outsider, a, c):
            with pytest.raises(TimeoutError):
                await client.receive(0.3)
        # Guessing is refused; the room is full anyway.
        with pytest.raises(SignalingError, match="no such room"):
            await outsider.join(room[:-1] + ("A" if room[-1] != "A" else "B"))
        with pytest.raises(SignalingError, match="room full"):
            await outsider.join(room)
        await outsider.signal("hello?")
        assert await outsider.receive(5) == {"type": "error", "reason": "join a room first"}
        for client in (a, b, c, d, outsider):
            await client.close()

    run(test)


def test_message_size_limit_closes_the_connection() -> None:
    async def test(server: SignalingServer) -> None:
        a, b, _ = await pair(server)
        await a.signal("x" * (MAX_MESSAGE_BYTES + 10))
        with pytest.raises(SignalingError):
            await a.receive(5)
        assert a.connection.close_code == 1009  # message too big
        assert await b.receive(5) == {"type": "peer-left", "peer": a.peer}
        await b.close()

    run(test)


def test_rate_limit() -> None:
    async def test(server: SignalingServer) -> None:
        a, b, _ = await pair(server)
        for i in range(RATE_BURST * 3):
            try:
                await a.signal(i)
            except ConnectionClosed:
                break
        errors = 0
        with pytest.raises(SignalingError):
            while True:
                message = await a.receive(5)
                errors += message.get("type") == "error"
        assert errors >= 1 and a.connection.close_code == 1008
        received = 0
        with pytest.raises(SignalingError):  # ends with peer-left
            while True:
                await b.receive_signal(5)
                received += 1
        assert RATE_BURST - 2 <= received < RATE_BURST * 2  # the create and join used tokens
        await b.close()

    run(test)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def test(server: SignalingServer) -> None:
        assert server.url.startswith("wss://127.0.0.1:")
        a = await SignalingClient.connect(server.url, ssl_context=client_ctx)
        b = await SignalingClient.connect(server.url, ssl_context=client_ctx)
        room = await a.create_room()
        await b.join(room)
        await b.signal("over TLS")
        assert await a.receive_signal(5) == "over TLS"
        # A client that does not trust the certificate is refused by TLS itself.
        with pytest.raises(ssl.SSLError):
            await SignalingClient.connect(server.url, ssl_context=ssl.create_default_context())
        await a.close()
        await b.close()

    run(test, server_ctx)


def test_signaling_server_command(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pyrtcstack",
        "signaling-server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "ws://127.0.0.1:" in line, line
        url = line.split()[-1]

        async def main() -> None:
            a = await SignalingClient.connect(url)
            b = await SignalingClient.connect(url)
            await b.join(await a.create_room())
            await a.signal({"hello": 1})
            assert await b.receive_signal(5) == {"hello": 1}
            await a.close()
            await b.close()

        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
