"""Candidate pairs and the checklist of one credentials generation (RFC 8445 §6.1.2).

A *generation* is one set of local and remote credentials (RFC 8445 §9: an ICE restart
starts a new one). It owns the remote candidates, the pairs, the triggered-check queue and
the selected pair. Pairs are kept sorted by priority, highest first.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum

from ..common.core import Address
from .candidates import IceCandidate, pair_priority
from .transactions import Transaction

__all__ = ["MAX_PAIRS", "MAX_REMOTE_CANDIDATES", "CandidatePair", "Generation", "PairState"]

#: RFC 8445 §6.1.2.5: the checklist is limited to 100 pairs (the lowest-priority
#: Frozen/Waiting pairs are pruned beyond it).
MAX_PAIRS = 100
#: Remote candidates kept per generation, signalled and peer-reflexive together. Beyond
#: it, candidates are dropped (and counted): a flood of authenticated checks from new
#: addresses cannot grow memory without bound.
MAX_REMOTE_CANDIDATES = 100


class PairState(StrEnum):
    """RFC 8445 §6.1.2.6 pair states."""

    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CandidatePair:
    """A local candidate that sends (host or relayed) and a remote candidate."""

    __slots__ = (
        "foundation",
        "last_response",
        "local",
        "nominate_on_success",
        "nominated",
        "priority",
        "remote",
        "requests_received",
        "requests_sent",
        "responses_received",
        "rtt",
        "state",
        "transaction",
        "triggered",
        "valid_local",
    )

    def __init__(self, local: IceCandidate, remote: IceCandidate, controlling: bool) -> None:
        self.local = local
        self.remote = remote
        self.foundation = f"{local.foundation}:{remote.foundation}"
        self.state = PairState.FROZEN
        self.priority = 0
        self.set_role(controlling)
        #: the local candidate the successful check's XOR-MAPPED-ADDRESS names (RFC 8445
        #: §7.2.5.3.2: the valid pair is (valid_local, remote))
        self.valid_local: IceCandidate | None = None
        self.nominated = False
        #: controlled agent: a USE-CANDIDATE check arrived before our check succeeded
        #: (RFC 8445 §7.3.1.5)
        self.nominate_on_success = False
        self.triggered = False
        self.transaction: Transaction | None = None
        self.last_response: float | None = None
        #: round-trip time of a check answered on its first transmission (Karn)
        self.rtt: float | None = None
        self.requests_sent = 0
        self.requests_received = 0
        self.responses_received = 0

    def set_role(self, controlling: bool) -> None:
        """RFC 8445 §6.1.2.3: recompute the priority for our role."""
        if controlling:
            self.priority = pair_priority(self.local.priority, self.remote.priority)
        else:
            self.priority = pair_priority(self.remote.priority, self.local.priority)

    @property
    def local_key(self) -> Address:
        """The socket (host) or relayed address the pair's packets leave from."""
        return self.local.address

    def __repr__(self) -> str:
        return (
            f"<CandidatePair {self.local.type.value} {self.local.address} -> "
            f"{self.remote.type.value} {self.remote.address} {self.state.value}>"
        )


