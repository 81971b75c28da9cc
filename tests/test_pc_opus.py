"""Opus (RFC 7587) is negotiable on request: ``set_codec_preferences`` with
``opus/48000/2`` offers it and takes it in an answer; the defaults stay G.711 (we have no
Opus encoder), so an offer of Opus alone is rejected unless the answerer asks for Opus."""

from __future__ import annotations

import random

import pytest

from pyrtcstack.common.errors import LocalProtocolError
from pyrtcstack.media import OPUS
from pyrtcstack.peerconnection import Configuration, PeerConnectionCore
from pyrtcstack.sdp import CodecCapability, SessionDescription
from pyrtcstack.sdp.errors import OfferAnswerError

OPUS_CAP = CodecCapability("opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"})


def _core(seed: int) -> PeerConnectionCore:
    return PeerConnectionCore(Configuration(), rng=random.Random(seed))


def _audio_codecs(sdp: str) -> list[tuple[str, int, int | None]]:
    desc = SessionDescription.parse(sdp)
    return [(c.name.lower(), c.clock_rate, c.channels) for c in desc.media[0].codecs(desc)]


def test_defaults_offer_g711_only() -> None:
    a = _core(1)
    a.add_transceiver("audio", direction="recvonly")
    assert [c[0] for c in _audio_codecs(a.create_offer(0.0).sdp)] == ["pcmu", "pcma"]


def test_opus_offered_and_answered_on_request() -> None:
    a, b = _core(1), _core(2)
    tr = a.add_transceiver("audio", direction="recvonly")
    tr.set_codec_preferences([OPUS_CAP])
    offer = a.create_offer(0.0)
    assert _audio_codecs(offer.sdp) == [("opus", 48000, 2)]  # RFC 7587 §7: opus/48000/2
    a.set_local_description(offer, 0.0)
    b.set_remote_description(offer, 0.0)
    theirs = next(t for t in b.transceivers if t.kind == "audio")
    theirs.set_codec_preferences([CodecCapability("opus", 48000, 2)])
    answer = b.create_answer(0.0)
    b.set_local_description(answer, 0.0)
    assert _audio_codecs(answer.sdp) == [("opus", 48000, 2)]
    a.set_remote_description(answer, 0.0)
    assert tr.codec == OPUS and theirs.codec == OPUS
    assert tr.payload_type == theirs.payload_type is not None


def test_opus_only_offer_without_preference_is_rejected() -> None:
    a, b = _core(1), _core(2)
    a.add_transceiver("audio", direction="sendrecv").set_codec_preferences([OPUS_CAP])
    offer = a.create_offer(0.0)
    a.set_local_description(offer, 0.0)
    b.set_remote_description(offer, 0.0)
    answer = b.create_answer(0.0)
    assert SessionDescription.parse(answer.sdp).media[0].port == 0
    b.set_local_description(answer, 0.0)
    with pytest.raises(OfferAnswerError):
        a.set_remote_description(answer, 0.0)  # nothing left to use


def test_opus_is_audio_only() -> None:
    tr = _core(1).add_transceiver("video", direction="recvonly")
    with pytest.raises(LocalProtocolError):
        tr.set_codec_preferences([OPUS_CAP])
