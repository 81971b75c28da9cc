"""Connectivity checks (RFC 8445 §6-§8): pacing, responses, role conflicts, nomination."""

from __future__ import annotations

from ..common.core import Address
from ..stun import AttributeType as A
from ..stun import Message, MessageClass, StunParseError
from ..stun.transaction import UDP_POLICY, ClientTransaction
from .base import NOMINATION_MIN_PATIENCE, AgentBase
from .candidates import (
    CandidateType,
    IceCandidate,
)
from .checklist import MAX_REMOTE_CANDIDATES, CandidatePair, Generation, PairState
from .events import (
    CandidateError,
    SelectedPairChanged,
)
from .transactions import Transaction, check_policy

__all__ = ["ChecksMixin"]


class ChecksMixin(AgentBase):
    """Connectivity checks (RFC 8445 §6-§8): pacing, responses, role conflicts, nomination."""

    def _on_request(self, msg: Message, addr: Address, local: Address, now: float) -> None:
        """RFC 8445 §7.3: answer a connectivity check (or consent request)."""
        # RFC 8445 §7.3 / RFC 8489 §9.1.3: checks need FINGERPRINT, a USERNAME whose first
        # part is our ufrag, and MESSAGE-INTEGRITY with our password; otherwise dropped.
        if not msg.has_fingerprint:
            self.stats["check_no_fingerprint"] += 1
            return
        try:
            username = msg.get_text(A.USERNAME)
            remote_controlling = msg.get_uint64(A.ICE_CONTROLLING)
            remote_controlled = msg.get_uint64(A.ICE_CONTROLLED)
            priority = msg.get_uint32(A.PRIORITY)
        except (StunParseError, ValueError):
            self.stats["check_malformed"] += 1
            return
        if username is None:
            self.stats["check_no_username"] += 1
            return
        local_ufrag, _, remote_ufrag = username.partition(":")
        gen: Generation | None = None
        if local_ufrag == self.generation.local_ufrag:
            gen = self.generation
        elif self.previous is not None and local_ufrag == self.previous.local_ufrag:
            gen = self.previous
        if gen is None:
            self.stats["check_wrong_username"] += 1
            return
        if not msg.verify_integrity(gen.local_key):
            self.stats["check_bad_integrity"] += 1
            return
        if gen.remote_ufrag is not None and remote_ufrag != gen.remote_ufrag:
            self.stats["check_wrong_remote_ufrag"] += 1
            return
        if msg.unknown_required:
            # RFC 8489 §6.3.1.1: 420 listing the unknown comprehension-required types.
            resp = msg.error_response(420)
            resp.add_unknown_attributes(msg.unknown_required)
            self._send_from(resp.encode(gen.local_key, fingerprint=True), local, addr, now)
            return
        self.stats["checks_received"] += 1
        # RFC 8445 §7.3.1.1: role conflict, resolved by the tie-breakers.
        if not self.config.lite:
            if self.controlling and remote_controlling is not None:
                if self.tie_breaker >= remote_controlling:
                    self._send_487(msg, gen, local, addr, now)
                    return
                self._set_role(False)
            elif not self.controlling and remote_controlled is not None:
                if self.tie_breaker >= remote_controlled:
                    self._set_role(True)
                else:
                    self._send_487(msg, gen, local, addr, now)
                    return
        # RFC 8445 §7.3.1.2: success response with XOR-MAPPED-ADDRESS = the source, from
        # the socket the request arrived on, MESSAGE-INTEGRITY with our password.
        resp = msg.success_response()
        resp.add_address(A.XOR_MAPPED_ADDRESS, addr)
        self._send_from(resp.encode(gen.local_key, fingerprint=True), local, addr, now)
        use_candidate = A.USE_CANDIDATE in msg
        if gen is not self.generation:
            return  # the old generation only keeps its selected pair alive
        remote = gen.remote_candidates.get(addr)
        if remote is None:
            # RFC 8445 §7.3.1.3: a peer-reflexive remote candidate, priority from PRIORITY.
            if priority is None or not 1 <= priority < 2**31:
                self.stats["check_no_priority"] += 1
                return
            if len(gen.remote_candidates) >= MAX_REMOTE_CANDIDATES:
                self.stats["remote_candidates_full"] += 1
                return
            gen.prflx_count += 1
            remote = IceCandidate(CandidateType.PRFLX, addr, priority, f"p{gen.prflx_count}")
            gen.remote_candidates[addr] = remote
        local_cand = self._local_for_key(local)
        if local_cand is None:
            self.stats["check_on_unknown_socket"] += 1
            return
        pair = gen.pair_by_key.get((local, addr))
        if pair is None:
            pair = self._form_pair(gen, local_cand, remote)
            if pair is None:
                return
        pair.requests_received += 1
        if self.config.lite:
            # RFC 8445 §7.3.1.5 / §8.2: a lite agent selects the pair USE-CANDIDATE names.
            pair.state = PairState.SUCCEEDED
            pair.valid_local = local_cand
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
            self.stats["checks_cancelled"] += 1
            gen.enqueue_triggered(pair)
        elif pair.state is not PairState.IN_PROGRESS:
            gen.enqueue_triggered(pair)

    def _send_487(
        self, msg: Message, gen: Generation, local: Address, addr: Address, now: float
    ) -> None:
        """RFC 8445 §7.3.1.1: 487 (Role Conflict)."""
        self.stats["role_conflicts_answered"] += 1
        resp = msg.error_response(487)
        self._send_from(resp.encode(gen.local_key, fingerprint=True), local, addr, now)

    def _on_response(self, msg: Message, addr: Address, local: Address, now: float) -> None:
        tx = self._transactions.get(msg.transaction_id)
        if tx is None:
            self.stats["stray_responses"] += 1
            return
        if tx.kind == "gather":
            self._on_gather_response(tx, msg, addr, local, now)
            return
        gen = tx.generation
        assert gen is not None and gen.remote_key is not None
        # Responses are authenticated with the peer's password (RFC 8445 §7.2.5.1).
        if not msg.verify_integrity(gen.remote_key):
            self.stats["response_bad_integrity"] += 1
            return
        try:
            error = msg.get_error() if msg.message_class is MessageClass.ERROR else None
            mapped = msg.get_address(A.XOR_MAPPED_ADDRESS)
        except StunParseError:
            # A malformed attribute: discard the response, keep waiting (RFC 8489 §6.3.3).
            self.stats["response_malformed"] += 1
            return
        del self._transactions[tx.transaction_id]
        pair = tx.pair
        assert pair is not None
        if pair.transaction is tx:
            pair.transaction = None
        if tx is self._consent_tx:
            self._consent_tx = None
        # a failure verdict only from the pair's live check (not a cancelled or older one)
        decisive = tx.kind == "check" and not tx.cancelled and pair.transaction is None
        # RFC 8445 §7.2.5.2.1: the response must come back on the reverse path.
        if addr != tx.remote or local != tx.local:
            self.stats["response_asymmetric"] += 1
            if decisive:
                self._pair_failed(gen, pair, now)
            return
        if msg.message_class is MessageClass.ERROR:
            if error is not None and error.code == 487:
                # RFC 8445 §7.2.5.1: switch role (unless already done), retry the pair.
                if tx.controlling == self.controlling:
                    self._set_role(not self.controlling)
                if pair.transaction is None:
                    gen.enqueue_triggered(pair)
                return
            self.stats["check_error_responses"] += 1
            if decisive:
                self._pair_failed(gen, pair, now)
            return
        pair.responses_received += 1
        pair.last_response = now
        if tx.kind == "consent":
            self._consent_ok(now)
            return
        if mapped is None:
            self.stats["response_no_mapped_address"] += 1
            if decisive:
                self._pair_failed(gen, pair, now)
            return
        rtt = tx.settle(msg, now)
        if rtt is not None:
            pair.rtt = rtt
        pair.state = PairState.SUCCEEDED
        pair.valid_local = self._valid_local(pair, mapped, tx.priority)
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

    def _valid_local(self, pair: CandidatePair, mapped: Address, priority: int) -> IceCandidate:
        """RFC 8445 §7.2.5.3.1: the local candidate the mapped address names, or a new
        local peer-reflexive candidate (not signalled)."""
        if pair.local.type is CandidateType.RELAY:
            return pair.local
        for cand in self.local_candidates:
            if cand.address == mapped and cand.base == pair.local.address:
                return cand
        cand = IceCandidate(
            CandidateType.PRFLX,
            mapped,
            priority,
            self._foundation("prflx", pair.local.address[0], "", "udp"),
            base=pair.local.address,
            related=pair.local.address,
        )
        self.local_candidates.append(cand)
        return cand

    def _on_timeout(self, tx: Transaction, now: float) -> None:
        if tx.kind == "gather":
            self._gather_pending -= 1
            self._events.append(CandidateError(tx.remote, 701, "STUN server did not answer"))
            self._maybe_gathering_complete()
            return
        if tx.kind == "consent":
            if tx is self._consent_tx:
                self._consent_tx = None
                self._consent_missed()
            return  # expiry (RFC 7675: 30 s) is time-based
        gen = tx.generation
        pair = tx.pair
        assert gen is not None and pair is not None
        if tx.cancelled or pair.transaction is not tx:
            return  # RFC 8445 §7.3.1.4: a cancelled (or superseded) check is no verdict
        pair.transaction = None
        if pair.state is PairState.SUCCEEDED and not tx.use_candidate:
            return  # an earlier check of this pair already succeeded
        self.stats["check_timeouts"] += 1
        self._pair_failed(gen, pair, now)

    def _pair_failed(self, gen: Generation, pair: CandidatePair, now: float) -> None:
        pair.transaction = None
        pair.state = PairState.FAILED
        if gen.nominating is pair:
            gen.nominating = None
        if gen.selected is pair and pair is not None:
            self.stats["selected_pair_failed"] += 1

    def _run_checks(self, now: float) -> None:
        """RFC 8445 §6.1.4.2: one check per Ta, triggered ones first."""
        gen = self.generation
        if self.config.lite or gen.remote_key is None:
            return
        if self.controlling:
            self._maybe_nominate(gen, now)
        if self._next_check_at is None or now < self._next_check_at:
            return
        pair = None
        while gen.triggered:
            candidate = gen.triggered.popleft()
            candidate.triggered = False
            sendable = candidate.state is PairState.WAITING or (
                candidate is gen.nominating and candidate.state is PairState.SUCCEEDED
            )
            if sendable and candidate in gen.pairs:
                pair = candidate
                break
        use_candidate = False
        if pair is None:
            pair = gen.next_ordinary()
        if pair is not None and gen.nominating is pair and self.controlling:
            use_candidate = True
        if pair is None:
            self._next_check_at = None
            return
        self._send_check(gen, pair, now, use_candidate=use_candidate)
        self._last_check_at = now
        self._next_check_at = now + self.config.ta

    def _send_check(
        self, gen: Generation, pair: CandidatePair, now: float, *, use_candidate: bool
    ) -> None:
        msg, priority = self._check_message(gen, pair, use_candidate=use_candidate)
        # RFC 8445 §14.3: RTO = max(500 ms, Ta × (Waiting + In-Progress pairs)).
        busy = gen.count(PairState.WAITING, PairState.IN_PROGRESS)
        policy = check_policy(self.config.ta, busy, self.config.check_max_transmissions)
        client = ClientTransaction(
            msg, pair.remote.address, key=gen.remote_key, fingerprint=True, policy=policy
        )
        tx = Transaction(
            "check",
            client,
            pair.local_key,
            pair=pair,
            generation=gen,
            use_candidate=use_candidate,
            controlling=self.controlling,
            priority=priority,
        )
        if pair.transaction is not None and not pair.transaction.cancelled:
            self._transactions.pop(pair.transaction.transaction_id, None)
        pair.transaction = tx
        pair.state = PairState.IN_PROGRESS
        pair.requests_sent += 1
        self.stats["checks_sent"] += 1
        self._start_transaction(tx, now)

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
        deadline = gen.first_valid_at + self.config.nomination_delay
        if now < deadline:
            # Wait for a better pair while it may still answer: not yet checked, or checked
            # less than NOMINATION_PATIENCE round trips (of the best valid pair) ago.
            patience = max(
                NOMINATION_MIN_PATIENCE,
                self.config.nomination_patience
                * (best.rtt if best.rtt is not None else UDP_POLICY.rto),
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
        self.stats["nominations"] += 1

    def _select(self, gen: Generation, pair: CandidatePair, now: float) -> None:
        """The pair is nominated: data goes on it (RFC 8445 §8.1.1, §8.1.2)."""
        pair.nominated = True
        changed = gen.selected is not pair
        gen.selected = pair
        if gen is self.generation and self.previous is not None:
            self._drop_previous()
        if not changed:
            return
        self.stats["selections"] += 1
        reported = gen.active is pair  # already announced as the §12.1 valid pair in use
        gen.active = None
        # RFC 8445 §8.1.2: Waiting and Frozen pairs are removed once nominated.
        for other in list(gen.pairs):
            if other.state in (PairState.WAITING, PairState.FROZEN):
                gen.remove_pair(other)
        valid = pair.valid_local or pair.local
        if not reported:
            self._events.append(SelectedPairChanged(valid, pair.remote))
        self._consent_ok(now)
        self._consent_failed = False
        if not self.config.lite:
            self._consent_next = now + self._consent_delay()
        else:
            self._keepalive_at = now + self.config.keepalive_interval

    def _drop_previous(self) -> None:
        prev = self.previous
        self.previous = None
        if prev is None:
            return
        for tid, tx in list(self._transactions.items()):
            if tx.generation is prev:
                del self._transactions[tid]
        if self._consent_tx is not None and self._consent_tx.generation is prev:
            self._consent_tx = None
