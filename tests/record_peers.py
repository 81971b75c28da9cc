"""Record what real peers send us, for ``tests/data/recorded`` (run by hand, not by the suite).

::

    unshare -n sh -c 'ip link set lo up && .venv/bin/python tests/record_peers.py'
    unshare -n sh -c 'ip link set lo up && .venv/bin/python tests/record_peers.py aiortc werift'

For each peer (Chromium, Firefox ESR and werift through the interop harness, aiortc in this
process) it runs a short session against our PeerConnection: data channels opened by both
sides (DCEP) with messages both ways, PCMU audio both ways and, for the browsers, a data
channel relayed through coturn. Meanwhile dumpcap captures loopback and our side writes its
DTLS key log. Then tshark, an independent decoder, decrypts the capture and describes every
STUN message, DTLS handshake record, TURN ChannelData, SCTP packet (with its DCEP messages)
and RTP header that the *peer* sent. Those packets, tshark's reading of each, and the
session's SDPs go to ``tests/data/recorded/PEER.json``; ``tests/test_recorded_peers.py``
holds our decoders to tshark's reading. For aiortc, its plaintext RTCP (taken before its
SRTP protects it, through a hook on its DTLS transport) is recorded too, and read by tshark
from a second capture of just those packets.

Nothing here leaves loopback: run it inside ``unshare -n`` as above.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyrtcstack.aio.pcap import PcapWriter
from pyrtcstack.interop import matrix
from pyrtcstack.interop.matrix import Launch, loopback_settings, run_launch
from pyrtcstack.interop.scenarios import scenario_spec
from pyrtcstack.interop.session import PeerSession

OUT = Path(__file__).resolve().parent / "data" / "recorded"
PEERS = ("chromium", "firefox", "werift", "aiortc")
#: At most this many packets of one kind from one peer are kept (the first ones).
KEEP = {"stun": 12, "dtls": 12, "channeldata": 6, "sctp": 40, "rtp": 8, "rtcp": 12}


# -- running the sessions ----------------------------------------------------------------------
class RecordingSession(PeerSession):
    """The harness's signaling session, keeping every description and candidate both ways."""

    log: ClassVar[list[dict[str, Any]]] = []

    def send(self, scenario: int, message: dict[str, Any]) -> None:
        RecordingSession.log.append({"from": "ours", "scenario": scenario, **message})
        super().send(scenario, message)

    def inbox(self, scenario: int) -> asyncio.Queue[dict[str, Any]]:
        queue = super().inbox(scenario)
        if not getattr(queue, "_recording", False):
            put = queue.put_nowait

            def put_nowait(message: dict[str, Any]) -> None:
                RecordingSession.log.append({"from": "peer", "scenario": scenario, **message})
                put(message)

            queue.put_nowait = put_nowait  # type: ignore[method-assign]
            queue._recording = True  # type: ignore[attr-defined]
        return queue


async def run_harness_peer(peer: str, keylog: Path) -> tuple[list[dict[str, Any]], int | None]:
    """Run the scenarios against ``peer``; return the signaling log and coturn's port."""
    scenarios = [
        scenario_spec("dc+audio", "we-offer", trickle=False, audio=True),
        scenario_spec("dc+audio", "peer-offers", trickle=False, audio=True),
    ]
    if peer != "werift":
        scenarios.append(scenario_spec("dc+turn", "we-offer", trickle=False, relay=True))

    def settings() -> Any:
        return dataclasses.replace(loopback_settings(), keylog_file=str(keylog))

    RecordingSession.log = []
    matrix.PeerSession = RecordingSession  # type: ignore[misc]
    try:
        results = await run_launch(Launch(peer, scenarios), settings_factory=settings)
    finally:
        matrix.PeerSession = PeerSession  # type: ignore[misc]
    for r in results:
        print(f"  {peer}: {r.name}: {'ok' if r.ok else 'FAILED ' + str(r.error)}")
    coturn_port = None
    for spec in scenarios:
        for server in spec.get("pcConfig", {}).get("iceServers", []):
            coturn_port = int(str(server["urls"]).rsplit(":", 1)[1].split("?")[0])
    return RecordingSession.log, coturn_port


