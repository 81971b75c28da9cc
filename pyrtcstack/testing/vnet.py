"""A deterministic virtual internet with NATs, on a virtual clock, for sans-I/O cores.

:class:`VirtualNetwork` simulates UDP between addresses on *networks* (segments). The root
network is "the internet"; :meth:`VirtualNetwork.add_nat` puts a private network behind a
NAT router whose behaviour follows RFC 4787:

* **mapping** (RFC 4787 §4.1): endpoint-independent, address-dependent, or
  address-and-port-dependent; with or without port preservation; mappings expire after
  ``mapping_timeout`` seconds without outbound traffic (§4.3, REQ-5/REQ-6);
* **filtering** (RFC 4787 §5): endpoint-independent, address-dependent, or
  address-and-port-dependent;
* **hairpinning** (RFC 4787 §6, REQ-9), a static **1:1 NAT**, and a router that
  **blocks UDP** altogether.

Every network segment has a :class:`Link` with delay, jitter, loss, duplication,
reordering and an MTU; all randomness comes from one seeded :class:`random.Random`, so the
same seed gives the same run, byte for byte (:meth:`VirtualNetwork.trace_digest`).

Any core of the contract family (:mod:`pyrtcstack.common.core`) can be attached: a
``DatagramCore`` at one socket, a ``MultiSocketCore`` (an ICE agent with one socket per
host candidate, a peer connection, a TURN server with relayed ports) at several:

``receive_datagrams([(data, addr)], now, local=(ip, port))``
    the datagram arrived on the core's socket ``local``;
``transmits(now) -> list[(data, local, remote)]``
    drain what the core wants to send, each from one of its sockets.

The clock jumps from one delivery or core deadline to the next, so a 30-second timeout
costs microseconds and nothing ever sleeps. See docs/vnet.md for a walk-through.
"""

from __future__ import annotations

import hashlib
import heapq
import ipaddress
import random
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from ..common.core import Address, Core, DatagramCore, Event, MultiSocketCore
from ..common.errors import LocalProtocolError

__all__ = [
    "NAT_PRESETS",
    "Filtering",
    "Host",
    "Link",
    "Mapping",
    "MultiSocketCore",
    "Nat",
    "Network",
    "Node",
    "Router",
    "TraceRecord",
    "VirtualNetwork",
]

#: Size of the IPv4 + UDP headers counted against a link's MTU.
IPV4_UDP_OVERHEAD = 28
#: Size of the IPv6 + UDP headers counted against a link's MTU.
IPV6_UDP_OVERHEAD = 48
#: Lowest and highest external port a NAT allocates (RFC 4787 §4.2.1: avoid well-known ports).
NAT_PORT_RANGE = (1024, 65535)
#: Upper bound of live mappings per router; new flows are dropped (and counted) beyond it.
MAX_NAT_MAPPINGS = 60_000