class Generation:
    """The checklist and remote state of one set of credentials (RFC 8445 §9)."""

    def __init__(self, local_ufrag: str, local_pwd: str, local_key: bytes) -> None:
        self.local_ufrag = local_ufrag
        self.local_pwd = local_pwd
        self.local_key = local_key
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self.remote_key: bytes | None = None
        self.remote_lite = False
        self.remote_candidates: dict[Address, IceCandidate] = {}
        self.remote_ended = False
        self.pairs: list[CandidatePair] = []
        self.pair_by_key: dict[tuple[Address, Address], CandidatePair] = {}
        # a list (an empty deque is 0.74 KiB per connection): each pair is queued at most
        # once (its ``triggered`` flag), so taking the first costs at most the pair count
        self.triggered: list[CandidatePair] = []
        self.selected: CandidatePair | None = None
        #: RFC 8445 §12.1: the valid pair data goes on before a pair is selected
        #: (:attr:`IceConfig.use_valid_pairs`); the selected pair takes over
        self.active: CandidatePair | None = None
        self.nominating: CandidatePair | None = None
        #: when the controlling agent should look again at nominating (patience expiry)
        self.nomination_wake: float | None = None
        self.first_valid_at: float | None = None
        self.checking_since: float | None = None
        self.prflx_count = 0

    # pairs --------------------------------------------------------------------------
    def add_pair(self, pair: CandidatePair) -> CandidatePair | None:
        """Insert ``pair`` in priority order with its initial state (RFC 8445 §6.1.2.6,
        RFC 8838 §10 for pairs added while checks run). Returns the pair pruned to stay
        within :data:`MAX_PAIRS` (possibly ``pair`` itself), or None."""
        foundation = pair.foundation
        busy = (PairState.WAITING, PairState.IN_PROGRESS)
        active = any(p.foundation == foundation and p.state in busy for p in self.pairs)
        pair.state = PairState.FROZEN if active else PairState.WAITING
        pairs = self.pairs
        i = len(pairs)
        while i > 0 and pairs[i - 1].priority < pair.priority:
            i -= 1
        pairs.insert(i, pair)
        self.pair_by_key[(pair.local_key, pair.remote.address)] = pair
        if len(pairs) <= MAX_PAIRS:
            return None
        for victim in reversed(pairs):
            if victim.state in (PairState.FROZEN, PairState.WAITING, PairState.FAILED):
                self.remove_pair(victim)
                return victim
        return None  # pragma: no cover - every pair is in progress or valid

    def remove_pair(self, pair: CandidatePair) -> None:
        self.pairs.remove(pair)
        self.pair_by_key.pop((pair.local_key, pair.remote.address), None)
        if pair.triggered:
            pair.triggered = False
            with contextlib.suppress(ValueError):
                self.triggered.remove(pair)

    def resort(self, controlling: bool) -> None:
        for pair in self.pairs:
            pair.set_role(controlling)
        self.pairs.sort(key=lambda p: -p.priority)

    def enqueue_triggered(self, pair: CandidatePair) -> None:
        """RFC 8445 §7.3.1.4: put ``pair`` (now Waiting) on the triggered-check queue."""
        pair.state = PairState.WAITING
        if not pair.triggered:
            pair.triggered = True
            self.triggered.append(pair)

    def unfreeze_foundation(self, foundation: str) -> None:
        """RFC 8445 §7.2.5.3.3: a success unfreezes the pairs of the same foundation."""
        for pair in self.pairs:
            if pair.state is PairState.FROZEN and pair.foundation == foundation:
                pair.state = PairState.WAITING

    def next_ordinary(self) -> CandidatePair | None:
        """RFC 8445 §6.1.4.2: the highest-priority Waiting pair, else unfreeze the
        highest-priority Frozen one."""
        frozen = None
        for pair in self.pairs:
            if pair.state is PairState.WAITING:
                return pair
            if frozen is None and pair.state is PairState.FROZEN:
                frozen = pair
        return frozen

    def has_pending_work(self) -> bool:
        """Whether a check is still to be sent (triggered, waiting or frozen)."""
        if self.triggered:
            return True
        for pair in self.pairs:  # a loop: no generator per call (every input asks)
            if pair.state is PairState.WAITING or pair.state is PairState.FROZEN:
                return True
        return False

    def checking(self) -> bool:
        """Whether a pair is still Waiting, Frozen or In-Progress."""
        for pair in self.pairs:
            state = pair.state
            if state is PairState.WAITING or state is PairState.FROZEN:
                return True
            if state is PairState.IN_PROGRESS:
                return True
        return False

    def count(self, *states: PairState) -> int:
        return sum(1 for p in self.pairs if p.state in states)

    def best_usable(self) -> CandidatePair | None:
        """The highest-priority pair data may go on before selection (RFC 8445 §12.1):
        a check of ours validated it (§7.2.5.3.2) and it has not failed since (it may be
        Waiting or In-Progress again while re-checked for nomination), and a check of the
        peer's arrived on it: the peer has our credentials, so it has our description
        and is ready for what we send (an answerer is otherwise valid before the offerer
        even has the answer: early checks are answered, RFC 8445 §7.3)."""
        for pair in self.pairs:
            if (
                pair.valid_local is not None
                and pair.requests_received
                and pair.state is not PairState.FAILED
            ):
                return pair
        return None

    def best_valid(self) -> CandidatePair | None:
        for pair in self.pairs:
            if pair.state is PairState.SUCCEEDED:
                return pair
        return None