async def run_aiortc(keylog: Path, rtcp_pcap: Path) -> list[dict[str, Any]]:
    """Our PeerConnection offers, aiortc answers: a data channel each way and audio both
    ways; aiortc's RTCP is written to ``rtcp_pcap`` in the clear as it leaves aiortc."""
    import aioice.ice
    import aiortc
    from aiortc.mediastreams import AudioStreamTrack
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    from pyrtcstack.aio.peerconnection import PeerConnection
    from pyrtcstack.media import G711Track, ToneSource
    from pyrtcstack.peerconnection import Description

    with open(rtcp_pcap, "wb") as f:
        writer = PcapWriter(f)
        original = RTCDtlsTransport._send_rtp

        async def send_rtp(self: Any, data: bytes) -> None:
            if len(data) >= 2 and 192 <= data[1] <= 223:
                writer.write(("127.0.0.2", 5005), ("127.0.0.1", 5005), data)
            await original(self, data)

        RTCDtlsTransport._send_rtp = send_rtp  # type: ignore[method-assign]
        # INTEROP.md §1: aioice skips loopback when gathering; pin it to 127.0.0.1.
        aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
        log: list[dict[str, Any]] = []
        ours = PeerConnection(
            settings=dataclasses.replace(loopback_settings(), keylog_file=str(keylog))
        )
        theirs = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        try:
            got: asyncio.Queue[Any] = asyncio.Queue()
            ours.add_track(G711Track(ToneSource(440.0, amplitude=0.3)))
            theirs.addTrack(AudioStreamTrack())
            mine = ours.create_data_channel("ours")
            mine.on("message", got.put_nowait)

            @theirs.on("datachannel")
            def on_datachannel(channel: Any) -> None:
                channel.on("message", channel.send)

            theirs_channel = theirs.createDataChannel("theirs", protocol="echo")
            theirs_channel.on("open", lambda: theirs_channel.send("hello from aiortc"))
            await ours.set_local_description()
            await ours.wait_gathering_complete()
            assert ours.local_description is not None
            offer = ours.local_description.to_dict()
            log.append({"from": "ours", "scenario": 0, "kind": "description", **offer})
            await theirs.setRemoteDescription(aiortc.RTCSessionDescription(**offer))
            await theirs.setLocalDescription(await theirs.createAnswer())
            answer = {"type": theirs.localDescription.type, "sdp": theirs.localDescription.sdp}
            log.append({"from": "peer", "scenario": 0, "kind": "description", **answer})
            await ours.set_remote_description(Description.from_dict(answer))
            opened = asyncio.Event()
            mine.on("open", opened.set)
            if mine.ready_state != "open":
                await asyncio.wait_for(opened.wait(), 15)
            for i in range(5):
                mine.send(f"message {i} " + "x" * (300 * i))
                await asyncio.wait_for(got.get(), 15)
            mine.send(bytes(range(256)) * 8)  # 2 KiB: more than one DATA chunk from aiortc
            await asyncio.wait_for(got.get(), 15)
            await asyncio.sleep(6)  # RTCP: aiortc sends its SR/RR/SDES every ~5 s
        finally:
            RTCDtlsTransport._send_rtp = original  # type: ignore[method-assign]
            await theirs.close()
            await ours.close()
    return log


# -- reading the capture with tshark -----------------------------------------------------------
def tshark_json(pcap: Path, args: list[str]) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "json", "-x", *args],
        capture_output=True,
        check=True,
    ).stdout
    return list(json.loads(out or b"[]", object_pairs_hook=_keep_duplicates))


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """tshark's JSON repeats a key when a frame holds a layer twice (two SCTP packets in
    two DTLS records of one datagram): keep every one, as a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            if not isinstance(out[key], _Repeated):
                out[key] = _Repeated([out[key]])
            out[key].append(value)
        else:
            out[key] = value
    return out


class _Repeated(list):  # type: ignore[type-arg]
    """A layer or field that a frame holds more than once."""


def each(value: Any) -> list[Any]:
    return list(value) if isinstance(value, _Repeated) else [value]


def tshark_version() -> str:
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


def udp_ports(pcap: Path) -> set[int]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "udp", "-T", "fields", "-e", "udp.srcport"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(x) for x in out.split()}


def raw(value: Any) -> str:
    """The hex of a ``*_raw`` field of tshark's JSON ([hex, offset, length, mask, type])."""
    while isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]
    return str(value[0]) if isinstance(value, list) else str(value)


