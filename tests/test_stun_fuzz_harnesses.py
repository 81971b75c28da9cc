"""The STUN atheris harnesses run over real messages and hostile seeds so they cannot rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from peers import CORPUS

from pyrtcstack.stun import AttributeType, Message, MessageClass, Method

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
HARNESSES = sorted(p.name for p in FUZZ.glob("fuzz_stun*.py"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name[:-3], FUZZ / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds() -> list[bytes]:
    out = [
        b"",
        b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12),
        Message(Method.BINDING, MessageClass.SUCCESS, bytes(12))
        .add_address(AttributeType.XOR_MAPPED_ADDRESS, ("192.0.2.1", 1))
        .add_address(AttributeType.OTHER_ADDRESS, ("::1", 2))
        .encode(b"key", fingerprint=True),
        Message(Method.BINDING, transaction_id=bytes(12))
        .add_change_request(True, True)
        .add(0x7FFE, b"?")
        .encode(fingerprint=True),
        b"\x01\x11\x00\x08\x21\x12\xa4\x42" + bytes(12) + b"\x00\x09\x00\x04\x00\x00\x04\x57",
    ]
    stun = CORPUS / "stun"
    if stun.exists():
        for name in ("rfc5769.json", "captures.json"):
            doc = json.loads((stun / name).read_text())
            items = doc.get("vectors", doc.get("messages", []))
            out.extend(bytes.fromhex(item["hex"]) for item in items)
    # truncations and bit flips of every seed
    for data in list(out):
        out.append(data[: len(data) // 2])
        if data:
            out.append(bytes([data[0] ^ 0x01]) + data[1:-1] + bytes([data[-1] ^ 0x80]))
    return out


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_over_seeds(name: str) -> None:
    harness = load(name)
    for data in seeds():
        harness.TestOneInput(data)
