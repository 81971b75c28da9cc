"""RTCRtpTransceiver (webrtc-pc §5.4), sans-I/O: a mid, a kind, a direction, codec
preferences, a sending track and, once negotiated and keyed, a media endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.errors import LocalProtocolError
from ..media import PCMA, PCMU
from ..media import Codec as MediaCodec
from ..media.endpoint import MediaEndpoint
from ..media.sources import Track
from ..sdp import CodecCapability

__all__ = [
    "DEFAULT_AUDIO_CODECS",
    "DIRECTIONS",
    "MEDIA_CODECS",
    "ReceivedStats",
    "Transceiver",
]

#: W3C RTCRtpTransceiverDirection values.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive", "stopped")
#: The codecs a transceiver can carry end to end (G.711: encoded in pure Python).
DEFAULT_AUDIO_CODECS = [CodecCapability("PCMU", 8000, 1), CodecCapability("PCMA", 8000, 1)]
#: Media codecs by lower-case SDP encoding name.
MEDIA_CODECS: dict[str, MediaCodec] = {"pcmu": PCMU, "pcma": PCMA}


@dataclass
class ReceivedStats:
    frames: int = 0
    bytes: int = 0


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

    def __repr__(self) -> str:
        return f"<Transceiver mid={self.mid} {self.kind} {self.direction}>"

    def set_codec_preferences(self, codecs: list[CodecCapability]) -> None:
        """W3C setCodecPreferences: the order (and subset) of codecs to offer/answer."""
        for c in codecs:
            if c.name.lower() not in MEDIA_CODECS:
                raise LocalProtocolError(f"codec {c.name} is not supported")
        self.codecs = list(codecs) if codecs else list(DEFAULT_AUDIO_CODECS)

    @property
    def sends(self) -> bool:
        return self.current_direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.current_direction in ("sendrecv", "recvonly")
