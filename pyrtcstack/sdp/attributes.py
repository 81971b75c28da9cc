"""Typed values of the ``a=`` attributes WebRTC uses, each with ``parse`` and ``__str__``.

A :class:`~pyrtcstack.sdp.model.SessionDescription` stores every attribute as written
(name and raw value, in order); the classes here are the typed *views* its accessors
return. :data:`VALIDATORS` maps each modelled attribute name to the function the parser
runs on its value, so a malformed known attribute fails the whole description while an
unknown attribute is kept untouched (RFC 8866 §5.13, RFC 9429 §5.8).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pyrtcstack.sdp.candidate import Candidate
from pyrtcstack.sdp.errors import ParseError

__all__ = [
    "DIRECTIONS",
    "FINGERPRINT_SIZES",
    "ICE_CHARS",
    "SETUP_ROLES",
    "VALIDATORS",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "Msid",
    "Rid",
    "Rtcp",
    "RtcpFeedback",
    "RtpMap",
    "SctpMap",
    "SsrcAttribute",
    "SsrcGroup",
    "parse_fmtp_parameters",
]

#: Media direction attributes (RFC 8866 §6.7); absent means ``sendrecv``.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: ``a=setup`` values (RFC 4145 §4, RFC 8842 §5).
SETUP_ROLES = ("actpass", "active", "passive", "holdconn")
#: Digest size in octets of the hash names RFC 8122 §5 / RFC 4572 register.
FINGERPRINT_SIZES = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
    "md5": 16,
    "md2": 16,
}
_HEX = frozenset("0123456789abcdefABCDEF")
#: RFC 8122 §5: ``2UHEX *(":" 2UHEX)`` (any case is accepted, as before)
_FINGERPRINT_HEX = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2})*")
ICE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_U32 = (1 << 32) - 1


def _uint(text: str, what: str, high: int) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        raise ParseError(f"{what} is not a number: {text!r}")
    value = int(text)
    if value > high:
        raise ParseError(f"{what} {value} out of range 0..{high}")
    return value


def _payload_type(text: str) -> int:
    # RFC 3550 §5.1 / RFC 8866 §6.6: a 7-bit payload type.
    return _uint(text, "payload type", 127)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint:<hash> <XX:XX:...>`` (RFC 8122 §5); any hash name is kept."""

    algorithm: str
    value: str

    @classmethod
    def parse(cls, value: str) -> Fingerprint:
        algorithm, _, digest = value.partition(" ")
        digest = digest.strip()
        if not algorithm or not digest:
            raise ParseError(f"fingerprint needs '<hash> <hex>': {value!r}")
        octets = digest.split(":")
        if _FINGERPRINT_HEX.fullmatch(digest) is None:
            # one scan for the common case; the octet loop only names the bad octet
            for octet in octets:
                if len(octet) != 2 or not _HEX.issuperset(octet):
                    raise ParseError(f"fingerprint octet {octet!r} is not two hex digits")
        size = FINGERPRINT_SIZES.get(algorithm.lower())
        if size is not None and size != len(octets):
            raise ParseError(f"{algorithm} fingerprint has {len(octets)} octets, not {size}")
        return cls(algorithm, digest)

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"

    def digest(self) -> bytes:
        """The fingerprint as bytes (to compare with a certificate's hash)."""
        return bytes.fromhex(self.value.replace(":", ""))


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        pt, _, rest = value.partition(" ")
        parts = rest.strip().split("/")
        if len(parts) not in (2, 3) or not parts[0]:
            raise ParseError(f"rtpmap needs '<pt> <name>/<clock>[/<channels>]': {value!r}")
        clock = _uint(parts[1], "rtpmap clock rate", _U32)
        channels = _uint(parts[2], "rtpmap channels", 255) if len(parts) == 3 else None
        return cls(_payload_type(pt), parts[0], clock, channels)

    def __str__(self) -> str:
        tail = "" if self.channels is None else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


