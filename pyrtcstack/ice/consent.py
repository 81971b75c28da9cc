"""Consent freshness (RFC 7675 §5.1) and the keepalives of a lite agent (RFC 8445 §11).

Once a pair is selected, the agent asks the peer every ~5 s (randomised to [0.8, 1.2] of
the interval) with a Binding request built like a connectivity check; an authenticated
answer renews consent. No answer for ``consent_miss_after`` (2.5 s) makes the connection
"disconnected"; none for ``consent_timeout`` (30 s) ends consent for good: the agent stops
sending (RFC 7675 §5.1) and the connection is "failed".

:class:`Consent` keeps that clock. The agent calls :meth:`Consent.start` when a pair is
selected, :meth:`Consent.run` from its timer, and :meth:`Consent.answered` /
:meth:`Consent.on_timeout` when the request it sent is settled.
"""

from __future__ import annotations

import random

from ..stun import Message, MessageClass, Method
from .checklist import CandidatePair, Generation
from .config import IceConfig
from .outbox import Outbox
from .relays import Relays
from .transactions import (
    RequestTemplate,
    Transaction,
    Transactions,
    binding_request,
    consent_policy,
    request_template,
)

__all__ = ["Consent"]


class Consent:
    """The consent clock of the selected pair (RFC 7675 §5.1; RFC 8445 §11 when lite)."""

    __slots__ = (
        "_config",
        "_out",
        "_relays",
        "_rng",
        "_template",
        "_transactions",
        "failed",
        "keepalive_at",
        "last_ok",
        "lost",
        "next_at",
        "tx",
    )

    def __init__(
        self,
        config: IceConfig,
        rng: random.Random,
        out: Outbox,
        *,
        transactions: Transactions,
        relays: Relays,
    ) -> None:
        self._config = config
        self._rng = rng
        self._out = out
        self._transactions = transactions
        self._relays = relays
        #: the attributes of the consent request of the selected pair, made once
        self._template: RequestTemplate | None = None
        #: the last authenticated answer (or the selection), None before any selection
        self.last_ok: float | None = None
        #: when the next consent request goes out
        self.next_at: float | None = None
        #: the consent request in flight
        self.tx: Transaction | None = None
        #: unanswered for ``consent_miss_after``: the W3C state is "disconnected"
        self.lost = False
        #: expired (RFC 7675 §5.1: 30 s): nothing is sent on the pair any more
        self.failed = False
        #: lite agent (RFC 8445 §11): when the next Binding indication goes out
        self.keepalive_at: float | None = None

    def start(self, now: float) -> None:
        """A pair was selected (RFC 8445 §8.1.2): consent starts fresh."""
        self.ok(now)
        self.failed = False
        if not self._config.lite:
            self.next_at = now + self._delay()
        else:
            self.keepalive_at = now + self._config.keepalive_interval

    def ok(self, now: float) -> None:
        """An authenticated answer arrived (RFC 7675 §5.1): consent is renewed."""
        self.last_ok = now
        self.lost = False

    def answered(self, tx: Transaction) -> None:
        """``tx`` got an answer (accepted or not): it is no longer in flight."""
        if tx is self.tx:
            self.tx = None

    def on_timeout(self, tx: Transaction) -> None:
        if tx is self.tx:
            self.tx = None
            self._missed()
        # expiry (RFC 7675 §5.1: 30 s) is time-based, see run()

    def forget(self, generation: Generation) -> None:
        """The generation ``generation`` is gone (its requests were dropped)."""
        if self.tx is not None and self.tx.generation is generation:
            self.tx = None

    def restart(self) -> bool:
        """ICE restart (RFC 8445 §9). Returns whether consent had expired: then the old
        pair is not used again (RFC 7675 §5.1) and consent starts over with a new one."""
        failed = self.failed
        if failed:
            self.tx = None
        self.failed = False
        return failed

    def run(
        self,
        now: float,
        pair: CandidatePair,
        gen: Generation | None,
        controlling: bool,
        tie_breaker: int,
    ) -> None:
        """Act on the clock for the selected, nominated ``pair`` of generation ``gen``."""
        config = self._config
        if config.lite:
            # RFC 8445 §11: a lite agent keeps the path alive with Binding indications.
            if self.keepalive_at is not None and now >= self.keepalive_at:
                msg = Message(Method.BINDING, MessageClass.INDICATION, self._rng.randbytes(12))
                data = msg.encode(fingerprint=True)
                self._relays.send_from(data, pair.local_key, pair.remote.address, now)
                self.keepalive_at = now + config.keepalive_interval
            return
        last = self.last_ok
        if self.failed or last is None:
            return
        # RFC 7675 §5.1: no authenticated response for 30 s: consent is gone for good.
        if now >= last + config.consent_timeout:
            self.failed = True
            self.next_at = None
            self.tx = None
            self._out.stats["consent_expired"] += 1
            return
        tx = self.tx
        if tx is not None and now >= tx.first_sent + config.consent_miss_after:
            self._missed()
        if self.next_at is None or now < self.next_at:
            return
        self.next_at = now + self._delay()
        if gen is None or gen.remote_key is None:
            return
        # RFC 7675 §5.1: a Binding request as a connectivity check is built (RFC 8445
        # §7.2.2), without USE-CANDIDATE.
        if tx is not None:
            self._transactions.remove(tx)
        template = self._template
        if (
            template is None
            or template.pair is not pair
            or template.generation is not gen
            or template.controlling != controlling
        ):
            template = self._template = request_template(
                gen, pair, controlling=controlling, tie_breaker=tie_breaker
            )
        tid = self._rng.randbytes(12)  # RFC 7675 §5.1: a new transaction for each check
        tx = binding_request("consent", template, tid, consent_policy(config.consent_miss_after))
        self.tx = tx
        self._out.stats["consent_requests_sent"] += 1
        self._transactions.start(tx, now)

    def deadline(self) -> float | None:
        """The next time :meth:`run` has something to do (the selected pair nominated)."""
        config = self._config
        deadline = self.next_at
        if self.last_ok is not None and not self.failed and not config.lite:
            t = self.last_ok + config.consent_timeout
            if deadline is None or t < deadline:
                deadline = t
        tx = self.tx
        if tx is not None and not self.lost:
            t = tx.first_sent + config.consent_miss_after
            if deadline is None or t < deadline:
                deadline = t
        t2 = self.keepalive_at
        if t2 is not None and (deadline is None or t2 < deadline):
            deadline = t2
        return deadline

    def _delay(self) -> float:
        # RFC 7675 §5.1: randomised to [0.8, 1.2] of the interval.
        return self._config.consent_interval * (0.8 + 0.4 * self._rng.random())

    def _missed(self) -> None:
        """A consent request went unanswered for ``consent_miss_after``: "disconnected"."""
        if not self.lost:
            self.lost = True
            self._out.stats["consent_missed"] += 1
