"""RTP payload formats: packetisers (frame → payloads) and depacketisers (payloads → frame).

* G.711 (RFC 3551 §4.5.14) and Opus (RFC 7587 §4.2): one frame per packet, as-is.
* VP8 (RFC 7741 §4.2): a payload descriptor before each piece of the frame::

      |X|R|N|S|R| PID |   S = start of a partition, PID = partition index
      |I|L|T|K| RSV   |   (if X)
      |M| PictureID   |   (if I; 15 bits when M)
      ...TL0PICIDX, TID/Y/KEYIDX (if L, T or K)

  The frame starts at S=1, PID=0; its first payload byte holds the inverse keyframe flag
  (RFC 7741 §4.3: P bit 0 = keyframe).
* H.264 (RFC 6184 §5.6–5.8), packetization mode 1: single NAL unit packets (types 1–23),
  STAP-A (24: 16-bit size + NAL, repeated) and FU-A (28: FU indicator, FU header with
  S/E bits, a fragment). The receiver rebuilds an Annex B access unit (start codes).

A malformed payload raises :class:`~pyrtcstack.media.errors.DepacketizeError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .codecs import Codec
from .errors import DepacketizeError, MediaUsageError

__all__ = [
    "ANNEXB_START_CODE",
    "Depacketizer",
    "H264Depacketizer",
    "H264Packetizer",
    "OpaqueDepacketizer",
    "Packetizer",
    "Vp8Depacketizer",
    "Vp8Packetizer",
    "depacketizer_for",
    "packetizer_for",
    "split_annexb",
    "vp8_descriptor_size",
]

ANNEXB_START_CODE = b"\x00\x00\x00\x01"

# RFC 6184 §5.4 NAL unit types used by packetization mode 1.
_NAL_IDR = 5
_NAL_SPS = 7
_STAP_A = 24
_FU_A = 28


class Packetizer(Protocol):
    def packetize(self, frame: bytes, mtu: int) -> list[bytes]:
        """Split one frame into RTP payloads of at most ``mtu`` bytes."""
        ...


class Depacketizer(Protocol):
    def is_frame_start(self, payload: bytes) -> bool:
        """Whether this payload begins a frame (so decoding can resume after a loss)."""
        ...

    def assemble(self, payloads: Sequence[bytes]) -> tuple[bytes, bool]:
        """Rebuild ``(frame, keyframe)`` from the in-order payloads of one frame."""
        ...


class OpaquePacketizer:
    """One frame, one payload (G.711, Opus)."""

    def packetize(self, frame: bytes, mtu: int) -> list[bytes]:
        if len(frame) > mtu:
            raise MediaUsageError(f"frame of {len(frame)} bytes exceeds the MTU {mtu}")
        return [frame]


class OpaqueDepacketizer:
    """One payload, one frame (G.711, Opus: RFC 7587 §4.2)."""

    def is_frame_start(self, payload: bytes) -> bool:
        return True

    def assemble(self, payloads: Sequence[bytes]) -> tuple[bytes, bool]:
        return b"".join(payloads), True


def vp8_descriptor_size(payload: bytes) -> int:
    """Length of the RFC 7741 §4.2 payload descriptor at the start of ``payload``."""
    if not payload:
        raise DepacketizeError("empty VP8 payload")
    size = 1
    if payload[0] & 0x80:  # X
        if len(payload) < 2:
            raise DepacketizeError("VP8 descriptor truncated")
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: PictureID, 7 or 15 bits
            if len(payload) <= size:
                raise DepacketizeError("VP8 PictureID truncated")
            size += 2 if payload[size] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            size += 1
    if size > len(payload):
        raise DepacketizeError("VP8 descriptor runs past the payload")
    return size


class Vp8Packetizer:
    """RFC 7741 packetiser with a 15-bit PictureID (as browsers send)."""

    def __init__(self, picture_id: int = 0) -> None:
        self.picture_id = picture_id & 0x7FFF

    def packetize(self, frame: bytes, mtu: int) -> list[bytes]:
        pid = self.picture_id
        self.picture_id = (pid + 1) & 0x7FFF
        room = mtu - 4
        if room <= 0:
            raise MediaUsageError("MTU too small for VP8")
        out = []
        for i in range(0, max(len(frame), 1), room):
            first = 0x10 if i == 0 else 0x00  # S bit on the first packet, PID 0
            desc = bytes((0x80 | first, 0x80, 0x80 | (pid >> 8), pid & 0xFF))
            out.append(desc + frame[i : i + room])
        return out


class Vp8Depacketizer:
    """RFC 7741 depacketiser: strips descriptors and joins the frame."""

    def is_frame_start(self, payload: bytes) -> bool:
        return bool(payload) and payload[0] & 0x17 == 0x10  # S=1 and PID=0

    def assemble(self, payloads: Sequence[bytes]) -> tuple[bytes, bool]:
        if not payloads or not self.is_frame_start(payloads[0]):
            raise DepacketizeError("VP8 frame does not start with S=1, PID=0")
        frame = b"".join(p[vp8_descriptor_size(p) :] for p in payloads)
        if not frame:
            raise DepacketizeError("empty VP8 frame")
        return frame, not frame[0] & 0x01  # RFC 7741 §4.3: P bit 0 = keyframe


def split_annexb(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    nals = []
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        nxt = data.find(b"\x00\x00\x01", begin)
        end = len(data) if nxt == -1 else nxt
        nal = data[begin:end].rstrip(b"\x00") if nxt != -1 else data[begin:end]
        if nal:
            nals.append(nal)
        start = nxt
    return nals


class H264Packetizer:
    """RFC 6184 packetization mode 1: STAP-A for runs of small NAL units (SPS, PPS),
    single NAL unit packets when a NAL fits, FU-A fragments otherwise."""

    def packetize(self, frame: bytes, mtu: int) -> list[bytes]:
        if mtu < 3:
            raise MediaUsageError("MTU too small for H.264")
        out: list[bytes] = []
        group: list[bytes] = []

        def flush() -> None:
            if len(group) == 1:
                out.append(group[0])
            elif group:
                nri = max(n[0] & 0x60 for n in group)
                out.append(
                    bytes((nri | _STAP_A,)) + b"".join(len(n).to_bytes(2, "big") + n for n in group)
                )
            group.clear()

        for nal in split_annexb(frame):
            if len(nal) <= mtu:
                size = 1 + sum(2 + len(n) for n in group) + 2 + len(nal)
                if group and size > mtu:
                    flush()
                group.append(nal)
                continue
            flush()
            indicator = (nal[0] & 0xE0) | _FU_A
            nal_type = nal[0] & 0x1F
            body = nal[1:]
            room = mtu - 2
            for i in range(0, len(body), room):
                header = nal_type
                if i == 0:
                    header |= 0x80  # S
                if i + room >= len(body):
                    header |= 0x40  # E
                out.append(bytes((indicator, header)) + body[i : i + room])
        flush()
        return out


class H264Depacketizer:
    """RFC 6184 depacketiser (single NAL, STAP-A, FU-A) producing Annex B."""

    def is_frame_start(self, payload: bytes) -> bool:
        if not payload:
            return False
        if payload[0] & 0x1F == _FU_A:
            return len(payload) > 1 and bool(payload[1] & 0x80)
        return True

    def assemble(self, payloads: Sequence[bytes]) -> tuple[bytes, bool]:
        nals: list[bytes] = []
        fu: bytearray | None = None
        for p in payloads:
            if not p:
                raise DepacketizeError("empty H.264 payload")
            if p[0] & 0x80:
                raise DepacketizeError("H.264 forbidden_zero_bit set")
            t = p[0] & 0x1F
            if 1 <= t <= 23:
                nals.append(p)
            elif t == _STAP_A:
                i = 1
                while i < len(p):
                    if i + 2 > len(p):
                        raise DepacketizeError("STAP-A NAL size truncated")
                    size = int.from_bytes(p[i : i + 2], "big")
                    i += 2
                    if size == 0 or i + size > len(p):
                        raise DepacketizeError("STAP-A NAL unit truncated")
                    nals.append(p[i : i + size])
                    i += size
            elif t == _FU_A:
                if len(p) < 2:
                    raise DepacketizeError("FU-A header truncated")
                header = p[1]
                if header & 0x80:
                    fu = bytearray(((p[0] & 0xE0) | (header & 0x1F),))
                elif fu is None:
                    raise DepacketizeError("FU-A fragment without a start")
                fu += p[2:]
                if header & 0x40:
                    nals.append(bytes(fu))
                    fu = None
            else:
                raise DepacketizeError(f"H.264 NAL type {t} not supported (mode 1)")
        if fu is not None:
            raise DepacketizeError("FU-A NAL unit without an end")
        if not nals:
            raise DepacketizeError("no NAL units in the access unit")
        keyframe = any(n[0] & 0x1F in (_NAL_IDR, _NAL_SPS) for n in nals)
        return b"".join(ANNEXB_START_CODE + n for n in nals), keyframe


def packetizer_for(codec: Codec) -> Packetizer:
    name = codec.name.lower()
    if name == "vp8":
        return Vp8Packetizer()
    if name == "h264":
        return H264Packetizer()
    return OpaquePacketizer()


def depacketizer_for(codec: Codec) -> Depacketizer:
    name = codec.name.lower()
    if name == "vp8":
        return Vp8Depacketizer()
    if name == "h264":
        return H264Depacketizer()
    return OpaqueDepacketizer()