def walk(tree: Any) -> list[tuple[str, Any]]:
    """Every (field, value) of a tshark layer in order, subtrees flattened."""
    out: list[tuple[str, Any]] = []
    if isinstance(tree, dict):
        for key, values in tree.items():
            for value in each(values):
                out.append((key, value))
                if isinstance(value, dict):
                    out.extend(walk(value))
    return out


def first(tree: dict[str, Any], name: str) -> Any:
    for key, value in walk(tree):
        if key == name:
            return value
    return None


def as_int(text: Any) -> int:
    s = str(text[0] if isinstance(text, list) else text)
    return int(s, 16) if s.startswith("0x") else int(s)


def sctp_chunks(layer: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    for key, sub in layer.items():
        if not isinstance(sub, dict) or "sctp.chunk_type" not in sub:
            continue
        c: dict[str, Any] = {
            "type": as_int(sub["sctp.chunk_type"]),
            "flags": as_int(sub["sctp.chunk_flags"]),
            "length": as_int(sub["sctp.chunk_length"]),
        }
        fields = dict(walk(sub))
        named = {
            "tsn": "sctp.data_tsn_raw",
            "stream_id": "sctp.data_sid",
            "ssn": "sctp.data_ssn",
            "ppid": "sctp.data_payload_proto_id",
            "initiate_tag": "sctp.init_initiate_tag",
            "a_rwnd": "sctp.init_credit",
            "outbound_streams": "sctp.init_nr_out_streams",
            "inbound_streams": "sctp.init_nr_in_streams",
            "initial_tsn": "sctp.init_initial_tsn",
            "cumulative_tsn": "sctp.sack_cumulative_tsn_ack_raw",
            "sack_a_rwnd": "sctp.sack_a_rwnd",
            "gap_blocks": "sctp.sack_number_of_gap_blocks",
            "duplicate_tsns": "sctp.sack_number_of_duplicated_tsns",
        }
        for name, field in named.items():
            # INIT ACK's fields are named sctp.initack_* where INIT's are sctp.init_*
            for f in (field, field.replace("sctp.init_", "sctp.initack_")):
                if f in fields and not isinstance(fields[f], list):
                    c[name] = as_int(fields[f])
        if "sctp.parameter_type" in fields:
            c["parameter_types"] = [as_int(v) for k, v in walk(sub) if k == "sctp.parameter_type"]
        c["label"] = key
        chunks.append(c)
    return chunks


def dtls_facts(layer: dict[str, Any]) -> dict[str, Any]:
    records, handshakes, fragments, record_fields = [], [], [], []
    for key, value in walk(layer):
        if key == "dtls.record.content_type":
            records.append(as_int(value))
        if key == "dtls.handshake.type":
            handshakes.append(as_int(value))
        if isinstance(value, dict) and "dtls.record.content_type" in value:
            record_fields.append(
                {
                    n: as_int(value[f"dtls.record.{n}"])
                    for n in ("content_type", "epoch", "sequence_number", "length")
                    if f"dtls.record.{n}" in value
                }
            )
        if isinstance(value, dict) and "dtls.handshake.type" in value:
            fragments.append(
                {
                    n: as_int(value[f"dtls.handshake.{n}"])
                    for n in ("type", "length", "message_seq", "fragment_offset", "fragment_length")
                    if f"dtls.handshake.{n}" in value
                }
            )
    hello: dict[str, Any] = {}
    suites = [as_int(v) for k, v in walk(layer) if k == "dtls.handshake.ciphersuite"]
    if 1 in handshakes:
        hello["cipher_suites"] = suites
        hello["extension_types"] = [
            as_int(v) for k, v in walk(layer) if k == "dtls.handshake.extension.type"
        ]
    return {
        "content_types": records,
        "handshake_types": handshakes,
        "records": record_fields,
        "handshakes": fragments,
        **hello,
    }


def sctp_item(layer: dict[str, Any], packet: bytes, layers: dict[str, Any]) -> dict[str, Any]:
    """One SCTP packet (decrypted from DTLS by tshark) and tshark's reading of it; with the
    DCEP messages tshark found when the datagram held this one SCTP packet."""
    facts: dict[str, Any] = {
        "source_port": as_int(layer["sctp.srcport"]),
        "destination_port": as_int(layer["sctp.dstport"]),
        "verification_tag": as_int(layer["sctp.verification_tag"]),
        "checksum": as_int(layer["sctp.checksum"]),
        "chunks": sctp_chunks(layer),
    }
    if "rtcdc" in layers and len(each(layers["sctp"])) == 1:
        names = ("message_type", "channel_type", "priority", "reliability_parameter")
        facts["dcep"] = [
            {
                **{n: as_int(dc[f"rtcdc.{n}"]) for n in names if f"rtcdc.{n}" in dc},
                **{n: dc[f"rtcdc.{n}"] for n in ("label", "protocol") if f"rtcdc.{n}" in dc},
            }
            for dc in each(layers["rtcdc"])
        ]
    return {"hex": packet.hex(), "tshark": facts}


def decrypted_records(pcap: Path, args: list[str]) -> list[list[bytes]]:
    """Per frame, the plaintext of each DTLS record tshark decrypted (its ``-x`` dump)."""
    text = subprocess.run(
        ["tshark", "-r", str(pcap), "-x", *args], capture_output=True, text=True, check=True
    ).stdout
    frames: list[list[bytes]] = []
    block: bytearray | None = None
    for line in text.splitlines():
        if line.startswith("Frame ("):
            frames.append([])
            block = None
        elif line.startswith("Decrypted DTLS ("):
            block = bytearray()
            frames[-1].append(block)  # type: ignore[arg-type]
        elif line.endswith("bytes):"):
            block = None  # another data source (a reassembly): not a record
        elif block is not None and re.match(r"^[0-9a-f]{4}  ", line):
            block += bytes.fromhex(line[6:54])
    return [[bytes(b) for b in f] for f in frames]


def extract(
    pcap: Path, keylog: Path, peer_ports: set[int], our_ports: set[int], coturn: int | None
) -> dict[str, list[dict[str, Any]]]:
    key = pcap.parent / "dummy.pem"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    # tshark hands decrypted DTLS to SCTP only for the (address, port) pairs listed here;
    # the RSA key is a placeholder the preference needs (the key log does the decrypting).
    keys = ";".join(f"127.0.0.1,{p},sctp,{key}" for p in sorted(udp_ports(pcap)))
    # Two readings: listing a port in dtls.keys_list makes tshark read every datagram on it
    # as DTLS (STUN included), so SCTP comes from a second reading of its own.
    plain = ["-o", "rtp.heuristic_rtp:TRUE"]
    if coturn is not None:
        plain += ["-d", f"udp.port=={coturn},stun"]
    decrypted = [
        "-o",
        f"tls.keylog_file:{keylog}",
        "-o",
        f"dtls.keys_list:{keys}",
        "-o",
        "sctp.relative_tsns:FALSE",
        "-o",
        "sctp.reassembly:FALSE",
        "-Y",
        "sctp",
    ]
    # tshark's JSON has no field with a whole decrypted record (``sctp_raw`` stops where a
    # DATA chunk's user data starts), so the bytes come from its hex dump of each frame's
    # "Decrypted DTLS" data sources, frame by frame in the same order.
    packets_of = decrypted_records(pcap, decrypted)
    sctp_frames = tshark_json(pcap, decrypted)
    if len(packets_of) != len(sctp_frames):
        raise RuntimeError("tshark's hex dump and JSON disagree on the frames")
    for frame, packets in zip(sctp_frames, packets_of, strict=True):
        frame["_packets"] = packets
    frames = tshark_json(pcap, plain) + sctp_frames
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in KEEP}
    seen: dict[tuple[Any, ...], int] = {}
    for packet in frames:
        layers = packet["_source"]["layers"]
        udp = layers.get("udp")
        if udp is None:
            continue
        src = as_int(udp["udp.srcport"])
        if src in our_ports or (src not in peer_ports and src != coturn):
            continue
        offset = each(layers["udp_raw"])[0][1]
        payload = each(layers["frame_raw"])[0][0][2 * (offset + 8) :]
        item: dict[str, Any] | None = None
        kind = ""
        if "sctp" in layers:
            # The SCTP packets among the frame's decrypted records (a Finished is one too),
            # told by the common header tshark read (ports, verification tag).
            blocks = list(packet["_packets"])
            pairs = []
            for layer in (x for x in each(layers["sctp"]) if "sctp.srcport" in x):
                head = struct.pack(
                    "!HHI",
                    as_int(layer["sctp.srcport"]),
                    as_int(layer["sctp.dstport"]),
                    as_int(layer["sctp.verification_tag"]),
                )
                match = next(b for b in blocks if b[:8] == head)
                blocks.remove(match)
                pairs.append((layer, match))
            for layer, data in pairs:
                if len(out["sctp"]) < KEEP["sctp"]:
                    sctp = sctp_item(layer, data, layers)
                    shape = tuple((c["type"], c.get("ppid")) for c in sctp["tshark"]["chunks"])
                    if seen.setdefault(shape, 0) < 3:  # a few of each kind of packet
                        seen[shape] += 1
                        out["sctp"].append(sctp)
        elif "stun" in layers and not (int(payload[:2], 16) & 0xC0 == 0x40):
            stun = layers["stun"]
            kind, item = (
                "stun",
                {
                    "hex": payload,
                    "tshark": {
                        "type": as_int(first(stun, "stun.type")),
                        "length": as_int(first(stun, "stun.length")),
                        "transaction_id": raw(first(stun, "stun.id_raw")),
                        "attribute_types": [
                            as_int(v) for k, v in walk(stun) if k == "stun.att.type"
                        ],
                    },
                },
            )
        elif "stun" in layers:
            stun = layers["stun"]
            kind, item = (
                "channeldata",
                {
                    "hex": payload,
                    "tshark": {
                        "channel": as_int(first(stun, "stun.channel")),
                        "length": as_int(first(stun, "stun.length")),
                    },
                },
            )
        elif "dtls" in layers and dtls_facts(layers["dtls"])["handshake_types"]:
            kind, item = "dtls", {"hex": payload, "tshark": dtls_facts(layers["dtls"])}
        elif "rtp" in layers and first(layers["rtp"], "rtp.p_type") is not None:
            rtp = layers["rtp"]
            kind, item = (
                "rtp",
                {
                    "hex": payload,
                    "tshark": {
                        "version": as_int(first(rtp, "rtp.version")),
                        "padding": as_int(first(rtp, "rtp.padding")),
                        "extension": as_int(first(rtp, "rtp.ext")),
                        "csrc_count": as_int(first(rtp, "rtp.cc")),
                        "marker": as_int(first(rtp, "rtp.marker")),
                        "payload_type": as_int(first(rtp, "rtp.p_type")),
                        "sequence_number": as_int(first(rtp, "rtp.seq")),
                        "timestamp": as_int(first(rtp, "rtp.timestamp")),
                        "ssrc": as_int(first(rtp, "rtp.ssrc")),
                        "extension_profile": as_int(first(rtp, "rtp.ext.profile"))
                        if first(rtp, "rtp.ext.profile") is not None
                        else None,
                    },
                },
            )
        if item is not None and len(out[kind]) < KEEP[kind]:
            out[kind].append(item)
    return out


