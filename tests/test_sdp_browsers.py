"""Real SDPs our interop runs recorded (Chromium 156, Firefox ESR, werift, aiortc, and our
own answers to them; tests/data/recorded, written by tests/record_peers.py): parse, write
back byte for byte, pass the interop check, and offers get answers that pass it too."""

from __future__ import annotations

import random

import pytest
from peers import recorded_descriptions

from pyrtcstack.sdp import (
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    SessionDescription,
    TransportParameters,
    create_answer,
)
from pyrtcstack.sdp.check import check

_SDPS = {
    f"{peer}-{i}-{d['from']}-{d['type']}": d["sdp"].encode()
    for peer, i, d in recorded_descriptions()
}


def _names() -> list[str]:
    return sorted(_SDPS)


def _read(name: str) -> bytes:
    return _SDPS[name]


@pytest.mark.parametrize("name", _names())
def test_browser_sdp_round_trips_and_is_clean(name: str) -> None:
    data = _read(name)
    desc = SessionDescription.parse(data)
    text = str(desc)
    assert text.encode() == data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert check(desc) == []
    assert desc.media and all(m.mid is not None for m in desc.media)


@pytest.mark.parametrize("name", [n for n in _names() if n.endswith("-peer-offer")])
def test_we_answer_browser_offers(name: str) -> None:
    offer = SessionDescription.parse(_read(name))
    local = LocalCapabilities(
        TransportParameters([Fingerprint("sha-256", ":".join(["5A"] * 32))]),
        [
            MediaCapabilities(
                "audio",
                [CodecCapability("opus", 48000, 2), CodecCapability("PCMU", 8000)],
                ["urn:ietf:params:rtp-hdrext:sdes:mid"],
            )
        ],
        DataChannelCapabilities(),
    )
    answer = create_answer(offer, local, rng=random.Random(0))
    assert check(answer, "answer") == []
    assert [m.mid for m in answer.media] == [m.mid for m in offer.media]
    assert all(m.port != 0 for m in answer.media)
    assert answer.bundle_groups[0].mids == offer.bundle_groups[0].mids
    for theirs, ours in zip(offer.media, answer.media, strict=True):
        if theirs.kind == "audio":
            # Their payload type for their first codec we support (opus, or werift's PCMU).
            first = next(c for c in theirs.codecs() if c.name.lower() in ("opus", "pcmu"))
            assert ours.formats[0] == str(first.payload_type)
