"""Abuse of the SIP stream transports of a SipPhone: more connections than the cap (the
extra ones are closed and counted, the established ones still served), and a peer that
never reads what we send (what we hold for it stays under its bound, then the connection
is dropped and counted), over TCP and over WebSocket. (On WebSocket a peer that floods
requests without reading stops being read once our answers cannot be written, so our
queue does not grow that way: the test makes us the sender.)"""

from __future__ import annotations

import asyncio
import socket

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from pyrtcstack.aio.sip import (
    MAX_CONNECTIONS,
    MAX_PENDING_BYTES,
    SipCallError,
    SipPhone,
    TcpEndpoint,
)
from pyrtcstack.aio.sip_ws import MAX_QUEUED_BYTES, MAX_WS_CONNECTIONS, WsEndpoint
from pyrtcstack.sip import Response, parse_message

_SIP = Subprotocol("sip")


def options(transport: str, branch: str, padding: int = 0) -> bytes:
    """An OPTIONS whose answer (200) copies the Via, so ``padding`` octets there come
    back in the answer: a peer that never reads makes us hold them."""
    pad = f";x={'a' * padding}" if padding else ""
    return (
        f"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:9;branch=z9hG4bK{branch}{pad}\r\n"
        "From: <sip:eve@127.0.0.1>;tag=e1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _wait_for(check: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _tcp_cap() -> tuple[int, int, bytes, Response]:
    bob = await SipPhone.open(user="bob", transport="TCP")
    endpoint = bob.endpoint
    assert isinstance(endpoint, TcpEndpoint)
    streams = []
    try:
        streams += [await asyncio.open_connection(*bob.local) for _ in range(MAX_CONNECTIONS)]
        await _wait_for(lambda: len(endpoint.connections) == MAX_CONNECTIONS)
        reader, writer = await asyncio.open_connection(*bob.local)
        extra = await asyncio.wait_for(reader.read(100), 5)  # closed at once: EOF
        writer.close()
        # the established connections are still served
        first_reader, first_writer = streams[0]
        first_writer.write(options("TCP", "still1"))
        answer = await asyncio.wait_for(first_reader.readuntil(b"\r\n\r\n"), 5)
        response = parse_message(answer)
        assert isinstance(response, Response)
        return len(endpoint.connections), endpoint.refused, extra, response
    finally:
        for _, w in streams:
            w.close()
        bob.close()


def test_tcp_connections_past_the_cap_are_closed_and_counted() -> None:
    connections, refused, extra, response = asyncio.run(_tcp_cap())
    assert connections == MAX_CONNECTIONS and refused == 1 and extra == b""
    assert response.status == 200 and response.call_id == "still1"


async def _tcp_never_reads() -> tuple[int, int, int, bool]:
    bob = await SipPhone.open(user="bob", transport="TCP")
    endpoint = bob.endpoint
    assert isinstance(endpoint, TcpEndpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, bob.local)
    _, writer = await asyncio.open_connection(sock=sock)
    try:
        await _wait_for(lambda: len(endpoint.connections) == 1)
        (conn,) = endpoint.connections.values()
        assert conn.transport is not None
        transport = conn.transport
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        held = [0]
        write = transport.write

        def measured(data: bytes) -> None:  # what asyncio holds for the peer, after each write
            write(data)
            held[0] = max(held[0], transport.get_write_buffer_size())

        transport.write = measured  # type: ignore[method-assign]
        for i in range(3000):  # 12 KiB answers to a peer that never reads
            if endpoint.overflows:
                break
            try:
                writer.write(options("TCP", f"n{i}", 12_000))
                await writer.drain()
            except ConnectionError:
                break
        await _wait_for(lambda: not endpoint.connections)
        return held[0], endpoint.overflows, endpoint.send_drops, conn.closed.is_set()
    finally:
        writer.close()
        bob.close()


def test_a_tcp_peer_that_never_reads_is_bounded_then_dropped() -> None:
    most, overflows, drops, closed = asyncio.run(_tcp_never_reads())
    assert 0 < most <= MAX_PENDING_BYTES  # what we held for it stayed under the bound
    assert overflows == 1 and drops >= 1 and closed


async def _ws_cap() -> tuple[int, int, Response]:
    bob = await SipPhone.open(user="bob", transport="WS")
    endpoint = bob.endpoint
    assert isinstance(endpoint, WsEndpoint)
    url = f"ws://127.0.0.1:{bob.local[1]}"
    sockets: list[ClientConnection] = []
    try:
        sockets += [await connect(url, subprotocols=[_SIP]) for _ in range(MAX_WS_CONNECTIONS)]
        await _wait_for(lambda: len(endpoint.connections) == MAX_WS_CONNECTIONS)
        extra = await connect(url, subprotocols=[_SIP])
        try:
            await asyncio.wait_for(extra.recv(), 5)
            raise AssertionError("the extra connection was served")
        except ConnectionClosed:
            pass
        await sockets[-1].send(options("WS", "still2"))
        response = parse_message(await asyncio.wait_for(sockets[-1].recv(decode=False), 5))
        assert isinstance(response, Response)
        return len(endpoint.connections), endpoint.refused, response
    finally:
        for ws in sockets:
            await ws.close()
        bob.close()


def test_websocket_connections_past_the_cap_are_refused_and_counted() -> None:
    connections, refused, response = asyncio.run(_ws_cap())
    assert connections == MAX_WS_CONNECTIONS and refused == 1
    assert response.status == 200 and response.call_id == "still2"


async def _ws_never_reads() -> tuple[int, int, int, int]:
    """Bob calls a WebSocket client that never reads, with 60 KiB offers: the client's
    socket and websockets' write buffer fill, then Bob's queue for it, up to its bound."""
    bob = await SipPhone.open(user="bob", transport="WS")
    endpoint = bob.endpoint
    assert isinstance(endpoint, WsEndpoint)
    # max_queue=1: the client stops reading its socket once one message waits unread
    ws = await connect(f"ws://127.0.0.1:{bob.local[1]}", subprotocols=[_SIP], max_queue=1)
    ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    offer = b"v=0\r\n" + b"a=x\r\n" * 10_000
    try:
        await _wait_for(lambda: len(endpoint.connections) == 1)
        ((key, conn),) = endpoint.connections.items()
        assert conn.ws is not None
        conn.ws.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        most, calls = 0, 0
        while not endpoint.overflows and calls < 200:
            bob.agent.invite("sip:eve@127.0.0.1", key, asyncio.get_running_loop().time(), offer)
            endpoint.drain()
            calls += 1
            most = max(most, conn.queued_bytes)
            await asyncio.sleep(0.01)
        await _wait_for(lambda: not endpoint.connections)
        return most, endpoint.overflows, endpoint.send_drops, calls
    finally:
        ws.transport.abort()
        bob.close()


def test_a_websocket_peer_that_never_reads_is_bounded_then_dropped() -> None:
    most, overflows, drops, calls = asyncio.run(_ws_never_reads())
    assert MAX_QUEUED_BYTES // 2 < most <= MAX_QUEUED_BYTES  # it filled, within the bound
    assert overflows == 1 and drops >= 1 and calls < 200


async def _refused(transport: str) -> tuple[int, float]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])  # nobody listens there once closed
    alice = await SipPhone.open(user="alice", transport=transport)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await alice.call(f"sip:bob@127.0.0.1:{port}", ("127.0.0.1", port), b"v=0\r\n", timeout=40)
    except SipCallError as exc:
        return exc.status, loop.time() - started
    finally:
        alice.close()
    raise AssertionError("the call was answered")


def test_a_refused_connection_fails_the_call_at_once() -> None:
    """RFC 3261 §17.1.4, §8.1.3.1: a transport error ends the transaction now (reported
    as 408, as a timeout), not at Timer B 32 s later; RFC 3263 failover then moves on."""
    for transport in ("TCP", "WS"):
        status, took = asyncio.run(_refused(transport))
        assert status == 408 and took < 5, (transport, took)
