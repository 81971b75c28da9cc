"""The RTP header extensions WebRTC uses, by URI, with their value codecs.

RFC 8285 carries extension *elements* by a local ID (1..14 one-byte, 1..255 two-byte);
SDP ``a=extmap:<id> <uri>`` (RFC 8285 §5) binds each ID to a URI. :class:`ExtensionMap`
is that binding; the helpers below encode and decode the values of the common URIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import RtpParseError, RtpUsageError

__all__ = [
    "URI_ABS_SEND_TIME",
    "URI_AUDIO_LEVEL",
    "URI_MID",
    "URI_REPAIRED_RID",
    "URI_RID",
    "URI_TRANSPORT_WIDE_CC",
    "ExtensionMap",
    "decode_abs_send_time",
    "decode_audio_level",
    "decode_transport_sequence",
    "encode_abs_send_time",
    "encode_audio_level",
    "encode_transport_sequence",
]

#: RFC 9143 §15 (BUNDLE): the media identification (mid) as text.
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
#: RFC 8852 §3.1: RTP stream identifier (rid) as text.
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#: RFC 8852 §3.2: the rid of the stream this RTX stream repairs.
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#: Absolute send time (webrtc.org, used by REMB): 24-bit 6.18 fixed-point seconds.
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#: draft-holmer-rmcat-transport-wide-cc-extensions-01 §2: 16-bit transport sequence number.
URI_TRANSPORT_WIDE_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#: RFC 6464: client-to-mixer audio level: V flag + level in -dBov (0..127).
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def encode_abs_send_time(seconds: float) -> bytes:
    """Absolute send time: the low 24 bits of a 6.18 fixed-point NTP seconds value."""
    return (int(seconds * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")


def decode_abs_send_time(value: bytes) -> float:
    """Seconds (modulo 64) from a 3-byte absolute send time."""
    if len(value) != 3:
        raise RtpParseError("abs-send-time must be 3 bytes")
    return int.from_bytes(value, "big") / (1 << 18)


def encode_transport_sequence(seq: int) -> bytes:
    return (seq & 0xFFFF).to_bytes(2, "big")


def decode_transport_sequence(value: bytes) -> int:
    if len(value) != 2:
        raise RtpParseError("transport-wide sequence number must be 2 bytes")
    return int.from_bytes(value, "big")


def encode_audio_level(level_dbov: int, voice: bool) -> bytes:
    """RFC 6464 §3: one byte, V bit then the level as -dBov (0 = loudest, 127 = silence)."""
    if not 0 <= level_dbov <= 127:
        raise RtpUsageError("audio level must be 0..127 (-dBov)")
    return bytes(((0x80 if voice else 0) | level_dbov,))


def decode_audio_level(value: bytes) -> tuple[int, bool]:
    """``(level in -dBov, voice activity)``; RFC 6464 allows padding after the first byte."""
    if not value:
        raise RtpParseError("empty audio level extension")
    return value[0] & 0x7F, bool(value[0] & 0x80)


@dataclass
class ExtensionMap:
    """The ``a=extmap`` binding of local IDs to URIs (RFC 8285 §5), both ways."""

    by_uri: dict[str, int] = field(default_factory=dict)

    def add(self, ext_id: int, uri: str) -> None:
        if not 1 <= ext_id <= 255:
            raise RtpUsageError(f"extension id {ext_id} out of range 1..255")
        self.by_uri[uri] = ext_id

    def id_of(self, uri: str) -> int | None:
        return self.by_uri.get(uri)

    def uri_of(self, ext_id: int) -> str | None:
        for uri, i in self.by_uri.items():
            if i == ext_id:
                return uri
        return None

    def named(self, extensions: dict[int, bytes]) -> dict[str, bytes]:
        """The elements of a packet whose IDs are mapped, keyed by URI (others ignored,
        as RFC 8285 §4.1 requires for unknown IDs)."""
        rev = {i: uri for uri, i in self.by_uri.items()}
        return {rev[i]: v for i, v in extensions.items() if i in rev}
