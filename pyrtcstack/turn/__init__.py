"""TURN (RFC 8656): a sans-I/O client allocation machine and a small server core.

* :mod:`.channeldata` — the ChannelData message (RFC 8656 §12.4).
* :mod:`.framing` — cutting a TCP/TLS stream into STUN and ChannelData frames (§5, §12.5).
* :mod:`.client` — :class:`TurnClient`, the sans-I/O client allocation machine.
* :mod:`.server` — :class:`TurnServer`, a small sans-I/O TURN server (UDP relaying).
* :mod:`.policy` — the server's peer address policy and per-allocation rate limit.
* :mod:`.relays` — relayed addresses for socket-less drivers.
* :mod:`.events` — the events both cores emit.
* :mod:`.url` — ``turn:``/``turns:`` URIs (RFC 7065).
* :mod:`.errors` — the module's error classes.

See docs/turn.md for the protocol as implemented, the API, the limits and the deviations.
"""

from .channeldata import CHANNEL_NUMBER_MAX, ChannelData, decode_channel_data, encode_channel_data
from .client import ClientState, TurnClient
from .describe import describe
from .errors import (
    AllocationMismatchError,
    AllocationQuotaError,
    InsufficientCapacityError,
    TurnError,
    TurnFramingError,
    TurnParseError,
    TurnRemoteError,
    TurnUsageError,
    WrongCredentialsError,
)
from .events import (
    Allocated,
    AllocationExpired,
    ChannelBound,
    DataReceived,
    Deallocated,
    PeerDenied,
    PermissionCreated,
    Refreshed,
    RelayClosed,
    RelayOpened,
    RequestFailed,
)
from .framing import StreamFramer, frame_for_stream
from .policy import PeerPolicy, TokenBucket, parse_ip_range
from .server import (
    MAX_ALLOCATIONS,
    MAX_ALLOCATIONS_PER_USER,
    RelayEndpoint,
    SequentialRelayAllocator,
    TurnServer,
)
from .url import TurnUrl, parse_turn_url

__all__ = [
    "CHANNEL_NUMBER_MAX",
    "MAX_ALLOCATIONS",
    "MAX_ALLOCATIONS_PER_USER",
    "Allocated",
    "AllocationExpired",
    "AllocationMismatchError",
    "AllocationQuotaError",
    "ChannelBound",
    "ChannelData",
    "ClientState",
    "DataReceived",
    "Deallocated",
    "InsufficientCapacityError",
    "PeerDenied",
    "PeerPolicy",
    "PermissionCreated",
    "Refreshed",
    "RelayClosed",
    "RelayEndpoint",
    "RelayOpened",
    "RequestFailed",
    "SequentialRelayAllocator",
    "StreamFramer",
    "TokenBucket",
    "TurnClient",
    "TurnError",
    "TurnFramingError",
    "TurnParseError",
    "TurnRemoteError",
    "TurnServer",
    "TurnUrl",
    "TurnUsageError",
    "WrongCredentialsError",
    "decode_channel_data",
    "describe",
    "encode_channel_data",
    "frame_for_stream",
    "parse_ip_range",
    "parse_turn_url",
]
