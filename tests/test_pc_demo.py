"""The live demo (pyrtcstack/cli/_live_demo.py): summary, trace, and a capture that tshark
decodes and decrypts with the key log."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pytest

from pyrtcstack.cli import _live_demo
from tests.peers import require_binary


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _live_demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_demo_summary_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert _live_demo.run(_args("--trace", "--messages", "200", "--audio", "0.6")) == 0
    out = capsys.readouterr().out
    for needle in (
        "STUN BINDING request",
        "USE-CANDIDATE (nomination, RFC 8445 §7.2.2)",
        "DTLS ClientHello",
        "ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone",
        "SCTP INIT (RFC 9260 §5.1 A)",
        "COOKIE-ECHO",
        "DATA_CHANNEL_OPEN",
        "B, PT 0, SSRC",
        "summary",
        "selected pair: host 127.0.0.1:",
        "DTLS: 1.2, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "data channel: 200 messages of 1000 B",
    ):
        assert needle in out, needle
    frames = out.split("audio frames received: A ")[1].split()
    assert int(frames[0].rstrip(",")) >= 10 and int(frames[2]) >= 10


def test_demo_capture_decrypts_with_tshark(tmp_path: Path) -> None:
    tshark = require_binary("tshark", "tshark")
    pcap = tmp_path / "demo.pcap"
    assert _live_demo.run(_args("--pcap", str(pcap), "--messages", "50", "--audio", "0.3")) == 0
    keylog = Path(str(pcap) + ".keylog")
    assert keylog.read_text().startswith("CLIENT_RANDOM ")

    def tshark_fields(*extra: str) -> str:
        run = subprocess.run(
            [tshark, "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}", *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return run.stdout

    hello = tshark_fields("-Y", "dtls.handshake.type==2", "-T", "fields", "-e", "udp.srcport")
    server_port = hello.split()[0]
    assert "Binding" in tshark_fields("-Y", "stun")
    # RSA key file required by the UAT but unused (INTEROP.md §3): any PEM will do.
    dummy = tmp_path / "dummy.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(dummy), "2048"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    uat = f'uat:dtlsdecrypttablefile:"127.0.0.1","{server_port}","sctp","{dummy}",""'
    decoded = tshark_fields("-o", uat, "-Y", "sctp")
    assert "INIT_ACK" in decoded and "COOKIE_ECHO" in decoded
    assert "DATA_CHANNEL_OPEN_REQUEST" in decoded
    tsns = tshark_fields(
        "-o", uat, "-Y", "sctp.data_payload_proto_id==53", "-T", "fields", "-e", "sctp.data_tsn"
    )
    assert len(tsns.replace(",", " ").split()) >= 50