def extract_rtcp(pcap: Path) -> list[dict[str, Any]]:
    items = []
    for packet in tshark_json(pcap, ["-d", "udp.port==5005,rtcp"]):
        layers = packet["_source"]["layers"]
        offset = each(layers["udp_raw"])[0][1]
        payload = each(layers["frame_raw"])[0][0][2 * (offset + 8) :]
        rtcp = layers.get("rtcp")
        if rtcp is None:
            continue
        parts = each(rtcp)
        items.append(
            {
                "hex": payload,
                "tshark": {
                    "packet_types": [as_int(p["rtcp.pt"]) for p in parts],
                    "sender_ssrcs": [
                        as_int(p.get("rtcp.senderssrc", first(p, "rtcp.ssrc.identifier")))
                        for p in parts
                    ],
                    "lengths": [as_int(p["rtcp.length"]) for p in parts],
                },
            }
        )
    return items[: KEEP["rtcp"]]


# -- the record ---------------------------------------------------------------------------------
_CANDIDATE_PORT = re.compile(r"candidate:\S+ \d+ udp \d+ \S+ (\d+) typ", re.IGNORECASE)


def description(message: dict[str, Any]) -> dict[str, Any] | None:
    """The ``{type, sdp}`` a signaling message carries (the harness nests it)."""
    if message.get("kind") != "description":
        return None
    desc = message.get("description", message)
    return desc if isinstance(desc, dict) and desc.get("sdp") else None


