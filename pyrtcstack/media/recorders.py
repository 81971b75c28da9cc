"""Sinks that save received frames in files ordinary players read.

* :class:`WavRecorder` — PCMU/PCMA decoded to 16-bit PCM in a WAV file (gaps in the RTP
  timestamps become silence, at most :data:`MAX_GAP_SECONDS` at a time).
* :class:`OggOpusWriter` — Opus packets in Ogg (RFC 3533 pages, RFC 7845 mapping:
  ``OpusHead``/``OpusTags`` headers, granule positions counting 48 kHz samples including
  the pre-skip, the Ogg CRC-32 on every page).
* :class:`IvfWriter` — VP8 frames in IVF (the libvpx container: a 32-byte ``DKIF``
  header, then size + 64-bit timestamp + frame). Starts at the first keyframe.
* :class:`AnnexBWriter` — H.264 access units as an Annex B byte stream. Starts at the
  first keyframe.

Each takes a binary file object (or a path) and is closed with :meth:`close`.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import BinaryIO

from .codecs import PCMA, Codec
from .errors import MediaUsageError
from .frames import EncodedFrame
from .g711 import alaw_decode, ulaw_decode

__all__ = [
    "MAX_GAP_SECONDS",
    "AnnexBWriter",
    "IvfWriter",
    "OggOpusWriter",
    "WavRecorder",
    "ogg_crc32",
    "opus_packet_samples",
]

#: Longest stretch of silence a WAV recorder inserts for a timestamp gap.
MAX_GAP_SECONDS = 5.0


def _open(file: str | Path | BinaryIO) -> tuple[BinaryIO, bool]:
    if isinstance(file, (str, Path)):
        return open(file, "wb"), True
    return file, False


class WavRecorder:
    """Decode G.711 frames and write 8 kHz mono 16-bit PCM WAV."""

    def __init__(self, file: str | Path | BinaryIO, codec: Codec) -> None:
        if codec.name not in ("PCMU", "PCMA"):
            raise MediaUsageError("WavRecorder records PCMU or PCMA")
        self._f, self._owned = _open(file)
        self._decode = alaw_decode if codec.name == PCMA.name else ulaw_decode
        self._wav = wave.open(self._f, "wb")  # noqa: SIM115
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(codec.clock_rate)
        self.clock_rate = codec.clock_rate
        self._expected: int | None = None
        self.samples_written = 0

    def write(self, frame: EncodedFrame) -> None:
        if self._expected is not None:
            gap = (frame.timestamp - self._expected) & 0xFFFFFFFF
            if 0 < gap <= MAX_GAP_SECONDS * self.clock_rate:
                self._wav.writeframes(bytes(2 * gap))
                self.samples_written += gap
            elif gap >= 0x80000000:
                return  # older than what we wrote already: drop
        pcm = self._decode(frame.data)
        self._wav.writeframes(pcm)
        self.samples_written += len(frame.data)
        self._expected = (frame.timestamp + len(frame.data)) & 0xFFFFFFFF

    def close(self) -> None:
        self._wav.close()
        if self._owned:
            self._f.close()


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_OGG_CRC = _crc_table()


def ogg_crc32(data: bytes) -> int:
    """The Ogg page checksum (RFC 3533 §6): CRC-32, polynomial 0x04C11DB7, initial value
    0, no reflection, no final XOR, computed with the CRC field zeroed."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[(crc >> 24) ^ b]
    return crc


