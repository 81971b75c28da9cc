"""Connectivity checks (RFC 8445 §6-§9): the checklists, their pacing, answering the
peer's checks, reading the answers to ours, role conflicts, nomination and restarts.

:class:`Checks` owns the credentials generations (:class:`~.checklist.Generation`: the
remote candidates, the pairs, the selected pair of one set of credentials) and our role.
It asks the :class:`~.gathering.Gatherer` which local candidate a socket is, tells the
:class:`~.consent.Consent` clock when a pair is selected or a consent request answered,
and sends through the agent's :class:`~.transactions.Transactions`.
"""

from __future__ import annotations

import random
import string

from ..common.core import Address, random_text
from ..stun import UDP_POLICY, HmacKey, Message, MessageClass, StunParseError, short_term_key
from ..stun import AttributeType as A
from .candidates import CandidateType, IceCandidate
from .checklist import MAX_REMOTE_CANDIDATES, CandidatePair, Generation, PairState
from .config import MAX_PAST_REMOTE_UFRAGS, NOMINATION_MIN_PATIENCE, IceConfig
from .consent import Consent
from .errors import IceError
from .events import RoleChanged, SelectedPairChanged
from .gathering import Gatherer
from .outbox import Outbox
from .relays import Relays
from .transactions import (
    Transaction,
    Transactions,
    binding_request,
    check_policy,
    request_template,
)

__all__ = ["Checks"]

_USERNAME = int(A.USERNAME)
_PRIORITY = int(A.PRIORITY)
_ICE_CONTROLLING = int(A.ICE_CONTROLLING)
_ICE_CONTROLLED = int(A.ICE_CONTROLLED)
_USE_CANDIDATE = int(A.USE_CANDIDATE)
_int = int.from_bytes
_ICE_CHARS = string.ascii_letters + string.digits + "+/"


