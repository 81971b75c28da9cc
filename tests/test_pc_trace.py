"""The learner's trace (pyrtcstack/peerconnection/trace.py) and the packet descriptions
each protocol gives it (stun/, dtls/, sctp/, rtp/, datachannel/, ice/ describe.py):
fragment labels, run folding, alert names — the pieces `demo --trace` prints, checked one
by one, and the tracer as an observer of a real connection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack import datachannel, dtls, rtp, sctp, stun, turn
from pyrtcstack.peerconnection import RunSummary, Tracer, TraceRecord
from pyrtcstack.sctp import FragmentLabeller
from pyrtcstack.sctp.chunks import DataChunk, Packet, SackChunk


def describe_sctp(packet: bytes, labeller: FragmentLabeller | None = None) -> str:
    """SCTP's line with the data channel's payload names, as the tracer composes them."""
    return sctp.describe(packet, labeller, "send", datachannel.describe_payload)


describe_dtls = dtls.describe


def _chunk(tsn: int, size: int, flags: int, stream: int = 1) -> DataChunk:
    return DataChunk(tsn, stream, 0, 53, bytes(size), flags)


B, E = DataChunk.FLAG_BEGIN, DataChunk.FLAG_END


def test_fragments_of_one_message_are_labelled_as_parts() -> None:
    fl = FragmentLabeller()
    assert fl.label("send", _chunk(10, 1000, B | E)) == ("message 1, 1,000 B", 1)
    assert fl.label("send", _chunk(11, 116, B)) == ("message 2 part 1 (B), 116 B", 0)
    assert fl.label("send", _chunk(12, 500, 0)) == ("message 2 part 2, 500 B", 0)
    assert fl.label("send", _chunk(13, 384, E)) == (
        "message 2 part 3 of 3 (E), 384 B = 1,000 B",
        1,
    )
    # a retransmission is not a new part; another direction and stream count on their own
    assert fl.label("send", _chunk(12, 500, 0))[0].startswith("retransmission")
    assert fl.label("recv", _chunk(7, 10, B | E, stream=3)) == ("message 1, 10 B", 1)
    # an E fragment whose B we never saw (trace started late) says so
    assert fl.label("recv", _chunk(8, 5, E, stream=5)) == ("part ? (E) 5 B", 1)


def test_labeller_memory_is_bounded() -> None:
    fl = FragmentLabeller()
    for stream in range(5000):
        fl.label("send", _chunk(stream + 1, 1, B, stream=stream))
    assert len(fl._state) <= FragmentLabeller.MAX_TRACKED


def test_describe_sctp_packet_with_fragments() -> None:
    packet = Packet(5000, 5000, 1, [_chunk(1, 100, B), _chunk(2, 900, E)]).encode()
    text = describe_sctp(packet, FragmentLabeller())
    assert "message 1 part 1 (B), 100 B" in text
    assert "message 1 part 2 of 2 (E), 900 B = 1,000 B" in text
    assert "binary 100 B" in describe_sctp(packet)  # without a labeller: sizes only


def test_alerts_are_named() -> None:
    # RFC 6347 §4.1 record: type 21, version FEFD, epoch 0, seq 0, length 2, fatal(2) 40
    plain = bytes.fromhex("15fefd0000000000000000000202") + bytes([40])
    assert describe_dtls(plain[:-2] + bytes([2, 40])) == (
        "DTLS Alert fatal handshake_failure (RFC 5246 §7.2)"
    )
    warning = bytes.fromhex("15fefd00000000000000000002") + bytes([1, 0])
    assert describe_dtls(warning) == "DTLS Alert warning close_notify (RFC 5246 §7.2)"
    encrypted = bytes.fromhex("15fefd00010000000000010012") + bytes(18)
    assert describe_dtls(encrypted) == "DTLS Alert (encrypted, epoch 1)"


def _rec(t: float, kind: str = "", text: str = "x", size: int = 0, done: int = 0) -> TraceRecord:
    return TraceRecord(t, "SCTP", "send", text, kind=kind, payload_bytes=size, messages=done,
                       streams=(1,) if kind else ())  # fmt: skip


def test_run_summary_folds_runs_in_time_order() -> None:
    out: list[tuple[TraceRecord, str]] = []
    runs = RunSummary(lambda r, s: out.append((r, s)), shown=1)
    runs.add(_rec(0.0, "SCTP DATA", "first", 1000, 1), "A")  # shown in full
    for i in range(1, 1001):
        runs.add(_rec(i / 1000, "SCTP DATA", size=1000, done=1), "A")
        if i % 10 == 0:
            runs.add(_rec(i / 1000, "SCTP SACK"), "B")
    runs.add(_rec(2.0, text="a note"), "A")  # any other line flushes the runs first
    runs.flush()
    texts = [r.text for r, _ in out]
    assert texts[0] == "first"
    # the SACK run's first record was shown in full (a new kind), then both runs fold
    assert texts[-1] == "a note"
    data = [r for r, _ in out if r.kind == "run" and r.text.startswith("SCTP DATA")]
    sacks = [r for r, _ in out if r.kind == "run" and r.text.startswith("SCTP SACK")]
    assert sum(r.count for r in data) == 1000 and sum(r.messages for r in data) == 1000
    assert sum(r.count for r in sacks) == 99
    assert data[-1].text == "SCTP DATA × 990, 990 messages, 990.0 kB, stream 1"
    starts = [r.since if r.since is not None else r.time for r, _ in out]
    assert starts == sorted(starts)


def test_sack_chunks_fold_as_their_own_kind() -> None:
    packet = Packet(5000, 5000, 1, [SackChunk(5, 1000, [], [])]).encode()
    assert describe_sctp(packet).startswith("SCTP SACK cum_tsn=5")


def test_a_failed_handshake_names_the_alert_both_ways() -> None:
    """A wrong a=fingerprint: the side that checks it sends bad_certificate (RFC 8122 §5,
    RFC 5246 §7.2.2) and the trace of each side says which alert, and who sent it."""
    import asyncio
    import re

    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.peerconnection import Description, Settings

    notes: dict[str, list[str]] = {"A": [], "B": []}

    def make_settings(name: str) -> Settings:
        def tracer(record: object) -> None:
            assert isinstance(record, TraceRecord)
            if record.direction == "note" and record.layer == "DTLS":
                notes[name].append(record.text)

        return Settings(host_addresses=["127.0.0.1"], tracer=tracer)

    async def main() -> None:
        a = PeerConnection(settings=make_settings("A"))
        b = PeerConnection(settings=make_settings("B"))
        a.create_data_channel("x")
        try:
            await a.set_local_description()
            await a.wait_gathering_complete()
            assert a.local_description is not None
            await b.set_remote_description(a.local_description)
            await b.set_local_description()
            await b.wait_gathering_complete()
            assert b.local_description is not None
            answer = b.local_description.to_dict()
            # B's certificate no longer matches what A expects
            answer["sdp"] = re.sub(
                r"a=fingerprint:sha-256 (\S\S)",
                lambda m: "a=fingerprint:sha-256 " + ("01" if m.group(1) == "00" else "00"),
                answer["sdp"],
            )
            await a.set_remote_description(Description.from_dict(answer))
            for _ in range(200):
                if notes["A"] and notes["B"]:
                    break
                await asyncio.sleep(0.02)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
    assert any("alert bad_certificate sent" in n for n in notes["A"]), notes
    assert any("alert bad_certificate received" in n for n in notes["B"]), notes


@given(st.binary(max_size=300), st.sampled_from(["send", "recv"]))
@settings(max_examples=400, deadline=None)
def test_tracer_never_raises_on_hostile_bytes(data: bytes, direction: str) -> None:
    """The tracer also describes what the peer sent: any bytes, never an exception."""
    records: list[object] = []
    tracer = Tracer(records.append)
    for first in (b"", b"\x00", b"\x16", b"\x15", b"\x17", b"\x80", b"\x81\xc8", b"\x40"):
        tracer.datagram(direction, first + data, ("192.0.2.1", 1), None, 0.0)
    tracer.sctp(direction, data, 0.0)
    # an SCTP packet header with hostile chunks behind it
    tracer.sctp(direction, bytes(12) + data, 0.0)
    summary = RunSummary(lambda r, s: None)
    for record in records:
        assert isinstance(record, TraceRecord)
        summary.add(record)
    summary.flush()


# ---------------------------------------------------------------- each protocol's describe


def test_stun_names_the_check_and_escapes_what_the_peer_wrote() -> None:
    """A USERNAME or error reason comes from the wire: a hostile peer must not write
    control characters (a newline, a terminal escape) into the learner's terminal."""
    req = stun.Message(stun.Method.BINDING, transaction_id=bytes(12))
    req.add_text(stun.AttributeType.USERNAME, "ab:cd\n\x1b[2J")
    req.add_uint64(stun.AttributeType.ICE_CONTROLLING, 1)
    text = stun.describe(req.encode(b"pwd", fingerprint=True))
    assert text.startswith("STUN BINDING request USERNAME=ab:cd\\x0a\\x1b[2J")
    assert "ICE-CONTROLLING (connectivity check, RFC 8445 §7.2.4)" in text
    assert "\n" not in text and "\x1b" not in text
    err = req.error_response(487, "Role\rConflict" + "x" * 100)
    line = stun.describe(err.encode())
    assert line.startswith("STUN BINDING error 487 Role\\x0dConflict") and len(line) < 120
    assert stun.describe(b"\x00\x01\x00") == "malformed STUN"


