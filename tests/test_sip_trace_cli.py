"""``pyrtcstack sip call|listen --trace`` in real calls (inside ``unshare -n``): SIPp calls
our ``sip listen``; our ``sip call`` answers a SIPp callee's digest challenge (the
password from $SIP_PASSWORD, in no line of the trace); and our ``sip call --webrtc`` calls
our ``sip listen --webrtc``, the ICE and DTLS steps narrated between the 200/ACK and the
BYE on one timeline."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from peers import PROJECT, require_binary

SCENARIOS = Path(__file__).parent / "data" / "sip" / "sipp"
#: a trace line: time, who, layer, text
LINE = re.compile(r"^\s*(\d+\.\d) ms  (\S+)\s+(\S+(?: tx| call)?)\s+(.*)$")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def trace(out: str) -> list[tuple[float, str, str, str]]:
    """The trace lines of a command's output: (ms, who, layer, text)."""
    lines = []
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            lines.append((float(m[1]), m[2], m[3], m[4]))
    return lines


def sip_steps(lines: list[tuple[float, str, str, str]]) -> list[str]:
    """The SIP messages in order, as "A→B INVITE" or "B→A 200 INVITE"; retransmissions
    (on a loaded machine a peer's timer may fire) are marked as such and left out."""
    out = []
    for _, who, layer, text in lines:
        if layer != "SIP" or "[again: retransmission " in text:
            continue
        words = text.split(": SIP ", 1)[1].split()
        if words[0].isdigit():
            out.append(f"{who} {words[0]} {words[words.index('to') + 1]}")
        else:
            out.append(f"{who} {words[0]}")
    return out


def pyrtcstack(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=PROJECT, env={**os.environ, **(env or {})},
    )  # fmt: skip


