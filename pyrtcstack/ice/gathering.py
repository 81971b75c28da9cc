"""Gathering candidates (RFC 8445 §5.1): host, server-reflexive (STUN), relayed (TURN).

:class:`Gatherer` owns the local candidates and the gathering state. It is told the host
sockets once (``gather``), asks every STUN and TURN server it was given, and turns the
answers into candidates: each new one is announced as a :class:`LocalCandidate` event
(trickle, RFC 8838 §4) and returned to the agent, which pairs it.
"""

from __future__ import annotations

import random

from ..common.core import Address
from ..stun import AttributeType as A
from ..stun import ClientTransaction, Message, MessageClass, Method, StunParseError
from ..turn import Allocated, RequestFailed
from .candidates import CandidateType, IceCandidate, candidate_priority, local_preferences
from .config import STREAM_RELAY_PREFERENCE, IceConfig, StreamTransport, TurnServer
from .errors import IceError
from .events import CandidateError, GatheringStateChanged, LocalCandidate
from .outbox import Outbox
from .relays import Relay, Relays
from .transactions import Transaction, Transactions, gather_policy

__all__ = ["Gatherer"]


class Gatherer:
    """The local candidates of one agent and how they were found (RFC 8445 §5.1)."""

    __slots__ = (
        "_asked",
        "_config",
        "_foundations",
        "_local_prefs",
        "_out",
        "_pending",
        "_relays",
        "_rng",
        "_transactions",
        "local_candidates",
        "sockets",
        "started",
        "state",
        "stream_transports",
        "ufrag",
    )

    def __init__(
        self,
        config: IceConfig,
        rng: random.Random,
        out: Outbox,
        *,
        transactions: Transactions,
        relays: Relays,
        ufrag: str,
    ) -> None:
        self._config = config
        self._rng = rng
        self._out = out
        self._transactions = transactions
        self._relays = relays
        #: the ice-ufrag candidates are announced under (the current generation's)
        self.ufrag = ufrag
        #: W3C RTCIceGatheringState: "new", "gathering", "complete"
        self.state = "new"
        self.started = False
        #: the host sockets given to gather(), in the caller's order
        self.sockets: list[Address] = []
        self.local_candidates: list[IceCandidate] = []
        #: TCP/TLS connections to TURN servers the driver has to open
        self.stream_transports: list[StreamTransport] = []
        self._local_prefs: dict[Address, int] = {}
        self._foundations: dict[tuple[str, str, str, str], str] = {}
        self._pending = 0  # STUN requests and allocations not answered yet
        #: (kind, host socket or None, server) already asked (see ask_servers)
        self._asked: set[tuple[str, Address | None, Address | TurnServer]] = set()

    # ------------------------------------------------------------------ the agent's calls
    def gather(self, host_addresses: list[Address], now: float) -> list[IceCandidate]:
        """RFC 8445 §5.1.1: the host candidates (returned, for pairing; announced unless
        the policy is relay-only), then requests to every server."""
        if self.started:
            raise IceError("gather() was already called")
        if not host_addresses:
            raise IceError("gather() needs at least one host address")
        self.started = True
        self.sockets = [(str(h), int(p)) for h, p in host_addresses]
        self._local_prefs = local_preferences(self.sockets)
        self._set_state("gathering")
        hosts: list[IceCandidate] = []
        for sock in self.sockets:
            cand = IceCandidate(
                CandidateType.HOST,
                sock,
                candidate_priority(CandidateType.HOST, self._local_prefs[sock]),
                self.foundation("host", sock[0], "", "udp"),
                base=sock,
            )
            self.local_candidates.append(cand)
            if not self._config.relay_only:
                self._announce(cand)
            hosts.append(cand)
        self.ask_servers(now)
        self._maybe_complete()
        return hosts

    def restart(self, ufrag: str, now: float) -> None:
        """ICE restart (RFC 8445 §9): announce the candidates again under ``ufrag``, and ask
        the servers the configuration gained since (W3C setConfiguration)."""
        self.ufrag = ufrag
        if not self.started:
            return
        self.state = "new"
        self._set_state("gathering")
        for cand in self.local_candidates:
            if cand.type is CandidateType.PRFLX:
                continue
            if self._config.relay_only and cand.type is not CandidateType.RELAY:
                continue
            self._announce(cand)
        self.ask_servers(now)
        self._maybe_complete()

    def ask_servers(self, now: float) -> None:
        """STUN and TURN requests to every configured server not asked yet: all of them
        at gather(); at an ICE restart, those the configuration gained since."""
        config = self._config
        if config.lite:
            return  # RFC 8445 §2.5: a lite agent has host candidates only
        asked = self._asked
        for sock in self.sockets:
            for server in config.stun_servers:
                if (":" in server[0]) != (":" in sock[0]) or config.relay_only:
                    continue
                if ("stun", sock, server) not in asked:
                    asked.add(("stun", sock, server))
                    self._ask_stun(sock, server, now)
            for turn in config.turn_servers:
                if (":" in turn.address[0]) != (":" in sock[0]) or turn.transport != "udp":
                    continue
                if ("turn", sock, turn) not in asked:
                    asked.add(("turn", sock, turn))
                    self._pending += 1
                    self._relays.start(sock, turn, now, reliable=False)
        for turn in config.turn_servers:
            if turn.transport != "udp" and ("turn", None, turn) not in asked:
                asked.add(("turn", None, turn))
                self._ask_stream_turn(len(self.stream_transports), turn, now)

    def on_response(
        self, tx: Transaction, msg: Message, addr: Address, local: Address, now: float
    ) -> None:
        """A STUN server answered (RFC 8445 §5.1.1.2): a srflx candidate, or an error."""
        stats = self._out.stats
        if addr != tx.remote or local != tx.local:
            stats["stray_responses"] += 1
            return
        try:
            mapped = msg.get_address(A.XOR_MAPPED_ADDRESS) or msg.get_address(A.MAPPED_ADDRESS)
            error = msg.get_error()
        except StunParseError:
            stats["gather_response_malformed"] += 1  # keep waiting (RFC 8489 §6.3.3)
            return
        self._transactions.remove(tx)
        tx.settle(msg, now)
        self._pending -= 1
        server = tx.server or addr
        if msg.message_class is MessageClass.SUCCESS and mapped is not None:
            self._add_srflx(tx.local, server, mapped)
        else:
            code, reason = (error.code, error.reason) if error else (0, "no mapped address")
            self._out.events.push(CandidateError(server, code, reason))
        self._maybe_complete()

    def on_timeout(self, tx: Transaction) -> None:
        """A STUN server never answered (RFC 8489 §6.2.1: 39.5 s): W3C error 701."""
        self._pending -= 1
        self._out.events.push(CandidateError(tx.remote, 701, "STUN server did not answer"))
        self._maybe_complete()

    def on_allocated(self, relay: Relay, event: Allocated, closed: bool) -> IceCandidate | None:
        """RFC 8656 §7.3: the allocation succeeded; the relayed candidate (returned, for
        pairing) has the mapped address as its related address."""
        if relay.done or closed:
            return None
        relay.done = True
        self._pending -= 1
        relayed = event.relayed_address
        cand = IceCandidate(
            CandidateType.RELAY,
            relayed,
            candidate_priority(CandidateType.RELAY, self._local_prefs[relay.socket]),
            self.foundation("relay", relay.socket[0], relay.server.address[0], "udp"),
            base=relayed,
            related=event.mapped_address,
            via=relay.server.address,
        )
        self._relays.allocated(relay, cand)
        self.local_candidates.append(cand)
        self._announce(cand)
        self._maybe_complete()
        return cand

    def on_relay_failed(self, relay: Relay, event: RequestFailed) -> None:
        """The allocation failed for good: a W3C ``icecandidateerror``."""
        if not event.fatal or relay.done:
            return
        relay.done = True
        self._pending -= 1
        code = getattr(event.error, "code", 0)
        server = relay.server
        self._out.events.push(
            CandidateError(server.address, int(code or 0), str(event.error), server.transport)
        )
        self._maybe_complete()

    # --------------------------------------------------------------- what pairing needs
    def foundation(self, ctype: str, base_ip: str, server_ip: str, transport: str) -> str:
        """RFC 8445 §5.1.1.3: one foundation per (type, base IP, server IP, transport)."""
        key = (ctype, base_ip, server_ip, transport)
        found = self._foundations.get(key)
        if found is None:
            found = self._foundations[key] = str(len(self._foundations) + 1)
        return found

    def pairing_locals(self) -> list[IceCandidate]:
        """RFC 8445 §6.1.2.4: pairs use host and relayed candidates (a reflexive candidate
        is replaced by its base, which is a host candidate already)."""
        if self._config.relay_only:
            return [c for c in self.local_candidates if c.type is CandidateType.RELAY]
        return [
            c for c in self.local_candidates if c.type in (CandidateType.HOST, CandidateType.RELAY)
        ]

    def sending_candidate(self, key: Address) -> IceCandidate | None:
        """The host or relayed candidate whose packets leave from ``key``."""
        for cand in self.local_candidates:
            if cand.address == key and cand.type in (CandidateType.HOST, CandidateType.RELAY):
                return cand
        return None

    def mapped_candidate(self, base: IceCandidate, mapped: Address, priority: int) -> IceCandidate:
        """RFC 8445 §7.2.5.3.1: the local candidate a check's XOR-MAPPED-ADDRESS names, or a
        new local peer-reflexive one (not signalled) with the PRIORITY the check carried."""
        if base.type is CandidateType.RELAY:
            return base
        for cand in self.local_candidates:
            if cand.address == mapped and cand.base == base.address:
                return cand
        cand = IceCandidate(
            CandidateType.PRFLX,
            mapped,
            priority,
            self.foundation("prflx", base.address[0], "", "udp"),
            base=base.address,
            related=base.address,
        )
        self.local_candidates.append(cand)
        return cand

    # ------------------------------------------------------------------------- inside
    def _ask_stun(self, sock: Address, server: Address, now: float) -> None:
        """RFC 8445 §5.1.1.2: a Binding request to a STUN server gives a srflx candidate."""
        msg = Message(Method.BINDING, MessageClass.REQUEST, self._rng.randbytes(12))
        policy = gather_policy(self._config.stun_max_transmissions)
        client = ClientTransaction(msg, server, fingerprint=True, policy=policy)
        self._pending += 1
        self._transactions.start(Transaction("gather", client, sock, server=server), now)

    def _ask_stream_turn(self, index: int, turn: TurnServer, now: float) -> None:
        """RFC 8656 §3.1/§5: an allocation over TCP or TLS. The stream is a pseudo socket
        whose key the driver maps to the connection it opens."""
        key = (f"{turn.transport}:{turn.address[0]}#{index}", turn.address[1])
        self.stream_transports.append(StreamTransport(key, turn.address, turn.transport == "tls"))
        self._local_prefs[key] = STREAM_RELAY_PREFERENCE[turn.transport] - index
        self._pending += 1
        self._relays.start(key, turn, now, reliable=True)

    def _add_srflx(self, sock: Address, server: Address, mapped: Address) -> None:
        # RFC 8445 §5.1.3: a reflexive candidate equal to its base, or to another one, is
        # redundant.
        if mapped == sock or any(c.address == mapped for c in self.local_candidates):
            self._out.stats["srflx_redundant"] += 1
            return
        cand = IceCandidate(
            CandidateType.SRFLX,
            mapped,
            candidate_priority(CandidateType.SRFLX, self._local_prefs[sock]),
            self.foundation("srflx", sock[0], server[0], "udp"),
            base=sock,
            related=sock,
        )
        self.local_candidates.append(cand)
        self._announce(cand)
        # RFC 8445 §6.1.2.4: a srflx candidate is not paired; its base is.

    def _announce(self, cand: IceCandidate) -> None:
        self._out.events.push(LocalCandidate(cand, self.ufrag))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._out.events.push(GatheringStateChanged(state, self.ufrag))

    def _maybe_complete(self) -> None:
        """Gathering is complete (the end-of-candidates of this ufrag, RFC 8838 §4) when
        every STUN request and allocation has an answer or has timed out."""
        if self._pending == 0 and self.state == "gathering":
            self._set_state("complete")
