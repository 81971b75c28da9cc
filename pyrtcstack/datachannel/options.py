"""The options of one data channel: W3C ``RTCDataChannelInit`` as one validated value.

``create_data_channel`` exists at three layers (the asyncio ``PeerConnection``, the sans-I/O
``PeerConnectionCore`` and :class:`~pyrtcstack.datachannel.DataChannelManager`). Each keeps
its keyword arguments, builds one :class:`ChannelOptions` (or takes the one it is handed)
and passes it down, so the fields, their defaults and their checks are written here only.

The checks are those of webrtc-pc's ``createDataChannel`` steps and of the WebIDL
conversion of ``RTCDataChannelInit`` (``[EnforceRange] unsigned short`` numbers, the
``RTCPriorityType`` enum), all of which throw ``TypeError``:

* ``max_packet_life_time`` and ``max_retransmits`` both set;
* a number outside 0..65535, or 65535 as ``id`` (stream 65535 is reserved, RFC 8832 §6);
* ``negotiated=True`` without an ``id``;
* ``label`` or ``protocol`` not a str, or longer than 65,535 UTF-8 bytes (the DCEP length
  fields, RFC 8832 §5.1); a lone surrogate in either becomes U+FFFD (WebIDL USVString);
* a ``priority`` that is not one of the four ``RTCPriorityType`` names nor a DCEP value
  0..65535.

An ``id`` another channel already uses is ``OperationError``; the manager checks that (it
knows the channels). Deliberate deviations from webrtc-pc, written in docs/datachannel.md:
an ``id`` is honoured for an in-band channel too (webrtc-pc ignores it unless
``negotiated``), and invalid options raise ``TypeError`` even on a closed connection
(webrtc-pc checks "closed" first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .channel import _to_usv

__all__ = ["DCEP_PRIORITY", "MAX_CHANNEL_ID", "ChannelOptions", "Priority", "checked_label"]

#: RFC 8832 §6: stream ids 0..65534 (65535 is reserved).
MAX_CHANNEL_ID = 65534
_MAX_FIELD = 0xFFFF

#: W3C ``RTCPriorityType`` (webrtc-priority), lowest first.
Priority = Literal["very-low", "low", "medium", "high"]

#: RTCPriorityType → the 16-bit DCEP priority of DATA_CHANNEL_OPEN (RFC 8832 §5.1): RFC 8831
#: §6.4's "below normal", "normal", "high" and "extra high" (webrtc-priority maps them so).
DCEP_PRIORITY: dict[str, int] = {"very-low": 128, "low": 256, "medium": 512, "high": 1024}


def _check_uint16(name: str, value: object, top: int = _MAX_FIELD) -> None:
    # WebIDL [EnforceRange] unsigned short: an integer in range, else TypeError.
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= top:
        raise TypeError(f"{name} {value} out of range 0..{top}")


def checked_label(label: object) -> str:
    """``label`` as the channel keeps it: ``TypeError`` unless it is a str of at most 65,535
    UTF-8 bytes (webrtc-pc); a lone surrogate becomes U+FFFD (a WebIDL USVString)."""
    return _checked_text("label", label)


def _checked_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if len(value) > _MAX_FIELD:  # at least one UTF-8 byte per code point: no encoding needed
        raise TypeError(f"{name} must be at most 65535 bytes")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        value = _to_usv(value)
        size = len(value.encode("utf-8"))
    if size > _MAX_FIELD:
        raise TypeError(f"{name} must be at most 65535 bytes")
    return value


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """W3C ``RTCDataChannelInit`` in snake_case, checked when made (see the module docstring).

    ``max_packet_life_time`` is in milliseconds. ``priority`` is an ``RTCPriorityType``
    name or a raw DCEP priority; :attr:`dcep_priority` is what DATA_CHANNEL_OPEN carries.
    """

    ordered: bool = True
    max_packet_life_time: int | None = None
    max_retransmits: int | None = None
    protocol: str = ""
    negotiated: bool = False
    id: int | None = None
    priority: Priority | int = "low"

    def __post_init__(self) -> None:
        if not isinstance(self.ordered, bool):
            raise TypeError(f"ordered must be a bool, not {type(self.ordered).__name__}")
        if not isinstance(self.negotiated, bool):
            raise TypeError(f"negotiated must be a bool, not {type(self.negotiated).__name__}")
        if self.max_packet_life_time is not None:
            _check_uint16("max_packet_life_time", self.max_packet_life_time)
        if self.max_retransmits is not None:
            _check_uint16("max_retransmits", self.max_retransmits)
        # frozen: the USVString form replaces a protocol with a lone surrogate
        object.__setattr__(self, "protocol", _checked_text("protocol", self.protocol))
        if self.id is not None:
            _check_uint16("id", self.id, MAX_CHANNEL_ID)
        if isinstance(self.priority, str):
            if self.priority not in DCEP_PRIORITY:
                raise TypeError(f"priority {self.priority!r} is not an RTCPriorityType")
        else:
            _check_uint16("priority", self.priority)
        if self.negotiated and self.id is None:
            raise TypeError("a negotiated channel needs an id")
        if self.max_packet_life_time is not None and self.max_retransmits is not None:
            raise TypeError("max_packet_life_time and max_retransmits are exclusive")

    @property
    def dcep_priority(self) -> int:
        """The DCEP priority field (RFC 8832 §5.1) for :attr:`priority`."""
        if isinstance(self.priority, str):
            return DCEP_PRIORITY[self.priority]
        return self.priority
