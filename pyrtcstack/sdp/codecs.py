"""Codec capability matching for offer/answer (RFC 9429 §5.3.1, RFC 3264 §6.1).

A local :class:`CodecCapability` matches an offered :class:`~pyrtcstack.sdp.model.Codec`
when the encoding name (case-insensitive, RFC 8866 §6.6), clock rate and channel count
agree and the format parameters that *define* the stream agree:

* H.264 (RFC 6184 §8.1, §8.2.2): ``packetization-mode`` equal (absent = 0) and the same
  profile from ``profile-level-id`` (absent = ``42000a``); the answer's level is the lower
  one unless both sides allow ``level-asymmetry-allowed=1``.
* VP9 ``profile-id`` and AV1 ``profile`` equal (absent = 0).
* Opus (RFC 7587 §7) is always ``opus/48000/2``; its fmtp parameters are declarative
  (each side states what it wants to *receive*), so they never prevent a match.

RTX (RFC 4588 §8.6) is matched by its ``apt``: it is kept exactly when the primary it
repairs is kept, and keeps the offerer's payload type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrtcstack.sdp.model import Codec

__all__ = [
    "CodecCapability",
    "H264Profile",
    "codecs_match",
    "h264_profile",
    "negotiate_codecs",
]


@dataclass(slots=True)
class CodecCapability:
    """A codec the local side supports, in preference order within its list."""

    name: str
    clock_rate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    #: rtcp-fb values we support for it, e.g. ``["nack", "nack pli", "transport-cc"]``.
    feedback: list[str] = field(default_factory=list)
    #: payload type used when *we* offer it (dynamic types are allocated when ``None``).
    payload_type: int | None = None
    #: also offer/accept an RTX (RFC 4588) payload type repairing this codec.
    rtx: bool = False


# ---- H.264 profile-level-id (RFC 6184 §8.1, profile table as used by libwebrtc)


@dataclass(frozen=True, slots=True)
class H264Profile:
    profile: str  #: "constrained-baseline", "baseline", "main", "extended", "high", ...
    level: int  #: level_idc (e.g. 31 for level 3.1)


# (profile_idc, iop pattern (MSB first, x = any), profile name)
_H264_PROFILES = (
    (0x42, "x1xx0000", "constrained-baseline"),
    (0x4D, "1xxx0000", "constrained-baseline"),
    (0x58, "11xx0000", "constrained-baseline"),
    (0x42, "x0xx0000", "baseline"),
    (0x58, "10xx0000", "baseline"),
    (0x4D, "0x0x0000", "main"),
    (0x64, "00000000", "high"),
    (0x64, "00001100", "constrained-high"),
    (0xF4, "00000000", "high-444"),
)


def _iop_matches(iop: int, pattern: str) -> bool:
    for i, ch in enumerate(pattern):
        bit = (iop >> (7 - i)) & 1
        if ch != "x" and bit != int(ch):
            return False
    return True


def h264_profile(profile_level_id: str | None) -> H264Profile | None:
    """Parse ``profile-level-id`` (6 hex digits); ``None`` when unknown or malformed."""
    value = profile_level_id or "42000a"  # RFC 6184 §8.1 default
    if len(value) != 6:
        return None
    try:
        idc, iop, level = int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError:
        return None
    for profile_idc, pattern, name in _H264_PROFILES:
        if profile_idc == idc and _iop_matches(iop, pattern):
            return H264Profile(name, level)
    return None


def _h264_level_hex(level_idc: int, template: str) -> str:
    return f"{template[:4]}{level_idc:02x}"


def codecs_match(offered: Codec, local: CodecCapability) -> bool:
    """Whether ``local`` can be used for the ``offered`` payload format."""
    name = offered.name.lower()
    if name != local.name.lower() or offered.clock_rate != local.clock_rate:
        return False
    if (offered.channels or 1) != (local.channels or 1):
        return False
    params = {k.lower(): v for k, v in offered.parameters.items()}
    mine = {k.lower(): v for k, v in local.parameters.items()}
    if name == "h264":
        if params.get("packetization-mode", "0") != mine.get("packetization-mode", "0"):
            return False
        theirs, ours = (
            h264_profile(params.get("profile-level-id")),
            h264_profile(mine.get("profile-level-id")),
        )
        return theirs is not None and ours is not None and theirs.profile == ours.profile
    if name == "vp9":
        return params.get("profile-id", "0") == mine.get("profile-id", "0")
    if name == "av1":
        return params.get("profile", "0") == mine.get("profile", "0")
    return True


def _answer_parameters(offered: Codec, local: CodecCapability) -> dict[str, str]:
    name = offered.name.lower()
    if name in ("red", "telephone-event") or not local.parameters:
        # red names the offerer's payload types; telephone-event its event list.
        return dict(offered.parameters)
    params = dict(local.parameters)
    if name == "h264":
        mine = {k.lower(): v for k, v in local.parameters.items()}
        theirs = {k.lower(): v for k, v in offered.parameters.items()}
        ours_id = mine.get("profile-level-id", "42000a")
        their_profile = h264_profile(theirs.get("profile-level-id"))
        our_profile = h264_profile(ours_id)
        if their_profile and our_profile:
            asymmetric = (
                theirs.get("level-asymmetry-allowed") == "1"
                and mine.get("level-asymmetry-allowed") == "1"
            )
            level = our_profile.level if asymmetric else min(our_profile.level, their_profile.level)
            params["profile-level-id"] = _h264_level_hex(level, ours_id)
        params["packetization-mode"] = theirs.get("packetization-mode", "0")
    return params


def negotiate_codecs(offered: list[Codec], local: list[CodecCapability]) -> list[Codec]:
    """The answer's codecs: the offered formats we support, in the offer's order.

    RFC 3264 §6.1 recommends the offer's relative order; payload types are the offerer's
    (RFC 9429 §5.3.1). Feedback is the intersection of offered and supported ``rtcp-fb``.
    RTX formats follow their primary (RFC 4588 §8.6); ``apt`` points at the offerer's PT.
    """
    accepted: dict[int, CodecCapability] = {}
    out: list[Codec] = []
    for codec in offered:
        if codec.name.lower() in ("rtx", "red", "ulpfec", "flexfec-03"):
            continue
        for capability in local:
            if codecs_match(codec, capability):
                accepted[codec.payload_type] = capability
                break
    for codec in offered:
        name = codec.name.lower()
        cap: CodecCapability | None = accepted.get(codec.payload_type)
        if name == "rtx":
            apt = codec.parameters.get("apt", "")
            primary = accepted.get(int(apt)) if apt.isascii() and apt.isdigit() else None
            if primary is None or not primary.rtx:
                continue
            out.append(Codec(codec.payload_type, codec.name, codec.clock_rate, None, {"apt": apt}))
            continue
        if name in ("red", "ulpfec", "flexfec-03"):
            cap = next((c for c in local if codecs_match(codec, c)), None)
            if cap is None:
                continue
            if name == "red":
                # RFC 2198: keep RED only if every payload type it carries is kept.
                refs = next(iter(codec.parameters), "").split("/")
                if not all(r.isascii() and r.isdigit() and int(r) in accepted for r in refs if r):
                    continue
        if cap is None:
            continue
        supported = {f.lower() for f in cap.feedback}
        feedback = [fb for fb in codec.feedback if fb.value.lower() in supported]
        out.append(
            Codec(
                codec.payload_type,
                codec.name,
                codec.clock_rate,
                codec.channels,
                _answer_parameters(codec, cap),
                feedback,
            )
        )
    return out
