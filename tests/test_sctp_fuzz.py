"""Keep the SCTP atheris harnesses alive: run their TestOneInput over seeded inputs."""

from __future__ import annotations

import importlib.util
import json
import random
import struct
from pathlib import Path
from types import ModuleType

import pytest
from peers import CORPUS

from pyrtcstack.sctp.chunks import (
    DataChunk,
    ForwardTsnChunk,
    HeartbeatChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
)
from pyrtcstack.sctp.params import OutgoingResetRequest, Parameter

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seeds() -> list[bytes]:
    seeds = [b"", b"\x00" * 12, bytes(range(64))]
    path = CORPUS / "sctp" / "packets.json"
    if path.exists():
        seeds += [bytes.fromhex(p["hex"]) for p in json.loads(path.read_text())["packets"]]
    rng = random.Random(0)
    seeds += [rng.randbytes(rng.randrange(1, 300)) for _ in range(200)]
    return seeds


def test_packet_harness() -> None:
    harness = _load("fuzz_sctp_packet")
    for seed in _seeds():
        harness.TestOneInput(seed)


def _framed(chunks: list[bytes], mode: int) -> bytes:
    out = b""
    for chunk in chunks:
        c = chunk[:256]
        out += bytes([len(c) - 1, mode]) + c
    return out


@pytest.mark.parametrize("mode", [0x06, 0x07, 0x0E, 0x02, 0x00, 0x87])
def test_association_harness(mode: int) -> None:
    harness = _load("fuzz_sctp_association")
    rng = random.Random(mode)
    structured = [
        DataChunk(0, 0, 0, 51, b"x").encode(),
        DataChunk(0, 1, 7, 50, b"\x03\x00").encode(),
        SackChunk(0, 0, [(2, 1), (0, 65535)], [1, 2]).encode(),
        ForwardTsnChunk(0xFFFFFFFF, [(0, 9), (65535, 1)]).encode(),
        HeartbeatChunk([Parameter(1, b"hb")]).encode(),
        InitChunk(1, 2, 3, 4, 5).encode(),
        ReconfigChunk([OutgoingResetRequest(0, 0, 0, (0, 1, 2))]).encode(),
        struct.pack("!BBH", 6, 0, 4),  # ABORT
        struct.pack("!BBH", 7, 0, 8) + b"\x00\x00\x00\x00",  # SHUTDOWN
        struct.pack("!BBH", 10, 0, 8) + b"fake",  # COOKIE ECHO
    ]
    harness.TestOneInput(_framed(structured, mode))
    for _ in range(30):
        harness.TestOneInput(rng.randbytes(rng.randrange(0, 400)))
