"""Ogg Opus files (RFC 3533 pages, RFC 7845 mapping): read them, and replay their packets
as an audio track (pass-through: nothing is decoded).

An Ogg page (RFC 3533 §6)::

    "OggS" | version (0) | flags | granule position i64 | serial u32 | page sequence u32
    | CRC-32 u32 | segment count | segment table (count bytes) | segments

A packet is the concatenation of segments up to one shorter than 255 bytes; it may
continue on the next page. The first packet of an Opus stream is ``OpusHead`` (RFC 7845
§5.1), the second ``OpusTags`` (§5.2); the audio packets follow.

:func:`parse_ogg_opus` reads a whole file (the first logical stream; bounded by
:data:`MAX_OGG_PACKETS` and :data:`MAX_OGG_PACKET_SIZE`; every page's CRC checked) and
raises :class:`~pyrtcstack.media.errors.MediaFormatError` on anything else.
:class:`OggOpusTrack` sends the packets. The writer is
:class:`~pyrtcstack.media.recorders.OggOpusWriter`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .codecs import OPUS
from .errors import MediaFormatError
from .frames import EncodedFrame
from .recorders import ogg_crc32, opus_packet_samples
from .sources import EncodedTrack

__all__ = [
    "MAX_OGG_PACKETS",
    "MAX_OGG_PACKET_SIZE",
    "OggOpusFile",
    "OggOpusTrack",
    "parse_ogg_opus",
]

#: Most packets read from one file (about 20 minutes of 20 ms packets).
MAX_OGG_PACKETS = 65536
#: Largest packet (an Opus packet is at most 1275 bytes per frame, 120 ms: well below).
MAX_OGG_PACKET_SIZE = 64 * 1024
_PAGE = struct.Struct("<4sBBqIIIB")


@dataclass(frozen=True)
class OggOpusFile:
    """The identification header's fields and the audio packets, in order."""

    channels: int
    pre_skip: int
    input_sample_rate: int
    packets: tuple[bytes, ...]


def _pages(data: bytes) -> list[tuple[int, int, list[bytes], bool]]:
    """(flags, serial, segments, last segment ends a packet) per page, CRC checked."""
    pages = []
    pos = 0
    while pos < len(data):
        if pos + _PAGE.size > len(data):
            raise MediaFormatError("Ogg: truncated page header")
        magic, version, flags, _granule, serial, _seq, crc, count = _PAGE.unpack_from(data, pos)
        if magic != b"OggS" or version != 0:
            raise MediaFormatError(f"Ogg: no page at byte {pos}")
        table_end = pos + _PAGE.size + count
        if table_end > len(data):
            raise MediaFormatError("Ogg: truncated segment table")
        sizes = data[pos + _PAGE.size : table_end]
        end = table_end + sum(sizes)
        if end > len(data):
            raise MediaFormatError("Ogg: truncated page")
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        if ogg_crc32(bytes(page)) != crc:
            raise MediaFormatError(f"Ogg: bad CRC in the page at byte {pos}")
        segments = []
        at = table_end
        for size in sizes:
            segments.append(data[at : at + size])
            at += size
        pages.append((flags, serial, segments, not sizes or sizes[-1] < 255))
        pos = end
    return pages


def parse_ogg_opus(data: bytes) -> OggOpusFile:
    """Parse a whole Ogg Opus file (see the module docstring)."""
    pages = _pages(data)
    if not pages:
        raise MediaFormatError("Ogg: empty file")
    if not pages[0][0] & 0x02:
        raise MediaFormatError("Ogg: the first page is not a beginning of stream")
    serial = pages[0][1]
    packets: list[bytes] = []
    partial: list[bytes] = []
    partial_size = 0
    for _flags, page_serial, segments, _ends in pages:
        if page_serial != serial:
            continue  # another logical stream (RFC 3533 §4 multiplexing): not ours
        for segment in segments:
            partial.append(segment)
            partial_size += len(segment)
            if partial_size > MAX_OGG_PACKET_SIZE:
                raise MediaFormatError(f"Ogg: packet over {MAX_OGG_PACKET_SIZE} bytes")
            if len(segment) < 255:
                if len(packets) == MAX_OGG_PACKETS + 2:
                    raise MediaFormatError(f"Ogg: more than {MAX_OGG_PACKETS} packets")
                packets.append(b"".join(partial))
                partial, partial_size = [], 0
    if len(packets) < 2:
        raise MediaFormatError("Ogg: no OpusHead and OpusTags")
    head = packets[0]
    # RFC 7845 §5.1: magic, version (major 0), channel count, pre-skip, input rate
    if len(head) < 19 or head[:8] != b"OpusHead" or head[8] >> 4 != 0:
        raise MediaFormatError("Ogg: the first packet is not an OpusHead")
    channels, pre_skip, rate = head[9], *struct.unpack_from("<HI", head, 10)
    if channels == 0:
        raise MediaFormatError("Ogg: OpusHead with 0 channels")
    if packets[1][:8] != b"OpusTags":
        raise MediaFormatError("Ogg: the second packet is not OpusTags")
    audio = tuple(p for p in packets[2:] if p)
    return OggOpusFile(channels, pre_skip, rate, audio)


class OggOpusTrack(EncodedTrack):
    """The Opus packets of an Ogg file as a sending track on the 48 kHz RTP clock (RFC
    7587 §4.1), each packet lasting what its TOC byte says (RFC 6716 §3.1). With ``loop``
    the file starts again after its last packet, timestamps still increasing."""

    def __init__(self, source: str | Path | bytes, *, loop: bool = False) -> None:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        self.file = parse_ogg_opus(data)
        if not self.file.packets:
            raise MediaFormatError("Ogg: no audio packets")
        self.loop = loop
        super().__init__(OPUS, iter(()), 0.02)
        self.frames_sent = 0
        self._index = 0
        self._timestamp = 0

    def next_frame(self) -> EncodedFrame | None:
        packets = self.file.packets
        if self._index == len(packets):
            if not self.loop:
                return None
            self._index = 0
        packet = packets[self._index]
        self._index += 1
        samples = opus_packet_samples(packet) or 960
        frame = EncodedFrame(packet, self._timestamp & 0xFFFFFFFF)
        self._timestamp += samples
        self.frame_duration = samples / 48000
        self.frames_sent += 1
        return frame
