"""RTP retransmission payload format (RFC 4588 §4).

An RTX packet repeats a lost packet on a separate stream: its own SSRC (paired in SDP by
``a=ssrc-group:FID``) and payload type (``a=fmtp:<rtx pt> apt=<original pt>``), its own
sequence numbers, the original timestamp and marker, and a payload that starts with the
original sequence number (OSN, 2 bytes) followed by the original payload::

    | RTP header (RTX SSRC, RTX PT, RTX seq, original ts) | OSN | original payload |

Keeping retransmissions on their own stream lets the receiver keep loss and jitter
statistics for the original stream honest (RFC 4588 §1).
"""

from __future__ import annotations

from ..rtp import RtpPacket
from .errors import DepacketizeError

__all__ = ["unwrap_rtx", "wrap_rtx"]


def wrap_rtx(original: RtpPacket, rtx_payload_type: int, rtx_ssrc: int, rtx_seq: int) -> RtpPacket:
    """The RTX packet repeating ``original`` (RFC 4588 §4)."""
    return RtpPacket(
        rtx_payload_type,
        rtx_seq & 0xFFFF,
        original.timestamp,
        rtx_ssrc,
        original.sequence_number.to_bytes(2, "big") + original.payload,
        marker=original.marker,
        csrc=original.csrc,
        extensions=original.extensions,
    )


def unwrap_rtx(rtx: RtpPacket, payload_type: int, ssrc: int) -> RtpPacket:
    """The original packet carried by an RTX packet; raises :class:`DepacketizeError` when
    the payload has no OSN (an empty RTX packet is padding, e.g. bandwidth probing)."""
    if len(rtx.payload) < 2:
        raise DepacketizeError("RTX packet without an original sequence number")
    return RtpPacket(
        payload_type,
        int.from_bytes(rtx.payload[:2], "big"),
        rtx.timestamp,
        ssrc,
        rtx.payload[2:],
        marker=rtx.marker,
        csrc=rtx.csrc,
        extensions=rtx.extensions,
    )
