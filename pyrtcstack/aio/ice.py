"""Drive an :class:`~pyrtcstack.ice.IceAgent` from real UDP sockets.

One socket per host candidate (RFC 8445 §5.1.1.1), all feeding the same agent with the
socket they arrived on (``receive_datagrams(batch, now, local)``); the agent's
``transmits()`` say which socket each datagram leaves from. The driver is the one the peer
connection uses too, :class:`~pyrtcstack.aio.multisocket.MultiSocketDriver`: batched
socket reads, one timer handle re-armed from ``agent.get_timer()`` after every mutation.

::

    conn = IceConnection(IceConfig(controlling=True), allow_loopback=True)
    await conn.gather()                       # binds sockets, host candidates out at once
    for cand in conn.local_candidates: ...    # or wait for conn.gathering_complete
    conn.set_remote_credentials(ufrag, pwd)
    conn.add_remote_candidate("candidate:...")
    conn.end_of_remote_candidates()
    await conn.connected()
    conn.send(b"...");  data = await conn.recv()
    await conn.close()

Host addresses are the machine's interface addresses (Linux: ``SIOCGIFADDR`` and
``/proc/net/if_inet6``), without loopback and IPv6 unless asked; ``addresses=`` restricts
them to a given list. TURN servers with ``transport="tcp"``/``"tls"`` are reached over a
stream this driver opens (``turn_ssl_context`` for TLS; the default verifies the server).
Remote mDNS ``.local`` candidates are dropped and counted by the core, unless
``resolve_mdns=True``: then :func:`resolve_mdns` asks the link once (RFC 6762 §5.1) and the
candidate is added with the address that comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from ..common.core import Address, Event
from ..common.errors import PyrtcstackError
from ..ice import (
    MDNS_GROUP_V4,
    MDNS_PORT,
    ConnectionStateChanged,
    DataReceived,
    GatheringStateChanged,
    IceAgent,
    IceCandidate,
    IceConfig,
    LocalCandidate,
    MdnsParseError,
    MdnsResponder,
    build_query,
    is_mdns_name,
    parse_addresses,
)
from ..sdp import Candidate
from ..turn import StreamFramer, TurnFramingError
from .multisocket import MultiSocketDriver
from .udp import UdpSocket, bind_udp

__all__ = [
    "MAX_MDNS_QUERIES",
    "MAX_RECEIVE_QUEUE",
    "MAX_STREAM_PENDING",
    "MDNS_TIMEOUT",
    "IceConnection",
    "MdnsPublisher",
    "TurnStream",
    "host_addresses",
    "resolve_mdns",
]

#: Received application datagrams waiting for :meth:`IceConnection.recv`; beyond it the
#: oldest are dropped (and counted in ``stats["receive_queue_overflow"]``).
MAX_RECEIVE_QUEUE = 1024
_SIOCGIFADDR = 0x8915
#: mDNS resolutions in flight per connection; more ``.local`` candidates are dropped.
MAX_MDNS_QUERIES = 16
#: How long a one-shot mDNS query waits for an answer (the query is repeated once).
MDNS_TIMEOUT = 1.0
#: Writes buffered by a :class:`TurnStream` until its connection is made; more are
#: dropped (counted in ``send_drops``).
MAX_STREAM_PENDING = 1024


class _MdnsProtocol(asyncio.DatagramProtocol):
    def __init__(self, name: str, done: asyncio.Future[str | None]) -> None:
        self.name = name
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            addresses = parse_addresses(data, self.name)
        except MdnsParseError:
            return
        if addresses and not self.done.done():
            self.done.set_result(addresses[0])


async def resolve_mdns(name: str, timeout: float = MDNS_TIMEOUT) -> str | None:
    """A one-shot mDNS query (RFC 6762 §5.1) for the IPv4 address of ``name``, sent to
    224.0.0.251:5353 from an ephemeral port so responders answer by unicast (§6.7); None
    when nobody answers within ``timeout``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str | None] = loop.create_future()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.bind(("0.0.0.0", 0))
    transport, _ = await loop.create_datagram_endpoint(lambda: _MdnsProtocol(name, done), sock=sock)
    query = build_query(name)
    try:
        for attempt in range(2):
            try:
                transport.sendto(query, (MDNS_GROUP_V4, MDNS_PORT))
            except OSError:
                return None
            try:
                return await asyncio.wait_for(asyncio.shield(done), timeout / 2)
            except TimeoutError:
                if attempt == 1:
                    return None
        return None
    finally:
        transport.close()


