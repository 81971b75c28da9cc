"""The SIP codec against SIPp (Debian ``sip-tester``), both ways, on loopback.

SIPp's built-in ``uac`` scenario calls a responder made of nothing but our codec
(:func:`parse_message` on what SIPp sends, :meth:`Response.encode` for the answers), and
our codec calls SIPp's built-in ``uas``. SIPp exits 0 only when its scenario completed:
INVITE, 180, 200 with SDP, ACK, BYE, 200. No transaction layer here (that is tested on
its own); this proves the bytes each side writes are read by the other.
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
from pathlib import Path

from peers import require_binary

from pyrtcstack.sip import Request, Response, SipParseError, parse_message

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def answer(request: Request, status: int, reason: str, port: int, body: bytes = b"") -> bytes:
    """A response built the §8.2.6.2 way: Via, From, Call-ID, CSeq copied, To tagged."""
    to = request.get("To") or ""
    if request.to.tag is None:
        to += ";tag=pyrtc1"
    headers = [("Via", v) for v in request.get_all("Via")]
    headers += [
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", str(request.cseq)),
        ("Contact", f"<sip:pyrtcstack@127.0.0.1:{port}>"),
    ]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return Response(status, reason, tuple(headers), body).encode()


def test_sipp_uac_calls_our_codec(tmp_path: Path) -> None:
    sipp = require_binary("sipp", "sip-tester")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0", "-m", "1",
         "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err",
         "-error_file", str(tmp_path / "err.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 25
        while proc.poll() is None and time.monotonic() < deadline:
            if not select.select([sock], [], [], 0.1)[0]:
                continue
            data, addr = sock.recvfrom(65535)
            message = parse_message(data)
            assert isinstance(message, Request)
            seen.append(message.method)
            if message.method == "INVITE":
                assert message.body.startswith(b"v=0")
                sock.sendto(answer(message, 180, "Ringing", port), addr)
                sock.sendto(answer(message, 200, "OK", port, SDP), addr)
            elif message.method == "BYE":
                sock.sendto(answer(message, 200, "OK", port), addr)
        rc = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert rc == 0, proc.stderr.read().decode(errors="replace") if proc.stderr else rc
    assert seen[0] == "INVITE" and "ACK" in seen and seen[-1] == "BYE"


def test_our_codec_calls_sipp_uas(tmp_path: Path) -> None:
    sipp = require_binary("sipp", "sip-tester")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    sipp_port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(sipp_port), "-m", "1", "-nostdin",
         "-timeout", "20s", "-timeout_error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    target = f"sip:service@127.0.0.1:{sipp_port}"

    def request(
        method: str, cseq: int, branch: str, to_tag: str | None, body: bytes = b""
    ) -> bytes:
        headers = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}"),
            ("From", "<sip:pyrtcstack@127.0.0.1>;tag=caller1"),
            ("To", f"<{target}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", "codec-test-1@127.0.0.1"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("Contact", f"<sip:pyrtcstack@127.0.0.1:{port}>"),
        ]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Request(method, target, tuple(headers), body).encode()

    def receive() -> Response:
        while True:
            ready = select.select([sock], [], [], 10)[0]
            assert ready, "SIPp did not answer"
            data, _ = sock.recvfrom(65535)
            try:
                message = parse_message(data)
            except SipParseError as exc:  # pragma: no cover - the assertion says why
                raise AssertionError(f"SIPp sent what we cannot parse: {exc}: {data!r}") from exc
            assert isinstance(message, Response)
            return message

    try:
        time.sleep(0.3)  # SIPp binds its port
        destination = ("127.0.0.1", sipp_port)
        sock.sendto(request("INVITE", 1, "inv1", None, SDP), destination)
        statuses = []
        while True:
            response = receive()
            statuses.append(response.status)
            if response.status >= 200:
                break
        assert statuses[-1] == 200 and response.body.startswith(b"v=0")
        assert response.cseq.method == "INVITE" and response.to.tag
        to_tag = response.to.tag
        sock.sendto(request("ACK", 1, "ack1", to_tag), destination)  # §13.2.2.4: new branch
        time.sleep(0.1)
        sock.sendto(request("BYE", 2, "bye1", to_tag), destination)
        bye = receive()
        assert (bye.status, bye.cseq.method) == (200, "BYE")
        rc = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert rc == 0, proc.stderr.read().decode(errors="replace") if proc.stderr else rc
