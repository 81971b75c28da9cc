"""Gathering candidates (RFC 8445 §5.1): host, server-reflexive (STUN), relayed (TURN)."""

from __future__ import annotations

from ..common.core import Address, Event
from ..stun import AttributeType as A
from ..stun import Message, MessageClass, Method, StunParseError
from ..stun.transaction import ClientTransaction
from ..turn.client import TurnClient
from ..turn.events import Allocated, RequestFailed
from ..turn.events import DataReceived as TurnData
from .base import STREAM_RELAY_PREFERENCE, AgentBase, StreamTransport, TurnServer, _Relay
from .candidates import (
    CandidateType,
    IceCandidate,
    candidate_priority,
    local_preferences,
)
from .errors import IceError
from .events import (
    CandidateError,
)
from .transactions import Transaction, gather_policy

__all__ = ["GatheringMixin"]


class GatheringMixin(AgentBase):
    """Gathering candidates (RFC 8445 §5.1): host, server-reflexive (STUN), relayed (TURN)."""

    __slots__ = ()

    def gather(self, host_addresses: list[Address], now: float) -> None:
        """Start gathering (RFC 8445 §5.1.1) from the given host sockets: host
        candidates come out at once as :class:`LocalCandidate` events, server-reflexive
        and relayed ones as STUN/TURN answers arrive (trickle, RFC 8838 §4)."""
        if self._gathering_started:
            raise IceError("gather() was already called")
        if not host_addresses:
            raise IceError("gather() needs at least one host address")
        self._gathering_started = True
        self._sockets = [(str(h), int(p)) for h, p in host_addresses]
        self._local_prefs = local_preferences(self._sockets)
        self._set_gathering("gathering")
        config = self.config
        for sock in self._sockets:
            cand = IceCandidate(
                CandidateType.HOST,
                sock,
                candidate_priority(CandidateType.HOST, self._local_prefs[sock]),
                self._foundation("host", sock[0], "", "udp"),
                base=sock,
            )
            self.local_candidates.append(cand)
            if not config.relay_only:
                self._emit_candidate(cand)
            self._pair_new_local(cand, now)
        self._gather_from_servers(now)
        self._maybe_gathering_complete()
        self._after(now)

    def _gather_from_servers(self, now: float) -> None:
        """STUN and TURN requests to every configured server not asked yet: all of them
        at gather(); at an ICE restart, those the configuration gained since (W3C
        setConfiguration: new servers are used at the next gathering phase)."""
        config = self.config
        if config.lite:
            return
        done = self._servers_asked
        for sock in self._sockets:
            for server in config.stun_servers:
                if (":" in server[0]) != (":" in sock[0]) or config.relay_only:
                    continue
                if ("stun", sock, server) not in done:
                    done.add(("stun", sock, server))
                    self._start_gather(sock, server, now)
            for turn in config.turn_servers:
                if (":" in turn.address[0]) != (":" in sock[0]) or turn.transport != "udp":
                    continue
                if ("turn", sock, turn) not in done:
                    done.add(("turn", sock, turn))
                    self._start_relay(sock, turn, now)
        for turn in config.turn_servers:
            if turn.transport != "udp" and ("turn", None, turn) not in done:
                done.add(("turn", None, turn))
                self._start_stream_relay(len(self.stream_transports), turn, now)

    def _start_gather(self, sock: Address, server: Address, now: float) -> None:
        """RFC 8445 §5.1.1.2: a Binding request to a STUN server gives a srflx candidate."""
        msg = Message(Method.BINDING, MessageClass.REQUEST, self._rng.randbytes(12))
        policy = gather_policy(self.config.stun_max_transmissions)
        client = ClientTransaction(msg, server, fingerprint=True, policy=policy)
        tx = Transaction("gather", client, sock, server=server)
        self._gather_pending += 1
        self._start_transaction(tx, now)

    def _start_stream_relay(self, index: int, turn: TurnServer, now: float) -> None:
        """RFC 8656 §3.1/§5: an allocation over TCP or TLS. The stream is a pseudo socket
        whose key the driver maps to the connection it opens."""
        key = (f"{turn.transport}:{turn.address[0]}#{index}", turn.address[1])
        self.stream_transports.append(StreamTransport(key, turn.address, turn.transport == "tls"))
        self._local_prefs[key] = STREAM_RELAY_PREFERENCE[turn.transport] - index
        self._start_relay(key, turn, now, reliable=True)

    def _start_relay(
        self, sock: Address, turn: TurnServer, now: float, *, reliable: bool = False
    ) -> None:
        """RFC 8445 §5.1.1.2 with RFC 8656 §7: an allocation gives a relayed candidate."""
        client = TurnClient(
            turn.address,
            turn.username,
            turn.password,
            reliable=reliable,
            # RFC 8489 §6: transaction ids from a CSPRNG; the agent's own rng is one by
            # default (tests inject a seeded one, which is then used here too).
            rng=self._rng,
        )
        relay = _Relay(sock, turn, client)
        self._relay_list.append(relay)
        self._gather_pending += 1
        client.allocate(now)
        self._drain_relay(relay, now)

    def _add_srflx(self, sock: Address, server: Address, mapped: Address) -> None:
        # RFC 8445 §5.1.3: a reflexive candidate equal to its base, or to another one, is
        # redundant.
        if mapped == sock or any(c.address == mapped for c in self.local_candidates):
            self.stats["srflx_redundant"] += 1
            return
        cand = IceCandidate(
            CandidateType.SRFLX,
            mapped,
            candidate_priority(CandidateType.SRFLX, self._local_prefs[sock]),
            self._foundation("srflx", sock[0], server[0], "udp"),
            base=sock,
            related=sock,
        )
        self.local_candidates.append(cand)
        self._emit_candidate(cand)
        # RFC 8445 §6.1.2.4: a srflx candidate is not paired; its base is.

    def _on_relay_event(self, relay: _Relay, event: Event, now: float) -> None:
        if isinstance(event, Allocated):
            if relay.done or self._closed:
                return
            relay.done = True
            self._gather_pending -= 1
            relayed = event.relayed_address
            cand = IceCandidate(
                CandidateType.RELAY,
                relayed,
                candidate_priority(CandidateType.RELAY, self._local_prefs[relay.socket]),
                self._foundation("relay", relay.socket[0], relay.server.address[0], "udp"),
                base=relayed,
                related=event.mapped_address,
                via=relay.server.address,
            )
            relay.candidate = cand
            self._relays[relayed] = relay
            self.local_candidates.append(cand)
            self._emit_candidate(cand)
            self._pair_new_local(cand, now)
            self._maybe_gathering_complete()
        elif isinstance(event, TurnData) and relay.candidate is not None:
            self._on_datagram(event.data, event.peer, relay.candidate.address, now)
        elif isinstance(event, RequestFailed) and event.fatal and not relay.done:
            relay.done = True
            self._gather_pending -= 1
            code = getattr(event.error, "code", 0)
            self._events.append(
                CandidateError(
                    relay.server.address,
                    int(code or 0),
                    str(event.error),
                    relay.server.transport,
                )
            )
            self._maybe_gathering_complete()

    def _on_gather_response(
        self, tx: Transaction, msg: Message, addr: Address, local: Address, now: float
    ) -> None:
        if addr != tx.remote or local != tx.local:
            self.stats["stray_responses"] += 1
            return
        try:
            mapped = msg.get_address(A.XOR_MAPPED_ADDRESS) or msg.get_address(A.MAPPED_ADDRESS)
            error = msg.get_error()
        except StunParseError:
            self.stats["gather_response_malformed"] += 1  # keep waiting (RFC 8489 §6.3.3)
            return
        del self._transactions[tx.transaction_id]
        tx.settle(msg, now)
        self._gather_pending -= 1
        server = tx.server or addr
        if msg.message_class is MessageClass.SUCCESS and mapped is not None:
            self._add_srflx(tx.local, server, mapped)
        else:
            code, reason = (error.code, error.reason) if error else (0, "no mapped address")
            self._events.append(CandidateError(server, code, reason))
        self._maybe_gathering_complete()
