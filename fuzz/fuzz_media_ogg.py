"""Fuzz the Ogg Opus reader (``pyrtcstack/media/ogg.py``, RFC 3533 / RFC 7845): any bytes
give a file or :class:`MediaFormatError`, never another exception.

Invariants: the packet count stays within MAX_OGG_PACKETS and each packet within
MAX_OGG_PACKET_SIZE; the packets written again with ``OggOpusWriter`` read back equal.
Run: ``.venv/bin/python fuzz/fuzz_media_ogg.py -atheris_runs=200000``.
"""

from __future__ import annotations

import io
import sys

from pyrtcstack.media import EncodedFrame, MediaFormatError, OggOpusWriter, parse_ogg_opus
from pyrtcstack.media.ogg import MAX_OGG_PACKET_SIZE, MAX_OGG_PACKETS


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    try:
        parsed = parse_ogg_opus(data)
    except MediaFormatError:
        return
    assert len(parsed.packets) <= MAX_OGG_PACKETS
    assert all(0 < len(p) <= MAX_OGG_PACKET_SIZE for p in parsed.packets)
    if all(len(p) < 255 * 255 for p in parsed.packets):
        out = io.BytesIO()
        writer = OggOpusWriter(out, channels=parsed.channels, pre_skip=parsed.pre_skip)
        for packet in parsed.packets:
            writer.write(EncodedFrame(packet, 0))
        writer.close()
        assert parse_ogg_opus(out.getvalue()).packets == parsed.packets


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
