"""SIP over WebSocket (RFC 7118) between two of our SipPhones on loopback: Via ``WS``,
``sip`` subprotocol, a call with an offer, answer, ACK and BYE; a connection without the
subprotocol is refused at the handshake."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.sip import Request

OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
ANSWER = OFFER.replace(b"o=- 1", b"o=- 2")


async def _call() -> tuple[bytes | None, bytes | None, bool, list[str]]:
    alice = await SipPhone.open(user="alice", transport="WS")
    bob = await SipPhone.open(user="bob", transport="WS")
    vias: list[str] = []

    def seen(event: object) -> None:
        request = getattr(event, "request", None)
        if isinstance(request, Request):
            vias.append(request.vias[0].transport)

    bob.listeners.append(seen)

    async def callee() -> bytes | None:
        call = await bob.incoming()
        await bob.answer(call.call_id, ANSWER)
        return call.offer

    task = asyncio.ensure_future(callee())
    try:
        call_id, answer = await alice.call(
            f"sip:bob@127.0.0.1:{bob.local[1]};transport=ws", bob.local, OFFER, timeout=10
        )
        offer = await task
        await alice.hang_up(call_id, timeout=10)
        ended = await bob.wait_ended(call_id, timeout=10)
        return offer, answer, ended, vias
    finally:
        task.cancel()
        alice.close()
        bob.close()


def test_call_over_websocket() -> None:
    offer, answer, ended, vias = asyncio.run(_call())
    assert offer == OFFER and answer == ANSWER and ended
    assert vias == ["WS"]


async def _without_subprotocol() -> None:
    bob = await SipPhone.open(user="bob", transport="WS")
    try:
        with pytest.raises(InvalidStatus):  # the handshake is refused (HTTP 400)
            async with connect(f"ws://127.0.0.1:{bob.local[1]}"):
                pass
    finally:
        bob.close()


def test_a_connection_without_the_sip_subprotocol_is_closed() -> None:
    asyncio.run(_without_subprotocol())


async def _abuse() -> tuple[int, int, int]:
    from pyrtcstack.aio.sip_ws import MAX_WS_CONNECTIONS, WsEndpoint

    bob = await SipPhone.open(user="bob", transport="WS")
    endpoint = bob.endpoint
    assert isinstance(endpoint, WsEndpoint)
    url = f"ws://127.0.0.1:{bob.local[1]}"
    sockets = [await connect(url, subprotocols=[Subprotocol("sip")])]
    try:
        sockets += [
            await connect(url, subprotocols=[Subprotocol("sip")])
            for _ in range(MAX_WS_CONNECTIONS - 1)
        ]
        await sockets[0].send(b"not SIP at all\r\n\r\n")
        extra = await connect(url, subprotocols=[Subprotocol("sip")])
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(extra.recv(), 5)
        await asyncio.sleep(0.1)
        assert extra.close_code is not None
        return len(endpoint.connections), endpoint.parse_errors, extra.close_code
    finally:
        for ws in sockets:
            await ws.close()
        bob.close()


def test_connections_are_capped_and_garbage_is_counted() -> None:
    from pyrtcstack.aio.sip_ws import MAX_WS_CONNECTIONS

    connections, parse_errors, close_code = asyncio.run(_abuse())
    assert connections == MAX_WS_CONNECTIONS  # the extra one was not kept
    assert close_code == 1013  # try again later
    assert parse_errors == 1
