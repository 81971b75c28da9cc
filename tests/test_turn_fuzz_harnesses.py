"""The TURN atheris harnesses run over a few seeds so they cannot rot."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
HARNESSES = sorted(p.name for p in FUZZ.glob("fuzz_turn*.py"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name[:-3], FUZZ / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


XOR_ADDR = b"\x00\x16\x00\x08\x00\x01\x21\x12\x5e\x12\xa4\x43"
SEEDS = [
    b"",
    b"\x40\x00\x00\x05hello\x00\x00\x00",
    b"\x40\x00\x00\x05hel",
    b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12),
    b"\x00\x01\x00\x08\x21\x12\xa4\x42"
    + bytes(12)
    + b"\x00\x12\x00\x08\x00\x01\x21\x12\x5e\x12\xa4\x43",
    b"\x01\x01\x00\x0c\x21\x12\xa4\x42"
    + bytes(12)
    + b"\x00\x16\x00\x08\x00\x01\x21\x12\x5e\x12\xa4\x43",
    b"\x80\x00\x00\x00",
]


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_runs_over_seeds(name: str) -> None:
    module = load(name)
    rng = random.Random(1)
    for seed in SEEDS:
        module.TestOneInput(seed)
    for _ in range(300):
        module.TestOneInput(bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
