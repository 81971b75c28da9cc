"""Telephone events (DTMF) in RTP (RFC 4733 §2.3).

The payload is 4 bytes per event::

    | event (8) |E|R| volume (6) |        duration (16)          |

``event`` 0–9 are the digits, 10 ``*``, 11 ``#``, 12–15 ``A``–``D``; E marks the end of
the event; volume is −dBm0 (0–63); duration counts RTP timestamp units since the event's
start (the timestamp stays that of the start for all packets of one event).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import DepacketizeError, MediaUsageError

__all__ = ["DTMF_EVENTS", "TelephoneEvent"]

#: RFC 4733 §3.2 event codes 0..15.
DTMF_EVENTS = "0123456789*#ABCD"


@dataclass(frozen=True)
class TelephoneEvent:
    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @property
    def key(self) -> str | None:
        return DTMF_EVENTS[self.event] if self.event < len(DTMF_EVENTS) else None

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Decode the first event of a telephone-event payload (RFC 4733 §2.3)."""
        if len(payload) < 4:
            raise DepacketizeError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        if not (0 <= self.event <= 255 and 0 <= self.volume <= 63 and 0 <= self.duration <= 0xFFFF):
            raise MediaUsageError("telephone event field out of range")
        return struct.pack(
            "!BBH", self.event, (0x80 if self.end else 0) | self.volume, self.duration
        )
