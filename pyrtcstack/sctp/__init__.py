"""SCTP (RFC 9260) over DTLS (RFC 8261): a sans-I/O association for data channels.

See docs/sctp.md. :class:`Association` takes SCTP packets as bytes (the plaintext of DTLS
application-data records) and gives packets, a timer and events back; the codecs in
:mod:`.chunks` and :mod:`.params` decode and encode every chunk WebRTC uses.
"""

from __future__ import annotations

from .adapter import DatagramAdapter, PacketCore
from .association import Association, AssociationStats, State
from .chunks import Packet, decode_packet, encode_packet, verify_checksum
from .config import SctpConfig
from .describe import FragmentLabeller, PacketSummary, PayloadNamer, describe, summarize
from .errors import (
    AssociationClosedError,
    MessageTooLargeError,
    SctpError,
    SctpParseError,
    SctpRemoteError,
    StreamError,
)
from .events import (
    AssociationClosed,
    AssociationEstablished,
    BufferedAmountLow,
    IncomingStreamsReset,
    MessageReceived,
    OutgoingStreamsReset,
    StreamResetFailed,
)

__all__ = [
    "Association",
    "AssociationClosed",
    "AssociationClosedError",
    "AssociationEstablished",
    "AssociationStats",
    "BufferedAmountLow",
    "DatagramAdapter",
    "FragmentLabeller",
    "IncomingStreamsReset",
    "MessageReceived",
    "MessageTooLargeError",
    "OutgoingStreamsReset",
    "Packet",
    "PacketCore",
    "PacketSummary",
    "PayloadNamer",
    "SctpConfig",
    "SctpError",
    "SctpParseError",
    "SctpRemoteError",
    "State",
    "StreamError",
    "StreamResetFailed",
    "decode_packet",
    "describe",
    "encode_packet",
    "summarize",
    "verify_checksum",
]
