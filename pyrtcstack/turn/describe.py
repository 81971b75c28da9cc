"""One line per TURN ChannelData message, for people reading a trace (``pyrtcstack demo
--trace``). TURN's other messages are STUN methods (ALLOCATE, REFRESH, SEND, DATA...) and
are described by :func:`pyrtcstack.stun.describe`."""

from __future__ import annotations

from collections.abc import Callable

from .channeldata import CHANNEL_DATA_HEADER_SIZE, is_valid_channel_number

__all__ = ["describe"]


def describe(data: bytes, inner: Callable[[bytes], str] | None = None) -> str:
    """``TURN ChannelData 0x4000, 120 B (RFC 8656 §12.4)``, then what the relayed datagram
    is when ``inner`` describes it (the caller knows: DTLS, STUN, SRTP...). Never raises."""
    if len(data) < CHANNEL_DATA_HEADER_SIZE:
        return "TURN ChannelData (truncated)"
    channel = int.from_bytes(data[0:2], "big")
    length = int.from_bytes(data[2:4], "big")
    payload = data[CHANNEL_DATA_HEADER_SIZE : CHANNEL_DATA_HEADER_SIZE + length]
    if not is_valid_channel_number(channel) or len(payload) < length:
        return f"TURN ChannelData (malformed: channel {channel:#06x}, length {length})"
    text = f"TURN ChannelData {channel:#06x}, {length:,} B (RFC 8656 §12.4)"
    return f"{text} carrying {inner(payload)}" if inner is not None and payload else text
