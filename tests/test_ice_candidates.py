"""ICE candidate arithmetic: priorities, pair priorities, foundations, RFC 8421 ordering,
and the SDP round trip through pyrtcstack.sdp.Candidate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.ice import (
    CandidateType,
    IceAgent,
    IceCandidate,
    IceConfig,
    LocalCandidate,
    candidate_priority,
    interleave_families,
    local_preferences,
    pair_priority,
)
from pyrtcstack.sdp import Candidate


def test_candidate_priority_rfc8445_5_1_2_1() -> None:
    # ICE-01: host, local preference 65535, component 1
    assert candidate_priority(CandidateType.HOST) == 2130706431
    assert candidate_priority(CandidateType.SRFLX) == 1694498815
    assert candidate_priority(CandidateType.PRFLX) == 1862270975
    assert candidate_priority(CandidateType.RELAY) == 16777215
    assert candidate_priority(CandidateType.HOST, 65535, 2) == 2130706430


def test_pair_priority_rfc8445_6_1_2_3() -> None:
    # ICE-03: G = controlling's candidate, D = controlled's
    g, d = 2130706431, 1694498815
    assert pair_priority(g, d) == 7277816997797167103
    assert pair_priority(d, g) == 7277816997797167102
    assert pair_priority(5, 5) == (5 << 32) + 10


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_pair_priority_orders_by_minimum_first(g: int, d: int) -> None:
    p = pair_priority(g, d)
    assert p >> 32 == min(g, d)
    assert pair_priority(g, d) - pair_priority(d, g) == (1 if g > d else -1 if d > g else 0)


def test_rfc8421_interleaves_families_and_ranks_interfaces() -> None:
    addrs = [("192.0.2.1", 1), ("192.0.2.2", 2), ("2001:db8::1", 3), ("2001:db8::2", 4)]
    assert interleave_families(addrs) == [
        ("2001:db8::1", 3),
        ("192.0.2.1", 1),
        ("2001:db8::2", 4),
        ("192.0.2.2", 2),
    ]
    prefs = local_preferences(addrs)
    assert len(set(prefs.values())) == 4
    assert prefs[("2001:db8::1", 3)] == 65535
    assert prefs[("192.0.2.1", 1)] > prefs[("2001:db8::2", 4)] > prefs[("192.0.2.2", 2)]


def test_foundations_rfc8445_5_1_1_3() -> None:
    agent = IceAgent(IceConfig(stun_servers=[("198.51.100.1", 3478)]))
    agent.gather([("192.0.2.1", 1000), ("192.0.2.1", 1001), ("192.0.2.2", 1000)], 0.0)
    hosts = [c for c in agent.local_candidates if c.type is CandidateType.HOST]
    # same type, same base IP (and no server): same foundation; other base IP: another
    assert hosts[0].foundation == hosts[1].foundation != hosts[2].foundation
    # srflx from the same base via the same server share one; srflx differs from host
    srflx = agent.gathering.foundation("srflx", "192.0.2.1", "198.51.100.1", "udp")
    assert srflx == agent.gathering.foundation("srflx", "192.0.2.1", "198.51.100.1", "udp")
    assert srflx != hosts[0].foundation
    # every host candidate came out as an event at once (trickle)
    events = []
    while (e := agent.next_event()) is not None:
        events.append(e)
    assert [e.candidate for e in events if isinstance(e, LocalCandidate)] == hosts


def test_sdp_round_trip_of_our_candidates() -> None:
    cand = IceCandidate(
        CandidateType.SRFLX,
        ("203.0.113.7", 40000),
        1694498815,
        "2",
        related=("10.0.0.2", 5000),
    )
    text = str(cand.to_sdp())
    assert text == (
        "candidate:2 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 10.0.0.2 rport 5000"
    )
    back = IceCandidate.from_sdp(Candidate.parse(text))
    assert (back.type, back.address, back.priority, back.foundation, back.related) == (
        cand.type,
        cand.address,
        cand.priority,
        cand.foundation,
        cand.related,
    )


@pytest.mark.parametrize(
    "text",
    [
        "candidate:1 1 udp 2122260223 4e9e56ac-55d4-4ad1-9b6d-9d4ca1e2a2f9.local 54321 typ host",
        "candidate:1 1 TCP 2105524479 192.0.2.1 9 typ host tcptype active",
        "candidate:1 1 udp 2122260223 192.0.2.1 9 typ weird",
    ],
)
def test_unusable_remote_candidates_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        IceCandidate.from_sdp(Candidate.parse(text))


def test_firefox_style_uppercase_udp_and_ipv6() -> None:
    c = IceCandidate.from_sdp(
        Candidate.parse("candidate:0 1 UDP 2122252543 2001:DB8::1 5000 typ host")
    )
    assert c.address == ("2001:db8::1", 5000)
    assert c.family == 6


@pytest.mark.corpus
def test_every_corpus_candidate_is_taken_or_dropped_with_a_reason() -> None:
    """Real candidates (Chrome, Firefox, pion, Janus... in ../shared/corpus/sdp) go into an
    agent: UDP ones are paired, TCP ones are dropped and counted, nothing raises."""
    from pyrtcstack.sdp import ParseError
    from tests.peers import corpus

    folder = corpus("sdp")
    lines = [
        line.strip()
        for path in sorted(folder.glob("*.sdp"))
        for line in path.read_text(errors="replace").splitlines()
        if line.startswith("a=candidate:")
    ]
    assert len(lines) > 50
    taken = dropped = unparsable = 0
    for line in lines:
        agent = IceAgent(IceConfig(controlling=True))
        agent.gather([("192.0.2.1", 5000), ("2001:db8::1", 5000)], 0.0)
        try:
            added = agent.add_remote_candidate(line, 0.0)
        except ParseError:
            unparsable += 1
            continue
        if added:
            taken += 1
            assert agent.pairs  # paired with the host of the same family
        else:
            dropped += 1
    counted = taken + dropped
    assert taken >= 60 and dropped >= 20 and counted + unparsable == len(lines)