def ports_of(log: list[dict[str, Any]], who: str) -> set[int]:
    ports: set[int] = set()
    for m in log:
        if m["from"] != who:
            continue
        desc = description(m) or {}
        text = str(desc.get("sdp") or "") + "\n" + json.dumps(m.get("candidate"))
        ports |= {int(p) for p in _CANDIDATE_PORT.findall(text)}
    return ports


def peer_version(peer: str) -> str:
    if peer == "aiortc":
        import aiortc

        return f"aiortc {aiortc.__version__}"
    if peer == "werift":
        lock = Path(__file__).resolve().parents[1] / ".werift" / "node_modules" / "werift"
        return "werift " + json.loads((lock / "package.json").read_text())["version"]
    binary = {"chromium": "chromium", "firefox": "firefox-esr"}[peer]
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().splitlines()[-1] if out.strip() else binary


async def record(peer: str, workdir: Path) -> dict[str, Any]:
    pcap, keylog, rtcp_pcap = workdir / "cap.pcapng", workdir / "keylog", workdir / "rtcp.pcap"
    dumpcap = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-w", str(pcap)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)
    coturn = None
    try:
        if peer == "aiortc":
            log = await run_aiortc(keylog, rtcp_pcap)
        else:
            log, coturn = await run_harness_peer(peer, keylog)
        await asyncio.sleep(1.0)
    finally:
        dumpcap.terminate()
        dumpcap.wait()
    packets = extract(pcap, keylog, ports_of(log, "peer"), ports_of(log, "ours"), coturn)
    if peer == "aiortc":
        packets["rtcp"] = extract_rtcp(rtcp_pcap)
    descriptions = [
        {"from": m["from"], "type": d["type"], "sdp": d["sdp"]}
        for m in log
        if (d := description(m)) is not None
    ]
    return {
        "peer": peer_version(peer),
        "recorded": datetime.date.today().isoformat(),
        "recorder": "tests/record_peers.py",
        "decoder": tshark_version(),
        "descriptions": descriptions,
        **packets,
    }


async def main(peers: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    for peer in peers:
        print(f"recording {peer} ...")
        workdir = Path(tempfile.mkdtemp(prefix=f"record-{peer}-"))
        try:
            data = await record(peer, workdir)
        except Exception as exc:  # report (the work folder is kept) and go on
            print(f"  {peer}: {type(exc).__name__}: {exc} (files in {workdir})")
            failed.append(peer)
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
        counts = {k: len(data[k]) for k in KEEP}
        print(f"  {peer}: {len(data['descriptions'])} descriptions, {counts}")
        path = OUT / f"{peer}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peers", nargs="*", help=f"some of {', '.join(PEERS)} (default: all)")
    args = parser.parse_args()
    if unknown := set(args.peers) - set(PEERS):
        parser.error(f"unknown peer(s): {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        print("run as root inside `unshare -n` (see the docstring)", file=sys.stderr)
    sys.exit(asyncio.run(main(args.peers or list(PEERS))))
