"""Path liveness with HEARTBEAT (RFC 9260 §8.3).

A :class:`Heartbeat` belongs to an association. An idle established association sends
a HEARTBEAT every ``heartbeat_interval`` + RTO; the HEARTBEAT INFO carries the send time
and a per-association nonce, so the ACK yields an RTT sample (§8.3) and cannot be forged
by someone who never saw the request. Unanswered heartbeats count as errors towards
Association.Max.Retrans (§8.1), kept by the sender beside those of T3-rtx.
"""

from __future__ import annotations

import struct

from .chunks import HeartbeatAckChunk, HeartbeatChunk
from .config import SctpConfig
from .outbox import Outbox
from .params import Parameter, ParamType
from .sender import Sender

__all__ = ["HB_INFO", "Heartbeat"]

#: HEARTBEAT INFO: the send time (a float) and the association's nonce.
HB_INFO = struct.Struct("!dQ")


class Heartbeat:
    """HEARTBEAT requests and answers of one association (see the module docstring)."""

    __slots__ = ("_config", "_nonce", "_out", "_sender", "at", "sent_at")

    def __init__(self, config: SctpConfig, sender: Sender, out: Outbox, nonce: int) -> None:
        self._config = config
        self._sender = sender
        self._out = out
        self._nonce = nonce
        #: When the next HEARTBEAT is due, or None (data outstanding: T3 watches the path).
        self.at: float | None = None
        #: When the unanswered HEARTBEAT left, or None.
        self.sent_at: float | None = None

    def arm(self, now: float) -> None:
        """Schedule the next HEARTBEAT an interval + RTO from ``now`` (§8.3)."""
        interval = self._config.heartbeat_interval
        if interval is not None:
            self.at = now + interval + self._sender.rto

    def stop(self) -> None:
        self.at = None

    def on_timer(self, now: float, established: bool) -> str | None:
        """Send a HEARTBEAT if one is due; returns the reason to fail the association when
        one more unanswered HEARTBEAT passed Association.Max.Retrans (§8.1)."""
        if self.at is None or now < self.at:
            return None
        self.at = None
        if not established:
            return None
        if self.sent_at is not None:
            sender = self._sender
            sender.consecutive_errors += 1
            sender.rto = min(sender.rto * 2, self._config.rto_max)
            limit = self._config.max_retransmissions
            if limit is not None and sender.consecutive_errors > limit:
                return "peer unreachable (heartbeats unanswered)"
        self.sent_at = now
        info = Parameter(ParamType.HEARTBEAT_INFO, HB_INFO.pack(now, self._nonce))
        self._out.chunks.append(HeartbeatChunk([info]).encode())
        self.arm(now)
        return None

    def on_request(self, value: bytes) -> None:
        """§8.3: answer a HEARTBEAT, echoing its Heartbeat Info verbatim."""
        chunk = HeartbeatAckChunk(HeartbeatChunk.decode(0, value).params)
        self._out.chunks.append(chunk.encode())

    def on_ack(self, ack: HeartbeatChunk, now: float) -> bool:
        """A HEARTBEAT ACK: the path works, and its RTT is a sample (§8.3). False when it
        answers no HEARTBEAT of ours (the caller counts it)."""
        for p in ack.params:
            if p.type == ParamType.HEARTBEAT_INFO and len(p.value) == HB_INFO.size:
                sent_at, nonce = HB_INFO.unpack(p.value)
                if nonce == self._nonce and self.sent_at == sent_at:
                    self.sent_at = None
                    self._sender.consecutive_errors = 0
                    if now - sent_at >= 0:
                        self._sender.rtt_sample(now - sent_at)
                    return True
        return False
