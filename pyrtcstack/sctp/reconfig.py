"""Stream reset (RFC 6525): our Outgoing SSN Reset Requests, the peer's, and the
Re-configuration Responses.

A :class:`StreamReset` belongs to an association. Data channels close by resetting their
streams (RFC 8831 §6.7): :meth:`StreamReset.request` marks our outgoing streams; once
their queued messages all have TSNs, :meth:`StreamReset.start` sends the request (§5.1.2)
under its own retransmission timer. A peer's request is performed once every TSN it
covers arrived (§5.2.2: :meth:`StreamReset.try_deferred`); the receive paths keep to the
packet-by-packet route while one waits (:attr:`StreamReset.deferred`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .chunks import ReconfigChunk
from .events import IncomingStreamsReset, OutgoingStreamsReset, StreamResetFailed
from .outbox import Outbox
from .params import (
    AddIncomingStreamsRequest,
    AddOutgoingStreamsRequest,
    IncomingResetRequest,
    OutgoingResetRequest,
    ReconfigResponse,
    ReconfigResult,
    SsnTsnResetRequest,
)
from .sender import Sender
from .state import AssociationStats

if TYPE_CHECKING:
    from .config import SctpConfig
    from .receiver import Receiver

__all__ = ["MAX_RESET_STREAMS_PER_REQUEST", "StreamReset"]

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
#: RFC 6525 §4.1: at most this many stream ids in one reset request (keeps it in a packet).
MAX_RESET_STREAMS_PER_REQUEST = 128


class StreamReset:
    """RFC 6525 stream reset for one association (see the module docstring)."""

    __slots__ = (
        "_config",
        "_count",
        "_last_response",
        "_out",
        "_outstanding",
        "_peer_seq",
        "_sender",
        "_seq",
        "_stats",
        "_wanted",
        "at",
        "deferred",
        "peer_supported",
        "resetting",
    )

    def __init__(
        self,
        config: SctpConfig,
        sender: Sender,
        out: Outbox,
        stats: AssociationStats,
        local_tsn: int,
    ) -> None:
        self._config = config
        self._sender = sender
        self._out = out
        self._stats = stats
        #: §5.1.1: our request sequence numbers start at our initial TSN, the peer's at its.
        self._seq = local_tsn
        self._peer_seq = 0
        #: The peer announced RE-CONFIG (RFC 6525 §5.1.1 via Supported Extensions).
        self.peer_supported = False
        self._outstanding: OutgoingResetRequest | None = None
        #: The retransmission deadline of our outstanding request, or None.
        self.at: float | None = None
        self._count = 0
        self._wanted: list[int] = []
        #: Our outgoing streams being reset: no new messages on them until it is done.
        self.resetting: set[int] = set()
        #: The peer's request waiting for the TSNs it covers (§5.2.2), or None.
        self.deferred: OutgoingResetRequest | None = None
        self._last_response: ReconfigResponse | None = None

    def set_peer(self, peer_tsn: int, supported: bool) -> None:
        self._peer_seq = peer_tsn
        self.peer_supported = supported

    def request(self, stream_ids: Iterable[int]) -> None:
        """Reset these outgoing streams once their queued data is sent (§5.1.2)."""
        for sid in stream_ids:
            if sid not in self.resetting:
                self.resetting.add(sid)
                self._wanted.append(sid)

    def can_start(self) -> bool:
        """Would :meth:`start` send a request (or fail one) now?"""
        if not self._wanted or self._outstanding is not None:
            return False
        if not self.peer_supported:
            return True
        has_queued = self._sender.has_queued
        return any(not has_queued(sid) for sid in self._wanted)

    def start(self, now: float) -> bytes:
        """An Outgoing SSN Reset Request for the streams whose queued messages all have
        TSNs (§5.1.2: Sender's Last Assigned TSN must cover them), or b""."""
        if not self._wanted or self._outstanding is not None:
            return b""
        if not self.peer_supported:
            streams = tuple(self._wanted)
            self._wanted = []
            self.resetting.difference_update(streams)
            self._out.events.push(StreamResetFailed(streams, ReconfigResult.DENIED))
            return b""
        has_queued = self._sender.has_queued
        ready = [sid for sid in self._wanted if not has_queued(sid)]
        if not ready:
            return b""
        ready = ready[:MAX_RESET_STREAMS_PER_REQUEST]
        chosen = set(ready)
        self._wanted = [s for s in self._wanted if s not in chosen]
        req = OutgoingResetRequest(
            self._seq,
            (self._peer_seq - 1) & MASK32,
            (self._sender.next_tsn - 1) & MASK32,
            tuple(ready),
        )
        self._outstanding = req
        self._count = 0
        self.at = now + self._sender.rto
        return ReconfigChunk([req]).encode()

    def on_timer(self, now: float) -> str | None:
        """Our request went unanswered for an RTO: send it again (§5.1.1); returns the
        reason to fail the association past Association.Max.Retrans."""
        if self.at is None or now < self.at:
            return None
        self.at = None
        req = self._outstanding
        if req is None:
            return None
        self._count += 1
        sender = self._sender
        sender.consecutive_errors += 1
        limit = self._config.max_retransmissions
        if limit is not None and sender.consecutive_errors > limit:
            return "peer unreachable (stream reset unanswered)"
        self._out.chunks.append(ReconfigChunk([req]).encode())
        self.at = now + sender.rto
        return None

    def on_chunk(self, chunk: ReconfigChunk, receiver: Receiver | None, now: float) -> None:
        """A RE-CONFIG chunk (RFC 6525 §3.1): answer its requests, apply its responses."""
        responses: list[ReconfigResponse] = []
        for p in chunk.params:
            if isinstance(p, OutgoingResetRequest):
                resp = self._on_outgoing_request(p, receiver)
                if resp is not None:
                    responses.append(resp)
            elif isinstance(p, ReconfigResponse):
                self._on_response(p, now)
            elif isinstance(
                p,
                IncomingResetRequest
                | SsnTsnResetRequest
                | AddOutgoingStreamsRequest
                | AddIncomingStreamsRequest,
            ):
                responses.append(self._answer_seq(p.request_seq, ReconfigResult.DENIED))
            else:
                self._stats.unexpected_chunks += 1
        if responses:
            self._out.chunks.append(ReconfigChunk(list(responses)).encode())

    def _answer_seq(self, seq: int, result: int) -> ReconfigResponse:
        if seq == self._peer_seq:
            self._peer_seq = (seq + 1) & MASK32
            self._last_response = ReconfigResponse(seq, result)
            return self._last_response
        if seq == (self._peer_seq - 1) & MASK32 and self._last_response is not None:
            return self._last_response
        return ReconfigResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)

    def _on_outgoing_request(
        self, req: OutgoingResetRequest, receiver: Receiver | None
    ) -> ReconfigResponse | None:
        seq = req.request_seq
        expected = self._peer_seq
        if seq == (expected - 1) & MASK32:
            # A retransmission (§5.2.1): perform it now if it became possible, then answer.
            if self.deferred is not None and self.deferred.request_seq == seq:
                if not self.try_deferred(receiver):
                    return ReconfigResponse(seq, ReconfigResult.IN_PROGRESS)
                return None
            return self._last_response or ReconfigResponse(seq, ReconfigResult.SUCCESS_PERFORMED)
        if seq != expected:
            return ReconfigResponse(seq, ReconfigResult.ERROR_BAD_SEQUENCE_NUMBER)
        self._peer_seq = (seq + 1) & MASK32
        if self.deferred is not None:
            self._last_response = ReconfigResponse(
                seq, ReconfigResult.ERROR_REQUEST_ALREADY_IN_PROGRESS
            )
            return self._last_response
        self.deferred = req
        self._last_response = None
        self.try_deferred(receiver)
        return None

    def try_deferred(self, receiver: Receiver | None) -> bool:
        """§5.2.2: perform the peer's request once every TSN up to its Sender's Last
        Assigned TSN arrived; True when it was performed."""
        req = self.deferred
        if req is None or receiver is None:
            return False
        cum = receiver.cum_tsn
        if ((req.last_tsn - cum) & MASK32) < HALF32 and req.last_tsn != cum:
            return False
        self.deferred = None
        # Messages completed so far (this packet included) are already queued before the
        # reset event: the receiver's ``ready`` is the association's event queue.
        receiver.reset_streams(req.streams)
        self._last_response = ReconfigResponse(req.request_seq, ReconfigResult.SUCCESS_PERFORMED)
        self._out.chunks.append(ReconfigChunk([self._last_response]).encode())
        self._out.events.push(IncomingStreamsReset(tuple(req.streams)))
        return True

    def _on_response(self, resp: ReconfigResponse, now: float) -> None:
        req = self._outstanding
        if req is None or resp.response_seq != req.request_seq:
            self._stats.unexpected_chunks += 1
            return
        if resp.result == ReconfigResult.IN_PROGRESS:
            self.at = now + self._sender.rto  # ask again later (§5.2.7)
            return
        self._outstanding = None
        self.at = None
        self._seq = (self._seq + 1) & MASK32
        sender = self._sender
        sender.consecutive_errors = 0
        streams = req.streams
        self.resetting.difference_update(streams)
        if resp.result in (ReconfigResult.SUCCESS_PERFORMED, ReconfigResult.SUCCESS_NOTHING_TO_DO):
            out_ssn = sender.out_ssn
            for sid in streams:
                out_ssn.pop(sid, None)
            self._out.events.push(OutgoingStreamsReset(tuple(streams)))
        else:
            self._out.events.push(StreamResetFailed(tuple(streams), resp.result))

    def stop(self) -> None:
        self.at = None
