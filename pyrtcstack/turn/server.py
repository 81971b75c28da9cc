"""A small sans-I/O TURN server core (RFC 8656, UDP relaying, long-term credentials).

Enough of a relay for tests, for the virtual networks of the ICE tests, and for people who
want a TURN server without installing one. It answers on one listening address; each
allocation gets a *relayed address* from ``relay_allocator`` (by default sequential ports
on ``relay_ip``). The core never opens sockets: the driver delivers datagrams that arrive
at a relayed address with :meth:`TurnServer.receive_relayed` (or through the
:class:`RelayEndpoint` view, one per relayed address, for address-routed drivers such as
:class:`~pyrtcstack.testing.pair.MemoryNetwork`), and sends what
:meth:`TurnServer.relayed_datagrams_to_send` returns from the named relayed address.
:class:`~.events.RelayOpened` / :class:`~.events.RelayClosed` tell the driver when a
relayed address starts and stops.

What it does, by RFC 8656 section:

* §7.2 Allocate: 401 with REALM and NONCE until the request carries valid long-term
  credentials (RFC 8489 §9.2.4); 438 for a nonce that expired (:attr:`nonce_lifetime`) or
  was issued to another client: the stateless nonce is a MAC over its expiry *and* the
  client's transport address and transport, so a captured request replayed from another
  source port gets 438, not an allocation;
  437 for a second allocation on the same 5-tuple (a retransmitted Allocate gets the cached
  response); 400 without REQUESTED-TRANSPORT, 442 unless it is UDP; 440 for an address
  family the relay IP does not have; 486 over ``user_quota`` (default
  :data:`MAX_ALLOCATIONS_PER_USER`), 508 over ``total_quota`` (default
  :data:`MAX_ALLOCATIONS`) or when the allocator has no port. Lifetime: the requested one
  clamped to [:data:`DEFAULT_LIFETIME`, :attr:`max_lifetime`].
* §8.2 Refresh (LIFETIME 0 deletes), §10.2 CreatePermission (300 s), §12.2 ChannelBind
  (600 s, also installs the permission), 437 without an allocation, 441 for another user,
  443 for a peer of the wrong address family.
* §10.2 / §12.2: a peer the :class:`~.policy.PeerPolicy` refuses (loopback, unspecified,
  link-local, multicast, broadcast, private ranges, operator ranges, the permission
  handler) or one of the server's own listening addresses gets **403 Forbidden**, counted
  (``stats["peer_denied"]``) and reported as a :class:`~.events.PeerDenied` event. A
  denied IP that is the IP of one of this server's relayed addresses gets a permission
  limited to those relayed addresses (two clients of one server relay to each other).
* §11.2 Send indications and §12.6 ChannelData from the client are relayed when the peer's
  IP has a permission and the peer is not a listening address of the server (dropped,
  counted, :class:`~.events.PeerDenied`); with ``max_bps`` each allocation may relay that
  many bytes per second each way (``stats["rate_limited"]`` counts the drops);
  §11.3/§12.7 datagrams from peers become ChannelData (bound channel) or Data
  indications, and are dropped without a permission.
* Binding requests are answered too (RFC 8489 §7.3), so clients can learn their mapped
  address from the same server.

Every drop is counted in :attr:`TurnServer.stats`. Passwords and keys never appear in
``repr``.
"""

from __future__ import annotations

import hmac
import ipaddress
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..common.core import Address, Event, default_rng
from ..stun import AttributeType as A
from ..stun import Message, MessageClass, Method
from . import wire
from .channeldata import (
    CHANNEL_NUMBER_MAX,
    CHANNEL_NUMBER_MIN,
    LEGACY_CHANNEL_NUMBER_MAX,
    decode_channel_data,
    encode_channel_data,
)
from .errors import TurnParseError
from .events import PeerDenied, RelayClosed, RelayOpened
from .policy import PeerPolicy, TokenBucket
from .relays import RelayEndpoint, SequentialRelayAllocator