def opus_packet_samples(packet: bytes) -> int:
    """Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 §3.1)."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:  # SILK-only: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config & 1]
    else:  # CELT-only: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        count = packet[1] & 0x3F if len(packet) > 1 else 0
    return frame * count


class OggOpusWriter:
    """Write Opus packets as an Ogg Opus file (RFC 7845), one packet per page."""

    def __init__(
        self,
        file: str | Path | BinaryIO,
        *,
        channels: int = 2,
        pre_skip: int = 312,
        input_sample_rate: int = 48000,
        serial: int = 0x50525453,
        vendor: bytes = b"pyrtcstack",
    ) -> None:
        self._f, self._owned = _open(file)
        self.serial = serial
        self.pre_skip = pre_skip
        self._page_seq = 0
        self.granule = 0
        self._pending: bytes | None = None
        self.packets = 0
        # RFC 7845 §5.1 identification header, alone on the first (BOS) page.
        head = b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, input_sample_rate, 0, 0)
        self._page(head, 0, 0x02)
        # RFC 7845 §5.2 comment header, on its own page(s), granule 0.
        tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
        self._page(tags, 0, 0)

    def _page(self, packet: bytes, granule: int, flags: int) -> None:
        if len(packet) >= 255 * 255:
            raise MediaUsageError("packet too large for one Ogg page")
        lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
        header = struct.pack(
            "<4sBBqIIIB", b"OggS", 0, flags, granule, self.serial, self._page_seq, 0, len(lacing)
        )
        page = bytearray(header + lacing + packet)
        struct.pack_into("<I", page, 22, ogg_crc32(bytes(page)))
        self._f.write(page)
        self._page_seq += 1

    def write(self, frame: EncodedFrame) -> None:
        if self._pending is not None:
            self._page(self._pending, self.granule, 0)
        self.granule += opus_packet_samples(frame.data)
        self._pending = frame.data
        self.packets += 1

    def close(self) -> None:
        """Write the last page with the end-of-stream flag (RFC 3533 §6)."""
        if self._pending is not None:
            self._page(self._pending, self.granule, 0x04)
            self._pending = None
        if self._owned:
            self._f.close()


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 §9.1), or None."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    w, h = struct.unpack_from("<HH", frame, 6)
    return w & 0x3FFF, h & 0x3FFF


class IvfWriter:
    """Write VP8 frames in an IVF file (timebase 1/clock_rate: RTP timestamps kept)."""

    def __init__(self, file: str | Path | BinaryIO, *, clock_rate: int = 90000) -> None:
        self._f, self._owned = _open(file)
        self.clock_rate = clock_rate
        self.frames = 0
        self._header_pos: int | None = None
        self._first_ts: int | None = None
        self._last_pts = 0

    def write(self, frame: EncodedFrame) -> None:
        if self._first_ts is None:
            size = vp8_keyframe_size(frame.data) if frame.keyframe else None
            if size is None:
                return  # wait for a keyframe
            self._first_ts = frame.timestamp
            self._header_pos = self._f.tell() if self._f.seekable() else None
            self._f.write(
                struct.pack(
                    "<4sHH4sHHIIII",
                    b"DKIF",
                    0,
                    32,
                    b"VP80",
                    size[0],
                    size[1],
                    self.clock_rate,
                    1,
                    0,
                    0,
                )
            )
        pts = (frame.timestamp - self._first_ts) & 0xFFFFFFFF
        self._f.write(struct.pack("<IQ", len(frame.data), pts) + frame.data)
        self.frames += 1
        self._last_pts = pts

    def close(self) -> None:
        if self._header_pos is not None:
            # The 32-bit field at offset 24 is a frame count for libvpx but a duration in
            # timebase units for FFmpeg; like FFmpeg's own IVF muxer we write the duration
            # (last pts plus one average frame interval), which FFmpeg needs to report
            # the right length and libvpx does not rely on.
            length = self.frames
            if self.frames > 1:
                length = self._last_pts * self.frames // (self.frames - 1)
            end = self._f.tell()
            self._f.seek(self._header_pos + 24)
            self._f.write(struct.pack("<I", length & 0xFFFFFFFF))
            self._f.seek(end)
        if self._owned:
            self._f.close()


class AnnexBWriter:
    """Write H.264 access units (already Annex B) from the first keyframe on."""

    def __init__(self, file: str | Path | BinaryIO) -> None:
        self._f, self._owned = _open(file)
        self.frames = 0
        self._started = False

    def write(self, frame: EncodedFrame) -> None:
        if not self._started:
            if not frame.keyframe:
                return
            self._started = True
        self._f.write(frame.data)
        self.frames += 1

    def close(self) -> None:
        if self._owned:
            self._f.close()
