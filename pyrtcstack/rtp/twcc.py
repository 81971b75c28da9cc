"""Building transport-wide congestion control feedback on the receive side
(draft-holmer-rmcat-transport-wide-cc-extensions-01).

Every packet of a transport carries a 16-bit transport-wide sequence number in a header
extension (:data:`~pyrtcstack.rtp.extensions.URI_TRANSPORT_WIDE_CC`). The receiver
records when each arrived and periodically sends a :class:`TransportWideCc` packet: a base
sequence number, a status per packet (not received / small delta / large delta), a
reference time in 64 ms units and one receive delta per received packet in 250 µs units
(§3.1). The sender's bandwidth estimator (Chrome's GCC) reads these.
"""

from __future__ import annotations

from .feedback import (
    TWCC_LARGE_DELTA,
    TWCC_NOT_RECEIVED,
    TWCC_SMALL_DELTA,
    TransportWideCc,
)

__all__ = ["MAX_TWCC_PENDING", "TwccFeedbackBuilder"]

#: Most recorded-but-unreported packets kept (older ones are forgotten, counted).
MAX_TWCC_PENDING = 4096
_REFERENCE_UNIT_US = 64_000
_DELTA_UNIT_US = 250


class TwccFeedbackBuilder:
    """Record arrivals (transport sequence number, arrival time in seconds) and build
    feedback packets covering them, in sequence order."""

    def __init__(self, sender_ssrc: int, media_ssrc: int = 0) -> None:
        self.sender_ssrc = sender_ssrc
        self.media_ssrc = media_ssrc
        self._arrivals: dict[int, float] = {}
        self._highest = -1
        self._next_base: int | None = None
        self._feedback_count = 0
        self.forgotten = 0

    def _extend(self, seq: int) -> int:
        if self._highest < 0:
            return seq
        cand = (self._highest & ~0xFFFF) | seq
        if cand - self._highest > 0x8000:
            cand -= 0x10000
        elif self._highest - cand > 0x8000:
            cand += 0x10000
        return cand

    def record(self, transport_sequence: int, arrival: float) -> None:
        ext = self._extend(transport_sequence & 0xFFFF)
        if self._next_base is not None and ext < self._next_base:
            return  # already reported
        self._arrivals.setdefault(ext, arrival)
        self._highest = max(self._highest, ext)
        if self._next_base is None:
            self._next_base = ext
        if len(self._arrivals) > MAX_TWCC_PENDING:
            oldest = min(self._arrivals)
            del self._arrivals[oldest]
            self.forgotten += 1
            self._next_base = min(self._arrivals)

    def build(self) -> TransportWideCc | None:
        """A feedback packet for everything recorded since the last one, or None."""
        if not self._arrivals or self._next_base is None:
            return None
        base = self._next_base
        first_received = min(self._arrivals)
        reference = int(self._arrivals[first_received] * 1_000_000) // _REFERENCE_UNIT_US
        previous_us = reference * _REFERENCE_UNIT_US
        statuses: list[int] = []
        deltas: list[int] = []
        seq = base
        while seq <= self._highest and len(statuses) < 0xFFFF:
            arrival = self._arrivals.get(seq)
            if arrival is None:
                statuses.append(TWCC_NOT_RECEIVED)
            else:
                us = int(arrival * 1_000_000)
                delta = round((us - previous_us) / _DELTA_UNIT_US)
                if 0 <= delta <= 255:
                    statuses.append(TWCC_SMALL_DELTA)
                elif -32768 <= delta <= 32767:
                    statuses.append(TWCC_LARGE_DELTA)
                else:
                    break  # does not fit: the next feedback packet starts here
                deltas.append(delta)
                previous_us += delta * _DELTA_UNIT_US
                del self._arrivals[seq]
            seq += 1
        self._next_base = seq
        fb = TransportWideCc(
            self.sender_ssrc,
            self.media_ssrc,
            base & 0xFFFF,
            reference & 0xFFFFFF,
            self._feedback_count,
            statuses,
            deltas,
        )
        self._feedback_count = (self._feedback_count + 1) & 0xFF
        return fb
