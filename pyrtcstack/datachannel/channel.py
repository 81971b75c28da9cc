"""A data channel shaped like the W3C RTCDataChannel (webrtc-pc §6.2), sans-I/O.

Its methods only queue work in the owning
:class:`~pyrtcstack.datachannel.manager.DataChannelManager`; the driver drains the manager
as for any core. Attribute names are the W3C ones in snake case; ``ready_state`` uses the
W3C strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.errors import LocalProtocolError

if TYPE_CHECKING:
    from .manager import DataChannelManager

__all__ = ["ChannelState", "DataChannel", "InvalidStateError", "OperationError"]


def _to_usv(text: str) -> str:
    """WebIDL USVString: each lone surrogate becomes U+FFFD (so UTF-8 encoding works)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class InvalidStateError(LocalProtocolError):
    """send() on a channel that is not open (W3C InvalidStateError)."""


class OperationError(InvalidStateError):
    """W3C OperationError from createDataChannel: the ``id`` is in use or beyond the
    association's streams, or no free id is left (webrtc-pc §6.2). A subclass of
    :class:`InvalidStateError`, which these cases raised before, so old handlers still work."""


class ChannelState:
    """What the manager keeps about one channel's stream, beside the W3C surface.

    Held in :attr:`DataChannel.stream_state`; written only by the
    :class:`~pyrtcstack.datachannel.manager.DataChannelManager`, read by tests and learners."""

    __slots__ = (
        "acked",
        "incoming_reset",
        "outgoing_reset",
        "remote_bytes",
        "reset_requested",
        "user_sent",
    )

    def __init__(self, acked: bool) -> None:
        #: DCEP ACK seen or implied (RFC 8832 §6: messages stay ordered until then).
        self.acked = acked
        #: The peer reset its outgoing stream / ours is reset (RFC 8831 §6.7).
        self.incoming_reset = False
        self.outgoing_reset = False
        #: We asked SCTP to reset our outgoing stream (asked once).
        self.reset_requested = False
        #: The user sent a message on this channel.
        self.user_sent = False
        #: Label + protocol bytes, for a channel the peer opened (the manager's limits).
        self.remote_bytes: int | None = None

    def __repr__(self) -> str:
        return (
            f"<ChannelState acked={self.acked} user_sent={self.user_sent} "
            f"reset in={self.incoming_reset} out={self.outgoing_reset}>"
        )


class DataChannel:
    """One data channel (see the module docstring)."""

    def __init__(  # noqa: PLR0917
        self,
        manager: DataChannelManager,
        label: str,
        ordered: bool,
        max_packet_life_time: int | None,
        max_retransmits: int | None,
        protocol: str,
        negotiated: bool,
        id: int | None,
        priority: int,
    ) -> None:
        self._manager = manager
        self.label = label
        self.ordered = ordered
        #: Milliseconds, as in the W3C API and DCEP.
        self.max_packet_life_time = max_packet_life_time
        self.max_retransmits = max_retransmits
        self.protocol = protocol
        self.negotiated = negotiated
        self.id = id
        #: DCEP priority (RFC 8831 §6.4): 128 very-low, 256 low, 512 medium, 1024 high.
        self.priority = priority
        self.ready_state = "connecting"
        self._threshold = 0
        #: The manager's bookkeeping for this channel's stream (not part of the W3C API).
        self.stream_state = ChannelState(acked=negotiated)

    def __repr__(self) -> str:
        return f"<DataChannel id={self.id} label={self.label!r} {self.ready_state}>"

    @property
    def buffered_amount(self) -> int:
        """Bytes sent but not yet acknowledged by the peer (falls on SACK, not on queue)."""
        if self.id is None:
            return 0
        return self._manager.association.buffered_amount(self.id)

    @property
    def buffered_amount_low_threshold(self) -> int:
        return self._threshold

    @buffered_amount_low_threshold.setter
    def buffered_amount_low_threshold(self, value: int) -> None:
        if value < 0:
            raise ValueError("threshold must be >= 0")
        self._threshold = value
        self._manager.touched = True
        if self.id is not None:
            self._manager.association.set_buffered_amount_low_threshold(self.id, value)

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message (RFC 8831 §6.6), as W3C ``RTCDataChannel.send``.

        A ``str`` is a text message: UTF-8 with PPID 51 (lone surrogates become U+FFFD,
        as the W3C USVString conversion does). ``bytes``, ``bytearray`` and ``memoryview``
        are binary, PPID 53. Anything else is a :class:`TypeError` that says so (an ``int``
        is not silently turned into that many zero bytes). Raises
        :class:`InvalidStateError` unless open and
        :class:`~pyrtcstack.datachannel.MessageTooLargeError` above the peer's
        max-message-size."""
        if isinstance(data, str):
            if not data.isascii():
                data = _to_usv(data)
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                "DataChannel.send() takes str (a text message) or bytes, bytearray or "
                f"memoryview (a binary message), not {type(data).__name__}"
            )
        if self.ready_state != "open":
            raise InvalidStateError(f"data channel is {self.ready_state}")
        self._manager.send(self, data)

    def close(self) -> None:
        """Start the closing procedure (RFC 8831 §6.7: reset the outgoing stream)."""
        self._manager.close_channel(self)
