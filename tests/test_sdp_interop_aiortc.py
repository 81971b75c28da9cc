"""Offer/answer against a real peer: aiortc's RTCPeerConnection (its own SDP code).

aiortc answers our offer and accepts our answer to its offer (setRemoteDescription runs
its own validation: fingerprints, ICE credentials, BUNDLE, codecs). Signalling only: no
media flows, so this runs in the loopback-only namespace in well under a second.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from peers import require_module

from pyrtcstack.sdp import (
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    OfferSection,
    SessionDescription,
    TransportParameters,
    create_answer,
    create_offer,
)

pytestmark = pytest.mark.interop

FP = Fingerprint("sha-256", ":".join(f"{i:02X}" for i in range(32)))
OPUS = CodecCapability("opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"})
VP8 = CodecCapability("VP8", 90000, feedback=["nack", "nack pli"], rtx=True)


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


def test_aiortc_answers_our_offer() -> None:
    aiortc = require_module("aiortc")
    offer = create_offer(
        [
            OfferSection("0", MediaCapabilities("audio", [OPUS], direction="recvonly")),
            OfferSection("1", MediaCapabilities("video", [VP8], direction="recvonly")),
            OfferSection("2", DataChannelCapabilities()),
        ],
        TransportParameters([FP]),
        rng=random.Random(9),
    )

    async def main() -> str:
        pc = aiortc.RTCPeerConnection()
        try:
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(str(offer), "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return str(pc.localDescription.sdp)
        finally:
            await pc.close()

    answer = SessionDescription.parse(_run(main()))
    assert [m.mid for m in answer.media] == ["0", "1", "2"]
    audio, video, data = answer.media
    assert [c.name for c in audio.codecs()] == ["opus"]
    assert audio.formats == offer.media[0].formats  # aiortc kept our payload types
    assert {c.name for c in video.codecs()} == {"VP8", "rtx"}
    assert video.formats == offer.media[1].formats
    assert audio.effective_setup(answer) == "active"
    assert audio.direction == "inactive"  # aiortc has no track to send: recvonly → inactive
    assert data.sctp_port == 5000
    assert answer.bundle_groups[0].mids == ("0", "1", "2")


def test_aiortc_accepts_our_answer() -> None:
    aiortc = require_module("aiortc")

    async def main() -> tuple[str, str]:
        pc = aiortc.RTCPeerConnection()
        try:
            pc.addTransceiver("audio", direction="recvonly")
            pc.createDataChannel("chat")
            await pc.setLocalDescription(await pc.createOffer())
            offer_text = str(pc.localDescription.sdp)
            caps = LocalCapabilities(
                TransportParameters([FP]),
                [MediaCapabilities("audio", [OPUS, CodecCapability("PCMU", 8000)])],
                DataChannelCapabilities(),
            )
            answer = create_answer(SessionDescription.parse(offer_text), caps, rng=random.Random(3))
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(str(answer), "answer"))
            return offer_text, str(pc.remoteDescription.sdp)
        finally:
            await pc.close()

    offer_text, accepted = _run(main())
    offer = SessionDescription.parse(offer_text)
    answer = SessionDescription.parse(accepted)
    assert [m.kind for m in answer.media] == [m.kind for m in offer.media]
    assert answer.media[0].direction == "sendonly"  # aiortc offered recvonly
    assert answer.media[0].effective_setup(answer) == "active"
