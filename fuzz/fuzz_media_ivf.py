"""atheris harness: hostile bytes into the IVF reader and the track that replays it.

Invariants: :func:`parse_ivf` raises nothing but ``MediaFormatError``; a parsed file's
frames re-encode (header + frame records) to bytes that parse to the same frames;
an :class:`IvfTrack` over a parsed VP8 file with frames hands out exactly its frames,
in order, then None. Run:
``.venv/bin/python fuzz/fuzz_media_ivf.py -atheris_runs=1000000 [seed-dir]``.
"""

from __future__ import annotations

import struct
import sys

from pyrtcstack.media.errors import MediaFormatError
from pyrtcstack.media.ivf import IvfTrack, parse_ivf


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        ivf = parse_ivf(data)
    except MediaFormatError:
        return
    head = struct.pack(
        "<4sHH4sHHIIII",
        b"DKIF",
        0,
        32,
        ivf.fourcc,
        ivf.width,
        ivf.height,
        ivf.timebase.denominator,
        ivf.timebase.numerator,
        len(ivf.frames),
        0,
    )
    again = parse_ivf(head + b"".join(struct.pack("<IQ", len(d), p) + d for p, d in ivf.frames))
    if again.frames != ivf.frames:
        raise AssertionError("IVF frames do not round-trip")
    try:
        track = IvfTrack(data)
    except MediaFormatError:
        return  # another FourCC, or no frames
    for _pts, payload in ivf.frames:
        frame = track.next_frame()
        if frame is None or frame.data != payload:
            raise AssertionError("IvfTrack lost a frame")
    if track.next_frame() is not None:
        raise AssertionError("IvfTrack went past the end")


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
