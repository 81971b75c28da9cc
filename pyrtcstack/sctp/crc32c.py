"""CRC-32C (Castagnoli), the SCTP checksum (RFC 9260 §6.8 and Appendix A).

The checksum is the reflected CRC-32C (polynomial 0x1EDC6F41, reflected 0x82F63B78, initial
value and final xor 0xFFFFFFFF) over the whole packet with the checksum field set to zero.
It is stored in the common header as the *little-endian* bytes of that integer, which is how
RFC 3720 Appendix B.4 prints its vectors too.

:func:`crc32c` and :func:`crc32c_extend` use ``google-crc32c``'s C extension when it is
available (a runtime dependency) and fall back to the table-driven pure-Python code below,
which gives identical results (tests compare the two over random inputs and the vectors).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "IMPLEMENTATION",
    "crc32c",
    "crc32c_extend",
    "py_crc32c",
    "py_crc32c_extend",
]

_POLY_REFLECTED = 0x82F63B78


def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def py_crc32c_extend(crc: int, data: bytes) -> int:
    """Continue the CRC-32C ``crc`` (a finished value) over ``data``; pure Python."""
    table = _TABLE
    c = crc ^ 0xFFFFFFFF
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def py_crc32c(data: bytes) -> int:
    """CRC-32C of ``data``; pure Python (slow, but always available)."""
    return py_crc32c_extend(0, data)


crc32c: Callable[[bytes], int]
crc32c_extend: Callable[[int, bytes], int]

try:  # pragma: no branch - the C extension is a declared runtime dependency
    import google_crc32c as _g

    if getattr(_g, "implementation", "") != "c":  # pragma: no cover - slow build
        raise ImportError("google-crc32c without its C extension")
    crc32c = _g.value
    crc32c_extend = _g.extend
    #: Which implementation is in use: ``"google-crc32c"`` or ``"python"``.
    IMPLEMENTATION = "google-crc32c"
except ImportError:  # pragma: no cover - exercised by forcing the fallback in tests
    crc32c = py_crc32c
    crc32c_extend = py_crc32c_extend
    IMPLEMENTATION = "python"
