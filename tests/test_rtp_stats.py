"""RFC 3550 Appendix A reception statistics: probation, wrap, resync, loss, jitter."""

from __future__ import annotations

import itertools

from pyrtcstack.rtp.stats import (
    ReceptionStatistics,
    ntp_middle32,
    ntp_timestamp,
)


def test_probation_wrap_and_loss() -> None:
    s = ReceptionStatistics(1, 8000)
    assert s.update(65530, 0, 0.0) is False  # probation (MIN_SEQUENTIAL = 2)
    assert s.update(65531, 160, 0.02) is True
    for i, seq in enumerate([65532, 65533, 65535, 0, 1, 3]):  # 65534 and 2 lost
        assert s.update(seq, 160 * (i + 2), 0.02 * (i + 2))
    assert s.extended_max_seq == 65536 + 3 and s.cycles == 65536
    assert s.expected == 9 and s.received == 7 and s.cumulative_lost == 2
    block = s.report_block(1.0)
    assert block.fraction_lost == (2 << 8) // 9
    assert block.highest_sequence == 65539
    assert block.jitter == 0  # packets arrived exactly on their timestamps
    assert s.report_block(1.1).fraction_lost == 0  # nothing new in this interval


def test_large_jump_resyncs_after_two_sequential() -> None:
    # RTP-03: a jump > MAX_DROPOUT is ignored once, accepted when the next follows it
    s = ReceptionStatistics(1, 8000)
    s.update(100, 0, 0)
    s.update(101, 0, 0)
    assert s.update(20000, 0, 0) is False
    assert s.update(20001, 0, 0) is True
    assert s.max_seq == 20001 and s.received == 1  # statistics restarted at the new base


def test_duplicates_can_make_loss_negative_and_lsr_dlsr() -> None:
    s = ReceptionStatistics(1, 8000)
    for seq in (1, 2, 3, 3, 3):
        s.update(seq, 0, 0)
    assert s.cumulative_lost == -2  # RFC 3550 A.3: duplicates count as received
    ntp = ntp_timestamp(3_900_000_000.5)
    s.receive_sr(ntp, 10.0)
    block = s.report_block(10.25)
    assert block.lsr == ntp_middle32(ntp) and block.dlsr == 65536 // 4


def test_jitter_follows_a8() -> None:
    s = ReceptionStatistics(1, 8000)
    arrivals = [(0.0, 0), (0.02, 160), (0.045, 320), (0.06, 480), (0.1, 640)]
    for i, (t, ts) in enumerate(arrivals):
        s.update(i, ts, t)
    j = 0.0
    transits = [t * 8000 - ts for t, ts in arrivals[1:]]
    for a, b in itertools.pairwise(transits):
        j += (abs(b - a) - j) / 16
    assert abs(s.jitter - j) < 1e-9 and s.jitter > 0
