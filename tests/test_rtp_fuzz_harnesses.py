"""The RTP/RTCP atheris harnesses run over corpus packets and hostile seeds so they
cannot rot (the real fuzzing runs are in the report and docs/rtp.md)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

from peers import CORPUS

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name[:-3], FUZZ / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds(kind: str) -> list[bytes]:
    out = [b"", b"\x80", b"\x80\x00" + bytes(10), b"\xa0\xc8\x00\x00", b"\xff" * 40]
    path = CORPUS / "rtp" / f"{kind}.json"
    if path.exists():
        out += [bytes.fromhex(p["hex"]) for p in json.loads(path.read_text())["packets"]]
    rng = random.Random(1)
    for s in list(out):
        for _ in range(20):
            b = bytearray(s or b"\x80")
            b[rng.randrange(len(b))] = rng.randrange(256)
            out.append(bytes(b[: rng.randrange(len(b) + 1)]))
    return out


def test_fuzz_rtp_harness_over_seeds() -> None:
    harness = load("fuzz_rtp.py")
    for s in seeds("rtp") + seeds("rtcp"):
        harness.TestOneInput(s)


def test_fuzz_rtcp_harness_over_seeds() -> None:
    harness = load("fuzz_rtp_rtcp.py")
    for s in seeds("rtcp") + seeds("rtp"):
        harness.TestOneInput(s)
