"""Errors of the ICE agent (see docs/architecture.md, "Errors")."""

from __future__ import annotations

from ..common.errors import LocalProtocolError

__all__ = ["IceError", "IceStaleCandidateError"]


class IceError(LocalProtocolError):
    """The ICE agent was used in a way the protocol does not allow."""


class IceStaleCandidateError(IceError):
    """A remote candidate (or end-of-candidates) names a credentials generation other than
    the current one (RFC 8838 §8; webrtc-pc rejects it with OperationError)."""
