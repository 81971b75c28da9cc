"""asyncio driver for the TURN server core: UDP, TCP and TLS clients, UDP relays, limits.

Server::

    server = await start_turn_server(("127.0.0.1", 3478), {"user": "pass"}, realm="example.org",
                                     tcp=True)                # also TURN over TCP on the same port
    ...
    server.close()

A TCP/TLS client (``tcp=True``, ``tls=(host, port)`` with ``ssl_context``) is one 5-tuple
for the core; its frames are cut by a :class:`~pyrtcstack.turn.framing.StreamFramer`,
answers go back on its connection (ChannelData padded), and its allocation is deleted when
the connection closes (RFC 8656 §5).

Each allocation's relayed address is a real UDP socket bound on ``relay_ip`` (port chosen by
the OS) and read with ``loop.add_reader``, so the sans-I/O server core learns the address
synchronously, inside the Allocate it is answering.

Limits of this layer (the core has its own: peer policy, quotas, rates; docs/turn.md):

* **Connections.** At most ``max_connections`` TCP/TLS connections in all (default: a
  quarter of the open-file limit, at most 10,000) and ``max_connections_per_ip`` from one
  IP (default 32); beyond, a new connection is accepted and closed at once, counted in
  ``stats["connections_refused"]``.
* **Authentication timeout.** A connection that holds no allocation ``auth_timeout``
  seconds (default 10) after it was accepted, or after its allocation ended, is closed
  (``stats["auth_timeouts"]``): idle and slowloris clients (a frame trickled byte by byte)
  do not keep a file descriptor. The TLS handshake has the same bound.
* **Out of file descriptors.** ``EMFILE``/``ENFILE`` (and ``ENOBUFS``/``ENOMEM``) on
  ``accept()`` pause accepting for :data:`ACCEPT_RETRY_DELAY` s (``stats["accept_errors"]``);
  on a relay ``socket()`` the Allocate gets 508 (``stats["relay_socket_errors"]``).
* **A client that does not read** its TCP/TLS connection gets at most
  :data:`MAX_STREAM_BUFFER` bytes queued; the rest is dropped (``stats["stream_overflow"]``).
* **A framing error** on a TCP/TLS connection (RFC 8656 §12.5: a bad ChannelData number or
  length, an oversized frame) closes it, counted in ``stats["framing_errors"]``.
* No handler lets an exception out to the event loop: an unexpected one is counted
  (``stats["handler_errors"]``) and logged, rate-limited.

Logging: the ``pyrtcstack.turn.server`` logger gets one line per allocation, relay closed,
denied peer, refused or timed-out connection and disconnect, each kind rate-limited
(:class:`RateLimitedLog`); expected conditions never log a traceback. Nothing logged holds a
password or key.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import cast

from ..common.core import Address, Event
from ..turn import (
    CHANNEL_NUMBER_MAX,
    PeerDenied,
    RelayClosed,
    RelayOpened,
    StreamFramer,
    TurnError,
    TurnFramingError,
    TurnServer,
    frame_for_stream,
)
from .endpoint import CoreEndpoint
from .stream import StreamEndpoint
from .udp import UdpSocket

__all__ = [
    "ACCEPT_RETRY_DELAY",
    "AUTH_TIMEOUT",
    "MAX_CONNECTIONS_PER_IP",
    "MAX_STREAM_BUFFER",
    "RateLimitedLog",
    "TurnServerEndpoint",
    "default_max_connections",
    "start_turn_server",
]

log = logging.getLogger("pyrtcstack.turn.server")

#: Seconds a TCP/TLS connection may stay without an allocation (and for its TLS handshake).
AUTH_TIMEOUT = 10.0
#: TCP/TLS connections from one IP address.
MAX_CONNECTIONS_PER_IP = 32
#: Seconds accepting pauses after the process ran out of file descriptors.
ACCEPT_RETRY_DELAY = 1.0
#: Connections taken from the listen queue per wake-up.
ACCEPT_BATCH = 64
#: Bytes queued for one TCP/TLS client that does not read; beyond, what the server would
#: send it (answers, relayed data) is dropped and counted, as a UDP path would lose it.
MAX_STREAM_BUFFER = 1 << 20
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def default_max_connections() -> int:
    """A quarter of the soft open-file limit (each connection may also hold a relay
    socket, and the rest is for UDP clients' relays), between 16 and 10,000."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(10_000, soft // 4))


class RateLimitedLog:
    """At most ``burst`` lines of one kind at once and ``rate`` per second after; the next
    line let through says how many of its kind were suppressed. Kinds are a small fixed
    set of strings (never an address), so the table stays small."""

    def __init__(self, logger: logging.Logger, rate: float = 1.0, burst: float = 20.0) -> None:
        self.logger = logger
        self.rate = rate
        self.burst = burst
        self._state: dict[str, list[float]] = {}  # kind -> [tokens, stamp, suppressed]

    def __call__(
        self, kind: str, now: float, level: int, message: str, exc_info: bool = False
    ) -> None:
        state = self._state.get(kind)
        if state is None:
            state = self._state[kind] = [self.burst, now, 0.0]
        state[0] = min(self.burst, state[0] + (now - state[1]) * self.rate)
        state[1] = now
        if state[0] < 1.0:
            state[2] += 1
            return
        state[0] -= 1.0
        if state[2]:
            message += f" (+{int(state[2])} similar suppressed)"
            state[2] = 0.0
        self.logger.log(level, "%s", message, exc_info=exc_info)


def _fmt(addr: Address) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


class _Listener:
    """One listening TCP socket whose connections are accepted here (not by asyncio's
    server), so running out of descriptors pauses accepting without a traceback."""

    def __init__(self, sock: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
        self.sock = sock
        self.ssl_context = ssl_context
        self.paused = False
        self.closed = False

    @property
    def local_address(self) -> Address:
        host, port = self.sock.getsockname()[:2]
        return (str(host), int(port))

    def close(self) -> None:
        self.closed = True
        self.sock.close()


class TurnServerEndpoint(CoreEndpoint):
    """Drives a :class:`TurnServer`: the listening UDP socket, TCP/TLS listeners, and one
    UDP socket per relayed address (an :class:`~pyrtcstack.aio.udp.UdpSocket`, read in
    batches; its errors join :attr:`send_errors` when the relay is released)."""

    def __init__(
        self,
        core: TurnServer,
        on_event: Callable[[Event], None] | None = None,
        *,
        auth_timeout: float = AUTH_TIMEOUT,
        max_connections: int | None = None,
        max_connections_per_ip: int = MAX_CONNECTIONS_PER_IP,
    ) -> None:
        super().__init__(core, on_event)
        self.server = core
        self.relays: dict[Address, UdpSocket] = {}
        #: TCP/TLS client connections by the client's address.
        self.streams: dict[Address, asyncio.Transport] = {}
        self.stream_servers: list[_Listener] = []
        self.auth_timeout = auth_timeout
        self.max_connections = (
            default_max_connections() if max_connections is None else max_connections
        )
        self.max_connections_per_ip = max_connections_per_ip
        self.connections = 0
        self._per_ip: dict[str, int] = {}
        self._starting: set[asyncio.Task[None]] = set()
        #: Allocations, relays closed, disconnects: a line each unless there is a flood.
        self.log = RateLimitedLog(log, rate=2.0, burst=20.0)
        #: Denials, refusals, timeouts, errors: a few lines, then one per kind per 10 s
        #: saying how many were suppressed (an attacker decides how many there are).
        self.alarm = RateLimitedLog(log, rate=0.1, burst=3.0)
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "connections",
                "connections_refused",
                "auth_timeouts",
                "accept_errors",
                "tls_failures",
                "relay_socket_errors",
                "handler_errors",
                "stream_overflow",
                "framing_errors",
            ),
            0,
        )

    # ------------------------------------------------------------------ UDP
    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            super().datagram_received(data, addr)
        except Exception:  # a bug in a core: counted and logged, never out to the loop
            self._handler_error("datagram")

    def _handler_error(self, where: str) -> None:
        # Not an expected condition (a bug): the traceback is logged, rate-limited.
        self.stats["handler_errors"] += 1
        self.alarm(
            "handler-error",
            self._loop.time(),
            logging.ERROR,
            f"unexpected error in the TURN server's {where} handler",
            exc_info=True,
        )

    def bind_relay(self, relay_ip: str) -> Callable[[Address], Address | None]:
        """The ``relay_allocator`` for the core: bind a UDP socket on ``relay_ip``; None
        (the core answers 508) when the system has no socket to give."""

        def allocate(client: Address) -> Address | None:
            family = socket.AF_INET6 if ":" in relay_ip else socket.AF_INET
            try:
                sock = socket.socket(family, socket.SOCK_DGRAM)
            except OSError as exc:
                self.stats["relay_socket_errors"] += 1
                self.alarm(
                    "relay-socket",
                    self._loop.time(),
                    logging.WARNING,
                    f"no relay socket for {_fmt(client)}: {exc.strerror or exc} (508 sent)",
                )
                return None
            try:
                sock.bind((relay_ip, 0))
                sock.setblocking(False)
                relay = UdpSocket(self._loop, sock, self._on_relay_batch, offload=False)
            except OSError:
                sock.close()
                self.stats["relay_socket_errors"] += 1
                return None
            self.relays[relay.local] = relay
            return relay.local

        return allocate

    def release_relay(self, relayed: Address) -> None:
        relay = self.relays.pop(relayed, None)
        if relay is not None:
            self.send_errors += relay.socket_errors + relay.send_drops
            relay.close()

    def _on_relay_batch(self, batch: list[tuple[bytes, Address]], relayed: Address) -> None:
        try:
            now = self._loop.time()
            for data, addr in batch:
                self.server.receive_relayed(data, addr, relayed, now)
            self.drain()
        except Exception:
            self._handler_error("relay")

    def drain(self) -> None:
        """Send the core's output: to UDP clients on the listening socket, to TCP/TLS
        clients on their connection (ChannelData padded, RFC 8656 §12.5), and from the
        relayed sockets to peers; deliver events; re-arm the timer."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        core = self.server
        streams = self.streams
        while True:
            progressed = False
            for data, addr in core.datagrams_to_send(self._loop.time()):
                stream = streams.get(addr)
                if stream is not None:
                    if stream.get_write_buffer_size() > MAX_STREAM_BUFFER:
                        self.stats["stream_overflow"] += 1
                    else:
                        stream.write(frame_for_stream(data))
                else:
                    transport.sendto(data, addr)
                progressed = True
            while (event := core.next_event()) is not None:
                progressed = True
                self._log_event(event)
                if self.on_event is not None:
                    self.on_event(event)
            if not progressed:
                break
        for data, relayed, peer in core.relayed_datagrams_to_send():
            relay = self.relays.get(relayed)
            if relay is not None:
                relay.sendto(data, peer)
        self._timer.arm(core.get_timer())

    def _log_event(self, event: Event) -> None:
        now = self._loop.time()
        if isinstance(event, PeerDenied):
            self.alarm(
                f"denied:{event.reason}",
                now,
                logging.WARNING,
                f"denied peer {_fmt(event.peer)} to client {_fmt(event.client)}: "
                f"{event.reason} ({event.method}, 403)"
                if event.method != "send"
                else f"dropped data from client {_fmt(event.client)} to {_fmt(event.peer)}: "
                f"{event.reason}",
            )
        elif isinstance(event, RelayOpened):
            self.log(
                "allocation",
                now,
                logging.INFO,
                f"allocation {_fmt(event.client)} user {event.username!r} "
                f"-> relay {_fmt(event.relayed_address)}",
            )
        elif isinstance(event, RelayClosed):
            self.log(
                "relay-closed",
                now,
                logging.INFO,
                f"relay {_fmt(event.relayed_address)} closed ({event.reason})",
            )

    # ------------------------------------------------------------------ TCP / TLS
    async def listen_stream(
        self, listen: Address, ssl_context: ssl.SSLContext | None = None
    ) -> _Listener:
        """Also accept TURN clients over TCP (or TLS with ``ssl_context``) on ``listen``
        (RFC 8656 §5); each connection is one client 5-tuple. The listening address is
        one the core refuses as a peer."""
        infos = await self._loop.getaddrinfo(
            listen[0], listen[1], type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family = infos[0][0]
        sock = socket.create_server(
            (listen[0], listen[1]), family=family, backlog=128, reuse_port=False
        )
        sock.setblocking(False)
        listener = _Listener(sock, ssl_context)
        self._loop.add_reader(sock.fileno(), self._accept, listener)
        self.stream_servers.append(listener)
        self.server.add_server_address(listener.local_address)
        return listener

    def _accept(self, listener: _Listener) -> None:
        now = self._loop.time()
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.stats["accept_errors"] += 1
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(listener)
                    self.alarm(
                        "accept-error",
                        now,
                        logging.WARNING,
                        f"accept() failed: {exc.strerror or exc}; not accepting for "
                        f"{ACCEPT_RETRY_DELAY:g} s",
                    )
                else:
                    self.alarm("accept-error", now, logging.WARNING, f"accept() failed: {exc}")
                return
            peer: Address = (str(addr[0]), int(addr[1]))
            why = self._refusal(peer[0])
            if why is not None:
                self.stats["connections_refused"] += 1
                with contextlib.suppress(OSError):
                    conn.close()
                self.alarm(
                    "refused",
                    now,
                    logging.WARNING,
                    f"refused connection from {_fmt(peer)}: {why}",
                )
                continue
            self.stats["connections"] += 1
            self.connections += 1
            self._per_ip[peer[0]] = self._per_ip.get(peer[0], 0) + 1
            protocol = _ServerStream(self, peer, "tls" if listener.ssl_context else "tcp")
            task = self._loop.create_task(self._start_stream(conn, listener, protocol))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    def _refusal(self, ip: str) -> str | None:
        if self.connections >= self.max_connections:
            return f"{self.max_connections} connections open (max_connections)"
        if self._per_ip.get(ip, 0) >= self.max_connections_per_ip:
            return f"{self.max_connections_per_ip} connections from this IP"
        return None

    def _pause(self, listener: _Listener) -> None:
        if listener.paused or listener.closed:
            return
        listener.paused = True
        self._loop.remove_reader(listener.sock.fileno())

        def resume() -> None:
            listener.paused = False
            if not listener.closed:
                self._loop.add_reader(listener.sock.fileno(), self._accept, listener)

        self._loop.call_later(ACCEPT_RETRY_DELAY, resume)

    async def _start_stream(
        self, conn: socket.socket, listener: _Listener, protocol: _ServerStream
    ) -> None:
        conn.setblocking(False)
        try:
            if listener.ssl_context is not None:
                await self._loop.connect_accepted_socket(
                    lambda: protocol,
                    conn,
                    ssl=listener.ssl_context,
                    ssl_handshake_timeout=self.auth_timeout,
                )
            else:
                await self._loop.connect_accepted_socket(lambda: protocol, conn)
        except (TimeoutError, OSError, ValueError) as exc:
            # A failed or too slow TLS handshake, or a connection reset meanwhile.
            self.stats["tls_failures"] += 1
            protocol.release()
            with contextlib.suppress(OSError):
                conn.close()
            self.alarm(
                "tls-failure",
                self._loop.time(),
                logging.INFO,
                f"connection from {_fmt(protocol.peer)} failed before TURN: {type(exc).__name__}",
            )

    def _connection_ended(self, ip: str) -> None:
        self.connections -= 1
        left = self._per_ip.get(ip, 1) - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)

    def close(self) -> None:
        for listener in self.stream_servers:
            if not listener.closed:
                if not listener.paused:
                    self._loop.remove_reader(listener.sock.fileno())
                listener.close()
        for task in list(self._starting):
            task.cancel()
        for stream in list(self.streams.values()):
            stream.close()
        for relayed in list(self.relays):
            self.release_relay(relayed)
        super().close()


class _ServerStream(StreamEndpoint[bytes]):
    """One TCP/TLS client of a :class:`TurnServerEndpoint`: a :class:`StreamEndpoint` into
    the server's one core, which serves every client and writes to each stream by its
    address in :meth:`TurnServerEndpoint.drain` (so the endpoint keeps the one timer).
    Around that path: the connection counts, and the close when it holds no allocation for
    :attr:`TurnServerEndpoint.auth_timeout`."""

    def __init__(self, endpoint: TurnServerEndpoint, peer: Address, kind: str) -> None:
        legacy = endpoint.server.max_channel > CHANNEL_NUMBER_MAX
        super().__init__(
            StreamFramer(legacy_channels=legacy),
            TurnFramingError,
            peer=peer,
            receive=endpoint.server.receive_datagram,
            drain=endpoint.drain,
        )
        self.endpoint = endpoint
        self.peer: Address = peer
        self.kind = kind
        self._released = False
        self._reason = ""
        loop = endpoint._loop
        self._auth_timer: asyncio.TimerHandle | None = loop.call_later(
            endpoint.auth_timeout, self._check_auth
        )

    def release(self) -> None:
        """Give back this connection's place in the connection counts (once)."""
        if not self._released:
            self._released = True
            self.endpoint._connection_ended(self.peer[0])
            if self._auth_timer is not None:
                self._auth_timer.cancel()
                self._auth_timer = None

    def _check_auth(self) -> None:
        endpoint = self.endpoint
        self._auth_timer = None
        if self._released:
            return
        if self.transport is not None and endpoint.server.has_allocation(self.peer):
            self._auth_timer = endpoint._loop.call_later(endpoint.auth_timeout, self._check_auth)
            return
        if self.transport is None:
            return  # still in the TLS handshake, which has its own timeout
        endpoint.stats["auth_timeouts"] += 1
        self._reason = f"no allocation after {endpoint.auth_timeout:g} s"
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = cast(asyncio.Transport, transport)
        self.endpoint.streams[self.peer] = self.transport
        self.endpoint.server.connection_opened(self.peer, self.kind)

    def framing_error(self, exc: Exception) -> None:
        self._reason = "framing error"  # RFC 8656 §12.5: closed, it cannot be resynchronised
        self.endpoint.stats["framing_errors"] += 1

    def deliver(self, frames: list[bytes], now: float) -> None:
        try:
            super().deliver(frames, now)
        except Exception:
            self.endpoint._handler_error("stream")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        endpoint = self.endpoint
        self.release()
        endpoint.streams.pop(self.peer, None)
        try:
            endpoint.server.connection_closed(self.peer, endpoint._loop.time())
            endpoint.drain()
        except Exception:
            endpoint._handler_error("disconnect")
        reason = self._reason or (f"{type(exc).__name__}" if exc is not None else "closed")
        endpoint.log(
            "disconnect",
            endpoint._loop.time(),
            logging.INFO,
            f"{self.kind} connection from {_fmt(self.peer)} ended ({reason})",
        )


