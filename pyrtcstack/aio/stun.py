"""asyncio runners for the STUN cores: a Binding request, RFC 5780 NAT discovery, a server.

Everything here is a thin shell around :mod:`pyrtcstack.stun`'s sans-I/O cores and
:class:`~pyrtcstack.aio.endpoint.CoreEndpoint`: the cores decide what to send and when;
this module owns the sockets and the clock.

* :func:`stun_binding` — one Binding transaction from a fresh socket; returns a
  :class:`BindingResult` (mapped address, response, local address, RTT).
* :func:`discover_nat` — run :class:`~pyrtcstack.stun.nat.NatBehaviorDiscovery` and
  return its :class:`~pyrtcstack.stun.nat.NatReport`.
* :func:`serve_stun` — serve a :class:`~pyrtcstack.stun.server.StunServer` on one UDP
  socket, or four for RFC 5780 (``other=``); returns a :class:`StunServerRunner`.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from ..common.core import Address, Event
from ..common.errors import PyrtcstackError, RemoteProtocolError
from ..stun import (
    REASON_PHRASES,
    UDP_POLICY,
    AttributeType,
    LongTermAuth,
    LongTermServerAuth,
    Message,
    Method,
    NatBehaviorDiscovery,
    NatReport,
    RetransmissionPolicy,
    StunClient,
    StunServer,
    StunUsageError,
    TransactionFailed,
    TransactionSucceeded,
)
from .endpoint import CoreEndpoint, open_endpoint

__all__ = [
    "BindingResult",
    "StunResponseError",
    "StunServerRunner",
    "StunTimeoutError",
    "StunUnreachableError",
    "discover_nat",
    "serve_stun",
    "source_address_for",
    "stun_binding",
]


#: stun_binding gives up after this many requests (challenge, stale nonce, redirect ...).
MAX_ATTEMPTS = 4


class StunTimeoutError(PyrtcstackError, TimeoutError):
    """No answer within the retransmission schedule (RFC 8489 §6.2.1)."""


class StunUnreachableError(StunTimeoutError):
    """No answer will come: the server's host said its port is unreachable (ICMP, asked
    for with ``stop_on_unreachable``). The same outcome as the timeout, without the wait."""


class StunResponseError(RemoteProtocolError):
    """The server answered with an error response (``code``, ``reason``)."""

    def __init__(self, code: int, reason: str) -> None:
        # unauthenticated errors carry no reason phrase (stun/server.py): name the code
        reason = reason or REASON_PHRASES.get(code, "")
        super().__init__(f"error response {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class BindingResult:
    """The outcome of :func:`stun_binding`."""

    local: Address
    mapped: Address | None
    response: Message
    rtt: float | None


def source_address_for(server: Address) -> str:
    """The local IP the OS would use to reach ``server`` (a connected UDP socket sends
    nothing; it only asks the routing table)."""
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(server)
        return str(s.getsockname()[0])


def _default_local(server: Address) -> Address:
    return ("::" if ":" in server[0] else "0.0.0.0", 0)


async def stun_binding(
    server: Address,
    *,
    local_addr: Address | None = None,
    policy: RetransmissionPolicy = UDP_POLICY,
    message: Message | None = None,
    key: bytes | None = None,
    credentials: tuple[str, str] | None = None,
    follow_alternate: bool = True,
    stop_on_unreachable: bool = False,
) -> BindingResult:
    """Send one Binding request (or ``message``) to ``server`` and wait for the answer.

    With ``credentials=(username, password)`` the long-term mechanism runs (RFC 8489
    §9.2: 401 → retry with REALM/NONCE, 438 → retry with the new nonce). A 300 (Try
    Alternate) with ALTERNATE-SERVER is followed once (§6.3.4) when ``follow_alternate``.
    Raises :class:`StunTimeoutError` after the schedule ends, and
    :class:`StunResponseError` on a final error response. With ``stop_on_unreachable``
    the socket is connected to the server, and an ICMP port unreachable from it ends the
    transaction at once with :class:`StunUnreachableError` (RFC 8489 says nothing of
    ICMP; off by default, as an ICMP error is easy to forge; the CLI asks for it: a
    person who named the wrong port should not wait 39.5 s to learn it).
    """
    auth = LongTermAuth(*credentials) if credentials is not None else None
    redirected = False
    for _ in range(MAX_ATTEMPTS):
        msg = message or Message(Method.BINDING)
        # a fresh transaction id for every attempt (§6.3.4, §9.2.5)
        msg = Message(msg.method, msg.message_class, None, msg.attributes)
        attempt_key = key
        if auth is not None:
            attempt_key = auth.apply(msg)
        event, local = await _one_transaction(
            server, local_addr, policy, msg, attempt_key, stop_on_unreachable=stop_on_unreachable
        )
        if isinstance(event, TransactionSucceeded):
            if auth is not None:
                auth.handle_success()
            mapped = event.response.get_address(
                AttributeType.XOR_MAPPED_ADDRESS
            ) or event.response.get_address(AttributeType.MAPPED_ADDRESS)
            return BindingResult(local, mapped, event.response, event.rtt)
        if isinstance(event, TransactionFailed):
            code = event.error.code
            alternate = event.response.get_address(AttributeType.ALTERNATE_SERVER)
            if code == 300 and alternate and follow_alternate and not redirected:
                server, redirected = alternate, True
                continue
            if code in (401, 438) and auth is not None and auth.handle_error(event.response):
                continue
            raise StunResponseError(code, event.error.reason)
        raise StunTimeoutError(f"no answer from {server[0]}:{server[1]}")
    raise StunResponseError(500, "too many attempts")


async def _one_transaction(
    server: Address,
    local_addr: Address | None,
    policy: RetransmissionPolicy,
    message: Message,
    key: bytes | None,
    *,
    stop_on_unreachable: bool,
) -> tuple[Event, Address]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Event] = loop.create_future()

    def on_event(event: Event) -> None:
        if not done.done():
            done.set_result(event)

    def on_error(exc: OSError) -> None:
        if isinstance(exc, ConnectionRefusedError) and not done.done():
            where = f"{server[0]}:{server[1]}"
            done.set_exception(
                StunUnreachableError(
                    f"no answer from {where}: port unreachable (nothing listens there)"
                )
            )

    client = StunClient(policy=policy)
    endpoint = await open_endpoint(
        client,
        local_addr or _default_local(server),
        on_event,
        remote_addr=server if stop_on_unreachable else None,
    )
    endpoint.on_error = on_error
    try:
        client.request(message, server, loop.time(), key=key)
        endpoint.drain()
        return await done, endpoint.local_address
    finally:
        endpoint.close()


async def discover_nat(
    server: Address,
    *,
    local_addr: Address | None = None,
    policy: RetransmissionPolicy = UDP_POLICY,
    probe_policy: RetransmissionPolicy | None = None,
) -> NatReport:
    """Classify the NAT between us and an RFC 5780 ``server`` (§4.3 and §4.4)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[NatReport] = loop.create_future()

    def on_event(event: Event) -> None:
        if isinstance(event, NatReport) and not done.done():
            done.set_result(event)

    local_addr = local_addr or _default_local(server)
    disco = NatBehaviorDiscovery(server, policy=policy, probe_policy=probe_policy)
    endpoint = await open_endpoint(disco, local_addr, on_event)
    try:
        host, port = endpoint.local_address
        if host in ("0.0.0.0", "::"):
            host = source_address_for(server)
        disco.local = (host, port)
        disco.start(loop.time())
        endpoint.drain()
        return await done
    finally:
        endpoint.close()