def test_dtls13_encrypted_records_are_named_not_misread() -> None:
    """RFC 9147 §4: a unified header (001CSLEE) is not a 13-byte DTLSPlaintext header."""
    # S=1 (16-bit seq), L=1 (length), epoch bits 3, 20 bytes of ciphertext; then another
    record = bytes([0b0010_1111, 0x12, 0x34, 0, 20]) + bytes(20)
    assert dtls.describe(record + record) == (
        "DTLS encrypted record 20 B, epoch ≡ 3 mod 4 (RFC 9147 §4), "
        "encrypted record 20 B, epoch ≡ 3 mod 4 (RFC 9147 §4)"
    )
    assert not dtls.only_application_data(record, established=False)
    assert dtls.only_application_data(record, established=True)
    assert dtls.only_application_data(b"\x17\xfe\xfd" + bytes(10), established=False)
    # DTLS 1.3's handshake messages by name (RFC 8446 §4): EncryptedExtensions is type 8
    hs = bytes([8, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0])
    plain = bytes([22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, len(hs)]) + hs
    assert dtls.describe(plain) == "DTLS EncryptedExtensions"
    assert dtls.alert_name(42) == "bad_certificate" and dtls.alert_name(7) == "alert 7"


def test_sctp_names_chunks_and_leaves_the_payload_to_the_layer_above() -> None:
    packet = Packet(5000, 5000, 1, [_chunk(1, 10, B | E), SackChunk(0, 100, [(2, 3)], [])])
    raw = packet.encode()
    # SCTP alone knows the PPID, not what it means (RFC 8831 §8 belongs to data channels)
    assert sctp.describe(raw) == (
        "SCTP DATA tsn=1 stream=1 PPID 53 10 B, "
        "SACK cum_tsn=0 a_rwnd=100, 1 gap block(s) (RFC 9260 §3.3.4)"
    )
    summary = sctp.summarize(raw, FragmentLabeller(), "recv", datachannel.describe_payload)
    assert summary.text.startswith("SCTP DATA tsn=1 stream=1 binary message 1, 10 B")
    assert (summary.kind, summary.messages, summary.payload_bytes) == ("SACK+DATA", 1, 10)
    # DCEP is a control message: not numbered, not folded with the user's DATA
    open_ = DataChunk(2, 1, 0, 50, bytes([3]) + bytes(15))
    dcep = sctp.summarize(
        Packet(5000, 5000, 1, [open_]).encode(), FragmentLabeller(), "send",
        datachannel.describe_payload,
    )  # fmt: skip
    assert dcep.text == "SCTP DATA tsn=2 stream=1 DATA_CHANNEL_OPEN (RFC 8832 §5.1) 16 B"
    assert (dcep.kind, dcep.messages) == ("", 0)


