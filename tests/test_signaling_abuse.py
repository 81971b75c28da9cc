"""The signaling server against exhaustion (issue 14 item 12): connection caps per IP and
in all, an idle timeout for connections in no room, room creation rate-limited per client
address, and JSON depth bounded with a clear close code instead of 1011 + traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.peers import require_module

require_module("websockets")

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from pyrtcstack.signaling import SignalingClient, SignalingError, SignalingServer  # noqa: E402
from pyrtcstack.signaling.server import (  # noqa: E402
    MAX_MESSAGE_BYTES,
    json_depth_exceeds,
)

pytestmark = pytest.mark.timeout(60)


def run(test: Callable[[SignalingServer], Awaitable[None]], **limits: Any) -> None:
    async def main() -> None:
        server = SignalingServer(**limits)
        await server.start("127.0.0.1", 0)
        try:
            async with asyncio.timeout(30):
                await test(server)
        finally:
            await server.close()

    asyncio.run(main())


async def _closed(client: SignalingClient) -> tuple[int | None, str | None]:
    with pytest.raises(SignalingError):
        while True:
            await client.receive(5)
    return client.connection.close_code, client.connection.close_reason


def test_connections_per_ip_are_capped() -> None:
    async def test(server: SignalingServer) -> None:
        clients = [await SignalingClient.connect(server.url) for _ in range(4)]
        with pytest.raises(SignalingError, match="HTTP 429") as info:
            await SignalingClient.connect(server.url)
        refusal = info.value.__cause__
        assert isinstance(refusal, InvalidStatus)
        assert refusal.response.status_code == 429
        assert b"too many connections" in refusal.response.body
        assert server.denied["per-ip"] == 1 and server.connections["127.0.0.1"] == 4
        # one leaves: one more may come
        await clients.pop().close()
        for _ in range(50):
            if server.connections["127.0.0.1"] == 3:
                break
            await asyncio.sleep(0.02)
        clients.append(await SignalingClient.connect(server.url))
        for c in clients:
            await c.close()

    run(test, max_connections_per_ip=4)


def test_total_connections_are_capped() -> None:
    async def test(server: SignalingServer) -> None:
        clients = [await SignalingClient.connect(server.url) for _ in range(3)]
        with pytest.raises(SignalingError, match="HTTP 503") as info:
            await SignalingClient.connect(server.url)
        assert isinstance(info.value.__cause__, InvalidStatus)
        assert info.value.__cause__.response.status_code == 503
        assert server.denied["total"] == 1
        for c in clients:
            await c.close()

    run(test, max_connections=3)


def test_default_total_cap_stays_below_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    server = SignalingServer()
    assert server.max_connections <= max(1, soft - 64)
    assert server.max_connections_per_ip < server.max_connections or soft < 200


def test_connection_outside_any_room_is_closed_after_the_join_timeout() -> None:
    async def test(server: SignalingServer) -> None:
        idle = await SignalingClient.connect(server.url)
        member = await SignalingClient.connect(server.url)
        await member.create_room()
        code, reason = await _closed(idle)
        assert code == 1008 and reason is not None and "join" in reason
        assert server.denied["join-timeout"] == 1
        # the one in a room is still there, and is timed out only once it has left
        await member.connection.send(json.dumps({"type": "leave"}))
        assert (await member.receive(5))["type"] == "left"
        code, _ = await _closed(member)
        assert code == 1008 and server.denied["join-timeout"] == 2

    run(test, join_timeout=0.5)


def test_member_of_a_room_outlives_the_join_timeout() -> None:
    async def test(server: SignalingServer) -> None:
        a = await SignalingClient.connect(server.url)
        await a.create_room()
        await asyncio.sleep(0.8)
        with pytest.raises(TimeoutError):
            await a.receive(0.2)
        assert a.connection.close_code is None and server.denied["join-timeout"] == 0
        await a.close()

    run(test, join_timeout=0.3)


def test_room_creation_is_rate_limited_per_address() -> None:
    async def test(server: SignalingServer) -> None:
        a = await SignalingClient.connect(server.url)
        for _ in range(3):
            await a.create_room()
        with pytest.raises(SignalingError, match="too many rooms"):
            await a.create_room()
        # a new connection from the same address shares the bucket
        b = await SignalingClient.connect(server.url)
        with pytest.raises(SignalingError, match="too many rooms"):
            await b.create_room()
        assert server.denied["room-rate"] == 2 and len(server.rooms) == 1
        # joining is not limited
        room = a.room
        assert room is not None and await b.join(room) == [a.peer]
        await a.close()
        await b.close()

    run(test, room_create_burst=3, room_create_per_minute=0.01)


def test_deep_json_closes_with_1008_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def test(server: SignalingServer) -> None:
        a = await SignalingClient.connect(server.url)
        await a.create_room()
        depth = 30_000  # 60 KB: under MAX_MESSAGE_BYTES, far past the C decoder's guard
        deep = "[" * depth + "]" * depth
        assert len(deep) < MAX_MESSAGE_BYTES
        await a.connection.send(deep)
        code, reason = await _closed(a)
        assert code == 1008 and reason is not None and "deeper" in reason
        # just past our limit (33 levels) is refused the same way
        b = await SignalingClient.connect(server.url)
        await b.create_room()
        message = {"type": "signal", "data": json.loads("[" * 32 + "]" * 32)}
        await b.connection.send(json.dumps(message))
        code, _ = await _closed(b)
        assert code == 1008 and server.denied["json-depth"] == 2
        # a real description nests 3 levels: fine
        c = await SignalingClient.connect(server.url)
        d = await SignalingClient.connect(server.url)
        room = await c.create_room()
        await d.join(room)
        await c.signal({"description": {"type": "offer", "sdp": "v=0\r\n[[[[[[[[]]]]]]]]"}})
        assert (await d.receive_signal(5))["description"]["type"] == "offer"
        for client in (c, d):
            await client.close()

    run(test)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
    assert not [r for r in caplog.records if "connection handler failed" in r.getMessage()]


def test_json_depth_walk() -> None:
    assert not json_depth_exceeds({"a": [1, {"b": "[[[[[["}]}, 3)
    assert json_depth_exceeds({"a": [1, {"b": []}]}, 3)
    assert not json_depth_exceeds([[]] * 10_000, 2)


def test_raw_websocket_clients_see_the_same_limits() -> None:
    """Not only our client: a plain websockets client gets the HTTP 429 too."""

    async def test(server: SignalingServer) -> None:
        first = await connect(server.url)
        with pytest.raises(InvalidStatus):
            await connect(server.url)
        await first.close()
        with pytest.raises(ConnectionClosed):
            second = await connect(server.url)
            await second.recv()  # join timeout closes it

    run(test, max_connections_per_ip=1, join_timeout=0.3)


def test_defaults_refuse_the_33rd_connection_and_the_11th_room() -> None:
    """With no argument (as ``pyrtcstack signaling-server`` runs): one address gets 32
    connections and 10 rooms at once."""

    async def test(server: SignalingServer) -> None:
        clients = [await SignalingClient.connect(server.url) for _ in range(32)]
        with pytest.raises(SignalingError, match="HTTP 429"):
            await SignalingClient.connect(server.url)
        for client in clients[:10]:
            await client.create_room()
        with pytest.raises(SignalingError, match="too many rooms"):
            await clients[10].create_room()
        assert len(server.rooms) == 10
        for client in clients:
            await client.close()

    run(test)


def test_room_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """``receive --join -abc`` would be read as an option: such ids are drawn again."""
    from pyrtcstack.signaling import server as server_module

    draws = iter(["-first", "-second", "third"])
    monkeypatch.setattr(server_module.secrets, "token_urlsafe", lambda n: next(draws))
    assert server_module.new_room_id() == "third"
