"""W3C RTCSessionDescription / RTCIceCandidate in their browser JSON forms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..common.errors import LocalProtocolError, ParseError

__all__ = ["SDP_TYPES", "Description", "DescriptionParseError", "IceCandidateInit"]


class DescriptionParseError(ParseError):
    """A ``{"type", "sdp"}`` / RTCIceCandidateInit JSON value that is not one."""


#: W3C RTCSdpType.
SDP_TYPES = ("offer", "pranswer", "answer", "rollback")


@dataclass(frozen=True, slots=True)
class Description:
    """``{"type": ..., "sdp": ...}`` as browsers serialise RTCSessionDescription."""

    type: str
    sdp: str = ""

    def __post_init__(self) -> None:
        if self.type not in SDP_TYPES:
            raise LocalProtocolError(f"unknown description type {self.type!r}")

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "sdp": self.sdp}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Description:
        """Raises :class:`DescriptionParseError` for anything but a browser's shape."""
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise DescriptionParseError("a description needs a string 'type'")
        sdp = value.get("sdp")
        if sdp is not None and not isinstance(sdp, str):
            raise DescriptionParseError("'sdp' must be a string")
        try:
            return cls(value["type"], sdp or "")
        except LocalProtocolError as exc:
            raise DescriptionParseError(str(exc)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Description:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise DescriptionParseError(f"not JSON: {exc}") from None
        return cls.from_dict(value)


@dataclass(frozen=True, slots=True)
class IceCandidateInit:
    """W3C RTCIceCandidateInit: ``candidate`` "" means end-of-candidates."""

    candidate: str = ""
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
            "usernameFragment": self.username_fragment,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> IceCandidateInit:
        """Raises :class:`DescriptionParseError` for wrongly typed members."""
        if not isinstance(value, dict):
            raise DescriptionParseError("a candidate must be an object")
        candidate = value.get("candidate") or ""
        mid = value.get("sdpMid")
        index = value.get("sdpMLineIndex")
        ufrag = value.get("usernameFragment")
        if (
            not isinstance(candidate, str)
            or not isinstance(mid, str | None)
            or not (index is None or (isinstance(index, int) and not isinstance(index, bool)))
            or not isinstance(ufrag, str | None)
        ):
            raise DescriptionParseError("RTCIceCandidateInit member of the wrong type")
        return cls(candidate, mid, index, ufrag)
