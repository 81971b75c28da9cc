"""atheris harness: hostile text into the SDP parser, every accessor, explain/check and JSEP.

Invariants: :meth:`SessionDescription.parse` raises nothing but ``pyrtcstack.sdp.ParseError``;
whatever parses writes back losslessly (parse → write → parse equal, write a fixed point);
every typed accessor, :func:`explain`, :func:`check` and :func:`create_answer` work on it
(``create_answer`` may refuse with ``OfferAnswerError``, its documented error). Run:
``.venv/bin/python fuzz/fuzz_sdp.py -atheris_runs=1000000 [SEED_DIR]`` (seed with the SDPs
of ../shared/corpus/sdp to start from real browser descriptions).
"""

from __future__ import annotations

import random
import sys

from pyrtcstack.sdp import (
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    OfferAnswerError,
    OfferSection,
    ParseError,
    SessionDescription,
    TransportParameters,
    create_answer,
    create_offer,
    validate_answer,
)
from pyrtcstack.sdp.check import check
from pyrtcstack.sdp.explain import explain

_LOCAL = LocalCapabilities(
    TransportParameters([Fingerprint("sha-256", ":".join(["AA"] * 32))], "abcd", "a" * 24),
    [
        MediaCapabilities(
            "audio",
            [CodecCapability("opus", 48000, 2), CodecCapability("PCMU", 8000)],
            ["urn:ietf:params:rtp-hdrext:sdes:mid"],
        ),
        MediaCapabilities(
            "video",
            [
                CodecCapability("VP8", 90000, feedback=["nack"], rtx=True),
                CodecCapability(
                    "H264",
                    90000,
                    parameters={"packetization-mode": "1", "profile-level-id": "42e01f"},
                    rtx=True,
                ),
            ],
        ),
    ],
    DataChannelCapabilities(),
)


def _exercise(desc: SessionDescription) -> None:
    text = str(desc)
    again = SessionDescription.parse(text)
    if again != desc or str(again) != text:
        raise AssertionError("SDP does not round-trip")
    for m in desc.media:
        for name in (
            "mid", "direction", "candidates", "fingerprints", "rtpmaps", "fmtps",
            "rtcp_feedback", "extmaps", "msids", "ssrcs", "ssrc_groups", "rids", "rtcp",
            "sctp_port", "max_message_size", "sctpmap", "ice_options",
        ):  # fmt: skip
            getattr(m, name)
        m.codecs(desc)
        m.effective_fingerprints(desc)
        m.effective_direction(desc)
    _ = desc.groups, desc.bundle_groups, desc.fingerprints
    explain(desc)
    check(desc)
    # A re-offer that treats the hostile description as our previous one (payload type
    # memory, version bump, credential reuse) must work and pass the interop check.
    sections = [
        OfferSection(m.mid or f"x{i}", _LOCAL.media[i % 2]) for i, m in enumerate(desc.media[:4])
    ]
    if len({s.mid for s in sections}) == len(sections):
        offer = create_offer(sections, _LOCAL.transport, rng=random.Random(0), previous=desc)
        if SessionDescription.parse(str(offer)) != offer:
            raise AssertionError("offer does not round-trip")
    try:
        answer = create_answer(desc, _LOCAL, rng=random.Random(0))
        validate_answer(desc, answer)
    except OfferAnswerError:
        return
    if SessionDescription.parse(str(answer)) != answer:
        raise AssertionError("answer does not round-trip")


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        desc = SessionDescription.parse(data)
    except ParseError:
        return
    _exercise(desc)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
