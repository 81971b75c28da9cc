"""atheris harness: hostile signalling into the peer connection core.

The first byte picks the target: ``Description.from_json``, ``IceCandidateInit.from_dict``
(JSON), or a remote description (offer or answer) applied to a fresh
:class:`~pyrtcstack.peerconnection.PeerConnectionCore`, then ``create_answer`` /
``set_local_description`` and a trickled candidate. Invariant: only the documented errors
(``ParseError`` and its subclasses, ``OfferAnswerError``, ``LocalProtocolError`` such as
``InvalidStateError``) ever escape. Run:
``.venv/bin/python fuzz/fuzz_pc_signaling.py -atheris_runs=100000``.
"""

from __future__ import annotations

import json
import random
import sys

from pyrtcstack.common.errors import LocalProtocolError, ParseError
from pyrtcstack.dtls import DtlsCertificate
from pyrtcstack.peerconnection import (
    Configuration,
    Description,
    IceCandidateInit,
    PeerConnectionCore,
)
from pyrtcstack.sdp import OfferAnswerError

_CERT = DtlsCertificate.generate(random.Random(0))
_EXPECTED = (ParseError, OfferAnswerError, LocalProtocolError)


def _core(seed: int) -> PeerConnectionCore:
    return PeerConnectionCore(Configuration(certificates=[_CERT]), rng=random.Random(seed))


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    text = body.decode("utf-8", errors="replace")
    try:
        if mode == 0:
            Description.from_json(body)
        elif mode == 1:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                return
            IceCandidateInit.from_dict(value)
        else:
            core = _core(len(data))
            kind = "offer" if mode == 2 else "answer"
            if kind == "answer":
                core.create_data_channel("x")
                core.set_local_description(core.create_offer(0.0), 0.0)
            core.set_remote_description(Description(kind, text), 0.0)
            if kind == "offer":
                core.set_local_description(core.create_answer(0.0), 0.0)
            core.add_ice_candidate(text.partition("\n")[0], 0.0)
            core.add_ice_candidate(None, 0.0)
    except _EXPECTED:
        return


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
