"""Data channels over one SCTP association (RFC 8831, DCEP RFC 8832), sans-I/O.

:class:`DataChannelManager` owns an :class:`~pyrtcstack.sctp.association.Association` and
has the packet core's shape (``receive_packets``, ``packets_to_send``, ``get_timer``,
``handle_timer``, ``next_event``), so what a DTLS connection's ``take_application_data``
returns feeds it directly (RFC 8261: one SCTP packet per DTLS record). An API call that
queues output (a send, a close, DCEP) makes ``get_timer`` return the last time the
association saw, so the driver drains at once (no ``flush``).

* Stream ids: the DTLS client uses even ids, the server odd ids (RFC 8832 §6); a channel
  created before the role is known gets its id when :meth:`set_dtls_role` is called.
* In-band channels send DATA_CHANNEL_OPEN and are ``open`` at once (RFC 8832 §6: the
  opener may send before the ACK, but ordered until the ACK or any other message arrives,
  which counts as an implicit ACK). Negotiated channels send nothing and open when the
  association is up.
* Closing resets the outgoing stream (RFC 8831 §6.7, RFC 6525); a peer's reset of its
  outgoing stream is answered by resetting ours; the channel is ``closed`` when both
  directions are reset, and its id can be used again.
* Messages stay queued *inside the association* until :meth:`next_event` hands them over,
  so an application that does not read holds at most the receive window in memory.
* A peer may open at most ``max_remote_channels`` channels at a time, whose labels and
  protocols take at most ``max_remote_label_bytes`` bytes together; an OPEN beyond either
  is refused by resetting its stream (counted in ``refused_opens``).
* :meth:`next_event` never raises: a channel that cannot be announced when the
  association comes up (an ABORT right after the handshake in the same burst, an id the
  peer's stream count does not reach, an OPEN over the peer's max-message-size) gets a
  :class:`ChannelError` and is closed (:class:`ChannelClosed`).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..common.core import Event, EventQueue
from ..sctp import (
    Association,
    AssociationClosed,
    AssociationClosedError,
    AssociationEstablished,
    BufferedAmountLow,
    IncomingStreamsReset,
    MessageReceived,
    OutgoingStreamsReset,
    SctpConfig,
    SctpError,
    State,
    StreamResetFailed,
)
from .channel import DataChannel, OperationError
from .dcep import (
    ChannelType,
    DataChannelAck,
    DataChannelOpen,
    DcepParseError,
    Ppid,
    decode_dcep,
)
from .events import (
    ChannelBufferedAmountLow,
    ChannelClosed,
    ChannelClosing,
    ChannelError,
    ChannelMessage,
    ChannelOpen,
    DataChannelOpened,
    TransportClosed,
    TransportEstablished,
)
from .options import MAX_CHANNEL_ID, ChannelOptions, Priority, checked_label

__all__ = ["DataChannelManager"]

#: Channels a peer may have open at a time by DATA_CHANNEL_OPEN (libwebrtc negotiates 1024
#: SCTP streams, ``kMaxSctpStreams``, so a browser peer never has more).
DEFAULT_MAX_REMOTE_CHANNELS = 1024
#: Bytes of label + protocol (UTF-8) of the channels a peer has open at a time; each field
#: may carry 65,535 bytes (RFC 8832 §5.1), so 1024 channels could otherwise hold 128 MiB.
DEFAULT_MAX_REMOTE_LABEL_BYTES = 1 << 20


class DataChannelManager:
    """All data channels of one peer connection (see the module docstring)."""

    def __init__(
        self,
        config: SctpConfig | None = None,
        *,
        dtls_role: str | None = None,
        rng: random.Random | None = None,
        max_remote_channels: int = DEFAULT_MAX_REMOTE_CHANNELS,
        max_remote_label_bytes: int = DEFAULT_MAX_REMOTE_LABEL_BYTES,
    ) -> None:
        self.association = Association(config, rng)
        #: Limits on what a peer may open (see the module docstring); settable.
        self.max_remote_channels = max_remote_channels
        self.max_remote_label_bytes = max_remote_label_bytes
        #: DATA_CHANNEL_OPENs refused for those limits (their streams are reset).
        self.refused_opens = 0
        self._remote_channels = 0
        self._remote_label_bytes = 0
        #: The core contract's ``receive_packet(data, now)``: one SCTP packet (the plaintext
        #: of a DTLS record) goes straight to the association (no wrapper call per packet).
        self.receive_packet: Callable[[bytes, float], None] = self.association.receive_packet
        #: Several packets in order (a burst of DTLS records), as ``receive_packet`` each.
        self.receive_packets: Callable[[list[bytes], float], None] = (
            self.association.receive_packets
        )
        # a list-based FIFO: an empty deque is ~0.75 KiB per connection
        self._events: EventQueue[Event] = EventQueue()
        self._channels: dict[int, DataChannel] = {}
        self._unassigned: list[DataChannel] = []
        self._is_client: bool | None = None
        self.dropped_messages = 0
        #: set by every API call (a send, a close, a new channel, a threshold): the
        #: association may have output or a new deadline that the owner has not read
        #: (the peer connection keeps SCTP's deadline while this stays False)
        self.touched = False
        if dtls_role is not None:
            self.set_dtls_role(dtls_role)

    # == API ===============================================================================
    def set_dtls_role(self, role: str) -> None:
        """``"client"`` or ``"server"``: the parity of our stream ids (RFC 8832 §6)."""
        self.touched = True
        if role not in ("client", "server"):
            raise ValueError("role must be 'client' or 'server'")
        self._is_client = role == "client"
        pending, self._unassigned = self._unassigned, []
        for channel in pending:
            channel.id = self._allocate_id()
            self._channels[channel.id] = channel
            self._apply_threshold(channel)
        if self.association.is_established:
            for channel in pending:
                self._announce(channel)

    def set_max_packet_size(self, size: int) -> None:
        """The packet size of the association, before it starts
        (:meth:`.Association.set_max_packet_size`)."""
        self.association.set_max_packet_size(size)

    def connect(self, now: float) -> None:
        """Start the association (either side, or both, may call it: RFC 8841 §9.3)."""
        self.touched = True
        self.association.connect(now)

    def create_data_channel(
        self,
        label: str = "",
        *,
        ordered: bool = True,
        max_packet_life_time: int | None = None,
        max_retransmits: int | None = None,
        protocol: str = "",
        negotiated: bool = False,
        id: int | None = None,
        priority: Priority | int = "low",
    ) -> DataChannel:
        """createDataChannel (webrtc-pc §6.2) with the ``RTCDataChannelInit`` members as
        keywords; :class:`ChannelOptions` checks them (``max_packet_life_time`` in ms).
        The peer connection's ``create_data_channel`` (core and asyncio) has the same
        parameters and ends here (``tests/test_datachannel_options.py`` compares them)."""
        return self.create_channel(
            label,
            ChannelOptions(
                ordered=ordered,
                max_packet_life_time=max_packet_life_time,
                max_retransmits=max_retransmits,
                protocol=protocol,
                negotiated=negotiated,
                id=id,
                priority=priority,
            ),
        )

    def create_channel(self, label: str, options: ChannelOptions) -> DataChannel:
        """A new channel with checked ``options``: ``TypeError`` for a bad label,
        :class:`OperationError` for an ``id`` another channel uses (webrtc-pc §6.2)."""
        self.touched = True
        label = checked_label(label)
        id = options.id
        if id is not None:
            if id in self._channels:
                raise OperationError(f"id {id} is in use")
            streams = self.association.outbound_streams
            if self.association.is_established and streams and id >= streams:
                raise OperationError(f"id {id} is beyond the association's {streams} streams")
        channel = DataChannel(
            self,
            label,
            options.ordered,
            options.max_packet_life_time,
            options.max_retransmits,
            options.protocol,
            options.negotiated,
            id,
            options.dcep_priority,
        )
        if id is None and self._is_client is None:
            self._unassigned.append(channel)
            return channel
        if id is None:
            channel.id = self._allocate_id()
        assert channel.id is not None
        self._channels[channel.id] = channel
        if self.association.is_established:
            self._announce(channel)
        return channel

    @property
    def max_message_size(self) -> int:
        """Ours, for ``a=max-message-size`` in our SDP (RFC 8841 §6)."""
        return self.association.config.max_message_size

    @property
    def remote_max_message_size(self) -> int:
        """The peer's ``a=max-message-size`` (65536 when absent, 0 = no limit)."""
        return self.association.remote_max_message_size

    @remote_max_message_size.setter
    def remote_max_message_size(self, value: int) -> None:
        self.association.remote_max_message_size = value

    @property
    def channels(self) -> list[DataChannel]:
        return list(self._channels.values())

    def all_channels(self) -> list[DataChannel]:
        """:attr:`channels` and those still waiting for a stream id (made before the DTLS
        role was known, RFC 8832 §6)."""
        return [*self._channels.values(), *self._unassigned]

    def close(self) -> None:
        """Graceful SCTP shutdown (RFC 9260 §9.2); channels close when it completes."""
        self.touched = True
        self.association.shutdown()

    # == the core ==========================================================================
    def packets_to_send(self, now: float) -> list[bytes]:
        return self.association.packets_to_send(now)

    def get_timer(self) -> float | None:
        """The association's: its next deadline, or the last time it saw while output an
        API call queued (a send, a close, DCEP) waits, so the driver drains at once (no
        ``flush``); the same while an event of ours waits (a channel closed without
        the association, DCEP's ChannelOpen)."""
        if self._events:
            return self.association.now
        return self.association.get_timer()

    def handle_timer(self, now: float) -> None:
        self.association.handle_timer(now)

    def next_event(self) -> Event | None:
        """Pop the next event. Association events are translated lazily, so unread
        messages stay counted against the SCTP receive window."""
        events = self._events
        while not events:
            raw = self.association.next_item()
            if raw is None:
                return None
            if isinstance(raw, tuple):
                self._on_message(raw[0], raw[1], raw[2])
            else:
                self._translate(raw)
        return events.pop()

    # == internals =========================================================================
    def _allocate_id(self) -> int:
        start = 0 if self._is_client else 1
        limit = min(self.association.outbound_streams or 65535, MAX_CHANNEL_ID + 1)
        for sid in range(start, limit, 2):
            if sid not in self._channels:
                return sid
        raise OperationError("no free stream id")  # webrtc-pc §6.2 createDataChannel

    def _apply_threshold(self, channel: DataChannel) -> None:
        if channel.id is not None:
            self.association.set_buffered_amount_low_threshold(
                channel.id, channel.buffered_amount_low_threshold
            )

    def _announce(self, channel: DataChannel) -> None:
        """The association is up: send DATA_CHANNEL_OPEN (or nothing if negotiated)."""
        if channel.ready_state != "connecting" or channel.id is None:
            return
        self._apply_threshold(channel)
        if not channel.negotiated:
            ctype: int
            if channel.max_retransmits is not None:
                ctype, rel = ChannelType.PARTIAL_RELIABLE_REXMIT, channel.max_retransmits
            elif channel.max_packet_life_time is not None:
                ctype, rel = ChannelType.PARTIAL_RELIABLE_TIMED, channel.max_packet_life_time
            else:
                ctype, rel = ChannelType.RELIABLE, 0
            if not channel.ordered:
                ctype |= 0x80
            msg = DataChannelOpen(ctype, channel.priority, rel, channel.label, channel.protocol)
            # RFC 8832 §6: DCEP messages are sent ordered and reliably.
            try:
                self.association.send(channel.id, msg.encode(), Ppid.DCEP)
            except SctpError as exc:
                # The association ended in the same burst as it was established (an ABORT
                # right after COOKIE ACK; events are translated lazily), the peer accepts
                # fewer streams than this id, or the OPEN is over its max-message-size:
                # report, never raise from next_event.
                self._events.push(ChannelError(channel, f"cannot open: {exc}"))
                self._finish(channel)
                return
        channel.ready_state = "open"
        self._events.push(ChannelOpen(channel))

    def send(self, channel: DataChannel, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message of an open *channel* (what :meth:`DataChannel.send` asks, after
        its checks): PPID by type (RFC 8831 §6.6), ordered until DCEP ACK (RFC 8832 §6)."""
        self.touched = True
        assert channel.id is not None
        if isinstance(data, str):
            payload = data.encode("utf-8")
            ppid = Ppid.STRING if payload else Ppid.STRING_EMPTY
        else:
            payload = bytes(data)
            ppid = Ppid.BINARY if payload else Ppid.BINARY_EMPTY
        if not payload:
            payload = b"\x00"  # RFC 8831 §6.6: empty messages carry one ignored byte
        lifetime = channel.max_packet_life_time
        state = channel.stream_state
        state.user_sent = True
        self.association.send(
            channel.id,
            payload,
            ppid,
            unordered=not channel.ordered and state.acked,
            max_retransmits=channel.max_retransmits,
            lifetime=None if lifetime is None else lifetime / 1000.0,
            now=self.association.now,
        )

    def close_channel(self, channel: DataChannel) -> None:
        """Start closing *channel* (what :meth:`DataChannel.close` asks; RFC 8831 §6.7)."""
        self.touched = True
        if channel.ready_state in ("closing", "closed"):
            return
        if channel.id is None or self.association.state is State.CLOSED:
            if channel in self._unassigned:
                self._unassigned.remove(channel)
            self._finish(channel)
            return
        channel.ready_state = "closing"
        if not self.association.is_established:
            self._finish(channel)
            return
        self._request_reset(channel)

    def _request_reset(self, channel: DataChannel) -> None:
        if not channel.stream_state.reset_requested and channel.id is not None:
            channel.stream_state.reset_requested = True
            self.association.reset_streams([channel.id])

    def _finish(self, channel: DataChannel) -> None:
        # Forgotten even when already "closed": the peer connection's close() marks its
        # channels closed itself before the ABORT's AssociationClosed comes here, and a
        # closed channel kept would hold the manager (its ``_manager``) in a reference
        # cycle that only the garbage collector frees.
        if channel.id is not None and self._channels.get(channel.id) is channel:
            del self._channels[channel.id]
        if channel.ready_state == "closed":
            return
        channel.ready_state = "closed"
        if channel.stream_state.remote_bytes is not None:
            self._remote_channels -= 1
            self._remote_label_bytes -= channel.stream_state.remote_bytes
            channel.stream_state.remote_bytes = None
        self._events.push(ChannelClosed(channel))

    def _translate(self, event: Event) -> None:
        kind = type(event)
        if kind is MessageReceived:
            assert isinstance(event, MessageReceived)
            self._on_message(event.stream_id, event.ppid, event.data)
        elif kind is BufferedAmountLow:
            assert isinstance(event, BufferedAmountLow)
            channel = self._channels.get(event.stream_id)
            # Only once the application sent something: the DCEP OPEN/ACK bytes that
            # precede user data are not the application's to wait for.
            if (
                channel is not None
                and channel.ready_state != "closed"
                and channel.stream_state.user_sent
            ):
                self._events.push(ChannelBufferedAmountLow(channel))
        elif kind is AssociationEstablished:
            self._events.push(TransportEstablished())
            for channel in list(self._channels.values()):
                self._announce(channel)
        elif kind is IncomingStreamsReset:
            assert isinstance(event, IncomingStreamsReset)
            for sid in event.stream_ids:
                channel = self._channels.get(sid)
                if channel is None:
                    continue
                channel.stream_state.incoming_reset = True
                if channel.ready_state == "open":
                    channel.ready_state = "closing"
                    self._events.push(ChannelClosing(channel))
                # RFC 8831 §6.7: answer by resetting our outgoing stream too.
                self._request_reset(channel)
                if channel.stream_state.outgoing_reset:
                    self._finish(channel)
        elif kind is OutgoingStreamsReset or kind is StreamResetFailed:
            assert isinstance(event, OutgoingStreamsReset | StreamResetFailed)
            for sid in event.stream_ids:
                channel = self._channels.get(sid)
                if channel is None:
                    continue
                channel.stream_state.outgoing_reset = True
                if isinstance(event, StreamResetFailed):
                    self._events.push(ChannelError(channel, f"reset failed ({event.result})"))
                    self._finish(channel)
                elif channel.stream_state.incoming_reset:
                    self._finish(channel)
        elif kind is AssociationClosed:
            assert isinstance(event, AssociationClosed)
            for channel in [*self._channels.values(), *self._unassigned]:
                self._finish(channel)
            self._unassigned = []
            self._events.push(TransportClosed(event.error))

    def _on_message(self, sid: int, ppid: int, payload: bytes) -> None:
        channel = self._channels.get(sid)
        if ppid == Ppid.DCEP:
            try:
                msg = decode_dcep(payload)
            except DcepParseError:
                self.dropped_messages += 1
                return
            if isinstance(msg, DataChannelAck):
                if channel is not None:
                    channel.stream_state.acked = True
                return
            self._on_open(sid, msg)
            return
        if channel is None or channel.ready_state == "closed":
            self.dropped_messages += 1
            return
        channel.stream_state.acked = True  # RFC 8832 §6: any user message is an implicit ACK
        if ppid in {53, 52}:  # Ppid.BINARY, Ppid.BINARY_PARTIAL (the common case)
            data: str | bytes = payload
        elif ppid in (Ppid.STRING, Ppid.STRING_PARTIAL):
            data = payload.decode("utf-8", errors="replace")
        elif ppid == Ppid.STRING_EMPTY:
            data = ""
        elif ppid == Ppid.BINARY_EMPTY:
            data = b""
        else:
            self.dropped_messages += 1
            return
        self._events.push(ChannelMessage(channel, data))

    def _on_open(self, sid: int, msg: DataChannelOpen) -> None:
        """RFC 8832 §6: create the channel and ACK; a bad id resets the stream (DC-08)."""
        wrong_parity = self._is_client is not None and (sid % 2 == 0) == self._is_client
        if sid in self._channels or wrong_parity or sid > MAX_CHANNEL_ID:
            self.dropped_messages += 1
            if sid not in self._channels:
                self.association.reset_streams([sid])
            return
        label_bytes = len(msg.label.encode()) + len(msg.protocol.encode())
        if (
            self._remote_channels >= self.max_remote_channels
            or self._remote_label_bytes + label_bytes > self.max_remote_label_bytes
        ):
            # Our limits on what a peer may open: refuse as for a bad id (RFC 8832 §6 has
            # no refusal message; resetting the stream closes it on the peer's side).
            self.refused_opens += 1
            self.dropped_messages += 1
            self.association.reset_streams([sid])
            return
        try:
            self.association.send(sid, DataChannelAck().encode(), Ppid.DCEP)
        except AssociationClosedError:
            # The association ended in the same burst (an ABORT right after this OPEN;
            # events are translated lazily): no channel to open.
            self.dropped_messages += 1
            return
        channel = DataChannel(
            self,
            msg.label,
            msg.ordered,
            msg.max_packet_life_time,
            msg.max_retransmits,
            msg.protocol,
            False,
            sid,
            msg.priority,
        )
        channel.stream_state.acked = True
        channel.stream_state.remote_bytes = label_bytes
        self._remote_channels += 1
        self._remote_label_bytes += label_bytes
        self._channels[sid] = channel
        channel.ready_state = "open"
        self._events.push(DataChannelOpened(channel))
        self._events.push(ChannelOpen(channel))
