"""The sans-I/O ICE agent (RFC 8445), trickle-first (RFC 8838), with consent freshness
(RFC 7675), one component (rtcp-mux), full or lite.

Driving it
----------
The agent owns several sockets: one per host address the caller gives it (the asyncio
layer binds them; a test network attaches them). It is a
:class:`~pyrtcstack.common.core.MultiSocketCore`:

* ``receive_datagrams(batch, now, local=(ip, port))`` — ``[(data, addr)]`` that arrived
  together on socket ``local`` (default: the first host address);
  ``receive_datagram(data, addr, now, local)`` is the batch of one;
* ``transmits(now) -> list[Transmit]`` (``(data, source, destination)``) — what to send, from
  which socket; ``datagrams_to_send(now)`` drops the source and is only right with one
  socket;
* ``get_timer()``, ``handle_timer(now)``, ``next_event()`` as every core. When an API call
  (``send``, ``restart``, ``add_remote_candidate``...) queued a datagram, ``get_timer()``
  is at most the ``now`` of that call.

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

Its parts
---------
The agent owns five parts, each an object with its own state, and passes what one part
produces to the next:

* :class:`~.gathering.Gatherer` — the local candidates (RFC 8445 §5.1);
* :class:`~.checks.Checks` — the credentials generations, their checklists, our role,
  nomination (RFC 8445 §6-§9);
* :class:`~.consent.Consent` — consent freshness of the selected pair (RFC 7675);
* :class:`~.transactions.Transactions` — the outstanding Binding requests (RFC 8489 §6.2);
* :class:`~.relays.Relays` — the TURN allocations (RFC 8656), and the way out of every
  datagram;

and one :class:`~.outbox.Outbox` they all write to (datagrams, events, counters). This
module demultiplexes what arrives (RFC 7983, then by STUN class), dispatches to the part
concerned, and computes the W3C connection state and the timer.

Every spec rule is cited where it is applied; deviations are listed in docs/ice.md.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

from ..common.core import Address, Event, Transmit, default_rng
from ..demux import FIRST_BYTE_KIND, FOR_ICE, PacketKind
from ..sdp import Candidate
from ..stun import MessageClass, Method, StunParseError, decode
from ..turn import Allocated, RequestFailed
from ..turn import DataReceived as TurnData
from .candidates import IceCandidate
from .checklist import CandidatePair, Generation, PairState
from .checks import Checks
from .config import IceConfig, StreamTransport
from .consent import Consent
from .errors import IceError, IceStaleCandidateError
from .events import ConnectionStateChanged, DataReceived
from .gathering import Gatherer
from .outbox import Outbox
from .relays import Relay, Relays
from .transactions import Transactions

__all__ = ["IceAgent"]

_STUN = PacketKind.STUN
#: RFC 8445 §12.1: data may go on a valid pair only. What is sent before the first pair is
#: valid waits for it, up to this many datagrams and bytes (beyond: dropped, counted as
#: ``send_no_pair``): a DTLS server's first flight can answer a ClientHello that came
#: right after the peer's first check, before our own check of that pair got its answer.
MAX_HELD_DATAGRAMS = 16
MAX_HELD_BYTES = 32768


class IceAgent:
    """A full (or lite) ICE agent for one component (see the module docstring).

    ``__slots__``: an agent lives as long as its connection; an instance dict would cost
    more than the attributes."""

    __slots__ = (
        "_closed",
        "_deadline",
        "_held",
        "_now",
        "_out",
        "checks",
        "config",
        "connection_state",
        "consent",
        "gathering",
        "next_event",
        "relays",
        "transactions",
    )

    def __init__(self, config: IceConfig | None = None, rng: random.Random | None = None):
        self.config = config = config or IceConfig()
        rng = default_rng(rng)
        self._out = out = Outbox()
        #: The contract's ``next_event()``: the outbox queue's own ``pop`` (the queue is
        #: the agent's for its life), not a method that calls it: a driver asks after
        #: every input and timer, three times per idle consent check.
        self.next_event: Callable[[], Event | None] = out.events.pop
        #: RFC 8445 §7.1.1: the 64-bit tie-breaker for role conflicts.
        tie_breaker = rng.getrandbits(64)
        generation = Checks.new_generation(rng, config.local_ufrag, config.local_pwd)
        self.relays = relays = Relays(out, rng)
        self.transactions = transactions = Transactions(relays, out.stats)
        self.gathering = gathering = Gatherer(
            config,
            rng,
            out,
            transactions=transactions,
            relays=relays,
            ufrag=generation.local_ufrag,
        )
        self.consent = consent = Consent(config, rng, out, transactions=transactions, relays=relays)
        self.checks = Checks(
            config,
            rng,
            out,
            transactions=transactions,
            relays=relays,
            gatherer=gathering,
            consent=consent,
            generation=generation,
            tie_breaker=tie_breaker,
        )
        #: W3C RTCIceTransportState
        self.connection_state = "new"
        self._closed = False
        self._deadline: float | None = None
        self._now = 0.0  # the last now an input or API call gave
        #: data sent before any pair was valid (MAX_HELD_DATAGRAMS), in order
        self._held: list[bytes] = []

    # ----------------------------------------------------------------- what callers read
    @property
    def stats(self) -> Counter[str]:
        """What was dropped and why, what was sent (the counters of every part)."""
        return self._out.stats

    @property
    def controlling(self) -> bool:
        return self.checks.controlling

    @property
    def tie_breaker(self) -> int:
        return self.checks.tie_breaker

    @property
    def generation(self) -> Generation:
        """The current credentials generation (RFC 8445 §9)."""
        return self.checks.generation

    @property
    def previous(self) -> Generation | None:
        """The generation before a restart, while its selected pair still carries data."""
        return self.checks.previous

    @property
    def past_remote_ufrags(self) -> list[str]:
        return self.checks.past_remote_ufrags

    @property
    def gathering_state(self) -> str:
        """W3C RTCIceGatheringState: "new", "gathering", "complete"."""
        return self.gathering.state

    @property
    def local_candidates(self) -> list[IceCandidate]:
        return self.gathering.local_candidates

    @property
    def stream_transports(self) -> list[StreamTransport]:
        """TCP/TLS connections to TURN servers the driver has to open (RFC 8656 §3.1)."""
        return self.gathering.stream_transports

    @property
    def local_ufrag(self) -> str:
        return self.checks.generation.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self.checks.generation.local_pwd

    @property
    def selected_pair(self) -> CandidatePair | None:
        """The pair data goes on: the current generation's selected (nominated) pair, else
        the one kept from before an ICE restart (RFC 8445 §9: media continues on the old
        pair), else the valid pair in use before selection (RFC 8445 §12.1, see
        :attr:`IceConfig.use_valid_pairs`; its ``nominated`` is False)."""
        return self.checks.selected_pair

    @property
    def pairs(self) -> list[CandidatePair]:
        return list(self.checks.generation.pairs)

    @property
    def remote_candidates(self) -> list[IceCandidate]:
        return list(self.checks.generation.remote_candidates.values())

    def relay_transport(self, candidate: IceCandidate) -> str | None:
        """How a local relayed candidate reaches its TURN server: "udp", "tcp" or "tls"
        (webrtc-stats ``relayProtocol``); None for a candidate that is not ours relayed."""
        relay = self.relays.relay_of(candidate.address)
        return relay.server.transport if relay is not None else None

    # ------------------------------------------------------------------------ the API
    def gather(self, host_addresses: list[Address], now: float) -> None:
        """Start gathering (RFC 8445 §5.1.1) from the given host sockets: host
        candidates come out at once as :class:`LocalCandidate` events, server-reflexive
        and relayed ones as STUN/TURN answers arrive (trickle, RFC 8838 §4)."""
        for host in self.gathering.gather(host_addresses, now):
            self.checks.pair_local(host)
        self._after(now)

    def set_remote_credentials(
        self, ufrag: str, pwd: str, now: float, *, lite: bool = False
    ) -> None:
        """The peer's ice-ufrag/ice-pwd for the current generation (and whether it is a
        lite agent: then we must be controlling, RFC 8445 §6.1.1)."""
        self.checks.set_remote_credentials(ufrag, pwd, now, lite)
        self._after(now)

    def add_remote_candidate(
        self, candidate: Candidate | IceCandidate | str, now: float, ufrag: str | None = None
    ) -> bool:
        """Add a trickled or signalled remote candidate (RFC 8838 §11). Returns False when
        it was dropped (counted in :attr:`stats`): an mDNS ``.local`` or other FQDN name,
        a TCP candidate, a component other than 1, a duplicate, or the table full. Raises
        :class:`IceStaleCandidateError` for a candidate of another generation and
        :class:`pyrtcstack.sdp.ParseError` for candidate text that does not parse."""
        gen = self.checks.generation
        stats = self._out.stats
        if ufrag is not None and gen.remote_ufrag is not None and ufrag != gen.remote_ufrag:
            raise IceStaleCandidateError(f"candidate for ufrag {ufrag!r}, not the current one")
        if gen.remote_ended:
            stats["candidate_after_end"] += 1
        if isinstance(candidate, str):
            candidate = Candidate.parse(candidate)
        if isinstance(candidate, Candidate):
            if candidate.address.lower().endswith(".local"):
                # draft-ietf-mmusic-mdns-ice-candidates §3.2.1: resolve or ignore; the
                # core never resolves (the asyncio layer may): drop, counted.
                stats["remote_mdns_dropped"] += 1
                return False
            try:
                remote = IceCandidate.from_sdp(candidate)
            except ValueError:
                stats["remote_unsupported_dropped"] += 1
                return False
        else:
            remote = candidate
        if remote.component != 1:
            stats["remote_component_dropped"] += 1
            return False
        if not self.checks.add_remote(remote):
            return False
        self._after(now)
        return True

    def end_of_remote_candidates(self, now: float, ufrag: str | None = None) -> None:
        """The peer has signalled all its candidates of this generation (RFC 8838 §13)."""
        gen = self.checks.generation
        if ufrag is not None and gen.remote_ufrag is not None and ufrag != gen.remote_ufrag:
            raise IceStaleCandidateError(f"end-of-candidates for ufrag {ufrag!r}")
        gen.remote_ended = True
        self._after(now)

    def send(self, data: bytes, now: float) -> bool:
        """Send application data on the selected pair. Returns False (counted) when there
        is no pair, or consent was lost for good (RFC 7675 §5.1: stop sending)."""
        pair = self.checks.selected_pair
        if pair is None or self.consent.failed or self._closed:
            return self._hold([data], pair)
        self._now = now
        local = pair.local.address
        if self.relays.in_use:
            self.relays.send_from(data, local, pair.remote.address, now)
        else:  # no TURN allocation: from the host socket (what Relays.send_from does)
            self._out.send(data, local, pair.remote.address)
        return True

    def send_many(self, datagrams: list[bytes], now: float) -> bool:
        """:meth:`send` for each of ``datagrams``, in order, on the selected pair (one
        lookup of the pair for the whole batch; the same datagrams and counters)."""
        if not datagrams:
            return True
        pair = self.checks.selected_pair
        if pair is None or self.consent.failed or self._closed:
            return self._hold(datagrams, pair)
        self._now = now
        local = pair.local.address
        remote = pair.remote.address
        if self.relays.relay_of(local) is not None:  # through the TURN allocation
            for data in datagrams:
                self.relays.send_from(data, local, remote, now)
        else:
            self._out.send_many(datagrams, local, remote)
        return True

    def _hold(self, datagrams: Sequence[bytes], pair: CandidatePair | None) -> bool:
        """:meth:`send` with no pair to send on: before the first pair is valid, keep
        what fits (sent by :meth:`_after` once one is, RFC 8445 §12.1) and return True;
        the rest, and anything once consent failed or the agent closed, is dropped
        (counted) and the answer is False."""
        held = self._held
        if pair is None and not self._closed and self.connection_state != "failed":
            room = MAX_HELD_BYTES - sum(map(len, held))
            for n, data in enumerate(datagrams):
                if len(held) >= MAX_HELD_DATAGRAMS or len(data) > room:
                    datagrams = datagrams[n:]
                    break
                held.append(data)
                room -= len(data)
                self._out.stats["send_held"] += 1
            else:
                return True
        self._out.stats["send_no_pair"] += len(datagrams)
        return False

    def restart(self, now: float, *, ufrag: str | None = None, pwd: str | None = None) -> None:
        """ICE restart (RFC 8445 §9): new local credentials (``ufrag``/``pwd`` when the
        caller chose them, e.g. at JSEP createOffer; random otherwise), a new checklist
        once the new remote credentials come; data stays on the current pair until a new
        one is selected. Local candidates are re-announced under the new ufrag, and the
        STUN/TURN servers added to :attr:`config` since gathering are asked now (a TCP/TLS
        one appears in :attr:`stream_transports` for the driver to open)."""
        if self._closed:
            raise IceError("restart() after close()")
        expired = self.consent.restart()
        self.checks.restart(ufrag, pwd, expired)
        self.gathering.restart(self.checks.generation.local_ufrag, now)
        self._after(now)

    def cancel_restart(self, now: float) -> bool:
        """Undo the restarts since the last answered generation (a JSEP rollback of an
        ICE restart offer, RFC 9429 §4.1.10.2 / §5.7): the old credentials, checklist and
        selected pair come back; candidates and checks of the abandoned generation are
        dropped. False when there is nothing to undo (no restart, or its generation has
        since selected a pair)."""
        if self._closed or not self.checks.cancel_restart():
            return False
        self.gathering.ufrag = self.checks.generation.local_ufrag
        self._out.stats["restarts_cancelled"] += 1
        self._after(now)
        return True

    def close(self, now: float) -> None:
        """Stop: no more checks or consent; release TURN allocations (RFC 8656 §8)."""
        if self._closed:
            return
        self._closed = True
        self._held.clear()
        self.transactions.clear()
        self.relays.close(now)
        self._set_state("closed")
        self._after(now)

    # ------------------------------------------------------------------ the core contract
    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        """Datagrams ``[(data, addr)]`` that arrived together on socket ``local`` (default:
        the first host socket): STUN and TURN for the agent, the rest (DTLS, SRTP...) out
        as :class:`DataReceived` from a known remote candidate (RFC 7983 §7)."""
        stats = self._out.stats
        if local is None:
            sockets = self.gathering.sockets
            if not sockets:
                stats["dropped_not_gathering"] += len(batch)
                return
            local = sockets[0]
        changed = False
        for data, addr in batch:
            if data and not FOR_ICE[data[0]]:
                # RFC 7983 §7 (pyrtcstack.demux): DTLS/SRTP/... from a peer; no state
                # changes, so no timer to recompute (the hot path of every data packet).
                self._on_application_data(data, addr)
            elif data:
                self._on_ice_datagram(data, (str(addr[0]), int(addr[1])), local, now)
                changed = True
            else:
                stats["dropped_empty"] += 1
        if changed:
            self._after(now)

    def receive_datagram(
        self, data: bytes, addr: Address, now: float, local: Address | None = None
    ) -> None:
        """One datagram from ``addr`` arrived on socket ``local`` (default: the first)."""
        self.receive_datagrams(((data, addr),), now, local)

    def transmits(self, now: float) -> list[Transmit]:
        """Drain the datagrams to send, each from its local socket (or TURN stream)."""
        out = self._out
        transmits, out.transmits = out.transmits, []
        return transmits

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Drain ``(data, remote)``: only meaningful with a single host socket."""
        return [(data, remote) for data, _local, remote in self.transmits(now)]

    def get_timer(self) -> float | None:
        if self._out.transmits:
            return self._now  # pending output counts as a deadline (common/core.py)
        return self._deadline

    def handle_timer(self, now: float) -> None:
        self._now = now
        if not self._closed:
            for tx in self.transactions.handle_timer(now):
                if tx.kind == "gather":
                    self.gathering.on_timeout(tx)
                elif tx.kind == "consent":
                    self.consent.on_timeout(tx)
                else:
                    self.checks.on_timeout(tx)
        if self.relays.in_use:
            self.relays.handle_timer(now)
            self._relay_events(now)
        if not self._closed:
            self.checks.run(now)
            pair = self.checks.selected_pair
            if pair is not None and pair.nominated:
                # RFC 7675 consent starts with selection (not on a §12.1 valid pair)
                checks = self.checks
                gen = checks.generation_of(pair)
                self.consent.run(now, pair, gen, checks.controlling, checks.tie_breaker)
        self._after(now)

    # ------------------------------------------------------------------------ inside
    def _on_ice_datagram(self, data: bytes, addr: Address, local: Address, now: float) -> None:
        """STUN or TURN ChannelData: an allocation's server gets its own."""
        relays = self.relays
        if (
            relays.in_use
            and (
                FIRST_BYTE_KIND[data[0]] is not _STUN
                or len(data) < 20
                or data[8:20] not in self.transactions
            )
            and relays.receive(data, addr, local, now)
        ):
            # (a STUN answer to one of our own requests is ours even when it comes from a
            # TURN server: a Binding request to it as a STUN server, for a srflx candidate)
            self._relay_events(now)
            return
        self._on_datagram(data, addr, local, now)

    def _on_datagram(self, data: bytes, addr: Address, local: Address, now: float) -> None:
        if FIRST_BYTE_KIND[data[0]] is not _STUN:  # RFC 7983 §7
            self._on_application_data(data, addr)
            return
        try:
            msg = decode(data)
        except StunParseError:
            self._out.stats["dropped_malformed_stun"] += 1
            return
        if msg.method != Method.BINDING:
            self._out.stats["dropped_not_binding"] += 1
            return
        cls = msg.message_class
        if cls is MessageClass.REQUEST:
            self.checks.on_request(msg, addr, local, now)
        elif cls is MessageClass.INDICATION:
            self._out.stats["indications_received"] += 1  # RFC 8445 §11 keepalive
        else:
            tx = self.transactions.get(msg.transaction_id)
            if tx is None:
                self._out.stats["stray_responses"] += 1
            elif tx.kind == "gather":
                self.gathering.on_response(tx, msg, addr, local, now)
            else:
                self.checks.on_response(tx, msg, addr, local, now)

    def _on_application_data(self, data: bytes, addr: Address) -> None:
        """RFC 7983 §7: not STUN or TURN: the application's, from a remote candidate of
        the current or the previous generation (else dropped, counted)."""
        checks = self.checks
        out = self._out
        previous = checks.previous
        if addr in checks.generation.remote_candidates or (
            previous is not None and addr in previous.remote_candidates
        ):
            out.stats["data_received"] += 1
            out.events.push(DataReceived(data, addr))
            return
        out.stats["data_from_unknown_dropped"] += 1

    def _relay_events(self, now: float) -> None:
        """Act on what the TURN clients reported (RFC 8656)."""
        events = self.relays.take_events()
        while events:
            for relay, event in events:
                self._on_relay_event(relay, event, now)
            events = self.relays.take_events()

    def _on_relay_event(self, relay: Relay, event: Event, now: float) -> None:
        if isinstance(event, Allocated):
            cand = self.gathering.on_allocated(relay, event, self._closed)
            if cand is not None:
                self.checks.pair_local(cand)
        elif isinstance(event, TurnData) and relay.candidate is not None:
            # RFC 8656 §10.4 / §12.5: a datagram from a peer, through the allocation
            if event.data:
                self._on_datagram(event.data, event.peer, relay.candidate.address, now)
        elif isinstance(event, RequestFailed):
            self.gathering.on_relay_failed(relay, event)

    def _set_state(self, state: str) -> None:
        if state == "completed" and self.connection_state in ("new", "checking"):
            self._set_state("connected")  # W3C: connected comes before completed
        if state != self.connection_state:
            self.connection_state = state
            self._out.events.push(ConnectionStateChanged(state))

    def _compute_state(self, now: float, pair: CandidatePair | None) -> str:
        """The W3C RTCIceTransportState from the parts' state (``pair``: the selected)."""
        checks = self.checks
        gen = checks.generation
        if self.consent.failed:
            return "failed"
        if pair is not None:
            if self.consent.lost and pair.nominated:
                return "disconnected"
            if (
                gen.selected is not None
                and gen.remote_ended
                and self.gathering.state == "complete"
                and not gen.checking()
            ):
                return "completed"
            return "connected"
        if gen.remote_key is None and not gen.pairs:
            # before any remote credentials; after a restart, checking starts again
            return "new" if self.connection_state == "new" else "checking"
        # RFC 8445 §8.3 with RFC 8863 §3: failed when every pair failed, gathering is
        # over and the PAC timer (39.5 s from the start of checks) has run out: a
        # peer-reflexive pair may still come, even after end-of-candidates.
        if (
            not gen.checking()
            and not gen.triggered
            and gen.nominating is None
            and not any(p.state is PairState.SUCCEEDED for p in gen.pairs)
            and self.gathering.state == "complete"
            and gen.checking_since is not None
            and now >= gen.checking_since + self.config.pac_timeout
        ):
            return "failed"
        return "checking"

    def _after(self, now: float) -> None:
        """After every change: act on the TURN clients' reports, update the state,
        schedule checks, recompute the timer (every input of a connected agent comes
        here: a consent check is three of them, so it is written for that case)."""
        self._now = now
        relays = self.relays
        if relays.in_use:
            self._relay_events(now)
        if self._closed:
            self._deadline = relays.deadline()
            return
        checks = self.checks
        checks.schedule(now)
        selected = checks.selected_pair
        if self._held and selected is not None:
            held, self._held = self._held, []
            self.send_many(held, now)  # the first valid pair (RFC 8445 §12.1)
        state = self._compute_state(now, selected)
        if state != self.connection_state:
            self._set_state(state)
        deadline = checks.deadline(now)
        for t in (self.transactions.deadline(), relays.deadline() if relays.in_use else None):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        gen = checks.generation
        if selected is not None:
            if selected.nominated:
                t = self.consent.deadline()
                if t is not None and (deadline is None or t < deadline):
                    deadline = t
        elif gen.checking_since is not None and state == "checking":
            # RFC 8863 §3: the PAC timer
            t = gen.checking_since + self.config.pac_timeout
            if t > now and (deadline is None or t < deadline):
                deadline = t
        self._deadline = deadline
