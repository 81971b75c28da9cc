"""H.264 Annex B byte streams (ITU-T H.264 Annex B): split into access units, and replay
them as a video track (pass-through: nothing is decoded).

An Annex B stream is NAL units behind start codes (``00 00 01`` or ``00 00 00 01``);
nothing marks where one picture ends, so :func:`split_access_units` applies the rule of
H.264 §7.4.1.2.3 ("first VCL NAL unit of a new primary coded picture"), reduced to what
single-layer encoders (libx264, OpenH264) produce:

* an access unit delimiter (type 9), SPS (7), PPS (8), SEI (6) or types 14-18 after a
  VCL NAL unit of the current access unit starts a new one;
* a slice (type 1 or 5) whose ``first_mb_in_slice`` is 0 (the first bit of the slice
  header, ue(v) "1") after a VCL NAL unit of the current access unit starts a new one.

A NAL unit with the forbidden bit set, or of type 0 or 24-31, is refused
(:class:`~pyrtcstack.media.errors.MediaFormatError`).

Each access unit is returned re-joined with 4-byte start codes, which is also what
:class:`~pyrtcstack.media.payloads.H264Depacketizer` hands out on the receive side, so a
sent unit and the received frame compare equal byte for byte. Bounded by
:data:`MAX_ACCESS_UNITS`.
"""

from __future__ import annotations

from pathlib import Path

from .codecs import H264
from .errors import MediaFormatError
from .frames import EncodedFrame
from .payloads import ANNEXB_START_CODE, split_annexb
from .sources import EncodedTrack

__all__ = ["MAX_ACCESS_UNITS", "AnnexBTrack", "split_access_units"]

#: Most access units read from one stream (about 18 minutes at 30 fps).
MAX_ACCESS_UNITS = 32768
_VCL = (1, 5)
_IDR = 5
_STARTS_AU = (6, 7, 8, 9, 14, 15, 16, 17, 18)


def split_access_units(data: bytes) -> list[bytes]:
    """The access units of an Annex B stream (see the module docstring); raises
    :class:`MediaFormatError` when it holds no NAL unit or too many units."""
    units: list[list[bytes]] = []
    current: list[bytes] = []
    has_vcl = False
    for nal in split_annexb(data):
        kind = nal[0] & 0x1F
        if nal[0] & 0x80 or not 1 <= kind <= 23:
            # H.264 §7.4.1: forbidden_zero_bit must be 0; types 0 and 24-31 are not
            # for streams (RFC 6184 §5.2 gives 24-29 to its aggregation/fragmentation
            # packets, so such a unit could not be packetised unambiguously)
            raise MediaFormatError(f"Annex B: NAL unit header {nal[0]:#04x} not allowed")
        new_picture = kind in _VCL and len(nal) > 1 and nal[1] & 0x80
        if has_vcl and (kind in _STARTS_AU or new_picture):
            units.append(current)
            if len(units) > MAX_ACCESS_UNITS:
                raise MediaFormatError(f"Annex B: more than {MAX_ACCESS_UNITS} access units")
            current, has_vcl = [], False
        current.append(nal)
        has_vcl = has_vcl or kind in _VCL
    if current:
        units.append(current)
    if not units:
        raise MediaFormatError("Annex B: no NAL unit")
    return [b"".join(ANNEXB_START_CODE + n for n in unit) for unit in units]


def _is_idr(unit: bytes) -> bool:
    return any(n[0] & 0x1F == _IDR for n in split_annexb(unit))


class AnnexBTrack(EncodedTrack):
    """The access units of an H.264 Annex B file (e.g. ``ffmpeg ... -c:v libx264 -f
    h264``) as a sending track at ``fps`` frames per second, on the 90 kHz RTP clock
    (RFC 6184 §5.1). A unit with an IDR slice is a keyframe. With ``loop`` the stream
    starts again after its last unit (the stream should start with SPS/PPS + IDR)."""

    def __init__(self, source: str | Path | bytes, *, fps: float = 30.0, loop: bool = False):
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        if fps <= 0:
            raise MediaFormatError("fps must be positive")
        self.units = split_access_units(data)
        self.loop = loop
        super().__init__(H264, iter(()), 1.0 / fps)
        self._step = 90000 / fps
        self._index = 0
        self._sent = 0

    def next_frame(self) -> EncodedFrame | None:
        if self._index == len(self.units):
            if not self.loop:
                return None
            self._index = 0
        unit = self.units[self._index]
        self._index += 1
        ts = round(self._sent * self._step) & 0xFFFFFFFF
        self._sent += 1
        keyframe = _is_idr(unit)
        if keyframe:
            self.keyframe_requested = False
        return EncodedFrame(unit, ts, keyframe)
