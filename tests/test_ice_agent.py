"""The ICE agent on the virtual network: checks, pacing, roles, nomination, consent, restart,
trickle, lite, and hostile input. Everything runs on the virtual clock."""

from __future__ import annotations

import itertools
import random

import pytest

from pyrtcstack.ice import (
    MAX_PAIRS,
    MAX_REMOTE_CANDIDATES,
    TA,
    CandidateError,
    DataReceived,
    GatheringStateChanged,
    IceAgent,
    IceConfig,
    IceError,
    IceStaleCandidateError,
    LocalCandidate,
    SelectedPairChanged,
)
from pyrtcstack.stun import AttributeType as A
from pyrtcstack.stun import Message, MessageClass, Method, decode, short_term_key
from pyrtcstack.testing.icenet import SERVER, IceWorld, build
from pyrtcstack.testing.vnet import Link
from tests.freed import Watch, collector_off

LEFT = ("198.51.100.21", 40001)
RIGHT = ("198.51.100.22", 40002)


def _direct(**kwargs: object) -> IceWorld:
    world = build(None, None, stun=False, **kwargs)  # type: ignore[arg-type]
    world.start()
    return world


def _checks_from(world: IceWorld, src: tuple[str, int]) -> list[tuple[float, Message]]:
    return [
        (rec.at, decode(rec.data))
        for rec in world.net.trace
        if rec.src == src and rec.data[:2] == b"\x00\x01"
    ]


def test_direct_connection_states_and_data() -> None:
    world = _direct()
    assert world.run(10)
    left, right = world.left.agent, world.right.agent
    world.net.run_for(1)
    assert world.left.states == ["checking", "connected", "completed"]
    assert world.right.states == ["checking", "connected", "completed"]
    assert world.selected_types() == (("host", "host"), ("host", "host"))
    # data both ways on the selected pair
    now = world.net.now
    assert left.send(b"\x17hello", now)
    assert right.send(b"\x17world", now)
    world.net.run_for(1)
    got_right = [e for e in world.right.node.events if isinstance(e, DataReceived)]
    got_left = [e for e in world.left.node.events if isinstance(e, DataReceived)]
    assert [(e.data, e.remote) for e in got_right] == [(b"\x17hello", LEFT)]
    assert [(e.data, e.remote) for e in got_left] == [(b"\x17world", RIGHT)]
    assert [e for e in world.left.node.events if isinstance(e, SelectedPairChanged)]


def test_check_attributes_rfc8445_7_2_2() -> None:
    world = _direct()
    assert world.run(10)
    left, right = world.left.agent, world.right.agent
    _at, check = _checks_from(world, LEFT)[0]
    assert check.get_text(A.USERNAME) == f"{right.local_ufrag}:{left.local_ufrag}"
    assert check.get_uint32(A.PRIORITY) == (110 << 24) + (65535 << 8) + 255  # prflx
    assert check.get_uint64(A.ICE_CONTROLLING) == left.tie_breaker
    assert A.ICE_CONTROLLED not in check
    assert check.has_fingerprint
    assert check.verify_integrity(short_term_key(right.local_pwd))
    # the controlled side's checks say so; USE-CANDIDATE only from the controlling one
    controlled = [m for _, m in _checks_from(world, RIGHT)]
    assert all(A.ICE_CONTROLLED in m and A.USE_CANDIDATE not in m for m in controlled)
    assert any(A.USE_CANDIDATE in m for _, m in _checks_from(world, LEFT))


def test_checks_are_paced_by_ta_rfc8445_14_2() -> None:
    world = build(None, None, stun=False, internet=Link(delay=0.3))
    net = world.net
    # three host addresses on the left, two on the right: six pairs
    extra_left = [("198.51.100.31", 5000), ("198.51.100.32", 5000)]
    extra_right = [("198.51.100.41", 5000)]
    for addr in extra_left:
        net.add_host("left", addr[0])
        net.bind(world.left.node, addr)
    for addr in extra_right:
        net.add_host("right", addr[0])
        net.bind(world.right.node, addr)
    world.start()
    assert world.run(20)
    first: dict[bytes, float] = {}
    for rec in net.trace:
        if rec.src[0] in ("198.51.100.21", "198.51.100.31", "198.51.100.32"):
            if rec.data[:2] == b"\x00\x01":
                first.setdefault(rec.data[8:20], rec.at)
    times = sorted(first.values())
    assert len(times) >= 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= TA - 1e-9


