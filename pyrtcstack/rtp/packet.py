"""RTP packets (RFC 3550 §5.1) with RFC 8285 header extensions.

The fixed header is 12 bytes::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers (CC of them) |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  profile (0xBEDE / 0x100X / other)  |   length in 32-bit words |  (if X)
    |                     extension data ...                         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    payload ...     | padding ... | pad count    |  (pad if P)

This is a hot path, so it uses ``struct`` directly instead of ``common.buffer``; every
length is still checked before it is used, and anything malformed raises
:class:`~pyrtcstack.rtp.errors.RtpParseError`.
"""

from __future__ import annotations

import struct

from .errors import RtpParseError, RtpUsageError

__all__ = [
    "EXTENSION_PROFILE_ONE_BYTE",
    "EXTENSION_PROFILE_TWO_BYTE",
    "RTP_HEADER_SIZE",
    "RtpPacket",
    "parse_extensions",
    "serialize_extensions",
]

RTP_HEADER_SIZE = 12
#: RFC 8285 §4.2: the "defined by profile" value of a one-byte-header extension block.
EXTENSION_PROFILE_ONE_BYTE = 0xBEDE
#: RFC 8285 §4.3: 0x100 followed by 4 "appbits"; the mask selects the two-byte form.
EXTENSION_PROFILE_TWO_BYTE = 0x1000
_TWO_BYTE_MASK = 0xFFF0

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")


def parse_extensions(profile: int, data: bytes) -> dict[int, bytes]:
    """Decode the elements of an RFC 8285 extension block into ``{id: value}``.

    One-byte form (§4.2): ``ID(4) | L(4)`` then L+1 bytes; ID 0 is a padding byte; ID 15
    is reserved and stops the parsing of the whole block. Two-byte form (§4.3): ``ID(8) |
    L(8)`` then L bytes; ID 0 is a padding byte. An element that runs past the block raises
    :class:`RtpParseError`. Other profiles carry no elements: the caller keeps the raw data.
    """
    out: dict[int, bytes] = {}
    n = len(data)
    i = 0
    if profile == EXTENSION_PROFILE_ONE_BYTE:
        while i < n:
            b = data[i]
            ext_id = b >> 4
            if ext_id == 0:  # padding byte (its length bits must be 0; we do not insist)
                i += 1
                continue
            if ext_id == 15:  # RFC 8285 §4.2: reserved, processing MUST terminate here
                break
            length = (b & 0x0F) + 1
            end = i + 1 + length
            if end > n:
                raise RtpParseError("one-byte header extension element runs past its block")
            out[ext_id] = data[i + 1 : end]
            i = end
    elif profile & _TWO_BYTE_MASK == EXTENSION_PROFILE_TWO_BYTE:
        while i < n:
            ext_id = data[i]
            if ext_id == 0:
                i += 1
                continue
            if i + 1 >= n:
                raise RtpParseError("two-byte header extension element has no length byte")
            length = data[i + 1]
            end = i + 2 + length
            if end > n:
                raise RtpParseError("two-byte header extension element runs past its block")
            out[ext_id] = data[i + 2 : end]
            i = end
    return out


def serialize_extensions(
    extensions: dict[int, bytes], profile: int | None = None
) -> tuple[int, bytes]:
    """Encode ``{id: value}`` as an RFC 8285 block padded to 32 bits: ``(profile, data)``.

    With ``profile=None`` the one-byte form is used when every ID is 1..14 and every value
    1..16 bytes long (§4.2), else the two-byte form (§4.3: IDs 1..255, values 0..255 bytes).
    """
    if profile is None:
        one = all(1 <= k <= 14 and 1 <= len(v) <= 16 for k, v in extensions.items())
        profile = EXTENSION_PROFILE_ONE_BYTE if one else EXTENSION_PROFILE_TWO_BYTE
    buf = bytearray()
    if profile == EXTENSION_PROFILE_ONE_BYTE:
        for ext_id, value in extensions.items():
            if not (1 <= ext_id <= 14 and 1 <= len(value) <= 16):
                raise RtpUsageError(f"one-byte extension id {ext_id} / {len(value)} bytes")
            buf.append((ext_id << 4) | (len(value) - 1))
            buf += value
    elif profile & _TWO_BYTE_MASK == EXTENSION_PROFILE_TWO_BYTE:
        for ext_id, value in extensions.items():
            if not (1 <= ext_id <= 255 and len(value) <= 255):
                raise RtpUsageError(f"two-byte extension id {ext_id} / {len(value)} bytes")
            buf.append(ext_id)
            buf.append(len(value))
            buf += value
    else:
        raise RtpUsageError(f"profile 0x{profile:04x} is not an RFC 8285 form")
    buf += bytes(-len(buf) % 4)
    return profile, bytes(buf)


