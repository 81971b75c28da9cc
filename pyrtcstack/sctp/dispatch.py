"""One SCTP packet through an association: the checks of RFC 9260 §6.8 and §8.5, then
each chunk to the part it concerns (§3.2; §5, §6, §8-§9, RFC 3758, RFC 6525).

:func:`receive_one` is what :mod:`.bulk` calls for every packet it does not take in line.
A packet that starts with DATA on an established association goes to the receiver in one
call (:meth:`.receiver.Receiver.receive_chunks`, the common case); any other packet is
split into its chunks and :func:`process_chunks` hands each to its part: DATA to the
receiver (§6.2), SACK to the sender (§6.2.1), the handshake chunks to
:class:`~.handshake.Handshake`, HEARTBEAT to :class:`~.heartbeat.Heartbeat`, RE-CONFIG to
:class:`~.reconfig.StreamReset`, SHUTDOWN to :class:`~.shutdown.Shutdown`, ABORT and
unknown chunk types (§3.2) here. Then :func:`after_chunks` tells :class:`~.acks.Acks`
what arrived (§6.2). Functions over the association's public parts, kept apart by
concept.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .chunks import (
    AbortChunk,
    ChunkType,
    ErrorChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
)
from .config import FULL_PACKET
from .crc32c import crc32c, crc32c_extend
from .errors import SctpParseError
from .params import CauseCode, ErrorCause, decode_tlvs
from .state import State

if TYPE_CHECKING:
    from .association import Association
    from .receiver import Receiver

__all__ = ["DATA_STATES", "after_chunks", "process_chunks", "process_tail", "receive_one"]

_HEADER = struct.Struct("!HHI")
_CHUNK = struct.Struct("!BBH")
_DATA_FIELDS = struct.Struct("!IHHI")
_LE32 = struct.Struct("<I")
_ZERO4 = bytes(4)
# Tuples, not sets: membership tests by identity avoid hashing the enum on the hot path.
#: The states in which DATA is accepted.
DATA_STATES = (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_SENT)
_SACK_STATES = (*DATA_STATES, State.SHUTDOWN_RECEIVED, State.SHUTDOWN_ACK_SENT)


def receive_one(a: Association, data: bytes, now: float) -> None:
    """One packet (its checks, then its chunks), in the order the packets came."""
    stats = a.stats
    stats.packets_received += 1
    state = a.state
    if data[:8] == a.rx_head and state is State.ESTABLISHED and data[12:13] == b"\0":
        # Our ports and verification tag (§8.5) on an established association, a packet
        # that starts with a DATA chunk: the receiver takes the DATA chunks in one call.
        checksum = _LE32.unpack_from(data, 8)[0]
        if not (checksum == 0 and a.handshake.zero_checksum_sent) and checksum != (
            crc32c_extend(a.rx_head_crc, data[12:])
        ):
            stats.bad_checksum += 1
            return
        receiver = a.receiver
        assert receiver is not None
        size = len(data)
        pos, sack_now, dropped = receiver.receive_chunks(
            data, 12, size, a.inbound_streams, a.config.max_queued_messages
        )
        if dropped:
            stats.data_dropped += dropped
        if pos >= size:
            if receiver.too_large or a.stream_reset.deferred is not None:
                after_chunks(a, receiver, True, sack_now, now, size)
            else:  # after_chunks when nothing else is to be done: only the SACK (§6.2)
                acks = a.acks
                full = acks.full_packet
                acks.count(
                    size if size < full else full if full == FULL_PACKET else acks.size(size),
                    sack_now,
                    now,
                )
        elif pos > 12:
            # Something else follows: the general path takes the rest of the packet.
            process_tail(a, data, pos, size, now, sack_now=sack_now)
        else:
            _general(a, data, now)
        return
    if not a.closed_for_good:
        _general(a, data, now)


def _general(a: Association, data: bytes, now: float) -> None:
    """A packet the DATA path did not take: checked (§6.8, §8.5) and split (§3.2)."""
    stats = a.stats
    size = len(data)
    cfg = a.config
    # §6.8: CRC-32C over the packet with the checksum field zeroed, stored little-endian.
    # RFC 9653 §5.3: once an INIT or INIT ACK of ours carried Zero Checksum Acceptable we
    # also accept 0 (never on an INIT: §5.2 makes its sender compute the CRC); if none did,
    # a packet with checksum 0 is dropped as any other bad checksum.
    if size < 16:
        stats.bad_checksum += 1
        return
    checksum = _LE32.unpack_from(data, 8)[0]
    if not (checksum == 0 and a.handshake.zero_checksum_sent and data[12] != 1) and checksum != (
        crc32c_extend(crc32c(data[:8] + _ZERO4), data[12:])
    ):
        stats.bad_checksum += 1
        return
    src, dst, tag = _HEADER.unpack_from(data)
    if src != cfg.remote_port or dst != cfg.local_port:
        stats.bad_port += 1
        return
    receiver = a.receiver
    local_tag = a.local_tag
    if data[12] == 0 and tag == local_tag and receiver is not None and a.state in DATA_STATES:
        # A packet that starts with DATA chunks, in a state that takes them.
        pos, sack_now, dropped = receiver.receive_chunks(
            data, 12, size, a.inbound_streams, cfg.max_queued_messages
        )
        if dropped:
            stats.data_dropped += dropped
        if pos >= size:
            after_chunks(a, receiver, True, sack_now, now, size)
            return
        if pos > 12:
            process_tail(a, data, pos, size, now, sack_now=sack_now)
            return
    # Split into chunks (§3.2); a malformed chunk drops the whole packet.
    chunks = []
    pos = 12
    unpack = _CHUNK.unpack_from
    while pos < size:
        if size - pos < 4:
            stats.malformed += 1
            return
        type_, flags, length = unpack(data, pos)
        if length < 4 or pos + length > size:
            stats.malformed += 1
            return
        chunks.append((type_, flags, pos + 4, pos + length))
        pos += (length + 3) & ~3
    first = chunks[0][0]
    peer_tag = a.peer_tag
    if first == 1:  # INIT
        # §8.5.1 A: INIT travels with tag 0 and alone.
        if tag != 0 or len(chunks) != 1:
            stats.bad_verification_tag += 1
            return
    # §8.5.1 B, C: ABORT / SHUTDOWN COMPLETE with the T bit carry the peer's tag.
    elif tag != local_tag and not (
        first in (ChunkType.ABORT, ChunkType.SHUTDOWN_COMPLETE)
        and chunks[0][1] & 1
        and tag == peer_tag
        and peer_tag != 0
    ):
        stats.bad_verification_tag += 1
        return
    try:
        process_chunks(a, data, chunks, now)
    except SctpParseError:
        stats.malformed += 1


def process_tail(
    a: Association, data: bytes, pos: int, size: int, now: float, *, sack_now: bool
) -> None:
    """The chunks after the DATA chunks the receiver took (all DATA so far)."""
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
    receiver = a.receiver
    unpack_data = _DATA_FIELDS.unpack_from
    data_ok = receiver is not None and a.state in DATA_STATES
    max_queued = a.config.max_queued_messages
    out = a.outbox
    events = out.events
    stats = a.stats
    for type_, flags, start, end in chunks:
        if type_ == 0:  # DATA, the hot path (§6.2)
            if not data_ok or receiver is None:
                stats.unexpected_chunks += 1
                continue
            if end - start <= 12:
                # §6.2: DATA without user data: ABORT with cause 9.
                a.fail("DATA chunk without user data", CauseCode.NO_USER_DATA)
                return
            tsn, sid, ssn, ppid = unpack_data(data, start)
            data_seen = True
            if flags & 8:  # I: the sender asks for a SACK at once (RFC 7053 §4)
                sack_now = True
            if sid >= a.inbound_streams:
                stats.invalid_stream += 1
                receiver.ack_only(tsn)
                cause = ErrorCause(CauseCode.INVALID_STREAM_IDENTIFIER, struct.pack("!HH", sid, 0))
                out.chunks.append(ErrorChunk([cause]).encode())
                sack_now = True
                continue
            if len(events) >= max_queued:
                stats.data_dropped += 1
                continue
            r = receiver.receive(tsn, sid, ssn, ppid, flags, data[start + 12 : end])
            if r:
                sack_now = True
                if r == 3:
                    stats.data_dropped += 1
            continue
        value = data[start:end]
        state = a.state
        if type_ == ChunkType.SACK:
            if state in _SACK_STATES:
                sack = SackChunk.decode(flags, value)
                a.sender.on_sack(sack.cumulative_tsn, sack.a_rwnd, sack.gaps, now)
            continue
        if type_ == ChunkType.INIT:
            a.handshake.on_init(InitChunk.decode(flags, value), state, now)
            return
        if type_ == ChunkType.INIT_ACK:
            if state is not State.COOKIE_WAIT:
                # §5.2.3: discard. After an INIT collision (RFC 8841 §9.3: both ends
                # send INIT) the peer's answer to our INIT can follow its COOKIE ECHO,
                # which established us: normal, so counted apart from unexpected chunks.
                stats.init_acks_discarded += 1
                continue
            peer = a.handshake.on_init_ack(InitChunk.decode(flags, value), now)
            if peer is not None:
                a.set_peer(peer)
                a.state = State.COOKIE_ECHOED
            continue
        if type_ == ChunkType.COOKIE_ECHO:
            peer = a.handshake.on_cookie_echo(value, state, a.peer_tag, now)
            if peer is not None:
                a.set_peer(peer)
                a.establish(now)
                receiver = a.receiver
                data_ok = receiver is not None  # DATA may follow in this packet
            continue
        if type_ == ChunkType.COOKIE_ACK:
            if a.handshake.on_cookie_ack(state):
                a.establish(now)
                data_ok = receiver is not None  # DATA may follow in this packet
            continue
        if type_ == ChunkType.HEARTBEAT:
            a.heartbeat.on_request(value)
            continue
        if type_ == ChunkType.HEARTBEAT_ACK:
            if not a.heartbeat.on_ack(HeartbeatChunk.decode(0, value), now):
                stats.unexpected_chunks += 1
            continue
        if type_ == ChunkType.FORWARD_TSN:
            if receiver is not None and state in DATA_STATES:
                fwd = ForwardTsnChunk.decode(flags, value)
                receiver.forward_tsn(fwd.new_cumulative_tsn, fwd.streams)
                data_seen = True
                sack_now = True
            continue
        if type_ == ChunkType.RECONFIG:
            if state in DATA_STATES or state is State.SHUTDOWN_RECEIVED:
                a.stream_reset.on_chunk(ReconfigChunk.decode(flags, value), a.receiver, now)
            continue
        if type_ == ChunkType.ABORT:
            abort = AbortChunk.decode(flags, value)
            reason = "; ".join(
                f"cause {c.code}" + (f": {c.info.decode(errors='replace')}" if c.info else "")
                for c in abort.causes
            )
            a.terminate(f"peer aborted ({reason or 'no cause'})", aborted=True)
            return
        if type_ == ChunkType.SHUTDOWN:
            chunk = ShutdownChunk.decode(flags, value)
            cum = receiver.cum_tsn if receiver is not None else 0
            a.state = a.closing.on_shutdown(chunk, state, cum, now)
            continue
        if type_ == ChunkType.SHUTDOWN_ACK:
            if state in (State.SHUTDOWN_SENT, State.SHUTDOWN_ACK_SENT):
                # §9.2: answer with SHUTDOWN COMPLETE and close.
                out.send_alone(ShutdownCompleteChunk().encode())
                a.terminate(None)
                return
            continue
        if type_ == ChunkType.SHUTDOWN_COMPLETE:
            if state is State.SHUTDOWN_ACK_SENT:
                a.terminate(None)
                return
            continue
        if type_ == ChunkType.ERROR:
            # informational only (§3.3.10), counted: a clean setup has none
            causes = ErrorChunk.decode(flags, value).causes
            stats.errors_received += 1
            stats.unrecognized_parameters += _unrecognized_parameters(causes)
            continue
        # §3.2: unknown chunk types, by their two upper bits.
        action = type_ >> 6
        if action in (1, 3):
            cause = ErrorCause(
                CauseCode.UNRECOGNIZED_CHUNK_TYPE,
                struct.pack("!BBH", type_, flags, 4 + len(value)) + value,
            )
            out.chunks.append(ErrorChunk([cause]).encode())
        stats.unexpected_chunks += 1
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
    if receiver is not None and a.receiver is receiver:
        if receiver.too_large:
            a.fail("peer sent a message above our max-message-size")
            return
        if a.stream_reset.deferred is not None:
            a.stream_reset.try_deferred(receiver)
    if data_seen:
        acks = a.acks
        acks.count(acks.size(size), sack_now, now)
        if a.state in (State.SHUTDOWN_SENT, State.SHUTDOWN_ACK_SENT):
            acks.due = True


def _unrecognized_parameters(causes: list[ErrorCause]) -> int:
    """How many parameters the ERROR's Unrecognized Parameters causes report (§3.3.10.8:
    one cause carries a copy of every parameter it names); a cause whose copy does not
    parse counts as one."""
    n = 0
    for cause in causes:
        if cause.code == CauseCode.UNRECOGNIZED_PARAMETERS:
            try:
                n += len(decode_tlvs(cause.info)) or 1
            except SctpParseError:
                n += 1
    return n
