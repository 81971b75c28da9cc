"""Is a connection's setup clean? Our side's counters of what went wrong, per layer.

A clean setup with a well-behaved peer on loopback retransmits nothing and drops nothing:
every ICE check is answered at the first try, every DTLS flight, INIT and COOKIE ECHO
too, and nothing the peer sends is discarded. A counter above zero is a symptom (a lost
packet, or a peer that cannot read what we send, as Pion 3.1.56 could not read our INIT
ACK's Zero Checksum Acceptable), so the interop runs record :func:`setup_counters` once a
little data has moved each way, and ``tests/test_interop_clean_setup.py`` holds every
peer of the matrix to :func:`anomalies` beyond its documented allowance
(:data:`ALLOWANCES`, docs/interop.md "A clean setup").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..aio import PeerConnection

__all__ = ["ALLOWANCES", "ANOMALIES", "anomalies", "setup_counters"]

#: The counters of :func:`setup_counters` that a clean setup leaves at zero.
ANOMALIES = (
    # ICE (RFC 8445 §14, RFC 8489 §6.2.1): a check or gathering request sent again, a
    # check that timed out or got an error (a 487 role conflict), what we dropped
    "ice.retransmissions",
    "ice.check_timeouts",
    "ice.check_error_responses",
    "ice.role_conflicts_answered",
    "ice.check_bad_integrity",
    "ice.check_malformed",
    "ice.check_wrong_username",
    "ice.response_bad_integrity",
    "ice.response_malformed",
    "ice.dropped_malformed_stun",
    "ice.data_from_unknown_dropped",
    "ice.consent_missed",
    # DTLS (RFC 6347 §4.2.4, RFC 9147 §5.8): our flights sent again, records dropped
    "dtls.retransmissions",
    "dtls.dropped_malformed",
    "dtls.dropped_replay",
    "dtls.dropped_decrypt",
    "dtls.dropped_epoch",
    "dtls.dropped_unexpected",
    # SCTP (RFC 9260): T1-init / T1-cookie, T3-rtx and fast retransmit, an INIT sent
    # again to us, ERROR chunks and parameters reported unrecognised, packets dropped
    "sctp.t1_expirations",
    "sctp.inits_repeated",
    "sctp.errors_received",
    "sctp.unrecognized_parameters",
    "sctp.t3_expirations",
    "sctp.fast_retransmissions",
    "sctp.retransmissions",
    "sctp.bad_checksum",
    "sctp.malformed",
    "sctp.bad_verification_tag",
    "sctp.bad_cookie",
    "sctp.unexpected_chunks",
    "sctp.data_dropped",
)

#: peer → {counter: how many a clean setup with that peer may have}, each a peer's
#: documented quirk (docs/interop.md).
ALLOWANCES: dict[str, dict[str, int]] = {
    # werift's DTLS 1.2 Finished and its N-th application record share a sequence number:
    # our replay window drops that record (docs/interop.md, werift quirks).
    "werift": {"dtls.dropped_replay": 1},
}


def setup_counters(pc: PeerConnection) -> dict[str, int]:
    """Every counter of ``pc``'s ICE agent, DTLS connection and SCTP association (with
    its sender's retransmissions), as ``layer.name``; cumulative over the connection."""
    core = pc.core
    out: dict[str, int] = {}
    agent = core.agent
    if agent is not None:
        out.update((f"ice.{k}", v) for k, v in agent.stats.items())
    stats = dataclasses.asdict(core.dtls.stats)
    out.update((f"dtls.{k}", v) for k, v in stats.items())
    association = core.sctp.association
    if association is not None:
        out.update((f"sctp.{k}", v) for k, v in dataclasses.asdict(association.stats).items())
        sender = association.sender
        out["sctp.t3_expirations"] = sender.t3_expirations
        out["sctp.fast_retransmissions"] = sender.fast_retransmissions
        out["sctp.retransmissions"] = sender.retransmissions
    return out


def anomalies(counters: Mapping[str, int], peer: str = "") -> dict[str, int]:
    """The anomaly counters of ``counters`` above ``peer``'s allowance (empty: clean)."""
    allowed = ALLOWANCES.get(peer, {})
    return {
        name: counters[name] for name in ANOMALIES if counters.get(name, 0) > allowed.get(name, 0)
    }