class MdnsPublisher:
    """Answers mDNS queries for our ``.local`` names (RFC 6762 §6) from one UDP socket on
    port 5353 (``SO_REUSEADDR``/``SO_REUSEPORT``: it shares the port with a system
    responder), joined to 224.0.0.251 on the interface of each published IPv4 address;
    :class:`~pyrtcstack.ice.mdns_responder.MdnsResponder` decides the answers. A socket
    error (the port taken without sharing, no multicast route) is counted in
    ``errors``: the names are then unresolvable, and peers learn our addresses from our
    checks instead (peer-reflexive candidates)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.responder = MdnsResponder()
        self._sock: socket.socket | None = None
        self._joined: set[str] = set()
        self.errors = 0
        self.closed = False

    def publish(self, name: str, address: str) -> bool:
        """Answer for ``name`` with ``address`` from now on; False (counted) when the
        socket could not be set up."""
        self.responder.add_name(name, address)
        try:
            sock = self._socket()
            if ":" not in address and address not in self._joined:
                mreq = socket.inet_aton(MDNS_GROUP_V4) + socket.inet_aton(address)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                self._joined.add(address)
        except OSError:
            self.errors += 1
            return False
        return True

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, "SO_REUSEPORT"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                # RFC 6762 §11: mDNS packets are sent with IP TTL 255
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
                sock.setblocking(False)
                sock.bind(("0.0.0.0", MDNS_PORT))
            except OSError:
                sock.close()
                raise
            self._loop.add_reader(sock.fileno(), self._readable)
            self._sock = sock
        return self._sock

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(9000)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.errors += 1
                break
            self.responder.receive_datagram(data, (str(addr[0]), int(addr[1])), self._loop.time())
        for data, dst in self.responder.datagrams_to_send(self._loop.time()):
            try:
                sock.sendto(data, dst)
            except OSError:
                self.errors += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


def _ipv4_of(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def host_addresses(*, allow_loopback: bool = False, ipv6: bool = False) -> list[str]:
    """The interface addresses of this machine (IPv4 first; IPv6 global ones if asked;
    loopback only if asked). Link-local addresses are left out."""
    out: list[str] = []
    for _index, name in socket.if_nameindex():
        ip = _ipv4_of(name)
        if ip is None or ip in out:
            continue
        addr = ipaddress.ip_address(ip)
        if addr.is_link_local or (addr.is_loopback and not allow_loopback):
            continue
        out.append(ip)
    if ipv6:
        path = Path("/proc/net/if_inet6")
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                fields = line.split()
                if len(fields) < 6:
                    continue
                v6 = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                if v6.is_link_local or (v6.is_loopback and not allow_loopback):
                    continue
                out.append(v6.compressed)
    return out


class TurnStream(asyncio.Protocol):
    """A TCP/TLS connection to a TURN server (RFC 8656 §3.1, §5): the bytes the agent
    sends on its pseudo socket ``key`` (:class:`~pyrtcstack.ice.StreamTransport`) are
    written here, buffered until connected (at most :data:`MAX_STREAM_PENDING` writes);
    the STUN/ChannelData frames cut from the stream (RFC 8656 §12.5 framing) go to
    ``on_frames(frames, key)`` as ``(frame, server)`` datagrams arriving on ``key``.

    It has the sending side of a UDP socket (``sendto``, ``send_many``, ``closed``,
    ``socket_errors``, ``send_drops``, ``close``), so a driver can keep it among its
    sockets; the destination address is ignored (a stream has one peer, the server)."""

    def __init__(
        self,
        key: Address,
        server: Address,
        tls: bool,
        on_frames: Callable[[list[tuple[bytes, Address]], Address], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.key = key
        self.local = key
        self.server = server
        self.tls = tls
        self.on_frames = on_frames
        #: told the name of each error ("stream_framing_errors")
        self.on_error = on_error
        self.transport: asyncio.Transport | None = None
        self.framer = StreamFramer()
        self.pending: list[bytes] = []
        self.closed = False
        self.connect_errors = 0
        self.framing_errors = 0
        self.send_drops = 0

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.framing_errors

    async def open(self, ssl_context: ssl.SSLContext | None, server_hostname: str | None) -> bool:
        """Connect (TLS when :attr:`tls`, checked against ``server_hostname``, default the
        server's IP). False (counted in ``connect_errors``) when it fails: the
        allocation's own timeout then reports the failure (CandidateError)."""
        loop = asyncio.get_running_loop()
        context = None
        if self.tls:
            context = ssl_context or ssl.create_default_context()
        try:
            await loop.create_connection(
                lambda: self,
                self.server[0],
                self.server[1],
                ssl=context,
                server_hostname=(server_hostname or self.server[0]) if self.tls else None,
            )
        except (OSError, ssl.SSLError):
            self.connect_errors += 1
            self.closed = True
            return False
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.closed:
            self.transport.close()
            return
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()

    def write(self, data: bytes) -> None:
        if self.closed:
            self.send_drops += 1
            return
        if self.transport is None:
            if len(self.pending) < MAX_STREAM_PENDING:
                self.pending.append(data)
            else:
                self.send_drops += 1
            return
        self.transport.write(data)

    def sendto(self, data: bytes, addr: Address) -> None:
        self.write(data)

    def send_many(self, datagrams: list[bytes], addr: Address) -> None:
        for data in datagrams:
            self.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except TurnFramingError:
            self.framing_errors += 1
            if self.on_error is not None:
                self.on_error("stream_framing_errors")
            self.close()
            return
        if frames:
            server = self.server
            self.on_frames([(frame, server) for frame in frames], self.key)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class IceConnection:
    """An ICE agent on real sockets (see the module docstring)."""

    def __init__(
        self,
        config: IceConfig | None = None,
        *,
        addresses: Sequence[str] | None = None,
        allow_loopback: bool = False,
        ipv6: bool = False,
        on_event: Callable[[Event], None] | None = None,
        agent: IceAgent | None = None,
        turn_ssl_context: ssl.SSLContext | None = None,
        resolve_mdns: bool = False,
    ) -> None:
        self.agent = agent or IceAgent(config)
        self.on_event = on_event
        self._addresses = list(addresses) if addresses is not None else None
        self._allow_loopback = allow_loopback
        self._ipv6 = ipv6
        self._loop = asyncio.get_running_loop()
        #: the one multi-socket driver: the sockets (UDP and TURN streams), the timer
        self._driver = MultiSocketDriver(self._loop, self.agent, self._on_event, keep_earlier=False)
        self._sockets: dict[Address, UdpSocket] = {}
        self._streams: dict[Address, TurnStream] = {}
        self._stream_tasks: list[asyncio.Task[object]] = []
        self._turn_ssl_context = turn_ssl_context
        self._resolve_mdns = resolve_mdns
        self._mdns_tasks: set[asyncio.Task[None]] = set()
        self._received: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self._state_changed = asyncio.Event()
        self.gathering_complete = asyncio.Event()
        self.local_candidates: list[IceCandidate] = []
        self._counts: dict[str, int] = {
            "receive_queue_overflow": 0,
            "stream_connect_errors": 0,
            "stream_framing_errors": 0,
            "mdns_resolved": 0,
            "mdns_unresolved": 0,
            "mdns_dropped_busy": 0,
        }

    # ------------------------------------------------------------------ setup
    async def gather(self) -> list[IceCandidate]:
        """Bind one UDP socket per host address and start gathering; returns the host
        candidates (srflx/relay ones follow as events and in :attr:`local_candidates`)."""
        if self._addresses is not None:
            ips = self._addresses
        else:
            ips = host_addresses(allow_loopback=self._allow_loopback, ipv6=self._ipv6)
        if not ips:
            raise OSError("no usable host address (pass addresses= or allow_loopback=True)")
        bound: list[Address] = []
        for ip in ips:
            sock = UdpSocket(self._loop, bind_udp(ip), self._driver.receive_batch)
            self._sockets[sock.local] = sock
            self._driver.sockets[sock.local] = sock
            bound.append(sock.local)
        self.agent.gather(bound, self._loop.time())
        for stream in self.agent.stream_transports:
            connection = TurnStream(
                stream.key, stream.server, stream.tls, self._driver.receive_batch, self._count
            )
            self._streams[stream.key] = connection
            self._driver.sockets[stream.key] = connection
            self._stream_tasks.append(asyncio.ensure_future(self._open_stream(connection)))
        self.drain()
        return [c for c in self.local_candidates if c.type.value == "host"]

    async def _open_stream(self, stream: TurnStream) -> object:
        """Connect a TCP (or TLS, RFC 8656 §3.1 "turns:") stream to a TURN server."""
        if not await stream.open(self._turn_ssl_context, None):
            self._counts["stream_connect_errors"] += 1
        return None

    def _count(self, name: str) -> None:
        self._counts[name] += 1

    @property
    def local_ufrag(self) -> str:
        return self.agent.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self.agent.local_pwd

    @property
    def state(self) -> str:
        return self.agent.connection_state

    def set_remote_credentials(self, ufrag: str, pwd: str, *, lite: bool = False) -> None:
        self.agent.set_remote_credentials(ufrag, pwd, self._loop.time(), lite=lite)
        self.drain()

    def add_remote_candidate(
        self, candidate: str | Candidate | IceCandidate, ufrag: str | None = None
    ) -> bool:
        """Hand a remote candidate to the agent. With ``resolve_mdns=True`` a ``.local``
        one is first resolved by a one-shot mDNS query (True: the query started; it is
        added, or dropped and counted, when the answer or the timeout comes)."""
        if isinstance(candidate, str):
            candidate = Candidate.parse(candidate)
        if (
            self._resolve_mdns
            and isinstance(candidate, Candidate)
            and is_mdns_name(candidate.address)
        ):
            if len(self._mdns_tasks) >= MAX_MDNS_QUERIES:
                self._counts["mdns_dropped_busy"] += 1
                return False
            task = asyncio.ensure_future(self._add_mdns(candidate, ufrag))
            self._mdns_tasks.add(task)
            task.add_done_callback(self._mdns_tasks.discard)
            return True
        added = self.agent.add_remote_candidate(candidate, self._loop.time(), ufrag)
        self.drain()
        return added

    async def _add_mdns(self, candidate: Candidate, ufrag: str | None) -> None:
        address = await resolve_mdns(candidate.address)
        try:
            if address is None:
                self._counts["mdns_unresolved"] += 1
                # the core drops it and counts it (remote_mdns_dropped)
                self.agent.add_remote_candidate(candidate, self._loop.time(), ufrag)
            else:
                self._counts["mdns_resolved"] += 1
                resolved = Candidate.parse(str(candidate))
                resolved.address = address
                self.agent.add_remote_candidate(resolved, self._loop.time(), ufrag)
        except PyrtcstackError:
            self._counts["mdns_stale"] += 1  # a restart happened meanwhile (RFC 8838 §8)
        self.drain()

    def end_of_remote_candidates(self) -> None:
        self.agent.end_of_remote_candidates(self._loop.time())
        self.drain()

    def restart(self) -> None:
        self.agent.restart(self._loop.time())
        self.gathering_complete.clear()
        self.drain()

    # ------------------------------------------------------------------ waiting
    async def connected(self, timeout: float = 30.0) -> None:
        """Wait until the state is connected/completed; raise ConnectionError on failed.

        Connected comes with the first valid pair the peer has checked too (RFC 8445 §12.1,
        ``IceConfig.use_valid_pairs``): ``send()`` works from then on; the nominated pair
        (``agent.selected_pair.nominated``) follows about one Ta later."""
        async with asyncio.timeout(timeout):
            while True:
                state = self.agent.connection_state
                if state in ("connected", "completed"):
                    return
                if state in ("failed", "closed"):
                    raise ConnectionError(f"ICE {state}")
                self._state_changed.clear()
                await self._state_changed.wait()

    def send(self, data: bytes) -> bool:
        """Send on the selected pair (False when there is none)."""
        sent = self.agent.send(data, self._loop.time())
        self.drain()
        return sent

    async def recv(self) -> bytes:
        """The next application datagram from the peer."""
        data, _addr = await self._received.get()
        return data

    @property
    def stats(self) -> dict[str, int]:
        """Counters: ``socket_errors`` (ICMP errors and failed reads or sends on our UDP
        sockets, summed from the sockets when read: live, and still there after close),
        ``receive_queue_overflow``, ``stream_connect_errors``, ``stream_framing_errors``
        and the mDNS counts. A new dict at each read."""
        errors = sum(sock.socket_errors for sock in self._sockets.values())
        return {"socket_errors": errors, **self._counts}

    async def close(self) -> None:
        self.agent.close(self._loop.time())
        self.drain()
        self._driver.cancel()
        for sock in self._sockets.values():
            sock.close()  # its socket_errors stay readable for stats
        for task in self._stream_tasks:
            task.cancel()
        for mdns_task in list(self._mdns_tasks):
            mdns_task.cancel()
        for stream in self._streams.values():
            stream.close()
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ driving
    def drain(self) -> None:
        """After an API call on :attr:`agent` made from outside: send what it queued,
        deliver its events, re-arm the timer (the driver's drain)."""
        self._driver.drain()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, DataReceived):
            if self._received.qsize() >= MAX_RECEIVE_QUEUE:
                self._received.get_nowait()
                self._counts["receive_queue_overflow"] += 1
            self._received.put_nowait((event.data, event.remote))
        elif isinstance(event, LocalCandidate):
            self.local_candidates.append(event.candidate)
        elif isinstance(event, GatheringStateChanged) and event.state == "complete":
            self.gathering_complete.set()
        elif isinstance(event, ConnectionStateChanged):
            self._state_changed.set()
        if self.on_event is not None:
            self.on_event(event)
