"""RFC 3263 §4 server location (sip/locate.py) on canned DNS answers: transport choice from
the URI, NAPTR and SRV, RFC 2782's ordering with a seeded RNG, and the bounds."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.dns import (
    AAAA,
    CNAME,
    NAPTR,
    SRV,
    TYPE_A,
    TYPE_AAAA,
    TYPE_NAPTR,
    TYPE_SRV,
    A,
    Message,
    Question,
    RData,
    Record,
    make_query,
)
from pyrtcstack.sip import (
    MAX_QUERIES,
    MAX_SRV_TARGETS,
    LocateError,
    ServerLocator,
    SipTarget,
    order_srv,
)

Zone = dict[tuple[str, int], list[Record] | int]


def respond(zone: Zone, name: str, rtype: int) -> Message:
    """The answer a server for ``zone`` gives: its records, an rcode (3 = NXDOMAIN), or
    NOERROR with no data."""
    query = make_query(name, rtype, random.Random(0))
    entry = zone.get((name, rtype), [])
    if isinstance(entry, int):
        return Message(query.id, 0x8180 | entry, query.questions)
    return Message(query.id, 0x8180, query.questions, tuple(entry))


def locate(uri: str, zone: Zone, **kwargs: object) -> tuple[list[SipTarget], list[tuple[str, int]]]:
    loc = ServerLocator(uri, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]
    asked: list[tuple[str, int]] = []
    while (q := loc.next_query()) is not None:
        asked.append(q)
        loc.answer(respond(zone, *q))
    return loc.targets, asked


def rec(name: str, data: RData) -> Record:
    return Record(name, data, 60)


D = "example.test"
ZONE: Zone = {
    (D, TYPE_NAPTR): [
        rec(D, NAPTR(20, 50, "s", "SIP+D2T", "", f"_sip._tcp.{D}")),
        rec(D, NAPTR(10, 50, "s", "SIP+D2U", "", f"_sip._udp.{D}")),
        rec(D, NAPTR(5, 50, "s", "SIP+D2S", "", f"_sip._sctp.{D}")),  # SCTP: not ours
        rec(D, NAPTR(1, 50, "u", "E2U+sip", "!^.*$!sip:x@y!", ".")),  # not an "s" rule
    ],
    (f"_sip._udp.{D}", TYPE_SRV): [
        rec(f"_sip._udp.{D}", SRV(20, 0, 5071, f"b.{D}")),
        rec(f"_sip._udp.{D}", SRV(10, 60, 5070, f"a.{D}")),
    ],
    (f"_sip._tcp.{D}", TYPE_SRV): [rec(f"_sip._tcp.{D}", SRV(0, 0, 5080, f"a.{D}"))],
    (f"a.{D}", TYPE_A): [rec(f"a.{D}", A("192.0.2.1"))],
    (f"a.{D}", TYPE_AAAA): [rec(f"a.{D}", AAAA("2001:db8::1"))],
    (f"b.{D}", TYPE_A): [rec(f"b.{D}", CNAME(f"c.{D}")), rec(f"c.{D}", A("192.0.2.3"))],
}


def test_naptr_then_srv_then_addresses() -> None:
    targets, asked = locate(f"sip:bob@{D}", ZONE)
    assert asked == [
        (D, TYPE_NAPTR),
        (f"_sip._udp.{D}", TYPE_SRV),  # order 10 SIP+D2U: the first rule we support
        (f"a.{D}", TYPE_A), (f"a.{D}", TYPE_AAAA),  # priority 10 before priority 20
        (f"b.{D}", TYPE_A), (f"b.{D}", TYPE_AAAA),
    ]  # fmt: skip
    assert targets == [
        SipTarget("192.0.2.1", 5070, "UDP", f"a.{D}"),
        SipTarget("2001:db8::1", 5070, "UDP", f"a.{D}"),
        SipTarget("192.0.2.3", 5071, "UDP", f"b.{D}"),  # through b's CNAME
    ]


def test_naptr_skips_the_transports_we_lack() -> None:
    targets, asked = locate(f"sip:bob@{D}", ZONE, transports=["TCP"])
    assert asked[1] == (f"_sip._tcp.{D}", TYPE_SRV)
    assert {(t.port, t.transport) for t in targets} == {(5080, "TCP")}


def test_sips_uses_only_secure_services() -> None:
    zone = dict(ZONE)
    zone[(f"_sips._tcp.{D}", TYPE_SRV)] = [rec(f"_sips._tcp.{D}", SRV(0, 0, 5061, f"a.{D}"))]
    # the NAPTRs offer no SIPS service: the SRV fallback tries _sips._tcp only
    targets, asked = locate(f"sips:bob@{D}", zone)
    assert [q for q in asked if q[1] == TYPE_SRV] == [(f"_sips._tcp.{D}", TYPE_SRV)]
    assert {(t.port, t.transport) for t in targets} == {(5061, "TLS")}
    with pytest.raises(LocateError, match="TLS, which we do not support"):
        locate(f"sips:bob@{D}", zone, transports=["UDP", "TCP"])
    # a numeric host asks no DNS, and still needs a transport we have (§4.1: sips: is TLS)
    with pytest.raises(LocateError, match="TLS, which we do not support"):
        locate("sips:bob@192.0.2.1", zone, transports=["UDP", "TCP"])


def test_without_naptr_the_srv_names_are_tried_in_order() -> None:
    zone = {k: v for k, v in ZONE.items() if k[1] != TYPE_NAPTR and "_tcp" not in k[0]}
    targets, asked = locate(f"sip:bob@{D}", zone)
    assert [q for q in asked if q[1] in (TYPE_NAPTR, TYPE_SRV)] == [
        (D, TYPE_NAPTR), (f"_sips._tcp.{D}", TYPE_SRV), (f"_sip._tcp.{D}", TYPE_SRV),
        (f"_sip._udp.{D}", TYPE_SRV),
    ]  # fmt: skip
    assert targets[0] == SipTarget("192.0.2.1", 5070, "UDP", f"a.{D}")


def test_without_srv_the_domain_address_and_default_port() -> None:
    zone: Zone = {(D, TYPE_A): [rec(D, A("192.0.2.9"))]}
    targets, asked = locate(f"sip:bob@{D}", zone)
    assert targets == [SipTarget("192.0.2.9", 5060, "UDP", D)]
    assert asked[-2:] == [(D, TYPE_A), (D, TYPE_AAAA)]
    targets, _ = locate(f"sip:bob@{D};transport=tcp", zone)
    assert targets == [SipTarget("192.0.2.9", 5060, "TCP", D)]


@pytest.mark.parametrize(
    ("uri", "target"),
    [
        ("sip:bob@192.0.2.5", SipTarget("192.0.2.5", 5060, "UDP", "192.0.2.5")),
        ("sip:bob@192.0.2.5:5070;transport=tcp", SipTarget("192.0.2.5", 5070, "TCP", "192.0.2.5")),
        ("sips:bob@[2001:db8::5]", SipTarget("2001:db8::5", 5061, "TLS", "2001:db8::5")),
        ("sip:bob@192.0.2.5;transport=ws", SipTarget("192.0.2.5", 80, "WS", "192.0.2.5")),
    ],
)
def test_a_numeric_host_asks_nothing(uri: str, target: SipTarget) -> None:
    assert locate(uri, {}) == ([target], [])


def test_an_explicit_port_skips_naptr_and_srv() -> None:
    targets, asked = locate(f"sip:bob@a.{D}:5099", ZONE)
    assert asked == [(f"a.{D}", TYPE_A), (f"a.{D}", TYPE_AAAA)]
    assert [(t.address, t.port, t.transport) for t in targets] == [
        ("192.0.2.1", 5099, "UDP"), ("2001:db8::1", 5099, "UDP"),
    ]  # fmt: skip


def test_an_explicit_transport_skips_naptr() -> None:
    targets, asked = locate(f"sip:bob@{D}", ZONE, transport="tcp")
    assert asked[0] == (f"_sip._tcp.{D}", TYPE_SRV)
    assert targets[0] == SipTarget("192.0.2.1", 5080, "TCP", f"a.{D}")
    targets, asked = locate(f"sip:bob@{D};transport=TCP", ZONE)
    assert asked[0] == (f"_sip._tcp.{D}", TYPE_SRV)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ({(D, TYPE_NAPTR): 3}, "no such domain"),
        ({}, "no A or AAAA record"),
        ({(D, TYPE_NAPTR): 2}, "no A or AAAA record"),  # SERVFAIL: nothing learnt
        ({(f"_sip._udp.{D}", TYPE_SRV): [rec(f"_sip._udp.{D}", SRV(0, 0, 0, "."))]},
         "no SIP service over UDP"),
        ({(f"_sip._udp.{D}", TYPE_SRV): [rec(f"_sip._udp.{D}", SRV(0, 0, 5060, "x.test"))]},
         "no server"),
    ],
)  # fmt: skip
def test_when_there_is_no_server(zone: Zone, message: str) -> None:
    with pytest.raises(LocateError, match=message):
        locate(f"sip:bob@{D}", zone)


def test_no_response_counts_as_empty() -> None:
    loc = ServerLocator(f"sip:bob@{D}", rng=random.Random(1))
    while (q := loc.next_query()) is not None:
        loc.answer(None if q[1] != TYPE_A else respond({(D, TYPE_A): [rec(D, A("192.0.2.9"))]}, *q))
    assert loc.targets == [SipTarget("192.0.2.9", 5060, "UDP", D)]
    assert loc.done and loc.next_query() is None


def test_a_spoofed_answer_for_another_name_is_not_used() -> None:
    """Records of another name in the answer section (poisoning) are not the answer."""
    zone: Zone = {(D, TYPE_A): [rec("evil.test", A("203.0.113.66"))]}
    with pytest.raises(LocateError, match="no A or AAAA"):
        locate(f"sip:bob@{D}", zone)


# ---- RFC 2782 ordering -------------------------------------------------------------------
def test_srv_priority_is_strict_and_weights_share_the_first_place() -> None:
    records = [SRV(10, 60, 1, "a"), SRV(10, 30, 2, "b"), SRV(10, 10, 3, "c"), SRV(5, 0, 9, "z"),
               SRV(10, 0, 4, "d")]  # fmt: skip
    rng = random.Random(2782)
    first: Counter[str] = Counter()
    for _ in range(10_000):
        order = order_srv(records, rng)
        assert order[0].target == "z"  # priority 5 always first
        assert sorted(r.port for r in order) == [1, 2, 3, 4, 9]
        first[order[1].target] += 1
    # first among priority 10 in proportion to the weights (60:30:10); weight 0 rarely
    assert 5_600 < first["a"] < 6_400 and 2_700 < first["b"] < 3_300
    assert 800 < first["c"] < 1_200 and 50 < first["d"] < 150  # drawn 0: 1 in 101


def test_srv_order_comes_from_the_injected_rng() -> None:
    records = [SRV(0, 1, p, f"h{p}") for p in range(8)]
    a = order_srv(records, random.Random(5))
    assert a == order_srv(records, random.Random(5))
    assert any(order_srv(records, random.Random(s)) != a for s in range(6, 12))


def test_a_huge_srv_set_is_bounded() -> None:
    name = f"_sip._udp.{D}"
    zone: Zone = {
        (name, TYPE_SRV): [rec(name, SRV(0, 1, 5060 + i, f"h{i}.{D}")) for i in range(200)]
    }
    for i in range(200):
        zone[(f"h{i}.{D}", TYPE_A)] = [rec(f"h{i}.{D}", A(f"192.0.2.{i % 250}"))]
    targets, asked = locate(f"sip:bob@{D};transport=udp", zone)
    assert len(targets) == MAX_SRV_TARGETS
    assert len(asked) == 1 + 2 * MAX_SRV_TARGETS <= MAX_QUERIES


def test_steps_narrate_the_decisions() -> None:
    loc = ServerLocator(f"sip:bob@{D}", rng=random.Random(1))
    while (q := loc.next_query()) is not None:
        loc.answer(respond(ZONE, *q))
    text = "\n".join(loc.steps)
    assert f"NAPTR {D}: UDP via _sip._udp.{D} (§4.1)" in text
    assert "SRV order (priority, then weighted draw, RFC 2782)" in text
    assert Question(D, TYPE_NAPTR) == make_query(D, TYPE_NAPTR).questions[0]


def test_naptr_sip_d2w_gives_websocket_targets() -> None:
    """RFC 7118 §6: SIP+D2W names a WebSocket server; its SRV name is whatever NAPTR says."""
    zone: Zone = {
        (D, TYPE_NAPTR): [rec(D, NAPTR(10, 10, "S", "SIP+D2W", "", f"_sip._ws.{D}"))],
        (f"_sip._ws.{D}", TYPE_SRV): [rec(f"_sip._ws.{D}", SRV(0, 0, 8080, f"a.{D}"))],
        (f"a.{D}", TYPE_A): [rec(f"a.{D}", A("192.0.2.1"))],
    }
    targets, _ = locate(f"sip:bob@{D}", zone)
    assert targets == [SipTarget("192.0.2.1", 8080, "WS", f"a.{D}")]
    with pytest.raises(LocateError, match="no A or AAAA"):  # WS not usable: SRV fallback
        locate(f"sip:bob@{D}", zone, transports=["UDP"])


# ---- hypothesis: any zone, any answers: targets or LocateError, within the bounds ---------
_names = st.sampled_from([D, f"_sip._udp.{D}", f"_sip._tcp.{D}", f"_sips._tcp.{D}", f"a.{D}",
                          f"b.{D}", "."])  # fmt: skip
_u16 = st.integers(0, 0xFFFF)
_rdata = st.one_of(
    st.ip_addresses(v=4).map(lambda a: A(str(a))),
    st.ip_addresses(v=6).map(lambda a: AAAA(str(a))),
    _names.map(CNAME),
    st.builds(SRV, _u16, _u16, _u16, _names),
    st.builds(NAPTR, _u16, _u16, st.sampled_from(["s", "S", "u", ""]),
              st.sampled_from(["SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2W", "X"]),
              st.just(""), _names),
)  # fmt: skip
_zones = st.dictionaries(
    st.tuples(_names, st.sampled_from([TYPE_A, TYPE_AAAA, TYPE_SRV, TYPE_NAPTR])),
    st.integers(0, 5) | st.lists(st.builds(rec, _names, _rdata), max_size=12),
    max_size=12,
)


@given(_zones, st.booleans(), st.sampled_from(
    [f"sip:bob@{D}", f"sips:bob@{D}", f"sip:bob@{D};transport=tcp", f"sip:bob@{D}:5070"]
))  # fmt: skip
def test_any_zone_gives_targets_or_a_locate_error(zone: Zone, over: bool, uri: str) -> None:
    """The zone, or ZONE with some names replaced (so that many runs end with targets)."""
    try:
        targets, asked = locate(uri, {**ZONE, **zone} if over else zone)
    except LocateError:
        return
    assert 1 <= len(targets) <= 2 * MAX_SRV_TARGETS * 12
    assert len(asked) <= MAX_QUERIES
    assert all(
        0 <= t.port <= 0xFFFF and t.transport in ("UDP", "TCP", "TLS", "WS") for t in targets
    )
