"""The state every part of the ICE agent shares, and the helpers they all use.

The agent is split by concept (RFC 8445 sections): :mod:`.gathering` (§5.1), :mod:`.checks`
(§6–§8: checks, role conflicts, nomination), :mod:`.consent` (RFC 7675, §11 keepalives) and
:mod:`.agent` (the public API, the core contract and the W3C states). Each part is a mixin
of :class:`AgentBase`; :class:`~pyrtcstack.ice.agent.IceAgent` combines them.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import dataclass, field

from ..common.core import Address, Event, default_rng, random_text
from ..stun import AttributeType as A
from ..stun import Message, MessageClass, Method
from ..stun.credentials import short_term_key
from ..stun.transaction import UDP_POLICY
from ..turn.client import ClientState, TurnClient
from .candidates import (
    CandidateType,
    IceCandidate,
    candidate_priority,
)
from .checklist import CandidatePair, Generation
from .errors import IceError
from .events import (
    ConnectionStateChanged,
    GatheringStateChanged,
    LocalCandidate,
    RoleChanged,
)
from .transactions import Transaction

__all__ = ["STREAM_RELAY_PREFERENCE", "AgentBase", "IceConfig", "StreamTransport", "TurnServer"]

#: RFC 8445 §5.1.2.1 local preference of relayed candidates reached over TCP and TLS:
#: below every UDP one (as libwebrtc ranks relay UDP > TCP > TLS).
STREAM_RELAY_PREFERENCE = {"tcp": 32767, "tls": 16383}


#: RFC 8445 §14.2: pacing of checks (one every Ta).
TA = 0.05
#: RFC 7675 §5.1: consent checks every 5 s, randomised to [0.8, 1.2] of it.
CONSENT_INTERVAL = 5.0
#: RFC 7675 §5.1: consent expires 30 s after the last authenticated response.
CONSENT_TIMEOUT = 30.0
#: A consent check unanswered this long (sent at 0, 0.5, 1.5 s) means "disconnected".
CONSENT_MISS_AFTER = 2.5
#: RFC 8445 §11: Tr, the keepalive interval of a lite agent (Binding indications).
KEEPALIVE_INTERVAL = 15.0
#: Regular nomination (RFC 8445 §8.1.1): the controlling agent nominates the best valid
#: pair once no better pair is still being checked, or this long after the first success.
NOMINATION_DELAY = 1.0
#: ... but a better pair already being checked is only waited for this many round trips
#: of the best valid pair (at least NOMINATION_MIN_PATIENCE seconds) after its first send.
NOMINATION_PATIENCE = 3.0
NOMINATION_MIN_PATIENCE = 0.05
#: RFC 8863 §4: do not declare failure before this long when the remote side has not
#: signalled end-of-candidates.
PAC_TIMEOUT = 39.5
#: Checks (RFC 8489 Rc) per pair before it fails.
CHECK_MAX_TRANSMISSIONS = UDP_POLICY.rc
#: Earlier ice-ufrags of the peer remembered (bounded): a check whose sender part is one
#: of them is answered (RFC 8445 §7.3 reading, see checks.py and docs/ice.md).
MAX_PAST_REMOTE_UFRAGS = 4

_ICE_CHARS = string.ascii_letters + string.digits + "+/"

_STUN_BINDING_REQUEST = 0x0001
_STUN_BINDING_INDICATION = 0x0011


@dataclass(frozen=True, slots=True)
class TurnServer:
    """A TURN server to gather a relayed candidate from.

    ``transport`` is how the agent reaches the server (RFC 8656 §3.1): "udp" (one
    allocation per host socket), or "tcp"/"tls" (one allocation over one stream the
    driver opens, see :attr:`AgentBase.stream_transports`); the relay itself is UDP.
    """

    address: Address
    username: str
    password: str = field(repr=False)
    transport: str = "udp"

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp", "tls"):
            raise IceError(f"TURN transport must be udp, tcp or tls, not {self.transport!r}")


@dataclass(frozen=True, slots=True)
class StreamTransport:
    """A TCP or TLS connection the driver must open to a TURN server. The agent names it
    by ``key``, a pseudo socket address: it appears as ``local`` in ``transmits()`` (write
    the bytes to the stream) and must be given as ``local`` to ``receive_datagram`` with
    each STUN/ChannelData frame read from it (cut with ``turn.StreamFramer``)."""

    key: Address
    server: Address
    tls: bool


@dataclass(slots=True)
class IceConfig:
    """Agent settings; every timer defaults to the value its RFC recommends."""

    controlling: bool = True
    #: RFC 8445 §2.5: a lite agent only has host candidates, never checks, is controlled.
    lite: bool = False
    stun_servers: list[Address] = field(default_factory=list)
    turn_servers: list[TurnServer] = field(default_factory=list)
    #: W3C iceTransportPolicy "relay": gather and use relayed candidates only.
    relay_only: bool = False
    #: RFC 8445 §14.2: Ta, the pacing of checks (one check every Ta). 50 ms is the RFC's
    #: default; a lower value must be signalled (RFC 8839 ``a=ice-pacing``, the higher of
    #: the two sides' values applies) and never below 5 ms for all agents of a process.
    ta: float = TA
    #: RFC 8445 §12.1: "an ICE agent MAY send data on any valid pair before selected pairs
    #: have been produced". True: the first valid pair is reported at once
    #: (``SelectedPairChanged`` with ``pair.nominated`` False, state "connected") and data
    #: may flow on it; the nominated pair takes over when selection happens (another
    #: ``SelectedPairChanged`` if it differs). False: nothing before nomination.
    use_valid_pairs: bool = True
    check_max_transmissions: int = CHECK_MAX_TRANSMISSIONS
    stun_max_transmissions: int = UDP_POLICY.rc
    nomination_delay: float = NOMINATION_DELAY
    nomination_patience: float = NOMINATION_PATIENCE
    consent_interval: float = CONSENT_INTERVAL
    consent_timeout: float = CONSENT_TIMEOUT
    consent_miss_after: float = CONSENT_MISS_AFTER
    keepalive_interval: float = KEEPALIVE_INTERVAL
    pac_timeout: float = PAC_TIMEOUT
    local_ufrag: str | None = None
    local_pwd: str | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class _Relay:
    """One TURN allocation made from one host socket."""

    socket: Address
    server: TurnServer
    client: TurnClient
    candidate: IceCandidate | None = None
    done: bool = False


def _random_text(rng: random.Random, n: int) -> str:
    return random_text(rng, _ICE_CHARS, n)


class AgentBase:
    """Shared state and helpers of the agent's parts.

    ``__slots__``: an agent lives as long as its connection and has more attributes than
    an instance dict shares keys for (30), so a dict would cost 1.55 KiB per connection;
    the parts (mixins) add none of their own."""

    __slots__ = (
        "_before_restart",
        "_closed",
        "_consent_failed",
        "_consent_last_ok",
        "_consent_lost",
        "_consent_next",
        "_consent_tx",
        "_deadline",
        "_events",
        "_foundations",
        "_gather_pending",
        "_gathering_started",
        "_keepalive_at",
        "_last_check_at",
        "_local_prefs",
        "_next_check_at",
        "_out",
        "_ready",
        "_relay_list",
        "_relays",
        "_rng",
        "_servers_asked",
        "_sockets",
        "_transactions",
        "config",
        "connection_state",
        "controlling",
        "gathering_state",
        "generation",
        "local_candidates",
        "past_remote_ufrags",
        "previous",
        "stats",
        "stream_transports",
        "tie_breaker",
    )

    def __init__(self, config: IceConfig | None = None, rng: random.Random | None = None):
        self.config = config or IceConfig()
        self._rng = default_rng(rng)
        self.controlling = bool(self.config.controlling) and not self.config.lite
        #: RFC 8445 §7.1.1: the 64-bit tie-breaker for role conflicts.
        self.tie_breaker = self._rng.getrandbits(64)
        self.stats: Counter[str] = Counter()
        self.connection_state = "new"
        self.gathering_state = "new"
        self._out: list[tuple[bytes, Address, Address]] = []
        # Events in two lists instead of a deque (0.74 KiB even when empty, for the life of
        # the connection): next_event() pops _ready (the older events, reversed) and
        # refills it from _events when empty: FIFO, O(1) amortised.
        self._events: list[Event] = []
        self._ready: list[Event] = []
        self._transactions: dict[bytes, Transaction] = {}
        self._sockets: list[Address] = []
        self._local_prefs: dict[Address, int] = {}
        self.local_candidates: list[IceCandidate] = []
        self._foundations: dict[tuple[str, str, str, str], str] = {}
        self._relays: dict[Address, _Relay] = {}  # relayed address -> relay
        self._relay_list: list[_Relay] = []
        #: TCP/TLS connections to TURN servers the driver has to open (see
        #: :class:`StreamTransport`); filled by ``gather()``.
        self.stream_transports: list[StreamTransport] = []
        self._gather_pending = 0
        self._gathering_started = False
        #: (kind, host socket or None, server) already asked (see _gather_from_servers)
        self._servers_asked: set[tuple[str, Address | None, Address | TurnServer]] = set()
        self.generation = self._new_generation(self.config.local_ufrag, self.config.local_pwd)
        self.previous: Generation | None = None
        #: the peer's ice-ufrags of earlier generations, newest last (MAX_PAST_REMOTE_UFRAGS)
        self.past_remote_ufrags: list[str] = []
        #: the (generation, previous) an ICE restart replaced: IceAgent.cancel_restart()
        self._before_restart: tuple[Generation, Generation | None] | None = None
        self._next_check_at: float | None = None
        self._last_check_at = -1e9
        self._consent_next: float | None = None
        self._consent_last_ok: float | None = None
        self._consent_tx: Transaction | None = None
        self._consent_lost = False
        self._consent_failed = False
        self._keepalive_at: float | None = None
        self._closed = False
        self._deadline: float | None = None

    @property
    def local_ufrag(self) -> str:
        return self.generation.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self.generation.local_pwd

    @property
    def selected_pair(self) -> CandidatePair | None:
        """The pair data goes on: the current generation's selected (nominated) pair, else
        the one kept from before an ICE restart (RFC 8445 §9: media continues on the old
        pair), else the valid pair in use before selection (RFC 8445 §12.1, see
        :attr:`IceConfig.use_valid_pairs`; its ``nominated`` is False)."""
        gen = self.generation
        if gen.selected is not None:
            return gen.selected
        if self.previous is not None and self.previous.selected is not None:
            return self.previous.selected
        return gen.active

    @property
    def pairs(self) -> list[CandidatePair]:
        return list(self.generation.pairs)

    @property
    def remote_candidates(self) -> list[IceCandidate]:
        return list(self.generation.remote_candidates.values())

    def _new_generation(self, ufrag: str | None, pwd: str | None) -> Generation:
        # RFC 8445 §5.3: ufrag ≥ 24 bits, pwd ≥ 128 bits of randomness (8 × 6 = 48 bits,
        # 24 × 6 = 144 bits; RFC 8839 §5.4 length limits 4..256 and 22..256).
        ufrag = ufrag or _random_text(self._rng, 8)
        pwd = pwd or _random_text(self._rng, 24)
        if not 4 <= len(ufrag) <= 256 or not 22 <= len(pwd) <= 256:
            raise IceError("ice-ufrag must be 4-256 and ice-pwd 22-256 characters")
        return Generation(ufrag, pwd, short_term_key(pwd))

    def _foundation(self, ctype: str, base_ip: str, server_ip: str, transport: str) -> str:
        """RFC 8445 §5.1.1.3: one foundation per (type, base IP, server IP, transport)."""
        key = (ctype, base_ip, server_ip, transport)
        found = self._foundations.get(key)
        if found is None:
            found = self._foundations[key] = str(len(self._foundations) + 1)
        return found

    def _emit_candidate(self, cand: IceCandidate) -> None:
        self._events.append(LocalCandidate(cand, self.generation.local_ufrag))

    def _set_gathering(self, state: str) -> None:
        if state != self.gathering_state:
            self.gathering_state = state
            self._events.append(GatheringStateChanged(state, self.generation.local_ufrag))

    def _maybe_gathering_complete(self) -> None:
        if self._gather_pending == 0 and self.gathering_state == "gathering":
            self._set_gathering("complete")

    def _pairing_locals(self) -> list[IceCandidate]:
        """RFC 8445 §6.1.2.4: pairs use host and relayed candidates (a reflexive candidate
        is replaced by its base, which is a host candidate already)."""
        if self.config.relay_only:
            return [c for c in self.local_candidates if c.type is CandidateType.RELAY]
        return [
            c for c in self.local_candidates if c.type in (CandidateType.HOST, CandidateType.RELAY)
        ]

    def _pair_new_local(self, local: IceCandidate, now: float) -> None:
        if self.config.relay_only and local.type is not CandidateType.RELAY:
            return
        gen = self.generation
        for remote in list(gen.remote_candidates.values()):
            self._form_pair(gen, local, remote)

    def _form_pair(
        self, gen: Generation, local: IceCandidate, remote: IceCandidate
    ) -> CandidatePair | None:
        """RFC 8445 §6.1.2.2: pair candidates of the same component and address family."""
        if local.family != remote.family:
            return None
        key = (local.address, remote.address)
        pair = gen.pair_by_key.get(key)
        if pair is not None:
            return pair
        pair = CandidatePair(local, remote, self.controlling)
        pruned = gen.add_pair(pair)
        if pruned is not None:
            self.stats["pairs_pruned"] += 1
            return None if pruned is pair else pair
        return pair

    def _send_from(self, data: bytes, local: Address, remote: Address, now: float) -> None:
        relay = self._relays.get(local)
        if relay is not None:
            if relay.client.state is ClientState.ALLOCATED:
                relay.client.send(data, remote, now)
                self._drain_relay(relay, now)
            else:
                self.stats["relay_send_dropped"] += 1
            return
        self._out.append((data, local, remote))

    def _start_transaction(self, tx: Transaction, now: float) -> None:
        self._transactions[tx.transaction_id] = tx
        self._send_from(tx.client.start(now), tx.local, tx.remote, now)

    def _transaction_timers(self, now: float) -> None:
        """Retransmit (RFC 8489 §6.2.1, the schedule of each transaction's policy) or time
        out every transaction that is due."""
        due = [t for t in self._transactions.values() if (t.next_at or now + 1) <= now]
        for tx in due:
            if self._transactions.get(tx.transaction_id) is not tx:
                continue
            data = tx.timer(now)
            if data is not None:
                self.stats["retransmissions"] += 1
                self._send_from(data, tx.local, tx.remote, now)
            elif tx.timed_out:
                del self._transactions[tx.transaction_id]
                self._on_timeout(tx, now)

    def _drain_relay(self, relay: _Relay, now: float) -> None:
        client = relay.client
        for data, dst in client.datagrams_to_send(now):
            self._out.append((data, relay.socket, dst))
        event = client.next_event()
        while event is not None:
            self._on_relay_event(relay, event, now)
            event = client.next_event()

    def _relay_timer(self, relay: _Relay, now: float) -> None:
        deadline = relay.client.get_timer()
        if deadline is not None and deadline <= now:
            relay.client.handle_timer(now)
            self._drain_relay(relay, now)

    def _relay_deadline(self) -> float | None:
        times = [t for t in (r.client.get_timer() for r in self._relay_list) if t is not None]
        return min(times) if times else None

    def _local_for_key(self, key: Address) -> IceCandidate | None:
        for cand in self.local_candidates:
            if cand.address == key and cand.type in (CandidateType.HOST, CandidateType.RELAY):
                return cand
        return None

    def _set_role(self, controlling: bool) -> None:
        self.controlling = controlling
        self.stats["role_switches"] += 1
        for gen in (self.generation, self.previous):
            if gen is not None:
                gen.resort(controlling)
        self._events.append(RoleChanged(controlling))

    def _check_message(
        self, gen: Generation, pair: CandidatePair, *, use_candidate: bool
    ) -> tuple[Message, int]:
        """RFC 8445 §7.2.2: a Binding request with USERNAME, PRIORITY, ICE-CONTROLLING or
        ICE-CONTROLLED, USE-CANDIDATE when nominating, MESSAGE-INTEGRITY, FINGERPRINT."""
        assert gen.remote_key is not None
        tid = self._rng.randbytes(12)
        local_pref = (pair.local.priority >> 8) & 0xFFFF
        ptype = CandidateType.RELAY if pair.local.type is CandidateType.RELAY else None
        priority = candidate_priority(ptype or CandidateType.PRFLX, local_pref)
        msg = Message(Method.BINDING, MessageClass.REQUEST, tid)
        msg.add_text(A.USERNAME, f"{gen.remote_ufrag}:{gen.local_ufrag}")
        msg.add_uint32(A.PRIORITY, priority)
        if self.controlling:
            msg.add_uint64(A.ICE_CONTROLLING, self.tie_breaker)
            if use_candidate:
                msg.add(A.USE_CANDIDATE)
        else:
            msg.add_uint64(A.ICE_CONTROLLED, self.tie_breaker)
        return msg, priority

    def _consent_delay(self) -> float:
        # RFC 7675 §5.1: randomised to [0.8, 1.2] of the interval.
        return self.config.consent_interval * (0.8 + 0.4 * self._rng.random())

    def _consent_missed(self) -> None:
        """A consent check went unanswered for ``consent_miss_after``: "disconnected"."""
        if not self._consent_lost:
            self._consent_lost = True
            self.stats["consent_missed"] += 1

    def _consent_ok(self, now: float) -> None:
        self._consent_last_ok = now
        self._consent_lost = False

    def _set_state(self, state: str) -> None:
        if state == "completed" and self.connection_state in ("new", "checking"):
            self._set_state("connected")  # W3C: connected comes before completed
        if state != self.connection_state:
            self.connection_state = state
            self._events.append(ConnectionStateChanged(state))

    # ------------------------------------------------------------------ provided by parts
    def _on_datagram(self, data: bytes, addr: Address, local: Address, now: float) -> None:
        raise NotImplementedError  # pragma: no cover - IceAgent

    def _after(self, now: float) -> None:
        raise NotImplementedError  # pragma: no cover - IceAgent

    def _gather_from_servers(self, now: float) -> None:
        raise NotImplementedError  # pragma: no cover - GatheringMixin

    def _on_relay_event(self, relay: _Relay, event: Event, now: float) -> None:
        raise NotImplementedError  # pragma: no cover - GatheringMixin

    def _on_timeout(self, tx: Transaction, now: float) -> None:
        raise NotImplementedError  # pragma: no cover - ChecksMixin

    def _on_gather_response(
        self, tx: Transaction, msg: Message, addr: Address, local: Address, now: float
    ) -> None:
        raise NotImplementedError  # pragma: no cover - GatheringMixin
