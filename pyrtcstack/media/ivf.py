"""IVF, the small container libvpx and FFmpeg use for VP8/VP9/AV1 frames: read it, and
replay its frames as a video track.

The layout (little-endian; the format is defined by libvpx's ``ivfdec.c``/``ivfenc.c``
and FFmpeg's ``ivfdec.c``, there is no RFC)::

    file header, 32 bytes:
      "DKIF" | version u16 (0) | header size u16 (32) | FourCC ("VP80")
      | width u16 | height u16 | timebase denominator u32 | timebase numerator u32
      | frame count (or duration, see IvfWriter) u32 | unused u32
    then per frame:
      frame size u32 | presentation timestamp u64 (in timebase units) | frame bytes

:func:`parse_ivf` reads a whole file (bounded by :data:`MAX_IVF_FRAME_SIZE` per frame and
:data:`MAX_IVF_FRAMES` frames) and raises :class:`~pyrtcstack.media.errors.
MediaFormatError` on anything else. :class:`IvfTrack` replays the frames through a
peer connection: pass-through, nothing is decoded. The writer is
:class:`~pyrtcstack.media.recorders.IvfWriter`.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .codecs import VP8, Codec
from .errors import MediaFormatError
from .frames import EncodedFrame
from .sources import EncodedTrack

__all__ = ["MAX_IVF_FRAMES", "MAX_IVF_FRAME_SIZE", "IvfFile", "IvfTrack", "parse_ivf"]

#: Largest frame accepted (a 4K keyframe at high quality stays well below).
MAX_IVF_FRAME_SIZE = 4 * 1024 * 1024
#: Most frames read from one file (about 18 minutes at 30 fps).
MAX_IVF_FRAMES = 32768
_HEADER = struct.Struct("<4sHH4sHHIIII")
_FRAME = struct.Struct("<IQ")
#: FourCC -> codec this package can send.
_FOURCCS = {b"VP80": VP8}


@dataclass(frozen=True)
class IvfFile:
    """A parsed IVF file: header fields and frames ``(pts, data)`` in file order."""

    fourcc: bytes
    width: int
    height: int
    #: seconds per pts unit (numerator / denominator of the header's timebase)
    timebase: Fraction
    frames: tuple[tuple[int, bytes], ...]


def parse_ivf(data: bytes) -> IvfFile:
    """Parse a whole IVF file; :class:`MediaFormatError` unless it is well formed."""
    if len(data) < _HEADER.size:
        raise MediaFormatError("IVF: shorter than its 32-byte header")
    magic, version, size, fourcc, width, height, rate, scale, _count, _ = _HEADER.unpack_from(data)
    if magic != b"DKIF":
        raise MediaFormatError("IVF: no DKIF signature")
    if version != 0 or size < _HEADER.size or size > len(data):
        raise MediaFormatError(f"IVF: version {version}, header size {size}")
    if rate == 0 or scale == 0:
        raise MediaFormatError("IVF: zero timebase")
    frames: list[tuple[int, bytes]] = []
    pos = size
    while pos < len(data):
        if pos + _FRAME.size > len(data):
            raise MediaFormatError("IVF: truncated frame header")
        length, pts = _FRAME.unpack_from(data, pos)
        pos += _FRAME.size
        if length > MAX_IVF_FRAME_SIZE:
            raise MediaFormatError(f"IVF: frame of {length} bytes over {MAX_IVF_FRAME_SIZE}")
        if pos + length > len(data):
            raise MediaFormatError("IVF: truncated frame")
        if len(frames) >= MAX_IVF_FRAMES:
            raise MediaFormatError(f"IVF: more than {MAX_IVF_FRAMES} frames")
        frames.append((pts, data[pos : pos + length]))
        pos += length
    return IvfFile(fourcc, width, height, Fraction(scale, rate), tuple(frames))


def _vp8_keyframe(frame: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the first byte is 0 for a key frame."""
    return bool(frame) and not frame[0] & 0x01


class IvfTrack(EncodedTrack):
    """The VP8 frames of an IVF file as a sending track, one frame per frame interval,
    timestamps on the 90 kHz RTP clock (RFC 7741 §4.1). With ``loop`` the file starts
    again after its last frame, timestamps still increasing."""

    def __init__(self, source: str | Path | bytes, *, loop: bool = False) -> None:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        ivf = parse_ivf(data)
        codec: Codec | None = _FOURCCS.get(ivf.fourcc)
        if codec is None:
            raise MediaFormatError(f"IVF: FourCC {ivf.fourcc!r} is not one we can send")
        if not ivf.frames:
            raise MediaFormatError("IVF: no frames")
        self.file = ivf
        self.loop = loop
        # the frame interval: the first pts step, else one timebase unit
        pts = [p for p, _ in ivf.frames]
        step = next((b - a for a, b in itertools.pairwise(pts) if b > a), 1)
        interval = ivf.timebase * step
        self._ticks = [round(Fraction(p - pts[0]) * ivf.timebase * codec.clock_rate) for p in pts]
        self._period = round((pts[-1] - pts[0] + step) * ivf.timebase * codec.clock_rate)
        super().__init__(codec, iter(()), float(interval))
        self.width, self.height = ivf.width, ivf.height
        self.frames_sent = 0
        self._index = 0
        self._round = 0

    def next_frame(self) -> EncodedFrame | None:
        frames = self.file.frames
        if self._index == len(frames):
            if not self.loop:
                return None
            self._index = 0
            self._round += 1
        data = frames[self._index][1]
        ts = self._ticks[self._index] + self._round * self._period
        self._index += 1
        self.frames_sent += 1
        keyframe = _vp8_keyframe(data)
        if keyframe:
            self.keyframe_requested = False
        return EncodedFrame(data, ts & 0xFFFFFFFF, keyframe)
