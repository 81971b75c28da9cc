"""JSEP offer/answer (RFC 9429, RFC 3264, BUNDLE RFC 9143): CHECKLISTS §1 OA/BUN/SET/SDPDC/TRK.

The remote offers are real SDPs: the Chromium 156 audio+data offer bundled with the
package, what Chromium, Firefox, werift and aiortc sent us in recorded sessions
(tests/data/recorded) and, when the shared corpus is present, Chrome/Firefox offers from it.
"""

from __future__ import annotations

import random
from importlib import resources

import pytest
from peers import corpus, recorded_descriptions

from pyrtcstack.sdp import (
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    Msid,
    OfferAnswerError,
    OfferSection,
    SessionDescription,
    TransportParameters,
    answer_direction,
    answer_setup,
    create_answer,
    create_offer,
    h264_profile,
    ice_restart_requested,
    negotiate_codecs,
    remote_max_message_size,
    remote_sctp_port,
)

FP = Fingerprint("sha-256", ":".join(f"{i:02X}" for i in range(32)))
OPUS = CodecCapability("opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, ["transport-cc"])
PCMU = CodecCapability("PCMU", 8000)
VP8 = CodecCapability("VP8", 90000, feedback=["nack", "nack pli", "goog-remb"], rtx=True)
H264 = CodecCapability(
    "H264",
    90000,
    parameters={
        "level-asymmetry-allowed": "1",
        "packetization-mode": "1",
        "profile-level-id": "42e01f",
    },
    feedback=["nack"],
    rtx=True,
)
MID_EXT = "urn:ietf:params:rtp-hdrext:sdes:mid"


def chromium_offer() -> SessionDescription:
    text = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_bytes().decode()
    return SessionDescription.parse(text)


def local_caps(
    *, audio: str | None = "sendrecv", video: bool = True, data: bool = True
) -> LocalCapabilities:
    media = []
    if audio is not None:
        media.append(MediaCapabilities("audio", [OPUS, PCMU], [MID_EXT], audio))
    if video:
        media.append(MediaCapabilities("video", [VP8, H264], [MID_EXT]))
    return LocalCapabilities(
        TransportParameters([FP]), media, DataChannelCapabilities() if data else None
    )


def our_offer(rng: random.Random, **kw: object) -> SessionDescription:
    sections = [
        OfferSection(
            "0",
            MediaCapabilities(
                "audio", [OPUS, PCMU], [MID_EXT], msid=Msid("s", "a"), ssrc=11, cname="c"
            ),
        ),
        OfferSection("1", MediaCapabilities("video", [VP8, H264], [MID_EXT])),
        OfferSection("2", DataChannelCapabilities()),
    ]
    return create_offer(sections, TransportParameters([FP]), rng=rng, **kw)  # type: ignore[arg-type]


# ---- offers (SDP-03/04/05, SET-01, BUN-01)


def test_initial_offer_shape() -> None:
    offer = our_offer(random.Random(7))
    text = str(offer)
    assert text.startswith("v=0\r\no=- ")
    assert offer.origin.session_id < 2**63 and offer.origin.session_version == 0
    assert offer.session_name == "-" and [(t.start, t.stop) for t in offer.timings] == [(0, 0)]
    assert [m.protocol for m in offer.media] == [
        "UDP/TLS/RTP/SAVPF",
        "UDP/TLS/RTP/SAVPF",
        "UDP/DTLS/SCTP",
    ]
    assert offer.bundle_groups[0].mids == ("0", "1", "2")
    ufrags = {m.ice_ufrag for m in offer.media}
    assert len(ufrags) == 1 and len(next(iter(ufrags)) or "") >= 4
    assert len(offer.media[0].ice_pwd or "") >= 22
    for m in offer.media:
        assert m.port == 9 and str(m.connection) == "IN IP4 0.0.0.0"
        assert m.setup == "actpass" and m.ice_options == ["trickle"]
        assert m.fingerprints == [FP]
    assert offer.media[2].sctp_port == 5000 and offer.media[2].max_message_size == 262144
    assert offer.media[0].rtcp_mux and offer.media[1].rtcp_rsize
    # PCMU keeps its static payload type; dynamic ones come from 96+; rtx follows apt.
    audio = {c.name: c.payload_type for c in offer.media[0].codecs()}
    assert audio == {"opus": 96, "PCMU": 0}
    video = offer.media[1].codecs()
    assert [(c.payload_type, c.name, c.parameters.get("apt")) for c in video] == [
        (97, "VP8", None),
        (98, "rtx", "97"),
        (99, "H264", None),
        (100, "rtx", "99"),
    ]  # OA-08 / RFC 9143 §9.1: no payload type means two codecs inside the bundle
    assert offer.media[0].ssrcs == [11] and offer.media[0].msids == [Msid("s", "a")]
    assert SessionDescription.parse(text) == offer


def test_offer_versions_increase_by_one_per_change_and_keep_session_id() -> None:
    rng = random.Random(1)
    first = our_offer(rng)
    same = our_offer(rng, previous=first)
    assert same.origin.session_id == first.origin.session_id
    assert same.origin.session_version == first.origin.session_version  # nothing changed
    restarted = our_offer(rng, previous=same, ice_restart=True)
    assert restarted.origin.session_id == first.origin.session_id
    assert restarted.origin.session_version == same.origin.session_version + 1
    again = our_offer(rng, previous=restarted)
    assert again.origin.session_version == restarted.origin.session_version


def test_session_id_comes_from_the_injected_rng() -> None:
    assert our_offer(random.Random(5)).origin == our_offer(random.Random(5)).origin
    assert our_offer(random.Random(5)).origin != our_offer(random.Random(6)).origin


def test_ice_restart_changes_ufrag_and_pwd_everywhere() -> None:
    """TRK-02: new ufrag AND pwd in every bundled section; DTLS attributes untouched."""
    rng = random.Random(3)
    first = our_offer(rng)
    restarted = our_offer(rng, previous=first, ice_restart=True)
    assert ice_restart_requested(first, restarted)
    assert not ice_restart_requested(first, first)
    for old, new in zip(first.media, restarted.media, strict=True):
        assert new.ice_ufrag != old.ice_ufrag and new.ice_pwd != old.ice_pwd
        assert new.fingerprints == old.fingerprints and new.setup == "actpass"
    assert len({m.ice_ufrag for m in restarted.media}) == 1


def test_stopped_section_is_offered_with_port_zero_and_left_out_of_bundle() -> None:
    sections = [
        OfferSection("0", MediaCapabilities("audio", [OPUS])),
        OfferSection("1", MediaCapabilities("video", [VP8]), stopped=True),
    ]
    offer = create_offer(sections, TransportParameters([FP]), rng=random.Random(0))
    assert offer.media[1].port == 0 and offer.media[1].rejected
    assert offer.bundle_groups[0].mids == ("0",)


def test_duplicate_mids_are_refused() -> None:
    sections = [OfferSection("0", DataChannelCapabilities())] * 2
    with pytest.raises(OfferAnswerError):
        create_offer(sections, TransportParameters([FP]), rng=random.Random(0))


# ---------------------------------------------------------------- answers to a real Chromium offer


def test_answer_to_chromium_offer() -> None:
    """OA-01, OA-03, SET-02, BUN-02, SDPDC-01/02 on a real Chromium 156 audio+data offer."""
    offer = chromium_offer()
    answer = create_answer(offer, local_caps(), rng=random.Random(2))
    assert [m.kind for m in answer.media] == [m.kind for m in offer.media]
    assert [m.mid for m in answer.media] == [m.mid for m in offer.media]
    assert [m.protocol for m in answer.media] == [m.protocol for m in offer.media]
    audio, data = answer.media
    # The offerer's payload types, offer order, intersection only (no red/G722/CN...).
    assert audio.formats == ["111", "0"]
    opus = audio.codecs()[0]
    assert (opus.name, opus.clock_rate, opus.channels) == ("opus", 48000, 2)
    assert [fb.value for fb in opus.feedback] == ["transport-cc"]
    # Header extension ids are the offer's (SDP-12).
    assert [(e.id, e.uri) for e in audio.extmaps] == [(4, MID_EXT)]
    assert audio.direction == "sendrecv"
    assert audio.setup == "active" and data.setup == "active"
    assert answer.bundle_groups[0].mids == ("0", "1")
    assert data.sctp_port == 5000 and data.max_message_size == 262144
    assert audio.rtcp_mux and audio.rtcp_rsize
    assert SessionDescription.parse(str(answer)) == answer


def test_answer_rejects_what_we_do_not_support_with_port_zero() -> None:
    """OA-01: same m-lines, same order; unsupported ones port 0; BUNDLE lists the rest."""
    offer = chromium_offer()
    answer = create_answer(offer, local_caps(audio=None), rng=random.Random(2))
    audio, data = answer.media
    assert audio.port == 0 and audio.rejected and audio.kind == "audio"
    assert audio.protocol == offer.media[0].protocol and audio.mid == "0"
    assert data.port != 0
    # The offerer-tagged section (mid 0) was rejected: the group is not accepted.
    assert answer.bundle_groups == []
    answer = create_answer(offer, local_caps(data=False), rng=random.Random(2))
    assert answer.media[1].port == 0
    assert answer.bundle_groups[0].mids == ("0",)


def test_only_the_tagged_section_carries_candidates() -> None:
    offer = chromium_offer()
    caps = local_caps()
    from pyrtcstack.sdp import Candidate

    caps.transport.candidates = [
        Candidate.parse("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host")
    ]
    answer = create_answer(offer, caps, rng=random.Random(2))
    audio, data = answer.media
    assert [c.port for c in audio.candidates] == [40000] and audio.port == 40000
    assert data.candidates == [] and data.port == 9
    assert data.ice_ufrag == audio.ice_ufrag  # same transport, BUN-01


@pytest.mark.parametrize(
    ("offered", "wish", "expected"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendrecv", "recvonly", "recvonly"),
        ("sendrecv", "sendonly", "sendonly"),
        ("sendrecv", "inactive", "inactive"),
        ("sendonly", "sendrecv", "recvonly"),
        ("sendonly", "sendonly", "inactive"),
        ("recvonly", "sendrecv", "sendonly"),
        ("recvonly", "recvonly", "inactive"),
        ("inactive", "sendrecv", "inactive"),
    ],
)
def test_direction_matrix(offered: str, wish: str, expected: str) -> None:
    """OA-02 (RFC 3264 §6.1)."""
    assert answer_direction(offered, wish) == expected


def test_recvonly_offer_with_local_track_answers_sendonly() -> None:
    offer = chromium_offer()
    offer.media[0].set_attribute("recvonly")
    offer.media[0].remove_attribute("sendrecv")
    assert offer.media[0].direction == "recvonly"
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert answer.media[0].direction == "sendonly"


def test_setup_roles() -> None:
    """SET-02/03/04."""
    assert answer_setup("actpass") == "active"
    assert answer_setup("actpass", "passive") == "passive"
    assert answer_setup("active") == "passive"
    assert answer_setup("passive") == "active"
    assert answer_setup("actpass", "active", previous="passive") == "passive"  # keep role
    with pytest.raises(OfferAnswerError):
        answer_setup("holdconn")
    with pytest.raises(OfferAnswerError):
        answer_setup("actpass", "actpass")


def test_renegotiation_keeps_role_session_and_bumps_version() -> None:
    offer = chromium_offer()
    rng = random.Random(4)
    caps = local_caps()
    caps.setup = "passive"
    first = create_answer(offer, caps, rng=rng)
    caps.setup = "active"
    second = create_answer(offer, caps, rng=rng, previous=first, previous_offer=offer)
    assert second.media[0].setup == "passive"  # SET-04: keep the established role
    assert second.origin.session_id == first.origin.session_id
    assert second.origin.session_version == first.origin.session_version
    assert second.media[0].ice_ufrag == first.media[0].ice_ufrag
    # The remote restarts ICE: we answer with new credentials (TRK-02), version +1.
    restarted = chromium_offer()
    for m in restarted.media:
        m.set_attribute("ice-ufrag", "NEW1")
        m.set_attribute("ice-pwd", "NEWPASSWORDNEWPASSWORD12")
    third = create_answer(restarted, caps, rng=rng, previous=second, previous_offer=offer)
    assert third.media[0].ice_ufrag != second.media[0].ice_ufrag
    assert third.media[0].ice_pwd != second.media[0].ice_pwd
    assert third.origin.session_version == second.origin.session_version + 1


def test_rtcp_mux_required() -> None:
    """OA-09: policy require → an RTP section without rtcp-mux cannot be answered."""
    offer = chromium_offer()
    offer.media[0].remove_attribute("rtcp-mux")
    with pytest.raises(OfferAnswerError, match="rtcp-mux"):
        create_answer(offer, local_caps(), rng=random.Random(0))
    caps = local_caps()
    caps.require_rtcp_mux = False
    assert create_answer(offer, caps, rng=random.Random(0)).media[0].port != 0


# ---------------------------------------------------------------- codec negotiation (OA-03..07)

VIDEO_OFFER = f"""v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=video 9 UDP/TLS/RTP/SAVPF 96 97 103 104 105 106 107 98
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 {FP.value}
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtcp-fb:96 ccm fir
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:103 H264/90000
a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:104 rtx/90000
a=fmtp:104 apt=103
a=rtpmap:105 H264/90000
a=fmtp:105 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:106 rtx/90000
a=fmtp:106 apt=105
a=rtpmap:107 H264/90000
a=fmtp:107 packetization-mode=1;profile-level-id=640c1f
a=rtpmap:98 VP9/90000
a=fmtp:98 profile-id=2
"""


def test_codec_intersection_keeps_offerer_payload_types_and_rtx() -> None:
    """OA-03/04/05/06: VP8 96 + rtx 97 and H264 pm=1 103 + rtx 104 kept; pm=0, High and
    VP9 profile 2 dropped together with their rtx."""
    offer = SessionDescription.parse(VIDEO_OFFER)
    vp9 = CodecCapability("VP9", 90000, parameters={"profile-id": "0"})
    caps = LocalCapabilities(
        TransportParameters([FP]), [MediaCapabilities("video", [H264, VP8, vp9])]
    )
    answer = create_answer(offer, caps, rng=random.Random(0))
    video = answer.media[0]
    assert video.formats == ["96", "97", "103", "104"]
    codecs = {c.payload_type: c for c in video.codecs()}
    assert codecs[97].parameters == {"apt": "96"} and codecs[104].parameters == {"apt": "103"}
    assert [fb.value for fb in codecs[96].feedback] == ["nack", "nack pli"]  # ccm fir unsupported
    assert codecs[103].parameters["packetization-mode"] == "1"
    assert codecs[103].parameters["profile-level-id"] == "42e01f"


def test_without_h264_its_rtx_goes_too() -> None:
    offer = SessionDescription.parse(VIDEO_OFFER)
    caps = LocalCapabilities(TransportParameters([FP]), [MediaCapabilities("video", [VP8])])
    assert create_answer(offer, caps, rng=random.Random(0)).media[0].formats == ["96", "97"]


def test_no_common_codec_rejects_the_section() -> None:
    offer = SessionDescription.parse(VIDEO_OFFER)
    av1 = CodecCapability("AV1", 90000)
    caps = LocalCapabilities(TransportParameters([FP]), [MediaCapabilities("video", [av1])])
    answer = create_answer(offer, caps, rng=random.Random(0))
    assert answer.media[0].port == 0 and answer.bundle_groups == []


def test_h264_profiles() -> None:
    assert h264_profile("42e01f") is not None
    assert h264_profile("42e01f").profile == "constrained-baseline"  # type: ignore[union-attr]
    assert h264_profile("42001f").profile == "baseline"  # type: ignore[union-attr]
    assert h264_profile("4d001f").profile == "main"  # type: ignore[union-attr]
    assert h264_profile("640c1f").profile == "constrained-high"  # type: ignore[union-attr]
    assert h264_profile("64001f").profile == "high"  # type: ignore[union-attr]
    assert h264_profile(None).level == 0x0A  # type: ignore[union-attr] # RFC 6184 default
    assert h264_profile("zz") is None and h264_profile("ffffff") is None


def test_h264_level_is_the_lower_one_without_asymmetry() -> None:
    offer = SessionDescription.parse(
        VIDEO_OFFER.replace(
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            "packetization-mode=1;profile-level-id=42e00d",
        )
    )
    codecs = negotiate_codecs(offer.media[0].codecs(offer), [H264])
    assert codecs[0].parameters["profile-level-id"] == "42e00d"


def test_opus_matches_regardless_of_fmtp_and_case() -> None:
    """OA-07 / SDP-06: opus/48000/2 and OPUS/48000/2 match; stereo=1 does not prevent it."""
    offer = chromium_offer()
    offer.media[0].set_attribute("rtpmap", "111 OPUS/48000/2")
    offer.media[0].set_attribute("fmtp", "111 stereo=1;sprop-stereo=1")
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert answer.media[0].formats[0] == "111"


# ---- BUNDLE-only, data channel (BUN-03, SDPDC)


def test_bundle_only_section_is_accepted_inside_the_bundle() -> None:
    offer = chromium_offer()
    offer.media[1].port = 0
    offer.media[1].add_attribute("bundle-only")
    assert not offer.media[1].rejected
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert answer.media[1].port == 9 and not answer.media[1].bundle_only
    assert answer.bundle_groups[0].mids == ("0", "1")


def test_remote_data_channel_defaults() -> None:
    """SDPDC-01/02: sctp-port absent → 5000; max-message-size absent → 65536."""
    offer = chromium_offer()
    data = offer.media[1]
    assert remote_sctp_port(data) == 5000 and remote_max_message_size(data) == 262144
    data.remove_attribute("sctp-port")
    data.remove_attribute("max-message-size")
    assert remote_sctp_port(data) == 5000 and remote_max_message_size(data) == 65536


@pytest.mark.corpus
def test_legacy_sctpmap_offer_is_answered_in_kind() -> None:
    """SDP-05: DTLS/SCTP 5000 + a=sctpmap (Firefox ≤ 60) is answered with the same syntax."""
    path = corpus("sdp", "041-webrtc-sdp-firefox52-datachannel-active.sdp")
    offer = SessionDescription.parse(path.read_bytes())
    data = next(m for m in offer.media if m.kind == "application")
    assert data.protocol == "DTLS/SCTP" and remote_sctp_port(data) == 5000
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    mine = next(m for m in answer.media if m.kind == "application")
    assert mine.protocol == "DTLS/SCTP" and mine.formats == ["5000"]
    assert mine.sctpmap is not None and mine.sctpmap.app == "webrtc-datachannel"
    # The offer said setup:active, so we are passive.
    assert mine.setup == "passive"


def test_one_application_section_for_many_channels() -> None:
    """SDPDC-03 holds by construction: channels are not sections; one section is offered."""
    offer = our_offer(random.Random(0))
    assert [m.kind for m in offer.media].count("application") == 1


_CORPUS_OFFERS = [
    "002-aiortc-firefox58-audio-offer.sdp",
    "011-aiortc-chrome-video-offer.sdp",
    "013-aiortc-firefox61-video-offer.sdp",
    "032-str0m-chrome-audio-offer-rid-extmaps.sdp",
    "037-safari-sendonly-audio-offer.sdp",
    "010-aiortc-firefox63-datachannel-sctp-port.sdp",
]
_RECORDED_OFFERS = {
    f"recorded-{peer}-{i}": d["sdp"]
    for peer, i, d in recorded_descriptions()
    if d["from"] == "peer" and d["type"] == "offer"
}


@pytest.mark.parametrize(
    "name",
    [
        *sorted(_RECORDED_OFFERS),
        *(pytest.param(n, marks=pytest.mark.corpus) for n in _CORPUS_OFFERS),
    ],
)
def test_answers_to_browser_offers_are_consistent(name: str) -> None:
    """Offers real peers sent us (tests/data/recorded), and from the shared corpus."""
    text = _RECORDED_OFFERS.get(name)
    offer = SessionDescription.parse(text if text else corpus("sdp", name).read_bytes())
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert len(answer.media) == len(offer.media)
    for o, a in zip(offer.media, answer.media, strict=True):
        assert (a.kind, a.mid, a.protocol) == (o.kind, o.mid, o.protocol)
        if a.port:
            assert a.setup in ("active", "passive") and a.ice_ufrag and a.fingerprints
            assert set(a.formats) <= set(o.formats)
    assert SessionDescription.parse(str(answer)) == answer


def test_our_offers_and_answers_pass_the_interop_check() -> None:
    from pyrtcstack.sdp.check import check

    rng = random.Random(8)
    offer = our_offer(rng)
    assert check(offer, "offer") == []
    answer = create_answer(chromium_offer(), local_caps(), rng=rng)
    assert check(answer, "answer") == []
    assert check(create_answer(offer, local_caps(), rng=rng), "answer") == []


def test_bundle_payload_type_reuse_is_refused() -> None:
    """OA-08 (RFC 9143 §9.1): PT 111 for opus in mid 0 and for VP8 in a bundled mid 1."""
    from pyrtcstack.sdp.check import check

    offer = chromium_offer()
    video = SessionDescription.parse(VIDEO_OFFER).media[0]
    video.set_attribute("mid", "1")
    video.formats = ["111"]
    video.set_attribute("rtpmap", "111 VP8/90000")
    video.remove_attribute("fmtp")
    video.remove_attribute("rtcp-fb")
    offer.media[1] = video
    assert any("RFC 9143 §9.1" == p.rule for p in check(offer))
    with pytest.raises(OfferAnswerError, match="9143"):
        create_answer(offer, local_caps(), rng=random.Random(0))


def test_validate_answer() -> None:
    """What SRD(answer) must refuse: OA-01/02/03, SET-02, BUN-02."""
    from pyrtcstack.sdp import validate_answer

    offer = chromium_offer()
    good = create_answer(offer, local_caps(), rng=random.Random(0))
    validate_answer(offer, good)
    # Every real answer recorded (the peers' to our offers, ours to theirs) is valid for
    # the offer it answered (tests/data/recorded).
    pairs = 0
    offer_seen: SessionDescription | None = None
    for _peer, _i, desc in recorded_descriptions():
        if desc["type"] == "offer":
            offer_seen = SessionDescription.parse(desc["sdp"])
        else:
            assert offer_seen is not None
            validate_answer(offer_seen, SessionDescription.parse(desc["sdp"]))
            pairs += 1
    assert pairs >= 4

    def broken(edit) -> SessionDescription:  # type: ignore[no-untyped-def]
        answer = SessionDescription.parse(str(good))
        edit(answer)
        return answer

    cases = [
        (lambda a: a.media.pop(), "m= sections"),
        (lambda a: a.media[1].set_attribute("mid", "9"), "RFC 3264 §6"),
        (lambda a: a.media[0].set_attribute("setup", "actpass"), "active or passive"),
        (lambda a: a.media[0].formats.append("100"), "adds payload types"),
        (lambda a: a.set_attribute("group", "BUNDLE 0 1 7"), "RFC 9143"),
    ]
    for edit, message in cases:
        with pytest.raises(OfferAnswerError, match=message):
            validate_answer(offer, broken(edit))
    sendonly_offer = chromium_offer()
    sendonly_offer.media[0].remove_attribute("sendrecv")
    sendonly_offer.media[0].add_attribute("sendonly")
    with pytest.raises(OfferAnswerError, match="sendrecv to an offered sendonly"):
        validate_answer(sendonly_offer, good)


def test_subsequent_offer_keeps_negotiated_payload_types() -> None:
    """RFC 9429 §5.2.2: after answering Chromium (opus 111), our re-offer keeps 111."""
    rng = random.Random(11)
    answer = create_answer(chromium_offer(), local_caps(), rng=rng)
    sections = [
        OfferSection("0", MediaCapabilities("audio", [OPUS, PCMU], [MID_EXT])),
        OfferSection("1", DataChannelCapabilities()),
    ]
    reoffer = create_offer(sections, TransportParameters([FP]), rng=rng, previous=answer)
    assert reoffer.media[0].formats == ["111", "0"]
    assert reoffer.origin.session_id == answer.origin.session_id
    assert reoffer.origin.session_version == answer.origin.session_version + 1
    assert reoffer.media[0].ice_ufrag == answer.media[0].ice_ufrag
    assert reoffer.media[0].setup == "actpass"


def test_adding_a_transceiver_appends_a_section() -> None:
    """OA-10: a new transceiver adds an m-line; existing mids and payload types unchanged."""
    rng = random.Random(12)
    first = our_offer(rng)
    sections = [
        OfferSection("0", MediaCapabilities("audio", [OPUS, PCMU], [MID_EXT])),
        OfferSection("1", MediaCapabilities("video", [VP8, H264], [MID_EXT])),
        OfferSection("2", DataChannelCapabilities()),
        OfferSection("3", MediaCapabilities("video", [H264, VP8], [MID_EXT])),
    ]
    second = create_offer(sections, TransportParameters([FP]), rng=rng, previous=first)
    assert [m.mid for m in second.media] == ["0", "1", "2", "3"]
    for old, new in zip(first.media, second.media, strict=False):
        assert new.formats == old.formats
    # The new section reuses the bundle's payload types for the same codecs (RFC 9143 §9.1).
    assert second.media[3].formats == ["99", "100", "97", "98"]
    assert second.origin.session_version == first.origin.session_version + 1
    assert second.bundle_groups[0].mids == ("0", "1", "2", "3")
    from pyrtcstack.sdp.check import check

    assert check(second, "offer") == []


def test_rtp_savpf_offer_is_answered_in_kind() -> None:
    """SDP-05: an offer using RTP/SAVPF is answered with RTP/SAVPF."""
    offer = chromium_offer()
    offer.media[0].protocol = "RTP/SAVPF"
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert answer.media[0].protocol == "RTP/SAVPF" and answer.media[0].port != 0


def test_end_of_candidates_only_in_the_tagged_section() -> None:
    """TRK-01: a=end-of-candidates goes with the candidates (tagged section only)."""
    from pyrtcstack.sdp import Candidate

    transport = TransportParameters(
        [FP],
        candidates=[Candidate.parse("candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host")],
        end_of_candidates=True,
    )
    sections = [
        OfferSection("0", MediaCapabilities("audio", [OPUS])),
        OfferSection("1", DataChannelCapabilities()),
    ]
    offer = create_offer(sections, transport, rng=random.Random(0))
    assert offer.media[0].end_of_candidates and offer.media[0].port == 40000
    assert str(offer.media[0].connection) == "IN IP4 127.0.0.1"
    assert not offer.media[1].end_of_candidates and offer.media[1].candidates == []


def test_absent_setup_defaults_to_active() -> None:
    """RFC 4145 §4: no a=setup means the offerer is active, so we are passive."""
    assert answer_setup(None) == "passive"
    offer = chromium_offer()
    for m in offer.media:
        m.remove_attribute("setup")
    answer = create_answer(offer, local_caps(), rng=random.Random(0))
    assert {m.setup for m in answer.media} == {"passive"}


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("ice-ufrag", "abc"), ("ice-pwd", "x" * 21), ("ice-ufrag", "a:bc"), ("ice-pwd", None)],
)
def test_offers_with_bad_ice_credentials_are_refused(attribute: str, value: str | None) -> None:
    """SDP-08: 3-char ufrag, 21-char pwd, non ice-chars, missing → refused like SRD."""
    offer = chromium_offer()
    for m in offer.media:
        if value is None:
            m.remove_attribute(attribute)
        else:
            m.set_attribute(attribute, value)
    with pytest.raises(OfferAnswerError, match="RFC 8839"):
        create_answer(offer, local_caps(), rng=random.Random(0))
