"""RTCRtpTransceiver (webrtc-pc §5.4), sans-I/O: a mid, a kind, a direction, codec
preferences, a sending track and, once negotiated and keyed, a media endpoint.

Audio carries G.711 (encoded here). Video is *pass-through*: the application brings
encoded VP8 (RFC 7741) or H.264 (RFC 6184, packetization-mode 1) frames and receives
encoded frames; nothing is encoded or decoded. For video the transceiver offers the RTCP
feedback it honours (RFC 4585 ``nack`` and ``nack pli``, RFC 5104 ``ccm fir``) and RTX
(RFC 4588) retransmission; see :meth:`Transceiver.create_endpoint`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..common.errors import LocalProtocolError
from ..media import (
    H264,
    OPUS,
    PCMA,
    PCMU,
    VP8,
    EncodedFrame,
    EncodedTrack,
    LiveTrack,
    MediaEndpoint,
    RtpReceiver,
    RtpSender,
    Track,
    vp8_keyframe_size,
)
from ..media import Codec as MediaCodec
from ..sdp import Codec as SdpCodec
from ..sdp import CodecCapability

__all__ = [
    "DEFAULT_AUDIO_CODECS",
    "DEFAULT_VIDEO_CODECS",
    "DIRECTIONS",
    "MEDIA_CODECS",
    "VIDEO_FEEDBACK",
    "ReceivedStats",
    "Transceiver",
    "default_codecs",
]

#: W3C RTCRtpTransceiverDirection values.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive", "stopped")
#: The codecs a transceiver can carry end to end (G.711: encoded in pure Python). Opus
#: (RFC 7587) is negotiated only when asked for with ``set_codec_preferences``: its
#: frames pass through as they are (received, recorded with ``OggOpusWriter``, or sent
#: from an ``EncodedTrack``); we have no Opus encoder, so it is not a default.
DEFAULT_AUDIO_CODECS = [CodecCapability("PCMU", 8000, 1), CodecCapability("PCMA", 8000, 1)]
#: The rtcp-fb values we offer for video, because we act on each of them: a NACK is
#: answered from the sender's bounded history (RFC 4585 §6.2.1, by RTX when negotiated,
#: RFC 4588), a PLI (RFC 4585 §6.3.1) or a new FIR (RFC 5104 §4.3.1) raises the sending
#: track's keyframe request; as a receiver we send NACKs for holes and a PLI when we
#: start receiving and when a frame is lost for good. No goog-remb / transport-cc: we
#: have no bandwidth estimation, so we do not offer it.
VIDEO_FEEDBACK = ["nack", "nack pli", "ccm fir"]
#: Video codecs: pass-through of encoded frames (VP8 first, as browsers offer it).
DEFAULT_VIDEO_CODECS = [
    CodecCapability("VP8", 90000, None, {}, list(VIDEO_FEEDBACK), rtx=True),
    CodecCapability(
        "H264",
        90000,
        None,
        {
            "level-asymmetry-allowed": "1",
            "packetization-mode": "1",
            "profile-level-id": "42e01f",
        },
        list(VIDEO_FEEDBACK),
        rtx=True,
    ),
]
#: Media codecs by lower-case SDP encoding name.
MEDIA_CODECS: dict[str, MediaCodec] = {
    "pcmu": PCMU,
    "pcma": PCMA,
    "opus": OPUS,
    "vp8": VP8,
    "h264": H264,
}
_KIND_CODECS = {"audio": ("pcmu", "pcma", "opus"), "video": ("vp8", "h264")}


def default_codecs(kind: str) -> list[CodecCapability]:
    """A fresh copy of the codecs a transceiver of ``kind`` offers by default."""
    base = DEFAULT_VIDEO_CODECS if kind == "video" else DEFAULT_AUDIO_CODECS
    return [
        CodecCapability(
            c.name, c.clock_rate, c.channels, dict(c.parameters), list(c.feedback), None, c.rtx
        )
        for c in base
    ]


@dataclass
class ReceivedStats:
    frames: int = 0
    bytes: int = 0
    keyframes: int = 0
    #: the size of the last VP8 keyframe received (RFC 6386 §9.1 header), 0 if unknown
    frame_width: int = 0
    frame_height: int = 0

    def count(self, frame: EncodedFrame) -> None:
        self.frames += 1
        self.bytes += len(frame.data)
        if frame.keyframe:
            self.keyframes += 1
            size = vp8_keyframe_size(frame.data)
            if size is not None:
                self.frame_width, self.frame_height = size


@dataclass(eq=False)
class Transceiver:
    """One m= section's worth of media (see the module docstring)."""

    kind: str
    direction: str = "sendrecv"
    track: Track | None = None
    codecs: list[CodecCapability] = field(default_factory=lambda: list(DEFAULT_AUDIO_CODECS))
    mid: str | None = None
    ssrc: int = 0
    current_direction: str | None = None
    stopped: bool = False
    #: The negotiated payload type and codec (set by the answer).
    payload_type: int | None = None
    codec: MediaCodec | None = None
    remote_ssrcs: list[int] = field(default_factory=list)
    endpoint: MediaEndpoint | None = None
    received: ReceivedStats = field(default_factory=ReceivedStats)
    fired_track: bool = False
    #: our RTX SSRC (RFC 4588 §8.1 ``a=ssrc-group:FID ssrc rtx_ssrc``), video only
    rtx_ssrc: int | None = None
    #: the negotiated RTX payload type (``apt`` = :attr:`payload_type`), or None
    rtx_payload_type: int | None = None
    #: the rtcp-fb values both sides agreed on for the negotiated codec (lower case)
    feedback: frozenset[str] = frozenset()
    #: keyframe requests (PLI/FIR) the peer sent for our sending track
    keyframe_requests: int = 0

    def __repr__(self) -> str:
        return f"<Transceiver mid={self.mid} {self.kind} {self.direction}>"

    def set_codec_preferences(self, codecs: list[CodecCapability]) -> None:
        """W3C setCodecPreferences: the order (and subset) of codecs to offer/answer.
        For video, an ``rtx`` entry means RTX is offered for every chosen codec (as in
        browsers), and each codec gets the feedback we honour (:data:`VIDEO_FEEDBACK`;
        W3C codec capabilities carry no rtcp-fb)."""
        allowed = _KIND_CODECS.get(self.kind, ())
        video = self.kind == "video"
        rtx = video and any(c.name.lower() == "rtx" for c in codecs)
        chosen = []
        for c in codecs:
            name = c.name.lower()
            if name == "rtx" and video:
                continue
            if name not in allowed:
                raise LocalProtocolError(f"codec {c.name} is not supported for {self.kind}")
            if video:
                c = CodecCapability(  # noqa: PLW2901
                    c.name,
                    c.clock_rate,
                    c.channels,
                    dict(c.parameters),
                    list(c.feedback) or list(VIDEO_FEEDBACK),
                    c.payload_type,
                    rtx,
                )
            chosen.append(c)
        self.codecs = chosen if chosen else default_codecs(self.kind)

    @property
    def sends(self) -> bool:
        return self.current_direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.current_direction in ("sendrecv", "recvonly")

    # ------------------------------------------------------------------ negotiation
    def offered_codecs(self, *, answering: bool = False) -> list[CodecCapability]:
        """The codecs to offer/answer: the preferences, with the sending track's codec
        moved first (so a VP8 track is not stuck with an H.264 first choice). An answer
        for a sending track lists only the track's codec when it can: the answer's
        first codec is what the offerer sends us (RFC 3264 §6.1), and our receiver
        takes one codec, so both directions then use the same one."""
        track = self.track
        if track is None:
            return self.codecs
        name = track.codec.name.lower()
        mine = [c for c in self.codecs if c.name.lower() == name]
        if answering and mine:
            return mine
        return mine + [c for c in self.codecs if c.name.lower() != name]

    def apply_codecs(self, codecs: list[SdpCodec]) -> None:
        """Take the negotiated codec from an answer's section (RFC 3264 §6.1: the answer
        lists what both sides support): the first one we know, the sending track's codec
        if it is there; then its RTX payload type (RFC 4588 §8.6 ``apt``) and feedback."""
        known = [c for c in codecs if c.name.lower() in MEDIA_CODECS]
        if not known:
            return
        chosen = known[0]
        if self.track is not None:
            name = self.track.codec.name.lower()
            chosen = next((c for c in known if c.name.lower() == name), chosen)
        self.payload_type = chosen.payload_type
        self.codec = MEDIA_CODECS[chosen.name.lower()]
        self.feedback = frozenset(
            f"{fb.type} {fb.parameter}".lower() if fb.parameter else fb.type.lower()
            for fb in chosen.feedback
        )
        self.rtx_payload_type = next(
            (
                c.payload_type
                for c in codecs
                if c.name.lower() == "rtx" and c.parameters.get("apt") == str(chosen.payload_type)
            ),
            None,
        )

    # ------------------------------------------------------------------ media
    def create_endpoint(
        self, now: float, *, rng: random.Random, cname: str, rtcp_interval: float
    ) -> MediaEndpoint:
        """The media endpoint of a negotiated transceiver (SRTP is applied by the peer
        connection around it). The sender keeps :data:`~pyrtcstack.media.sender.
        NACK_HISTORY` packets for NACKs (RTX when negotiated); the receiver NACKs holes
        only if ``nack`` was negotiated, and sends PLIs only if ``nack pli`` was."""
        assert self.codec is not None
        track = self.track if self.sends else None
        ep = MediaEndpoint(
            ("0.0.0.0", 9),
            track=track,
            rng=rng,
            cname=cname,
            rtcp_interval=rtcp_interval,
            start_at=now,
        )
        rtx = self.rtx_payload_type if self.kind == "video" else None
        if track is not None:
            ep.sender = RtpSender(
                track.codec,
                ssrc=self.ssrc,
                payload_type=self.payload_type,
                rng=rng,
                rtx_payload_type=rtx,
                rtx_ssrc=self.rtx_ssrc if rtx is not None else None,
            )
        ep.local_ssrc = self.ssrc
        if self.receives:
            receiver = RtpReceiver(
                self.codec,
                local_ssrc=self.ssrc,
                payload_type=self.payload_type,
                nack=self.kind == "video" and "nack" in self.feedback,
                rtx_payload_type=rtx,
            )
            receiver.pli_enabled = self.kind == "video" and "nack pli" in self.feedback
            receiver.pli_on_start = receiver.pli_enabled
            ep.receiver = receiver
        self.endpoint = ep
        return ep

    def on_keyframe_request(self) -> None:
        """The peer sent a PLI or a new FIR for our stream: count it and raise the
        sending track's ``keyframe_requested`` flag (a track that can produce a keyframe
        on demand reads and clears it; a file track cannot and just records it)."""
        self.keyframe_requests += 1
        track = self.track
        if isinstance(track, (EncodedTrack, LiveTrack)):
            track.request_keyframe()

    def routes_payload_type(self, payload_type: int) -> bool:
        """Whether an RTP packet of an SSRC not seen yet may belong to this transceiver
        (RFC 9143 §9.2 payload-type fallback): its media PT while no media SSRC is
        known, its RTX PT while no RTX SSRC is known."""
        ep = self.endpoint
        if ep is None or ep.receiver is None:
            return False
        receiver = ep.receiver
        if payload_type == self.payload_type:
            return receiver.remote_ssrc is None
        return (
            self.rtx_payload_type is not None
            and payload_type == self.rtx_payload_type
            and receiver.rtx_ssrc is None
        )