@pytest.mark.parametrize("both_controlling", [True, False])
def test_role_conflict_resolved_by_tie_breaker_rfc8445_7_3_1_1(both_controlling: bool) -> None:
    world = build(
        None,
        None,
        stun=False,
        left_config=IceConfig(controlling=both_controlling),
        right_config=IceConfig(controlling=both_controlling),
        seed=3,
    )
    world.start()
    assert world.run(20)
    left, right = world.left.agent, world.right.agent
    assert world.connected()
    assert left.controlling != right.controlling
    # either way the larger tie-breaker ends up controlling
    winner = left if left.tie_breaker > right.tie_breaker else right
    assert winner.controlling
    assert left.stats["role_switches"] + right.stats["role_switches"] == 1
    assert left.stats["role_conflicts_answered"] + right.stats["role_conflicts_answered"] >= 1


def _check(
    agent: IceAgent,
    remote_ufrag: str,
    *,
    pwd: str | None = None,
    username: str | None = None,
    fingerprint: bool = True,
    controlling: int | None = 1,
    use_candidate: bool = False,
    priority: int = 1862270975,
) -> bytes:
    msg = Message(Method.BINDING, MessageClass.REQUEST, random.randbytes(12))
    msg.add_text(A.USERNAME, username or f"{agent.local_ufrag}:{remote_ufrag}")
    msg.add_uint32(A.PRIORITY, priority)
    if controlling is not None:
        msg.add_uint64(A.ICE_CONTROLLING, controlling)
    else:
        msg.add_uint64(A.ICE_CONTROLLED, 1)
    if use_candidate:
        msg.add(A.USE_CANDIDATE)
    return msg.encode(short_term_key(pwd or agent.local_pwd), fingerprint=fingerprint)


def _controlled_agent() -> IceAgent:
    agent = IceAgent(IceConfig(controlling=False), rng=random.Random(1))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0)
    return agent


def test_bad_checks_are_dropped_and_counted() -> None:
    agent = _controlled_agent()
    src = ("192.0.2.9", 9)
    agent.receive_datagram(_check(agent, "peer", fingerprint=False), src, 0.1)
    agent.receive_datagram(_check(agent, "peer", username="nobody:peer"), src, 0.1)
    agent.receive_datagram(_check(agent, "peer", pwd="x" * 22), src, 0.1)
    agent.receive_datagram(_check(agent, "other"), src, 0.1)
    agent.receive_datagram(b"\x00\x01\x00\x00garbage-garbage!", src, 0.1)
    assert agent.transmits(0.1) == []
    assert agent.stats["check_no_fingerprint"] == 1
    assert agent.stats["check_wrong_username"] == 1
    assert agent.stats["check_bad_integrity"] == 1
    assert agent.stats["check_wrong_remote_ufrag"] == 1
    assert agent.stats["dropped_malformed_stun"] == 1
    assert agent.remote_candidates == []
    # a good one is answered from the socket it came to, with our integrity
    agent.receive_datagram(_check(agent, "peer"), src, 0.2)
    ((data, local, remote),) = agent.transmits(0.2)
    assert (local, remote) == (("192.0.2.1", 5000), src)
    resp = decode(data)
    assert resp.message_class is MessageClass.SUCCESS
    assert resp.get_address(A.XOR_MAPPED_ADDRESS) == src
    assert resp.verify_integrity(short_term_key(agent.local_pwd))
    assert [c.type.value for c in agent.remote_candidates] == ["prflx"]


