"""atheris harness: hostile bytes into the RTP decoder, the RFC 7983 demultiplexer and the
receive-side media path (depacketisers, jitter buffer).

Invariants: :meth:`RtpPacket.parse` raises nothing but ``RtpParseError``; a decoded packet
re-serialises to bytes that decode to an equal packet; the payload formats raise nothing
but ``DepacketizeError``; a jitter buffer fed the packet never raises. Run:
``.venv/bin/python fuzz/fuzz_rtp.py -atheris_runs=1000000 [seed-dir]``.
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.demux import classify
from pyrtcstack.media.errors import DepacketizeError
from pyrtcstack.media.jitterbuffer import JitterBuffer
from pyrtcstack.media.payloads import H264Depacketizer, OpaqueDepacketizer, Vp8Depacketizer
from pyrtcstack.rtp import RtpPacket, RtpParseError

_DEPACKETIZERS = (Vp8Depacketizer(), H264Depacketizer(), OpaqueDepacketizer())


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    classify(data)
    try:
        pkt = RtpPacket.parse(data)
    except RtpParseError:
        return
    again = RtpPacket.parse(pkt.serialize())
    if again != pkt:
        raise AssertionError("RTP packet does not round-trip")
    for d in _DEPACKETIZERS:
        d.is_frame_start(pkt.payload)
        with contextlib.suppress(DepacketizeError):
            d.assemble([pkt.payload, pkt.payload])
        jb = JitterBuffer(d, max_delay=0.0)
        jb.push(pkt, 0.0)
        again.sequence_number = (pkt.sequence_number + 2) & 0xFFFF
        jb.push(again, 0.0)
        jb.pop(1.0)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
