"""The general chunk dispatch of an association (RFC 9260 §3.2, §6, §8-§9; RFC 3758,
RFC 6525).

Functions of :class:`~pyrtcstack.sctp.association.Association`, kept apart by concept:
every packet the receive fast paths do not take is split into its chunks and each chunk is
handed to its handler here — DATA to the receiver (§6.2), SACK to the sender (§6.2.1),
the handshake chunks to ``handshake``, HEARTBEAT to ``heartbeat``, RE-CONFIG to
``reconfig``, SHUTDOWN to ``shutdown``, ABORT and unknown chunk types (§3.2) here. Then
``after_chunks`` decides about the SACK (§6.2).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from . import handshake, heartbeat, reconfig, shutdown
from .chunks import (
    AbortChunk,
    ChunkType,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
)
from .errors import SctpParseError
from .params import CauseCode, ErrorCause
from .state import State

if TYPE_CHECKING:
    from .association import Association
    from .receiver import Receiver

__all__ = ["DATA_STATES", "after_chunks", "delay_sack", "process_chunks", "process_tail"]

_CHUNK = struct.Struct("!BBH")
_DATA_FIELDS = struct.Struct("!IHHI")
# Tuples, not sets: membership tests by identity avoid hashing the enum on the hot path.
#: The states in which DATA is accepted.
DATA_STATES = (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_SENT)


def process_tail(
    a: Association, data: bytes, pos: int, size: int, now: float, *, sack_now: bool
) -> None:
    """The chunks after the DATA chunks the fast path took (all DATA so far)."""
    chunks = []
    unpack = _CHUNK.unpack_from
    while pos < size:
        if size - pos < 4:
            a.stats.malformed += 1
            break
        type_, flags, length = unpack(data, pos)
        if length < 4 or pos + length > size:
            a.stats.malformed += 1
            break
        chunks.append((type_, flags, pos + 4, pos + length))
        pos += (length + 3) & ~3
    try:
        process_chunks(a, data, chunks, now, data_seen=True, sack_now=sack_now)
    except SctpParseError:
        a.stats.malformed += 1


def process_chunks(
    a: Association,
    data: bytes,
    chunks: list[tuple[int, int, int, int]],
    now: float,
    *,
    data_seen: bool = False,
    sack_now: bool = False,
) -> None:
    """Act on each chunk ``(type, flags, value start, value end)`` of ``data``."""
    receiver = a._receiver
    unpack_data = _DATA_FIELDS.unpack_from
    data_ok = receiver is not None and a.state in DATA_STATES
    max_queued = a.config.max_queued_messages
    events = a._events
    for type_, flags, start, end in chunks:
        if type_ == 0:  # DATA, the hot path (§6.2)
            if not data_ok or receiver is None:
                a.stats.unexpected_chunks += 1
                continue
            if end - start <= 12:
                # §6.2: DATA without user data: ABORT with cause 9.
                a._fail("DATA chunk without user data", CauseCode.NO_USER_DATA)
                return
            tsn, sid, ssn, ppid = unpack_data(data, start)
            data_seen = True
            if sid >= a.inbound_streams:
                a.stats.invalid_stream += 1
                receiver.ack_only(tsn)
                cause = ErrorCause(CauseCode.INVALID_STREAM_IDENTIFIER, struct.pack("!HH", sid, 0))
                a._control.append(ErrorChunk([cause]).encode())
                sack_now = True
                continue
            if len(events) >= max_queued:
                a.stats.data_dropped += 1
                continue
            r = receiver.receive(tsn, sid, ssn, ppid, flags, data[start + 12 : end])
            if r:
                sack_now = True
                if r == 3:
                    a.stats.data_dropped += 1
            continue
        value = data[start:end]
        if type_ == ChunkType.SACK:
            if a.state in DATA_STATES or a.state in (
                State.SHUTDOWN_RECEIVED,
                State.SHUTDOWN_ACK_SENT,
            ):
                a._sender.on_sack(SackChunk.decode(flags, value), now)
            continue
        if type_ == ChunkType.INIT:
            handshake.on_init(a, InitChunk.decode(flags, value), now)
            return
        if type_ == ChunkType.INIT_ACK:
            handshake.on_init_ack(a, InitChunk.decode(flags, value), now)
            continue
        if type_ == ChunkType.COOKIE_ECHO:
            handshake.on_cookie_echo(a, value, now)
            receiver = a._receiver
            data_ok = receiver is not None and a.state in DATA_STATES
            continue
        if type_ == ChunkType.COOKIE_ACK:
            if a.state is State.COOKIE_ECHOED:
                a._t1 = None
                a._established(now)
                data_ok = receiver is not None  # DATA may follow in this packet
            continue
        if type_ == ChunkType.HEARTBEAT:
            # §8.3: echo the Heartbeat Info verbatim.
            a._control.append(HeartbeatAckChunk(HeartbeatChunk.decode(0, value).params).encode())
            continue
        if type_ == ChunkType.HEARTBEAT_ACK:
            heartbeat.on_heartbeat_ack(a, HeartbeatChunk.decode(0, value), now)
            continue
        if type_ == ChunkType.FORWARD_TSN:
            if receiver is not None and a.state in DATA_STATES:
                fwd = ForwardTsnChunk.decode(flags, value)
                receiver.forward_tsn(fwd.new_cumulative_tsn, fwd.streams)
                data_seen = True
                sack_now = True
            continue
        if type_ == ChunkType.RECONFIG:
            if a.state in DATA_STATES or a.state is State.SHUTDOWN_RECEIVED:
                reconfig.on_reconfig(a, ReconfigChunk.decode(flags, value), now)
            continue
        if type_ == ChunkType.ABORT:
            abort = AbortChunk.decode(flags, value)
            reason = "; ".join(
                f"cause {c.code}" + (f": {c.info.decode(errors='replace')}" if c.info else "")
                for c in abort.causes
            )
            a._close(f"peer aborted ({reason or 'no cause'})", aborted=True)
            return
        if type_ == ChunkType.SHUTDOWN:
            shutdown.on_shutdown(a, ShutdownChunk.decode(flags, value), now)
            continue
        if type_ == ChunkType.SHUTDOWN_ACK:
            if a.state in (State.SHUTDOWN_SENT, State.SHUTDOWN_ACK_SENT):
                # §9.2: answer with SHUTDOWN COMPLETE and close.
                chunk = ShutdownCompleteChunk().encode()
                a._raw.append(a._packet(a._peer_tag, [chunk]))
                a._close(None)
                return
            continue
        if type_ == ChunkType.SHUTDOWN_COMPLETE:
            if a.state is State.SHUTDOWN_ACK_SENT:
                a._close(None)
                return
            continue
        if type_ == ChunkType.ERROR:
            ErrorChunk.decode(flags, value)  # validated; informational only
            continue
        # §3.2: unknown chunk types, by their two upper bits.
        action = type_ >> 6
        if action in (1, 3):
            cause = ErrorCause(
                CauseCode.UNRECOGNIZED_CHUNK_TYPE,
                struct.pack("!BBH", type_, flags, 4 + len(value)) + value,
            )
            a._control.append(ErrorChunk([cause]).encode())
        a.stats.unexpected_chunks += 1
        if action in (0, 1):
            break
    after_chunks(a, receiver, data_seen, sack_now, now, len(data))


def after_chunks(  # noqa: PLR0917
    a: Association,
    receiver: Receiver | None,
    data_seen: bool,
    sack_now: bool,
    now: float,
    size: int,
) -> None:
    """Hand over completed messages and decide about the SACK (§6.2) after a packet of
    ``size`` bytes."""
    if receiver is not None and a._receiver is receiver:
        if receiver.too_large:
            a._fail("peer sent a message above our max-message-size")
            return
        if a._deferred_reset is not None:
            reconfig.try_deferred_reset(
                a,
            )
    if data_seen:
        full = a._full_packet
        delay_sack(a, size if size < full else a._full_size(size), sack_now, now)
    if a.state in (State.SHUTDOWN_SENT, State.SHUTDOWN_ACK_SENT) and data_seen:
        a._sack_due = True


def delay_sack(a: Association, credit: int, sack_now: bool, now: float) -> None:
    """§6.2 delayed SACK after packets with DATA worth ``credit`` bytes (each counts
    min(size, full size), Association._full_size): a SACK at once for every
    ``sack_every``-th full-sized packet (or when ``sack_now``: a gap or a duplicate), else
    within ``sack_delay``."""
    n = a._sack_credit + credit
    a._sack_credit = n
    if sack_now or n >= a._sack_threshold:
        a._sack_point()
    elif a._sack_at is None:
        a._sack_at = now + a.config.sack_delay