def parse_fmtp_parameters(params: str) -> dict[str, str]:
    """``k=v;k=v`` into a dict (RFC 8866 §6.15); a bare token maps to ``""``.

    Keys keep their case; later duplicates win. Non key-value formats (RFC 2198 ``red``
    ``111/111``, ``telephone-event`` ``0-16``) come back as one key with an empty value.
    """
    out: dict[str, str] = {}
    for raw in params.split(";"):
        item = raw.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        out[key.strip()] = val.strip() if sep else ""
    return out


@dataclass(frozen=True, slots=True)
class Fmtp:
    """``a=fmtp:<format> <format specific parameters>`` (RFC 8866 §6.15)."""

    format: str
    parameters: str

    @classmethod
    def parse(cls, value: str) -> Fmtp:
        fmt, _, params = value.partition(" ")
        if not fmt:
            raise ParseError(f"fmtp needs a format: {value!r}")
        return cls(fmt, params)

    def __str__(self) -> str:
        return f"{self.format} {self.parameters}"

    def as_dict(self) -> dict[str, str]:
        return parse_fmtp_parameters(self.parameters)


@dataclass(frozen=True, slots=True)
class RtcpFeedback:
    """``a=rtcp-fb:<pt|*> <type> [<parameter>]`` (RFC 4585 §4.2), e.g. ``nack pli``."""

    payload_type: str  #: a payload type number as written, or "*" for all
    type: str
    parameter: str | None = None

    @classmethod
    def parse(cls, value: str) -> RtcpFeedback:
        parts = value.split(None, 2)
        if len(parts) < 2:
            raise ParseError(f"rtcp-fb needs '<pt> <type>': {value!r}")
        if parts[0] != "*":
            _payload_type(parts[0])
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        tail = "" if self.parameter is None else f" {self.parameter}"
        return f"{self.payload_type} {self.type}{tail}"

    @property
    def value(self) -> str:
        """``type [parameter]`` without the payload type, e.g. ``"nack pli"``."""
        return self.type if self.parameter is None else f"{self.type} {self.parameter}"


