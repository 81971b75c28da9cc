"""W3C RTCSessionDescription / RTCIceCandidate in their browser JSON forms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..common.errors import LocalProtocolError

__all__ = ["SDP_TYPES", "Description", "IceCandidateInit"]

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
        return cls(str(value["type"]), str(value.get("sdp") or ""))

    @classmethod
    def from_json(cls, text: str) -> Description:
        return cls.from_dict(json.loads(text))


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
        return cls(
            str(value.get("candidate") or ""),
            value.get("sdpMid"),
            value.get("sdpMLineIndex"),
            value.get("usernameFragment"),
        )
