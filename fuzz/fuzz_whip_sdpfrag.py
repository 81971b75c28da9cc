"""Fuzz the WHIP PATCH body parser (``pyrtcstack/whip/sdpfrag.py``, RFC 8840 §9): any bytes
give a fragment or :class:`SdpFragError`, never another exception.

Invariants: a parsed fragment writes (``to_text``) to text that parses to an equal
fragment; its candidate count stays within MAX_SDPFRAG_CANDIDATES; ``replace_ice`` of the
fragment into a small SDP never raises. Run:
``.venv/bin/python fuzz/fuzz_whip_sdpfrag.py -atheris_runs=200000``.
"""

from __future__ import annotations

import sys

from pyrtcstack.whip import SdpFragError, parse_sdpfrag, replace_ice
from pyrtcstack.whip.sdpfrag import MAX_SDPFRAG_CANDIDATES

_SDP = (
    "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    "a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    try:
        frag = parse_sdpfrag(data)
    except SdpFragError:
        return
    assert sum(len(m.candidates) for m in frag.media) <= MAX_SDPFRAG_CANDIDATES
    again = parse_sdpfrag(frag.to_text())
    assert again == frag, (frag, again)
    replace_ice(_SDP, frag)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
