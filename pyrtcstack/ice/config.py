"""The agent's settings and the values RFC 8445, RFC 7675 and RFC 8656 recommend.

:class:`IceConfig` is what a caller chooses; every timer defaults to its RFC's value.
:class:`TurnServer` names a TURN server (RFC 8656) and :class:`StreamTransport` a TCP/TLS
connection to one that the driver has to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.core import Address
from ..stun import UDP_POLICY
from .errors import IceError

__all__ = [
    "CHECK_MAX_TRANSMISSIONS",
    "CONSENT_INTERVAL",
    "CONSENT_MISS_AFTER",
    "CONSENT_TIMEOUT",
    "KEEPALIVE_INTERVAL",
    "MAX_PAST_REMOTE_UFRAGS",
    "NOMINATION_DELAY",
    "NOMINATION_MIN_PATIENCE",
    "NOMINATION_PATIENCE",
    "PAC_TIMEOUT",
    "STREAM_RELAY_PREFERENCE",
    "TA",
    "IceConfig",
    "StreamTransport",
    "TurnServer",
]

#: RFC 8445 §5.1.2.1 local preference of relayed candidates reached over TCP and TLS:
#: below every UDP one (as libwebrtc ranks relay UDP > TCP > TLS).
STREAM_RELAY_PREFERENCE = {"tcp": 32767, "tls": 16383}


#: RFC 8445 §14.2: pacing of checks (one every Ta).
TA = 0.05
#: RFC 7675 §5.1: consent checks every 5 s, randomised to [0.8, 1.2] of it.
CONSENT_INTERVAL = 5.0
#: RFC 7675 §5.1: consent expires 30 s after the last authenticated response.
CONSENT_TIMEOUT = 30.0
#: A consent check unanswered this long (sent at 0, 0.5, 1.5 s) means "disconnected".
CONSENT_MISS_AFTER = 2.5
#: RFC 8445 §11: Tr, the keepalive interval of a lite agent (Binding indications).
KEEPALIVE_INTERVAL = 15.0
#: Regular nomination (RFC 8445 §8.1.1): the controlling agent nominates the best valid
#: pair once no better pair is still being checked, or this long after the first success.
NOMINATION_DELAY = 1.0
#: ... but a better pair already being checked is only waited for this many round trips
#: of the best valid pair (at least NOMINATION_MIN_PATIENCE seconds) after its first send.
NOMINATION_PATIENCE = 3.0
NOMINATION_MIN_PATIENCE = 0.05
#: RFC 8863 §4: do not declare failure before this long when the remote side has not
#: signalled end-of-candidates.
PAC_TIMEOUT = 39.5
#: Checks (RFC 8489 Rc) per pair before it fails.
CHECK_MAX_TRANSMISSIONS = UDP_POLICY.rc
#: Earlier ice-ufrags of the peer remembered (bounded): a check whose sender part is one
#: of them is answered (RFC 8445 §7.3 reading, see checks.py and docs/ice.md).
MAX_PAST_REMOTE_UFRAGS = 4


@dataclass(frozen=True, slots=True)
class TurnServer:
    """A TURN server to gather a relayed candidate from.

    ``transport`` is how the agent reaches the server (RFC 8656 §3.1): "udp" (one
    allocation per host socket), or "tcp"/"tls" (one allocation over one stream the
    driver opens, see :attr:`IceAgent.stream_transports`); the relay itself is UDP.
    """

    address: Address
    username: str
    password: str = field(repr=False)
    transport: str = "udp"

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp", "tls"):
            raise IceError(f"TURN transport must be udp, tcp or tls, not {self.transport!r}")


@dataclass(frozen=True, slots=True)
class StreamTransport:
    """A TCP or TLS connection the driver must open to a TURN server. The agent names it
    by ``key``, a pseudo socket address: it appears as ``local`` in ``transmits()`` (write
    the bytes to the stream) and must be given as ``local`` to ``receive_datagram`` with
    each STUN/ChannelData frame read from it (cut with ``turn.StreamFramer``)."""

    key: Address
    server: Address
    tls: bool


@dataclass(slots=True)
class IceConfig:
    """Agent settings; every timer defaults to the value its RFC recommends."""

    controlling: bool = True
    #: RFC 8445 §2.5: a lite agent only has host candidates, never checks, is controlled.
    lite: bool = False
    stun_servers: list[Address] = field(default_factory=list)
    turn_servers: list[TurnServer] = field(default_factory=list)
    #: W3C iceTransportPolicy "relay": gather and use relayed candidates only.
    relay_only: bool = False
    #: RFC 8445 §14.2: Ta, the pacing of checks (one check every Ta). 50 ms is the RFC's
    #: default; a lower value must be signalled (RFC 8839 ``a=ice-pacing``, the higher of
    #: the two sides' values applies) and never below 5 ms for all agents of a process.
    ta: float = TA
    #: RFC 8445 §12.1: "an ICE agent MAY send data on any valid pair before selected pairs
    #: have been produced". True: the first valid pair is reported at once
    #: (``SelectedPairChanged`` with ``pair.nominated`` False, state "connected") and data
    #: may flow on it; the nominated pair takes over when selection happens (another
    #: ``SelectedPairChanged`` if it differs). False: nothing before nomination.
    use_valid_pairs: bool = True
    check_max_transmissions: int = CHECK_MAX_TRANSMISSIONS
    stun_max_transmissions: int = UDP_POLICY.rc
    nomination_delay: float = NOMINATION_DELAY
    nomination_patience: float = NOMINATION_PATIENCE
    consent_interval: float = CONSENT_INTERVAL
    consent_timeout: float = CONSENT_TIMEOUT
    consent_miss_after: float = CONSENT_MISS_AFTER
    keepalive_interval: float = KEEPALIVE_INTERVAL
    pac_timeout: float = PAC_TIMEOUT
    local_ufrag: str | None = None
    local_pwd: str | None = field(default=None, repr=False)
