"""The sans-I/O TURN client: one allocation on one TURN server (RFC 8656).

The machine, as RFC 8656 describes it from the client's side:

1. **Allocate** (§7.1) with REQUESTED-TRANSPORT = UDP and no credentials. The server
   answers 401 with REALM and NONCE (§7.2, RFC 8489 §9.2.4); the client derives the
   long-term key ``MD5(username:realm:password)`` (or SHA-256 when the server offers it in
   PASSWORD-ALGORITHMS) and sends the Allocate again, with USERNAME, REALM, NONCE and
   MESSAGE-INTEGRITY. The success response (§7.3) carries XOR-RELAYED-ADDRESS,
   XOR-MAPPED-ADDRESS and LIFETIME: :class:`~.events.Allocated`.
2. Every later request carries the same credentials. **438 Stale Nonce** (RFC 8489 §9.2.5)
   makes the client retry that request once with the new NONCE; 437, 441, 486 and 508 are
   reported as typed errors (§7.4, §17); a failed Allocate ends the client. A response to a
   request the client signed is acted on only when its integrity verifies (RFC 8489
   §9.2.5), except 401 and 438, which carry the challenge and may come unsigned: a forged
   or unsigned 437/403/486 is discarded and counted (``bad_integrity``); over UDP the
   request goes on being retransmitted and its timeout is then reported as the integrity
   violation, over TCP/TLS the request ends at once with that error. Transaction ids come
   from the injected ``rng``, by default the OS CSPRNG (RFC 8489 §6: they must be
   unpredictable, or an off-path attacker could forge answers).
3. **Refresh** (§8) before the allocation expires: :data:`REFRESH_MARGIN` seconds ahead of
   the lifetime the server granted (half-way for lifetimes under two margins).
4. **CreatePermission** (§9, §10) for each peer IP the caller talks to, re-issued
   :data:`REFRESH_MARGIN` before the 300-second permission lifetime ends. Data sent to a
   peer without a permission waits (bounded) until the permission is granted.
5. **ChannelBind** (§12.1) gives a peer a channel number 0x4000–0x4FFF; afterwards data to
   and from it is ChannelData (§12.4) instead of Send/Data indications (§11). The binding
   (600 s) is refreshed by re-binding :data:`REFRESH_MARGIN` seconds early.
6. **Deallocate** (§8): Refresh with LIFETIME 0.

Requests are STUN transactions (:class:`pyrtcstack.stun.ClientTransaction`, RFC 8489 §6.2):
over UDP retransmitted at 0.5 s doubling, 7 sends, failing 39.5 s after the first; over
TCP/TLS (``reliable=True``) sent once, with a 39.5 s timeout. A request answered by 401 or
438 is rebuilt with the new NONCE and a new transaction id. Over a stream, ChannelData is
padded to four bytes (§12.5); the stream itself is cut into frames by
:class:`~pyrtcstack.turn.framing.StreamFramer` in the driver.

The core is a :class:`~pyrtcstack.common.core.DatagramCore`: everything it sends goes to
the server address, and ``receive_datagram`` accepts STUN and ChannelData from it (anything
from another address, or malformed, is dropped and counted in :attr:`TurnClient.stats`).
The password and the derived key never appear in ``repr`` or in any message text.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from ..common.core import Address, Event, default_rng
from ..demux import FOR_ICE
from ..stun import (
    MAGIC_COOKIE,
    TURN_AUTH_RETRY,
    AuthRetry,
    ClientTransaction,
    LongTermAuth,
    Message,
    MessageClass,
    Method,
    RetransmissionPolicy,
    StunParseError,
    StunUsageError,
    TransactionState,
    saslprep,
)
from ..stun import AttributeType as A
from . import wire
from .channeldata import (
    CHANNEL_NUMBER_MAX,
    CHANNEL_NUMBER_MIN,
)
from .errors import TurnError, TurnParseError, TurnRemoteError, TurnUsageError, remote_error_for
from .events import (
    Allocated,
    AllocationExpired,
    ChannelBound,
    DataReceived,
    Deallocated,
    PermissionCreated,
    Refreshed,
    RequestFailed,
)

__all__ = [
    "CHANNEL_LIFETIME",
    "DEFAULT_LIFETIME",
    "MAX_PENDING_PER_PEER",
    "MAX_PERMISSIONS",
    "PERMISSION_LIFETIME",
    "REFRESH_MARGIN",
    "ClientState",
    "TurnClient",
]

#: Allocation lifetime the client asks for (RFC 8656 §7.1; servers default to 600 s).
DEFAULT_LIFETIME = 600
#: Permission lifetime, fixed by RFC 8656 §9.
PERMISSION_LIFETIME = 300
#: Channel binding lifetime, fixed by RFC 8656 §12.
CHANNEL_LIFETIME = 600
#: Refresh allocations, permissions and channels this many seconds before they expire.
REFRESH_MARGIN = 60.0
#: Retry a failed Refresh after this many seconds, while the allocation lasts.
REFRESH_RETRY = 5.0
#: Datagrams queued per peer IP while its permission is being created; older ones drop.
MAX_PENDING_PER_PEER = 64
#: Peer IPs with a permission (bounds the permission table and each request's size).
MAX_PERMISSIONS = 256
#: XOR-PEER-ADDRESS attributes per CreatePermission request (RFC 8656 §10.1 allows many).
MAX_PEERS_PER_REQUEST = 16

#: Normalised peer addresses and IPv4 XOR-PEER-ADDRESS values cached for the send path.
MAX_PEER_CACHE = 1024

_REQUESTED_TRANSPORT_UDP = bytes((17, 0, 0, 0))  # RFC 8656 §16.8: protocol 17 = UDP
_CHANNEL_HEADER = struct.Struct("!HH")
_TLV = struct.Struct("!HH")
_SEND_HEADER = struct.Struct("!HHI")
_SEND_INDICATION = 0x0016  # Send method 0x006, indication class (RFC 8656 §11.1)
_XOR_PEER_ADDRESS = int(A.XOR_PEER_ADDRESS)
_DATA = int(A.DATA)


class ClientState(Enum):
    IDLE = "idle"
    ALLOCATING = "allocating"
    ALLOCATED = "allocated"
    DEALLOCATING = "deallocating"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(slots=True)
class _Transaction:
    """One outstanding request (RFC 8489 §6.2)."""

    kind: str
    method: int
    body: Callable[[bytes], list[tuple[int, bytes]]]
    transaction_id: bytes = b""
    #: The STUN transaction (RFC 8489 §6.2) carrying the current attempt.
    stun: ClientTransaction | None = None
    stale_retried: bool = False
    authenticated: bool = False
    #: a response failed the integrity check it needed (RFC 8489 §9.2.5)
    integrity_violated: bool = False
    peer_ips: tuple[str, ...] = ()
    channel: int | None = None
    peer: Address | None = None


@dataclass(slots=True)
class _Permission:
    expires_at: float = 0.0
    refresh_at: float | None = None
    requested: bool = False
    pending: deque[tuple[bytes, Address]] = field(default_factory=deque)


@dataclass(slots=True)
class _Channel:
    number: int
    peer: Address
    bound: bool = False
    expires_at: float = 0.0
    refresh_at: float | None = None
    requested: bool = False


def _ip_of(addr: Address | str) -> str:
    host = addr if isinstance(addr, str) else addr[0]
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        raise TurnUsageError(f"peer must be an IP address, not {host!r}") from None


class TurnClient:
    """A sans-I/O TURN client for one allocation (see the module docstring)."""

    def __init__(
        self,
        server: Address,
        username: str,
        password: str,
        *,
        reliable: bool = False,
        lifetime: int = DEFAULT_LIFETIME,
        software: str | None = None,
        address_family: int | None = None,
        on_data: Callable[[bytes, Address, int | None], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.server = server
        #: Optional fast path for relayed data: when set, data from peers is handed to
        #: ``on_data(data, peer, channel)`` at once instead of becoming a
        #: :class:`~.events.DataReceived` event (an event object per datagram costs more
        #: than the rest of the ChannelData path).
        self.on_data = on_data
        self.reliable = reliable
        self.state = ClientState.IDLE
        self.relayed_address: Address | None = None
        self.mapped_address: Address | None = None
        self.lifetime = 0
        self.expires_at: float | None = None
        self._requested_lifetime = lifetime
        if address_family not in (None, 4, 6):
            raise TurnUsageError("address_family is 4, 6 or None")
        #: 4 or 6: ask for a relayed address of that family (REQUESTED-ADDRESS-FAMILY,
        #: RFC 8656 §16.6); None leaves it to the server (IPv4 by default).
        self.address_family = address_family
        try:
            saslprep(password)  # RFC 8489 §9.2.2: fail here, not inside receive_datagram
        except StunUsageError as exc:
            raise TurnUsageError(f"password not allowed by SASLprep: {exc}") from None
        # RFC 8489 §9.2: realm, nonce, algorithm and key, with the TURN client's retry
        # policy (one stale-nonce retry per transaction, 401 + fresh NONCE is stale).
        self._auth = LongTermAuth(username, password, policy=TURN_AUTH_RETRY)
        self._software = software
        self._rng = default_rng(rng)
        self._transactions: dict[bytes, _Transaction] = {}
        # RFC 8489 §6.2.1 over UDP (0.5 s doubling, 7 sends, 39.5 s), §6.2.2 over streams.
        self._policy = RetransmissionPolicy(reliable=reliable)
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self._refresh_at: float | None = None
        self._permissions: dict[str, _Permission] = {}
        self._channels: dict[int, _Channel] = {}
        self._channel_by_peer: dict[Address, _Channel] = {}
        self._next_channel = CHANNEL_NUMBER_MIN
        self._peer_cache: dict[Address, Address] = {}
        self._data_in = 0  # kept out of the stats dict on the hot path
        self._xor_peer_v4: dict[Address, bytes] = {}
        self._stats: dict[str, int] = dict.fromkeys(
            (
                "dropped",
                "stray",
                "bad_integrity",
                "retransmissions",
                "stale_nonce",
                "queue_overflow",
                "data_out",
            ),
            0,
        )

    @property
    def stats(self) -> dict[str, int]:
        """Counters: dropped (malformed or foreign), stray (responses to no transaction),
        bad_integrity, retransmissions, stale_nonce (438 retries), queue_overflow (data
        dropped while waiting for a permission), data_in, data_out."""
        return {**self._stats, "data_in": self._data_in}

    def __repr__(self) -> str:
        # Never the password, the key or the nonce (brief: credentials stay out of logs).
        return (
            f"<TurnClient server={self.server} state={self.state.value} "
            f"relayed={self.relayed_address} channels={len(self._channels)} "
            f"permissions={len(self._permissions)}>"
        )

    # ---------------------------------------------------------------- public API
    def allocate(self, now: float) -> None:
        """Start the allocation (RFC 8656 §7.1)."""
        if self.state is not ClientState.IDLE:
            raise TurnUsageError(f"allocate() in state {self.state.value}")
        self.state = ClientState.ALLOCATING
        lifetime = self._requested_lifetime
        family = self.address_family

        def body(_tid: bytes) -> list[tuple[int, bytes]]:
            attrs = [(int(A.REQUESTED_TRANSPORT), _REQUESTED_TRANSPORT_UDP)]
            if lifetime != DEFAULT_LIFETIME:
                attrs.append((int(A.LIFETIME), lifetime.to_bytes(4, "big")))
            if family is not None:
                # RFC 8656 §16.6: 0x01 IPv4, 0x02 IPv6, then 24 RFFU bits.
                attrs.append((int(A.REQUESTED_ADDRESS_FAMILY), bytes((family // 3, 0, 0, 0))))
            return attrs

        self._start(_Transaction("allocate", Method.ALLOCATE, body), now)

    def create_permission(self, peer: Address | str, now: float) -> None:
        """Ask for (or refresh) a permission for ``peer``'s IP (RFC 8656 §10.1)."""
        self._require_allocated("create_permission")
        ip = _ip_of(peer)
        self._permission(ip)
        self._request_permissions([ip], now)

    def bind_channel(self, peer: Address, now: float) -> int:
        """Bind a channel to ``peer`` (RFC 8656 §12.1) and return its number.

        Until the server confirms, data to ``peer`` still goes as Send indications.
        """
        self._require_allocated("bind_channel")
        peer = (_ip_of(peer), int(peer[1]))
        existing = self._channel_by_peer.get(peer)
        if existing is not None:
            return existing.number
        if len(self._channels) > CHANNEL_NUMBER_MAX - CHANNEL_NUMBER_MIN:
            raise TurnUsageError("all 4096 channel numbers are in use")
        while self._next_channel in self._channels:
            self._next_channel += 1
            if self._next_channel > CHANNEL_NUMBER_MAX:
                self._next_channel = CHANNEL_NUMBER_MIN
        # RFC 8656 §12.2: the binding installs the permission too; the client tracks it so
        # that CreatePermission keeps it alive between channel refreshes (300 s < 600 s).
        self._permission(peer[0])
        channel = _Channel(self._next_channel, peer)
        self._channels[channel.number] = channel
        self._channel_by_peer[peer] = channel
        self._request_channel(channel, now)
        return channel.number

    def channel_for(self, peer: Address) -> int | None:
        """The channel number bound (and confirmed) for ``peer``, or None."""
        channel = self._channel_by_peer.get(peer)
        return channel.number if channel is not None and channel.bound else None

    def has_permission(self, peer: Address | str, now: float) -> bool:
        perm = self._permissions.get(_ip_of(peer))
        return perm is not None and perm.expires_at > now

    def send(self, data: bytes, peer: Address, now: float) -> None:
        """Relay ``data`` to ``peer``: ChannelData on a bound channel (§12.5), else a Send
        indication (§11.1) once the peer's IP has a permission (created on demand)."""
        if self.state is not ClientState.ALLOCATED:
            self._require_allocated("send")
        peer = self._normalised(peer)
        channel = self._channel_by_peer.get(peer)
        if channel is not None and channel.bound and channel.expires_at > now:
            n = len(data)
            frame = _CHANNEL_HEADER.pack(channel.number, n) + data
            if self.reliable and n & 3:
                frame += b"\x00" * (4 - (n & 3))  # RFC 8656 §12.5: pad on streams
            self._out.append((frame, self.server))
            self._stats["data_out"] += 1
            return
        perm = self._permissions.get(peer[0])
        if perm is not None and perm.expires_at > now:
            self._send_indication(data, peer)
            return
        perm = self._permission(peer[0])
        if len(perm.pending) >= MAX_PENDING_PER_PEER:
            perm.pending.popleft()
            self._stats["queue_overflow"] += 1
        perm.pending.append((data, peer))
        if not perm.requested:
            self._request_permissions([peer[0]], now)

    def _normalised(self, peer: Address) -> Address:
        """``peer`` with its IP in canonical text form (cached: this is the send path)."""
        cached = self._peer_cache.get(peer)
        if cached is None:
            cached = (_ip_of(peer), int(peer[1]))
            if len(self._peer_cache) >= MAX_PEER_CACHE:
                self._peer_cache.clear()
            self._peer_cache[peer] = cached
        return cached

    def refresh(self, now: float) -> None:
        """Refresh the allocation now (RFC 8656 §8); the core also does it on its own
        :data:`REFRESH_MARGIN` seconds before expiry."""
        self._require_allocated("refresh")
        self._request_refresh(now)

    def close(self, now: float) -> None:
        """Release the allocation: Refresh with LIFETIME 0 (RFC 8656 §8). A client that
        holds no allocation simply closes."""
        if self.state is ClientState.ALLOCATED:
            self._transactions.clear()
            self.state = ClientState.DEALLOCATING
            self._refresh_at = None
            self._start(
                _Transaction(
                    "deallocate",
                    Method.REFRESH,
                    lambda _tid: [(int(A.LIFETIME), bytes(4))],
                ),
                now,
            )
        elif self.state in (ClientState.IDLE, ClientState.ALLOCATING):
            self._transactions.clear()
            self.state = ClientState.CLOSED

    def is_from_server(self, data: bytes, addr: Address) -> bool:
        """True if this datagram is for this client: from the server, STUN or ChannelData
        by its first byte (RFC 7983 §7). Lets an ICE agent demultiplex a shared socket."""
        return addr == self.server and len(data) > 0 and FOR_ICE[data[0]]

    # ---------------------------------------------------------------- core contract
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        if addr != self.server or not data:
            self._stats["dropped"] += 1
            return
        first = data[0]
        if 64 <= first <= 79:
            # RFC 8656 §12.6 ChannelData, inlined: this is the data path.
            size = len(data)
            if size >= 4:
                channel = self._channels.get((first << 8) | data[1])
                end = 4 + ((data[2] << 8) | data[3])
                if (
                    channel is not None
                    and end <= size
                    and (not self.reliable or size == (end + 3) & ~3)
                    and self.state is ClientState.ALLOCATED
                ):
                    self._data_in += 1
                    if self.on_data is not None:
                        self.on_data(data[4:end], channel.peer, channel.number)
                    else:
                        self._events.append(DataReceived(channel.peer, data[4:end], channel.number))
                    return
            # Too short, unknown channel (discarded, §12.6) or no allocation.
            self._stats["dropped"] += 1
        elif first < 4:
            try:
                self._on_stun(wire.parse(data), now)
            except TurnParseError:
                self._stats["dropped"] += 1
        else:
            self._stats["dropped"] += 1

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if self.state in (ClientState.CLOSED, ClientState.FAILED, ClientState.IDLE):
            return None
        times = [
            d
            for t in self._transactions.values()
            if t.stun is not None and (d := t.stun.deadline) is not None
        ]
        if self.state is ClientState.ALLOCATED:
            if self._refresh_at is not None:
                times.append(self._refresh_at)
            if self.expires_at is not None:
                times.append(self.expires_at)
            times.extend(p.refresh_at for p in self._permissions.values() if p.refresh_at)
            times.extend(c.refresh_at for c in self._channels.values() if c.refresh_at)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        for tx in list(self._transactions.values()):
            stun = tx.stun
            if stun is None or (deadline := stun.deadline) is None or deadline > now:
                continue
            data = stun.handle_timer(now)
            if data is not None:
                self._stats["retransmissions"] += 1
                self._out.append((data, self.server))
            elif stun.state is TransactionState.TIMED_OUT:
                self._transactions.pop(tx.transaction_id, None)
                error = (
                    self._violation(tx)
                    if tx.integrity_violated
                    else TurnError(f"{tx.kind} timed out after 39.5 s")
                )
                self._on_failure(tx, error, now)
        if self.state is not ClientState.ALLOCATED:
            return
        if self.expires_at is not None and now >= self.expires_at:
            self._lose_allocation("allocation lifetime ended without a successful refresh")
            return
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None
            self._request_refresh(now)
        due = [ip for ip, p in self._permissions.items() if p.refresh_at and p.refresh_at <= now]
        for ip in due:
            self._permissions[ip].refresh_at = None
        if due:
            self._request_permissions(due, now)
        for channel in self._channels.values():
            if channel.refresh_at is not None and channel.refresh_at <= now:
                channel.refresh_at = None
                self._request_channel(channel, now)

    # ---------------------------------------------------------------- requests
    def _require_allocated(self, what: str) -> None:
        if self.state is not ClientState.ALLOCATED:
            raise TurnUsageError(f"{what}() needs an allocation (state {self.state.value})")

    def _permission(self, ip: str) -> _Permission:
        perm = self._permissions.get(ip)
        if perm is None:
            if len(self._permissions) >= MAX_PERMISSIONS:
                raise TurnUsageError(f"more than {MAX_PERMISSIONS} peer permissions")
            perm = self._permissions[ip] = _Permission()
        return perm

    def _request_refresh(self, now: float) -> None:
        lifetime = self._requested_lifetime
        self._start(
            _Transaction(
                "refresh",
                Method.REFRESH,
                lambda _tid: [(int(A.LIFETIME), lifetime.to_bytes(4, "big"))],
            ),
            now,
        )

    def _request_permissions(self, ips: list[str], now: float) -> None:
        for i in range(0, len(ips), MAX_PEERS_PER_REQUEST):
            chunk = tuple(ips[i : i + MAX_PEERS_PER_REQUEST])
            for ip in chunk:
                self._permissions[ip].requested = True

            def body(tid: bytes, chunk: tuple[str, ...] = chunk) -> list[tuple[int, bytes]]:
                # RFC 8656 §10.1: one XOR-PEER-ADDRESS per peer; the port is ignored.
                return [
                    (int(A.XOR_PEER_ADDRESS), wire.pack_xor_address((ip, 0), tid)) for ip in chunk
                ]

            self._start(
                _Transaction("create-permission", Method.CREATE_PERMISSION, body, peer_ips=chunk),
                now,
            )

    def _request_channel(self, channel: _Channel, now: float) -> None:
        channel.requested = True
        number, peer = channel.number, channel.peer

        def body(tid: bytes) -> list[tuple[int, bytes]]:
            # RFC 8656 §12.1 / §16.1: CHANNEL-NUMBER is the number then 16 RFFU bits.
            return [
                (int(A.CHANNEL_NUMBER), number.to_bytes(2, "big") + b"\x00\x00"),
                (int(A.XOR_PEER_ADDRESS), wire.pack_xor_address(peer, tid)),
            ]

        self._start(
            _Transaction(
                "channel-bind",
                Method.CHANNEL_BIND,
                body,
                channel=number,
                peer=peer,
                peer_ips=(peer[0],),
            ),
            now,
        )

    def _start(self, tx: _Transaction, now: float) -> None:
        tx.transaction_id = self._rng.randbytes(12)
        attrs = tx.body(tx.transaction_id)
        if self._software is not None:
            attrs.append((int(A.SOFTWARE), self._software.encode()))
        key = self._auth.key
        if key is not None:
            attrs += self._auth.attributes()
            tx.authenticated = True
        request = Message(tx.method, MessageClass.REQUEST, tx.transaction_id, attrs)
        tx.stun = ClientTransaction(request, self.server, key=key, policy=self._policy)
        self._transactions[tx.transaction_id] = tx
        self._out.append((tx.stun.start(now), self.server))

    def _send_indication(self, data: bytes, peer: Address) -> None:
        # RFC 8656 §11.1: Send indication (0x0016) with XOR-PEER-ADDRESS and DATA; it is
        # not authenticated, gets no response and carries no FINGERPRINT (optional, and a
        # CRC over every relayed byte). Built with struct: this is the data path.
        tid = self._rng.randbytes(12)
        xor_peer = self._xor_peer_v4.get(peer)
        if xor_peer is None:
            xor_peer = wire.pack_xor_address(peer, tid)
            if len(xor_peer) == 8:  # IPv4: XORed with the cookie only, so cacheable
                if len(self._xor_peer_v4) >= MAX_PEER_CACHE:
                    self._xor_peer_v4.clear()
                self._xor_peer_v4[peer] = xor_peer
        n = len(data)
        pad = b"\x00" * (-n & 3)
        length = 4 + len(xor_peer) + 4 + n + len(pad)
        self._out.append(
            (
                _SEND_HEADER.pack(_SEND_INDICATION, length, MAGIC_COOKIE)
                + tid
                + _TLV.pack(_XOR_PEER_ADDRESS, len(xor_peer))
                + xor_peer
                + _TLV.pack(_DATA, n)
                + data
                + pad,
                self.server,
            )
        )
        self._stats["data_out"] += 1

    # ---------------------------------------------------------------- incoming
    def _on_stun(self, msg: wire.Message, now: float) -> None:
        if msg.message_class == wire.INDICATION:
            if msg.method == Method.DATA and self.state is ClientState.ALLOCATED:
                self._on_data_indication(msg)
            else:
                self._stats["dropped"] += 1
            return
        if msg.message_class == wire.REQUEST:
            self._stats["dropped"] += 1
            return
        tx = self._transactions.get(msg.transaction_id)
        if tx is None or msg.method != tx.method:
            self._stats["stray"] += 1
            return
        assert tx.stun is not None
        if tx.authenticated and msg.message_class == wire.ERROR and msg.integrity is None:
            # RFC 8489 §9.2.5: only 401 and 438 may come without integrity (the server could
            # not, or need not, sign them: they carry the challenge). Any other error to a
            # request we signed must verify: "if both MESSAGE-INTEGRITY and
            # MESSAGE-INTEGRITY-SHA256 are absent" it is discarded (400 is named
            # explicitly). So a forged 437/403/486/508 cannot end an allocation.
            try:
                error = msg.get_error()
            except StunParseError:
                error = None
            if error is None or error.code not in (401, 438):
                self._integrity_violated(tx, now)
                return
        # RFC 8489 §9.2.5 (in ClientTransaction): a success response to an authenticated
        # request needs a valid MESSAGE-INTEGRITY, an error response one that verifies if
        # present; anything else is discarded and the transaction keeps waiting.
        state = tx.stun.handle_response(msg, now)
        if state is None:
            if tx.stun.state is TransactionState.PENDING:
                self._integrity_violated(tx, now)
            return
        del self._transactions[tx.transaction_id]
        if state is TransactionState.SUCCEEDED:
            self._on_success(tx, msg, now)
            return
        error = tx.stun.error()
        assert error is not None
        self._on_error(tx, msg, error.code, error.reason, now)

    def _integrity_violated(self, tx: _Transaction, now: float) -> None:
        """RFC 8489 §9.2.5: a response that needed integrity had none, or a wrong one. It
        is discarded as if never received; over UDP the retransmissions go on (and a
        timeout is then reported as the integrity violation), over TCP/TLS the
        transaction ends now with that error."""
        self._stats["bad_integrity"] += 1
        tx.integrity_violated = True
        if self.reliable:
            self._transactions.pop(tx.transaction_id, None)
            self._on_failure(tx, self._violation(tx), now)

    @staticmethod
    def _violation(tx: _Transaction) -> TurnError:
        return TurnError(
            f"{tx.kind}: the server's response failed its integrity check "
            "(RFC 8489 §9.2.5: integrity protection violated)"
        )

    def _on_data_indication(self, msg: wire.Message) -> None:
        # RFC 8656 §11.4: XOR-PEER-ADDRESS (XORed with this indication's id) and DATA.
        peer_raw, data = msg.get(int(A.XOR_PEER_ADDRESS)), msg.get(int(A.DATA))
        if peer_raw is None or data is None:
            self._stats["dropped"] += 1
            return
        peer = wire.xor_address(peer_raw, msg.transaction_id)
        self._data_in += 1
        if self.on_data is not None:
            self.on_data(data, peer, None)
        else:
            self._events.append(DataReceived(peer, data))

    def _on_success(self, tx: _Transaction, msg: wire.Message, now: float) -> None:
        kind = tx.kind
        if kind == "allocate":
            relayed = msg.get(int(A.XOR_RELAYED_ADDRESS))
            if relayed is None:
                self._fail(tx, TurnError("Allocate success without XOR-RELAYED-ADDRESS"))
                return
            mapped = msg.get(int(A.XOR_MAPPED_ADDRESS))
            try:
                self.relayed_address = wire.xor_address(relayed, msg.transaction_id)
                self.mapped_address = (
                    wire.xor_address(mapped, msg.transaction_id) if mapped is not None else None
                )
            except TurnParseError:
                # The transaction is settled: a malformed answer must end it, not hang it.
                self._fail(tx, TurnError("Allocate success with a malformed address"))
                return
            self.state = ClientState.ALLOCATED
            self._set_lifetime(msg, now)
            self._events.append(Allocated(self.relayed_address, self.mapped_address, self.lifetime))
        elif kind == "refresh":
            self._set_lifetime(msg, now)
            self._events.append(Refreshed(self.lifetime))
        elif kind == "deallocate":
            self._finish_deallocation()
        elif kind == "create-permission":
            for ip in tx.peer_ips:
                self._grant_permission(ip, now)
        elif kind == "channel-bind":
            assert tx.channel is not None and tx.peer is not None
            channel = self._channels.get(tx.channel)
            if channel is None:
                return
            channel.bound = True
            channel.requested = False
            channel.expires_at = now + CHANNEL_LIFETIME
            channel.refresh_at = now + CHANNEL_LIFETIME - REFRESH_MARGIN
            # RFC 8656 §12.2: a ChannelBind also installs or refreshes the permission.
            self._grant_permission(tx.peer[0], now, quiet=True)
            self._events.append(ChannelBound(channel.number, channel.peer))

    def _grant_permission(self, ip: str, now: float, quiet: bool = False) -> None:
        perm = self._permissions.get(ip)
        if perm is None:
            return
        perm.requested = False
        perm.expires_at = now + PERMISSION_LIFETIME
        perm.refresh_at = now + PERMISSION_LIFETIME - REFRESH_MARGIN
        if not quiet:
            self._events.append(PermissionCreated(ip))
        while perm.pending:
            data, peer = perm.pending.popleft()
            self.send(data, peer, now)

    def _set_lifetime(self, msg: wire.Message, now: float) -> None:
        raw = msg.get(int(A.LIFETIME))
        lifetime = (
            int.from_bytes(raw, "big") if raw is not None and len(raw) == 4 else DEFAULT_LIFETIME
        )
        self.lifetime = lifetime
        self.expires_at = now + lifetime
        margin = REFRESH_MARGIN if lifetime > 2 * REFRESH_MARGIN else lifetime / 2
        self._refresh_at = now + lifetime - margin

    def _on_error(
        self, tx: _Transaction, msg: wire.Message, code: int, reason: str, now: float
    ) -> None:
        # RFC 8489 §9.2.4/§9.2.5 (pyrtcstack.stun.longterm, TURN_AUTH_RETRY): answer the 401
        # challenge; retry a stale nonce once per transaction.
        retry = self._auth.on_error(msg, signed=tx.authenticated, stale_retried=tx.stale_retried)
        if retry is not None:
            if retry is AuthRetry.STALE:
                self._stats["stale_nonce"] += 1
                tx.stale_retried = True
            self._start(tx, now)
            return
        self._on_failure(tx, remote_error_for(code, reason, tx.kind), now)

    def _on_failure(self, tx: _Transaction, error: TurnError, now: float) -> None:
        kind = tx.kind
        if kind == "allocate":
            self._fail(tx, error)
        elif kind == "deallocate":
            self._finish_deallocation()
        elif kind == "refresh":
            if isinstance(error, TurnRemoteError) and error.code == 437:
                self._lose_allocation("the server no longer knows the allocation (437)")
                return
            self._events.append(RequestFailed(kind, error, fatal=False))
            if self.state is ClientState.ALLOCATED:
                self._refresh_at = now + REFRESH_RETRY
        elif kind == "create-permission":
            for ip in tx.peer_ips:
                perm = self._permissions.get(ip)
                if perm is not None:
                    perm.requested = False
                    self._stats["queue_overflow"] += len(perm.pending)
                    perm.pending.clear()
            self._events.append(RequestFailed(kind, error, fatal=False))
        elif kind == "channel-bind":
            channel = self._channels.get(tx.channel) if tx.channel is not None else None
            if channel is not None and not channel.bound:
                del self._channels[channel.number]
                self._channel_by_peer.pop(channel.peer, None)
            elif channel is not None:
                channel.requested = False
            self._events.append(RequestFailed(kind, error, fatal=False))

    def _fail(self, tx: _Transaction, error: TurnError) -> None:
        self.state = ClientState.FAILED
        self._transactions.clear()
        self._events.append(RequestFailed(tx.kind, error, fatal=True))

    def _lose_allocation(self, reason: str) -> None:
        self.state = ClientState.CLOSED
        self._transactions.clear()
        self._events.append(AllocationExpired(reason))

    def _finish_deallocation(self) -> None:
        self.state = ClientState.CLOSED
        self._transactions.clear()
        self._events.append(Deallocated())