__all__ = [
    "CHANNEL_LIFETIME",
    "DEFAULT_LIFETIME",
    "MAX_ALLOCATIONS",
    "MAX_ALLOCATIONS_PER_USER",
    "MAX_CHANNELS_PER_ALLOCATION",
    "MAX_PERMISSIONS_PER_ALLOCATION",
    "MAX_QUEUED_DATAGRAMS",
    "PERMISSION_LIFETIME",
    "RelayEndpoint",
    "SequentialRelayAllocator",
    "TurnServer",
]

#: RFC 8656 §7.2: default (and minimum granted) allocation lifetime.
DEFAULT_LIFETIME = 600
#: RFC 8656 §7.2: the largest lifetime granted unless the server is told otherwise.
MAX_LIFETIME = 3600
#: RFC 8656 §9 and §12: permission and channel binding lifetimes.
PERMISSION_LIFETIME = 300
CHANNEL_LIFETIME = 600
#: Nonces stay valid this long (RFC 8489 §9.2: the server chooses; coturn's
#: ``stale-nonce`` default is 600 s too); then 438.
NONCE_LIFETIME = 600.0
#: Limits of the tables (each documented on docs/turn.md).
MAX_ALLOCATIONS = 1000
MAX_ALLOCATIONS_PER_USER = 16
MAX_PERMISSIONS_PER_ALLOCATION = 256
MAX_CHANNELS_PER_ALLOCATION = 4096
#: Relayed addresses tried to find an even port for EVEN-PORT (RFC 8656 §7.2).
EVEN_PORT_ATTEMPTS = 16
#: Outgoing datagrams held between two drains (listening address plus every relay);
#: beyond it new ones are dropped and counted.
MAX_QUEUED_DATAGRAMS = 4096

_UDP = 17
_FAMILY_V4, _FAMILY_V6 = 0x01, 0x02


def _family(host: str) -> int:
    return _FAMILY_V6 if ":" in host else _FAMILY_V4


@dataclass(slots=True)
class _Allocation:
    client: Address
    relayed: Address
    username: str
    key: bytes
    expires_at: float
    transaction_id: bytes
    response: bytes
    permissions: dict[str, float] = field(default_factory=dict)
    channels: dict[int, tuple[Address, float]] = field(default_factory=dict)
    channel_by_peer: dict[Address, int] = field(default_factory=dict)
    #: IPs the policy refuses (ip -> the reason) whose permission covers only this
    #: server's relayed addresses.
    relay_only: dict[str, str] = field(default_factory=dict)
    to_peer: TokenBucket | None = None
    to_client: TokenBucket | None = None


