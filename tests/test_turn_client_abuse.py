"""The TURN client against forged answers (issue 14 item 6).

RFC 8489 §9.2.5: once the client signs its requests, it acts only on responses whose
integrity verifies — except 401 and 438, which carry the challenge and may come unsigned.
An unsigned 437 (or 403, 400, 486 ...) is discarded: over UDP the request is retransmitted
and, if nothing authentic comes, its timeout is reported as the integrity violation; over
TCP/TLS the request ends at once with that error."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.common.core import Event
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, Method, decode, long_term_key
from pyrtcstack.turn.client import ClientState, TurnClient
from pyrtcstack.turn.events import Allocated, AllocationExpired, Refreshed, RequestFailed

SERVER = ("192.0.2.1", 3478)
REALM = "example.org"
KEY = long_term_key("alice", REALM, "pw")


def _sent(client: TurnClient) -> Message:
    [(data, dst)] = client.datagrams_to_send(0)
    assert dst == SERVER
    return decode(data)


def _events(client: TurnClient) -> list[Event]:
    out = []
    while (e := client.next_event()) is not None:
        out.append(e)
    return out


def _allocated(reliable: bool = False) -> TurnClient:
    client = TurnClient(SERVER, "alice", "pw", reliable=reliable, rng=random.Random(5))
    client.allocate(0.0)
    first = _sent(client)
    challenge = first.error_response(401).add_text(A.REALM, REALM).add(A.NONCE, b"n1")
    client.receive_datagram(challenge.encode(), SERVER, 0.1)
    second = _sent(client)
    assert second.integrity is not None
    ok = second.success_response()
    ok.add_address(A.XOR_RELAYED_ADDRESS, ("192.0.2.1", 50000))
    ok.add_address(A.XOR_MAPPED_ADDRESS, ("198.51.100.9", 4000))
    ok.add_uint32(A.LIFETIME, 600)
    client.receive_datagram(ok.encode(KEY), SERVER, 0.2)
    assert isinstance(_events(client)[0], Allocated)
    return client


def test_forged_unsigned_437_does_not_end_the_allocation() -> None:
    client = _allocated()
    client.refresh(1.0)
    refresh = _sent(client)
    assert refresh.method == Method.REFRESH and refresh.integrity is not None
    forged = refresh.error_response(437)  # what an attacker who saw the request sends
    client.receive_datagram(forged.encode(), SERVER, 1.1)
    assert _events(client) == []
    assert client.state is ClientState.ALLOCATED
    assert client.stats["bad_integrity"] == 1
    # the same error with a wrong MESSAGE-INTEGRITY is discarded too
    client.receive_datagram(forged.encode(b"not the key"), SERVER, 1.2)
    assert _events(client) == [] and client.stats["bad_integrity"] == 2
    # the genuine (signed) answer still settles the request
    ok = refresh.success_response().add_uint32(A.LIFETIME, 600)
    client.receive_datagram(ok.encode(KEY), SERVER, 1.3)
    assert [type(e) for e in _events(client)] == [Refreshed]


def test_a_signed_437_is_acted_on() -> None:
    client = _allocated()
    client.refresh(1.0)
    refresh = _sent(client)
    client.receive_datagram(refresh.error_response(437).encode(KEY), SERVER, 1.1)
    assert [type(e) for e in _events(client)] == [AllocationExpired]
    assert client.state is ClientState.CLOSED


def test_unsigned_errors_alone_end_in_an_integrity_violation_over_udp() -> None:
    client = _allocated()
    client.create_permission(("198.51.100.20", 1), 1.0)
    request = _sent(client)
    for code in (400, 403, 508):
        client.receive_datagram(request.error_response(code).encode(), SERVER, 1.1)
    assert _events(client) == [] and client.stats["bad_integrity"] == 3
    # retransmissions go on; at the end the violation, not a plain timeout, is reported
    now = 1.0
    while (deadline := client.get_timer()) is not None and deadline < 60:
        now = deadline
        client.handle_timer(now)
        client.datagrams_to_send(now)
    [failed] = [e for e in _events(client) if isinstance(e, RequestFailed)]
    assert failed.method == "create-permission" and not failed.fatal
    assert "integrity" in str(failed.error)
    assert client.state is ClientState.ALLOCATED


def test_unsigned_error_over_tcp_ends_the_request_at_once() -> None:
    client = _allocated(reliable=True)
    client.create_permission(("198.51.100.20", 1), 1.0)
    request = _sent(client)
    client.receive_datagram(request.error_response(403).encode(), SERVER, 1.1)
    [failed] = _events(client)
    assert isinstance(failed, RequestFailed) and "integrity" in str(failed.error)
    assert client.state is ClientState.ALLOCATED


def test_unsigned_438_is_still_a_challenge() -> None:
    client = _allocated()
    client.refresh(1.0)
    refresh = _sent(client)
    stale = refresh.error_response(438).add_text(A.REALM, REALM).add(A.NONCE, b"n2")
    client.receive_datagram(stale.encode(), SERVER, 1.1)
    retry = _sent(client)
    assert retry.get(A.NONCE) == b"n2" and retry.transaction_id != refresh.transaction_id
    assert client.stats["stale_nonce"] == 1 and client.stats["bad_integrity"] == 0


def test_first_allocate_errors_are_acted_on_unsigned() -> None:
    """Before the challenge the client has no key: nothing could have been checked."""
    client = TurnClient(SERVER, "alice", "pw", rng=random.Random(5))
    client.allocate(0.0)
    first = _sent(client)
    client.receive_datagram(first.error_response(403).encode(), SERVER, 0.1)
    [failed] = _events(client)
    assert isinstance(failed, RequestFailed) and failed.fatal
    assert client.state is ClientState.FAILED


@pytest.fixture
def coturn_denying(tmp_path: Path) -> Iterator[Any]:
    from test_turn_interop import _start_coturn

    yield from _start_coturn(tmp_path, ["--denied-peer-ip=10.9.0.0-10.9.255.255"])


@pytest.mark.interop
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_coturn_signs_its_errors_so_they_still_fail_fast(
    coturn_denying: Any, transport: str
) -> None:
    """coturn 4.6 signs the error responses to authenticated requests, so a 403 for a
    denied peer still fails the request at once (not after 39.5 s of discarded answers)."""
    from test_turn_interop import PASSWORD, USER

    from pyrtcstack.aio.turn import connect_turn
    from pyrtcstack.turn.errors import TurnRemoteError

    async def main() -> None:
        query = "?transport=tcp" if transport == "tcp" else ""
        conn = await connect_turn(f"turn:127.0.0.1:{coturn_denying.port}{query}", USER, PASSWORD)
        try:
            await conn.allocate(timeout=10)
            with pytest.raises(TurnRemoteError) as info:
                await conn.create_permission(("10.9.0.1", 9), timeout=5)
            assert info.value.code == 403
            assert conn.core.stats["bad_integrity"] == 0
        finally:
            await conn.close(timeout=5)

    asyncio.run(main())
