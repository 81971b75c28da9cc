"""TURN (RFC 8656): a sans-I/O client allocation machine and a small server core.

* :mod:`.channeldata` — the ChannelData message (RFC 8656 §12.4).
* :mod:`.framing` — cutting a TCP/TLS stream into STUN and ChannelData frames (§5, §12.5).
* :mod:`.errors` — the module's error classes.
"""

from .channeldata import ChannelData, decode_channel_data, encode_channel_data
from .errors import TurnError, TurnFramingError, TurnParseError, TurnRemoteError, TurnUsageError
from .framing import StreamFramer, frame_for_stream

__all__ = [
    "ChannelData",
    "StreamFramer",
    "TurnError",
    "TurnFramingError",
    "TurnParseError",
    "TurnRemoteError",
    "TurnUsageError",
    "decode_channel_data",
    "encode_channel_data",
    "frame_for_stream",
]
