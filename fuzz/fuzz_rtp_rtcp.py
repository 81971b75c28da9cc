"""atheris harness: hostile bytes into the RTCP compound decoder and into a running
MediaEndpoint (which must drop and count, never raise).

Invariants: :func:`parse_rtcp` raises nothing but ``RtcpParseError``; decoded packets
re-serialise to bytes that decode to the same packets; a media endpoint receiving the
bytes as a datagram raises nothing. Run:
``.venv/bin/python fuzz/fuzz_rtp_rtcp.py -atheris_runs=1000000 [seed-dir]``.
"""

from __future__ import annotations

import random
import sys

from pyrtcstack.media import PCMU, EncodedTrack, MediaEndpoint
from pyrtcstack.rtp import RtcpParseError, parse_rtcp, serialize_rtcp
from pyrtcstack.rtp.feedback import GenericNack

_PEER = ("192.0.2.1", 5004)


def _endpoint() -> MediaEndpoint:
    track = EncodedTrack(PCMU, [], 0.02)
    return MediaEndpoint(
        _PEER, track=track, receive_codec=PCMU, rng=random.Random(0), rtx_payload_type=97
    )


_EP = _endpoint()


def _normal(p: object) -> object:
    if isinstance(p, GenericNack):
        return (p.sender_ssrc, p.media_ssrc, sorted(set(p.lost)))
    return p


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        packets = parse_rtcp(data)
    except RtcpParseError:
        packets = None
    if packets is not None:
        again = parse_rtcp(serialize_rtcp(packets))
        if [_normal(p) for p in again] != [_normal(p) for p in packets]:
            raise AssertionError("RTCP packets do not round-trip")
    _EP.receive_datagram(data, _PEER, 1.0)
    _EP.datagrams_to_send(1.0)
    while _EP.next_event() is not None:
        pass


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
