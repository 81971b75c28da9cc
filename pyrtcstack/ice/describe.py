"""ICE steps in words, for people reading a trace (``pyrtcstack demo --trace``). The
connectivity checks themselves are STUN messages (:func:`pyrtcstack.stun.describe`)."""

from __future__ import annotations

from .candidates import IceCandidate

__all__ = ["describe_pair"]


def _short(candidate: IceCandidate) -> str:
    host, port = candidate.address[0], candidate.address[1]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{candidate.type.value} {where}"


def describe_pair(local: IceCandidate, remote: IceCandidate, nominated: bool) -> str:
    """The "selected pair" line: the two candidates in short, and why it may come before
    the USE-CANDIDATE request in a timeline (data may flow on a valid pair before the
    controlling agent nominates it)."""
    text = f"selected pair {_short(local)} ↔ {_short(remote)}"
    if nominated:
        return text + " (nominated, RFC 8445 §8.1.1)"
    return text + (
        " (valid, not yet nominated: data may flow on a valid pair before selection, RFC"
        " 8445 §12.1; the controlling agent nominates it later with USE-CANDIDATE, §8.1.1)"
    )
