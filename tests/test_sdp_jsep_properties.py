"""Property tests for JSEP: any offer we make, answered with any capabilities, is consistent.

Invariants (RFC 9429 §5.3.1, RFC 3264 §6, RFC 9143): one answer section per offered one with
the same kind/mid/protocol; answer payload types are offered ones; RTX only with its
primary; directions follow the RFC 3264 matrix; our offers and answers pass `check`; both
round-trip and are readable by aiortc's parser when it is installed.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.sdp import (
    Attribute,
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    OfferSection,
    SessionDefaults,
    SessionDescription,
    TransportParameters,
    answer_direction,
    create_answer,
    create_offer,
)
from pyrtcstack.sdp.check import check

AUDIO = [
    CodecCapability("opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, ["transport-cc"]),
    CodecCapability("PCMU", 8000),
    CodecCapability("PCMA", 8000),
    CodecCapability("G722", 8000),
    CodecCapability("telephone-event", 8000, parameters={"0-15": ""}),
]
VIDEO = [
    CodecCapability("VP8", 90000, feedback=["nack", "nack pli"], rtx=True),
    CodecCapability("VP9", 90000, parameters={"profile-id": "0"}, rtx=True),
    CodecCapability("VP9", 90000, parameters={"profile-id": "2"}, rtx=True),
    CodecCapability(
        "H264",
        90000,
        parameters={"packetization-mode": "1", "profile-level-id": "42e01f"},
        feedback=["nack"],
        rtx=True,
    ),
    CodecCapability(
        "H264", 90000, parameters={"packetization-mode": "0", "profile-level-id": "42e01f"}
    ),
    CodecCapability("AV1", 90000, rtx=True),
]
EXTENSIONS = [
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
]
DIRECTIONS = st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"])
FP = Fingerprint("sha-256", ":".join(["C3"] * 32))


def _subset(pool: list[CodecCapability]) -> st.SearchStrategy[list[CodecCapability]]:
    return st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique_by=id)


@st.composite
def media_caps(draw: st.DrawFn, kind: str) -> MediaCapabilities:
    return MediaCapabilities(
        kind,
        draw(_subset(AUDIO if kind == "audio" else VIDEO)),
        draw(st.lists(st.sampled_from(EXTENSIONS), unique=True)),
        draw(DIRECTIONS),
    )


@st.composite
def offers(draw: st.DrawFn) -> list[OfferSection]:
    kinds = draw(st.lists(st.sampled_from(["audio", "video", "data"]), min_size=1, max_size=4))
    sections: list[OfferSection] = []
    has_data = False
    for i, kind in enumerate(kinds):
        if kind == "data":
            if has_data:
                continue
            has_data = True
            sections.append(OfferSection(str(i), DataChannelCapabilities()))
        else:
            sections.append(
                OfferSection(str(i), draw(media_caps(kind)), stopped=draw(st.booleans()) and i > 0)
            )
    return sections


@st.composite
def local_caps(draw: st.DrawFn) -> LocalCapabilities:
    media = []
    if draw(st.booleans()):
        media.append(draw(media_caps("audio")))
    if draw(st.booleans()):
        media.append(draw(media_caps("video")))
    return LocalCapabilities(
        TransportParameters([FP]),
        media,
        DataChannelCapabilities() if draw(st.booleans()) else None,
        setup=draw(st.sampled_from(["active", "passive"])),
    )


@settings(max_examples=150, deadline=None)
@given(offers(), local_caps(), st.integers(0, 2**32))
def test_any_offer_any_answer_is_consistent(
    sections: list[OfferSection], local: LocalCapabilities, seed: int
) -> None:
    rng = random.Random(seed)
    offer = create_offer(sections, TransportParameters([FP]), rng=rng)
    assert check(offer, "offer") == []
    assert SessionDescription.parse(str(offer)) == offer
    answer = create_answer(SessionDescription.parse(str(offer)), local, rng=rng)
    assert SessionDescription.parse(str(answer)) == answer
    assert check(answer, "answer") == []
    assert len(answer.media) == len(offer.media)
    for o, a in zip(offer.media, answer.media, strict=True):
        assert (a.kind, a.mid, a.protocol) == (o.kind, o.mid, o.protocol)
        if a.port == 0:
            continue
        assert not o.rejected
        assert a.effective_setup(answer) == local.setup
        if a.kind in ("audio", "video"):
            assert set(a.formats) <= set(o.formats)
            codecs = a.codecs()
            for c in codecs:
                if c.name == "rtx":
                    assert c.parameters["apt"] in a.formats
            wish = next(m.direction for m in local.media if m.kind == a.kind)
            assert a.direction == answer_direction(o.effective_direction(offer), wish)
    live = [a.mid for a in answer.media if a.port]
    if answer.bundle_groups:
        assert list(answer.bundle_groups[0].mids) == [m for m in live if m is not None]
    try:
        from aiortc import sdp as aiortc_sdp
    except ImportError:
        return
    for desc in (offer, answer):
        assert len(aiortc_sdp.SessionDescription.parse(str(desc)).media) == len(desc.media)


_SESSION_ATTRIBUTES = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "ice-ufrag",
                "ice-pwd",
                "ice-options",
                "ice-lite",
                "fingerprint",
                "setup",
                "sendrecv",
                "recvonly",
                "inactive",
                "extmap-allow-mixed",
                "end-of-candidates",
                "rtcp-fb",
                "group",
            ]
        ),
        st.one_of(
            st.none(),
            st.sampled_from(
                [
                    "abc",
                    "trickle ice2",
                    "sha-256 " + ":".join(["AB"] * 32),
                    "* nack",
                    "96 ccm fir",
                    "actpass",
                ]
            ),
        ),
    ),
    max_size=12,
)


@given(_SESSION_ATTRIBUTES)
def test_session_defaults_are_what_the_accessors_read(pairs: list[tuple[str, str | None]]) -> None:
    """defaults() reads the session's attributes in one pass: the same snapshot as the
    typed accessors, one scan each (first value, flags, lists in order, the first
    direction, the rtcp-fb index), or the same error for a bad fingerprint."""
    desc = SessionDescription(attributes=[Attribute(n, v) for n, v in pairs])

    def snapshot() -> SessionDefaults:
        return SessionDefaults(
            desc.ice_ufrag,
            desc.ice_pwd,
            desc.ice_options,
            desc.ice_lite,
            desc.fingerprints,
            desc.setup,
            desc.connection,
            desc.direction,
            desc.extmap_allow_mixed,
            desc.end_of_candidates,
            desc.feedback_index,
        )

    try:
        expected = snapshot()
    except Exception as exc:  # a value the accessor refuses: defaults() refuses it alike
        with pytest.raises(type(exc)):
            desc.defaults()
        return
    assert desc.defaults() == expected