def test_flood_from_unknown_addresses_is_bounded() -> None:
    agent = _controlled_agent()
    for i in range(3 * MAX_REMOTE_CANDIDATES):
        src = (f"10.{i // 250}.{i % 250}.1", 1000 + i)
        agent.receive_datagram(_check(agent, "peer"), src, 0.1 + i * 1e-4)
        agent.transmits(0.1)
    assert len(agent.remote_candidates) == MAX_REMOTE_CANDIDATES
    assert len(agent.pairs) <= MAX_PAIRS
    assert agent.stats["remote_candidates_full"] == 2 * MAX_REMOTE_CANDIDATES
    # unauthenticated floods create nothing at all
    fresh = _controlled_agent()
    for i in range(1000):
        fresh.receive_datagram(_check(fresh, "peer", pwd="y" * 22), ("10.9.9.9", i + 1), 0.1)
    assert fresh.remote_candidates == [] and fresh.transmits(0.1) == []


def test_early_check_before_remote_credentials_rfc8445_7_3() -> None:
    world = build(None, None, stun=False, drop_candidate=lambda c: True)
    left, right = world.left.agent, world.right.agent
    now = world.net.now
    left.gather([LEFT], now)
    right.gather([RIGHT], now)
    left.set_remote_credentials(right.local_ufrag, right.local_pwd, now)
    left.add_remote_candidate(str(right.local_candidates[0].to_sdp()), now)
    world.net.run_for(0.3)
    # the right agent answered without knowing the left's credentials, and learnt prflx
    assert right.stats["checks_received"] >= 1
    assert [c.type.value for c in right.remote_candidates] == ["prflx"]
    assert left.generation.best_valid() is not None
    right.set_remote_credentials(left.local_ufrag, left.local_pwd, world.net.now)
    assert world.run(10) and world.connected()


def test_mdns_candidates_dropped_and_prflx_takes_over() -> None:
    world = build(
        None,
        None,
        stun=False,
        drop_candidate=lambda c: c.address == LEFT,  # the left hides behind mDNS
    )
    world.start()
    right = world.right.agent
    mdns = "candidate:1 1 udp 2122260223 0b9c6a8f-1d8e-4a52-9d1f-1a2b3c4d5e6f.local 40001 typ host"
    assert right.add_remote_candidate(mdns, world.net.now) is False
    assert right.stats["remote_mdns_dropped"] == 1
    assert world.run(10) and world.connected()
    assert world.selected_types()[1] == ("host", "prflx")


def test_stale_generation_and_misuse() -> None:
    agent = _controlled_agent()
    cand = "candidate:1 1 udp 2122260223 192.0.2.7 1 typ host"
    with pytest.raises(IceStaleCandidateError):
        agent.add_remote_candidate(cand, 0.0, ufrag="old")
    with pytest.raises(IceStaleCandidateError):
        agent.end_of_remote_candidates(0.0, ufrag="old")
    assert agent.add_remote_candidate(cand, 0.0, ufrag="peer")
    assert not agent.add_remote_candidate(cand, 0.0)  # duplicate (TRK-03)
    assert agent.stats["remote_duplicate"] == 1
    assert not agent.add_remote_candidate(cand.replace(" 1 udp", " 2 udp"), 0.0)
    assert not agent.add_remote_candidate(
        "candidate:1 1 tcp 2122260223 192.0.2.7 9 typ host tcptype active", 0.0
    )
    with pytest.raises(IceError):
        agent.gather([("192.0.2.1", 5001)], 0.0)
    with pytest.raises(IceError):
        agent.set_remote_credentials("changed", "p" * 22, 0.0)
    with pytest.raises(IceError):
        IceAgent(IceConfig(local_ufrag="abc"))
    assert agent.send(b"x", 0.0) is True  # no valid pair yet: held (RFC 8445 §12.1)
    agent.close(0.0)
    assert agent.send(b"x", 0.0) is False


