"""Path liveness with HEARTBEAT (RFC 9260 §8.3).

Functions of :class:`~pyrtcstack.sctp.association.Association`, kept apart by concept. An
idle established association sends a HEARTBEAT every ``heartbeat_interval`` + RTO; the
HEARTBEAT INFO carries the send time and a per-association nonce, so the ACK yields an RTT
sample (§8.3) and cannot be forged by someone who never saw the request. Unanswered
heartbeats count as errors towards Association.Max.Retrans (§8.1).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .chunks import HeartbeatChunk
from .params import Parameter, ParamType
from .state import State

if TYPE_CHECKING:
    from .association import Association

__all__ = ["HB_INFO", "arm", "on_heartbeat_ack", "send_heartbeat"]

#: HEARTBEAT INFO: the send time (a float) and the association's nonce.
HB_INFO = struct.Struct("!dQ")


def arm(a: Association, now: float) -> None:
    interval = a.config.heartbeat_interval
    if interval is not None:
        a._hb_at = now + interval + a._sender.rto


def send_heartbeat(a: Association, now: float) -> None:
    a._hb_at = None
    if a.state is not State.ESTABLISHED:
        return
    if a._hb_sent_at is not None:
        sender = a._sender
        sender.consecutive_errors += 1
        sender.rto = min(sender.rto * 2, a.config.rto_max)
        limit = a.config.max_retransmissions
        if limit is not None and sender.consecutive_errors > limit:
            a._fail("peer unreachable (heartbeats unanswered)")
            return
    a._hb_sent_at = now
    info = Parameter(ParamType.HEARTBEAT_INFO, HB_INFO.pack(now, a._hb_nonce))
    a._control.append(HeartbeatChunk([info]).encode())
    arm(a, now)


def on_heartbeat_ack(a: Association, ack: HeartbeatChunk, now: float) -> None:
    for p in ack.params:
        if p.type == ParamType.HEARTBEAT_INFO and len(p.value) == HB_INFO.size:
            sent_at, nonce = HB_INFO.unpack(p.value)
            if nonce == a._hb_nonce and a._hb_sent_at == sent_at:
                a._hb_sent_at = None
                a._sender.consecutive_errors = 0
                if now - sent_at >= 0:
                    a._sender.rtt_sample(now - sent_at)
                return
    a.stats.unexpected_chunks += 1
