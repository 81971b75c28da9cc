"""The W3C state machines of RTCPeerConnection (webrtc-pc §4.3) as pure functions.

* Signaling (§4.3.1, JSEP RFC 9429 §3.2): which description types are allowed in which
  state, and the state they lead to.
* The aggregate ``connectionState`` (§4.3.3, RTCPeerConnectionState) from the ICE
  transport state and the DTLS transport state.
* The transitions the spec allows, used by the tests to check every event sequence.
"""

from __future__ import annotations

from ..common.errors import LocalProtocolError

__all__ = [
    "ALLOWED_CONNECTION_TRANSITIONS",
    "ALLOWED_ICE_TRANSITIONS",
    "ALLOWED_SIGNALING_TRANSITIONS",
    "ROLLBACK_STATES",
    "InvalidStateError",
    "aggregate_connection_state",
    "next_signaling_state",
]


class InvalidStateError(LocalProtocolError):
    """W3C InvalidStateError: the call is not allowed in the current state."""


# (current state, "local"/"remote", description type) -> next state (JSEP §3.2 figure).
_SIGNALING: dict[tuple[str, str, str], str] = {
    ("stable", "local", "offer"): "have-local-offer",
    ("stable", "remote", "offer"): "have-remote-offer",
    ("have-local-offer", "local", "offer"): "have-local-offer",
    ("have-local-offer", "remote", "answer"): "stable",
    ("have-local-offer", "remote", "pranswer"): "have-remote-pranswer",
    ("have-remote-pranswer", "remote", "pranswer"): "have-remote-pranswer",
    ("have-remote-pranswer", "remote", "answer"): "stable",
    ("have-remote-offer", "remote", "offer"): "have-remote-offer",
    ("have-remote-offer", "local", "answer"): "stable",
    ("have-remote-offer", "local", "pranswer"): "have-local-pranswer",
    ("have-local-pranswer", "local", "pranswer"): "have-local-pranswer",
    ("have-local-pranswer", "local", "answer"): "stable",
}

#: Signaling states a rollback may leave (webrtc-pc §4.4.1.5: InvalidStateError in
#: stable, have-local-pranswer and have-remote-pranswer; JSEP §4.1.8.2).
ROLLBACK_STATES = ("have-local-offer", "have-remote-offer")

#: Every signaling transition the spec allows (rollback returns to stable).
ALLOWED_SIGNALING_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {(a, b) for (a, _side, _t), b in _SIGNALING.items() if a != b}
    | {(s, "stable") for s in ROLLBACK_STATES}
    | {(s, "closed") for s, _side, _t in _SIGNALING}
)

#: RTCIceConnectionState transitions (webrtc-pc §4.3.3 and RFC 8445 states).
ALLOWED_ICE_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("new", "checking"),
        ("checking", "connected"),
        ("checking", "completed"),
        ("checking", "failed"),
        ("checking", "disconnected"),
        ("connected", "completed"),
        ("connected", "disconnected"),
        ("connected", "failed"),
        ("connected", "checking"),  # ICE restart
        ("completed", "connected"),  # ICE restart with new candidates
        ("completed", "checking"),
        ("completed", "disconnected"),
        ("completed", "failed"),
        ("disconnected", "connected"),
        ("disconnected", "completed"),
        ("disconnected", "checking"),
        ("disconnected", "failed"),
        ("failed", "checking"),  # ICE restart
    }
    | {
        (s, "closed")
        for s in ("new", "checking", "connected", "completed", "disconnected", "failed")
    }
)

#: RTCPeerConnectionState transitions.
ALLOWED_CONNECTION_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("new", "connecting"),
        ("connecting", "connected"),
        ("connecting", "failed"),
        ("connecting", "disconnected"),
        ("connected", "disconnected"),
        ("connected", "failed"),
        ("connected", "connecting"),
        ("disconnected", "connected"),
        ("disconnected", "connecting"),
        ("disconnected", "failed"),
        ("failed", "connecting"),
    }
    | {(s, "closed") for s in ("new", "connecting", "connected", "disconnected", "failed")}
)


def next_signaling_state(state: str, side: str, sdp_type: str) -> str:
    """The signaling state after applying a ``side`` ("local"/"remote") description of
    ``sdp_type``; raises :class:`InvalidStateError` when JSEP §5.5/§5.6 forbids it."""
    if state == "closed":
        raise InvalidStateError("the peer connection is closed")
    if sdp_type == "rollback":
        if state not in ROLLBACK_STATES:
            raise InvalidStateError(f"cannot roll back in signaling state {state}")
        return "stable"
    nxt = _SIGNALING.get((state, side, sdp_type))
    if nxt is None:
        raise InvalidStateError(f"cannot set a {side} {sdp_type} in signaling state {state}")
    return nxt


def aggregate_connection_state(ice: str, dtls: str, closed: bool) -> str:
    """RTCPeerConnectionState from the (single, bundled) ICE and DTLS transports
    (webrtc-pc §4.3.3 table). ``dtls`` is an RTCDtlsTransportState: "new",
    "connecting", "connected", "closed", "failed"."""
    if closed:
        return "closed"
    if ice == "failed" or dtls == "failed":
        return "failed"
    if ice == "disconnected":
        return "disconnected"
    if ice in ("new", "closed") and dtls in ("new", "closed"):
        return "new"
    if ice in ("new", "checking") or dtls in ("new", "connecting"):
        return "connecting"
    return "connected"