def _blackhole(world: IceWorld) -> None:
    def drop(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bool:
        return True

    world.net.internet.link.drop_if = drop


def test_consent_loss_disconnected_then_failed_rfc7675() -> None:
    world = _direct(seed=5)
    assert world.run(10)
    left = world.left.agent
    world.net.run_for(20)
    assert left.connection_state == "completed"
    assert left.stats["consent_requests_sent"] >= 3  # every 4-6 s
    last_ok = left.consent.last_ok
    assert last_ok is not None
    _blackhole(world)
    world.net.run(lambda: left.connection_state == "disconnected", timeout=10)
    assert left.connection_state == "disconnected"
    assert world.net.now - last_ok <= 6.0 + 2.5 + 0.1
    world.net.run(lambda: left.connection_state == "failed", timeout=40)
    assert left.connection_state == "failed"
    assert abs(world.net.now - (last_ok + 30.0)) < 1e-6
    assert left.send(b"\x17late", world.net.now) is False  # RFC 7675: stop sending
    assert world.left.states[-2:] == ["disconnected", "failed"]


def test_consent_recovery() -> None:
    world = _direct(seed=6)
    assert world.run(10)
    left = world.left.agent
    world.net.run_for(10)
    _blackhole(world)
    world.net.run(lambda: left.connection_state == "disconnected", timeout=15)
    assert left.connection_state == "disconnected"
    world.net.internet.link.drop_if = None
    world.net.run(lambda: left.connection_state in ("connected", "completed"), timeout=10)
    assert left.connection_state in ("connected", "completed")
    assert world.left.states[-2] == "disconnected"


def test_ice_restart_keeps_data_flowing_rfc8445_9() -> None:
    world = _direct(seed=7)
    assert world.run(10)
    left, right = world.left.agent, world.right.agent
    world.net.run_for(2)
    old_ufrag = left.local_ufrag
    world.restart()
    assert left.local_ufrag != old_ufrag
    # data keeps going on the old pair during the restart
    for i in range(20):
        world.net.run_for(0.01)
        assert left.send(b"\x17%d" % i, world.net.now)
    world.net.run(
        lambda: left.generation.selected is not None and right.generation.selected is not None,
        timeout=10,
    )
    world.net.run_for(1)
    got = [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert got == [b"\x17%d" % i for i in range(20)]
    selections = [e for e in world.left.node.events if isinstance(e, SelectedPairChanged)]
    assert len(selections) == 2
    assert left.previous is None
    # the new checks carry the new credentials
    last_check = _checks_from(world, LEFT)[-1][1]
    assert last_check.get_text(A.USERNAME) == f"{right.local_ufrag}:{left.local_ufrag}"
    # candidates were re-announced with the new ufrag, gathering completed again
    gathered = [e for e in world.left.node.events if isinstance(e, LocalCandidate)]
    assert {e.ufrag for e in gathered} == {old_ufrag, left.local_ufrag}
    states = [e for e in world.left.node.events if isinstance(e, GatheringStateChanged)]
    assert [e.state for e in states] == ["gathering", "complete", "gathering", "complete"]


def test_late_trickle_pac_rfc8863() -> None:
    world = build(None, None, stun=False)
    world.candidate_delay = 20.0  # credentials now, candidates 20 s later
    world.start()
    world.net.run_for(19.9)
    assert world.left.agent.connection_state == "checking"
    assert world.run(10) and world.connected()


def test_failure_after_end_of_candidates() -> None:
    world = build("symmetric", "symmetric", seed=2)
    world.start()
    assert world.run(60)
    assert world.left.agent.connection_state == "failed"
    assert world.selected_types() == (("-", "-"), ("-", "-"))


def test_lite_agent_rfc8445_2_5() -> None:
    world = build(None, None, stun=False, right_config=IceConfig(controlling=True, lite=True))
    world.start()
    assert world.run(10) and world.connected()
    right = world.right.agent
    assert right.controlling is False  # a lite agent is controlled
    assert right.stats["checks_sent"] == 0
    assert _checks_from(world, RIGHT) == []
    world.net.run_for(31)
    indications = [r for r in world.net.trace if r.src == RIGHT and r.data[:2] == b"\x00\x11"]
    assert len(indications) == 2  # RFC 8445 §11: Tr = 15 s


def test_remote_lite_makes_us_controlling() -> None:
    agent = IceAgent(IceConfig(controlling=False))
    agent.gather([("192.0.2.1", 5000)], 0.0)
    agent.set_remote_credentials("peer", "p" * 22, 0.0, lite=True)
    assert agent.controlling is True


def test_relay_only_policy() -> None:
    world = build(
        "full-cone",
        "full-cone",
        turn=True,
        left_config=IceConfig(controlling=True, relay_only=True),
    )
    world.start()
    assert world.run(20) and world.connected()
    assert world.selected_types()[0][0] == "relay"
    signalled = [e.candidate for e in world.left.node.events if isinstance(e, LocalCandidate)]
    assert [c.type.value for c in signalled] == ["relay"]


def test_gathering_reports_unreachable_stun_server() -> None:
    world = build("udp-blocked", None, turn=True)
    world.start()
    world.net.run_for(45)
    errors = [e for e in world.left.node.events if isinstance(e, CandidateError)]
    assert {e.server for e in errors} == {SERVER}
    assert world.left.agent.gathering_state == "complete"


def test_same_seed_same_ice_run() -> None:
    def run(seed: int) -> str:
        world = build(
            "port-restricted",
            "symmetric",
            turn=True,
            seed=seed,
            internet=Link(delay=0.02, jitter=0.01, loss=0.1),
        )
        world.start()
        world.run(60)
        world.net.run_for(5)
        return world.net.trace_digest()

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_dual_stack_checks_interleave_families_rfc8421() -> None:
    world = build(None, None, stun=False, internet=Link(delay=0.3))
    net = world.net
    for peer, ip in ((world.left, "2001:db8::21"), (world.right, "2001:db8::22")):
        net.add_host(peer.name, ip)
        net.bind(peer.node, (ip, 7000))
    world.start()
    assert world.run(20) and world.connected()
    sockets = (LEFT, ("2001:db8::21", 7000))
    checks = [r for r in net.trace if r.src in sockets and r.data[:2] == b"\x00\x01"]
    # IPv6 first (the highest local preference), IPv4 in the very next check
    assert [":" in r.src[0] for r in checks[:2]] == [True, False]
    assert world.selected_types() == (("host", "host"), ("host", "host"))
    assert world.left.agent.selected_pair is not None
    assert world.left.agent.selected_pair.remote.address == ("2001:db8::22", 7000)


def test_controlled_follows_a_later_nomination() -> None:
    world = build(None, None, stun=False)
    net = world.net
    second = ("198.51.100.31", 5000)
    net.add_host("left", second[0])
    net.bind(world.left.node, second)
    world.start()
    assert world.run(10) and world.connected()
    world.net.run_for(1)
    left, right = world.left.agent, world.right.agent
    first_pair = right.selected_pair
    assert first_pair is not None and first_pair.remote.address == LEFT
    # the controlling peer nominates another pair (as Chrome may): a USE-CANDIDATE check
    # from its second address
    check = _check(right, left.local_ufrag, use_candidate=True, controlling=left.tie_breaker)
    right.receive_datagram(check, second, world.net.now, local=RIGHT)
    world.net.run_for(1)
    pair = right.selected_pair
    assert pair is not None and pair.remote.address == second
    changes = [e for e in world.right.node.events if isinstance(e, SelectedPairChanged)]
    assert [e.remote.address for e in changes] == [LEFT, second]


def test_restart_after_consent_failure_recovers() -> None:
    world = _direct(seed=8)
    assert world.run(10)
    left = world.left.agent
    _blackhole(world)
    world.net.run(lambda: left.connection_state == "failed", timeout=60)
    assert left.connection_state == "failed"
    world.net.internet.link.drop_if = None
    world.restart()
    assert left.previous is None  # the pair without consent is not kept
    # no pair to send on: held for the new generation's first valid pair (RFC 8445 §12.1;
    # a valid pair is a fresh consent, RFC 7675 §5.1)
    assert left.send(b"\x17x", world.net.now) is True
    assert world.run(10) and world.connected()
    world.net.run_for(1)
    assert left.send(b"\x17after", world.net.now)
    world.net.run_for(1)
    got = [e.data for e in world.right.node.events if isinstance(e, DataReceived)]
    assert got[-2:] == [b"\x17x", b"\x17after"]


def _drive_alone(agent: IceAgent, until: float) -> list[tuple[float, bytes, tuple[str, int]]]:
    """Run a lone agent on its own timer (nobody answers); every datagram it sends."""
    sent: list[tuple[float, bytes, tuple[str, int]]] = []
    now = 0.0
    while True:
        sent.extend((now, data, remote) for data, _local, remote in agent.transmits(now))
        deadline = agent.get_timer()
        if deadline is None or deadline > until:
            return sent
        now = deadline
        agent.handle_timer(now)


def test_srflx_gathering_uses_the_rfc8489_6_2_1_schedule() -> None:
    """The srflx Binding request is a stun ClientTransaction: sends at 0, 0.5, 1.5, 3.5,
    7.5, 15.5, 31.5 s, CandidateError (701) at 39.5 s."""
    from pyrtcstack.stun.transaction import UDP_POLICY, ClientTransaction

    server = ("198.51.100.1", 3478)
    agent = IceAgent(IceConfig(stun_servers=[server]), rng=random.Random(7))
    agent.gather([LEFT], 0.0)
    assert all(isinstance(tx.client, ClientTransaction) for tx in agent.transactions)
    sent = _drive_alone(agent, 100.0)
    assert {remote for _t, _d, remote in sent} == {server}
    assert len({data for _t, data, _r in sent}) == 1  # retransmissions are the same bytes
    sends, timeout = UDP_POLICY.schedule()
    assert [t for t, _d, _r in sent] == pytest.approx(sends)
    assert sends == pytest.approx([0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]) and timeout == 39.5
    events = []
    while (e := agent.next_event()) is not None:
        events.append(e)
    errors = [e for e in events if isinstance(e, CandidateError)]
    assert [(e.server, e.code) for e in errors] == [(server, 701)]
    assert agent.gathering_state == "complete" and not len(agent.transactions)
    assert agent.stats["retransmissions"] == 6


def test_unanswered_check_follows_rfc8445_14_3_rto() -> None:
    """A check nobody answers: RTO = max(500 ms, Ta × N) (RFC 8445 §14.3) through the stun
    RetransmissionPolicy, 7 sends, then the pair fails."""
    from pyrtcstack.ice import PairState
    from pyrtcstack.ice.transactions import check_policy

    agent = IceAgent(IceConfig(controlling=True), rng=random.Random(8))
    agent.gather([LEFT], 0.0)
    agent.set_remote_credentials("abcd", "x" * 22, 0.0)
    agent.add_remote_candidate(f"candidate:1 1 udp 2130706431 {RIGHT[0]} {RIGHT[1]} typ host", 0.0)
    sent = _drive_alone(agent, 100.0)
    checks = [t for t, data, remote in sent if remote == RIGHT and data[:2] == b"\x00\x01"]
    sends, _timeout = check_policy(agent.config.ta, 1, 7).schedule()
    assert checks == pytest.approx(sends)
    assert agent.pairs[0].state is PairState.FAILED
    assert agent.stats["check_timeouts"] == 1


def _selections(world: IceWorld, side: str) -> list[SelectedPairChanged]:
    node = world.left.node if side == "left" else world.right.node
    return [e for e in node.events if isinstance(e, SelectedPairChanged)]


def test_valid_pair_used_before_nomination_rfc8445_12_1() -> None:
    """Both sides use the valid pair one round trip after the first checks, before the
    nomination (which needs one more Ta); the nominated pair is the same one: no second
    event. Data flows on it before selection."""
    world = _direct()  # one-way delay 20 ms
    left, right = world.left.agent, world.right.agent
    assert world.net.run(lambda: None not in (left.selected_pair, right.selected_pair))
    first = _checks_from(world, LEFT)[0][0]
    assert world.net.now == pytest.approx(first + 0.04)  # one round trip, < Ta + RTT
    for side, agent in (("left", left), ("right", right)):
        assert agent.connection_state == "connected"
        pair = agent.selected_pair
        assert pair is not None and not pair.nominated
        assert len(_selections(world, side)) == 1
    now = world.net.now
    assert left.send(b"\x17early", now) and right.send(b"\x17early", now)
    world.net.run_for(2)
    for side, agent in (("left", left), ("right", right)):
        node = world.left.node if side == "left" else world.right.node
        assert [e.data for e in node.events if isinstance(e, DataReceived)] == [b"\x17early"]
        assert len(_selections(world, side)) == 1  # the nominated pair is the one in use
        pair = agent.selected_pair
        assert pair is not None and pair.nominated
    # the first check left at once, the nomination one Ta later (RFC 8445 §14.2 pacing:
    # the earliest regular nomination, §8.1.1)
    checks = _checks_from(world, LEFT)
    assert A.USE_CANDIDATE not in checks[0][1]
    assert [t for t, m in checks if A.USE_CANDIDATE in m] == [pytest.approx(first + TA)]


def test_valid_pairs_not_used_when_disabled() -> None:
    world = _direct(
        left_config=IceConfig(controlling=True, use_valid_pairs=False),
        right_config=IceConfig(controlling=False, use_valid_pairs=False),
    )
    left, right = world.left.agent, world.right.agent
    assert world.net.run(lambda: None not in (left.selected_pair, right.selected_pair))
    first = _checks_from(world, LEFT)[0][0]
    assert world.net.now >= first + TA  # only the nomination selects
    for agent in (left, right):
        pair = agent.selected_pair
        assert pair is not None and pair.nominated


def test_answerer_waits_for_a_check_of_the_peer_before_using_a_pair() -> None:
    """The answerer's checks are answered by the offerer before the offerer has the answer
    (early checks, RFC 8445 §7.3): the pair is valid, but data would reach a peer not yet
    ready for it. It is used only once a check of the peer (which then has our
    credentials) arrived."""
    world = build(None, None, stun=False)
    world.start(signal_credentials=False)
    left, right = world.left.agent, world.right.agent
    right.set_remote_credentials(left.local_ufrag, left.local_pwd, world.net.now)
    world.net.run_for(0.5)  # candidates trickle; the answer (right's credentials) is slow
    assert right.generation.best_valid() is not None  # its check was answered
    assert right.selected_pair is None and right.connection_state == "checking"
    assert not _selections(world, "right")
    left.set_remote_credentials(right.local_ufrag, right.local_pwd, world.net.now)
    answered = world.net.now
    assert world.net.run(lambda: right.selected_pair is not None)
    assert world.net.now == pytest.approx(answered + 0.02)  # left's first check arrived
    assert right.connection_state == "connected"


def test_a_closed_agent_with_a_check_in_flight_is_freed_by_reference_counting() -> None:
    """A check in flight and its pair refer to each other (``pair.transaction``,
    ``tx.pair``): close() unlinks them, so nothing of the agent is left in a cycle for the
    collector (found by the peer connection's lifetime tests under load: a check still
    outstanding when the connection closed)."""
    with collector_off():
        agent = IceAgent(IceConfig(controlling=True))
        agent.gather([("127.0.0.1", 40000)], 0.0)
        agent.set_remote_credentials("abcd", "x" * 22, 0.0)
        assert agent.add_remote_candidate(
            "candidate:1 1 udp 2130706431 127.0.0.1 40001 typ host", 0.0
        )
        now = 0.0
        while not agent.transactions:  # the first check leaves (unanswered)
            agent.transmits(now)
            now = max(now + 0.001, agent.get_timer() or now)
            agent.handle_timer(now)
        agent.close(now)
        del agent
        Watch().assert_freed()
