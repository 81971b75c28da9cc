"""The SIP atheris harness runs over RFC 4475's messages and hostile seeds so it cannot rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
DATA = Path(__file__).resolve().parent / "data" / "sip" / "rfc4475.json"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_sip", FUZZ / "fuzz_sip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds() -> list[bytes]:
    out = [b"", b"\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n", b"INVITE sip:a@b SIP/2.0\r\n\r\n"]
    out += [m["text"].encode("utf-8") for m in json.loads(DATA.read_text())["messages"]]
    # responses that match the harness's open transactions (its fixed branches)
    for method, status in (("INVITE", 180), ("INVITE", 486), ("INVITE", 200), ("REGISTER", 401)):
        out.append(
            (
                f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKfuzz{method}"
                f"\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
                f"Call-ID: fuzz\r\nCSeq: 1 {method}\r\n"
                'WWW-Authenticate: Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256\r\n'
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
    for data in list(out):
        out.append(data[: len(data) // 2])
        out.append(data + data)  # two messages on a stream
        if data:
            out.append(bytes([data[0] ^ 0x20]) + data[1:-1] + bytes([data[-1] ^ 0x80]))
    return out


def test_harness_runs_over_seeds() -> None:
    harness = load()
    parsed = 0
    for data in seeds():
        harness.TestOneInput(data)
        try:
            harness.parse_message(data)
            parsed += 1
        except harness.SipParseError:
            pass
    assert parsed >= 20  # the valid torture messages do reach the invariants
