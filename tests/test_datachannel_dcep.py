"""DCEP (RFC 8832) codec: the corpus, the checklist bytes, hypothesis round-trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import corpus

from pyrtcstack.datachannel.dcep import (
    ChannelType,
    DataChannelAck,
    DataChannelOpen,
    DcepParseError,
    decode_dcep,
)


@pytest.mark.corpus
def test_corpus_messages() -> None:
    messages = json.loads(corpus("sctp", "dcep.json").read_text())["messages"]
    for m in messages:
        msg = decode_dcep(bytes.fromhex(m["hex"]))
        dec = m["decoded"]
        if dec["message_type"].startswith("DATA_CHANNEL_ACK"):
            assert isinstance(msg, DataChannelAck)
            continue
        assert isinstance(msg, DataChannelOpen)
        assert (msg.channel_type, msg.priority, msg.reliability, msg.label, msg.protocol) == (
            dec["channel_type"],
            dec["priority"],
            dec["reliability_parameter"],
            dec["label"],
            dec["protocol"],
        )
        assert msg.encode().hex() == m["hex"]


def test_checklist_dc02_bytes() -> None:
    # createDataChannel('chat', {protocol: 'p', maxRetransmits: 3, ordered: false})
    msg = DataChannelOpen(ChannelType.PARTIAL_RELIABLE_REXMIT_UNORDERED, 256, 3, "chat", "p")
    assert msg.encode() == bytes.fromhex("03 81 0100 00000003 0004 0001") + b"chatp"
    assert not msg.ordered and msg.max_retransmits == 3 and msg.max_packet_life_time is None
    timed = DataChannelOpen(ChannelType.PARTIAL_RELIABLE_TIMED, 256, 1500)
    assert timed.ordered and timed.max_packet_life_time == 1500
    assert DataChannelAck().encode() == b"\x02"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        b"\x03\x00",
        bytes.fromhex("030300000000000000000000"),
        b"\x03" + bytes(11) + b"x",
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(DcepParseError):
        decode_dcep(data)


def test_non_utf8_label() -> None:
    with pytest.raises(DcepParseError):
        decode_dcep(bytes.fromhex("03000000000000000001 0000".replace(" ", "")) + b"\xff")


@settings(max_examples=300)
@given(
    st.sampled_from(list(ChannelType)),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.text(max_size=40),
    st.text(max_size=40),
)
def test_open_round_trip(ctype: int, prio: int, rel: int, label: str, protocol: str) -> None:
    msg = DataChannelOpen(ctype, prio, rel, label, protocol)
    assert decode_dcep(msg.encode()) == msg


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_hostile_bytes(data: bytes) -> None:
    try:
        decode_dcep(data)
    except DcepParseError:
        pass
