"""G.711: bit-exact against CPython's audioop (Sun reference code), and a 440 Hz tone
survives the round trip with its frequency and within G.711's quantisation error."""

from __future__ import annotations

import math
import struct
import warnings
from array import array

import pytest

from pyrtcstack.media import ToneSource
from pyrtcstack.media.g711 import (
    alaw_decode,
    alaw_encode,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_decode,
    ulaw_encode,
)

ALL = b"".join(struct.pack("<h", i) for i in range(-32768, 32768))


def _audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python >= 3.13
            pytest.skip("audioop not available on this Python")
    return audioop


def test_bit_exact_with_audioop_all_inputs() -> None:
    audioop = _audioop()
    assert ulaw_encode(ALL) == audioop.lin2ulaw(ALL, 2)
    assert alaw_encode(ALL) == audioop.lin2alaw(ALL, 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes) == audioop.alaw2lin(codes, 2)


def test_known_codes() -> None:
    assert linear_to_ulaw(0) == 0xFF and linear_to_alaw(0) == 0xD5  # silence patterns
    assert linear_to_ulaw(32767) == 0x80 and linear_to_ulaw(-32768) == 0x00
    assert ulaw_decode(b"\x80\x00") == struct.pack("<hh", 32124, -32124)
    assert alaw_decode(b"\xaa\x2a") == struct.pack("<hh", 32256, -32256)


def _measure(pcm: bytes, rate: int) -> tuple[float, float]:
    x = array("h")
    x.frombytes(pcm)
    crossings = [i for i in range(1, len(x)) if x[i - 1] < 0 <= x[i]]
    freq = (len(crossings) - 1) * rate / (crossings[-1] - crossings[0])
    # DFT magnitude peak over 400..480 Hz in 1 Hz steps, as a second estimate
    best = max(
        range(400, 481),
        key=lambda f: abs(
            sum(
                v
                * complex(
                    math.cos(2 * math.pi * f * i / rate), -math.sin(2 * math.pi * f * i / rate)
                )
                for i, v in enumerate(x[:4000])
            )
        ),
    )
    return freq, float(best)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_tone_round_trip_keeps_frequency_and_error_bound(law: str) -> None:
    src = ToneSource(440, sample_rate=8000, amplitude=0.8, duration=1.0)
    pcm = b""
    while (f := src.read()) is not None:
        pcm += f.pcm
    enc, dec = (ulaw_encode, ulaw_decode) if law == "ulaw" else (alaw_encode, alaw_decode)
    out = dec(enc(pcm))
    freq, peak = _measure(out, 8000)
    assert abs(freq - 440) < 0.5 and peak == 440
    a, b = array("h"), array("h")
    a.frombytes(pcm)
    b.frombytes(out)
    # G.711 segments: the step is 1/16 of the segment base, so the error is at most about
    # |x|/32 (half a step) plus the smallest step (16 for µ-law, 16 for A-law at 16 bits)
    for x, y in zip(a, b, strict=True):
        assert abs(x - y) <= abs(x) / 32 + 16, (x, y)
    signal = sum(v * v for v in a)
    noise = sum((x - y) ** 2 for x, y in zip(a, b, strict=True))
    snr = 10 * math.log10(signal / noise)
    assert 33 < snr < 45  # G.711's ~38 dB for a loud sine
