"""asyncio drivers for the TURN cores: a client over UDP, TCP or TLS (the server's driver
lives in :mod:`.turn_server` and is re-exported here).

Client::

    conn = await connect_turn("turn:127.0.0.1:3478?transport=tcp", "user", "pass")
    allocated = await conn.allocate()            # Allocated(relayed_address, mapped_address, ...)
    await conn.bind_channel(("127.0.0.1", 9000))  # optional: ChannelData from now on
    conn.send(b"hello", ("127.0.0.1", 9000))
    data, peer = await conn.recv()
    await conn.close()                           # Refresh LIFETIME 0, then close the socket

``turn:`` is UDP (one datagram socket), ``turn:...?transport=tcp`` TCP and ``turns:`` TLS
(Python's :mod:`ssl`; pass ``ssl_context``, e.g. one with verification disabled for a test
server's self-signed certificate). Over a stream the bytes are cut into frames by
:class:`~pyrtcstack.turn.framing.StreamFramer`; a framing error closes the connection.

Server: :func:`start_turn_server` and :class:`TurnServerEndpoint`, see
:mod:`pyrtcstack.aio.turn_server` (limits, logging).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import cast

from ..common.core import Address, Event
from ..turn import (
    Allocated,
    ChannelBound,
    ClientState,
    DataReceived,
    Deallocated,
    PermissionCreated,
    Refreshed,
    RequestFailed,
    StreamFramer,
    TurnClient,
    TurnError,
    TurnFramingError,
    TurnUrl,
    parse_turn_url,
)
from .endpoint import CoreEndpoint
from .stream import StreamEndpoint
from .turn_server import TurnServerEndpoint, start_turn_server

__all__ = [
    "MAX_RECEIVE_QUEUE",
    "TurnClientConnection",
    "TurnServerEndpoint",
    "connect_turn",
    "start_turn_server",
]

#: Data from peers waiting for :meth:`TurnClientConnection.recv`; older ones are dropped.
MAX_RECEIVE_QUEUE = 1024
#: Largest datagram read from a relayed socket.
MAX_DATAGRAM = 65535


class TurnClientConnection:
    """One TURN allocation driven by asyncio (see the module docstring)."""

    def __init__(self, core: TurnClient) -> None:
        self.core = core
        self.events: list[Event] = []
        self._new_event = asyncio.Event()
        self._received: deque[tuple[bytes, Address]] = deque()
        self._data_ready = asyncio.Event()
        self.dropped = 0
        self._driver: CoreEndpoint | StreamEndpoint[bytes] | None = None
        self._loop = asyncio.get_running_loop()
        #: Optional callback for every event (after the connection's own bookkeeping);
        #: relayed data is not an event here: it goes to :meth:`recv`.
        self.on_event: Callable[[Event], None] | None = None
        #: the ICMP port unreachable that ended the waits (``stop_on_unreachable``)
        self.unreachable: TurnError | None = None
        core.on_data = self._on_data

    def __repr__(self) -> str:
        return f"<TurnClientConnection {self.core!r}>"

    def _on_data(self, data: bytes, peer: Address, channel: int | None) -> None:
        # The core's on_data fast path: relayed data goes straight to the recv() queue.
        if len(self._received) >= MAX_RECEIVE_QUEUE:
            self._received.popleft()
            self.dropped += 1
        self._received.append((data, peer))
        self._data_ready.set()

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, DataReceived):
            self._on_data(event.data, event.peer, event.channel)
        else:
            self.events.append(event)
            self._new_event.set()
        if self.on_event is not None:
            self.on_event(event)

    def _drain(self) -> None:
        if self._driver is not None:
            self._driver.drain()

    def _on_socket_error(self, exc: OSError) -> None:
        # connect_turn(stop_on_unreachable=True): the server's host says nothing listens
        if isinstance(exc, ConnectionRefusedError) and self.unreachable is None:
            host, port = self.core.server[:2]
            self.unreachable = TurnError(
                f"no answer from {host}:{port}: port unreachable (nothing listens there)"
            )
            self._new_event.set()

    @property
    def local_address(self) -> Address | None:
        driver = self._driver
        if driver is None or driver.transport is None:
            return None
        name = driver.transport.get_extra_info("sockname")
        return (str(name[0]), int(name[1])) if name else None

    async def _wait(
        self, match: Callable[[Event], bool], what: str, timeout: float, start: int = 0
    ) -> Event:
        """Wait for the first event from index ``start`` that ``match``es; a failure of
        ``what`` (or any fatal one) raises its typed error."""

        async def waiter() -> Event:
            nonlocal start
            while True:
                if self.unreachable is not None:
                    raise self.unreachable
                for event in self.events[start:]:
                    if match(event):
                        return event
                    if isinstance(event, RequestFailed) and (event.fatal or event.method == what):
                        raise event.error
                start = len(self.events)
                self._new_event.clear()
                await self._new_event.wait()

        return await asyncio.wait_for(waiter(), timeout)

    async def allocate(self, timeout: float = 45.0) -> Allocated:
        """Allocate (RFC 8656 §7) and wait for the result; raises the typed TURN error."""
        self.core.allocate(self._loop.time())
        self._drain()
        event = await self._wait(lambda e: isinstance(e, Allocated), "allocate", timeout)
        return cast(Allocated, event)

    async def create_permission(self, peer: Address | str, timeout: float = 45.0) -> None:
        """Create (or refresh) the permission for ``peer``'s IP and wait for it."""
        mark = len(self.events)
        self.core.create_permission(peer, self._loop.time())
        self._drain()
        ip = str(ipaddress.ip_address(peer if isinstance(peer, str) else peer[0]))
        await self._wait(
            lambda e: isinstance(e, PermissionCreated) and e.peer_ip == ip,
            "create-permission",
            timeout,
            mark,
        )

    async def bind_channel(self, peer: Address, timeout: float = 45.0) -> int:
        """Bind a channel to ``peer`` (RFC 8656 §12) and wait until the server agrees."""
        mark = len(self.events)
        number = self.core.bind_channel(peer, self._loop.time())
        self._drain()
        if self.core.channel_for(peer) is None:
            await self._wait(
                lambda e: isinstance(e, ChannelBound) and e.channel == number,
                "channel-bind",
                timeout,
                mark,
            )
        return number

    def send(self, data: bytes, peer: Address) -> None:
        """Relay ``data`` to ``peer`` (ChannelData on a bound channel, else a Send
        indication; a permission is created on demand)."""
        self.core.send(data, peer, self._loop.time())
        self._drain()

    async def recv(self, timeout: float | None = None) -> tuple[bytes, Address]:
        """The next datagram from a peer: ``(data, peer_address)``."""

        async def waiter() -> tuple[bytes, Address]:
            while not self._received:
                self._data_ready.clear()
                await self._data_ready.wait()
            return self._received.popleft()

        return await asyncio.wait_for(waiter(), timeout)

    async def refresh(self, timeout: float = 45.0) -> None:
        """Refresh the allocation now (normally the core does it before expiry)."""
        mark = len(self.events)
        self.core.refresh(self._loop.time())
        self._drain()
        await self._wait(lambda e: isinstance(e, Refreshed), "refresh", timeout, mark)

    async def close(self, timeout: float = 5.0) -> None:
        """Deallocate (Refresh LIFETIME 0) if allocated, then close the transport."""
        mark = len(self.events)
        self.core.close(self._loop.time())
        self._drain()
        if self.core.state is ClientState.DEALLOCATING:
            with contextlib.suppress(asyncio.TimeoutError, TurnError):
                await self._wait(lambda e: isinstance(e, Deallocated), "deallocate", timeout, mark)
        if self._driver is not None:
            self._driver.close()