class _GroupEndpoint(CoreEndpoint):
    """A CoreEndpoint that also drains its siblings: an RFC 5780 answer may leave from
    another of the server's sockets."""

    group: list[CoreEndpoint]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        super().datagram_received(data, addr)
        for sibling in self.group:
            if sibling is not self:
                sibling.drain()


class StunServerRunner:
    """The sockets of a running :class:`StunServer` (see :func:`serve_stun`)."""

    def __init__(self, server: StunServer, endpoints: list[CoreEndpoint]) -> None:
        self.server = server
        self.endpoints = endpoints

    @property
    def addresses(self) -> list[Address]:
        return [e.local_address for e in self.endpoints]

    def close(self) -> None:
        for e in self.endpoints:
            e.close()

    async def wait_closed(self) -> None:
        for e in self.endpoints:
            await e.wait_closed()


async def serve_stun(
    primary: Address,
    *,
    other: Address | None = None,
    software: str | None = None,
    mapped_address: bool = False,
    long_term: LongTermServerAuth | None = None,
) -> StunServerRunner:
    """Serve STUN on ``primary`` (and RFC 5780 on four sockets with ``other``; then both
    addresses need explicit ports, since the server names them in OTHER-ADDRESS)."""
    if other is not None and (primary[1] == 0 or other[1] == 0):
        raise StunUsageError("RFC 5780 mode needs explicit ports")
    loop = asyncio.get_running_loop()
    server = StunServer(
        primary,
        other=other,
        software=software,
        mapped_address=mapped_address,
        long_term=long_term,
    )
    group: list[CoreEndpoint] = []
    try:
        for local, core in server.endpoints().items():
            _, proto = await loop.create_datagram_endpoint(
                lambda core=core: _GroupEndpoint(core),  # type: ignore[misc]
                local_addr=local,
            )
            proto.group = group
            group.append(proto)
    except OSError:
        for e in group:
            e.close()
        raise
    return StunServerRunner(server, group)