class Checks:
    """The checklists of the current (and previous) credentials generation, and our role."""

    __slots__ = (
        "_config",
        "_consent",
        "_gatherer",
        "_last_check_at",
        "_out",
        "_relays",
        "_rng",
        "_transactions",
        "before_restart",
        "controlling",
        "generation",
        "next_check_at",
        "past_remote_ufrags",
        "previous",
        "tie_breaker",
    )

    def __init__(
        self,
        config: IceConfig,
        rng: random.Random,
        out: Outbox,
        *,
        transactions: Transactions,
        relays: Relays,
        gatherer: Gatherer,
        consent: Consent,
        generation: Generation,
        tie_breaker: int,
    ) -> None:
        self._config = config
        self._rng = rng
        self._out = out
        self._transactions = transactions
        self._relays = relays
        self._gatherer = gatherer
        self._consent = consent
        self.controlling = bool(config.controlling) and not config.lite
        #: RFC 8445 §7.1.1: the 64-bit tie-breaker for role conflicts.
        self.tie_breaker = tie_breaker
        self.generation = generation
        #: the generation before an ICE restart, while its selected pair carries data
        self.previous: Generation | None = None
        #: the peer's ice-ufrags of earlier generations, newest last (MAX_PAST_REMOTE_UFRAGS)
        self.past_remote_ufrags: list[str] = []
        #: the (generation, previous) an ICE restart replaced: cancel_restart() goes back
        self.before_restart: tuple[Generation, Generation | None] | None = None
        #: RFC 8445 §6.1.4.2: when the next ordinary or triggered check may go out
        self.next_check_at: float | None = None
        self._last_check_at = -1e9

    @staticmethod
    def new_generation(rng: random.Random, ufrag: str | None, pwd: str | None) -> Generation:
        """A credentials generation with the given (or random) local ufrag and password."""
        # RFC 8445 §5.3: ufrag ≥ 24 bits, pwd ≥ 128 bits of randomness (8 × 6 = 48 bits,
        # 24 × 6 = 144 bits; RFC 8839 §5.4 length limits 4..256 and 22..256).
        ufrag = ufrag or random_text(rng, _ICE_CHARS, 8)
        pwd = pwd or random_text(rng, _ICE_CHARS, 24)
        if not 4 <= len(ufrag) <= 256 or not 22 <= len(pwd) <= 256:
            raise IceError("ice-ufrag must be 4-256 and ice-pwd 22-256 characters")
        return Generation(ufrag, pwd, HmacKey(short_term_key(pwd)))

    @property
    def selected_pair(self) -> CandidatePair | None:
        """The pair data goes on: the current generation's selected (nominated) pair, else
        the one kept from before an ICE restart (RFC 8445 §9: media continues on the old
        pair), else the valid pair in use before selection (RFC 8445 §12.1)."""
        gen = self.generation
        if gen.selected is not None:
            return gen.selected
        if self.previous is not None and self.previous.selected is not None:
            return self.previous.selected
        return gen.active

    def generation_of(self, pair: CandidatePair) -> Generation | None:
        """The generation whose selected pair ``pair`` is (current or previous)."""
        if self.generation.selected is pair:
            return self.generation
        return self.previous

    # ---------------------------------------------------------------- signalled state
    def set_remote_credentials(self, ufrag: str, pwd: str, now: float, lite: bool) -> None:
        """The peer's ice-ufrag/ice-pwd for the current generation (a lite peer makes us
        controlling, RFC 8445 §6.1.1)."""
        gen = self.generation
        if gen.remote_ufrag is not None and gen.remote_ufrag != ufrag:
            raise IceError("remote credentials changed without an ICE restart")
        past = self.past_remote_ufrags
        if gen.remote_ufrag is None and ufrag not in past:
            past.append(ufrag)
            del past[:-MAX_PAST_REMOTE_UFRAGS]
        gen.remote_ufrag, gen.remote_pwd = ufrag, pwd
        gen.remote_key = HmacKey(short_term_key(pwd))
        gen.remote_lite = lite
        if lite and not self._config.lite and not self.controlling:
            self.set_role(True)
        if gen.checking_since is None:
            gen.checking_since = now

    def add_remote(self, remote: IceCandidate) -> bool:
        """A signalled remote candidate (RFC 8838 §11), paired with every local one."""
        gen = self.generation
        stats = self._out.stats
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
                stats["remote_duplicate"] += 1
            return False
        if len(gen.remote_candidates) >= MAX_REMOTE_CANDIDATES:
            stats["remote_candidates_full"] += 1
            return False
        gen.remote_candidates[remote.address] = remote
        for local in self._gatherer.pairing_locals():
            self._form_pair(gen, local, remote)
        return True

    def pair_local(self, local: IceCandidate) -> None:
        """A new local candidate: pair it with every remote one (RFC 8838 §10)."""
        if self._config.relay_only and local.type is not CandidateType.RELAY:
            return
        gen = self.generation
        for remote in list(gen.remote_candidates.values()):
            self._form_pair(gen, local, remote)

    def restart(self, ufrag: str | None, pwd: str | None, consent_expired: bool) -> None:
        """ICE restart (RFC 8445 §9): a new generation; the old one keeps its selected
        pair for data until the new one selects, unless consent expired on it."""
        old = self.generation
        if self.before_restart is None or old.remote_ufrag is not None:
            # what cancel_restart() goes back to: the last generation that had (or was
            # waiting for) an answer, not one of back-to-back unanswered restarts
            self.before_restart = (old, self.previous)
        keep = old if old.selected is not None else self.previous
        if consent_expired:
            keep = None  # RFC 7675 §5.1: a pair without consent is not used again
        self._transactions.remove_generation(old, keep=self._consent.tx)
        self.previous = keep
        self.generation = self.new_generation(self._rng, ufrag, pwd)
        self.next_check_at = None

    def cancel_restart(self) -> bool:
        """Go back to the generation before the restarts (JSEP rollback, RFC 9429 §4.1.10.2
        / §5.7). False when there is nothing to undo."""
        undo = self.before_restart
        if undo is None or self.generation.selected is not None:
            return False
        self.before_restart = None
        self._transactions.remove_generation(self.generation)
        self.generation, self.previous = undo
        for gen in undo:
            if gen is None:
                continue
            for pair in gen.pairs:
                # restart() dropped their in-flight checks: check them again
                tx = pair.transaction
                if pair.state is PairState.IN_PROGRESS and (
                    tx is None or tx.transaction_id not in self._transactions
                ):
                    pair.transaction = None
                    pair.state = PairState.WAITING
        self.next_check_at = None
        return True

    def set_role(self, controlling: bool) -> None:
        self.controlling = controlling
        self._out.stats["role_switches"] += 1
        for gen in (self.generation, self.previous):
            if gen is not None:
                gen.resort(controlling)
        self._out.events.push(RoleChanged(controlling))

    # ------------------------------------------------------------ the peer's requests
    def on_request(self, msg: Message, addr: Address, local: Address, now: float) -> None:
        """RFC 8445 §7.3: answer a connectivity check (or consent request)."""
        # RFC 8445 §7.3 / RFC 8489 §9.1.3: checks need FINGERPRINT, a USERNAME whose first
        # part is our ufrag, and MESSAGE-INTEGRITY with our password; otherwise dropped.
        # §7.3 defines a valid USERNAME by its first part only ("two values separated by a
        # colon, where the first value is equal to the username fragment generated by the
        # agent"); the part after the colon names the sender's credentials (§7.3.1.4). A
        # sender part that is one of the peer's EARLIER ufrags is answered and counted; an
        # unknown one is dropped (docs/ice.md).
        stats = self._out.stats
        if not msg.has_fingerprint:
            stats["check_no_fingerprint"] += 1
            return
        # One walk over the attributes (the first of each type counts, as Message.get):
        # every consent request (RFC 7675) of an idle connection comes here.
        username_raw = controlling_raw = controlled_raw = priority_raw = None
        use_candidate = False
        for t, v in msg.attributes:
            if t == _USERNAME:
                if username_raw is None:
                    username_raw = v
            elif t == _PRIORITY:
                if priority_raw is None:
                    priority_raw = v
            elif t == _ICE_CONTROLLING:
                if controlling_raw is None:
                    controlling_raw = v
            elif t == _ICE_CONTROLLED:
                if controlled_raw is None:
                    controlled_raw = v
            elif t == _USE_CANDIDATE:
                use_candidate = True
        if (
            (controlling_raw is not None and len(controlling_raw) != 8)
            or (controlled_raw is not None and len(controlled_raw) != 8)
            or (priority_raw is not None and len(priority_raw) != 4)
        ):
            stats["check_malformed"] += 1
            return
        if username_raw is None:
            stats["check_no_username"] += 1
            return
        try:
            username = username_raw.decode()
        except UnicodeDecodeError:
            stats["check_malformed"] += 1
            return
        remote_controlling = None if controlling_raw is None else _int(controlling_raw, "big")
        remote_controlled = None if controlled_raw is None else _int(controlled_raw, "big")
        priority = None if priority_raw is None else _int(priority_raw, "big")
        local_ufrag, colon, remote_ufrag = username.partition(":")
        gen: Generation | None = None
        if not colon:
            pass  # §7.3: two values separated by a colon
        elif local_ufrag == self.generation.local_ufrag:
            gen = self.generation
        elif self.previous is not None and local_ufrag == self.previous.local_ufrag:
            gen = self.previous
        if gen is None:
            stats["check_wrong_username"] += 1
            return
        if not msg.verify_integrity(gen.local_key):
            stats["check_bad_integrity"] += 1
            return
        if gen.remote_ufrag is not None and remote_ufrag != gen.remote_ufrag:
            past = self.past_remote_ufrags
            if remote_ufrag not in past or gen.remote_ufrag not in past:
                older = False
            else:
                older = past.index(remote_ufrag) < past.index(gen.remote_ufrag)
            if not older:
                # Unknown, or NEWER than this generation's: the peer restarted ICE and sends
                # its new ufrag with our old one. Chromium does that (with USE-CANDIDATE)
                # until our answer reaches it; answering lets it finish its restart on our
                # old credentials while we move to new ones. It checks again with the new.
                stats["check_wrong_remote_ufrag"] += 1
                return
            # The peer's earlier ufrag (werift 0.24.4 keeps it after its own restart): the
            # request is authenticated with our password, so answer it. The triggered check
            # uses the generation's remote credentials (the only password we hold for it).
            stats["check_stale_remote_ufrag"] += 1
        if msg.unknown_required:
            # RFC 8489 §6.3.1.1: 420 listing the unknown comprehension-required types.
            resp = msg.error_response(420)
            resp.add_unknown_attributes(msg.unknown_required)
            self._answer(resp, gen, local, addr, now)
            return
        stats["checks_received"] += 1
        # RFC 8445 §7.3.1.1: role conflict, resolved by the tie-breakers.
        if not self._config.lite:
            if self.controlling and remote_controlling is not None:
                if self.tie_breaker >= remote_controlling:
                    self._send_487(msg, gen, local, addr, now)
                    return
                self.set_role(False)
            elif not self.controlling and remote_controlled is not None:
                if self.tie_breaker >= remote_controlled:
                    self.set_role(True)
                else:
                    self._send_487(msg, gen, local, addr, now)
                    return
        # RFC 8445 §7.3.1.2: success response with XOR-MAPPED-ADDRESS = the source, from
        # the socket the request arrived on, MESSAGE-INTEGRITY with our password.
        resp = msg.success_response()
        resp.add_address(A.XOR_MAPPED_ADDRESS, addr)
        self._answer(resp, gen, local, addr, now)
        if gen is not self.generation:
            return  # the old generation only keeps its selected pair alive
        pair = gen.pair_by_key.get((local, addr))
        if pair is None:
            pair = self._learn_pair(gen, addr, local, priority)
            if pair is None:
                return
        self._checked_by_peer(gen, pair, use_candidate, now)

    def _learn_pair(
        self, gen: Generation, addr: Address, local: Address, priority: int | None
    ) -> CandidatePair | None:
        """The pair a check arrived on that is not in the checklist yet."""
        stats = self._out.stats
        remote = gen.remote_candidates.get(addr)
        if remote is None:
            # RFC 8445 §7.3.1.3: a peer-reflexive remote candidate, priority from PRIORITY.
            if priority is None or not 1 <= priority < 2**31:
                stats["check_no_priority"] += 1
                return None
            if len(gen.remote_candidates) >= MAX_REMOTE_CANDIDATES:
                stats["remote_candidates_full"] += 1
                return None
            gen.prflx_count += 1
            remote = IceCandidate(CandidateType.PRFLX, addr, priority, f"p{gen.prflx_count}")
            gen.remote_candidates[addr] = remote
        local_cand = self._gatherer.sending_candidate(local)
        if local_cand is None:
            stats["check_on_unknown_socket"] += 1
            return None
        return self._form_pair(gen, local_cand, remote)

    def _checked_by_peer(
        self, gen: Generation, pair: CandidatePair, use_candidate: bool, now: float
    ) -> None:
        """RFC 8445 §7.3.1.4-§7.3.1.5: what a check of the peer's does to ``pair``."""
        pair.requests_received += 1
        if self._config.lite:
            # RFC 8445 §7.3.1.5 / §8.2: a lite agent selects the pair USE-CANDIDATE names.
            pair.state = PairState.SUCCEEDED
            pair.valid_local = pair.local
            if use_candidate:
                self._select(gen, pair, now)
            return
        if pair.state is PairState.SUCCEEDED:
            if use_candidate and not self.controlling:
                self._select(gen, pair, now)
            return
        if use_candidate and not self.controlling:
            pair.nominate_on_success = True  # RFC 8445 §7.3.1.5
        # RFC 8445 §7.3.1.4: triggered check. An In-Progress check is cancelled first: no
        # more retransmissions and no failure on its timeout, but a late answer still counts.
        tx = pair.transaction
        if pair.state is PairState.IN_PROGRESS and tx is not None and tx.transmissions > 1:
            # no more sends; the schedule runs out for a late answer (Transaction.timer)
            tx.cancelled = True
            pair.transaction = None
            self._out.stats["checks_cancelled"] += 1
            gen.enqueue_triggered(pair)
        elif pair.state is not PairState.IN_PROGRESS:
            gen.enqueue_triggered(pair)

    def _answer(
        self, resp: Message, gen: Generation, local: Address, addr: Address, now: float
    ) -> None:
        data = resp.encode(gen.local_key, fingerprint=True)
        self._relays.send_from(data, local, addr, now)

    def _send_487(
        self, msg: Message, gen: Generation, local: Address, addr: Address, now: float
    ) -> None:
        """RFC 8445 §7.3.1.1: 487 (Role Conflict)."""
        self._out.stats["role_conflicts_answered"] += 1
        self._answer(msg.error_response(487), gen, local, addr, now)

    # ------------------------------------------------------------ answers to ours
    def on_response(
        self, tx: Transaction, msg: Message, addr: Address, local: Address, now: float
    ) -> None:
        """RFC 8445 §7.2.5: the answer to a check (or consent request) of ours."""
        stats = self._out.stats
        gen = tx.generation
        assert gen is not None and gen.remote_key is not None
        # Responses are authenticated with the peer's password (RFC 8445 §7.2.5.1).
        if not msg.verify_integrity(gen.remote_key):
            stats["response_bad_integrity"] += 1
            return
        # RFC 7675 §5.1: an authenticated success renews consent; its XOR-MAPPED-ADDRESS
        # is not read (parsed when used: a check's, RFC 8445 §7.2.5.3.1).
        error = mapped = None
        try:
            if msg.message_class is MessageClass.ERROR:
                error = msg.get_error()
            elif tx.kind != "consent":
                mapped = msg.get_address(A.XOR_MAPPED_ADDRESS)
        except StunParseError:
            # A malformed attribute: discard the response, keep waiting (RFC 8489 §6.3.3).
            stats["response_malformed"] += 1
            return
        self._transactions.remove(tx)
        pair = tx.pair
        assert pair is not None
        if pair.transaction is tx:
            pair.transaction = None
        self._consent.answered(tx)
        # a failure verdict only from the pair's live check (not a cancelled or older one)
        decisive = tx.kind == "check" and not tx.cancelled and pair.transaction is None
        # RFC 8445 §7.2.5.2.1: the response must come back on the reverse path.
        if addr != tx.remote or local != tx.local:
            stats["response_asymmetric"] += 1
            if decisive:
                self._pair_failed(gen, pair)
            return
        if msg.message_class is MessageClass.ERROR:
            if error is not None and error.code == 487:
                # RFC 8445 §7.2.5.1: switch role (unless already done), retry the pair.
                if tx.controlling == self.controlling:
                    self.set_role(not self.controlling)
                if pair.transaction is None:
                    gen.enqueue_triggered(pair)
                return
            stats["check_error_responses"] += 1
            if decisive:
                self._pair_failed(gen, pair)
            return
        pair.responses_received += 1
        pair.last_response = now
        if tx.kind == "consent":
            self._consent.ok(now)  # RFC 7675 §5.1
            return
        if mapped is None:
            stats["response_no_mapped_address"] += 1
            if decisive:
                self._pair_failed(gen, pair)
            return
        rtt = tx.settle(msg, now)
        if rtt is not None:
            pair.rtt = rtt
        # RFC 8445 §7.2.5.3: the pair succeeds; the valid pair's local candidate is the one
        # the mapped address names (§7.2.5.3.1), unfreezing its foundation (§7.2.5.3.3).
        pair.state = PairState.SUCCEEDED
        pair.valid_local = self._gatherer.mapped_candidate(pair.local, mapped, tx.priority)
        gen.unfreeze_foundation(pair.foundation)
        if gen.first_valid_at is None:
            gen.first_valid_at = now
        if gen is self.previous:
            return
        if self.controlling and tx.use_candidate:
            gen.nominating = None
            self._select(gen, pair, now)
        elif not self.controlling and pair.nominate_on_success:
            self._select(gen, pair, now)

    def on_timeout(self, tx: Transaction) -> None:
        """A check got no answer within its schedule (the RTO of RFC 8445 §14.3): the pair
        fails (§7.2.5.2), unless the check was cancelled or superseded."""
        gen = tx.generation
        pair = tx.pair
        assert gen is not None and pair is not None
        if tx.cancelled or pair.transaction is not tx:
            return  # RFC 8445 §7.3.1.4: a cancelled (or superseded) check is no verdict
        pair.transaction = None
        if pair.state is PairState.SUCCEEDED and not tx.use_candidate:
            return  # an earlier check of this pair already succeeded
        self._out.stats["check_timeouts"] += 1
        self._pair_failed(gen, pair)

    def _pair_failed(self, gen: Generation, pair: CandidatePair) -> None:
        pair.transaction = None
        pair.state = PairState.FAILED
        if gen.nominating is pair:
            gen.nominating = None
        if gen.selected is pair:
            self._out.stats["selected_pair_failed"] += 1

    # ------------------------------------------------------------ pacing, nomination
    def schedule(self, now: float) -> None:
        """After every change: when the next check may go, whether to nominate, which
        valid pair carries data before selection."""
        config = self._config
        gen = self.generation
        if config.lite or gen.remote_key is None:
            self._use_valid_pair(gen)
            return
        if self.next_check_at is None and gen.has_pending_work():
            self.next_check_at = max(now, self._last_check_at + config.ta)
        if self.controlling and (gen.selected is None or gen.nominating is not None):
            self._maybe_nominate(gen, now)  # (nothing to do once selected)
            if self.next_check_at is None and gen.triggered:
                self.next_check_at = max(now, self._last_check_at + config.ta)
        if gen.selected is None:
            self._use_valid_pair(gen)

    def run(self, now: float) -> None:
        """RFC 8445 §6.1.4.2: one check per Ta, triggered ones first."""
        gen = self.generation
        if self._config.lite or gen.remote_key is None:
            return
        if self.controlling and (gen.selected is None or gen.nominating is not None):
            self._maybe_nominate(gen, now)  # (nothing to do once selected)
        if self.next_check_at is None or now < self.next_check_at:
            return
        pair = None
        while gen.triggered:
            candidate = gen.triggered.pop(0)
            candidate.triggered = False
            sendable = candidate.state is PairState.WAITING or (
                candidate is gen.nominating and candidate.state is PairState.SUCCEEDED
            )
            if sendable and candidate in gen.pairs:
                pair = candidate
                break
        if pair is None:
            pair = gen.next_ordinary()
        if pair is None:
            self.next_check_at = None
            return
        use_candidate = gen.nominating is pair and self.controlling
        self._send_check(gen, pair, now, use_candidate=use_candidate)
        self._last_check_at = now
        self.next_check_at = now + self._config.ta

    def deadline(self, now: float) -> float | None:
        """The next time :meth:`run` has something to do: a paced check, or a nomination
        to reconsider (RFC 8445 §8.1.1)."""
        gen = self.generation
        deadline = self.next_check_at
        if (
            self.controlling
            and gen.selected is None
            and gen.nominating is None
            and gen.first_valid_at is not None
        ):
            for t in (gen.first_valid_at + self._config.nomination_delay, gen.nomination_wake):
                if t is not None and (deadline is None or t < deadline):
                    deadline = t
        return deadline

    def _send_check(
        self, gen: Generation, pair: CandidatePair, now: float, *, use_candidate: bool
    ) -> None:
        config = self._config
        tid = self._rng.randbytes(12)
        # RFC 8445 §14.3: RTO = max(500 ms, Ta × (Waiting + In-Progress pairs)).
        busy = gen.count(PairState.WAITING, PairState.IN_PROGRESS)
        policy = check_policy(config.ta, busy, config.check_max_transmissions)
        template = request_template(
            gen,
            pair,
            controlling=self.controlling,
            tie_breaker=self.tie_breaker,
            use_candidate=use_candidate,
        )
        tx = binding_request("check", template, tid, policy)
        if pair.transaction is not None and not pair.transaction.cancelled:
            self._transactions.remove(pair.transaction)
        pair.transaction = tx
        pair.state = PairState.IN_PROGRESS
        pair.requests_sent += 1
        self._out.stats["checks_sent"] += 1
        self._transactions.start(tx, now)

    def _maybe_nominate(self, gen: Generation, now: float) -> None:
        """RFC 8445 §8.1.1 regular nomination: once checks have found the best valid pair
        we are going to get (or waited long enough), re-check it with USE-CANDIDATE."""
        nominating = gen.nominating
        if nominating is not None and (
            nominating not in gen.pairs
            or (not nominating.triggered and nominating.state is not PairState.IN_PROGRESS)
        ):
            gen.nominating = None  # its check can no longer happen: choose again
        if gen.selected is not None or gen.nominating is not None:
            return
        gen.nomination_wake = None
        best = gen.best_valid()
        if best is None or gen.first_valid_at is None:
            return
        config = self._config
        deadline = gen.first_valid_at + config.nomination_delay
        if now < deadline:
            # Wait for a better pair while it may still answer: not yet checked, or checked
            # less than NOMINATION_PATIENCE round trips (of the best valid pair) ago.
            patience = max(
                NOMINATION_MIN_PATIENCE,
                config.nomination_patience * (best.rtt if best.rtt is not None else UDP_POLICY.rto),
            )
            wake: float | None = None
            for p in gen.pairs:
                if p.priority <= best.priority:
                    break  # pairs are sorted, highest priority first
                if p.state in (PairState.WAITING, PairState.FROZEN):
                    wake = deadline
                    break
                if p.state is PairState.IN_PROGRESS:
                    started = p.transaction.first_sent if p.transaction is not None else now
                    if now < started + patience:
                        wake = min(wake or deadline, started + patience)
            if wake is not None:
                gen.nomination_wake = wake
                return
        gen.nominating = best
        gen.enqueue_triggered(best)
        self._out.stats["nominations"] += 1

    def _select(self, gen: Generation, pair: CandidatePair, now: float) -> None:
        """The pair is nominated: data goes on it (RFC 8445 §8.1.1, §8.1.2)."""
        pair.nominated = True
        changed = gen.selected is not pair
        gen.selected = pair
        if gen is self.generation and self.previous is not None:
            self._drop_previous()
        if not changed:
            return
        self._out.stats["selections"] += 1
        reported = gen.active is pair  # already announced as the §12.1 valid pair in use
        gen.active = None
        # RFC 8445 §8.1.2: Waiting and Frozen pairs are removed once nominated.
        for other in list(gen.pairs):
            if other.state in (PairState.WAITING, PairState.FROZEN):
                gen.remove_pair(other)
        if not reported:
            self._out.events.push(SelectedPairChanged(pair.valid_local or pair.local, pair.remote))
        self._consent.start(now)  # RFC 7675 §5.1: consent starts with selection

    def _drop_previous(self) -> None:
        prev = self.previous
        self.previous = None
        if prev is None:
            return
        self._transactions.remove_generation(prev)
        self._consent.forget(prev)

    def _use_valid_pair(self, gen: Generation) -> None:
        """RFC 8445 §12.1: before selection, data may go on any valid pair. Keep the one in
        use while it has not failed, else take the best valid pair and report it."""
        config = self._config
        if gen.selected is not None or config.lite or not config.use_valid_pairs:
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
            self._out.stats["valid_pairs_used"] += 1
            self._out.events.push(SelectedPairChanged(best.valid_local or best.local, best.remote))

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
            self._out.stats["pairs_pruned"] += 1
            return None if pruned is pair else pair
        return pair
