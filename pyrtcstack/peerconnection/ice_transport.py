"""The ICE side of a peer connection (webrtc-pc §5.6 RTCIceTransport, sans-I/O): the
bundle's :class:`~pyrtcstack.ice.IceAgent`, made at the first ask for our credentials, the
ICE servers it gathers with, and the remote mDNS candidates waiting for the driver to
resolve them (see docs/peerconnection.md, "mDNS candidates").

:class:`IceTransport` is owned by
:class:`~pyrtcstack.peerconnection.PeerConnectionCore`, which answers the negotiator's
ICE questions (the ``Transports`` protocol) by these calls and drives the agent's data
path itself (``agent`` is public: the core's input, pump and timer use it directly).
"""

from __future__ import annotations

import random

from ..common.core import Address
from ..ice import (
    MAX_REMOTE_CANDIDATES,
    IceAgent,
    IceConfig,
    IceStaleCandidateError,
    TurnServer,
    is_mdns_name,
)
from ..sdp import Candidate
from .config import Settings

__all__ = ["IceTransport"]


class IceTransport:
    """The agent, the ICE servers of the configuration (the driver resolves the URLs into
    :attr:`stun_servers` / :attr:`turn_servers`) and the pending remote mDNS names.

    ``counters`` is the peer connection's dict of dropped inputs; the mDNS counters
    (``mdns_dropped_busy``, ``mdns_unresolved``, ``mdns_stale``, ``mdns_resolved``) go
    into it."""

    __slots__ = (
        "_mdns_pending",
        "_rng",
        "_settings",
        "agent",
        "counters",
        "gathering_started",
        "stun_servers",
        "turn_servers",
    )

    def __init__(self, settings: Settings, rng: random.Random, counters: dict[str, int]) -> None:
        self._settings = settings
        self._rng = rng
        self.counters = counters
        self.stun_servers: list[Address] = []
        self.turn_servers: list[TurnServer] = []
        self.agent: IceAgent | None = None
        self.gathering_started = False
        #: remote candidates named by mDNS, waiting for the driver to resolve them
        self._mdns_pending: list[tuple[Candidate, str | None]] = []

    # ---------------------------------------------------------------- the agent
    def ensure_agent(self, controlling: bool, relay_only: bool) -> IceAgent:
        """The agent, made now if none exists: ``controlling`` when we offer (RFC 8445
        §6.1.1); ``relay_only`` from the configuration's ``iceTransportPolicy``."""
        if self.agent is None:
            settings = self._settings
            config = IceConfig(
                controlling=controlling,
                stun_servers=list(self.stun_servers),
                turn_servers=list(self.turn_servers),
                relay_only=relay_only,
                ta=settings.ice_ta,
                nomination_delay=settings.ice_nomination_delay,
            )
            self.agent = IceAgent(config, rng=self._rng)
        return self.agent

    def made_agent(self) -> IceAgent:
        assert self.agent is not None, "the negotiator asks local_ice_credentials first"
        return self.agent

    def sync_config(self, relay_only: bool) -> None:
        """Give the agent the ICE servers and transport policy of the configuration, at
        a gathering phase only (the first gathering, an ICE restart): W3C
        setConfiguration changes them for "the next gathering phase" (JSEP §3.5.1)."""
        agent = self.agent
        if agent is None:
            return
        agent.config.stun_servers = list(self.stun_servers)
        agent.config.turn_servers = list(self.turn_servers)
        agent.config.relay_only = relay_only

    def gather(self, host_addresses: list[Address], now: float, relay_only: bool) -> bool:
        """Start gathering on the sockets the driver bound (once; JSEP §5.8, RFC 8445
        §5.1); False when it had started already."""
        agent = self.ensure_agent(True, relay_only)
        if self.gathering_started:
            return False
        self.gathering_started = True
        self.sync_config(relay_only)
        agent.gather(host_addresses, now)
        return True

    @property
    def local_ufrag(self) -> str | None:
        return self.agent.local_ufrag if self.agent is not None else None

    @property
    def remote_ufrag(self) -> str | None:
        return self.agent.generation.remote_ufrag if self.agent is not None else None

    def restart(self, now: float, credentials: tuple[str, str] | None, relay_only: bool) -> None:
        """An ICE restart (RFC 8445 §9) is a gathering phase: the agent takes the ICE
        servers and policy of the configuration first (JSEP §3.5.1)."""
        agent = self.made_agent()
        self.sync_config(relay_only)
        if credentials is None:
            agent.restart(now)
        else:
            agent.restart(now, ufrag=credentials[0], pwd=credentials[1])

    def cancel_restart(self, now: float) -> None:
        if self.agent is not None:
            self.agent.cancel_restart(now)

    # ---------------------------------------------------------------- remote side
    def apply_remote(
        self,
        ufrag: str,
        pwd: str,
        candidates: list[Candidate],
        end_of_candidates: bool,
        now: float,
        *,
        lite: bool,
    ) -> None:
        """A remote description's ICE credentials and candidates (RFC 8839 §5)."""
        agent = self.made_agent()
        agent.set_remote_credentials(ufrag, pwd, now, lite=lite)
        for cand in candidates:
            agent.add_remote_candidate(cand, now)
            self._note_mdns(cand, ufrag)
        if end_of_candidates:
            agent.end_of_remote_candidates(now)

    def add_remote_candidate(self, candidate: Candidate, now: float, ufrag: str | None) -> None:
        agent = self.made_agent()
        agent.add_remote_candidate(candidate, now, ufrag)
        self._note_mdns(candidate, ufrag or agent.generation.remote_ufrag)

    def end_of_remote_candidates(self, now: float, ufrag: str | None) -> None:
        self.made_agent().end_of_remote_candidates(now, ufrag)

    # ---------------------------------------------------------------- mDNS candidates
    def _note_mdns(self, candidate: Candidate, ufrag: str | None) -> None:
        """A remote candidate named ``<uuid>.local`` (how browsers hide host addresses,
        draft-ietf-mmusic-mdns-ice-candidates §3.2.1): the ICE agent drops such a name;
        the driver is asked to resolve it (:meth:`take_mdns_candidates`)."""
        if not is_mdns_name(candidate.address):
            return
        if len(self._mdns_pending) >= MAX_REMOTE_CANDIDATES:
            self.counters["mdns_dropped_busy"] = self.counters.get("mdns_dropped_busy", 0) + 1
            return
        self._mdns_pending.append((candidate, ufrag))

    def take_mdns_candidates(self) -> list[tuple[Candidate, str | None]]:
        """The remote mDNS candidates (with the remote ufrag they belong to) given since
        the last call."""
        out, self._mdns_pending = self._mdns_pending, []
        return out

    def add_resolved_candidate(
        self, candidate: Candidate, address: str | None, now: float, ufrag: str | None
    ) -> bool:
        """Give the agent an mDNS candidate with the address its name resolved to (None:
        nobody answered; the candidate stays ignored, counted). False when dropped:
        unresolved, no agent, a duplicate, or stale (an ICE restart came in between,
        RFC 8838 §8)."""
        counters = self.counters
        if address is None:
            counters["mdns_unresolved"] = counters.get("mdns_unresolved", 0) + 1
            return False
        if self.agent is None:
            return False
        resolved = Candidate.parse(str(candidate))
        resolved.address = address
        try:
            added = self.agent.add_remote_candidate(resolved, now, ufrag)
        except IceStaleCandidateError:
            counters["mdns_stale"] = counters.get("mdns_stale", 0) + 1
            return False
        counters["mdns_resolved"] = counters.get("mdns_resolved", 0) + 1
        return added