class RtpPacket:
    """One RTP packet: the header fields, header extensions, payload and padding.

    ``extensions`` holds RFC 8285 elements by local ID (the mapping of IDs to URIs comes
    from SDP ``a=extmap``; see :mod:`pyrtcstack.rtp.extensions`). A block with another
    profile (RFC 3550 §5.3.1) is kept verbatim in ``extension_data`` with its
    ``extension_profile``. ``padding_size`` is the number of padding bytes including the
    final count byte (RFC 3550 §5.1); 0 means the P bit is clear.
    """

    __slots__ = (
        "csrc",
        "extension_data",
        "extension_profile",
        "extensions",
        "marker",
        "padding_size",
        "payload",
        "payload_type",
        "sequence_number",
        "ssrc",
        "timestamp",
    )

    def __init__(
        self,
        payload_type: int = 0,
        sequence_number: int = 0,
        timestamp: int = 0,
        ssrc: int = 0,
        payload: bytes = b"",
        *,
        marker: bool = False,
        csrc: tuple[int, ...] = (),
        extensions: dict[int, bytes] | None = None,
        extension_profile: int | None = None,
        extension_data: bytes = b"",
        padding_size: int = 0,
    ) -> None:
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrc = csrc
        self.extensions: dict[int, bytes] = {} if extensions is None else extensions
        self.extension_profile = extension_profile
        self.extension_data = extension_data
        self.padding_size = padding_size

    def __repr__(self) -> str:
        # The constructor's keyword names, so what a learner reads is what they can type;
        # the payload is summarised (it may be large, and it is media, not metadata).
        return (
            f"RtpPacket(payload_type={self.payload_type}, "
            f"sequence_number={self.sequence_number}, timestamp={self.timestamp}, "
            f"ssrc={self.ssrc}, payload=<{len(self.payload)} bytes>, marker={self.marker}, "
            f"csrc={self.csrc}, extensions={self.extensions}, padding_size={self.padding_size})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RtpPacket):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Decode one RTP packet strictly (RFC 3550 §5.1, RFC 8285); raise
        :class:`RtpParseError` on any inconsistency."""
        n = len(data)
        if n < RTP_HEADER_SIZE:
            raise RtpParseError(f"RTP packet of {n} bytes is shorter than the 12-byte header")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpParseError(f"RTP version {b0 >> 6}, expected 2")
        cc = b0 & 0x0F
        pos = RTP_HEADER_SIZE + 4 * cc
        if pos > n:
            raise RtpParseError("CSRC list runs past the end of the packet")
        csrc = struct.unpack_from(f"!{cc}I", data, RTP_HEADER_SIZE) if cc else ()
        extensions: dict[int, bytes] = {}
        profile: int | None = None
        ext_data = b""
        if b0 & 0x10:
            if pos + 4 > n:
                raise RtpParseError("header extension header runs past the end of the packet")
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            pos += 4
            end = pos + 4 * words
            if end > n:
                raise RtpParseError("header extension runs past the end of the packet")
            raw = data[pos:end]
            pos = end
            extensions = parse_extensions(profile, raw)
            if (
                profile != EXTENSION_PROFILE_ONE_BYTE
                and profile & _TWO_BYTE_MASK != EXTENSION_PROFILE_TWO_BYTE
            ):
                ext_data = raw
        padding = 0
        end = n
        if b0 & 0x20:
            padding = data[-1]
            # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            if padding == 0 or padding > n - pos:
                raise RtpParseError(f"invalid RTP padding count {padding}")
            end = n - padding
        pkt = cls.__new__(cls)
        pkt.payload_type = b1 & 0x7F
        pkt.marker = bool(b1 & 0x80)
        pkt.sequence_number = seq
        pkt.timestamp = ts
        pkt.ssrc = ssrc
        pkt.csrc = csrc
        pkt.extensions = extensions
        pkt.extension_profile = profile
        pkt.extension_data = ext_data
        pkt.padding_size = padding
        pkt.payload = data[pos:end]
        return pkt

    def serialize(self) -> bytes:
        """Encode the packet. RFC 8285 elements in ``extensions`` are written in the form
        ``extension_profile`` names (or the smallest form that fits when it is None)."""
        cc = len(self.csrc)
        if cc > 15:
            raise RtpUsageError("at most 15 CSRCs")
        if not 0 <= self.payload_type <= 127:
            raise RtpUsageError(f"payload type {self.payload_type} out of range")
        ext = b""
        x = 0
        if self.extensions or self.extension_profile is not None:
            x = 0x10
            profile = self.extension_profile
            if (
                self.extensions
                or profile is None
                or profile == EXTENSION_PROFILE_ONE_BYTE
                or (profile & _TWO_BYTE_MASK == EXTENSION_PROFILE_TWO_BYTE)
            ):
                profile, body = serialize_extensions(self.extensions, profile)
            else:
                body = self.extension_data
                if len(body) % 4:
                    raise RtpUsageError("extension_data must be a multiple of 4 bytes")
            ext = _EXT_HEADER.pack(profile, len(body) // 4) + body
        p = 0x20 if self.padding_size else 0
        head = _HEADER.pack(
            0x80 | p | x | cc,
            (0x80 if self.marker else 0) | self.payload_type,
            self.sequence_number & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        if cc:
            head += struct.pack(f"!{cc}I", *self.csrc)
        if self.padding_size:
            if not 1 <= self.padding_size <= 255:
                raise RtpUsageError("padding_size must be 0..255")
            pad = bytes(self.padding_size - 1) + bytes((self.padding_size,))
            return head + ext + self.payload + pad
        return head + ext + self.payload
