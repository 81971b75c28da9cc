"""Two ICE agents across NATs on the virtual network: the scenario the NAT matrix, the
benchmarks and users' own experiments share.

:func:`build` makes the world::

    peer "left"  10.0.1.2 ── NAT "left"  203.0.113.1 ─┐
                                                       ├── internet ── 198.51.100.10:3478
    peer "right" 10.0.2.2 ── NAT "right" 203.0.113.2 ─┘               STUN + TURN server

(``nat=None`` puts a peer directly on the internet.) Candidates and end-of-candidates are
trickled through a :class:`Signaller` with a configurable delay. :func:`predict_direct`
says, from RFC 4787 alone, whether two NAT types let a direct path form.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..common.core import Address, Event
from ..ice import (
    ConnectionStateChanged,
    GatheringStateChanged,
    IceAgent,
    IceCandidate,
    IceConfig,
    LocalCandidate,
    TurnServer,
)
from ..turn import TurnServer as TurnServerCore
from .vnet import NAT_PRESETS, Filtering, Link, Mapping, Nat, Node, VirtualNetwork

__all__ = [
    "SERVER",
    "TURN_PASSWORD",
    "TURN_USER",
    "IceWorld",
    "Signaller",
    "TurnServerNode",
    "build",
    "predict_direct",
]

#: Where the STUN/TURN server listens.
SERVER: Address = ("198.51.100.10", 3478)
TURN_USER = "user"
TURN_PASSWORD = "pass"


class TurnServerNode:
    """Our TURN server core as a multi-socket core: the listening address plus every
    relayed port of its IP (attach it with :meth:`VirtualNetwork.attach_wildcard`)."""

    def __init__(self, server: TurnServerCore) -> None:
        self.server = server

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        server = self.server
        for data, addr in batch:
            if local is None or local == server.address:
                server.receive_datagram(data, addr, now)
            else:
                server.receive_relayed(data, addr, local, now)

    def transmits(self, now: float) -> list[tuple[bytes, Address, Address]]:
        out = [(d, self.server.address, dst) for d, dst in self.server.datagrams_to_send(now)]
        out.extend(self.server.relayed_datagrams_to_send())
        return out

    def get_timer(self) -> float | None:
        return self.server.get_timer()

    def handle_timer(self, now: float) -> None:
        self.server.handle_timer(now)

    def next_event(self) -> Event | None:
        return self.server.next_event()


class Signaller:
    """A signalling channel on the virtual clock: runs callbacks ``delay`` seconds after
    they are posted (a core with no sockets, so the network drives its timer)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = 0

    def post(self, now: float, action: Callable[[float], None], delay: float | None = None) -> None:
        self._seq += 1
        at = now + (self.delay if delay is None else delay)
        heapq.heappush(self._queue, (at, self._seq, action))

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        return None

    def transmits(self, now: float) -> list[tuple[bytes, Address, Address]]:
        return []

    def get_timer(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def handle_timer(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            _, _, action = heapq.heappop(self._queue)
            action(now)

    def next_event(self) -> Event | None:
        return None


@dataclass
class IcePeer:
    name: str
    agent: IceAgent
    node: Node
    states: list[str] = field(default_factory=list)


@dataclass
class IceWorld:
    net: VirtualNetwork
    left: IcePeer
    right: IcePeer
    signaller: Signaller
    turn: TurnServerCore
    #: extra delay of trickled candidates and end-of-candidates (None: the signaller's)
    candidate_delay: float | None = None

    def connected(self) -> bool:
        """Both sides connected on a selected (nominated) pair: not merely on a valid pair
        used before selection (RFC 8445 §12.1)."""
        return all(
            p.agent.connection_state in ("connected", "completed")
            and p.agent.selected_pair is not None
            and p.agent.selected_pair.nominated
            for p in (self.left, self.right)
        )

    def settled(self) -> bool:
        """Both connected, or either failed."""
        return self.connected() or any(
            p.agent.connection_state == "failed" for p in (self.left, self.right)
        )

    def selected_types(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """(local type, remote type) of each side's selected pair ("-" when none)."""
        out = []
        for peer in (self.left, self.right):
            pair = peer.agent.selected_pair
            if pair is None:
                out.append(("-", "-"))
            else:
                local = pair.valid_local or pair.local
                out.append((local.type.value, pair.remote.type.value))
        return out[0], out[1]

    def start(self, signal_credentials: bool = True) -> None:
        """Gather on both sides and exchange credentials (through the signaller)."""
        now = self.net.now
        for peer in (self.left, self.right):
            peer.agent.gather(list(peer.node.sockets), now)
        if signal_credentials:
            for me, other in ((self.left, self.right), (self.right, self.left)):
                ufrag, pwd = me.agent.local_ufrag, me.agent.local_pwd
                self.signaller.post(now, partial(_credentials, other.agent, ufrag, pwd))
        self.net.flush()

    def restart(self) -> None:
        """ICE restart on both sides (RFC 8445 §9; JSEP: both get new credentials)."""
        now = self.net.now
        for peer in (self.left, self.right):
            peer.agent.restart(now)
        for me, other in ((self.left, self.right), (self.right, self.left)):
            ufrag, pwd = me.agent.local_ufrag, me.agent.local_pwd
            self.signaller.post(now, partial(_credentials, other.agent, ufrag, pwd))
        self.net.flush()

    def run(self, timeout: float = 60.0) -> bool:
        return self.net.run(self.settled, timeout=timeout)


def _wire_signalling(world: IceWorld, drop: Callable[[IceCandidate], bool] | None) -> None:
    peers = {
        world.left.node.name: (world.left, world.right),
        world.right.node.name: (world.right, world.left),
    }

    def on_event(node: Node, event: Event) -> None:
        if node.name not in peers:
            return
        me, other = peers[node.name]
        now = world.net.now
        if isinstance(event, LocalCandidate):
            if drop is not None and drop(event.candidate):
                return
            cand, ufrag = event.candidate, event.ufrag
            world.signaller.post(
                now, partial(_add, other.agent, cand, ufrag), world.candidate_delay
            )
        elif isinstance(event, GatheringStateChanged) and event.state == "complete":
            ufrag = event.ufrag
            world.signaller.post(now, partial(_end, other.agent, ufrag), world.candidate_delay)
        elif isinstance(event, ConnectionStateChanged):
            me.states.append(event.state)

    world.net.on_event = on_event


def _credentials(agent: IceAgent, ufrag: str, pwd: str, now: float) -> None:
    agent.set_remote_credentials(ufrag, pwd, now)


def _add(agent: IceAgent, cand: IceCandidate, ufrag: str, now: float) -> None:
    if agent.generation.remote_ufrag not in (None, ufrag):
        return  # a candidate of an older generation (RFC 8838 §8)
    agent.add_remote_candidate(str(cand.to_sdp()), now)


def _end(agent: IceAgent, ufrag: str, now: float) -> None:
    if agent.generation.remote_ufrag in (None, ufrag):
        agent.end_of_remote_candidates(now)


def build(
    left: str | Nat | None,
    right: str | Nat | None,
    *,
    turn: bool = False,
    stun: bool = True,
    seed: int = 0,
    internet: Link | None = None,
    lan: Link | None = None,
    signal_delay: float = 0.05,
    left_config: IceConfig | None = None,
    right_config: IceConfig | None = None,
    drop_candidate: Callable[[IceCandidate], bool] | None = None,
) -> IceWorld:
    """Two agents (left controlling, right controlled) behind the given NATs (preset
    names of :data:`~pyrtcstack.testing.vnet.NAT_PRESETS`, :class:`Nat`, or None)."""
    net = VirtualNetwork(seed=seed, internet=internet or Link(delay=0.02))
    rng = random.Random(seed ^ 0x5EED)
    net.add_host("server", SERVER[0])
    turn_core = TurnServerCore(SERVER, {TURN_USER: TURN_PASSWORD}, rng=random.Random(rng.random()))
    net.attach_wildcard(TurnServerNode(turn_core), SERVER[0], name="server")
    signaller = Signaller(signal_delay)
    net.attach(signaller, [], name="signaller")
    peers = []
    for index, (name, nat, config, controlling) in enumerate(
        (("left", left, left_config, True), ("right", right, right_config, False)), start=1
    ):
        if nat is None:
            ip = f"198.51.100.{20 + index}"
            net.add_host(name, ip)
        else:
            preset = NAT_PRESETS[nat] if isinstance(nat, str) else nat
            inside = net.add_nat(name, preset, f"203.0.113.{index}", link=lan or Link(0.001))
            ip = f"10.0.{index}.2"
            net.add_host(name, ip, inside)
        cfg = config or IceConfig(controlling=controlling)
        if stun and not cfg.stun_servers:
            cfg.stun_servers = [SERVER]
        if turn and not cfg.turn_servers:
            cfg.turn_servers = [TurnServer(SERVER, TURN_USER, TURN_PASSWORD)]
        agent = IceAgent(cfg, rng=random.Random(rng.random()))
        node = net.attach(agent, [(ip, 40000 + index)], name=name)
        peers.append(IcePeer(name, agent, node))
    world = IceWorld(net, peers[0], peers[1], signaller, turn_core)
    _wire_signalling(world, drop_candidate)
    return world


def _behaviour(name: str | None) -> Nat | None:
    return None if name is None else NAT_PRESETS[name]


def predict_direct(left: str | None, right: str | None) -> bool:
    """Whether RFC 4787 behaviours let a direct (non-relayed) path form between peers
    behind NAT types ``left`` and ``right`` (preset names, None = no NAT).

    The first check that gets through opens the path (the response and the triggered
    check follow the same mappings back). A check from X reaches Y's advertised address
    (its public address, or its server-reflexive one, i.e. the mapping Y opened towards
    the STUN server) when:

    * Y has no NAT, a 1:1 NAT, or endpoint-independent filtering (RFC 4787 §5);
    * Y maps endpoint-independently (§4.1) — so its own checks to X left through that
      same mapping — and filters by address only, (X's IP never changes), or by address
      and port while X maps endpoint-independently too (X's check then leaves from the
      very address Y sent to).

    A peer with address-(and-port-)dependent mapping and filtering admits nobody on its
    server-reflexive address. UDP blocked admits nothing at all.
    """
    a, b = _behaviour(left), _behaviour(right)
    if (a is not None and a.block_udp) or (b is not None and b.block_udp):
        return False

    def eim(n: Nat | None) -> bool:
        return n is None or n.one_to_one or n.mapping is Mapping.ENDPOINT_INDEPENDENT

    def admits(y: Nat | None, x: Nat | None) -> bool:
        if y is None or y.one_to_one or y.filtering is Filtering.ENDPOINT_INDEPENDENT:
            return True
        if y.mapping is not Mapping.ENDPOINT_INDEPENDENT:
            return False
        if y.filtering is Filtering.ADDRESS_DEPENDENT:
            return True
        return eim(x)

    return admits(b, a) or admits(a, b)