class Mapping(Enum):
    """RFC 4787 §4.1 mapping behaviour: what the external address depends on."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"


class Filtering(Enum):
    """RFC 4787 §5 filtering behaviour: who may send to an existing mapping."""

    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"


@dataclass(frozen=True, slots=True)
class Nat:
    """The behaviour of one NAT router (RFC 4787 vocabulary; presets below)."""

    mapping: Mapping = Mapping.ENDPOINT_INDEPENDENT
    filtering: Filtering = Filtering.ADDRESS_AND_PORT_DEPENDENT
    #: Keep the internal port as the external one when it is free (Linux masquerade does).
    port_preservation: bool = True
    #: Seconds a mapping lives without outbound traffic (RFC 4787 REQ-5: at least 120 s).
    mapping_timeout: float = 120.0
    #: Whether inbound packets also refresh a mapping (RFC 4787 REQ-6 allows either).
    inbound_refresh: bool = False
    #: RFC 4787 REQ-9: packets from inside to a mapped address loop back inside.
    hairpinning: bool = True
    #: A static 1:1 NAT: private IP <-> public IP, every port, no filtering, no timeout.
    one_to_one: bool = False
    #: The router drops all UDP in both directions.
    block_udp: bool = False

    @classmethod
    def full_cone(cls) -> Nat:
        """EIM + endpoint-independent filtering."""
        return cls(Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT)

    @classmethod
    def restricted_cone(cls) -> Nat:
        """EIM + address-dependent filtering."""
        return cls(Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_DEPENDENT)

    @classmethod
    def port_restricted_cone(cls) -> Nat:
        """EIM + address-and-port-dependent filtering (RFC 4787's recommended default)."""
        return cls(Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT)

    @classmethod
    def symmetric(cls) -> Nat:
        """Address-and-port-dependent mapping and filtering, random ports."""
        return cls(
            Mapping.ADDRESS_AND_PORT_DEPENDENT,
            Filtering.ADDRESS_AND_PORT_DEPENDENT,
            port_preservation=False,
        )

    @classmethod
    def address_dependent_symmetric(cls) -> Nat:
        """Address-dependent mapping and filtering, random ports."""
        return cls(Mapping.ADDRESS_DEPENDENT, Filtering.ADDRESS_DEPENDENT, port_preservation=False)

    @classmethod
    def static_one_to_one(cls) -> Nat:
        """1:1 NAT: each inside host owns one public address, all ports open."""
        return cls(Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT, one_to_one=True)

    @classmethod
    def udp_blocked(cls) -> Nat:
        """A firewall that lets no UDP through."""
        return cls(block_udp=True)


#: The NAT types of the matrix, by short name.
NAT_PRESETS: dict[str, Nat] = {
    "full-cone": Nat.full_cone(),
    "restricted": Nat.restricted_cone(),
    "port-restricted": Nat.port_restricted_cone(),
    "symmetric": Nat.symmetric(),
    "addr-symmetric": Nat.address_dependent_symmetric(),
    "one-to-one": Nat.static_one_to_one(),
    "udp-blocked": Nat.udp_blocked(),
}


@dataclass
class Link:
    """Impairments of one network segment, applied to each datagram crossing it."""

    delay: float = 0.005
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    #: Largest IP datagram (headers included); bigger ones are dropped (no fragmentation).
    mtu: int = 1500
    #: Optional deterministic filter: return True to drop ``(data, src, dst)``.
    drop_if: Callable[[bytes, Address, Address], bool] | None = None
    #: A bottleneck: bits per second (None: no rate limit). Datagrams towards one
    #: destination address leave one after the other, each taking its size (IP and UDP
    #: headers included) * 8 / ``rate`` seconds, then ``delay``; each direction of a path
    #: has its own queue.
    rate: float | None = None
    #: The bottleneck's drop-tail queue, in datagrams waiting or being sent: one arriving
    #: at a full queue is dropped (counted as ``queue_drop``).
    queue: int = 1000


@dataclass(slots=True)
class _NatMapping:
    internal: Address
    external: Address
    expires: float
    permitted_ips: set[str] = field(default_factory=set)
    permitted: set[Address] = field(default_factory=set)


class Network:
    """One segment: a set of interface addresses, optionally behind a gateway router."""

    def __init__(self, name: str, link: Link, gateway: Router | None = None) -> None:
        self.name = name
        self.link = link
        self.gateway = gateway
        #: interface IP -> host on this segment
        self.hosts: dict[str, Host] = {}
        #: outside IP -> router whose outside interface is on this segment
        self.routers: dict[str, Router] = {}

    def __repr__(self) -> str:
        return f"Network({self.name!r})"


class Host:
    """A named machine with one or more interface addresses."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.interfaces: dict[str, Network] = {}

    @property
    def ip(self) -> str:
        """The first interface address."""
        return next(iter(self.interfaces))

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {list(self.interfaces)})"


class Router:
    """A NAT between an inside network and an outside network (RFC 4787)."""

    def __init__(
        self,
        name: str,
        nat: Nat,
        *,
        outside: Network,
        public_ip: str,
        inside: Network,
        rng: random.Random,
        stats: Counter[str],
    ) -> None:
        self.name = name
        self.nat = nat
        self.outside = outside
        self.public_ips = [public_ip]
        self.inside = inside
        self._rng = rng
        self._stats = stats
        self._mappings: dict[tuple[object, ...], _NatMapping] = {}
        self._by_external: dict[Address, _NatMapping] = {}
        #: 1:1 NAT tables
        self._static_out: dict[str, str] = {}
        self._static_in: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Router({self.name!r}, {self.public_ips})"

    @property
    def public_ip(self) -> str:
        return self.public_ips[0]

    def mappings(self, now: float) -> list[tuple[Address, Address]]:
        """The live (internal, external) mappings at ``now``, for inspection."""
        return [(m.internal, m.external) for m in self._mappings.values() if m.expires > now]

    # RFC 4787 §4.1: the mapping key decides when a new external address is needed.
    def _key(self, src: Address, dst: Address) -> tuple[object, ...]:
        mapping = self.nat.mapping
        if mapping is Mapping.ENDPOINT_INDEPENDENT:
            return (src,)
        if mapping is Mapping.ADDRESS_DEPENDENT:
            return (src, dst[0])
        return (src, dst)

    def _allocate_port(self, internal_port: int, ip: str) -> int | None:
        low, high = NAT_PORT_RANGE
        if self.nat.port_preservation and (ip, internal_port) not in self._by_external:
            return internal_port
        for _ in range(64):
            port = self._rng.randint(low, high)
            if (ip, port) not in self._by_external:
                return port
        for port in range(low, high + 1):  # pragma: no cover - table nearly full
            if (ip, port) not in self._by_external:
                return port
        return None  # pragma: no cover

    def _expire(self, mapping: _NatMapping) -> None:
        for key, m in list(self._mappings.items()):
            if m is mapping:
                del self._mappings[key]
        self._by_external.pop(mapping.external, None)

    def outbound(self, src: Address, dst: Address, now: float) -> Address | None:
        """Translate the source of a packet leaving the inside network (None: dropped)."""
        nat = self.nat
        if nat.block_udp:
            self._stats["nat_udp_blocked"] += 1
            return None
        if nat.one_to_one:
            public = self._static_out.get(src[0])
            if public is None:
                self._stats["nat_no_mapping"] += 1
                return None
            return (public, src[1])
        key = self._key(src, dst)
        m = self._mappings.get(key)
        if m is not None and m.expires <= now:
            self._expire(m)
            m = None
        if m is None:
            if len(self._mappings) >= MAX_NAT_MAPPINGS:
                self._stats["nat_table_full"] += 1
                return None
            port = self._allocate_port(src[1], self.public_ip)
            if port is None:  # pragma: no cover
                self._stats["nat_table_full"] += 1
                return None
            m = _NatMapping(src, (self.public_ip, port), now + nat.mapping_timeout)
            self._mappings[key] = m
            self._by_external[m.external] = m
            self._stats["nat_mappings_created"] += 1
        m.expires = now + nat.mapping_timeout  # RFC 4787 REQ-6: outbound refreshes
        m.permitted_ips.add(dst[0])
        m.permitted.add(dst)
        return m.external

    def inbound(self, src: Address, dst: Address, now: float) -> Address | None:
        """Translate the destination of a packet arriving from outside (None: dropped)."""
        nat = self.nat
        if nat.block_udp:
            self._stats["nat_udp_blocked"] += 1
            return None
        if nat.one_to_one:
            private = self._static_in.get(dst[0])
            if private is None:
                self._stats["nat_no_mapping"] += 1
                return None
            return (private, dst[1])
        m = self._by_external.get(dst)
        if m is not None and m.expires <= now:
            self._expire(m)
            m = None
        if m is None:
            self._stats["nat_no_mapping"] += 1
            return None
        # RFC 4787 §5: filtering of inbound packets to an existing mapping.
        filtering = nat.filtering
        if (filtering is Filtering.ADDRESS_DEPENDENT and src[0] not in m.permitted_ips) or (
            filtering is Filtering.ADDRESS_AND_PORT_DEPENDENT and src not in m.permitted
        ):
            self._stats["nat_filtered"] += 1
            return None
        if nat.inbound_refresh:
            m.expires = now + nat.mapping_timeout
        return m.internal


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One datagram put on a segment (before loss): when, where, from, to, what."""

    at: float
    network: str
    src: Address
    dst: Address
    data: bytes


#: A scheduled arrival: (time, sequence, network, source, destination, payload); plain
#: tuples order fast in the heap and the sequence number breaks ties deterministically.
_Delivery = tuple[float, int, "Network", Address, Address, bytes]


class Node:
    """A core attached to the network, with the events it has emitted."""

    def __init__(self, name: str, core: DatagramCore | MultiSocketCore, sockets: list[Address]):
        self.name = name
        self.core: Core = core
        self.sockets = sockets
        #: the core as what it is: a multi-socket core, or a single-socket one
        self.multi_core: MultiSocketCore | None = None
        self.single_core: DatagramCore | None = None
        if isinstance(core, MultiSocketCore):
            self.multi_core = core
        else:
            self.single_core = core
        self.multi = self.multi_core is not None
        self.events: list[Event] = []
        self.received = 0
        self.sent = 0

    def pop_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.sockets})"


