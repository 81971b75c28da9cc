"""Real browser SDPs captured on this machine (Chromium 156, Firefox ESR, werift; see
../shared/tools/interop/artifacts/sdp): parse, write back byte for byte, pass the interop
check, and get answers that pass it too. Skips when the artifacts are absent."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from peers import SHARED

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

ARTIFACTS = SHARED / "tools" / "interop" / "artifacts" / "sdp"


def _names() -> list[str]:
    if not ARTIFACTS.is_dir():
        return ["<artifacts absent>"]
    return sorted(p.name for p in ARTIFACTS.glob("*.sdp"))


def _read(name: str) -> bytes:
    path = Path(ARTIFACTS / name)
    if not path.exists():
        pytest.skip(f"interop artifacts not present at {ARTIFACTS}")
    return path.read_bytes()


@pytest.mark.parametrize("name", _names())
def test_browser_sdp_round_trips_and_is_clean(name: str) -> None:
    data = _read(name)
    desc = SessionDescription.parse(data)
    text = str(desc)
    assert text.encode() == data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert check(desc) == []
    assert desc.media and all(m.mid is not None for m in desc.media)


@pytest.mark.parametrize("name", [n for n in _names() if n.endswith("peer_offer.sdp")])
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