def sipp(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    binary = require_binary("sipp", "sip-tester")
    return subprocess.Popen(
        [binary, *args, "-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "30s",
         "-timeout_error", "-mp", str(free_port()), "-trace_err", "-trace_msg",
         "-message_file", str(tmp_path / "msg.log"), "-error_file", str(tmp_path / "err.log")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sipp_calls_our_listen_and_the_trace_narrates_it(tmp_path: Path) -> None:
    """SIPp's built-in uac: INVITE, our 100/180/200, its ACK, its BYE, our 200 — each
    message narrated in order, and the transactions' steps beside them."""
    port = free_port()
    listen = pyrtcstack("sip", "listen", f"127.0.0.1:{port}", "--once", "--trace")
    uac = None
    try:
        assert listen.stdout is not None
        assert listen.stdout.readline().decode().startswith("listening on ")
        uac = sipp(tmp_path, "-sn", "uac", f"127.0.0.1:{port}", "-p", str(free_port()))
        out, err = listen.communicate(timeout=60)
        assert listen.returncode == 0, err.decode()
        assert uac.wait(timeout=40) == 0, (tmp_path / "err.log").read_text()
    finally:
        stop(listen, *([uac] if uac else []))
    lines = trace(out.decode())
    assert sip_steps(lines) == [
        "A→B INVITE", "B→A 100 INVITE", "B→A 180 INVITE", "B→A 200 INVITE", "A→B ACK",
        "A→B BYE", "B→A 200 BYE",
    ], out.decode()  # fmt: skip
    texts = [f"{layer} {text}" for _, _, layer, text in lines]
    first = next(t for t in texts if t.startswith("SIP "))
    assert first.startswith("SIP UDP from 127.0.0.1:") and "SDP offer: audio" in first
    assert any("INVITE server transaction" in t and "new → Proceeding" in t for t in texts)
    assert any("INVITE server transaction" in t and "Proceeding → Accepted" in t for t in texts)
    assert any(t.startswith("SIP call") and "the ACK came: the dialog is confirmed" in t
               for t in texts)  # fmt: skip
    assert any(t.startswith("SIP call") and "ended by the peer's BYE" in t for t in texts)
    ms = [t for t, *_ in lines]
    assert ms == sorted(ms)


def test_our_call_answers_a_digest_challenge_and_never_shows_the_password(
    tmp_path: Path,
) -> None:
    """SIPp challenges our INVITE with 401; we ACK it, INVITE again with credentials
    (SIPp's verifyauth accepts them), get 180/200, ACK, and hang up with BYE."""
    port = free_port()
    uas = sipp(tmp_path, "-sf", str(SCENARIOS / "uas_digest.xml"), "-p", str(port))
    password = "s3cret"
    try:
        call = pyrtcstack(
            "sip", "call", f"sip:bob@127.0.0.1:{port}", "--user", "alice", "--duration", "0.3",
            "--trace", "--timeout", "20", env={"SIP_PASSWORD": password},
        )  # fmt: skip
        out, err = call.communicate(timeout=60)
        assert call.returncode == 0, err.decode()
        assert uas.wait(timeout=40) == 0, (tmp_path / "err.log").read_text()
    finally:
        stop(uas)
    text = out.decode()
    lines = trace(text)
    assert sip_steps(lines) == [
        "A→B INVITE", "B→A 401 INVITE", "A→B ACK", "A→B INVITE", "B→A 180 INVITE",
        "B→A 200 INVITE", "A→B ACK", "A→B BYE", "B→A 200 BYE",
    ], text  # fmt: skip
    sip = [t for _, _, layer, t in lines if layer == "SIP"]
    assert 'challenge Digest realm "sipp.example" MD5 qop auth' in sip[1]
    assert 'credentials Digest username "alice" realm "sipp.example" algorithm MD5' in sip[3]
    assert any(
        layer == "SIP call" and t.endswith(": the 401 challenge answered: the INVITE again with "
                                           "digest credentials, CSeq 2 (§22.2, RFC 7616 §3.4)")
        for _, _, layer, t in lines
    ), text  # fmt: skip
    # the 401's transaction: Completed, its ACK sent by the transaction itself (§17.1.1.3)
    assert any("Calling → Completed — a 3xx-6xx: the transaction ACKs it" in t for *_, t in lines)
    # neither the password nor the digest response SIPp saw is in the output
    log = (tmp_path / "msg.log").read_text()
    responses = re.findall(r'response="([0-9a-f]+)"', log)
    assert responses, log[:2000]
    for secret in (password, *responses):
        assert secret not in text and secret not in err.decode()


def test_our_webrtc_call_narrates_ice_and_dtls_between_the_ack_and_the_bye() -> None:
    port = free_port()
    listen = pyrtcstack("sip", "listen", f"127.0.0.1:{port}", "--once", "--webrtc", "--trace")
    try:
        assert listen.stdout is not None
        assert listen.stdout.readline().decode().startswith("listening on ")
        call = pyrtcstack(
            "sip", "call", f"sip:bob@127.0.0.1:{port}", "--webrtc", "--duration", "1", "--trace"
        )
        out, err = call.communicate(timeout=60)
        assert call.returncode == 0, err.decode()
        rest, err_listen = listen.communicate(timeout=30)
        assert listen.returncode == 0, err_listen.decode()
    finally:
        stop(listen)
    for text, me in ((out.decode(), "A"), (rest.decode(), "B")):
        lines = trace(text)
        steps = sip_steps(lines)
        assert steps == [
            "A→B INVITE", "B→A 100 INVITE", "B→A 180 INVITE", "B→A 200 INVITE", "A→B ACK",
            "A→B BYE", "B→A 200 BYE",
        ], text  # fmt: skip
        layers = [(layer, t) for _, _, layer, t in lines]
        sip_index = [
            i for i, (layer, t) in enumerate(layers) if layer == "SIP" and "[again: " not in t
        ]
        ack, bye = sip_index[4], sip_index[5]
        # RFC 5763: the ICE checks that need the answer (the caller's: its credentials
        # for them are in the 200) and the DTLS handshake (the fingerprint check needs
        # both descriptions) run after the 200 and before the BYE. The callee starts
        # checking as soon as it has both descriptions, so its first check may race its
        # own 200: only what cannot happen before the 200 is asserted here.
        between = layers[sip_index[3] : bye]
        stun = [t for layer, t in between if layer == "ICE" and t.startswith("STUN BINDING")]
        assert len(stun) >= 2, text
        if me == "A":
            assert any(layer == "ICE" and t.startswith("selected pair") for layer, t in between)
        assert any(layer == "DTLS" and t.startswith("DTLS ") for layer, t in between), text
        assert any(
            layer == "DTLS" and t.startswith("handshake complete") for layer, t in between
        ), text
        assert any(layer == "SRTP" for layer, _ in layers[ack:bye]), text
        assert any(w == me for _, w, layer, _ in lines if layer in ("ICE", "DTLS")), text
        ms = [t for t, *_ in lines]
        assert ms == sorted(ms), text


_COMMANDS = {
    "call": ["sip", "call", "sip:b@127.0.0.1:9", "--trace"],
    # the registrar is never reached: the credentials are checked before any socket
    "listen": ["sip", "listen", "127.0.0.1:0", "--register", "sip:127.0.0.1:9", "--once"],
}


@pytest.mark.parametrize("command", ["call", "listen"])
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--password-file", "/nonexistent/pw"], {}, "cannot read /nonexistent/pw"),
        (["--auth-user", 'a"b'], {"SIP_PASSWORD": "x"}, "--auth-user: the username cannot"),
    ],
)
def test_credential_mistakes_get_one_line(
    command: str, args: list[str], env: dict[str, str], message: str
) -> None:
    proc = pyrtcstack(*_COMMANDS[command], *args, env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    text = err.decode()
    assert message in text and "Traceback" not in text, text
    assert len(text.strip().splitlines()) == 1


def test_trace_over_websocket() -> None:
    """Over WebSocket the messages arrive framed (RFC 7118): the trace names WS and
    describes them the same way."""
    port = free_port(socket.SOCK_STREAM)
    listen = pyrtcstack("sip", "listen", f"127.0.0.1:{port}", "--once", "--transport", "ws",
                        "--trace")  # fmt: skip
    try:
        assert listen.stdout is not None
        assert listen.stdout.readline().decode().startswith("listening on ")
        call = pyrtcstack("sip", "call", f"sip:bob@127.0.0.1:{port}", "--transport", "ws",
                          "--duration", "0.2", "--trace")  # fmt: skip
        out, err = call.communicate(timeout=60)
        assert call.returncode == 0, err.decode()
        rest, _ = listen.communicate(timeout=30)
    finally:
        stop(listen)
    for text in (out.decode(), rest.decode()):
        lines = trace(text)
        assert sip_steps(lines) == [
            "A→B INVITE", "B→A 100 INVITE", "B→A 180 INVITE", "B→A 200 INVITE", "A→B ACK",
            "A→B BYE", "B→A 200 BYE",
        ], text  # fmt: skip
        assert all(t.startswith("WS ") for _, _, layer, t in lines if layer == "SIP"), text


@pytest.mark.interop
def test_baresip_calls_our_listen_and_the_trace_narrates_dtls_12(tmp_path: Path) -> None:
    """baresip 1.0 with its ``ice`` and ``dtls_srtp`` modules dials our ``sip listen
    --webrtc --trace`` and hangs up when it quits (``-t 4``): its SIP messages, then ICE
    and its DTLS 1.2 handshake, message by message, between our 200 and its BYE."""
    from test_sip_baresip_webrtc import IP, _address_on_lo, _home

    _address_on_lo()
    home = _home(tmp_path, free_port())
    port = free_port()
    listen = pyrtcstack("sip", "listen", f"{IP}:{port}", "--once", "--webrtc", "--trace",
                        "--user", "service")  # fmt: skip
    baresip = None
    try:
        assert listen.stdout is not None
        assert listen.stdout.readline().decode().startswith("listening on ")
        baresip = subprocess.Popen(
            [require_binary("baresip", "baresip"), "-f", str(home), "-n", IP, "-t", "4", "-e",
             f"/dial sip:service@{IP}:{port}"], stdout=open(home / "baresip.log", "wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, err = listen.communicate(timeout=60)
        assert listen.returncode == 0, err.decode()
    finally:
        stop(listen, *([baresip] if baresip else []))
    text = out.decode()
    lines = trace(text)
    assert sip_steps(lines) == [
        "A→B INVITE", "B→A 100 INVITE", "B→A 180 INVITE", "B→A 200 INVITE", "A→B ACK",
        "A→B BYE", "B→A 200 BYE",
    ], text  # fmt: skip
    layers = [(layer, t) for _, _, layer, t in lines]
    sip_index = [i for i, (layer, t) in enumerate(layers) if layer == "SIP" and "[again: " not in t]
    between = [t for layer, t in layers[sip_index[3] : sip_index[5]] if layer in ("ICE", "DTLS")]
    assert any(t.startswith("STUN BINDING request") for t in between), text
    assert any("ClientHello" in t for t in between), text
    assert any("ServerHello" in t and "Certificate" in t for t in between), text
    assert any(t.startswith("handshake complete: DTLS 1.2") for t in between), text
    assert "DTLS-SRTP complete" in (home / "baresip.log").read_text()
