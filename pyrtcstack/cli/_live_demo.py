"""The live demo: two peer connections in one process over loopback.

Gathering, offer/answer, ICE checks, the DTLS handshake, the SCTP association, a data
channel exchange and a few seconds of PCMU tone both ways, then a summary. ``--trace``
narrates every protocol step with its RFC section, folding runs of SCTP DATA, SACK and
SRTP packets into one line each (``--trace-all``: every packet). ``--pcap FILE`` writes a
capture, ``FILE.keylog`` (NSS key log) and ``FILE.dummy-rsa.pem``, and prints the tshark
command that shows STUN, the DTLS handshake, SCTP and DCEP (decrypted), SRTP and SRTCP.

Not auto-registered (underscore): ``pyrtcstack demo`` wires :func:`add_arguments` and
:func:`run` in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from ..aio import PcapWriter, PeerConnection, RemoteTrack
from ..media import G711Track, ToneSource
from ..peerconnection import Settings
from ._args import number
from ._timeline import Timeline as _Timeline

__all__ = ["add_arguments", "run", "tshark_command"]

#: getStats' tlsVersion (the record version in hex) as the summary names it
_VERSIONS = {"FEFD": "1.2", "FEFC": "1.3"}


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
    parser.add_argument(
        "--trace",
        action="store_true",
        help="narrate every protocol step (runs of DATA, SACK and SRTP packets: one line each)",
    )
    parser.add_argument(
        "--trace-all", action="store_true", help="like --trace, with every packet on its own line"
    )
    parser.add_argument(
        "--pcap",
        metavar="FILE",
        type=_output_file,
        help="write a capture (+ FILE.keylog, FILE.dummy-rsa.pem) and print the tshark command",
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


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    loop = asyncio.get_running_loop()
    timeline = _Timeline(out, args.trace or args.trace_all, summarise=not args.trace_all)
    keylog_path = Path(args.pcap + ".keylog") if args.pcap else None
    keylog_file = keylog_path.open("w") if keylog_path else None

    def keylog(line: str) -> None:
        if keylog_file is not None:
            keylog_file.write(line.rstrip("\n") + "\n")
            keylog_file.flush()

    def settings(me: str, other: str) -> Settings:
        return Settings(
            host_addresses=["127.0.0.1"],
            # DTLS 1.2, not the default 1.3: the trace narrates the 1.2 handshake message
            # by message (1.3 encrypts it from the ServerHello on), and the --pcap capture
            # must decrypt in Debian 12's tshark (Wireshark 4.0 has no DTLS 1.3)
            dtls_versions=("1.2",),
            keylog=keylog,
            tracer=timeline.tracer(me, other) if timeline.enabled else None,
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
    timeline.flush()
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
        f"  DTLS: {_VERSIONS.get(str(transport.get('tlsVersion')), '?')}, "
        f"{transport.get('dtlsCipher')} (A is the DTLS {transport.get('dtlsRole')})",
        file=out,
    )
    profile = a.core.dtls.srtp_profile  # the IANA name, as in the trace and docs/srtp.md
    print(f"  SRTP profile: {profile.name if profile is not None else 'none'}", file=out)
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
        assert keylog_path is not None
        key_path = Path(args.pcap + ".dummy-rsa.pem")
        _write_dummy_rsa_key(key_path)
        print(
            f"  capture: {args.pcap} ({pcap.packets if pcap else 0} packets), "
            f"key log: {keylog_path}",
            file=out,
        )
        command = tshark_command(
            args.pcap, keylog_path, key_path, str(local.get("address")), int(local.get("port", 0))
        )
        print(f"  read it: {shlex.join(command)}", file=out)
    return 0


def tshark_command(
    pcap: str | Path, keylog: str | Path, dummy_key: str | Path, server_ip: str, server_port: int
) -> list[str]:
    """The tshark command that shows every protocol of a demo capture, decrypted.

    * ``tls.keylog_file``: the NSS key log (``FILE.keylog``); the DTLS dissector reads the
      TLS preference, so the handshake's Finished and all application data decrypt.
    * ``uat:dtlsdecrypttablefile`` (the DTLS "RSA keys list"): its protocol column is the
      only way to tell Wireshark that DTLS carries SCTP (RFC 8261), so DCEP and the data
      channel messages show. Wireshark insists on a readable RSA key file in that row
      although ECDHE with the key log needs none, hence a throwaway ``FILE.dummy-rsa.pem``.
    * ``-d udp.port==PORT,stun`` (after the table, which claims PORT for DTLS): STUN
      dissects the port and hands what is not STUN to DTLS, as RFC 7983 demultiplexes;
      SRTP and SRTCP are then found from the DTLS ``use_srtp`` negotiation (without this
      the consent checks make RTCP fall through to other dissectors).
    """
    row = f'"{server_ip}","{server_port}","sctp","{dummy_key}",""'
    return [
        "tshark",
        "-r",
        str(pcap),
        "-o",
        f"tls.keylog_file:{keylog}",
        "-o",
        f"uat:dtlsdecrypttablefile:{row}",
        "-d",
        f"udp.port=={server_port},stun",
    ]


def _write_dummy_rsa_key(path: Path) -> None:
    """A fresh RSA key that decrypts nothing (see :func:`tshark_command`), mode 0600."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    return asyncio.run(_demo(args, sys.stdout))
