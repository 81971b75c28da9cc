"""The sans-I/O ICE agent (RFC 8445), trickle-first (RFC 8838), with consent freshness
(RFC 7675), one component (rtcp-mux), full or lite.

Driving it
----------
The agent owns several sockets: one per host address the caller gives it (the asyncio
layer binds them; a test network attaches them). It follows the core contract with one
extra keyword and one extra method (the "multi-socket" form, see docs/ice.md):

* ``receive_datagram(data, addr, now, local=(ip, port))`` — ``local`` is the socket the
  datagram arrived on (default: the first host address);
* ``transmits(now) -> list[(data, local, remote)]`` — what to send, from which socket;
  ``datagrams_to_send(now)`` drops the ``local`` and is only right with one socket;
* ``get_timer()``, ``handle_timer(now)``, ``next_event()`` as usual.

The life of a session::

    agent = IceAgent(IceConfig(controlling=True, stun_servers=[...]), rng=rng)
    agent.gather([("192.0.2.10", 50000)], now)   # host candidates now, srflx/relay later
    agent.set_remote_credentials(ufrag, pwd, now)
    agent.add_remote_candidate("candidate:...", now)   # any time (trickle)
    agent.end_of_remote_candidates(now)
    ... LocalCandidate / GatheringStateChanged / ConnectionStateChanged /
        SelectedPairChanged / DataReceived events ...
    agent.send(b"dtls record", now)                   # on the selected pair
    agent.restart(now)                                # new credentials (RFC 8445 §9)

Every spec rule is cited where it is applied; deviations are listed in docs/ice.md.
"""

from __future__ import annotations

from ..common.core import Address, Event
from ..demux import FIRST_BYTE_KIND, FOR_ICE, PacketKind
from ..sdp import Candidate
from ..stun import MessageClass, Method, StunParseError, decode
from ..stun.credentials import short_term_key
from .base import (
    CONSENT_INTERVAL,
    CONSENT_MISS_AFTER,
    CONSENT_TIMEOUT,
    KEEPALIVE_INTERVAL,
    MAX_PAST_REMOTE_UFRAGS,
    NOMINATION_DELAY,
    NOMINATION_MIN_PATIENCE,
    NOMINATION_PATIENCE,
    PAC_TIMEOUT,
    TA,
    IceConfig,
    StreamTransport,
    TurnServer,
)
from .candidates import (
    CandidateType,
    IceCandidate,
)
from .checklist import MAX_REMOTE_CANDIDATES, Generation, PairState
from .checks import ChecksMixin
from .consent import ConsentMixin
from .errors import IceError, IceStaleCandidateError
from .events import (
    DataReceived,
    SelectedPairChanged,
)
from .gathering import GatheringMixin

__all__ = [
    "CONSENT_INTERVAL",
    "CONSENT_MISS_AFTER",
    "CONSENT_TIMEOUT",
    "KEEPALIVE_INTERVAL",
    "NOMINATION_DELAY",
    "NOMINATION_MIN_PATIENCE",
    "NOMINATION_PATIENCE",
    "PAC_TIMEOUT",
    "TA",
    "IceAgent",
    "IceConfig",
    "StreamTransport",
    "TurnServer",
]


