"""The live demo (pyrtcstack/cli/_live_demo.py): summary and trace (the capture and its
tshark command: tests/test_demo_pcap.py)."""

from __future__ import annotations

import argparse
import re

import pytest

from pyrtcstack.cli import _live_demo


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _live_demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_demo_summary_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert _live_demo.run(_args("--trace", "--messages", "200", "--audio", "0.6")) == 0
    out = capsys.readouterr().out
    for needle in (
        "STUN BINDING request",
        "USE-CANDIDATE (regular nomination",
        "DTLS ClientHello",
        "ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone",
        "SCTP INIT (RFC 9260 §5.1 A; both ends send one, RFC 8841 §9.3, RFC 9260 §5.2.1)",
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


def test_trace_of_a_real_run_is_short_summarised_and_labelled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2,000 messages of 1,000 B used to print ~1,900 lines, ~1,800 of them SCTP DATA."""
    assert _live_demo.run(_args("--trace", "--messages", "2000", "--audio", "0.6")) == 0
    out = capsys.readouterr().out
    trace = out.split("\nsummary\n")[0].splitlines()
    assert len(trace) < 150, len(trace)
    # runs folded into one line each, with counts, bytes and the stream
    assert re.search(r"… SCTP DATA × [\d,]+, [\d,]+ messages, [\d.]+ (MB|kB), stream 1, until", out)
    assert "… SCTP SACK × " in out and re.search(r"… SRTP PT 0 SSRC [0-9a-f]{8} × ", out)
    # a 1,000 B message split across packets is one message in parts, not two sizes
    assert re.search(r"binary message [\d,]+ part 1 \(B\), \d+ B", out)
    assert re.search(r"binary message [\d,]+ part 2 of 2 \(E\), \d+ B = 1,000 B", out)
    # every message is accounted for once: whole or E fragments in full lines + runs
    sent = [line for line in trace if "A→B  SCTP" in line]
    shown = sum(
        len(re.findall(r"binary message [\d,]+, 1,000 B|\(E\), \d+ B = 1,000 B", line))
        for line in sent
        if "… " not in line
    )
    folded = sum(int(n.replace(",", "")) for n in re.findall(r"× [\d,]+, ([\d,]+) messages", out))
    assert shown + folded == 2000
    # why the order is what it is, and the alert by name
    assert "valid, not yet nominated" in out and "RFC 8445 §12.1" in out
    assert "both ends send one, RFC 8841 §9.3, RFC 9260 §5.2.1" in out
    assert "sending close_notify (RFC 5246 §7.2.1)" in out
    # one SRTP profile name: the trace's, the summary's and docs/srtp.md's
    assert "SRTP SRTP_AES128_CM_HMAC_SHA1_80" in out
    assert "SRTP profile: SRTP_AES128_CM_HMAC_SHA1_80" in out


def test_trace_all_shows_every_packet(capsys: pytest.CaptureFixture[str]) -> None:
    assert _live_demo.run(_args("--trace-all", "--messages", "400", "--audio", "0")) == 0
    out = capsys.readouterr().out
    assert "… " not in out  # nothing folded
    data_lines = [x for x in out.splitlines() if "A→B  SCTP" in x and "binary message" in x]
    assert len(data_lines) >= 200  # two chunks per packet at most: every packet is a line