def test_rtp_describes_srtp_and_srtcp_headers() -> None:
    rtp_packet = bytes([0x80, 0x80 | 0, 0x12, 0x67]) + bytes(4) + bytes.fromhex("1a2b3c4d")
    assert rtp.describe(rtp_packet + bytes(160), secure=True) == (
        "SRTP 172 B, PT 0, SSRC 1a2b3c4d, seq 4711, marker (RFC 3711 §3.1)"
    )
    assert rtp.stream_label(rtp_packet) == "PT 0 SSRC 1a2b3c4d"
    sr = bytes([0x80, 200, 0, 6]) + bytes.fromhex("01020304") + bytes(20)
    sdes = bytes([0x81, 202, 0, 1]) + bytes.fromhex("01020304")
    assert (
        rtp.describe(sr + sdes) == "RTCP 36 B: SR from 01020304, SDES from 01020304 (RFC 3550 §6)"
    )
    # SRTCP: everything after the first packet's first 8 bytes is ciphertext
    assert rtp.describe(sr + sdes + bytes(14), secure=True) == (
        "SRTCP 50 B, first packet SR from 01020304 (RFC 3711 §3.4, RFC 3550 §6)"
    )
    assert rtp.stream_label(sr) == ""


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_every_describe_takes_any_bytes(data: bytes) -> None:
    """What a peer sends reaches these functions: any bytes give a line, never an error."""
    for prefix in (b"", b"\x00\x01", b"\x16\xfe\xfd", b"\x2f", b"\x3c", b"\x80", b"\x81\xc8"):
        raw = prefix + data
        for line in (
            stun.describe(raw),
            dtls.describe(raw),
            sctp.describe(raw, FragmentLabeller(), "recv", datachannel.describe_payload),
            sctp.describe(bytes(12) + raw),
            rtp.describe(raw),
            rtp.describe(raw, secure=True),
            turn.describe(raw, dtls.describe),
        ):
            assert isinstance(line, str) and "\n" not in line
        dtls.only_application_data(raw, established=True)
        rtp.stream_label(raw)
    datachannel.describe_payload(50, data)


