"""The atheris harness fuzz/fuzz_media_ivf.py runs (without atheris) over a real IVF file
and broken variants of it, so it cannot rot."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[1]
IVF = PROJECT / "tests" / "data" / "vp8_testsrc_160x120.ivf"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fuzz_media_ivf", PROJECT / "fuzz" / "fuzz_media_ivf.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harness_over_seeds() -> None:
    harness = _harness()
    real = IVF.read_bytes()
    rng = random.Random(5)
    seeds = [b"", b"DKIF", real, real[:32], real[:100], real[:-3], real.replace(b"VP80", b"AV01")]
    for _ in range(200):
        blob = bytearray(real[:400])
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        seeds.append(bytes(blob))
    for seed in seeds:
        harness.TestOneInput(seed)
