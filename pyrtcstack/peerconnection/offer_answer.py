"""Building our offer and answer (JSEP §5.2, §5.3) from the transceivers and our
transport parameters, with the pure functions of :mod:`pyrtcstack.sdp.jsep`.

The :class:`~pyrtcstack.peerconnection.negotiation.Negotiator` decides *which* sections
an offer has (mids, the data channel) and keeps the result; the functions here only turn
that into a :class:`~pyrtcstack.sdp.SessionDescription`.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from ..dtls import Fingerprint as DtlsFingerprint
from ..sdp import (
    Candidate,
    CodecCapability,
    DataChannelCapabilities,
    Fingerprint,
    LocalCapabilities,
    MediaCapabilities,
    Msid,
    OfferSection,
    SessionDescription,
    TransportParameters,
    create_answer,
    create_offer,
)
from .transceiver import Transceiver

__all__ = [
    "ICE_CHARS",
    "PWD_LENGTH",
    "UFRAG_LENGTH",
    "LocalParameters",
    "build_answer",
    "build_offer",
]

#: RFC 8839 §5.4 ice-char; RFC 8445 §5.3: ufrag ≥ 24 and pwd ≥ 128 bits of randomness.
ICE_CHARS = string.ascii_letters + string.digits + "+/"
UFRAG_LENGTH = 8
PWD_LENGTH = 24
_STATIC_PT = {"pcmu": 0, "pcma": 8}


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~3 µs more to make
class LocalParameters:
    """What our side writes into every description it makes."""

    #: ``a=ice-ufrag`` / ``a=ice-pwd`` (RFC 8839 §5.4)
    ice_ufrag: str
    ice_pwd: str
    #: ``a=fingerprint`` of our DTLS certificate (RFC 8122 §5)
    fingerprint: DtlsFingerprint
    #: the candidates gathered so far for ``ice_ufrag`` (RFC 8839 §5.1)
    candidates: list[Candidate]
    #: gathering of this generation is complete (``a=end-of-candidates``, RFC 8840 §4.1)
    end_of_candidates: bool
    #: ``a=max-message-size`` (RFC 8841 §6)
    max_message_size: int
    #: ``a=ssrc:... cname:`` (RFC 7022) and the MediaStream id of ``a=msid`` (RFC 8830)
    cname: str
    stream_id: str

    def transport(self) -> TransportParameters:
        fp = self.fingerprint
        return TransportParameters(
            fingerprints=[Fingerprint(fp.algorithm, fp.value)],
            ice_ufrag=self.ice_ufrag,
            ice_pwd=self.ice_pwd,
            candidates=self.candidates,
            end_of_candidates=self.end_of_candidates,
        )

    def data_channel(self) -> DataChannelCapabilities:
        return DataChannelCapabilities(max_message_size=self.max_message_size)


def media_capabilities(
    tr: Transceiver, ours: LocalParameters, *, answering: bool = False
) -> MediaCapabilities:
    """A transceiver's m= section content: codecs (RFC 3264 §5.1), direction, ``a=msid``,
    ``a=ssrc`` and, for video with RTX, the second SSRC (RFC 4588 §8.1)."""
    codecs = []
    for c in tr.offered_codecs(answering=answering):
        pt = c.payload_type if c.payload_type is not None else _STATIC_PT.get(c.name.lower())
        codecs.append(
            CodecCapability(
                c.name,
                c.clock_rate,
                c.channels,
                dict(c.parameters),
                list(c.feedback),
                pt,
                c.rtx and tr.kind == "video",
            )
        )
    return MediaCapabilities(
        tr.kind,
        codecs,
        direction=tr.direction,
        msid=Msid(ours.stream_id, f"track-{tr.ssrc:08x}"),
        ssrc=tr.ssrc,
        rtx_ssrc=tr.rtx_ssrc if any(c.rtx for c in codecs) else None,
        cname=ours.cname,
    )


def build_offer(
    ours: LocalParameters,
    *,
    mids: list[str],
    by_mid: dict[str | None, Transceiver],
    dc_mid: str | None,
    previous: SessionDescription | None,
    rng: random.Random,
) -> SessionDescription:
    """An offer with one section per mid in ``mids`` (a transceiver's, or the data
    channel's), all in one BUNDLE group (max-bundle, JSEP §5.2.1); ``previous``, our
    current local description, keeps the sections' order and the session version (JSEP
    §5.2.2)."""
    sections: list[OfferSection] = []
    for mid in mids:
        if mid == dc_mid:
            sections.append(OfferSection(mid, ours.data_channel()))
        elif mid in by_mid:
            tr = by_mid[mid]
            sections.append(OfferSection(mid, media_capabilities(tr, ours), stopped=tr.stopped))
    return create_offer(sections, ours.transport(), rng=rng, previous=previous, bundle=True)


def build_answer(
    ours: LocalParameters,
    *,
    offer: SessionDescription,
    by_mid: dict[str | None, Transceiver],
    previous: SessionDescription | None,
    previous_offer: SessionDescription | None,
    rng: random.Random,
) -> SessionDescription:
    """The answer to ``offer`` (JSEP §5.3.1): each offered media section matched to its
    transceiver, the data channel when offered, ``a=setup:active`` (we are the DTLS client,
    JSEP §5.3.1, RFC 5763 §5); with ``previous`` (a subsequent answer, JSEP §5.3.2) the session
    version continues."""
    media: list[MediaCapabilities] = []
    kinds: set[str] = set()
    level = offer.defaults()  # read the session level once, not per section
    for m in offer.media:
        tr = by_mid.get(m.mid)
        if tr is not None and tr.kind not in kinds and not m.rejected:
            kinds.add(tr.kind)
            # answer with the track's codec alone when it was offered (see
            # Transceiver.offered_codecs), else with everything we can receive
            track = tr.track
            sending = track is not None and any(
                c.name.lower() == track.codec.name.lower() for c in m.codecs(level)
            )
            media.append(media_capabilities(tr, ours, answering=sending))
    has_dc = any(m.kind == "application" and not m.rejected for m in offer.media)
    local = LocalCapabilities(
        ours.transport(),
        media=media,
        datachannel=ours.data_channel() if has_dc else None,
        setup="active",
    )
    return create_answer(offer, local, rng=rng, previous=previous, previous_offer=previous_offer)