class TurnServer:
    """The TURN server core (see the module docstring)."""

    def __init__(
        self,
        address: Address,
        users: Mapping[str, str],
        realm: str = "pyrtcstack",
        *,
        relay_ip: str | None = None,
        relay_allocator: Callable[[Address], Address | None] | None = None,
        relay_release: Callable[[Address], None] | None = None,
        nonce_lifetime: float = NONCE_LIFETIME,
        max_lifetime: int = MAX_LIFETIME,
        software: str | None = None,
        legacy_channels: bool = True,
        rng: random.Random | None = None,
        peer_policy: PeerPolicy | None = None,
        allow_loopback_peers: bool = False,
        allow_private_peers: bool = False,
        permission_handler: Callable[[Address, str], bool] | None = None,
        server_addresses: Iterable[Address] = (),
        user_quota: int = MAX_ALLOCATIONS_PER_USER,
        total_quota: int = MAX_ALLOCATIONS,
        max_bps: int | None = None,
    ) -> None:
        """``peer_policy`` (default: :class:`~.policy.PeerPolicy`, which refuses loopback,
        private and other internal peers); ``allow_loopback_peers``,
        ``allow_private_peers`` and ``permission_handler(client, peer_ip) -> bool`` adjust
        it. ``server_addresses``: more listening transport addresses of this server
        (TCP/TLS listeners) that no peer may be; ``address`` always is one.
        ``user_quota``/``total_quota``: concurrent allocations per user / in all (486 /
        508 beyond); ``max_bps``: bytes per second each allocation may relay each way."""
        self.address = address
        policy = peer_policy if peer_policy is not None else PeerPolicy()
        if allow_loopback_peers or allow_private_peers or permission_handler is not None:
            policy = replace(
                policy,
                allow_loopback=policy.allow_loopback or allow_loopback_peers,
                allow_private=policy.allow_private or allow_private_peers,
                handler=permission_handler or policy.handler,
            )
        self.peer_policy = policy
        self.user_quota = user_quota
        self.total_quota = total_quota
        self.max_bps = max_bps
        self._own: set[Address] = set()
        self._own_any_ports: set[int] = set()
        for own in (address, *server_addresses):
            self.add_server_address(own)
        self._relay_ips: dict[str, int] = {}
        self._transports: dict[Address, str] = {}
        #: Highest channel number accepted: 0x7FFF (RFC 5766 clients) unless
        #: ``legacy_channels=False`` restricts it to RFC 8656's 0x4FFF.
        self.max_channel = LEGACY_CHANNEL_NUMBER_MAX if legacy_channels else CHANNEL_NUMBER_MAX
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self.max_lifetime = max_lifetime
        self._software = software
        self._rng = default_rng(rng)
        self._secret = self._rng.randbytes(16)
        # Only the derived keys are kept (RFC 8489 §9.2.2), never the passwords.
        self._keys = {u: wire.long_term_key(u, realm, p) for u, p in users.items()}
        if relay_allocator is None:
            default = SequentialRelayAllocator(relay_ip or address[0])
            relay_allocator, relay_release = default, default.release
        self._allocate_relay = relay_allocator
        self._release_relay = relay_release
        self._allocations: dict[Address, _Allocation] = {}
        self._by_relay: dict[Address, _Allocation] = {}
        self._per_user: dict[str, int] = {}
        self._out: list[tuple[bytes, Address]] = []
        self._relay_out: list[tuple[bytes, Address, Address]] = []
        self._events: deque[Event] = deque()
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "dropped",
                "unauthenticated",
                "stale_nonce",
                "no_permission",
                "relayed_to_peer",
                "relayed_to_client",
                "queue_overflow",
                "allocations",
                "peer_denied",
                "rate_limited",
            ),
            0,
        )

    def __repr__(self) -> str:
        return (
            f"<TurnServer {self.address} realm={self.realm!r} users={len(self._keys)} "
            f"allocations={len(self._allocations)}>"
        )

    @property
    def allocations(self) -> dict[Address, Address]:
        """Client 5-tuple (its address) → relayed address, for every live allocation."""
        return {c: a.relayed for c, a in self._allocations.items()}

    def has_allocation(self, client: Address) -> bool:
        """Whether ``client`` (its transport address) holds a live allocation."""
        return client in self._allocations

    def add_server_address(self, address: Address) -> None:
        """One more listening transport address of this server: no client may make it a
        peer (RFC 8656 §10.2 lets a server refuse any peer by policy: 403)."""
        try:
            parsed = ipaddress.ip_address(address[0].partition("%")[0])
        except ValueError:
            return  # a host name: the driver adds the address it bound
        if parsed.is_unspecified:
            self._own_any_ports.add(address[1])
        self._own.add((str(parsed), address[1]))

    def connection_opened(self, client: Address, transport: str) -> None:
        """A TCP or TLS client connected from ``client`` (``transport`` "tcp"/"tls"): the
        nonces it is given are bound to that transport (and to its address)."""
        self._transports[client] = transport

    def relay_endpoint(self, relayed: Address) -> RelayEndpoint:
        """A :class:`~pyrtcstack.common.core.DatagramCore` view of one relayed address."""
        return RelayEndpoint(self, relayed)

    # ------------------------------------------------------------- core contract
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """A datagram from a client to the listening address."""
        if not data:
            self.stats["dropped"] += 1
            return
        try:
            if 64 <= data[0] <= (self.max_channel >> 8):
                self._on_client_channel_data(data, addr, now)
            elif data[0] < 4:
                msg = wire.parse(data)
                if msg.message_class == MessageClass.REQUEST:
                    self._on_request(msg, addr, now)
                elif msg.message_class == MessageClass.INDICATION and msg.method == Method.SEND:
                    self._on_send_indication(msg, addr, now)
                else:
                    self.stats["dropped"] += 1
            else:
                self.stats["dropped"] += 1
        except TurnParseError:
            self.stats["dropped"] += 1

    def receive_relayed(self, data: bytes, peer: Address, relayed: Address, now: float) -> None:
        """A datagram from ``peer`` arrived at ``relayed`` (RFC 8656 §11.3, §12.7)."""
        alloc = self._by_relay.get(relayed)
        if alloc is None or alloc.expires_at <= now:
            self.stats["dropped"] += 1
            return
        expires = alloc.permissions.get(peer[0])
        if (
            expires is None
            or expires <= now
            or (alloc.relay_only and peer[0] in alloc.relay_only and peer not in self._by_relay)
        ):
            self.stats["no_permission"] += 1
            return
        if alloc.to_client is not None and not alloc.to_client.take(len(data), now):
            self.stats["rate_limited"] += 1
            return
        number = alloc.channel_by_peer.get(peer)
        if number is not None and alloc.channels[number][1] > now:
            out = encode_channel_data(number, data, max_channel=self.max_channel)
        else:
            tid = self._rng.randbytes(12)
            attrs = [
                (int(A.XOR_PEER_ADDRESS), wire.pack_xor_address(peer, tid)),
                (int(A.DATA), data),
            ]
            out = wire.build(Method.DATA, MessageClass.INDICATION, tid, attrs, fingerprint=False)
        self.stats["relayed_to_client"] += 1
        self._queue(out, alloc.client)

    def connection_closed(self, client: Address, now: float) -> None:
        """A TCP/TLS client connection ended: its allocation ends with it (RFC 8656 §5,
        "the allocation is deleted when the connection closes")."""
        self._transports.pop(client, None)
        alloc = self._allocations.get(client)
        if alloc is not None:
            self._delete(alloc, "connection closed")

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """What the listening address sends (to clients)."""
        out, self._out = self._out, []
        return out

    def relayed_datagrams_to_send(self) -> list[tuple[bytes, Address, Address]]:
        """What relayed addresses send: ``(data, relayed_address, peer)``."""
        out, self._relay_out = self._relay_out, []
        return out

    def take_relayed(self, relayed: Address) -> list[tuple[bytes, Address]]:
        """Only the datagrams ``relayed`` sends (used by :class:`RelayEndpoint`)."""
        mine = [(d, p) for d, r, p in self._relay_out if r == relayed]
        if mine:
            self._relay_out = [x for x in self._relay_out if x[1] != relayed]
        return mine

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if not self._allocations:
            return None
        return min(a.expires_at for a in self._allocations.values())

    def handle_timer(self, now: float) -> None:
        for alloc in [a for a in self._allocations.values() if a.expires_at <= now]:
            self._delete(alloc, "expired")
        for alloc in self._allocations.values():
            for ip in [ip for ip, t in alloc.permissions.items() if t <= now]:
                del alloc.permissions[ip]
                alloc.relay_only.pop(ip, None)
            for number in [n for n, (_p, t) in alloc.channels.items() if t <= now]:
                peer, _ = alloc.channels.pop(number)
                alloc.channel_by_peer.pop(peer, None)

    # ------------------------------------------------------------- helpers
    def _queue(self, data: bytes, dst: Address) -> None:
        if len(self._out) + len(self._relay_out) >= MAX_QUEUED_DATAGRAMS:
            self.stats["queue_overflow"] += 1
            return
        self._out.append((data, dst))

    def _nonce_mac(self, text: bytes, addr: Address) -> bytes:
        # The MAC binds the expiry to the client's transport address and transport
        # (RFC 8489 §9.2: the nonce's content is the server's choice), so a nonce (and a
        # request carrying it) is worthless from any other 5-tuple.
        bound = b"%s|%s|%s|%d" % (
            text,
            self._transports.get(addr, "udp").encode(),
            addr[0].encode(),
            addr[1],
        )
        return hmac.digest(self._secret, bound, "sha256")[:8].hex().encode()

    def _nonce(self, now: float, addr: Address) -> bytes:
        # Stateless nonce: expiry time in ms, then a MAC of it and of the client.
        expiry = int((now + self.nonce_lifetime) * 1000)
        text = f"{expiry:012x}".encode()
        return text + self._nonce_mac(text, addr)

    def _nonce_valid(self, nonce: bytes, addr: Address, now: float) -> bool:
        if len(nonce) != 28:
            return False
        text, mac = nonce[:12], nonce[12:]
        good = self._nonce_mac(text, addr)
        if not hmac.compare_digest(mac, good):
            return False
        try:
            return int(text, 16) / 1000 > now
        except ValueError:
            return False

    def _respond(
        self,
        request: Message,
        addr: Address,
        attrs: list[tuple[int, bytes]],
        key: bytes | None,
        *,
        code: int | None = None,
        reason: str | None = None,
    ) -> bytes:
        cls = MessageClass.SUCCESS if code is None else MessageClass.ERROR
        msg = Message(request.method, cls, request.transaction_id)
        if code is not None:
            msg.add_error(code, reason)
        msg.attributes.extend(attrs)
        if self._software is not None:
            msg.add_text(A.SOFTWARE, self._software)
        data = msg.encode(key, fingerprint=True)
        self._queue(data, addr)
        return data

    def _challenge(self, request: Message, addr: Address, code: int, now: float) -> None:
        # RFC 8489 §9.2.4: 401 (or 438) with REALM and a fresh NONCE, no integrity.
        attrs = [(int(A.REALM), self.realm.encode()), (int(A.NONCE), self._nonce(now, addr))]
        self._respond(request, addr, attrs, None, code=code)

    # ------------------------------------------------------------- requests
    def _on_request(self, msg: Message, addr: Address, now: float) -> None:
        if msg.unknown_required:
            # RFC 8489 §6.3.1.1: 420 listing the unknown comprehension-required types.
            err = msg.error_response(420).add_unknown_attributes(msg.unknown_required)
            self._queue(err.encode(fingerprint=True), addr)
            return
        if msg.method == Method.BINDING:
            # RFC 8489 §7.3: a Binding request gets its source as XOR-MAPPED-ADDRESS.
            resp = msg.success_response().add_address(A.XOR_MAPPED_ADDRESS, addr)
            self._queue(resp.encode(fingerprint=True), addr)
            return
        if msg.method not in (
            Method.ALLOCATE,
            Method.REFRESH,
            Method.CREATE_PERMISSION,
            Method.CHANNEL_BIND,
        ):
            self._respond(msg, addr, [], None, code=400, reason="unknown method")
            return
        alloc = self._allocations.get(addr)
        if (
            msg.method == Method.ALLOCATE
            and alloc is not None
            and alloc.transaction_id == msg.transaction_id
        ):
            # RFC 8656 §7.2: a retransmitted Allocate gets the same success response.
            self._queue(alloc.response, addr)
            return
        key = self._authenticate(msg, addr, now)
        if key is None:
            return
        username = msg.get_text(A.USERNAME) or ""
        if msg.method == Method.ALLOCATE:
            self._allocate(msg, addr, username, key, now)
            return
        if alloc is None or alloc.expires_at <= now:
            self._respond(msg, addr, [], key, code=437)
            return
        if alloc.username != username:
            self._respond(msg, addr, [], key, code=441)
            return
        if msg.method == Method.REFRESH:
            self._refresh(msg, alloc, key, now)
        elif msg.method == Method.CREATE_PERMISSION:
            self._create_permission(msg, alloc, key, now)
        else:
            self._channel_bind(msg, alloc, key, now)

    def _authenticate(self, msg: Message, addr: Address, now: float) -> bytes | None:
        """RFC 8489 §9.2.4: the key if the request is authenticated, else None (and the
        error response is queued)."""
        if msg.integrity is None:
            self.stats["unauthenticated"] += 1
            self._challenge(msg, addr, 401, now)
            return None
        try:
            username, realm = msg.get_text(A.USERNAME), msg.get_text(A.REALM)
        except ValueError:
            username = realm = None
        nonce = msg.get(A.NONCE)
        if username is None or realm is None or nonce is None:
            self._respond(msg, addr, [], None, code=400)
            return None
        if not self._nonce_valid(nonce, addr, now):
            self.stats["stale_nonce"] += 1
            self._challenge(msg, addr, 438, now)
            return None
        key = self._keys.get(username)
        if key is None or realm != self.realm or not msg.verify_integrity(key):
            self.stats["unauthenticated"] += 1
            self._challenge(msg, addr, 401, now)
            return None
        return key

    def _allocate(self, msg: Message, addr: Address, user: str, key: bytes, now: float) -> None:
        if addr in self._allocations:
            self._respond(msg, addr, [], key, code=437)
            return
        try:
            transport = msg.get_requested_transport()
            family = msg.get_address_family(A.REQUESTED_ADDRESS_FAMILY)
        except ValueError:
            self._respond(msg, addr, [], key, code=400)
            return
        if transport is None:
            self._respond(msg, addr, [], key, code=400, reason="REQUESTED-TRANSPORT missing")
            return
        if transport != _UDP:
            self._respond(msg, addr, [], key, code=442)
            return
        try:
            even = msg.get_even_port()
        except ValueError:
            self._respond(msg, addr, [], key, code=400)
            return
        if even or A.RESERVATION_TOKEN in msg:
            # RFC 8656 §7.2: port reservations (R bit, RESERVATION-TOKEN) are not offered
            # by this small server (docs/turn.md); an even port alone is.
            self._respond(msg, addr, [], key, code=508, reason="port reservation not supported")
            return
        if len(self._allocations) >= self.total_quota:
            self._respond(msg, addr, [], key, code=508)
            return
        if self._per_user.get(user, 0) >= self.user_quota:
            self._respond(msg, addr, [], key, code=486)
            return
        relayed = self._relay_address(addr, even=even is not None)
        if relayed is None:
            self._respond(msg, addr, [], key, code=508)
            return
        if family is not None and family != _family(relayed[0]):
            if self._release_relay is not None:
                self._release_relay(relayed)
            self._respond(msg, addr, [], key, code=440)
            return
        lifetime = self._lifetime(msg)
        attrs = [
            (int(A.XOR_RELAYED_ADDRESS), wire.pack_xor_address(relayed, msg.transaction_id)),
            (int(A.LIFETIME), lifetime.to_bytes(4, "big")),
            (int(A.XOR_MAPPED_ADDRESS), wire.pack_xor_address(addr, msg.transaction_id)),
        ]
        response = self._respond(msg, addr, attrs, key)
        alloc = _Allocation(addr, relayed, user, key, now + lifetime, msg.transaction_id, response)
        if self.max_bps is not None:
            alloc.to_peer = TokenBucket(self.max_bps, now)
            alloc.to_client = TokenBucket(self.max_bps, now)
        self._allocations[addr] = alloc
        self._by_relay[relayed] = alloc
        self._relay_ips[relayed[0]] = self._relay_ips.get(relayed[0], 0) + 1
        self._per_user[user] = self._per_user.get(user, 0) + 1
        self.stats["allocations"] += 1
        self._events.append(RelayOpened(relayed, addr, user))

    def _relay_address(self, client: Address, even: bool) -> Address | None:
        """A relayed address from the allocator; with EVEN-PORT (RFC 8656 §7.2) an even
        port, trying up to :data:`EVEN_PORT_ATTEMPTS` addresses."""
        if not even:
            return self._allocate_relay(client)
        rejected: list[Address] = []
        found: Address | None = None
        for _ in range(EVEN_PORT_ATTEMPTS):
            candidate = self._allocate_relay(client)
            if candidate is None:
                break
            if candidate[1] % 2 == 0:
                found = candidate
                break
            rejected.append(candidate)
        if self._release_relay is not None:
            for candidate in rejected:
                self._release_relay(candidate)
        return found

    def _lifetime(self, msg: Message) -> int:
        try:
            requested = msg.get_uint32(A.LIFETIME)
        except ValueError:
            requested = None
        if requested is None:
            return DEFAULT_LIFETIME
        if requested == 0:
            return 0
        return max(DEFAULT_LIFETIME, min(requested, self.max_lifetime))

    def _refresh(self, msg: Message, alloc: _Allocation, key: bytes, now: float) -> None:
        lifetime = self._lifetime(msg)
        if lifetime == 0:
            self._delete(alloc, "deallocated")
        else:
            alloc.expires_at = now + lifetime
        self._respond(msg, alloc.client, [(int(A.LIFETIME), lifetime.to_bytes(4, "big"))], key)

    def _peers(self, msg: Message, alloc: _Allocation) -> list[Address] | int:
        """The XOR-PEER-ADDRESSes of a request, or the error code to answer."""
        try:
            peers = msg.get_addresses(A.XOR_PEER_ADDRESS)
        except ValueError:
            return 400
        if not peers:
            return 400
        family = _family(alloc.relayed[0])
        if any(_family(p[0]) != family for p in peers):
            return 443  # RFC 8656 §10.2: Peer Address Family Mismatch
        return [(str(ipaddress.ip_address(h)), p) for h, p in peers]

    # ------------------------------------------------------------- peer policy
    def _is_own(self, peer: Address) -> bool:
        """Whether ``peer`` is one of this server's listening transport addresses."""
        return peer in self._own or (
            peer[1] in self._own_any_ports and (peer[0] in self._relay_ips)
        )

    def _judge(self, alloc: _Allocation, ip: str) -> tuple[str | None, str | None]:
        """The policy's verdict on peer ``ip``: (reason it is refused or None, and when
        only this server's relayed addresses on that IP are allowed, the reason the rest
        of the IP is not)."""
        reason = self.peer_policy.check(alloc.client, ip)
        if reason in ("loopback", "private") and ip in self._relay_ips:
            # The IP of our own relayed addresses: relaying between two allocations of this
            # server is what two clients of one TURN server do; only those ports are open.
            return None, reason
        return reason, None

    def _port_refusal(self, alloc: _Allocation, peer: Address) -> str | None:
        """Why ``peer`` may not be sent to although its IP has a permission, or None."""
        if self._is_own(peer):
            return "server-address"
        if alloc.relay_only and peer not in self._by_relay:
            return alloc.relay_only.get(peer[0])
        return None

    def _deny(self, alloc: _Allocation, peer: Address, reason: str, method: str) -> None:
        self.stats["peer_denied"] += 1
        self._events.append(PeerDenied(alloc.client, peer, reason, method))

    def _create_permission(self, msg: Message, alloc: _Allocation, key: bytes, now: float) -> None:
        peers = self._peers(msg, alloc)
        if isinstance(peers, int):
            self._respond(msg, alloc.client, [], key, code=peers)
            return
        limited: dict[str, str] = {}
        for peer in peers:
            reason, relay_only = self._judge(alloc, peer[0])
            if reason is not None:
                # RFC 8656 §10.2: a peer address the server's policy does not allow: 403,
                # and none of the request's permissions is installed.
                self._deny(alloc, peer, reason, "create-permission")
                self._respond(msg, alloc.client, [], key, code=403, reason="peer not allowed")
                return
            if relay_only is not None:
                limited[peer[0]] = relay_only
        new = {ip for ip, _ in peers} - alloc.permissions.keys()
        if len(alloc.permissions) + len(new) > MAX_PERMISSIONS_PER_ALLOCATION:
            self._respond(msg, alloc.client, [], key, code=508)
            return
        for ip, _ in peers:
            alloc.permissions[ip] = now + PERMISSION_LIFETIME
        alloc.relay_only.update(limited)
        self._respond(msg, alloc.client, [], key)

    def _channel_bind(self, msg: Message, alloc: _Allocation, key: bytes, now: float) -> None:
        try:
            number = msg.get_channel_number()
        except ValueError:
            number = None
        peers = self._peers(msg, alloc)
        if (
            number is None
            or not CHANNEL_NUMBER_MIN <= number <= self.max_channel
            or isinstance(peers, int)
        ):
            code = peers if isinstance(peers, int) and number is not None else 400
            self._respond(msg, alloc.client, [], key, code=code)
            return
        peer = peers[0]
        reason, relay_only = self._judge(alloc, peer[0])
        if reason is None and self._is_own(peer):
            reason = "server-address"
        elif reason is None and relay_only is not None and peer not in self._by_relay:
            reason = relay_only
        if reason is not None:
            # RFC 8656 §12.2: the server's policy does not allow this peer: 403.
            self._deny(alloc, peer, reason, "channel-bind")
            self._respond(msg, alloc.client, [], key, code=403, reason="peer not allowed")
            return
        bound = alloc.channels.get(number)
        other = alloc.channel_by_peer.get(peer)
        # RFC 8656 §12.2: a channel stays with one peer, and a peer with one channel.
        if (bound is not None and bound[0] != peer) or (other is not None and other != number):
            self._respond(
                msg, alloc.client, [], key, code=400, reason="channel or peer already bound"
            )
            return
        if bound is None and len(alloc.channels) >= MAX_CHANNELS_PER_ALLOCATION:
            self._respond(msg, alloc.client, [], key, code=508)
            return
        if peer[0] not in alloc.permissions and (
            len(alloc.permissions) >= MAX_PERMISSIONS_PER_ALLOCATION
        ):
            self._respond(msg, alloc.client, [], key, code=508)
            return
        alloc.channels[number] = (peer, now + CHANNEL_LIFETIME)
        alloc.channel_by_peer[peer] = number
        alloc.permissions[peer[0]] = now + PERMISSION_LIFETIME
        if relay_only is not None:
            alloc.relay_only[peer[0]] = relay_only
        self._respond(msg, alloc.client, [], key)

    # ------------------------------------------------------------- data
    def _relay(self, alloc: _Allocation, data: bytes, peer: Address, now: float) -> None:
        expires = alloc.permissions.get(peer[0])
        if expires is None or expires <= now:
            self.stats["no_permission"] += 1
            return
        if (peer in self._own or self._own_any_ports or alloc.relay_only) and (
            refusal := self._port_refusal(alloc, peer)
        ) is not None:
            # RFC 8656 §11.2: a Send indication (or ChannelData) the server's policy does
            # not allow is discarded: the IP is permitted, this port is not.
            self._deny(alloc, peer, refusal, "send")
            return
        if alloc.to_peer is not None and not alloc.to_peer.take(len(data), now):
            self.stats["rate_limited"] += 1
            return
        if len(self._out) + len(self._relay_out) >= MAX_QUEUED_DATAGRAMS:
            self.stats["queue_overflow"] += 1
            return
        self.stats["relayed_to_peer"] += 1
        self._relay_out.append((data, alloc.relayed, peer))

    def _on_send_indication(self, msg: Message, addr: Address, now: float) -> None:
        # RFC 8656 §11.2: no authentication; needs XOR-PEER-ADDRESS and DATA.
        alloc = self._allocations.get(addr)
        data = msg.get(A.DATA)
        try:
            peer = msg.get_address(A.XOR_PEER_ADDRESS)
        except ValueError:
            peer = None
        if alloc is None or alloc.expires_at <= now or peer is None or data is None:
            self.stats["dropped"] += 1
            return
        self._relay(alloc, data, (str(ipaddress.ip_address(peer[0])), peer[1]), now)

    def _on_client_channel_data(self, data: bytes, addr: Address, now: float) -> None:
        alloc = self._allocations.get(addr)
        if alloc is None:
            self.stats["dropped"] += 1
            return
        msg = decode_channel_data(data, max_channel=self.max_channel)
        bound = alloc.channels.get(msg.channel)
        if bound is None or bound[1] <= now:
            # RFC 8656 §12.6: ChannelData on an unbound channel is discarded.
            self.stats["dropped"] += 1
            return
        self._relay(alloc, msg.data, bound[0], now)

    def _delete(self, alloc: _Allocation, reason: str) -> None:
        self._allocations.pop(alloc.client, None)
        self._by_relay.pop(alloc.relayed, None)
        left = self._relay_ips.get(alloc.relayed[0], 1) - 1
        if left > 0:
            self._relay_ips[alloc.relayed[0]] = left
        else:
            self._relay_ips.pop(alloc.relayed[0], None)
        self._per_user[alloc.username] -= 1
        if self._release_relay is not None:
            self._release_relay(alloc.relayed)
        self._events.append(RelayClosed(alloc.relayed, reason))
