"""Fuzz the SCTP packet decoder: only SctpParseError may come out, and what decodes
re-encodes to a packet that decodes to the same chunks.

Run: ``.venv/bin/python fuzz/fuzz_sctp_packet.py -atheris_runs=1000000``
"""

from __future__ import annotations

import sys

from pyrtcstack.sctp.chunks import decode_packet, encode_packet
from pyrtcstack.sctp.errors import SctpParseError


def TestOneInput(data: bytes) -> None:  # noqa: N802 - the atheris entry point
    try:
        packet = decode_packet(data)
    except SctpParseError:
        return
    again = decode_packet(
        encode_packet(
            packet.source_port,
            packet.destination_port,
            packet.verification_tag,
            [c.encode() for c in packet.chunks],
        )
    )
    assert again.chunks == packet.chunks, (again.chunks, packet.chunks)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
