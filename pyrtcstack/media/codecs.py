"""The codecs this package knows, with their RTP clock rates and default payload types
(RFC 3551 Table 4 for the static ones; dynamic ones as browsers commonly offer them —
the SDP negotiation decides the real numbers)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["H264", "OPUS", "PCMA", "PCMU", "VP8", "Codec"]


@dataclass(frozen=True)
class Codec:
    """A payload format: encoding name, RTP clock rate, channels, payload type, kind."""

    name: str
    clock_rate: int
    payload_type: int
    kind: str
    channels: int = 1

    @property
    def is_audio(self) -> bool:
        return self.kind == "audio"


#: RFC 3551 §4.5.14: G.711 µ-law, static PT 0, 8 kHz.
PCMU = Codec("PCMU", 8000, 0, "audio")
#: RFC 3551 §4.5.14: G.711 A-law, static PT 8, 8 kHz.
PCMA = Codec("PCMA", 8000, 8, "audio")
#: RFC 7587 §4.1: Opus always uses a 48 kHz RTP clock and "/2" channels in SDP.
OPUS = Codec("opus", 48000, 111, "audio", channels=2)
#: RFC 7741 §6.1: VP8, 90 kHz clock.
VP8 = Codec("VP8", 90000, 96, "video")
#: RFC 6184 §8.1: H.264, 90 kHz clock (packetization-mode=1 assumed).
H264 = Codec("H264", 90000, 102, "video")