async def start_turn_server(
    listen: Address,
    users: Mapping[str, str],
    realm: str = "pyrtcstack",
    *,
    relay_ip: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    tcp: bool = False,
    tls: Address | None = None,
    ssl_context: ssl.SSLContext | None = None,
    auth_timeout: float = AUTH_TIMEOUT,
    max_connections: int | None = None,
    max_connections_per_ip: int = MAX_CONNECTIONS_PER_IP,
    **kwargs: object,
) -> TurnServerEndpoint:
    """Start a TURN server on UDP ``listen``; relayed sockets are bound on ``relay_ip``
    (default: the listening IP). ``tcp=True`` also accepts TCP clients on the same address
    and port, ``tls=(host, port)`` TLS clients with ``ssl_context`` (a server context with
    its certificate loaded). ``auth_timeout``, ``max_connections`` and
    ``max_connections_per_ip`` bound the TCP/TLS connections (module docstring). Extra
    keyword arguments go to :class:`TurnServer` (``allow_loopback_peers``,
    ``peer_policy``, ``user_quota``, ``max_bps``, ...)."""
    loop = asyncio.get_running_loop()
    holder: list[TurnServerEndpoint] = []

    def allocate(client: Address) -> Address | None:
        return holder[0].bind_relay(relay_ip or listen[0])(client)

    def release(relayed: Address) -> None:
        holder[0].release_relay(relayed)

    core = TurnServer(
        listen,
        users,
        realm,
        relay_allocator=allocate,
        relay_release=release,
        **kwargs,  # type: ignore[arg-type]
    )

    def handle(event: Event) -> None:
        if on_event is not None:
            on_event(event)

    _, endpoint = await loop.create_datagram_endpoint(
        lambda: TurnServerEndpoint(
            core,
            handle,
            auth_timeout=auth_timeout,
            max_connections=max_connections,
            max_connections_per_ip=max_connections_per_ip,
        ),
        local_addr=listen,
    )
    holder.append(endpoint)
    # The port the OS chose (listen port 0) is a server address no peer may be.
    core.add_server_address(endpoint.local_address)
    try:
        if tcp:
            await endpoint.listen_stream(endpoint.local_address)
        if tls is not None:
            if ssl_context is None:
                raise TurnError("tls= needs an ssl_context with the server certificate")
            await endpoint.listen_stream(tls, ssl_context)
    except BaseException:
        endpoint.close()
        raise
    return endpoint
