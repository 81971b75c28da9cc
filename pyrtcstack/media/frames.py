"""The two kinds of frame that flow through a track, a sender and a receiver."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AudioFrame", "EncodedFrame"]


@dataclass(frozen=True)
class AudioFrame:
    """Raw audio: signed 16-bit little-endian PCM, channels interleaved.

    ``pts`` counts samples (per channel) from the start of the track.
    """

    pcm: bytes
    sample_rate: int
    channels: int = 1
    pts: int = 0

    @property
    def samples(self) -> int:
        return len(self.pcm) // (2 * self.channels)

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate


@dataclass(frozen=True)
class EncodedFrame:
    """One coded frame (an Opus packet, a VP8 frame, an H.264 access unit in Annex B,
    G.711 bytes) with its RTP-clock timestamp.

    On the receive side ``sequence_first``/``sequence_last`` are the extended RTP
    sequence numbers it came in and ``after_loss`` tells that packets were lost just
    before it (a decoder may need a keyframe).
    """

    data: bytes
    timestamp: int
    keyframe: bool = True
    sequence_first: int = 0
    sequence_last: int = 0
    after_loss: bool = False
