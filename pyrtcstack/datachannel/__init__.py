"""WebRTC data channels (RFC 8831) and DCEP (RFC 8832) over :mod:`pyrtcstack.sctp`.

See docs/datachannel.md. The entry point is :class:`DataChannelManager`, a sans-I/O core
fed with SCTP packets (DTLS application data) that hands out :class:`DataChannel`
objects shaped like the W3C RTCDataChannel.
"""

from __future__ import annotations

# MessageTooLargeError: what send() raises above the peer's max-message-size, re-exported so
# a data channel user needs no SCTP import (the same class as pyrtcstack.sctp's).
from ..sctp import MessageTooLargeError
from .channel import DataChannel, InvalidStateError, OperationError
from .dcep import ChannelType, DataChannelAck, DataChannelOpen, DcepParseError, Ppid, decode_dcep
from .describe import describe_payload
from .events import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelClosing,
    ChannelError,
    ChannelMessage,
    ChannelOpen,
    DataChannelOpened,
    TransportClosed,
    TransportEstablished,
)
from .manager import DataChannelManager
from .options import DCEP_PRIORITY, ChannelOptions, Priority

__all__ = [
    "DCEP_PRIORITY",
    "ChannelBufferedAmountLow",
    "ChannelClosed",
    "ChannelClosing",
    "ChannelError",
    "ChannelMessage",
    "ChannelOpen",
    "ChannelOptions",
    "ChannelType",
    "DataChannel",
    "DataChannelAck",
    "DataChannelManager",
    "DataChannelOpen",
    "DataChannelOpened",
    "DcepParseError",
    "InvalidStateError",
    "MessageTooLargeError",
    "OperationError",
    "Ppid",
    "Priority",
    "TransportClosed",
    "TransportEstablished",
    "decode_dcep",
    "describe_payload",
]
