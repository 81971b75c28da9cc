"""``pyrtcstack sip explain`` on a message SIPp sent us and on a digest challenge; a
person's mistakes get one line and exit status 1."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from peers import PROJECT

from pyrtcstack.cli import main

# SIPp 3.6's INVITE (its built-in uac scenario), as pasted from a terminal: LF line ends
SIPP_INVITE = """INVITE sip:service@127.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-17070-1-0
From: sipp <sip:sipp@127.0.0.1:5071>;tag=17070SIPpTag001
To: service <sip:service@127.0.0.1:5070>
Call-ID: 1-17070@127.0.0.1
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:5071
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length:   129

v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6004 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
CHALLENGE = (
    "SIP/2.0 401 Unauthorized\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=5060;received=10.0.0.1\r\n"
    "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>;tag=r9\r\n"
    "Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\n"
    'WWW-Authenticate: Digest realm="example.com", nonce="n", qop="auth", algorithm=SHA-256\r\n'
    "Content-Length: 0\r\n\r\n"
)


def test_explain_walks_a_pasted_invite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "invite.txt"
    path.write_text(SIPP_INVITE)
    assert main(["sip", "explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("INVITE sip:service@127.0.0.1:5070 SIP/2.0\n  A request: INVITE = start")
    assert "branch z9hG4bK-17070-1-0: names the transaction; z9hG4bK = RFC 3261 (§8.1.1.7)" in out
    assert "tag 17070SIPpTag001: one half of the dialog id (§19.3)" in out
    assert "No dialog yet: the To tag is missing" in out
    assert "An SDP, the offer (§13.2.1): audio RTP/AVP port 6004." in out
    assert "Via (compact form: v)" in out


def test_explain_a_challenge_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CHALLENGE.encode())))
    assert main(["sip", "explain", "-"]) == 0
    out = capsys.readouterr().out
    assert "A response, client error: this request fails here (§21.4)." in out
    assert "realm 'example.com', algorithm SHA-256 (RFC 8760), qop auth" in out
    assert "rport: answer to the source port" in out and "received=10.0.0.1" in out
    assert "Dialog: Call-ID reg-1, tags a1 and r9 (§12)." in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["sip", "explain", "/nonexistent/x"], b"", "cannot read /nonexistent/x"),
        (["sip", "explain", "-"], b"hello\n", "not a valid SIP message"),
        (["sip", "explain", "-"], b"", "not a valid SIP message"),
        (["sip", "explain", "-"], SIPP_INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE").encode(),
         "CSeq method BYE is not the request's"),
        (["sip"], b"", "ACTION"),
        (["sip", "call", "nonsense"], b"", "nonsense: not a SIP URI"),
        # sips: means TLS (RFC 3263 §4.1), which `sip call` cannot send over
        (["sip", "call", "sips:b@127.0.0.1:9"], b"", "needs TLS, which we do not support"),
        (["sip", "call", "sips:b@127.0.0.1:9", "--via", "127.0.0.1:9"], b"",
         "needs TLS, which we do not support"),
        (["sip", "call", "sip:b@127.0.0.1:9;transport=sctp", "--via", "127.0.0.1:9"], b"",
         "needs SCTP, which we do not support"),
        (["sip", "call", "sip:b@127.0.0.1:9", "--timeout", "0.5"], b"",
         "call failed: no final answer in 0.5 s"),
        (["sip", "listen", "127.0.0.1:99999"], b"", "the port must be a number"),
        (["sip", "call", "sip:b@127.0.0.1", "--sdp", "/nonexistent/sdp"], b"",
         "cannot read /nonexistent/sdp"),
        (["sip", "call", "sip:b@127.0.0.1", "--webrtc", "--sdp", "x"], b"",
         "--webrtc and --sdp cannot be used together"),
        (["sip", "listen", "127.0.0.1:0", "--webrtc", "--sdp", "x"], b"",
         "--webrtc and --sdp cannot be used together"),
        (["sip", "listen", "127.0.0.1:0", "--register", "nonsense"], b"",
         "nonsense: not a SIP URI"),
        (["sip", "listen", "127.0.0.1:0", "--register", "sip:example.com", "--dns-server",
          "127.0.0.1:9"], b"",
         "cannot locate the registrar sip:example.com: _sip._udp.example.com SRV: no DNS server"),
        (["sip", "listen", "127.0.0.1:0", "--register", "sip:127.0.0.1:9", "--timeout", "0.5"],
         b"", "registration at sip:127.0.0.1:9 failed: no answer in 0.5 s"),
    ],
)  # fmt: skip
def test_mistakes_get_one_line_and_exit_1(args: list[str], stdin: bytes, message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", *args], input=stdin, capture_output=True,
        cwd=PROJECT, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one line (argparse adds its usage line)


def test_sip_listen_answers_sip_call(tmp_path: Path) -> None:
    """The two commands talk to each other over UDP on loopback (run inside unshare -n)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listen = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "sip", "listen", f"127.0.0.1:{port}", "--once"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
    )  # fmt: skip
    try:
        assert listen.stdout is not None
        first = listen.stdout.readline().decode()
        assert first == f"listening on sip:pyrtcstack@127.0.0.1:{port} over UDP\n"
        call = subprocess.run(
            [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@127.0.0.1:{port}",
             "--duration", "0.2"], capture_output=True, cwd=PROJECT, timeout=60, check=False,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr.decode()
        out = call.stdout.decode().splitlines()
        assert out[0] == f"calling sip:bob@127.0.0.1:{port} via 127.0.0.1:{port} over UDP"
        assert out[1].startswith("answered (Call-ID ") and out[-1] == "hung up"
        rest, _ = listen.communicate(timeout=30)
        assert listen.returncode == 0
        lines = rest.decode().splitlines()
        assert lines[0].startswith("call from sip:pyrtcstack@127.0.0.1 (Call-ID ")
        assert lines[-1].endswith(" ended")
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()


def test_sip_call_and_listen_with_webrtc_media() -> None:
    """``--webrtc`` on both sides: a PeerConnection offer/answer in the INVITE/200, ICE +
    DTLS-SRTP, and the tone's frames counted on each side."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listen = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "sip", "listen", f"127.0.0.1:{port}", "--once",
         "--webrtc"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
    )  # fmt: skip
    try:
        assert listen.stdout is not None
        assert listen.stdout.readline().decode().startswith("listening on ")
        call = subprocess.run(
            [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@127.0.0.1:{port}",
             "--webrtc", "--duration", "2"], capture_output=True, cwd=PROJECT, timeout=60,
            check=False,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr.decode()
        out = call.stdout.decode().splitlines()
        media = [line for line in out if line.startswith("media: ")]
        assert media[0].startswith("media: connected, ICE + DTLS-SRTP"), out
        assert int(media[-1].split(", ")[-1].split()[0]) >= 50, out  # 2 s of 20 ms frames
        rest, _ = listen.communicate(timeout=30)
        assert listen.returncode == 0, rest
        lines = rest.decode().splitlines()
        assert any(line.startswith("media: connected") for line in lines), lines
        received = [line for line in lines if line.endswith(" audio frames received")]
        assert int(received[-1].split()[1]) >= 50, lines
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()


def test_sip_call_and_listen_over_websocket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listen = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "sip", "listen", f"127.0.0.1:{port}", "--once",
         "--transport", "ws"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
    )  # fmt: skip
    try:
        assert listen.stdout is not None
        first = listen.stdout.readline().decode()
        assert first == f"listening on sip:pyrtcstack@127.0.0.1:{port} over WS\n"
        call = subprocess.run(
            [sys.executable, "-m", "pyrtcstack", "sip", "call", f"sip:bob@127.0.0.1:{port}",
             "--transport", "ws", "--duration", "0.2"], capture_output=True, cwd=PROJECT,
            timeout=60, check=False,
        )  # fmt: skip
        assert call.returncode == 0, call.stderr.decode()
        assert call.stdout.decode().splitlines()[-1] == "hung up"
        rest, _ = listen.communicate(timeout=30)
        assert listen.returncode == 0
        assert rest.decode().splitlines()[-1].endswith(" ended")
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()
