"""Graceful shutdown (RFC 9260 §9.2): SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE.

Functions of :class:`~pyrtcstack.sctp.association.Association`, kept apart by concept. A
side that shuts down first waits until all its data is acknowledged, then sends SHUTDOWN
(carrying its cumulative TSN) under timer T2; the peer answers SHUTDOWN ACK once its own
data is acknowledged; SHUTDOWN COMPLETE ends it. Both sides shutting down at once answer
each other's SHUTDOWN with SHUTDOWN ACK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chunks import SackChunk, ShutdownAckChunk, ShutdownChunk
from .state import State

if TYPE_CHECKING:
    from .association import Association

__all__ = ["on_shutdown", "progress", "send_shutdown_chunk"]


def on_shutdown(a: Association, chunk: ShutdownChunk, now: float) -> None:
    if a.state not in (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_SENT):
        return
    # The SHUTDOWN carries a cumulative ack (§9.2); apply it like a SACK without gaps.
    a._sender.on_sack(SackChunk(chunk.cumulative_tsn, a._sender.peer_rwnd), now)
    if a.state is State.SHUTDOWN_SENT:
        # Both sides shut down at once (§9.2): answer with SHUTDOWN ACK.
        a.state = State.SHUTDOWN_ACK_SENT
        send_shutdown_chunk(a, now)
        return
    a.state = State.SHUTDOWN_RECEIVED
    progress(a, now)


def progress(a: Association, now: float) -> None:
    if not a._sender.idle() or a._t2 is not None:
        return
    if a.state is State.SHUTDOWN_PENDING:
        a.state = State.SHUTDOWN_SENT
    elif a.state is State.SHUTDOWN_RECEIVED:
        a.state = State.SHUTDOWN_ACK_SENT
    else:
        return
    a._t2_count = 0
    send_shutdown_chunk(a, now)


def send_shutdown_chunk(a: Association, now: float) -> None:
    if a.state is State.SHUTDOWN_SENT and a._receiver is not None:
        chunk = ShutdownChunk(a._receiver.cum_tsn).encode()
    elif a.state is State.SHUTDOWN_ACK_SENT:
        chunk = ShutdownAckChunk().encode()
    else:
        return
    a._raw.append(a._packet(a._peer_tag, [chunk]))
    a._t2 = now + a._sender.rto