def test_turn_channel_data_says_what_it_relays() -> None:
    records: list[object] = []
    hello = bytes([22, 0xFE, 0xFD]) + bytes(8) + bytes([0, 12]) + bytes([1]) + bytes(11)
    frame = bytes([0x40, 0x01, 0, len(hello)]) + hello
    Tracer(records.append).datagram("recv", frame, ("192.0.2.1", 3478), None, 0.0)
    (record,) = records
    assert isinstance(record, TraceRecord) and record.layer == "TURN"
    assert record.text == (
        "TURN ChannelData 0x4001, 25 B (RFC 8656 §12.4) carrying DTLS ClientHello"
    )
    assert turn.describe(b"\x40\x01\x00\x09abc") == (
        "TURN ChannelData (malformed: channel 0x4001, length 9)"
    )


def test_fuzz_harness_over_seeds() -> None:
    """fuzz/fuzz_trace.py over real packets of each protocol and their truncations."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_trace.py"
    spec = importlib.util.spec_from_file_location("fuzz_trace", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    req = stun.Message(stun.Method.BINDING, transaction_id=bytes(12))
    req.add_text(stun.AttributeType.USERNAME, "a:b")
    seeds = [
        req.encode(b"k", fingerprint=True),
        Packet(5000, 5000, 1, [_chunk(1, 100, B), SackChunk(0, 9, [(2, 3)], [7])]).encode(),
        bytes([22, 0xFE, 0xFD]) + bytes(8) + bytes([0, 12, 1, 0, 0, 5]) + bytes(8),
        bytes([0x2F, 0, 1, 0, 3, 1, 2, 3]),
        bytes([0x80, 0, 0, 1]) + bytes(8) + bytes(20),
        bytes([0x81, 200, 0, 6]) + bytes(24),
        bytes([0x40, 0, 0, 4, 0, 1, 0, 0]),
    ]
    for seed in seeds:
        for cut in range(0, len(seed) + 1, 3):
            module.TestOneInput(seed[:cut])


def test_a_traced_dtls13_session_is_narrated_at_each_boundary() -> None:
    """Two real peers on loopback, DTLS 1.3 (the default), both traced. The tracer sees
    each SCTP packet once on each side, whatever route the plaintext took out of DTLS
    (one record, a batch, an event), and DTLS 1.3's encrypted application data is left
    to the SCTP lines, not misread as 13-byte DTLS 1.2 headers (RFC 9147 §4)."""
    import asyncio

    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.datachannel import DataChannel
    from pyrtcstack.peerconnection import Settings

    records: dict[str, list[TraceRecord]] = {"A": [], "B": []}

    def settings(name: str) -> Settings:
        def tracer(record: object) -> None:
            assert isinstance(record, TraceRecord)
            records[name].append(record)

        return Settings(host_addresses=["127.0.0.1"], tracer=tracer)

    def sctp_count(name: str, direction: str) -> int:
        return sum(1 for r in records[name] if r.layer == "SCTP" and r.direction == direction)

    async def main() -> None:
        a = PeerConnection(settings=settings("A"))
        b = PeerConnection(settings=settings("B"))
        got: list[object] = []
        b.on("datachannel", lambda ch: ch.on("message", got.append))
        chan: DataChannel = a.create_data_channel("x")
        opened = asyncio.Event()
        chan.on("open", opened.set)
        try:
            await a.set_local_description()
            await a.wait_gathering_complete()
            assert a.local_description is not None
            await b.set_remote_description(a.local_description)
            await b.set_local_description()
            await b.wait_gathering_complete()
            assert b.local_description is not None
            await a.set_remote_description(b.local_description)
            await asyncio.wait_for(opened.wait(), 10)
            for i in range(200):
                chan.send(bytes([i]) * 1500)  # two fragments each
            for _ in range(500):
                quiet = sctp_count("A", "send") == sctp_count("B", "recv") and sctp_count(
                    "B", "send"
                ) == sctp_count("A", "recv")
                if len(got) == 200 and quiet:
                    break
                await asyncio.sleep(0.02)
        finally:
            await a.close()
            await b.close()
        assert len(got) == 200

    asyncio.run(main())
    a_notes = [r.text for r in records["A"] if r.direction == "note"]
    assert any(t.startswith("handshake complete: DTLS 1.3") for t in a_notes), a_notes
    assert "sending close_notify (RFC 5246 §7.2.1)" in a_notes
    handshake = next(
        i for i, r in enumerate(records["A"]) if r.text.startswith("handshake complete")
    )
    after = [
        r.text for r in records["A"][handshake:] if r.layer == "DTLS" and r.direction != "note"
    ]
    assert len(after) <= 4, after  # the last flight and an alert, not one per SCTP packet
    assert all("type " not in t and "(malformed)" not in t for t in after), after
    sent = [r for r in records["A"] if r.layer == "SCTP" and r.direction == "send"]
    assert sum(r.messages for r in sent) >= 200
    assert sctp_count("A", "send") > 100
