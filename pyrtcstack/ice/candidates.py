"""ICE candidates: types, priorities, foundations, and their SDP form.

* RFC 8445 §5.1.2.1: ``priority = 2^24 * type_pref + 2^8 * local_pref + (256 - component)``
  with the recommended type preferences host 126, peer-reflexive 110, server-reflexive 100,
  relayed 0 (§5.1.2.2).
* RFC 8421 §4: a multihomed, dual-stack host gives every interface address its own local
  preference and interleaves the address families, so both are tried early.
* RFC 8445 §5.1.1.3: candidates share a foundation when they have the same type, the same
  base IP, the same STUN/TURN server IP and the same transport.
* RFC 8445 §6.1.2.3: ``pair priority = 2^32*min(G,D) + 2*max(G,D) + (G > D ? 1 : 0)``
  where G is the controlling agent's candidate priority and D the controlled one's.

The wire/SDP representation is :class:`pyrtcstack.sdp.Candidate` (RFC 8839 §5.1); this
module converts with :meth:`IceCandidate.to_sdp` and :meth:`IceCandidate.from_sdp`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from ..common.core import Address
from ..sdp import Candidate

__all__ = [
    "TYPE_PREFERENCE",
    "CandidateType",
    "IceCandidate",
    "candidate_priority",
    "interleave_families",
    "is_ipv6",
    "local_preferences",
    "pair_priority",
]


class CandidateType(StrEnum):
    """RFC 8445 §5.1.1 candidate types (values as written in SDP)."""

    HOST = "host"
    SRFLX = "srflx"
    PRFLX = "prflx"
    RELAY = "relay"


#: RFC 8445 §5.1.2.2 recommended type preferences.
TYPE_PREFERENCE: dict[CandidateType, int] = {
    CandidateType.HOST: 126,
    CandidateType.PRFLX: 110,
    CandidateType.SRFLX: 100,
    CandidateType.RELAY: 0,
}

#: RFC 8445 §5.1.2.1: local preference of a single-homed host.
MAX_LOCAL_PREFERENCE = 65535
#: Step between the local preferences of successive interface addresses (RFC 8421 §4).
LOCAL_PREFERENCE_STEP = 128


def candidate_priority(
    ctype: CandidateType, local_preference: int = MAX_LOCAL_PREFERENCE, component: int = 1
) -> int:
    """RFC 8445 §5.1.2.1 candidate priority."""
    return (TYPE_PREFERENCE[ctype] << 24) + (local_preference << 8) + (256 - component)


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 8445 §6.1.2.3 pair priority from the controlling (G) and controlled (D)
    candidates' priorities."""
    g, d = controlling, controlled
    return (min(g, d) << 32) + 2 * max(g, d) + (1 if g > d else 0)


def is_ipv6(host: str) -> bool:
    return ":" in host


def interleave_families(addresses: list[Address]) -> list[Address]:
    """RFC 8421 §4: order host addresses so IPv6 and IPv4 alternate (IPv6 first), each
    family keeping the caller's order."""
    v6 = [a for a in addresses if is_ipv6(a[0])]
    v4 = [a for a in addresses if not is_ipv6(a[0])]
    out: list[Address] = []
    for i in range(max(len(v6), len(v4))):
        if i < len(v6):
            out.append(v6[i])
        if i < len(v4):
            out.append(v4[i])
    return out


def local_preferences(addresses: list[Address]) -> dict[Address, int]:
    """RFC 8421 §4: a distinct local preference per host address, highest first in the
    interleaved order of :func:`interleave_families`."""
    return {
        addr: max(0, MAX_LOCAL_PREFERENCE - i * LOCAL_PREFERENCE_STEP)
        for i, addr in enumerate(interleave_families(addresses))
    }


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """A candidate as the agent uses it: a transport address with type, priority,
    foundation and, for local candidates, a base (RFC 8445 §5.1.1)."""

    type: CandidateType
    address: Address
    priority: int
    foundation: str
    component: int = 1
    transport: str = "udp"
    #: The base (RFC 8445 §5.1.1): for host and relayed candidates the address itself,
    #: for reflexive ones the host address the check or STUN request left from. None for
    #: remote candidates.
    base: Address | None = None
    #: raddr/rport in SDP: the base of a reflexive candidate, the mapped address of a
    #: relayed one.
    related: Address | None = None
    #: For a relayed candidate: the TURN server's address (its base socket is ``base``'s
    #: host socket, kept in :attr:`via`).
    via: Address | None = None

    @property
    def family(self) -> int:
        return 6 if is_ipv6(self.address[0]) else 4

    def to_sdp(self, extensions: list[tuple[str, str]] | None = None) -> Candidate:
        """The RFC 8839 §5.1 form (``str(c.to_sdp())`` is ``candidate:...``)."""
        related = self.related
        return Candidate(
            foundation=self.foundation,
            component=self.component,
            transport=self.transport,
            priority=self.priority,
            address=self.address[0],
            port=self.address[1],
            type=self.type.value,
            related_address=related[0] if related else None,
            related_port=related[1] if related else None,
            extensions=list(extensions or []),
        )

    @classmethod
    def from_sdp(cls, candidate: Candidate) -> IceCandidate:
        """A remote candidate from its SDP form. Raises ``ValueError`` for types,
        transports or addresses this agent cannot use (the agent counts and drops them)."""
        try:
            ctype = CandidateType(candidate.type)
        except ValueError:
            raise ValueError(f"unknown candidate type {candidate.type!r}") from None
        if candidate.transport.lower() != "udp":
            raise ValueError(f"transport {candidate.transport!r} is not supported")
        ip = ipaddress.ip_address(candidate.address)  # ValueError for FQDN / mDNS names
        related = None
        if candidate.related_address is not None and candidate.related_port is not None:
            related = (candidate.related_address, candidate.related_port)
        return cls(
            type=ctype,
            address=(ip.compressed, candidate.port),
            priority=candidate.priority,
            foundation=candidate.foundation,
            component=candidate.component,
            transport="udp",
            related=related,
        )

    def __str__(self) -> str:
        return str(self.to_sdp())
