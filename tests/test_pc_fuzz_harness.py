"""The atheris harness fuzz/fuzz_pc_signaling.py runs (without atheris) over real and
broken seeds, so it cannot rot."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from types import ModuleType

from pyrtcstack.peerconnection import PeerConnectionCore

PROJECT = Path(__file__).resolve().parents[1]


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fuzz_pc_signaling", PROJECT / "fuzz" / "fuzz_pc_signaling.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seeds() -> list[bytes]:
    core = PeerConnectionCore(rng=random.Random(3))
    core.create_data_channel("seed")
    offer = core.create_offer(0.0).sdp
    seeds = [
        b'\x00{"type": "offer", "sdp": "v=0"}',
        b"\x00[1, 2]",
        b'\x00{"type": 3}',
        b"\x00not json",
        b'\x01{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}',
        b'\x01{"candidate": 5, "sdpMLineIndex": true}',
        b"\x02" + offer.encode(),
        b"\x03" + offer.replace("actpass", "active").encode(),
        b"\x02" + offer.replace("a=fingerprint:sha-256", "a=fingerprint:md99").encode(),
        b"\x02" + offer[: len(offer) // 2].encode(),
        b"\x03v=0\r\n",
        b"\x02candidate:1 1 udp 1 127.0.0.1 9 typ host\n" + offer.encode(),
    ]
    rng = random.Random(5)
    for _ in range(40):
        raw = bytearray(b"\x02" + offer.encode())
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(1, len(raw))] = rng.randrange(256)
        seeds.append(bytes(raw))
    return seeds


def test_harness_over_seeds() -> None:
    harness = _harness()
    for seed in _seeds():
        harness.TestOneInput(seed)
