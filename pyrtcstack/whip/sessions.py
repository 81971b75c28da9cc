"""What a WHIP/WHEP server keeps per session, without HTTP: the peer connection, the ETag,
the recorders of what is ingested, and the tracks that re-serve a recording.

Recordings use the existing writers (:mod:`pyrtcstack.media.recorders`): Opus → Ogg
(RFC 7845), VP8 → IVF, H.264 → Annex B, PCMU/PCMA → WAV. A recording is re-served by the
matching reader track (:class:`~pyrtcstack.media.OggOpusTrack`,
:class:`~pyrtcstack.media.IvfTrack`, :class:`~pyrtcstack.media.AnnexBTrack`), looped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..media import (
    PCMA,
    PCMU,
    AnnexBTrack,
    AnnexBWriter,
    EncodedFrame,
    IvfTrack,
    IvfWriter,
    OggOpusTrack,
    OggOpusWriter,
    Track,
    WavRecorder,
)
from ..media import Codec as MediaCodec
from ..sdp import CodecCapability

if TYPE_CHECKING:
    from ..aio import PeerConnection, RemoteTrack
    from ..media import LiveTrack
    from .relay import LiveRelay

__all__ = [
    "AUDIO_PREFERENCES",
    "EXTENSIONS",
    "Recorder",
    "Session",
    "live_preference",
    "new_etag",
    "open_recorder",
    "open_track",
    "video_preference",
]

#: What the server asks audio transceivers for: Opus (RFC 7587, recorded to Ogg), else
#: G.711 (recorded to WAV).
AUDIO_PREFERENCES = [
    CodecCapability("opus", 48000, 2),
    CodecCapability("PCMU", 8000, 1),
    CodecCapability("PCMA", 8000, 1),
]
#: The file name extension of a recording, by codec name (lower case).
EXTENSIONS = {"opus": "ogg", "vp8": "ivf", "h264": "h264", "pcmu": "wav", "pcma": "wav"}


class Recorder(Protocol):
    def write(self, frame: EncodedFrame) -> None: ...

    def close(self) -> None: ...


def new_etag() -> str:
    """A strong entity tag (RFC 9110 §8.8.3) for a session's ICE state (RFC 9725 §4.3.1)."""
    return f'"{secrets.token_hex(8)}"'


def open_recorder(path: Path, codec: str) -> Recorder:
    name = codec.lower()
    if name == "opus":
        return OggOpusWriter(path)
    if name == "vp8":
        return IvfWriter(path)
    if name == "h264":
        return AnnexBWriter(path)
    return WavRecorder(path, PCMA if name == "pcma" else PCMU)


def open_track(path: Path, data: bytes | None = None) -> Track:
    """A looping track that replays a recording (``data``: its bytes, already read), by
    its extension; :class:`~pyrtcstack.media.MediaFormatError` if it does not parse."""
    source: Path | bytes = path if data is None else data
    suffix = path.suffix.lower()
    if suffix == ".ogg":
        return OggOpusTrack(source, loop=True)
    if suffix == ".ivf":
        return IvfTrack(source, loop=True)
    return AnnexBTrack(source, loop=True)


def video_preference(track: Track) -> list[CodecCapability]:
    """The one video codec a replayed file can be sent as (no transcoding)."""
    return video_preference_for(track.codec.name)


def video_preference_for(name: str) -> list[CodecCapability]:
    if name == "VP8":
        return [CodecCapability("VP8", 90000, None, {}, ["nack", "nack pli", "ccm fir"])]
    return [
        CodecCapability(
            "H264",
            90000,
            None,
            {
                "level-asymmetry-allowed": "1",
                "packetization-mode": "1",
                "profile-level-id": "42e01f",
            },
            ["nack", "nack pli", "ccm fir"],
        )
    ]


def live_preference(codec: MediaCodec) -> list[CodecCapability]:
    """What a player is asked for to receive a live stream in ``codec`` (the publisher's
    negotiated codec: a relay does not transcode)."""
    name = codec.name.lower()
    if name == "opus":
        return [AUDIO_PREFERENCES[0]]
    if name in ("pcmu", "pcma"):
        return [CodecCapability(codec.name, 8000, 1)]
    return video_preference_for(codec.name)


@dataclass(eq=False)
class Session:
    """One WHIP (ingest) or WHEP (playback) session: an HTTP resource (RFC 9725 §4.2)."""

    id: str
    kind: str  # "whip" or "whep"
    pc: PeerConnection
    etag: str
    #: seconds (loop time) of the last sign of life: a frame in (WHIP), a connected check
    #: (WHEP); the idle timeout counts from here
    last_activity: float
    recorders: dict[str, Recorder] = field(default_factory=dict)
    #: recording paths by media kind ("audio", "video"), with frames written
    files: dict[str, Path] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    bytes_recorded: int = 0
    #: the ICE ufrag of the client's current offer (trickle fragments must match it)
    remote_ufrag: str | None = None
    ended: bool = False
    end_reason: str = ""
    #: WHIP: the publisher's incoming tracks by kind (to ask them for keyframes)
    remote_tracks: dict[str, RemoteTrack] = field(default_factory=dict)
    #: WHEP live: this player's tracks and the relays that feed them
    live_tracks: list[tuple[LiveRelay, LiveTrack]] = field(default_factory=list)

    def close_recorders(self) -> None:
        for recorder in self.recorders.values():
            recorder.close()
        self.recorders.clear()