class IceAgent(GatheringMixin, ChecksMixin, ConsentMixin):
    """A full (or lite) ICE agent for one component (see the module docstring)."""

    __slots__ = ()

    def set_remote_credentials(
        self, ufrag: str, pwd: str, now: float, *, lite: bool = False
    ) -> None:
        """The peer's ice-ufrag/ice-pwd for the current generation (and whether it is a
        lite agent: then we must be controlling, RFC 8445 §6.1.1)."""
        gen = self.generation
        if gen.remote_ufrag is not None and gen.remote_ufrag != ufrag:
            raise IceError("remote credentials changed without an ICE restart")
        past = self.past_remote_ufrags
        if gen.remote_ufrag is None and ufrag not in past:
            past.append(ufrag)
            del past[:-MAX_PAST_REMOTE_UFRAGS]
        gen.remote_ufrag, gen.remote_pwd = ufrag, pwd
        gen.remote_key = short_term_key(pwd)
        gen.remote_lite = lite
        if lite and not self.config.lite and not self.controlling:
            self._set_role(True)
        if gen.checking_since is None:
            gen.checking_since = now
        self._after(now)

    def add_remote_candidate(
        self, candidate: Candidate | IceCandidate | str, now: float, ufrag: str | None = None
    ) -> bool:
        """Add a trickled or signalled remote candidate (RFC 8838 §11). Returns False when
        it was dropped (counted in :attr:`stats`): an mDNS ``.local`` or other FQDN name,
        a TCP candidate, a component other than 1, a duplicate, or the table full. Raises
        :class:`IceStaleCandidateError` for a candidate of another generation and
        :class:`pyrtcstack.sdp.ParseError` for candidate text that does not parse."""
        gen = self.generation
        if ufrag is not None and gen.remote_ufrag is not None and ufrag != gen.remote_ufrag:
            raise IceStaleCandidateError(f"candidate for ufrag {ufrag!r}, not the current one")
        if gen.remote_ended:
            self.stats["candidate_after_end"] += 1
        if isinstance(candidate, str):
            candidate = Candidate.parse(candidate)
        if isinstance(candidate, Candidate):
            if candidate.address.lower().endswith(".local"):
                # draft-ietf-mmusic-mdns-ice-candidates §3.2.1: resolve or ignore; the
                # core never resolves (the asyncio layer may): drop, counted.
                self.stats["remote_mdns_dropped"] += 1
                return False
            try:
                remote = IceCandidate.from_sdp(candidate)
            except ValueError:
                self.stats["remote_unsupported_dropped"] += 1
                return False
        else:
            remote = candidate
        if remote.component != 1:
            self.stats["remote_component_dropped"] += 1
            return False
        existing = gen.remote_candidates.get(remote.address)
        if existing is not None:
            if existing.type is CandidateType.PRFLX and remote.type is not CandidateType.PRFLX:
                # RFC 8445 §7.3.1.3: a signalled candidate replaces the prflx one we
                # learnt from a check; keep the pairs, note the type.
                gen.remote_candidates[remote.address] = remote
                for pair in gen.pairs:
                    if pair.remote.address == remote.address:
                        pair.remote = remote
            else:
                self.stats["remote_duplicate"] += 1
            return False
        if len(gen.remote_candidates) >= MAX_REMOTE_CANDIDATES:
            self.stats["remote_candidates_full"] += 1
            return False
        gen.remote_candidates[remote.address] = remote
        for local in self._pairing_locals():
            self._form_pair(gen, local, remote)
        self._after(now)
        return True

    def end_of_remote_candidates(self, now: float, ufrag: str | None = None) -> None:
        """The peer has signalled all its candidates of this generation (RFC 8838 §13)."""
        gen = self.generation
        if ufrag is not None and gen.remote_ufrag is not None and ufrag != gen.remote_ufrag:
            raise IceStaleCandidateError(f"end-of-candidates for ufrag {ufrag!r}")
        gen.remote_ended = True
        self._after(now)

    def send(self, data: bytes, now: float) -> bool:
        """Send application data on the selected pair. Returns False (counted) when there
        is no pair, or consent was lost for good (RFC 7675 §5.1: stop sending)."""
        pair = self.selected_pair
        if pair is None or self._consent_failed or self._closed:
            self.stats["send_no_pair"] += 1
            return False
        self._send_from(data, pair.local_key, pair.remote.address, now)
        return True

    def send_many(self, datagrams: list[bytes], now: float) -> bool:
        """:meth:`send` for each of ``datagrams``, in order, on the selected pair (one
        lookup of the pair for the whole batch; the same datagrams and counters)."""
        if not datagrams:
            return True
        pair = self.selected_pair
        if pair is None or self._consent_failed or self._closed:
            self.stats["send_no_pair"] += len(datagrams)
            return False
        local = pair.local_key
        remote = pair.remote.address
        if local in self._relays:  # through the TURN allocation, one by one
            for data in datagrams:
                self._send_from(data, local, remote, now)
        else:
            self._out.extend([(data, local, remote) for data in datagrams])
        return True

    def restart(self, now: float, *, ufrag: str | None = None, pwd: str | None = None) -> None:
        """ICE restart (RFC 8445 §9): new local credentials (``ufrag``/``pwd`` when the
        caller chose them, e.g. at JSEP createOffer; random otherwise), a new checklist
        once the new remote credentials come; data stays on the current pair until a new
        one is selected. Local candidates are re-announced under the new ufrag, and the
        STUN/TURN servers added to :attr:`config` since gathering are asked now (a TCP/TLS
        one appears in :attr:`stream_transports` for the driver to open)."""
        if self._closed:
            raise IceError("restart() after close()")
        old = self.generation
        if self._before_restart is None or old.remote_ufrag is not None:
            # what cancel_restart() goes back to: the last generation that had (or was
            # waiting for) an answer, not one of back-to-back unanswered restarts
            self._before_restart = (old, self.previous)
        keep = old if old.selected is not None else self.previous
        if self._consent_failed:
            keep = None  # RFC 7675 §5.1: a pair without consent is not used again
            self._consent_tx = None
        for tid, tx in list(self._transactions.items()):
            if tx.generation is old and tx is not self._consent_tx:
                del self._transactions[tid]
        self.previous = keep
        self.generation = self._new_generation(ufrag, pwd)
        self._consent_failed = False
        self._next_check_at = None
        if self._gathering_started:
            self.gathering_state = "new"
            self._set_gathering("gathering")
            for cand in self.local_candidates:
                if cand.type is CandidateType.PRFLX:
                    continue
                if self.config.relay_only and cand.type is not CandidateType.RELAY:
                    continue
                self._emit_candidate(cand)
            # servers (or a transport policy) the configuration gained since gathering
            self._gather_from_servers(now)
            self._maybe_gathering_complete()
        self._after(now)

    def relay_transport(self, candidate: IceCandidate) -> str | None:
        """How a local relayed candidate reaches its TURN server: "udp", "tcp" or "tls"
        (webrtc-stats ``relayProtocol``); None for a candidate that is not ours relayed."""
        relay = self._relays.get(candidate.address)
        return relay.server.transport if relay is not None else None

    def cancel_restart(self, now: float) -> bool:
        """Undo the restarts since the last answered generation (a JSEP rollback of an
        ICE restart offer, RFC 9429 §4.1.10.2 / §5.7): the old credentials, checklist and
        selected pair come back; candidates and checks of the abandoned generation are
        dropped. False when there is nothing to undo (no restart, or its generation has
        since selected a pair)."""
        undo = self._before_restart
        if undo is None or self._closed or self.generation.selected is not None:
            return False
        self._before_restart = None
        abandoned = self.generation
        for tid, tx in list(self._transactions.items()):
            if tx.generation is abandoned:
                del self._transactions[tid]
        self.generation, self.previous = undo
        for gen in undo:
            if gen is None:
                continue
            for pair in gen.pairs:
                # restart() dropped their in-flight checks: check them again
                if pair.state is PairState.IN_PROGRESS and (
                    pair.transaction is None
                    or pair.transaction.transaction_id not in self._transactions
                ):
                    pair.transaction = None
                    pair.state = PairState.WAITING
        self._next_check_at = None
        self.stats["restarts_cancelled"] += 1
        self._after(now)
        return True

    def close(self, now: float) -> None:
        """Stop: no more checks or consent; release TURN allocations (RFC 8656 §8)."""
        if self._closed:
            return
        self._closed = True
        self._transactions.clear()
        for relay in self._relay_list:
            relay.client.close(now)
            self._drain_relay(relay, now)
        self._set_state("closed")
        self._deadline = self._relay_deadline()

    def receive_datagram(
        self, data: bytes, addr: Address, now: float, local: Address | None = None
    ) -> None:
        """One datagram from ``addr`` arrived on socket ``local`` (default: the first)."""
        if local is None:
            if not self._sockets:
                self.stats["dropped_not_gathering"] += 1
                return
            local = self._sockets[0]
        if not data:
            self.stats["dropped_empty"] += 1
            return
        if not FOR_ICE[data[0]]:
            # RFC 7983 §7 (pyrtcstack.demux): DTLS/SRTP/... from a peer; no state changes,
            # so no timer to recompute (the hot path of every data channel and media packet).
            self._on_application_data(data, addr)
            return
        addr = (str(addr[0]), int(addr[1]))
        # STUN or TURN ChannelData: the relay's server gets its own.
        for relay in self._relay_list:
            if relay.socket == local and relay.client.is_from_server(data, addr):
                if (
                    FIRST_BYTE_KIND[data[0]] is PacketKind.STUN
                    and len(data) >= 20
                    and data[8:20] in self._transactions
                ):
                    break  # our own Binding request to the same server (srflx)
                relay.client.receive_datagram(data, addr, now)
                self._drain_relay(relay, now)
                self._after(now)
                return
        self._on_datagram(data, addr, local, now)
        self._after(now)

    def transmits(self, now: float) -> list[tuple[bytes, Address, Address]]:
        """Drain ``(data, local socket, remote)`` triples."""
        out, self._out = self._out, []
        return out

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Drain ``(data, remote)``: only meaningful with a single host socket."""
        return [(data, remote) for data, _local, remote in self.transmits(now)]

    def next_event(self) -> Event | None:
        ready = self._ready
        if ready:
            return ready.pop()
        events = self._events
        if not events:
            return None
        events.reverse()
        self._ready, self._events = events, ready
        return events.pop()

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._closed:
            for relay in self._relay_list:
                self._relay_timer(relay, now)
            self._deadline = self._relay_deadline()
            return
        self._transaction_timers(now)
        for relay in self._relay_list:
            self._relay_timer(relay, now)
        self._run_checks(now)
        self._run_consent(now)
        self._after(now)

    def _on_datagram(self, data: bytes, addr: Address, local: Address, now: float) -> None:
        if FIRST_BYTE_KIND[data[0]] is not PacketKind.STUN:  # RFC 7983 §7
            self._on_application_data(data, addr)
            return
        try:
            msg = decode(data)
        except StunParseError:
            self.stats["dropped_malformed_stun"] += 1
            return
        if msg.method != Method.BINDING:
            self.stats["dropped_not_binding"] += 1
            return
        cls = msg.message_class
        if cls is MessageClass.REQUEST:
            self._on_request(msg, addr, local, now)
        elif cls is MessageClass.INDICATION:
            self.stats["indications_received"] += 1  # RFC 8445 §11 keepalive: nothing to do
        else:
            self._on_response(msg, addr, local, now)

    def _on_application_data(self, data: bytes, addr: Address) -> None:
        gens = [self.generation] if self.previous is None else [self.generation, self.previous]
        for gen in gens:
            if addr in gen.remote_candidates:
                self.stats["data_received"] += 1
                self._events.append(DataReceived(data, addr))
                return
        self.stats["data_from_unknown_dropped"] += 1

    def _use_valid_pair(self, gen: Generation) -> None:
        """RFC 8445 §12.1: before selection, data may go on any valid pair. Keep the one in
        use while it has not failed, else take the best valid pair and report it."""
        if gen.selected is not None or self.config.lite or not self.config.use_valid_pairs:
            return
        if self.previous is not None and self.previous.selected is not None:
            return  # RFC 8445 §12.1: after a restart data stays on the old selected pair
        active = gen.active
        if (
            active is not None
            and active.state is not PairState.FAILED
            and gen.pair_by_key.get((active.local_key, active.remote.address)) is active
        ):
            return
        best = gen.best_usable()
        gen.active = best
        if best is not None:
            self.stats["valid_pairs_used"] += 1
            self._events.append(SelectedPairChanged(best.valid_local or best.local, best.remote))

    def _compute_state(self, now: float) -> str:
        gen = self.generation
        if self._consent_failed:
            return "failed"
        pair = self.selected_pair
        if pair is not None:
            if self._consent_lost and pair.nominated:
                return "disconnected"
            if (
                gen.selected is not None
                and gen.remote_ended
                and self.gathering_state == "complete"
                and not any(
                    p.state in (PairState.WAITING, PairState.FROZEN, PairState.IN_PROGRESS)
                    for p in gen.pairs
                )
            ):
                return "completed"
            return "connected"
        if gen.remote_key is None and not gen.pairs:
            # before any remote credentials; after a restart, checking starts again
            return "new" if self.connection_state == "new" else "checking"
        # RFC 8445 §8.3 with RFC 8863 §3: failed when every pair failed, gathering is
        # over and the PAC timer (39.5 s from the start of checks) has run out: a
        # peer-reflexive pair may still come, even after end-of-candidates.
        busy = any(
            p.state in (PairState.WAITING, PairState.FROZEN, PairState.IN_PROGRESS)
            for p in gen.pairs
        )
        if (
            not busy
            and not gen.triggered
            and gen.nominating is None
            and not any(p.state is PairState.SUCCEEDED for p in gen.pairs)
            and self.gathering_state == "complete"
            and gen.checking_since is not None
            and now >= gen.checking_since + self.config.pac_timeout
        ):
            return "failed"
        return "checking"

    def _after(self, now: float) -> None:
        """After every mutation: update the state, schedule checks, recompute the timer."""
        if self._closed:
            self._deadline = self._relay_deadline()
            return
        gen = self.generation
        if (
            not self.config.lite
            and gen.remote_key is not None
            and self._next_check_at is None
            and gen.has_pending_work()
        ):
            self._next_check_at = max(now, self._last_check_at + self.config.ta)
        if self.controlling and gen.remote_key is not None and not self.config.lite:
            self._maybe_nominate(gen, now)
            if self._next_check_at is None and gen.triggered:
                self._next_check_at = max(now, self._last_check_at + self.config.ta)
        self._use_valid_pair(gen)
        self._set_state(self._compute_state(now))
        times: list[float] = [
            t for t in (tx.next_at for tx in self._transactions.values()) if t is not None
        ]
        if self._next_check_at is not None:
            times.append(self._next_check_at)
        relay_deadline = self._relay_deadline()
        if relay_deadline is not None:
            times.append(relay_deadline)
        if (
            self.controlling
            and gen.selected is None
            and gen.nominating is None
            and gen.first_valid_at is not None
        ):
            times.append(gen.first_valid_at + self.config.nomination_delay)
            if gen.nomination_wake is not None:
                times.append(gen.nomination_wake)
        selected = self.selected_pair
        if selected is not None and selected.nominated:
            if self._consent_next is not None:
                times.append(self._consent_next)
            if (
                self._consent_last_ok is not None
                and not self._consent_failed
                and not self.config.lite
            ):
                times.append(self._consent_last_ok + self.config.consent_timeout)
            tx = self._consent_tx
            if tx is not None and not self._consent_lost:
                times.append(tx.first_sent + self.config.consent_miss_after)
            if self._keepalive_at is not None:
                times.append(self._keepalive_at)
        if (
            self.selected_pair is None
            and gen.checking_since is not None
            and self.connection_state == "checking"
        ):
            pac = gen.checking_since + self.config.pac_timeout
            if pac > now:
                times.append(pac)
        self._deadline = min(times) if times else None
