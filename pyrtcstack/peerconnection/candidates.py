"""Our gathered ICE candidates as the descriptions carry them (W3C ``localDescription``,
RFC 8839 §5.1), one list per ICE generation (ufrag): the negotiator writes them into the
local description and fires ``icecandidate`` for each; a restart starts a new list.

With ``Settings.mdns_host_candidates`` a host candidate is signalled under a random
``<uuid>.local`` name instead of its address (draft-ietf-mmusic-mdns-ice-candidates §3.1.1):
:attr:`LocalCandidates.mdns_names` tells the asyncio driver which names to answer for.
"""

from __future__ import annotations

import random
import uuid

from ..sdp import Candidate

__all__ = ["LocalCandidates"]


class LocalCandidates:
    """The candidates gathered so far, by ufrag, in their signalled form."""

    __slots__ = ("_complete", "_gathered", "_hide_addresses", "_rng", "mdns_names")

    def __init__(self, rng: random.Random, *, hide_addresses: bool = False) -> None:
        self._rng = rng
        self._hide_addresses = hide_addresses
        self._gathered: list[tuple[Candidate, str]] = []
        self._complete: set[str] = set()
        #: our host IP -> its mDNS name, for the driver to publish
        self.mdns_names: dict[str, str] = {}

    def add(self, candidate: Candidate, ufrag: str) -> Candidate:
        """Keep a newly gathered candidate of generation ``ufrag``; returns the form it is
        signalled in (its address hidden, see :meth:`signalled`)."""
        candidate = self.signalled(candidate)
        self._gathered.append((candidate, ufrag))
        return candidate

    def of(self, ufrag: str | None) -> list[Candidate]:
        """The candidates of one generation, in gathering order."""
        return [c for c, u in self._gathered if u == ufrag]

    def complete(self, ufrag: str) -> None:
        """Gathering of generation ``ufrag`` is complete (``a=end-of-candidates``)."""
        self._complete.add(ufrag)

    def is_complete(self, ufrag: str | None) -> bool:
        return ufrag in self._complete

    def signalled(self, cand: Candidate) -> Candidate:
        """With ``hide_addresses``: a host candidate's address becomes the random
        ``<uuid>.local`` name of that IP (draft-ietf-mmusic-mdns-ice-candidates §3.1.1,
        one name per address, kept for the life of the connection; the driver answers
        queries for it), and the related address of the other candidates, which names a
        host address or a mapping, becomes 0.0.0.0 / :: port 0."""
        if not self._hide_addresses:
            return cand
        hidden = Candidate.parse(str(cand))
        if cand.type == "host":
            name = self.mdns_names.get(cand.address)
            if name is None:
                name = f"{uuid.UUID(int=self._rng.getrandbits(128), version=4)}.local"
                self.mdns_names[cand.address] = name
            hidden.address = name
        elif cand.related_address is not None:
            hidden.related_address = "::" if ":" in cand.related_address else "0.0.0.0"
            hidden.related_port = 0
        return hidden