@dataclass(frozen=True, slots=True)
class ExtMap:
    """``a=extmap:<id>[/<direction>] <uri> [<attributes>]`` (RFC 8285 §7)."""

    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    @classmethod
    def parse(cls, value: str) -> ExtMap:
        parts = value.split(None, 2)
        if len(parts) < 2:
            raise ParseError(f"extmap needs '<id> <uri>': {value!r}")
        ident, _, direction = parts[0].partition("/")
        # RFC 8285 §5: 1-14 one-byte, 1-255 two-byte; 4096-4351 as in RFC 5285 §7.
        number = _uint(ident, "extmap id", 4351)
        if number == 0 or 255 < number < 4096:
            raise ParseError(f"extmap id {number} is not valid")
        if direction and direction not in DIRECTIONS:
            raise ParseError(f"extmap direction {direction!r} is not valid")
        return cls(number, parts[1], direction or None, parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        ident = str(self.id) if self.direction is None else f"{self.id}/{self.direction}"
        tail = "" if self.attributes is None else f" {self.attributes}"
        return f"{ident} {self.uri}{tail}"


@dataclass(frozen=True, slots=True)
class Msid:
    """``a=msid:<stream id> [<track id>]`` (RFC 8830 §2); ``-`` means no stream."""

    stream_id: str
    track_id: str | None = None

    @classmethod
    def parse(cls, value: str) -> Msid:
        parts = value.split()
        if not 1 <= len(parts) <= 2:
            raise ParseError(f"msid needs '<stream id> [<track id>]': {value!r}")
        return cls(parts[0], parts[1] if len(parts) == 2 else None)

    def __str__(self) -> str:
        return self.stream_id if self.track_id is None else f"{self.stream_id} {self.track_id}"


@dataclass(frozen=True, slots=True)
class SsrcAttribute:
    """``a=ssrc:<ssrc> <attribute>[:<value>]`` (RFC 5576 §4.1), e.g. ``cname:x``."""

    ssrc: int
    attribute: str
    value: str | None = None

    @classmethod
    def parse(cls, value: str) -> SsrcAttribute:
        ssrc, _, rest = value.partition(" ")
        name, sep, val = rest.partition(":")
        if not name:
            raise ParseError(f"ssrc needs '<ssrc> <attribute>': {value!r}")
        return cls(_uint(ssrc, "ssrc", _U32), name, val if sep else None)

    def __str__(self) -> str:
        tail = "" if self.value is None else f":{self.value}"
        return f"{self.ssrc} {self.attribute}{tail}"


@dataclass(frozen=True, slots=True)
class SsrcGroup:
    """``a=ssrc-group:<semantics> <ssrc>...`` (RFC 5576 §4.2), e.g. ``FID`` for RTX."""

    semantics: str
    ssrcs: tuple[int, ...]

    @classmethod
    def parse(cls, value: str) -> SsrcGroup:
        parts = value.split()
        if not parts:
            raise ParseError("ssrc-group needs semantics")
        return cls(parts[0], tuple(_uint(p, "ssrc", _U32) for p in parts[1:]))

    def __str__(self) -> str:
        return " ".join([self.semantics, *map(str, self.ssrcs)])


@dataclass(frozen=True, slots=True)
class Rid:
    """``a=rid:<id> send|recv [<restrictions>]`` (RFC 8851 §10)."""

    id: str
    direction: str
    parameters: str | None = None

    @classmethod
    def parse(cls, value: str) -> Rid:
        parts = value.split(None, 2)
        if len(parts) < 2 or parts[1] not in ("send", "recv"):
            raise ParseError(f"rid needs '<id> send|recv': {value!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        tail = "" if self.parameters is None else f" {self.parameters}"
        return f"{self.id} {self.direction}{tail}"


@dataclass(frozen=True, slots=True)
class SctpMap:
    """Legacy ``a=sctpmap:<port> <app> [<streams>]`` (draft-ietf-mmusic-sctp-sdp-05)."""

    number: int
    app: str
    streams: int | None = None

    @classmethod
    def parse(cls, value: str) -> SctpMap:
        parts = value.split()
        if len(parts) not in (2, 3):
            raise ParseError(f"sctpmap needs '<port> <app> [<streams>]': {value!r}")
        streams = _uint(parts[2], "sctpmap streams", 65535) if len(parts) == 3 else None
        return cls(_uint(parts[0], "sctpmap port", 65535), parts[1], streams)

    def __str__(self) -> str:
        tail = "" if self.streams is None else f" {self.streams}"
        return f"{self.number} {self.app}{tail}"


@dataclass(frozen=True, slots=True)
class Group:
    """``a=group:<semantics> <mid>...`` (RFC 5888 §5), e.g. ``BUNDLE`` (RFC 9143)."""

    semantics: str
    mids: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, value: str) -> Group:
        parts = value.split()
        if not parts:
            raise ParseError("group needs semantics")
        return cls(parts[0], tuple(parts[1:]))

    def __str__(self) -> str:
        return " ".join([self.semantics, *self.mids])


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605 §2.1)."""

    port: int
    connection: str | None = None

    @classmethod
    def parse(cls, value: str) -> Rtcp:
        port, _, rest = value.partition(" ")
        rest = rest.strip()
        if rest and len(rest.split()) != 3:
            raise ParseError(f"rtcp address needs '<nettype> <addrtype> <address>': {value!r}")
        return cls(_uint(port, "rtcp port", 65535), rest or None)

    def __str__(self) -> str:
        return str(self.port) if self.connection is None else f"{self.port} {self.connection}"


def _ice_value(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        # RFC 8839 §5.4 wants 4-256 (ufrag) / 22-256 (pwd) ice-chars (ALPHA / DIGIT /
        # "+" / "/"). Browsers accept more (libp2p puts ':' in its ufrag, Jitsi sends a
        # 7-char pwd), so parsing only requires 1-256 visible ASCII characters;
        # `sdp check` (pyrtcstack.sdp.check) reports the RFC violations.
        if not (0 < len(value) <= 256 and value.isascii() and value.isprintable()):
            raise ParseError(f"{what} must be 1-256 visible characters: {value!r}")
        if " " in value:
            raise ParseError(f"{what} contains a space: {value!r}")
        return value

    return check


def _token(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value or value != value.strip() or " " in value:
            raise ParseError(f"{what} must be one token: {value!r}")
        return value

    return check


def _setup(value: str) -> str:
    if value not in SETUP_ROLES:
        raise ParseError(f"setup must be one of {', '.join(SETUP_ROLES)}: {value!r}")
    return value


def _port(value: str) -> int:
    return _uint(value, "sctp-port", 65535)


def _max_message_size(value: str) -> int:
    return _uint(value, "max-message-size", (1 << 64) - 1)


def _candidate(value: str) -> Candidate:
    return Candidate.parse(value)


# Fast validators for the attributes a browser SDP is made of. Each accepts only values
# that are certainly valid and hands everything else to the full parser, so a value is
# accepted exactly when the typed accessor will parse it (tests/test_sdp_parse.py checks).
_PT_STRINGS = frozenset(str(i) for i in range(128))
_EXTMAP_IDS = frozenset(str(i) for i in range(1, 256))


def _fast_rtpmap(value: str) -> object:
    pt, _, rest = value.partition(" ")
    if pt in _PT_STRINGS and rest == rest.strip():
        parts = rest.split("/")
        clock = parts[1] if len(parts) in (2, 3) else ""
        if (
            parts[0]
            and 0 < len(clock) <= 9
            and clock.isascii()
            and clock.isdigit()
            and (len(parts) == 2 or parts[2] in ("1", "2"))
        ):
            return None
    return RtpMap.parse(value)


def _fast_rtcp_fb(value: str) -> object:
    parts = value.split(None, 2)
    if len(parts) >= 2 and (parts[0] == "*" or parts[0] in _PT_STRINGS):
        return None
    return RtcpFeedback.parse(value)


def _fast_fmtp(value: str) -> object:
    if value[:1] not in ("", " "):
        return None
    return Fmtp.parse(value)


def _fast_ssrc(value: str) -> object:
    ssrc, _, rest = value.partition(" ")
    if 0 < len(ssrc) <= 9 and ssrc.isascii() and ssrc.isdigit() and rest[:1] not in ("", ":"):
        return None
    return SsrcAttribute.parse(value)


def _fast_extmap(value: str) -> object:
    parts = value.split(None, 2)
    if len(parts) >= 2 and parts[0] in _EXTMAP_IDS:
        return None
    return ExtMap.parse(value)


#: Attribute name → validator run on its value at parse time (flags are not listed).
VALIDATORS: dict[str, Callable[[str], object]] = {
    "candidate": _candidate,
    "fingerprint": Fingerprint.parse,
    "rtpmap": _fast_rtpmap,
    "fmtp": _fast_fmtp,
    "rtcp-fb": _fast_rtcp_fb,
    "extmap": _fast_extmap,
    "msid": Msid.parse,
    "ssrc": _fast_ssrc,
    "ssrc-group": SsrcGroup.parse,
    "rid": Rid.parse,
    "sctpmap": SctpMap.parse,
    "group": Group.parse,
    "rtcp": Rtcp.parse,
    "ice-ufrag": _ice_value("ice-ufrag"),
    "ice-pwd": _ice_value("ice-pwd"),
    "mid": _token("mid"),
    "setup": _setup,
    "sctp-port": _port,
    "max-message-size": _max_message_size,
}
