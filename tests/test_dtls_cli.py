"""``pyrtcstack dtls listen`` and ``pyrtcstack dtls connect`` as real processes on loopback:
against each other and against ``openssl s_server``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers import PROJECT, free_udp_port, require_binary
from tests.test_dtls_helpers import certificate

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "pyrtcstack", "dtls"]


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PROJECT,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _wait_for(proc: subprocess.Popen[bytes], pattern: bytes, timeout: float = 10.0) -> bytes:
    """Read stderr until ``pattern`` shows up (the CLI reports on stderr)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk
            if re.search(pattern, seen):
                return seen
        elif proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"{pattern!r} not seen: {seen.decode(errors='replace')}")


def test_cli_listen_and_connect(tmp_path: Path) -> None:
    port = free_udp_port()
    server_cert = certificate(50)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(server_cert.certificate_pem())
    key.write_bytes(server_cert.private_key_pem())
    keylog = tmp_path / "keylog.txt"
    listen = _spawn(
        [*CLI, "listen", f"127.0.0.1:{port}", "--cert", str(cert), "--key", str(key),
         "--srtp", "SRTP_AEAD_AES_256_GCM", "--cookie"]
    )  # fmt: skip
    connect = None
    try:
        _wait_for(listen, rb"listening on")
        connect = _spawn(
            [*CLI, "connect", f"127.0.0.1:{port}", "--fingerprint", str(server_cert.fingerprint()),
             "--keylog", str(keylog), "--srtp", "SRTP_AEAD_AES_256_GCM",
             "--srtp", "SRTP_AES128_CM_HMAC_SHA1_80"]
        )  # fmt: skip
        c_report = _wait_for(connect, rb"keying material[^\n]*\n")
        s_report = _wait_for(listen, rb"keying material[^\n]*\n")
        for report in (c_report, s_report):
            assert b"version: DTLS 1.2" in report
            assert b"cipher suite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in report
            assert b"srtp profile: SRTP_AEAD_AES_256_GCM" in report
        km = re.compile(rb"keying material \(EXTRACTOR-dtls_srtp\): ([0-9A-F]{176})\n")
        c_km, s_km = km.search(c_report), km.search(s_report)
        assert c_km and s_km and c_km.group(1) == s_km.group(1)
        assert str(server_cert.fingerprint()).encode() in c_report
        assert connect.stdin is not None and listen.stdin is not None
        connect.stdin.write(b"hello from connect\n")
        connect.stdin.flush()
        assert listen.stdout is not None and connect.stdout is not None
        assert listen.stdout.readline() == b"hello from connect\n"
        listen.stdin.write(b"hello from listen\n")
        listen.stdin.flush()
        assert connect.stdout.readline() == b"hello from listen\n"
        connect.stdin.close()  # EOF: close_notify, both exit cleanly
        assert connect.wait(10) == 0
        assert listen.wait(10) == 0
        assert keylog.read_text().startswith("CLIENT_RANDOM ")
    finally:
        _kill(listen)
        if connect is not None:
            _kill(connect)


def test_cli_connect_to_openssl_with_wrong_fingerprint_fails(tmp_path: Path) -> None:
    openssl = require_binary("openssl", "openssl")
    server_cert = certificate(51)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(server_cert.certificate_pem())
    key.write_bytes(server_cert.private_key_pem())
    port = free_udp_port()
    server = _spawn(
        [openssl, "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
         "-cert", str(cert), "-key", str(key), "-verify", "1", "-no_ticket"]
    )  # fmt: skip
    try:
        assert server.stdout is not None
        for _ in range(5):  # "Using default temp DH parameters", then "ACCEPT"
            if b"ACCEPT" in server.stdout.readline():
                break
        wrong = certificate(52).fingerprint()
        connect = _spawn([*CLI, "connect", f"127.0.0.1:{port}", "--fingerprint", str(wrong)])
        try:
            _, err = connect.communicate(timeout=15)
            assert connect.returncode == 1
            assert b"FingerprintMismatchError" in err
        finally:
            _kill(connect)
    finally:
        _kill(server)


def test_cli_dtls13(tmp_path: Path) -> None:
    """``--versions 1.3`` on both ends: a DTLS 1.3 handshake, equal keying material, data."""
    port = free_udp_port()
    keylog = tmp_path / "keylog.txt"
    listen = _spawn([*CLI, "listen", f"127.0.0.1:{port}", "--versions", "1.3,1.2"])
    connect = None
    try:
        _wait_for(listen, rb"listening on")
        connect = _spawn(
            [*CLI, "connect", f"127.0.0.1:{port}", "--versions", "1.3", "--keylog", str(keylog)]
        )
        c_report = _wait_for(connect, rb"keying material[^\n]*\n")
        s_report = _wait_for(listen, rb"keying material[^\n]*\n")
        for report in (c_report, s_report):
            assert b"version: DTLS 1.3" in report
            assert b"cipher suite: TLS_AES_128_GCM_SHA256" in report
        km = re.compile(rb"keying material \(EXTRACTOR-dtls_srtp\): ([0-9A-F]+)\n")
        c_km, s_km = km.search(c_report), km.search(s_report)
        assert c_km and s_km and c_km.group(1) == s_km.group(1)
        assert connect.stdin is not None and listen.stdout is not None
        connect.stdin.write(b"over 1.3\n")
        connect.stdin.flush()
        assert listen.stdout.readline() == b"over 1.3\n"
        connect.stdin.close()
        assert connect.wait(10) == 0
        assert listen.wait(10) == 0
        assert "CLIENT_TRAFFIC_SECRET_0 " in keylog.read_text()
    finally:
        _kill(listen)
        if connect is not None:
            _kill(connect)
