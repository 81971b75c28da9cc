"""G.711 µ-law (PCMU) and A-law (PCMA) in pure Python (ITU-T G.711; RFC 3551 §4.5.14).

G.711 compands a 16-bit linear sample into 8 bits: a sign, a 3-bit segment (exponent) and
a 4-bit step inside the segment. Segments double in width, so the quantisation error
grows with the amplitude and stays roughly a fixed fraction of it (about 38 dB SNR for a
full-scale sine). µ-law (North America, Japan) works on 14-bit magnitudes with a bias of
33; A-law (elsewhere) on 13 bits with linear first two segments. The code below follows
the classic public-domain Sun Microsystems reference (``g711.c``), so its output is
bit-identical to other implementations derived from it (CPython's ``audioop``, FFmpeg).

Encoding uses 65,536-entry tables built on first use; decoding 256-entry tables.
Samples are signed 16-bit little-endian PCM (``array('h')`` order on little-endian hosts).
"""

from __future__ import annotations

import sys
from array import array
from functools import cache

__all__ = [
    "alaw_decode",
    "alaw_encode",
    "alaw_to_linear",
    "linear_to_alaw",
    "linear_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_linear",
]

_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for i, end in enumerate(ends):
        if value <= end:
            return i
    return len(ends)


def linear_to_ulaw(sample: int) -> int:
    """One signed 16-bit sample to a µ-law byte."""
    pcm = sample >> 2  # to 14 bits
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(pcm, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask


def ulaw_to_linear(code: int) -> int:
    """One µ-law byte to a signed 16-bit sample."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def linear_to_alaw(sample: int) -> int:
    """One signed 16-bit sample to an A-law byte."""
    pcm = sample >> 3  # to 13 bits
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = _segment(pcm, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0xF if seg < 2 else (pcm >> seg) & 0xF
    return aval ^ mask


def alaw_to_linear(code: int) -> int:
    """One A-law byte to a signed 16-bit sample."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


@cache
def _encode_table(alaw: bool) -> bytes:
    fn = linear_to_alaw if alaw else linear_to_ulaw
    # indexed by the sample's 16-bit two's complement pattern
    return bytes(fn(i - 65536 if i >= 32768 else i) for i in range(65536))


_ULAW_DECODE = array("h", (ulaw_to_linear(c) for c in range(256)))
_ALAW_DECODE = array("h", (alaw_to_linear(c) for c in range(256)))


def _samples(pcm: bytes) -> array[int]:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    a = array("H")
    a.frombytes(pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a


def _encode(pcm: bytes, alaw: bool) -> bytes:
    table = _encode_table(alaw)
    return bytes(table[s] for s in _samples(pcm))


def _decode(data: bytes, table: array[int]) -> bytes:
    out = array("h", (table[b] for b in data))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    """Signed 16-bit little-endian PCM to µ-law bytes (one per sample)."""
    return _encode(pcm, alaw=False)


def alaw_encode(pcm: bytes) -> bytes:
    """Signed 16-bit little-endian PCM to A-law bytes (one per sample)."""
    return _encode(pcm, alaw=True)


def ulaw_decode(data: bytes) -> bytes:
    """µ-law bytes to signed 16-bit little-endian PCM."""
    return _decode(data, _ULAW_DECODE)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes to signed 16-bit little-endian PCM."""
    return _decode(data, _ALAW_DECODE)
