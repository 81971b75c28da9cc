"""atheris harness: ChannelData decoding and the TCP/TLS stream framer (pyrtcstack.turn).

Run: ``.venv/bin/python fuzz/fuzz_turn_framing.py -atheris_runs=100000``. Importable without
atheris (tests call :func:`TestOneInput` over a few seeds).
"""

from __future__ import annotations

import sys

from pyrtcstack.turn.channeldata import decode_channel_data, encode_channel_data
from pyrtcstack.turn.errors import TurnFramingError, TurnParseError
from pyrtcstack.turn.framing import MAX_FRAME_SIZE, StreamFramer


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    for stream in (False, True):
        try:
            msg = decode_channel_data(data, stream=stream)
        except TurnParseError:
            pass
        else:
            again = decode_channel_data(encode_channel_data(msg.channel, msg.data, pad=True))
            assert again == msg
    # Feed the same bytes to the framer in chunks whose sizes come from the input.
    framer = StreamFramer()
    step = (data[0] % 17 + 1) if data else 1
    try:
        for i in range(0, len(data), step):
            for frame in framer.feed(data[i : i + step]):
                assert len(frame) % 4 == 0
                if frame[0] >> 6 == 1:
                    decode_channel_data(frame, stream=True)
            assert framer.buffered < MAX_FRAME_SIZE
    except TurnFramingError:
        pass


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
