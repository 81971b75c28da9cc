"""Consent freshness (RFC 7675 §5.1) and lite keepalives (RFC 8445 §11)."""

from __future__ import annotations

from ..stun import Message, MessageClass, Method
from ..stun.transaction import ClientTransaction
from .base import AgentBase
from .transactions import Transaction, consent_policy

__all__ = ["ConsentMixin"]


class ConsentMixin(AgentBase):
    """Consent freshness (RFC 7675 §5.1) and lite keepalives (RFC 8445 §11)."""

    __slots__ = ()

    def _run_consent(self, now: float) -> None:
        pair = self.selected_pair
        if pair is None or not pair.nominated:
            return  # RFC 7675 consent starts with selection (not on a §12.1 valid pair)
        config = self.config
        if config.lite:
            # RFC 8445 §11: a lite agent keeps the path alive with Binding indications.
            if self._keepalive_at is not None and now >= self._keepalive_at:
                msg = Message(Method.BINDING, MessageClass.INDICATION, self._rng.randbytes(12))
                self._send_from(
                    msg.encode(fingerprint=True), pair.local_key, pair.remote.address, now
                )
                self._keepalive_at = now + config.keepalive_interval
            return
        last = self._consent_last_ok
        if self._consent_failed or last is None:
            return
        # RFC 7675 §5.1: no authenticated response for 30 s: consent is gone for good.
        if now >= last + config.consent_timeout:
            self._consent_failed = True
            self._consent_next = None
            self._consent_tx = None
            self.stats["consent_expired"] += 1
            return
        tx = self._consent_tx
        if tx is not None and now >= tx.first_sent + config.consent_miss_after:
            self._consent_missed()
        if self._consent_next is not None and now >= self._consent_next:
            self._consent_next = now + self._consent_delay()
            gen = self.generation if self.generation.selected is pair else self.previous
            if gen is None or gen.remote_key is None:
                return
            msg, priority = self._check_message(gen, pair, use_candidate=False)
            if tx is not None:
                self._transactions.pop(tx.transaction_id, None)
            client = ClientTransaction(
                msg,
                pair.remote.address,
                key=gen.remote_key,
                fingerprint=True,
                policy=consent_policy(config.consent_miss_after),
            )
            tx = Transaction(
                "consent",
                client,
                pair.local_key,
                pair=pair,
                generation=gen,
                controlling=self.controlling,
                priority=priority,
            )
            self._consent_tx = tx
            self.stats["consent_requests_sent"] += 1
            self._start_transaction(tx, now)
