"""The live demo: two peer connections in one process over loopback.

Gathering, offer/answer, ICE checks, the DTLS handshake, the SCTP association, a data
channel exchange and a few seconds of PCMU tone both ways, then a summary. ``--trace``
narrates every protocol step with its RFC section; ``--pcap FILE`` writes a capture and
``FILE.keylog`` (NSS key log) that Wireshark/tshark decode and decrypt.

Not auto-registered (underscore): ``pyrtcstack demo`` wires :func:`add_arguments` and
:func:`run` in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ..aio.pcap import PcapWriter
from ..aio.peerconnection import PeerConnection, RemoteTrack
from ..media import G711Track, ToneSource
from ..peerconnection import Settings, TraceRecord
from ._args import number

__all__ = ["add_arguments", "run"]


#: The largest message the demo sends: our own max-message-size (a=max-message-size).
MAX_SIZE: int = Settings().sctp_max_message_size


def _output_file(text: str) -> str:
    """A path whose folder exists (the capture and its key log are written there)."""
    folder = os.path.dirname(text) or "."
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"no such folder: {folder!r}")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", action="store_true", help="narrate every protocol step")
    parser.add_argument(
        "--pcap", metavar="FILE", type=_output_file, help="write a capture (+ FILE.keylog)"
    )
    parser.add_argument(
        "--messages",
        type=number(int, low=0, high=10_000_000),
        default=2000,
        help="data channel messages to send (default 2000)",
    )
    parser.add_argument(
        "--size",
        type=number(int, low=1, high=MAX_SIZE),
        default=1000,
        help=f"bytes per message (default 1000, at most {MAX_SIZE}: the max-message-size)",
    )
    parser.add_argument(
        "--audio",
        type=number(low=0, high=3600),
        default=3.0,
        help="seconds of PCMU tone both ways (0: none)",
    )
    parser.add_argument(
        "--timeout",
        type=number(above=0),
        default=30.0,
        help="overall time limit in seconds (default 30)",
    )


class _Timeline:
    """Prints trace records as a timeline relative to the start of the demo."""

    def __init__(self, out: TextIO, enabled: bool) -> None:
        self.out = out
        self.enabled = enabled
        self.start: float | None = None
        self.lines = 0

    def _stamp(self, when: float) -> str:
        if self.start is None:
            self.start = when
        return f"{(when - self.start) * 1000:9.1f} ms"

    def say(self, when: float, who: str, layer: str, text: str) -> None:
        if not self.enabled:
            return
        self.lines += 1
        print(f"{self._stamp(when)}  {who:<4} {layer:<9} {text}", file=self.out)

    def tracer(self, me: str, other: str) -> Any:
        def on_record(record: object) -> None:
            assert isinstance(record, TraceRecord)
            if record.direction == "recv":
                return  # every datagram is narrated once, by its sender
            who = me if record.direction == "note" else f"{me}→{other}"
            self.say(record.time, who, record.layer, record.text)

        return on_record


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    loop = asyncio.get_running_loop()
    timeline = _Timeline(out, args.trace)
    keylog_path = Path(args.pcap + ".keylog") if args.pcap else None
    keylog_file = keylog_path.open("w") if keylog_path else None

    def keylog(line: str) -> None:
        if keylog_file is not None:
            keylog_file.write(line.rstrip("\n") + "\n")
            keylog_file.flush()

    def settings(me: str, other: str) -> Settings:
        return Settings(
            host_addresses=["127.0.0.1"],
            keylog=keylog,
            tracer=timeline.tracer(me, other) if args.trace else None,
        )

    a = PeerConnection(settings=settings("A", "B"))
    b = PeerConnection(settings=settings("B", "A"))
    pcap = PcapWriter(Path(args.pcap).open("wb")) if args.pcap else None  # noqa: SIM115
    if pcap is not None:

        def capture(direction: str, data: bytes, local: Any, remote: Any) -> None:
            if direction == "send":
                pcap.write(local, remote, data)
            else:
                pcap.write(remote, local, data)

        a.datagram_hook = capture
    for name, pc in (("A", a), ("B", b)):
        pc.on(
            "connectionstatechange",
            lambda state, name=name: timeline.say(
                loop.time(), name, "state", f"connectionState → {state}"
            ),
        )
        pc.on(
            "iceconnectionstatechange",
            lambda state, name=name: timeline.say(
                loop.time(), name, "state", f"iceConnectionState → {state}"
            ),
        )
    received = {"count": 0}
    all_received = asyncio.Event()
    tracks: dict[str, RemoteTrack] = {}
    total = args.messages

    def on_datachannel(channel: Any) -> None:
        def on_message(message: Any) -> None:
            received["count"] += 1
            if received["count"] == total:
                all_received.set()

        channel.on("message", on_message)

    b.on("datachannel", on_datachannel)
    a.on("track", lambda t: tracks.__setitem__("A", t))
    b.on("track", lambda t: tracks.__setitem__("B", t))
    channel = a.create_data_channel("demo")
    if args.audio > 0:
        a.add_track(G711Track(ToneSource(440.0, duration=args.audio)))
        b.add_track(G711Track(ToneSource(660.0, duration=args.audio)))
    try:
        async with asyncio.timeout(args.timeout):
            t0 = loop.time()
            timeline.say(
                t0, "A", "signaling", "createOffer + setLocalDescription (JSEP §5.2, §5.5)"
            )
            await a.set_local_description()
            await a.wait_gathering_complete()
            assert a.local_description is not None
            offer = a.local_description
            timeline.say(
                loop.time(),
                "A→B",
                "signaling",
                f"offer, {len(offer.sdp.splitlines())} SDP lines (RFC 8866)",
            )
            await b.set_remote_description(offer)
            timeline.say(
                loop.time(), "B", "signaling", "createAnswer + setLocalDescription (JSEP §5.3)"
            )
            await b.set_local_description()
            await b.wait_gathering_complete()
            assert b.local_description is not None
            timeline.say(
                loop.time(), "B→A", "signaling", "answer (a=setup:active: B is the DTLS client)"
            )
            await a.set_remote_description(b.local_description)
            await channel.wait_open(args.timeout)
            t_open = loop.time()
            payload = bytes(args.size)
            for _ in range(total):
                channel.send(payload)
            if total:
                await all_received.wait()
            t_data = loop.time()
            if args.audio > 0:
                await asyncio.sleep(args.audio + 0.3)
            stats_a = await a.get_stats()
    except TimeoutError:
        print("demo: timed out", file=sys.stderr)
        return 1
    finally:
        await a.close()
        await b.close()
        if pcap is not None:
            pcap.close()
        if keylog_file is not None:
            keylog_file.close()
    transport = next(s for s in stats_a.values() if s["type"] == "transport")
    pair = stats_a.get(transport.get("selectedCandidatePairId", ""), {})
    local = stats_a.get(pair.get("localCandidateId", ""), {})
    remote = stats_a.get(pair.get("remoteCandidateId", ""), {})
    elapsed = max(t_data - t_open, 1e-9)
    print("summary", file=out)
    print(f"  setup (offer → channel open): {(t_open - t0) * 1000:.1f} ms", file=out)
    print(
        f"  selected pair: {local.get('candidateType')} {local.get('address')}:{local.get('port')}"
        f" ↔ {remote.get('candidateType')} {remote.get('address')}:{remote.get('port')}",
        file=out,
    )
    print(
        f"  DTLS: {'1.2' if transport.get('tlsVersion') == 'FEFD' else '?'}, "
        f"{transport.get('dtlsCipher')} (A is the DTLS {transport.get('dtlsRole')})",
        file=out,
    )
    print(f"  SRTP profile: {transport.get('srtpCipher')}", file=out)
    print(
        f"  data channel: {total} messages of {args.size} B in {elapsed * 1000:.1f} ms = "
        f"{total / elapsed:,.0f} messages/s ({total * args.size / elapsed / 1e6:.1f} MB/s)",
        file=out,
    )
    if args.audio > 0:
        print(
            f"  audio frames received: A {tracks['A'].frames_received if 'A' in tracks else 0}, "
            f"B {tracks['B'].frames_received if 'B' in tracks else 0} (PCMU, 20 ms each)",
            file=out,
        )
    if args.pcap:
        print(
            f"  capture: {args.pcap} ({pcap.packets if pcap else 0} packets), "
            f"key log: {keylog_path}",
            file=out,
        )
        print(
            f"  decrypt: tshark -r {args.pcap} -o tls.keylog_file:{keylog_path} -Y dtls",
            file=out,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    return asyncio.run(_demo(args, sys.stdout))
