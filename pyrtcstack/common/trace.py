"""The record of one step in a narrated trace, shared by every layer that narrates.

:class:`TraceRecord` is what a tracer hands its callback: the peer connection's
(:class:`pyrtcstack.peerconnection.Tracer`: ICE, DTLS, SCTP, SRTP) and SIP's
(:class:`pyrtcstack.sip.SipTracer`: messages, transactions, calls). Both write the same
record on the same clock (the driver's ``now``), so one printer interleaves them into one
timeline (``pyrtcstack sip call --webrtc --trace``). It lives here, below both, so SIP
need not import the peer connection to narrate.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import Address

__all__ = ["TraceRecord"]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One step: ``time`` (seconds, the driver's clock), ``layer`` (ICE, DTLS, SCTP,
    SRTP...), ``direction`` ("send", "recv" or "note"), ``peer`` and a description.

    Repetitive records have a ``kind`` ("SCTP DATA", "SCTP SACK", "SRTP"...) with the
    ``payload_bytes``, completed ``messages`` and ``streams`` they carry, for
    :class:`RunSummary`; a summary line itself has kind "run", ``count`` records and
    ``since`` (the time of the run's first record)."""

    time: float
    layer: str
    direction: str
    text: str
    local: Address | None = None
    peer: Address | None = None
    kind: str = ""
    payload_bytes: int = 0
    messages: int = 0
    streams: tuple[int, ...] = ()
    count: int = 1
    since: float | None = None
