"""ICE (RFC 8445): a sans-I/O agent, trickle-first (RFC 8838), with consent freshness
(RFC 7675), ICE restart and ICE-lite. See docs/ice.md.

Use :class:`IceAgent` with an :class:`IceConfig`; candidates are :class:`IceCandidate`
(convert with ``to_sdp()`` / ``IceCandidate.from_sdp`` to :class:`pyrtcstack.sdp.Candidate`).
The asyncio driver is :mod:`pyrtcstack.aio.ice`; the NAT-aware test network is
:mod:`pyrtcstack.testing.vnet`.
"""

from __future__ import annotations

from .agent import IceAgent
from .candidates import (
    TYPE_PREFERENCE,
    CandidateType,
    IceCandidate,
    candidate_priority,
    interleave_families,
    local_preferences,
    pair_priority,
)
from .checklist import MAX_PAIRS, MAX_REMOTE_CANDIDATES, CandidatePair, PairState
from .config import (
    CONSENT_INTERVAL,
    CONSENT_MISS_AFTER,
    CONSENT_TIMEOUT,
    KEEPALIVE_INTERVAL,
    NOMINATION_DELAY,
    NOMINATION_MIN_PATIENCE,
    NOMINATION_PATIENCE,
    PAC_TIMEOUT,
    TA,
    IceConfig,
    StreamTransport,
    TurnServer,
)
from .describe import describe_pair
from .errors import IceError, IceStaleCandidateError
from .events import (
    CandidateError,
    ConnectionStateChanged,
    DataReceived,
    GatheringStateChanged,
    LocalCandidate,
    RoleChanged,
    SelectedPairChanged,
)
from .mdns import (
    MDNS_GROUP_V4,
    MDNS_PORT,
    MdnsParseError,
    build_query,
    is_mdns_name,
    parse_addresses,
)
from .mdns_responder import MdnsResponder

__all__ = [
    "CONSENT_INTERVAL",
    "CONSENT_MISS_AFTER",
    "CONSENT_TIMEOUT",
    "KEEPALIVE_INTERVAL",
    "MAX_PAIRS",
    "MAX_REMOTE_CANDIDATES",
    "MDNS_GROUP_V4",
    "MDNS_PORT",
    "NOMINATION_DELAY",
    "NOMINATION_MIN_PATIENCE",
    "NOMINATION_PATIENCE",
    "PAC_TIMEOUT",
    "TA",
    "TYPE_PREFERENCE",
    "CandidateError",
    "CandidatePair",
    "CandidateType",
    "ConnectionStateChanged",
    "DataReceived",
    "GatheringStateChanged",
    "IceAgent",
    "IceCandidate",
    "IceConfig",
    "IceError",
    "IceStaleCandidateError",
    "LocalCandidate",
    "MdnsParseError",
    "MdnsResponder",
    "PairState",
    "RoleChanged",
    "SelectedPairChanged",
    "StreamTransport",
    "TurnServer",
    "build_query",
    "candidate_priority",
    "describe_pair",
    "interleave_families",
    "is_mdns_name",
    "local_preferences",
    "pair_priority",
    "parse_addresses",
]
