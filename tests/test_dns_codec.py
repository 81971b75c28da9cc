"""The DNS codec (pyrtcstack.dns): real dnsmasq answers, hypothesis round trips, and hostile
messages (pointer loops, forward pointers, truncation, huge counts, spoofed answers)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrtcstack.dns import (
    AAAA,
    CNAME,
    MAX_NAME_BYTES,
    MAX_POINTERS,
    MAX_RECORDS,
    NAPTR,
    SRV,
    TYPE_A,
    TYPE_NAPTR,
    TYPE_SRV,
    A,
    DnsError,
    DnsMismatchError,
    DnsParseError,
    Message,
    Opaque,
    Question,
    Record,
    answers_for,
    check_response,
    make_query,
    name_key,
)
from pyrtcstack.dns.names import _label_text, decode_name

# Recorded from dnsmasq 2.90 (Debian 12) in `unshare -n`, the records of
# tests/test_sip_dns.py: `_sip._udp.example.test SRV` (query id 0x410a) with two SRV
# answers and three additional address records, names compressed.
DNSMASQ_SRV = bytes.fromhex(
    "410a85800001000200000003045f736970045f756470076578616d706c6504746573740000210001c00c00"
    "210001000000000019001400001"
    "3cf0473697032076578616d706c65047465737400c00c00210001000000000019000a003c13ce04736970"
    "31076578616d706c65047465737400c05f000100010000000000047f000001c03a000100010000000000"
    "047f000002c03a001c000100000000001000000000000000000000000000000001"
)
DNSMASQ_NAPTR = bytes.fromhex(
    "12db85800001000200000000076578616d706c6504746573740000230001c00c0023000100000000002700"
    "1400320173075349502b44325400045f736970045f746370076578616d706c65047465737400c00c002300"
    "01000000000027000a00320173075349502b44325500045f736970045f756470076578616d706c650474"
    "65737400"
)
DNSMASQ_CNAME = bytes.fromhex(
    "b3288580000100020000000005616c696173076578616d706c6504746573740000010001c00c0005000100"
    "00000000130473697031076578616d706c65047465737400c030000100010000000000047f000001"
)
DNSMASQ_NXDOMAIN = bytes.fromhex(
    "ce7081830001000000000000046e6f7065076578616d706c6504746573740000010001"
)


def test_a_real_srv_answer_decodes() -> None:
    m = Message.decode(DNSMASQ_SRV)
    assert (m.id, m.is_response, m.authoritative, m.truncated, m.rcode_name) == (
        0x410A, True, True, False, "NOERROR",
    )  # fmt: skip
    assert m.questions == (Question("_sip._udp.example.test", TYPE_SRV),)
    assert [r.data for r in m.answers] == [
        SRV(20, 0, 5071, "sip2.example.test"),
        SRV(10, 60, 5070, "sip1.example.test"),
    ]
    assert [(r.name, r.data) for r in m.additionals] == [
        ("sip1.example.test", A("127.0.0.1")),
        ("sip2.example.test", A("127.0.0.2")),
        ("sip2.example.test", AAAA("::1")),
    ]
    # our encoder compresses the same names the same way: the same octets back
    assert m.encode() == DNSMASQ_SRV


def test_a_real_naptr_answer_decodes() -> None:
    m = Message.decode(DNSMASQ_NAPTR)
    assert [r.data for r in m.answers] == [
        NAPTR(20, 50, "s", "SIP+D2T", "", "_sip._tcp.example.test"),
        NAPTR(10, 50, "s", "SIP+D2U", "", "_sip._udp.example.test"),
    ]
    assert m.encode() == DNSMASQ_NAPTR


def test_a_cname_is_followed_and_nxdomain_read() -> None:
    m = Message.decode(DNSMASQ_CNAME)
    assert answers_for(m, "ALIAS.example.test.", TYPE_A) == [A("127.0.0.1")]
    assert answers_for(m, "alias.example.test", 5) == [CNAME("sip1.example.test")]
    nx = Message.decode(DNSMASQ_NXDOMAIN)
    assert (nx.rcode, nx.rcode_name, nx.answers) == (3, "NXDOMAIN", ())


def test_a_cname_loop_is_bounded() -> None:
    loop = Message(1, 0x8180, (Question("a.test", TYPE_A),), (
        Record("a.test", CNAME("b.test")), Record("b.test", CNAME("a.test")),
        Record("a.test", A("192.0.2.1")),
    ))  # fmt: skip
    assert answers_for(Message.decode(loop.encode()), "a.test", TYPE_A) in ([], [A("192.0.2.1")])


# ---- queries and the checks of an answer against its query ------------------------------
def test_query_has_a_random_id_and_rd() -> None:
    q = make_query("example.test", TYPE_NAPTR, random.Random(7))
    assert q.id == random.Random(7).getrandbits(16)
    assert q.encode() == q.id.to_bytes(2, "big") + bytes.fromhex(
        "01000001000000000000076578616d706c6504746573740000230001"
    )
    ids = {make_query("example.test", TYPE_A).id for _ in range(64)}
    assert len(ids) > 32  # the default is the CSPRNG, not a constant or a counter


def test_the_default_id_comes_from_the_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    """SystemRandom overrides getrandbits: a Mersenne Twister draw would fail here."""

    def forbidden(self: random.Random, k: int) -> int:
        raise AssertionError("a Mersenne Twister draw")

    monkeypatch.setattr(random.Random, "getrandbits", forbidden)
    assert 0 <= make_query("example.test", TYPE_A).id <= 0xFFFF


def _answer_to(q: Message, **changes: object) -> bytes:
    reply = Message(q.id, 0x8180, q.questions, (Record(q.questions[0].name, A("192.0.2.7"), 60),))
    fields = {"id": reply.id, "flags": reply.flags, "questions": reply.questions}
    fields.update(changes)
    return Message(fields["id"], fields["flags"], fields["questions"], reply.answers).encode()  # type: ignore[arg-type]


def test_check_response_accepts_the_answer_case_insensitively() -> None:
    q = make_query("Sip.Example.TEST", TYPE_A, random.Random(1))
    ok = check_response(q, _answer_to(q, questions=(Question("sip.example.test", TYPE_A),)))
    assert answers_for(ok, "sip.example.test", TYPE_A) == [A("192.0.2.7")]


@pytest.mark.parametrize(
    "changes",
    [
        {"id": 1},  # another id (a blind spoofer's guess)
        {"flags": 0x0100},  # QR clear: a query, not a response
        {"flags": 0x8000 | (2 << 11)},  # another opcode
        {"questions": (Question("evil.test", TYPE_A),)},
        {"questions": (Question("sip.example.test", TYPE_SRV),)},
        {"questions": (Question("sip.example.test", TYPE_A, 3),)},  # class CH
        {"questions": ()},
    ],
)
def test_check_response_rejects_what_is_not_our_answer(changes: dict[str, object]) -> None:
    q = make_query("sip.example.test", TYPE_A, random.Random(1))
    if changes.get("id") == q.id:
        changes["id"] = q.id ^ 1
    with pytest.raises(DnsMismatchError):
        check_response(q, _answer_to(q, **changes))


def test_truncated_flag() -> None:
    q = make_query("x.test", TYPE_A, random.Random(2))
    assert check_response(q, _answer_to(q, flags=0x8380)).truncated


# ---- hostile and malformed input --------------------------------------------------------
HEADER_1Q = bytes.fromhex("abcd81800001000000000000")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "12-octet header"),
        (HEADER_1Q + b"\xc0\x0c\x00\x01\x00\x01", "backwards"),  # a pointer to itself
        (HEADER_1Q + b"\x01a\xc0\x0e\x00\x01\x00\x01", "backwards"),  # forward
        (HEADER_1Q + b"\x01a\xc0\x0c\x00\x01\x00\x01", "backwards"),  # a -> a -> ... a loop
        (HEADER_1Q + b"\x03ab", "past the end"),
        (HEADER_1Q + b"\x01a", "past the end"),
        (HEADER_1Q + b"\xc0", "truncated compression pointer"),
        (HEADER_1Q + b"\x41a\x00\x00\x01\x00\x01", "label type"),  # 0x40: EDNS0 bit labels
        (HEADER_1Q + b"\x00\x00\x01", "question runs past"),
        (HEADER_1Q + b"\x00\x00\x01\x00\x01junk", "after the last record"),
        (HEADER_1Q[:4] + b"\xff\xff" + b"\0" * 6, "questions and records"),
        (HEADER_1Q[:4] + b"\x00\x00\x00\x01\x00\x00\x00\x00" + b"\0\x00\x01", "record header"),
        (HEADER_1Q + b"\x00\x00\x01\x00\x01" + bytes(65_536), "at most 65535"),
    ],
)
def test_hostile_bytes_raise_the_parse_error(data: bytes, why: str) -> None:
    with pytest.raises(DnsParseError, match=why):
        Message.decode(data)


def _answer_with(rtype: int, rdata: bytes) -> bytes:
    return (
        bytes.fromhex("abcd81800000000100000000")
        + b"\x00"
        + rtype.to_bytes(2, "big")
        + b"\x00\x01\x00\x00\x00\x00"
        + len(rdata).to_bytes(2, "big")
        + rdata
    )


@pytest.mark.parametrize(
    ("rtype", "rdata", "why"),
    [
        (1, b"\x7f\0\0", "wrong length"),
        (28, bytes(15), "wrong length"),
        (33, b"\0\0\0\0\0\x01\x00\x00", "wrong length"),  # one octet after the target
        (33, b"\0\0\0\0\0\x01", "too short"),
        (33, b"\0\0\0\0\0\x01\x05ab", "runs past"),  # the target's label leaves the RDATA
        (35, b"\0\x01\0\x01\x01s\x07SIP+D2U", "NAPTR character-string"),
        (35, b"\0\x01\0\x01\x01s\x00\x00\x00\x00", "wrong length"),
        (5, b"\x01a\x00\x00", "wrong length"),
        (1, b"\x7f\0\0\x01\x02", "wrong length"),
    ],
)
def test_malformed_records_raise(rtype: int, rdata: bytes, why: str) -> None:
    with pytest.raises(DnsParseError, match=why):
        Message.decode(_answer_with(rtype, rdata))


def test_a_name_past_255_octets_is_refused_even_through_pointers() -> None:
    # 4 labels of 63 octets = 256 octets with the root: one octet too many
    label = b"\x3f" + b"a" * 63
    long_name = HEADER_1Q + label * 4 + b"\x00\x00\x01\x00\x01"
    with pytest.raises(DnsParseError, match="longer than 255"):
        Message.decode(long_name)
    # the same name built from a pointer: the first question is 3 labels, the second adds one
    first = label * 3 + b"\x00"
    two = bytes.fromhex("abcd81800002000000000000") + first + b"\x00\x01\x00\x01"
    two += label + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(DnsParseError, match="longer than 255"):
        Message.decode(two)
    assert len(decode_name(two, 12)[0]) == 3 * 64 - 1  # the first question alone is fine


def test_a_chain_of_pointers_is_bounded() -> None:
    """A name may follow MAX_POINTERS pointers (each strictly backwards); one more fails."""
    data = bytearray(12) + b"\x00"  # the root label at offset 12
    for i in range(MAX_POINTERS + 1):  # pointer i at 13 + 2i points at the one before it
        data += (0xC000 | (12 if i == 0 else 13 + 2 * (i - 1))).to_bytes(2, "big")
    last = 13 + 2 * MAX_POINTERS
    assert decode_name(bytes(data), last - 2) == (".", last)  # MAX_POINTERS hops
    with pytest.raises(DnsParseError, match=f"more than {MAX_POINTERS}"):
        decode_name(bytes(data), last)


def test_the_record_cap_is_checked_before_parsing() -> None:
    one = Record("a.test", A("192.0.2.1"))
    ok = Message(1, 0x8180, (), (one,) * MAX_RECORDS).encode()
    assert len(Message.decode(ok).answers) == MAX_RECORDS
    over = Message(1, 0x8180, (), (one,) * (MAX_RECORDS + 1)).encode()
    with pytest.raises(DnsParseError, match="questions and records"):
        Message.decode(over)


@pytest.mark.parametrize(
    "name",
    ["a..b", "a" * 64 + ".test", ".".join(["a" * 63] * 4), "a b.test", "é.test", "a\\"],
)
def test_bad_names_are_refused_when_building(name: str) -> None:
    with pytest.raises(DnsError):
        make_query(name, TYPE_A)


def test_names_compare_without_case_and_trailing_dot() -> None:
    assert name_key("Example.TEST.") == name_key("example.test") == "example.test"
    assert name_key("a\\.b.test") == "a\\046b.test"
    assert name_key(".") == name_key("") == "."


# ---- hypothesis: every message round-trips, compressed or not ---------------------------
_label_bytes = st.binary(min_size=1, max_size=63) | st.from_regex(
    r"[a-zA-Z0-9_-]{1,20}", fullmatch=True
).map(str.encode)


def _text(labels: list[bytes]) -> str:
    return ".".join(_label_text(lab) for lab in labels) or "."


names = (
    st.lists(_label_bytes, max_size=5)
    .filter(lambda labels: sum(len(x) + 1 for x in labels) + 1 <= MAX_NAME_BYTES)
    .map(_text)
)
# a few shared names so that compression has suffixes to find
shared = st.sampled_from(["example.test", "_sip._udp.example.test", "sip1.example.test", "."])
any_name = shared | names
u16 = st.integers(0, 0xFFFF)
strings = st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
rdata = st.one_of(
    st.ip_addresses(v=4).map(lambda a: A(str(a))),
    st.ip_addresses(v=6).map(lambda a: AAAA(str(a))),
    any_name.map(CNAME),
    st.builds(SRV, u16, u16, u16, any_name),
    st.builds(NAPTR, u16, u16, strings, strings, strings, any_name),
    st.builds(Opaque, st.sampled_from([16, 99, 65280]), st.binary(max_size=30)),
)
records = st.builds(Record, any_name, rdata, st.integers(0, 2**32 - 1), st.sampled_from([1, 3]))
messages = st.builds(
    Message,
    u16,
    u16,
    st.lists(st.builds(Question, any_name, u16, u16), max_size=2).map(tuple),
    st.lists(records, max_size=5).map(tuple),
    st.lists(records, max_size=2).map(tuple),
    st.lists(records, max_size=3).map(tuple),
)


@given(messages)
def test_messages_round_trip(message: Message) -> None:
    compressed = message.encode()
    plain = message.encode(compress=False)
    assert len(compressed) <= len(plain)
    assert Message.decode(compressed) == message == Message.decode(plain)


@given(messages, st.data())
def test_cut_or_flipped_messages_only_raise_the_parse_error(
    message: Message, data: st.DataObject
) -> None:
    wire = bytearray(message.encode())
    cut = data.draw(st.integers(0, len(wire)))
    for candidate in (bytes(wire[:cut]), bytes(wire[:cut]) + b"\0"):
        try:
            Message.decode(candidate)
        except DnsParseError:
            pass
    if wire:
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] ^= data.draw(st.integers(1, 255))
        try:
            again = Message.decode(bytes(wire))
        except DnsParseError:
            return
        assert Message.decode(again.encode()) == again


def test_the_worked_example_in_the_docs_is_the_real_answer() -> None:
    """docs/dns.md decodes DNSMASQ_SRV octet by octet: its hex columns are these octets."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "dns.md").read_text()
    block = page.split("## A worked example", 1)[1].split("```", 2)[1]
    pattern = ""
    for line in block.splitlines():
        for token in line.split():
            if re.fullmatch(r"@\d+", token):
                continue
            if not re.fullmatch(r"[0-9a-f…]+", token):
                break
            pattern += "[0-9a-f]*".join(map(re.escape, token.split("…")))
    assert len(pattern) > 200
    assert re.fullmatch(pattern, DNSMASQ_SRV.hex())
