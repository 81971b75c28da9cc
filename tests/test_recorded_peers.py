"""What real peers sent us, read by our decoders and held to tshark's reading of the same bytes.

``tests/data/recorded/PEER.json`` holds what Chromium, Firefox ESR, werift and aiortc (and
coturn, relaying for the browsers) sent our PeerConnection in a recorded session: SDPs, STUN,
DTLS handshake records, TURN ChannelData, SCTP packets (decrypted) with their DCEP messages,
RTP headers and, from aiortc, plaintext RTCP. Beside each packet is what tshark, an
independent decoder, read in it. ``tests/record_peers.py`` records a new set (see there);
nothing here needs a peer or the network.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from peers import RECORDED

from pyrtcstack.datachannel.dcep import DataChannelAck, DataChannelOpen, decode_dcep
from pyrtcstack.dtls.fragments import Fragment, parse_fragments
from pyrtcstack.dtls.messages import ClientHello
from pyrtcstack.dtls.record import parse_records
from pyrtcstack.rtp import RtpPacket, parse_rtcp
from pyrtcstack.sctp import decode_packet, verify_checksum
from pyrtcstack.sctp.chunks import DataChunk, InitChunk, SackChunk, iter_raw_chunks
from pyrtcstack.sdp import SessionDescription
from pyrtcstack.stun import AttributeType, decode, short_term_key
from pyrtcstack.turn.channeldata import decode_channel_data

FILES = sorted(RECORDED.glob("*.json"))
#: Every peer the project records from (tests/record_peers.py); each must have its file.
PEERS = {"chromium", "firefox", "werift", "aiortc"}


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_every_peer_is_recorded() -> None:
    assert {p.stem for p in FILES} >= PEERS
    for path in FILES:
        doc = _load(path)
        assert doc["decoder"].startswith("TShark"), path
        assert doc["descriptions"], path


@pytest.fixture(params=FILES, ids=lambda p: p.stem)
def recorded(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load(request.param)


def _ice_passwords(doc: dict[str, Any]) -> dict[str, str]:
    """ice-ufrag -> ice-pwd of every description of the session, ours and the peer's."""
    out = {}
    for d in doc["descriptions"]:
        sdp = SessionDescription.parse(d["sdp"])
        for media in sdp.media:
            ufrag, pwd = media.effective_ice_ufrag(sdp), media.effective_ice_pwd(sdp)
            if ufrag and pwd:
                out[ufrag] = pwd
    return out


def test_descriptions_parse_and_round_trip(recorded: dict[str, Any]) -> None:
    for d in recorded["descriptions"]:
        sdp = SessionDescription.parse(d["sdp"])
        assert SessionDescription.parse(str(sdp)) == sdp
        if d["sdp"].endswith("\r\n") and "\n" not in d["sdp"].replace("\r\n", ""):
            assert str(sdp) == d["sdp"], "a CRLF description is written back byte for byte"
        assert sdp.media, d["from"]
        for media in sdp.media:
            assert media.mid is not None
            assert media.effective_fingerprints(sdp), "every section has a DTLS fingerprint"


