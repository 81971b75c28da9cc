"""The atheris harnesses fuzz/fuzz_media_ivf.py and fuzz/fuzz_media_annexb.py run
(without atheris) over real files and broken variants of them, so they cannot rot."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[1]
IVF = PROJECT / "tests" / "data" / "vp8_testsrc_160x120.ivf"


H264 = PROJECT / "tests" / "data" / "h264_testsrc_160x120.h264"


def _harness(name: str = "fuzz_media_ivf") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PROJECT / "fuzz" / f"{name}.py")
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


def test_annexb_harness_over_seeds() -> None:
    harness = _harness("fuzz_media_annexb")
    real = H264.read_bytes()
    rng = random.Random(6)
    seeds = [b"", b"\x00\x00\x01", real, real[:600], b"\x00\x00\x01\x65\x80" * 3]
    for _ in range(100):
        blob = bytearray(real[:700])
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        seeds.append(bytes(blob))
    for seed in seeds:
        harness.TestOneInput(seed)
