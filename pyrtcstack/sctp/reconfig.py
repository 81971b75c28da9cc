"""Stream reset (RFC 6525) for an association: our Outgoing SSN Reset Requests, the peer's,
and the Re-configuration Responses. Functions of
:class:`~pyrtcstack.sctp.association.Association`, kept apart by concept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chunks import ReconfigChunk
from .events import IncomingStreamsReset, OutgoingStreamsReset, StreamResetFailed
from .params import (
    AddIncomingStreamsRequest,
    AddOutgoingStreamsRequest,
    IncomingResetRequest,
    OutgoingResetRequest,
    ReconfigResponse,
    ReconfigResult,
    SsnTsnResetRequest,
)

if TYPE_CHECKING:
    from .association import Association

__all__ = [
    "MAX_RESET_STREAMS_PER_REQUEST",
    "answer_seq",
    "on_outgoing_reset_request",
    "on_reconfig",
    "on_reconfig_response",
    "start_reset",
    "try_deferred_reset",
]

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
#: RFC 6525 §4.1: at most this many stream ids in one reset request (keeps it in a packet).
MAX_RESET_STREAMS_PER_REQUEST = 128


def start_reset(a: Association, now: float) -> bytes:
    """Send an Outgoing SSN Reset Request for the streams whose queued messages all have
    TSNs (§5.1.2: Sender's Last Assigned TSN must cover them)."""
    if not a._peer_reconfig:
        streams = tuple(a._reset_wanted)
        a._reset_wanted = []
        a._resetting.difference_update(streams)
        a._events.append(StreamResetFailed(streams, ReconfigResult.DENIED))
        return b""
    has_queued = a._sender.has_queued
    ready = [sid for sid in a._reset_wanted if not has_queued(sid)]
    if not ready:
        return b""
    ready = ready[:MAX_RESET_STREAMS_PER_REQUEST]
    chosen = set(ready)
    a._reset_wanted = [s for s in a._reset_wanted if s not in chosen]
    req = OutgoingResetRequest(
        a._reconfig_seq,
        (a._peer_reconfig_seq - 1) & MASK32,
        (a._sender.next_tsn - 1) & MASK32,
        tuple(ready),
    )
    a._reconfig_out = req
    a._reconfig_count = 0
    a._reconfig_at = now + a._sender.rto
    return ReconfigChunk([req]).encode()


def on_reconfig(a: Association, chunk: ReconfigChunk, now: float) -> None:
    responses: list[ReconfigResponse] = []
    for p in chunk.params:
        if isinstance(p, OutgoingResetRequest):
            resp = on_outgoing_reset_request(a, p)
            if resp is not None:
                responses.append(resp)
        elif isinstance(p, ReconfigResponse):
            on_reconfig_response(a, p, now)
        elif isinstance(
            p,
            IncomingResetRequest
            | SsnTsnResetRequest
            | AddOutgoingStreamsRequest
            | AddIncomingStreamsRequest,
        ):
            responses.append(answer_seq(a, p.request_seq, ReconfigResult.DENIED))
        else:
            a.stats.unexpected_chunks += 1
    if responses:
        a._control.append(ReconfigChunk(list(responses)).encode())


def answer_seq(a: Association, seq: int, result: int) -> ReconfigResponse:
    if seq == a._peer_reconfig_seq:
        a._peer_reconfig_seq = (seq + 1) & MASK32
        a._last_response = ReconfigResponse(seq, result)
        return a._last_response
    if seq == (a._peer_reconfig_seq - 1) & MASK32 and a._last_response is not None:
        return a._last_response
    return ReconfigResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)


def on_outgoing_reset_request(a: Association, req: OutgoingResetRequest) -> ReconfigResponse | None:
    seq = req.request_seq
    expected = a._peer_reconfig_seq
    if seq == (expected - 1) & MASK32:
        # A retransmission (§5.2.1): perform it now if it became possible, then answer.
        if a._deferred_reset is not None and a._deferred_reset.request_seq == seq:
            if not try_deferred_reset(
                a,
            ):
                return ReconfigResponse(seq, ReconfigResult.IN_PROGRESS)
            return None
        return a._last_response or ReconfigResponse(seq, ReconfigResult.SUCCESS_PERFORMED)
    if seq != expected:
        return ReconfigResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)
    a._peer_reconfig_seq = (seq + 1) & MASK32
    if a._deferred_reset is not None:
        a._last_response = ReconfigResponse(seq, ReconfigResult.ERROR_REQUEST_ALREADY_IN_PROGRESS)
        return a._last_response
    a._deferred_reset = req
    a._last_response = None
    try_deferred_reset(
        a,
    )
    return None


def try_deferred_reset(a: Association) -> bool:
    """§5.2.2: reset once every TSN up to the Sender's Last Assigned TSN arrived."""
    req = a._deferred_reset
    receiver = a._receiver
    if req is None or receiver is None:
        return False
    if ((req.last_tsn - receiver.cum_tsn) & MASK32) < HALF32 and (req.last_tsn != receiver.cum_tsn):
        return False
    a._deferred_reset = None
    # Messages completed so far (this packet included) are already queued before the reset
    # event: the receiver's ``ready`` is the association's event queue.
    receiver.reset_streams(req.streams)
    a._last_response = ReconfigResponse(req.request_seq, ReconfigResult.SUCCESS_PERFORMED)
    a._control.append(ReconfigChunk([a._last_response]).encode())
    a._events.append(IncomingStreamsReset(tuple(req.streams)))
    return True


def on_reconfig_response(a: Association, resp: ReconfigResponse, now: float) -> None:
    req = a._reconfig_out
    if req is None or resp.response_seq != req.request_seq:
        a.stats.unexpected_chunks += 1
        return
    if resp.result == ReconfigResult.IN_PROGRESS:
        a._reconfig_at = now + a._sender.rto  # ask again later (§5.2.7)
        return
    a._reconfig_out = None
    a._reconfig_at = None
    a._reconfig_seq = (a._reconfig_seq + 1) & MASK32
    a._sender.consecutive_errors = 0
    streams = req.streams
    a._resetting.difference_update(streams)
    if resp.result in (ReconfigResult.SUCCESS_PERFORMED, ReconfigResult.SUCCESS_NOTHING_TO_DO):
        out_ssn = a._sender.out_ssn
        for sid in streams:
            out_ssn.pop(sid, None)
        a._events.append(OutgoingStreamsReset(tuple(streams)))
    else:
        a._events.append(StreamResetFailed(tuple(streams), resp.result))