def test_stun_as_tshark_reads_it(recorded: dict[str, Any]) -> None:
    passwords = _ice_passwords(recorded)
    assert recorded["stun"], "a peer's connectivity checks are recorded"
    checked = 0
    for item in recorded["stun"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        m = decode(data)
        # RFC 8489 §5: the class bits C1 C0 sit at 0x0100 and 0x0010 of the type
        assert (
            int(m.method) | (int(m.message_class) & 2) << 7 | (int(m.message_class) & 1) << 4
            == facts["type"]
        )
        assert m.transaction_id.hex() == facts["transaction_id"]
        assert len(data) - 20 == facts["length"]
        assert [t for t, _ in m.attributes] + _trailer(m) == facts["attribute_types"]
        username = m.get_text(AttributeType.USERNAME) if m.get(AttributeType.USERNAME) else None
        if username and ":" in username and username.split(":")[0] in passwords:
            # RFC 8445 §7.2.2: a check is signed with the receiver's (our) password.
            key = short_term_key(passwords[username.split(":")[0]])
            assert m.verify_integrity(key), username
            assert not m.verify_integrity(key + b"x")
            checked += 1
    assert checked or recorded["peer"].startswith(("Chromium", "Mozilla")), "no check verified"


def _trailer(m: Any) -> list[int]:
    """The attributes the decoder keeps apart from ``attributes``, in wire order."""
    out = []
    if m.integrity == "sha1":
        out.append(AttributeType.MESSAGE_INTEGRITY)
    elif m.integrity == "sha256":
        out.append(AttributeType.MESSAGE_INTEGRITY_SHA256)
    if m.has_fingerprint:
        out.append(AttributeType.FINGERPRINT)
    return out


def test_channeldata_as_tshark_reads_it(recorded: dict[str, Any]) -> None:
    for item in recorded["channeldata"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        msg = decode_channel_data(data)
        assert msg.channel == facts["channel"]
        assert len(msg.data) == facts["length"]


def test_dtls_handshake_as_tshark_reads_it(recorded: dict[str, Any]) -> None:
    assert recorded["dtls"], "the peer's handshake flights are recorded"
    pieces: dict[tuple[int, int, int], bytearray] = {}
    hellos = 0
    for item in recorded["dtls"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        records, leftover = parse_records(data)
        assert leftover == 0
        assert [r.content_type for r in records] == facts["content_types"]
        for record, expected in zip(records, facts["records"], strict=True):
            assert record.epoch == expected["epoch"]
            assert record.sequence_number == expected["sequence_number"]
            assert len(record.fragment) == expected["length"]
        fragments: list[Fragment] = []
        for record in records:
            if record.content_type == 22 and record.epoch == 0:
                fragments += parse_fragments(record.fragment)
        # tshark also lists the encrypted Finished (epoch 1) as a handshake record
        assert len(fragments) <= len(facts["handshakes"])
        for frag, expected in zip(fragments, facts["handshakes"], strict=False):
            assert frag.msg_type == expected["type"]
            assert frag.length == expected["length"]
            assert frag.message_seq == expected["message_seq"]
            assert frag.fragment_offset == expected["fragment_offset"]
            assert len(frag.body) == expected["fragment_length"]
            if frag.msg_type == 1:
                whole = pieces.setdefault(
                    (frag.message_seq, frag.length, 1), bytearray(frag.length)
                )
                whole[frag.fragment_offset : frag.fragment_offset + len(frag.body)] = frag.body
        if facts.get("cipher_suites"):  # tshark had the whole ClientHello by this datagram
            key = next(k for k in pieces if k[2] == 1)
            hello = ClientHello.decode(bytes(pieces.pop(key)))
            assert list(hello.cipher_suites) == facts["cipher_suites"]
            assert [t for t, _ in hello.extensions] == facts["extension_types"]
            hellos += 1
    if any(1 in item["tshark"]["handshake_types"] for item in recorded["dtls"]):
        assert hellos, "a whole ClientHello was compared"


def test_sctp_as_tshark_reads_it(recorded: dict[str, Any]) -> None:
    assert recorded["sctp"], "the peer's SCTP packets are recorded"
    kinds = set()
    for item in recorded["sctp"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        packet = decode_packet(data)
        assert (packet.source_port, packet.destination_port) == (
            facts["source_port"],
            facts["destination_port"],
        )
        assert packet.verification_tag == facts["verification_tag"]
        assert struct.unpack_from("!I", data, 8)[0] == facts["checksum"]
        assert verify_checksum(data), "every peer here uses CRC-32C (none announced RFC 9653)"
        assert len(packet.chunks) == len(facts["chunks"])
        for (type_, flags, _), expected in zip(iter_raw_chunks(data), facts["chunks"], strict=True):
            assert (type_, flags) == (expected["type"], expected["flags"])
        for chunk, expected in zip(packet.chunks, facts["chunks"], strict=True):
            kinds.add(expected["type"])
            _check_chunk(chunk, expected)
        dceps = [c for c in packet.chunks if isinstance(c, DataChunk) and c.ppid == 50]
        for chunk, expected in zip(dceps, facts.get("dcep", []), strict=True):
            _check_dcep(chunk.data, expected)
    assert {0, 3} <= kinds, "DATA and SACK from the peer at least"


def _check_chunk(chunk: object, expected: dict[str, Any]) -> None:
    if isinstance(chunk, DataChunk):
        assert expected["type"] == 0
        assert (chunk.tsn, chunk.stream_id, chunk.ssn, chunk.ppid) == (
            expected["tsn"],
            expected["stream_id"],
            expected["ssn"],
            expected["ppid"],
        )
        assert chunk.flags == expected["flags"] & 0x0F
        assert 16 + len(chunk.data) == expected["length"]
    elif isinstance(chunk, InitChunk):
        assert expected["type"] in (1, 2)
        assert (
            chunk.initiate_tag,
            chunk.a_rwnd,
            chunk.outbound_streams,
            chunk.inbound_streams,
            chunk.initial_tsn,
        ) == (
            expected["initiate_tag"],
            expected["a_rwnd"],
            expected["outbound_streams"],
            expected["inbound_streams"],
            expected["initial_tsn"],
        )
        assert [p.type for p in chunk.params] == expected.get("parameter_types", [])
    elif isinstance(chunk, SackChunk):
        assert expected["type"] == 3
        assert chunk.cumulative_tsn == expected["cumulative_tsn"]
        assert chunk.a_rwnd == expected["sack_a_rwnd"]
        assert len(chunk.gaps) == expected["gap_blocks"]
        assert len(chunk.duplicates) == expected["duplicate_tsns"]
    else:
        assert type(chunk).__name__ != "UnknownChunk", expected["label"]


def _check_dcep(data: bytes, expected: dict[str, Any]) -> None:
    msg = decode_dcep(data)
    if expected["message_type"] == 2:
        assert isinstance(msg, DataChannelAck)
        return
    assert isinstance(msg, DataChannelOpen)
    assert (msg.channel_type, msg.priority, msg.reliability) == (
        expected["channel_type"],
        expected["priority"],
        expected["reliability_parameter"],
    )
    assert (msg.label, msg.protocol) == (expected["label"], expected["protocol"])
    assert msg.encode() == data, "DCEP OPEN re-encodes byte for byte"


def test_rtp_headers_as_tshark_reads_them(recorded: dict[str, Any]) -> None:
    assert recorded["rtp"], "the peer's (S)RTP is recorded"
    for item in recorded["rtp"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        p = RtpPacket.parse(data)  # SRTP: the header is in the clear, the payload is not
        assert p.marker == bool(facts["marker"])
        assert p.payload_type == facts["payload_type"]
        assert p.sequence_number == facts["sequence_number"]
        assert p.timestamp == facts["timestamp"]
        assert p.ssrc == facts["ssrc"]
        assert len(p.csrc) == facts["csrc_count"]
        assert (p.extension_profile is not None) == bool(facts["extension"])
        if facts["extension_profile"] is not None:
            assert p.extension_profile == facts["extension_profile"]


def test_rtcp_as_tshark_reads_it() -> None:
    doc = _load(RECORDED / "aiortc.json")
    assert doc["rtcp"], "aiortc's plaintext RTCP is recorded"
    for item in doc["rtcp"]:
        data, facts = bytes.fromhex(item["hex"]), item["tshark"]
        packets = parse_rtcp(data)
        assert [p.packet_type for p in packets] == facts["packet_types"]
        assert b"".join(p.serialize() for p in packets) == data, "re-encodes byte for byte"
