"""`demo --pcap`: the tshark command the demo prints works as printed (issue 17).

The demo runs through the real entry point, writes the capture, the key log and the
throwaway RSA key Wireshark's DTLS table asks for, and prints one tshark command. That
command, run as printed, must show every layer a learner looks for: STUN, the DTLS
handshake, SCTP with DCEP (decrypted), SRTP and SRTCP, and nothing unrecognised (before,
RTP showed as "UDP", RTCP as "BACnet", and the data channel not at all).
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.peers import require_binary

DEMO_OPTIONS = ("--messages", "60", "--audio", "1.2")


def _printed_command(pcap: Path) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "demo", "--pcap", str(pcap), *DEMO_OPTIONS],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (line,) = [x for x in run.stdout.splitlines() if x.strip().startswith("read it: ")]
    return shlex.split(line.split("read it: ", 1)[1])


def test_printed_tshark_command_shows_every_protocol(tmp_path: Path) -> None:
    tshark = require_binary("tshark", "tshark")
    pcap = tmp_path / "demo.pcap"
    argv = _printed_command(pcap)
    assert argv[0] == "tshark"
    key = Path(str(pcap) + ".dummy-rsa.pem")
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600

    def tshark_rows(*extra: str) -> list[list[str]]:
        out = subprocess.run(
            [tshark, *argv[1:], *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines()]

    rows = tshark_rows("-T", "fields", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info")
    protocols = Counter(row[0] for row in rows)
    infos = "\n".join(row[1] for row in rows if len(row) > 1)
    assert set(protocols) <= {"STUN", "DTLS", "DTLSv1.2", "SCTP", "RTCDC", "SRTP", "SRTCP"}, (
        protocols
    )
    assert protocols["STUN"] >= 4  # the checks of both sides and their answers
    for step in ("Client Hello", "Server Hello", "Client Key Exchange", "Close Notify"):
        assert step in infos, step
    for step in ("INIT_ACK", "COOKIE_ECHO", "DATA_CHANNEL_OPEN_REQUEST", "DATA_CHANNEL_ACK"):
        assert step in infos, step
    assert protocols["SRTP"] >= 60  # 1.2 s of 20 ms PCMU frames each way
    assert protocols["SRTCP"] >= 1
    assert "Sender Report" in infos or "Receiver Report" in infos
    # The 60 binary messages (PPID 53) decrypt: one DATA chunk with the E bit set each.
    chunks = tshark_rows(
        "-Y", "sctp.data_payload_proto_id==53", "-T", "fields",
        "-e", "sctp.data_payload_proto_id", "-e", "sctp.data_e_bit",
    )  # fmt: skip
    ends = sum(
        ppid == "53" and e == "1"
        for row in chunks
        for ppid, e in zip(row[0].split(","), row[1].split(","), strict=True)
    )
    assert ends == 60