class VirtualNetwork:
    """A simulated internet of segments, NAT routers and attached cores (see module doc)."""

    def __init__(
        self,
        seed: int = 0,
        internet: Link | None = None,
        now: float = 0.0,
        record: bool = True,
        max_steps: int = 2_000_000,
    ) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.internet = Network("internet", internet or Link(delay=0.01))
        self.networks: dict[str, Network] = {"internet": self.internet}
        self.routers: dict[str, Router] = {}
        self.hosts: dict[str, Host] = {}
        self.nodes: dict[str, Node] = {}
        self.record = record
        self.trace: list[TraceRecord] = []
        self.on_event: Callable[[Node, Event], None] | None = None
        self._interfaces: dict[str, Network] = {}
        self._sockets: dict[Address, Node] = {}
        self._wildcards: dict[str, Node] = {}
        self._queue: list[_Delivery] = []
        #: Per (network, destination IP) with a rate-limited link: when each datagram in
        #: the bottleneck's queue finishes leaving it (at most ``Link.queue`` entries).
        self._bottlenecks: dict[tuple[str, str], deque[float]] = {}
        self._seq = 0
        self._max_steps = max_steps

    # building the topology ------------------------------------------------------------
    def add_nat(
        self,
        name: str,
        nat: Nat,
        public_ip: str,
        *,
        outside: Network | None = None,
        link: Link | None = None,
    ) -> Network:
        """Create a router ``name`` with ``public_ip`` on ``outside`` (the internet by
        default) and return its new inside network (whose segment impairment is ``link``)."""
        outside = outside or self.internet
        if name in self.routers or name in self.networks:
            raise LocalProtocolError(f"vnet: name {name!r} already used")
        self._claim_ip(public_ip, outside)
        inside = Network(name, link or Link(delay=0.001))
        router = Router(
            name,
            nat,
            outside=outside,
            public_ip=public_ip,
            inside=inside,
            rng=self.rng,
            stats=self.stats,
        )
        inside.gateway = router
        outside.routers[public_ip] = router
        self.routers[name] = router
        self.networks[name] = inside
        return inside

    def add_host(self, name: str, ip: str, network: Network | None = None) -> Host:
        """Add a host ``name`` with interface ``ip`` on ``network`` (the internet by
        default). For a 1:1 NAT network, give it the router's public IP (or another one
        with :meth:`add_public_ip`) via ``public_ip`` of :meth:`map_one_to_one`."""
        network = network or self.internet
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name)
        self._claim_ip(ip, network)
        network.hosts[ip] = host
        host.interfaces[ip] = network
        router = network.gateway
        if router is not None and router.nat.one_to_one and not router._static_out:
            self.map_one_to_one(network, ip, router.public_ip)
        return host

    def map_one_to_one(self, network: Network, private_ip: str, public_ip: str) -> None:
        """Bind ``private_ip`` on a 1:1 NAT network to ``public_ip`` (RFC 4787 §3 "1:1")."""
        router = network.gateway
        if router is None or not router.nat.one_to_one:
            raise LocalProtocolError("vnet: map_one_to_one needs a network behind a 1:1 NAT")
        if public_ip not in router.public_ips:
            self._claim_ip(public_ip, router.outside)
            router.outside.routers[public_ip] = router
            router.public_ips.append(public_ip)
        router._static_out[private_ip] = public_ip
        router._static_in[public_ip] = private_ip

    def _claim_ip(self, ip: str, network: Network) -> None:
        ipaddress.ip_address(ip)  # ValueError on a malformed address
        if ip in self._interfaces:
            raise LocalProtocolError(f"vnet: address {ip} already in use")
        self._interfaces[ip] = network

    def attach(
        self,
        core: DatagramCore | MultiSocketCore,
        sockets: Address | Iterable[Address],
        name: str | None = None,
    ) -> Node:
        """Attach ``core`` at one socket ``(ip, port)`` or several (multi-socket cores)."""
        if isinstance(sockets, tuple) and len(sockets) == 2 and isinstance(sockets[0], str):
            socket_list: list[Address] = [(sockets[0], int(sockets[1]))]
        else:
            socket_list = [(str(ip), int(port)) for ip, port in sockets]
        node = Node(name or f"node{len(self.nodes)}", core, socket_list)
        if node.name in self.nodes:
            raise LocalProtocolError(f"vnet: node name {node.name!r} already used")
        if len(socket_list) != 1 and not node.multi:
            raise LocalProtocolError("vnet: a single-socket core takes exactly one socket")
        for sock in socket_list:
            self._bind(sock, node)
        self.nodes[node.name] = node
        return node

    def _bind(self, sock: Address, node: Node) -> None:
        if sock[0] not in self._interfaces or sock[0] not in self._host_ips():
            raise LocalProtocolError(f"vnet: {sock[0]} is not a host interface")
        if sock in self._sockets:
            raise LocalProtocolError(f"vnet: socket {sock} already bound")
        self._sockets[sock] = node

    def bind(self, node: Node, sock: Address) -> None:
        """Add one more socket to a multi-socket ``node`` (e.g. a new relayed port)."""
        if not node.multi:
            raise LocalProtocolError("vnet: only multi-socket cores take extra sockets")
        self._bind(sock, node)
        node.sockets.append(sock)

    def attach_wildcard(self, core: MultiSocketCore, ip: str, name: str | None = None) -> Node:
        """Attach a multi-socket core to *every* port of ``ip`` not otherwise bound (a
        TURN server that allocates relayed ports on its own, for instance)."""
        if not isinstance(core, MultiSocketCore):
            raise LocalProtocolError("vnet: a wildcard core must be a multi-socket core")
        if ip not in self._host_ips():
            raise LocalProtocolError(f"vnet: {ip} is not a host interface")
        node = Node(name or f"node{len(self.nodes)}", core, [])
        self._wildcards[ip] = node
        self.nodes[node.name] = node
        return node

    def _host_ips(self) -> set[str]:
        return {ip for net in self.networks.values() for ip in net.hosts}

    # moving packets -------------------------------------------------------------------
    def _put(self, network: Network, src: Address, dst: Address, data: bytes) -> None:
        """Put one datagram on ``network``: impairments, then schedule its arrival."""
        link = network.link
        rng = self.rng
        if self.record:
            self.trace.append(TraceRecord(self.now, network.name, src, dst, data))
        overhead = IPV6_UDP_OVERHEAD if ":" in dst[0] else IPV4_UDP_OVERHEAD
        if len(data) + overhead > link.mtu:
            self.stats["too_big"] += 1
            return
        if link.loss and rng.random() < link.loss:
            self.stats["lost"] += 1
            return
        if link.drop_if is not None and link.drop_if(data, src, dst):
            self.stats["dropped_by_filter"] += 1
            return
        start = self.now
        if link.rate is not None:
            # The bottleneck: FIFO serialisation behind what is still queued, drop-tail.
            key = (network.name, dst[0])
            backlog = self._bottlenecks.get(key)
            if backlog is None:
                backlog = self._bottlenecks[key] = deque()
            while backlog and backlog[0] <= self.now:
                backlog.popleft()
            if len(backlog) >= link.queue:
                self.stats["queue_drop"] += 1
                return
            start = max(self.now, backlog[-1] if backlog else self.now)
            start += (len(data) + overhead) * 8 / link.rate
            backlog.append(start)
        copies = 1
        if link.duplicate and rng.random() < link.duplicate:
            copies = 2
            self.stats["duplicated"] += 1
        for _ in range(copies):
            at = start + link.delay
            if link.jitter:
                at += rng.random() * link.jitter
            if link.reorder and rng.random() < link.reorder:
                at += link.delay * 2 + link.jitter
                self.stats["reordered"] += 1
            self._seq += 1
            heapq.heappush(self._queue, (at, self._seq, network, src, dst, data))

    def _route(self, network: Network, src: Address, dst: Address, data: bytes) -> None:
        """A datagram reached the end of ``network``: deliver, or forward through a NAT."""
        dst_ip = dst[0]
        if dst_ip in network.hosts:
            self._deliver(src, dst, data)
            return
        router = network.routers.get(dst_ip)
        if router is not None:  # to a router's public address from its outside
            internal = router.inbound(src, dst, self.now)
            if internal is not None:
                self._put(router.inside, src, internal, data)
            return
        router = network.gateway
        if router is None:
            self.stats["no_route"] += 1
            return
        external = router.outbound(src, dst, self.now)
        if external is None:
            return
        if dst_ip in router.public_ips:  # RFC 4787 §6: hairpinning
            if not router.nat.hairpinning:
                self.stats["no_hairpin"] += 1
                return
            internal = router.inbound(external, dst, self.now)
            if internal is not None:
                self._put(router.inside, external, internal, data)
            return
        self._put(router.outside, external, dst, data)

    def _deliver(self, src: Address, dst: Address, data: bytes) -> None:
        node = self._sockets.get(dst) or self._wildcards.get(dst[0])
        if node is None:
            self.stats["no_socket"] += 1
            return
        self.stats["delivered"] += 1
        node.received += 1
        multi = node.multi_core
        if multi is not None:
            multi.receive_datagrams(((data, src),), self.now, dst)
        else:
            single = node.single_core
            assert single is not None
            single.receive_datagram(data, src, self.now)
        self._drain(node)

    def _send(self, node: Node, local: Address, dst: Address, data: bytes) -> None:
        network = self._interfaces.get(local[0])
        if network is None or (
            self._sockets.get(local) is not node and (self._wildcards.get(local[0]) is not node)
        ):
            self.stats["bad_source"] += 1
            return
        node.sent += 1
        self._put(network, local, dst, data)

    def _drain(self, node: Node) -> bool:
        core = node.core
        progressed = False
        while True:
            multi = node.multi_core
            if multi is not None:
                out = multi.transmits(self.now)
                for data, local, dst in out:
                    self._send(node, local, dst, data)
                sent = bool(out)
            else:
                single = node.single_core
                assert single is not None
                local = node.sockets[0]
                pairs = single.datagrams_to_send(self.now)
                for data, dst in pairs:
                    self._send(node, local, dst, data)
                sent = bool(pairs)
            event = core.next_event()
            had_event = event is not None
            while event is not None:
                node.events.append(event)
                if self.on_event is not None:
                    self.on_event(node, event)
                event = core.next_event()
            if not sent and not had_event:
                return progressed
            progressed = True

    # the clock ------------------------------------------------------------------------
    def flush(self) -> bool:
        """Drain every core's output at the current time; True if anything came out."""
        progressed = False
        for node in list(self.nodes.values()):
            progressed |= self._drain(node)
        return progressed

    def next_time(self) -> float | None:
        """The earliest pending delivery or core deadline."""
        best = self._queue[0][0] if self._queue else None
        for node in self.nodes.values():
            t = node.core.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def step(self) -> bool:
        """Advance to the next instant something happens and process it. False if idle."""
        self.flush()
        t = self.next_time()
        if t is None:
            return False
        self._advance(t)
        return True

    def _advance(self, t: float) -> None:
        self.now = max(self.now, t)
        queue = self._queue
        while queue and queue[0][0] <= self.now:
            _at, _seq, network, src, dst, data = heapq.heappop(queue)
            self._route(network, src, dst, data)
        for node in list(self.nodes.values()):
            deadline = node.core.get_timer()
            if deadline is not None and deadline <= self.now:
                node.core.handle_timer(self.now)
                self._drain(node)

    def run(self, until: Callable[[], bool] | None = None, timeout: float = 60.0) -> bool:
        """Step until ``until()`` is true (returns True), or the network is idle or
        ``timeout`` virtual seconds have passed (returns ``until()`` then)."""
        deadline = self.now + timeout
        for _ in range(self._max_steps):
            self.flush()
            if until is not None and until():
                return True
            t = self.next_time()
            if t is None or t > deadline:
                self.now = max(self.now, deadline if t is not None else self.now)
                break
            self._advance(t)  # (flushed just above)
        else:
            raise RuntimeError("VirtualNetwork.run: step budget exhausted (a core busy-loops?)")
        return until() if until is not None else True

    def run_for(self, seconds: float) -> None:
        """Run for ``seconds`` of virtual time, whatever happens."""
        self.run(None, timeout=seconds)

    # observing ------------------------------------------------------------------------
    def trace_digest(self) -> str:
        """SHA-256 over the whole trace: equal digests mean byte-identical runs."""
        h = hashlib.sha256()
        for r in self.trace:
            h.update(f"{r.at!r}|{r.network}|{r.src[0]}:{r.src[1]}|{r.dst[0]}:{r.dst[1]}|".encode())
            h.update(r.data)
        return h.hexdigest()

    def pcap(self, network: str | None = None) -> bytes:
        """The recorded trace as a classic pcap (LINKTYPE_RAW: IPv4/IPv6 + UDP), for
        Wireshark/tshark; only datagrams put on ``network`` when it is given."""
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
        for r in self.trace:
            if network is not None and r.network != network:
                continue
            packet = _ip_udp(r.src, r.dst, r.data)
            seconds = int(r.at)
            micros = round((r.at - seconds) * 1e6)
            if micros >= 1_000_000:
                seconds, micros = seconds + 1, micros - 1_000_000
            out.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
            out.append(packet)
        return b"".join(out)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip_udp(src: Address, dst: Address, payload: bytes) -> bytes:
    """An IPv4 or IPv6 header + UDP header (with checksums) around ``payload``."""
    sip, dip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    length = 8 + len(payload)
    if sip.version == 4 and dip.version == 4:
        pseudo = sip.packed + dip.packed + struct.pack("!BBH", 0, 17, length)
    else:
        s6 = sip if sip.version == 6 else ipaddress.IPv6Address(f"::ffff:{sip}")
        d6 = dip if dip.version == 6 else ipaddress.IPv6Address(f"::ffff:{dip}")
        sip, dip = s6, d6
        pseudo = sip.packed + dip.packed + struct.pack("!IxxxB", length, 17)
    udp = struct.pack("!HHHH", src[1], dst[1], length, 0) + payload
    csum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    if sip.version == 4:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, 17, 0, sip.packed, dip.packed
        )
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        return header + udp
    return struct.pack("!IHBB", 6 << 28, length, 17, 64) + sip.packed + dip.packed + udp
