"""Graceful shutdown (RFC 9260 §9.2): SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE.

A :class:`Shutdown` belongs to an association and keeps timer T2. A side that shuts down
first waits until all its data is acknowledged, then sends SHUTDOWN (carrying its
cumulative TSN) under T2; the peer answers SHUTDOWN ACK once its own data is acknowledged;
SHUTDOWN COMPLETE ends it. Both sides shutting down at once answer each other's SHUTDOWN
with SHUTDOWN ACK. The association's state moves by what these methods return.
"""

from __future__ import annotations

from .chunks import ShutdownAckChunk, ShutdownChunk
from .config import SctpConfig
from .outbox import Outbox
from .sender import Sender
from .state import State

__all__ = ["Shutdown"]

_NO_GAPS: tuple[tuple[int, int], ...] = ()


class Shutdown:
    """The shutdown sequence of one association (see the module docstring)."""

    __slots__ = ("_config", "_out", "_sender", "_t2_count", "t2")

    def __init__(self, config: SctpConfig, sender: Sender, out: Outbox) -> None:
        self._config = config
        self._sender = sender
        self._out = out
        #: Timer T2's deadline (§9.2), or None.
        self.t2: float | None = None
        self._t2_count = 0

    def on_shutdown(self, chunk: ShutdownChunk, state: State, cum_tsn: int, now: float) -> State:
        """The peer's SHUTDOWN (§9.2); returns the association's new state."""
        if state not in (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_SENT):
            return state
        # The SHUTDOWN carries a cumulative ack (§9.2); apply it like a SACK without gaps.
        sender = self._sender
        sender.on_sack(chunk.cumulative_tsn, sender.peer_rwnd, _NO_GAPS, now)
        if state is State.SHUTDOWN_SENT:
            # Both sides shut down at once (§9.2): answer with SHUTDOWN ACK.
            self.send(State.SHUTDOWN_ACK_SENT, cum_tsn, now)
            return State.SHUTDOWN_ACK_SENT
        return self.progress(State.SHUTDOWN_RECEIVED, cum_tsn, now)

    def ready(self, state: State) -> bool:
        """Whether :meth:`progress` would move on now (all our data acknowledged)."""
        return (
            (state is State.SHUTDOWN_PENDING or state is State.SHUTDOWN_RECEIVED)
            and self.t2 is None
            and self._sender.idle()
        )

    def progress(self, state: State, cum_tsn: int, now: float) -> State:
        """§9.2: once all our data is acknowledged, SHUTDOWN (we began) or SHUTDOWN ACK
        (the peer began); returns the association's new state."""
        if not self.ready(state):
            return state
        state = State.SHUTDOWN_SENT if state is State.SHUTDOWN_PENDING else State.SHUTDOWN_ACK_SENT
        self._t2_count = 0
        self.send(state, cum_tsn, now)
        return state

    def send(self, state: State, cum_tsn: int, now: float) -> None:
        """SHUTDOWN (with our cumulative TSN) or SHUTDOWN ACK, and start T2."""
        if state is State.SHUTDOWN_SENT:
            chunk = ShutdownChunk(cum_tsn).encode()
        elif state is State.SHUTDOWN_ACK_SENT:
            chunk = ShutdownAckChunk().encode()
        else:
            return
        self._out.send_alone(chunk)
        self.t2 = now + self._sender.rto

    def on_timer(self, now: float, state: State, cum_tsn: int) -> str | None:
        """T2 expired: send again with a doubled RTO; returns the reason to close after
        Association.Max.Retrans (§9.2)."""
        if self.t2 is None or now < self.t2:
            return None
        self._t2_count += 1
        limit = self._config.max_retransmissions
        if limit is not None and self._t2_count > limit:
            return "shutdown timed out (Association.Max.Retrans)"
        sender = self._sender
        sender.rto = min(sender.rto * 2, self._config.rto_max)
        self.send(state, cum_tsn, now)
        return None

    def stop(self) -> None:
        self.t2 = None
