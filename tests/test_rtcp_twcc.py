"""Transport-wide CC feedback built from arrivals (RTCP-07): seqs 1-20 with 5 lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.rtp import TransportWideCc, parse_rtcp
from pyrtcstack.rtp.twcc import TwccFeedbackBuilder


def reconstruct(fb: TransportWideCc) -> dict[int, float]:
    t = fb.reference_time * 0.064
    out = {}
    deltas = iter(fb.deltas)
    for i, s in enumerate(fb.statuses):
        if s:
            t += next(deltas) * 0.00025
            out[(fb.base_sequence + i) & 0xFFFF] = t
    return out


def test_twenty_packets_five_lost() -> None:
    b = TwccFeedbackBuilder(sender_ssrc=1, media_ssrc=2)
    lost = {3, 7, 8, 15, 19}
    arrivals = {s: 1000.0 + 0.005 * s + (0.02 if s == 12 else 0) for s in range(1, 21)}
    for s, t in arrivals.items():
        if s not in lost:
            b.record(s, t)
    fb = b.build()
    assert fb is not None
    (parsed,) = parse_rtcp(fb.serialize())
    assert isinstance(parsed, TransportWideCc)
    assert parsed.base_sequence == 1 and len(parsed.statuses) == 20
    assert [i + 1 for i, s in enumerate(parsed.statuses) if s == 0] == sorted(lost)
    got = reconstruct(parsed)
    assert set(got) == set(arrivals) - lost
    assert all(abs(got[s] - arrivals[s]) <= 0.000125 + 1e-9 for s in got)
    assert b.build() is None  # everything reported
    b.record(21, 1000.2)
    nxt = b.build()
    assert nxt is not None and nxt.base_sequence == 21 and nxt.feedback_count == 1


@settings(max_examples=100)
@given(
    st.lists(st.tuples(st.integers(0, 300), st.floats(0, 0.05)), min_size=1, max_size=80),
    st.integers(0, 0xFFFF),
)
def test_roundtrip_random_arrivals(gaps: list[tuple[int, float]], start: int) -> None:
    b = TwccFeedbackBuilder(1)
    t = 50.0
    arrivals: dict[int, float] = {}
    seq = start
    for step, dt in gaps:
        seq = (seq + 1 + step % 3) & 0xFFFF
        t += dt
        arrivals.setdefault(seq, t)
        b.record(seq, t)
    got: dict[int, float] = {}
    while (fb := b.build()) is not None:
        (parsed,) = parse_rtcp(fb.serialize())
        assert isinstance(parsed, TransportWideCc)
        got.update(reconstruct(parsed))
    assert set(got) == set(arrivals)
    assert all(abs(got[s] - arrivals[s]) <= 0.000125 + 1e-6 for s in got)
