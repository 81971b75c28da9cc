"""Reception statistics of one RTP source (RFC 3550 Appendix A.1, A.3, A.8) and the
NTP time format used by sender reports (RFC 3550 §4).

:class:`ReceptionStatistics` follows the RFC's reference code: sequence-number validation
with probation and the "extended highest sequence number" (A.1), expected versus received
packets for the cumulative and fractional loss (A.3), and the interarrival jitter estimate
J += (|D| - J) / 16 (A.8). :meth:`ReceptionStatistics.report_block` turns them into an RR/SR
report block.
"""

from __future__ import annotations

from .rtcp import ReportBlock

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "NTP_EPOCH_OFFSET",
    "ReceptionStatistics",
    "ntp_middle32",
    "ntp_timestamp",
]

#: RFC 3550 A.1: packets in sequence needed before a new source is valid.
MIN_SEQUENTIAL = 2
#: RFC 3550 A.1: a jump forward of up to this many packets is accepted as loss.
MAX_DROPOUT = 3000
#: RFC 3550 A.1: a jump back of up to this many packets is accepted as misordering.
MAX_MISORDER = 100
_SEQ_MOD = 1 << 16

#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_EPOCH_OFFSET = 2_208_988_800


def ntp_timestamp(seconds_since_1900: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4): 32.32 fixed-point seconds since 1900."""
    return int(seconds_since_1900 * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


class ReceptionStatistics:
    """Per-source receive statistics, exactly as RFC 3550 A.1/A.3/A.8 compute them.

    ``clock_rate`` converts arrival times (seconds, the core's ``now``) to RTP timestamp
    units for the jitter estimate.
    """

    def __init__(self, ssrc: int, clock_rate: int) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = _SEQ_MOD + 1
        self.probation = MIN_SEQUENTIAL
        self.received = 0
        self.received_octets = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0
        self._transit: float | None = None
        self._initialised = False
        self.last_sr_ntp_middle = 0
        self.last_sr_arrival: float | None = None

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = _SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_octets = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, rtp_timestamp: int, arrival: float, payload_size: int = 0) -> bool:
        """Account one packet (RFC 3550 A.1 ``update_seq`` plus A.8 jitter); return False
        when the packet is rejected as not (yet) valid."""
        if not self._initialised:
            self._init_seq(seq)
            self.max_seq = (seq - 1) % _SEQ_MOD
            self.probation = MIN_SEQUENTIAL
            self._initialised = True
        udelta = (seq - self.max_seq) % _SEQ_MOD
        if self.probation:
            # A.1: a source is valid after MIN_SEQUENTIAL packets in sequence.
            if seq == (self.max_seq + 1) % _SEQ_MOD:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self._count(rtp_timestamp, arrival, payload_size)
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD  # sequence number wrapped
            self.max_seq = seq
        elif udelta <= _SEQ_MOD - MAX_MISORDER:
            # A.1: a very large jump; resync after two sequential packets.
            if seq == self.bad_seq:
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) % _SEQ_MOD
                return False
        # else: duplicate or reordered packet, counted below
        self._count(rtp_timestamp, arrival, payload_size)
        return True

    def _count(self, rtp_timestamp: int, arrival: float, payload_size: int) -> None:
        self.received += 1
        self.received_octets += payload_size
        # A.8: D(i-1,i) from relative transit times, in timestamp units.
        transit = arrival * self.clock_rate - rtp_timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d > (1 << 31):  # timestamp wrap between the two packets
                d = abs(d - (1 << 32))
            self.jitter += (d - self.jitter) / 16.0
        self._transit = transit

    @property
    def extended_max_seq(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """A.3: packets expected since the base sequence number."""
        return self.extended_max_seq - self.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """A.3: expected minus received, clamped to the signed 24-bit field."""
        lost = self.expected - self.received
        return max(-(1 << 23), min(lost, (1 << 23) - 1))

    def receive_sr(self, ntp: int, arrival: float) -> None:
        """Remember the last SR of this source, for LSR/DLSR (RFC 3550 §6.4.1)."""
        self.last_sr_ntp_middle = ntp_middle32(ntp)
        self.last_sr_arrival = arrival

    def report_block(self, now: float) -> ReportBlock:
        """A report block for this source; updates the "prior" counters of A.3 so the
        next block's fraction lost covers the next interval only."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self.last_sr_arrival is not None:
            dlsr = int((now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=self.cumulative_lost,
            highest_sequence=self.extended_max_seq & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=self.last_sr_ntp_middle,
            dlsr=dlsr,
        )
