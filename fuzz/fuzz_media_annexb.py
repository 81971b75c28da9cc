"""atheris harness: hostile bytes into the H.264 Annex B access-unit splitter and the
track that replays it.

Invariants: :func:`split_access_units` raises nothing but ``MediaFormatError``; the
units it returns, joined again, split into the same units; an :class:`AnnexBTrack`
hands out exactly those units, in order, then None; each unit goes through our H.264
packetiser and depacketiser unchanged. Run:
``.venv/bin/python fuzz/fuzz_media_annexb.py -atheris_runs=1000000 [seed-dir]``.
"""

from __future__ import annotations

import sys

from pyrtcstack.media.annexb import AnnexBTrack, split_access_units
from pyrtcstack.media.errors import MediaFormatError
from pyrtcstack.media.payloads import H264Depacketizer, H264Packetizer

_PACKETIZER = H264Packetizer()
_DEPACKETIZER = H264Depacketizer()


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        units = split_access_units(data)
    except MediaFormatError:
        return
    if split_access_units(b"".join(units)) != units:
        raise AssertionError("access units do not round-trip")
    track = AnnexBTrack(data)
    for unit in units:
        frame = track.next_frame()
        if frame is None or frame.data != unit:
            raise AssertionError("AnnexBTrack lost a unit")
        rebuilt, _key = _DEPACKETIZER.assemble(_PACKETIZER.packetize(unit, 200))
        if rebuilt != unit:
            raise AssertionError("H.264 packetisation changed a unit")
    if track.next_frame() is not None:
        raise AssertionError("AnnexBTrack went past the end")


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
