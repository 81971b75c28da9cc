"""The DTLS atheris harnesses run over a few seeds (real browser hellos included) so they
cannot rot."""

from __future__ import annotations

import base64
import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

import pytest

from tests.peers import CORPUS

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
HARNESSES = sorted(p.name for p in FUZZ.glob("fuzz_dtls*.py"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name[:-3], FUZZ / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds() -> list[bytes]:
    out = [
        b"",
        b"\x14\xfe\xfd\x00\x00\x00\x00\x00\x00\x00\x12\x00\x01\x01",
        b"\x16\xfe\xfd" + bytes(10) + b"\x00\x0c" + b"\x0e" + bytes(11),
        b"\x01\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x05hello",
        # DTLS 1.3 unified headers: 16-bit seq + length, 8-bit seq without length, an ACK
        b"\x2e\x12\x34\x00\x11" + bytes(17),
        b"\x23\x07" + bytes(20),
        b"\x1a\xfe\xfd" + bytes(10) + b"\x00\x12\x00\x10" + bytes(15) + b"\x02",
    ]
    hellos = CORPUS / "dtls" / "browser-clienthellos.json"
    if hellos.exists():
        data = json.loads(hellos.read_text())
        for browser in data["browsers"].values():
            out += [bytes.fromhex(d["hex"]) for d in browser["datagrams"][:2]]
    # crashes the fuzzers found (fixed): a certificate with an invalid X.509 version
    out.append(base64.b64decode("oZFbDgo="))
    rng = random.Random(5)
    out += [rng.randbytes(rng.randrange(1, 300)) for _ in range(10)]
    return out


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_over_seeds(name: str) -> None:
    module = load(name)
    for seed in seeds():
        module.TestOneInput(seed)


def test_every_harness_exists() -> None:
    assert HARNESSES == [
        "fuzz_dtls13.py",
        "fuzz_dtls_datapath.py",
        "fuzz_dtls_handshake.py",
        "fuzz_dtls_records.py",
    ]