async def connect_turn(
    server: str | Address,
    username: str,
    password: str,
    *,
    transport: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    local_addr: Address | None = None,
    lifetime: int = 600,
    software: str | None = None,
    address_family: int | None = None,
    rng: random.Random | None = None,
    stop_on_unreachable: bool = False,
) -> TurnClientConnection:
    """Connect to a TURN server given as a ``turn:``/``turns:`` URI or ``(host, port)``.

    ``transport`` ("udp", "tcp", "tls") overrides the URI's; ``address_family`` (4 or 6)
    asks for a relayed address of that family. The connection is ready for
    :meth:`TurnClientConnection.allocate`. Over UDP with ``stop_on_unreachable`` the
    socket is connected to the server (everything a TURN client sends goes there), and an
    ICMP port unreachable from it fails the waiting calls at once with a
    :class:`TurnError` instead of their timeout; off by default, as an ICMP error is easy
    to forge (over TCP/TLS a refused connection raises at once anyway).
    """
    if isinstance(server, str):
        url = parse_turn_url(server)
    else:
        url = TurnUrl(server[0], server[1], transport or "udp")
    kind = transport or url.transport
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(url.host, url.port, type=socket.SOCK_DGRAM)
    ip = str(infos[0][4][0])
    address: Address = (ip, url.port)
    core = TurnClient(
        address,
        username,
        password,
        reliable=kind != "udp",
        lifetime=lifetime,
        software=software,
        address_family=address_family,
        rng=rng,
    )
    conn = TurnClientConnection(core)
    if kind == "udp":
        local = local_addr or (("::", 0) if ":" in ip else ("0.0.0.0", 0))
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: CoreEndpoint(core, conn._handle_event),
            local_addr=local,
            remote_addr=address if stop_on_unreachable else None,
        )
        if stop_on_unreachable:
            endpoint.on_error = conn._on_socket_error
        conn._driver = endpoint
    elif kind in ("tcp", "tls"):
        context = None
        if kind == "tls":
            context = ssl_context or ssl.create_default_context()
        _, driver = await loop.create_connection(
            lambda: StreamEndpoint(
                StreamFramer(),
                TurnFramingError,
                peer=core.server,
                core=core,
                on_event=conn._handle_event,
            ),
            ip,
            url.port,
            ssl=context,
            server_hostname=(server_hostname or url.host) if context is not None else None,
            local_addr=local_addr,
        )
        conn._driver = driver
    else:
        raise TurnError(f"unknown TURN transport {kind!r}")
    return conn
