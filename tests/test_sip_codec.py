"""The SIP message codec (RFC 3261 §7, §18.3, §19.1, §20, §25) against RFC 4475's torture
messages, hypothesis round trips and hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sip_strategies import messages, name_addresses, sip_uris, vias

from pyrtcstack.sip import (
    CSeq,
    NameAddress,
    Request,
    Response,
    SipParseError,
    SipUri,
    Via,
    parse_message,
)

TORTURE: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "sip" / "rfc4475.json").read_text()
)["messages"]


def torture(name: str) -> bytes:
    text: str = next(m["text"] for m in TORTURE if m["name"] == name)
    return text.encode("utf-8")


@pytest.mark.parametrize("case", TORTURE, ids=[m["name"] for m in TORTURE])
def test_rfc4475_verdicts(case: dict[str, Any]) -> None:
    data = case["text"].encode("utf-8")
    if not case["valid"]:
        with pytest.raises(SipParseError):
            parse_message(data)
        return
    message = parse_message(data)
    again = parse_message(message.encode())
    assert again == message
    assert again.encode() == message.encode()


def test_wsinv_reads_through_folding_compact_forms_and_odd_spacing() -> None:
    m = parse_message(torture("wsinv"))
    assert isinstance(m, Request)
    assert m.method == "INVITE"
    assert m.max_forwards == 68
    assert m.cseq == CSeq(9, "INVITE")
    assert m.to.tag == "1918181833n"
    assert m.from_.tag == "98asjd8"
    assert m.from_.display == 'J Rosenberg \\"'
    # three Via values: one on its own line, two comma-separated under the compact "v"
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.get("s") == "" and m.get("Subject") == ""
    assert m.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = m.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue" and contact.param("q") == "0.33"
    assert contact.param("secondparam") == ""
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_intmeth_esc_and_semicolon_cases() -> None:
    m = parse_message(torture("intmeth"))
    assert isinstance(m, Request) and m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.param("fromParam''~+*_!.-%") == "работающий"
    uri = SipUri.parse(m.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    esc02 = parse_message(torture("esc02"))
    # "C%6Fntact" is another header's name, not an escaped "Contact" (RFC 4475 §3.1.1.5)
    assert len(esc02.contacts) == 2 and esc02.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    semi = parse_message(torture("semiuri"))
    assert isinstance(semi, Request) and SipUri.parse(semi.uri).user == "user;par=u%40example.net"
    assert len(semi.get_all("Accept")) == 6
    esc01 = parse_message(torture("esc01"))
    assert esc01.to.sip_uri().equivalent(SipUri.parse("sip:user@example.com"))


def test_responses_and_the_datagram_rules() -> None:
    noreason = parse_message(torture("noreason"))
    assert isinstance(noreason, Response) and (noreason.status, noreason.reason) == (100, "")
    unreason = parse_message(torture("unreason"))
    assert isinstance(unreason, Response) and unreason.reason.startswith("= 2**3 * 5**2 но")
    # §18.3: on a datagram the octets after Content-Length are dropped
    dbl = parse_message(torture("dblreq"))
    assert isinstance(dbl, Request) and dbl.method == "REGISTER" and dbl.body == b""
    with pytest.raises(SipParseError) as exc:
        parse_message(torture("badvers"))
    assert exc.value.status == 505


def test_missing_content_length_on_a_datagram_takes_the_rest() -> None:
    m = Request("OPTIONS", "sip:a@b", (("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
        ("From", "<sip:a@b>;tag=1"), ("To", "<sip:a@b>"), ("Call-ID", "c"), ("CSeq", "1 OPTIONS")),
        b"body")  # fmt: skip
    data = m.encode().replace(b"Content-Length: 4\r\n", b"")
    assert parse_message(data) == m


def test_uri_parts_and_errors() -> None:
    u = SipUri.parse("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "[2001:db8::1]", 5061,
    )  # fmt: skip
    assert (
        u.transport == "tcp" and u.param("lr") == "" and u.headers == (("subject", "x"), ("h", ""))
    )
    assert str(u) == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h="
    assert SipUri.parse("SIP:%61lice@EXAMPLE.com").equivalent(SipUri.parse("sip:alice@example.com"))
    assert not SipUri.parse("sip:alice@example.com").equivalent(
        SipUri.parse("sip:alice@example.com;transport=tcp")
    )
    for bad in (
        "http://example.com", "sip:", "sip:@host", "sip:a@host:65536", "sip:a@host:-1",
        "sip:a@[::1", "sip:a@[nope]", "sip:a@-host", "sip:a@ho st", "sip:a%4@host",
        "sip:a@host;", "sip:a@host;x=", "sip:a@host?x", "sip:a b@host", "sip:a@host:",
    ):  # fmt: skip
        with pytest.raises(SipParseError):
            SipUri.parse(bad)


def test_header_values() -> None:
    v = Via.parse('SIP / 2.0 / udp  [::1]:5060 ; branch=z9hG4bKx;rport;received="a b"')
    assert (v.transport, v.host, v.port, v.branch, v.param("rport")) == (
        "UDP", "[::1]", 5060, "z9hG4bKx", "",
    )  # fmt: skip
    assert v.param("received") == "a b"
    n = NameAddress.parse("sip:bob@example.com;tag=7")  # addr-spec: the tag is the header's
    assert n.uri == "sip:bob@example.com" and n.tag == "7"
    n = NameAddress.parse("Bob  Smith <tel:+1555;phone-context=x>;expires=60")
    assert n.display == "Bob Smith" and n.param("expires") == "60"
    with pytest.raises(SipParseError):
        n.sip_uri()
    assert CSeq.parse("2147483647 ACK") == CSeq(2**31 - 1, "ACK")
    for parse, bad in (
        (CSeq.parse, "2147483648 ACK"), (CSeq.parse, "1"), (CSeq.parse, "x INVITE"),
        (CSeq.parse, "1 IN VITE"), (Via.parse, "SIP/2.0 host"), (Via.parse, "SIP/2.0/UDP"),
        (Via.parse, "SIP/2.0/UDP host;=x"), (NameAddress.parse, "<sip:a@b"),
        (NameAddress.parse, '"x" sip:a@b'), (NameAddress.parse, "<sip:a@b> tag=1"),
        (NameAddress.parse, "<sip:a@b>;t=\"x"), (NameAddress.parse, "nothing"),
    ):  # fmt: skip
        with pytest.raises(SipParseError):
            parse(bad)


@given(sip_uris)
def test_uri_round_trip(uri: SipUri) -> None:
    assert SipUri.parse(str(uri)) == uri


@given(vias)
def test_via_round_trip(via: Via) -> None:
    assert Via.parse(str(via)) == via


@given(name_addresses)
def test_name_address_round_trip(value: NameAddress) -> None:
    assert NameAddress.parse(str(value)) == value


@given(messages)
def test_message_round_trip(message: Request | Response) -> None:
    data = message.encode()
    assert parse_message(data) == message
    assert parse_message(b"\r\n\r\n" + data + b"trailing octets") == message  # §7.5, §18.3


@given(messages, st.data())
def test_mutated_messages_raise_only_sip_parse_error(
    message: Request | Response, data: st.DataObject
) -> None:
    raw = bytearray(message.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        if op == "insert":
            raw[i:i] = data.draw(
                st.sampled_from(
                    [b"\r\n", b" ", b",", b";", b'"', b"<", b":", b"\x00", b"\xff", b"%", b"@"]
                )
            )
        elif i < len(raw):
            if op == "delete":
                del raw[i]
            else:
                raw[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        parsed = parse_message(bytes(raw))
    except SipParseError:
        return
    assert parse_message(parsed.encode()) == parsed


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    try:
        parse_message(b"INVITE sip:a@b SIP/2.0\r\n" + data)
    except SipParseError:
        pass
