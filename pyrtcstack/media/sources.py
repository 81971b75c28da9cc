"""Media sources and tracks.

A *source* yields raw :class:`~pyrtcstack.media.frames.AudioFrame` objects: a
:class:`ToneSource` (a sine wave, computed, no clock) or a :class:`WavSource` (16-bit PCM
WAV through the standard library's ``wave``). A *track* yields encoded frames ready for
an :class:`~pyrtcstack.media.sender.RtpSender`: :class:`G711Track` encodes a source with
PCMU or PCMA; :class:`EncodedTrack` replays frames that were encoded elsewhere (Opus,
VP8, H.264), e.g. read from a file or produced by a real encoder.

Tracks are pulled by their driver (the media endpoint's frame timer), never by a clock of
their own: ``frame_duration`` tells the driver how often. A track fed live from elsewhere
(:class:`~pyrtcstack.media.live.LiveTrack`) may have no frame yet when it is pulled: it
returns :data:`NOT_YET`, and the driver asks again one ``frame_duration`` later.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from .codecs import PCMA, PCMU, Codec
from .errors import MediaFormatError, MediaUsageError
from .frames import AudioFrame, EncodedFrame
from .g711 import alaw_encode, ulaw_encode

__all__ = [
    "NOT_YET",
    "AudioSource",
    "EncodedTrack",
    "G711Track",
    "NotYet",
    "ToneSource",
    "Track",
    "WavSource",
]


class NotYet:
    """The type of :data:`NOT_YET`: "no frame now, ask again later" (not the end)."""

    _instance: NotYet | None = None

    def __new__(cls) -> NotYet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_YET"


#: What a live track's ``next_frame()`` returns when no frame has arrived yet.
NOT_YET = NotYet()


class AudioSource(Protocol):
    sample_rate: int
    channels: int

    def read(self) -> AudioFrame | None:
        """The next frame, or None at the end."""
        ...


class Track(Protocol):
    """What a sender pulls: encoded frames, one every ``frame_duration`` seconds.

    ``next_frame()`` returns the next frame, None at the end of the track, or
    :data:`NOT_YET` when a live track has nothing now (the sender sends nothing and asks
    again one ``frame_duration`` later)."""

    codec: Codec
    frame_duration: float

    def next_frame(self) -> EncodedFrame | NotYet | None: ...


class ToneSource:
    """A sine tone of ``frequency`` Hz, in frames of ``frame_ms`` ms, for ``duration``
    seconds (None: endless). Amplitude is a fraction of full scale."""

    def __init__(
        self,
        frequency: float = 440.0,
        *,
        sample_rate: int = 8000,
        amplitude: float = 0.5,
        frame_ms: int = 20,
        duration: float | None = None,
    ) -> None:
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.channels = 1
        self.amplitude = amplitude
        self.frame_samples = sample_rate * frame_ms // 1000
        self.total = None if duration is None else round(duration * sample_rate)
        self._pos = 0

    def read(self) -> AudioFrame | None:
        n = self.frame_samples
        if self.total is not None:
            n = min(n, self.total - self._pos)
            if n <= 0:
                return None
        scale = 32767 * self.amplitude
        w = 2 * math.pi * self.frequency / self.sample_rate
        pcm = b"".join(
            round(scale * math.sin(w * (self._pos + i))).to_bytes(2, "little", signed=True)
            for i in range(n)
        )
        frame = AudioFrame(pcm, self.sample_rate, 1, self._pos)
        self._pos += n
        return frame


class WavSource:
    """Read a 16-bit PCM WAV file in frames of ``frame_ms`` ms."""

    def __init__(self, file: str | Path | BinaryIO, *, frame_ms: int = 20) -> None:
        try:
            self._wav = wave.open(str(file) if isinstance(file, Path) else file, "rb")  # noqa: SIM115
        except (wave.Error, EOFError) as exc:
            raise MediaFormatError(f"not a readable WAV file: {exc}") from None
        if self._wav.getsampwidth() != 2:
            raise MediaFormatError("only 16-bit PCM WAV files are supported")
        self.sample_rate = self._wav.getframerate()
        self.channels = self._wav.getnchannels()
        self.frame_samples = self.sample_rate * frame_ms // 1000
        self._pos = 0

    def read(self) -> AudioFrame | None:
        pcm = self._wav.readframes(self.frame_samples)
        if not pcm:
            self._wav.close()
            return None
        frame = AudioFrame(pcm, self.sample_rate, self.channels, self._pos)
        self._pos += frame.samples
        return frame


class G711Track:
    """An 8 kHz mono source encoded as PCMU or PCMA, one frame per ``frame_ms``
    (RFC 3551 §4.5.14: the timestamp advances one tick per sample)."""

    def __init__(self, source: AudioSource, codec: Codec = PCMU) -> None:
        if codec not in (PCMU, PCMA) and codec.name not in ("PCMU", "PCMA"):
            raise MediaUsageError("G711Track needs PCMU or PCMA")
        if source.sample_rate != 8000 or source.channels != 1:
            raise MediaUsageError("G.711 needs 8 kHz mono audio")
        self.codec = codec
        self.source = source
        self.frame_duration = 0.02
        self._encode = ulaw_encode if codec.name == "PCMU" else alaw_encode

    def next_frame(self) -> EncodedFrame | None:
        frame = self.source.read()
        if frame is None:
            return None
        self.frame_duration = frame.duration or self.frame_duration
        return EncodedFrame(self._encode(frame.pcm), frame.pts)


class EncodedTrack:
    """Frames encoded elsewhere, replayed one per ``frame_duration``.

    ``keyframe_requested`` is raised when the peer asks for a keyframe (a PLI or FIR
    reached the sender, RFC 4585 §6.3.1 / RFC 5104 §4.3.1); a producer that can make one
    on demand clears it when it does. ``keyframe_requests`` counts the requests.
    """

    def __init__(self, codec: Codec, frames: Iterable[EncodedFrame], frame_duration: float) -> None:
        self.codec = codec
        self.frame_duration = frame_duration
        self._frames: Iterator[EncodedFrame] = iter(frames)
        self.keyframe_requested = False
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requested = True
        self.keyframe_requests += 1

    def next_frame(self) -> EncodedFrame | None:
        return next(self._frames, None)
