"""The atheris harness fuzz/fuzz_sdp.py runs (without atheris) over real and broken seeds."""

from __future__ import annotations

import importlib.util
import random
from importlib import resources
from pathlib import Path

from peers import CORPUS, PROJECT


def _harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_sdp", PROJECT / "fuzz" / "fuzz_sdp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seeds() -> list[bytes]:
    chromium = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_bytes()
    seeds = [chromium, chromium.replace(b"\r\n", b"\n"), b"", b"v=0", b"\xff\xfe"]
    for folder in ("sdp", "sdp-bad"):
        path = Path(CORPUS / folder)
        if path.is_dir():
            seeds += [p.read_bytes() for p in sorted(path.glob("*.sdp"))]
    return seeds


def test_harness_accepts_seeds_and_mutations() -> None:
    test_one_input = _harness().TestOneInput
    rng = random.Random(1234)
    for seed in _seeds():
        test_one_input(seed)
        for _ in range(5):
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                if data and rng.random() < 0.5:
                    del data[rng.randrange(len(data))]
                else:
                    data.insert(rng.randint(0, len(data)), rng.choice(b"a=:/ \r\n0189m"))
            test_one_input(bytes(data))
