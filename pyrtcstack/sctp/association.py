"""The SCTP association (RFC 9260) as a sans-I/O core carrying data channels over DTLS.

SCTP packets go in and out as bytes (RFC 8261 §5: each SCTP packet is the payload of one
DTLS application-data record); the association never sees an address. It is a
:class:`~pyrtcstack.common.core.PacketCore`:

``receive_packets(packets, now)``   SCTP packets that arrived together, in order (the
                                    plaintexts of DTLS records); ``receive_packet(data,
                                    now)`` is the one-packet case
``packets_to_send(now)``            SCTP packets to hand to DTLS
``get_timer()`` / ``handle_timer(now)``   the earliest deadline and acting on it; output
                                    queued by an API call (``send``...) is a deadline of
                                    "now"
``next_event()``                    :mod:`pyrtcstack.sctp.events`

The association is made of parts, each a small object with its own state:

- :class:`~.handshake.Handshake` (§5.1, §5.2): INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK
  with an HMAC-signed, time-limited cookie, timer T1; both ends may call :meth:`connect`
  (RFC 8841 §9.3 lets both initiate, §5.2 resolves the collision);
- :class:`~.sender.Sender` (§6.1, §6.3, §7): TSNs, retransmission, congestion control;
- :class:`~.receiver.Receiver` (§6.2, §6.5, §6.9): TSN tracking and reassembly;
- :class:`~.acks.Acks` (§6.2): when a SACK is due, and the SACK itself;
- :class:`~.heartbeat.Heartbeat` (§8.3), :class:`~.shutdown.Shutdown` (§9.2),
  :class:`~.reconfig.StreamReset` (RFC 6525);
- :class:`~.outbox.Outbox`: what the parts have to say, until ``packets_to_send``.

The receive path lives in :mod:`.bulk` (a batch of packets, the bulk of a transfer in
line) and :mod:`.dispatch` (one packet: checks, then each chunk to its part).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import replace

from ..common.core import Event, default_rng
from . import bulk
from .acks import MAX_PENDING_SACKS, Acks
from .chunks import AbortChunk
from .config import SctpConfig
from .crc32c import crc32c, crc32c_extend
from .errors import (
    AssociationClosedError,
    MessageTooLargeError,
    SctpError,
    StreamError,
)
from .events import (
    AssociationClosed,
    AssociationEstablished,
    BufferedAmountLow,
    MessageReceived,
)
from .handshake import FEATURE_FORWARD_TSN, FEATURE_RECONFIG, FEATURE_ZERO_CHECKSUM, Handshake, Peer
from .heartbeat import Heartbeat
from .outbox import Outbox
from .params import CauseCode, ErrorCause
from .receiver import MIN_CHARGE, RawMessage, Receiver
from .reconfig import StreamReset
from .sender import OutMessage, Sender
from .shutdown import Shutdown
from .state import AssociationStats, State

__all__ = ["MAX_PENDING_SACKS", "Association", "AssociationStats", "State"]

MASK32 = 0xFFFFFFFF
_HEADER = struct.Struct("!HHI")
_LE32 = struct.Struct("<I")
_ZERO4 = bytes(4)

# Tuples, not sets: membership tests by identity avoid hashing the enum on the hot path.
_SEND_STATES = (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_RECEIVED)
_SETUP_STATES = (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED)


def _check(cfg: SctpConfig) -> None:
    if not 256 <= cfg.max_packet_size <= 16384:
        raise SctpError("max_packet_size must be within 256..16384 (one DTLS record)")
    if cfg.receive_window < cfg.max_message_size + 4 * cfg.max_packet_size:
        raise SctpError("receive_window must exceed max_message_size (reassembly)")


class Association:
    """One SCTP association (see the module docstring)."""

    def __init__(self, config: SctpConfig | None = None, rng: random.Random | None = None):
        self.config = cfg = config or SctpConfig()
        _check(cfg)
        rng = default_rng(rng)
        self.state = State.CLOSED
        self.stats = AssociationStats()
        local_tsn = rng.randrange(0, 1 << 32) if cfg.initial_tsn is None else cfg.initial_tsn
        local_tsn &= MASK32
        self.outbound_streams = 0
        self.inbound_streams = 0
        # The parts (see the module docstring); the receiver comes with the peer.
        self.outbox = out = Outbox(cfg.local_port, cfg.remote_port)
        self.handshake = Handshake(cfg, out, self.stats, rng, local_tsn)
        self.sender = sender = Sender(
            local_tsn,
            cfg.max_packet_size,
            cfg.rto_initial,
            cfg.rto_min,
            cfg.rto_max,
            cfg.max_burst,
        )
        self.receiver: Receiver | None = None
        self.acks = Acks(cfg, out.events)
        self._sack_at_batch_end = cfg.sack_at_batch_end
        self.heartbeat = Heartbeat(cfg, sender, out, rng.getrandbits(64))
        self.closing = Shutdown(cfg, sender, out)
        self.stream_reset = StreamReset(cfg, sender, out, self.stats, local_tsn)
        self._events = out.events
        self._now = 0.0
        self._closed_for_good = False
        self._peer_pr = False
        self._send_zero_checksum = False  # the peer accepts checksum 0 (RFC 9653)
        # The common header of our packets and its CRC-32C share (§6.8), per peer tag.
        self._head: bytes | None = None
        self._head_tag = 0
        self._head_crc = 0
        #: What every packet from the peer starts with once established (ports and our
        #: tag, §8.5), and that header's share of the CRC-32C (checksum zeroed, §6.8):
        #: the receive paths check a packet's first 8 bytes against it.
        self.rx_head: bytes | None = None
        self.rx_head_crc = 0
        #: ``rx_head`` and checksum 0: a packet that starts so needs no CRC (RFC 9653
        #: §5.3: accepted once an INIT or INIT ACK of ours announced it,
        #: ``handshake.zero_checksum_sent``); None when we do not accept it.
        self.rx_zero_head: bytes | None = None

    # == public API ========================================================================
    @property
    def is_established(self) -> bool:
        return self.state is State.ESTABLISHED

    @property
    def remote_max_message_size(self) -> int:
        return self.config.remote_max_message_size

    @remote_max_message_size.setter
    def remote_max_message_size(self, value: int) -> None:
        self.config.remote_max_message_size = value

    @property
    def now(self) -> float:
        """The time given with the latest call of the core contract (or ``connect``)."""
        return self._now

    @property
    def partial_reliability(self) -> bool:
        """True when both ends do FORWARD-TSN (RFC 3758 §3.3)."""
        return self._peer_pr

    @property
    def local_tag(self) -> int:
        """Our verification tag (§8.5)."""
        return self.handshake.local_tag

    @property
    def peer_tag(self) -> int:
        """The peer's verification tag, 0 before the handshake learnt it."""
        return self.outbox.peer_tag

    @property
    def sends_zero_checksum(self) -> bool:
        """Whether our packets carry checksum 0 (RFC 9653: the peer accepts it)."""
        return self._send_zero_checksum

    @property
    def accepts_zero_checksum(self) -> bool:
        """Whether we accept packets with checksum 0 (RFC 9653 §5.3: an INIT or INIT ACK
        we sent announced it); otherwise they are dropped and counted as ``bad_checksum``."""
        return self.handshake.zero_checksum_sent

    def get_stats(self) -> dict[str, int | float | None]:
        """Counters and congestion state, for logs, tests and getStats()."""
        sender = self.sender
        receiver = self.receiver
        out: dict[str, int | float | None] = {
            name: getattr(self.stats, name) for name in AssociationStats.__slots__
        }
        out.update(
            retransmissions=sender.retransmissions,
            fast_retransmissions=sender.fast_retransmissions,
            t3_expirations=sender.t3_expirations,
            abandoned_messages=sender.abandoned_messages,
            cwnd=sender.cwnd,
            ssthresh=sender.ssthresh,
            flight_size=sender.flight,
            peer_rwnd=sender.peer_rwnd,
            rto=sender.rto,
            srtt=sender.srtt,
            send_buffered=sender.total_buffered,
            receive_buffered=receiver.buffered if receiver is not None else 0,
            receive_dropped=receiver.dropped_rwnd if receiver is not None else 0,
            receive_reneged=receiver.reneged if receiver is not None else 0,
            peer_reneged=sender.reneged,
        )
        return out

    def set_max_packet_size(self, size: int) -> None:
        """The largest packet we send (common header included), set before the association
        starts: a DTLS transport knows its record overhead only once the handshake chose
        the version (RFC 8261 §5: one SCTP packet per record, the record within the MTU).
        Raises :class:`SctpError` once the association started or for a size outside
        256..16384 bytes, or one that the receive window no longer covers."""
        if self.state is not State.CLOSED or self._closed_for_good or self.sender.sent:
            raise SctpError("max_packet_size can only change before the association starts")
        config = replace(self.config, max_packet_size=size)
        _check(config)
        self.config = config
        self.sender.set_max_packet_size(size)

    def connect(self, now: float) -> None:
        """Send INIT (RFC 9260 §5.1 A). Either end, or both, may call it."""
        if self.state is not State.CLOSED or self._closed_for_good:
            return
        self._now = now
        self.handshake.connect(now)
        self.state = State.COOKIE_WAIT

    def send(
        self,
        stream_id: int,
        data: bytes,
        ppid: int,
        *,
        unordered: bool = False,
        max_retransmits: int | None = None,
        lifetime: float | None = None,
        now: float | None = None,
    ) -> None:
        """Queue one message. ``max_retransmits`` / ``lifetime`` (seconds since this call)
        make it partially reliable (RFC 3758); ignored when the peer lacks FORWARD-TSN."""
        # Messages may be queued before the handshake completes; not once closing began.
        state = self.state
        if state is not State.ESTABLISHED and (self._closed_for_good or state not in _SETUP_STATES):
            raise AssociationClosedError(f"association is {state.value}")
        size = len(data)
        cfg = self.config
        limit = cfg.remote_max_message_size
        if limit and size > limit:
            raise MessageTooLargeError(
                f"message of {size} bytes exceeds the peer's max-message-size {limit}"
            )
        if not 0 <= stream_id < 65535:
            raise StreamError(f"stream id {stream_id} out of range")
        if self.outbound_streams and stream_id >= self.outbound_streams:
            raise StreamError(
                f"stream id {stream_id} >= negotiated outbound streams {self.outbound_streams}"
            )
        resetting = self.stream_reset.resetting
        if resetting and stream_id in resetting:
            raise StreamError(f"stream {stream_id} is being reset")
        if not size:
            raise SctpError("SCTP cannot carry an empty message (RFC 9260 §3.3.1)")
        sender = self.sender
        if sender.total_buffered + size > cfg.max_send_buffer:
            raise SctpError("send buffer full (max_send_buffer)")
        if lifetime is None:
            expires = None
        else:
            expires = (self._now if now is None else now) + lifetime
        if type(data) is not bytes:
            data = bytes(data)
        sender.enqueue(OutMessage(stream_id, ppid, data, unordered, max_retransmits, expires))

    def buffered_amount(self, stream_id: int) -> int:
        """Bytes of ``stream_id`` queued or in flight, not yet acknowledged."""
        return self.sender.buffered.get(stream_id, 0)

    def set_buffered_amount_low_threshold(self, stream_id: int, threshold: int) -> None:
        """:class:`BufferedAmountLow` fires when the stream's buffered amount falls from
        above ``threshold`` to at or below it."""
        self.sender.low_threshold[stream_id] = threshold

    def reset_streams(self, stream_ids: list[int] | tuple[int, ...]) -> None:
        """Reset our outgoing streams (RFC 6525 §5.1.2) once their queued data is sent; the
        outcome is :class:`OutgoingStreamsReset` or :class:`StreamResetFailed`."""
        self.stream_reset.request(stream_ids)

    def shutdown(self) -> None:
        """Graceful close (RFC 9260 §9.2): deliver what is queued, then SHUTDOWN."""
        if self.state is State.ESTABLISHED:
            self.state = State.SHUTDOWN_PENDING
        elif self.state in (State.COOKIE_WAIT, State.COOKIE_ECHOED):
            self.terminate(None)

    def abort(self, reason: str = "") -> None:
        """Send ABORT (RFC 9260 §9.1) with a User-Initiated Abort cause and close."""
        if self.state is not State.CLOSED and self.outbox.peer_tag:
            cause = ErrorCause(CauseCode.USER_INITIATED_ABORT, reason.encode()[:256])
            self.outbox.send_alone(AbortChunk([cause]).encode())
        self.terminate(None)

    # == the sans-I/O core ===================================================================
    def next_event(self) -> Event | None:
        event = self._events.pop()
        if type(event) is tuple:
            sid, ppid, payload, unordered = event
            self._release(len(payload))
            return MessageReceived(sid, ppid, payload, unordered)
        return event

    def has_events(self) -> bool:
        """Whether an event or a message waits for :meth:`next_event`. An owner that reads
        events before it asks for packets asks this after :meth:`packets_to_send`, which
        may queue one (a refused stream reset, an abandoned message's
        :class:`BufferedAmountLow`, the end of a shutdown): :meth:`get_timer` does not
        count unread events (an application that does not read must not busy-loop)."""
        return bool(self._events)

    def next_item(self) -> Event | RawMessage | None:
        """:meth:`next_event` for the layer above: a message comes as the plain tuple
        ``(stream_id, ppid, data, unordered)`` instead of a :class:`MessageReceived`
        (no object per message); every other event is the same object."""
        event = self._events.pop()
        if type(event) is tuple:
            self._release(len(event[2]))
        return event

    def _release(self, size: int) -> None:
        """The application took a message of ``size`` bytes: it leaves the window."""
        receiver = self.receiver
        if receiver is not None:
            receiver.buffered -= size if size >= MIN_CHARGE else MIN_CHARGE  # receiver.charge
            self.acks.window_update(self._now)

    def get_timer(self) -> float | None:
        """The earliest deadline: T1, T2, T3-rtx, the delayed SACK, the next HEARTBEAT,
        the stream reset's retransmission; or the last ``now`` when output is pending
        (the contract of :mod:`pyrtcstack.common.core`)."""
        if self._output_pending():
            return self._now
        deadline: float | None = None
        for t in (
            self.handshake.t1,
            self.closing.t2,
            self.sender.t3 if self.state is not State.CLOSED else None,
            self.acks.at,
            self.heartbeat.at,
            self.stream_reset.at,
        ):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline

    def _output_pending(self) -> bool:
        """Would :meth:`packets_to_send` return a packet (or an event appear) now?"""
        out = self.outbox
        if out.packets:
            return True
        state = self.state
        if state is State.CLOSED or state is State.COOKIE_WAIT:
            return False
        acks = self.acks
        sender = self.sender
        if out.chunks or acks.sacks or acks.due:
            return True
        if sender.forward_tsn_due and sender.forward_tsn is not None:
            return True
        if state in _SEND_STATES:
            return (
                sender.has_output()
                or bool(sender.low_events)
                or self.stream_reset.can_start()
                or self.closing.ready(state)
            )
        return False

    def handle_timer(self, now: float) -> None:
        self._now = now
        reason = self.handshake.on_timer(now, self.state)
        if reason is not None:
            self.terminate(reason)
            return
        reason = self.closing.on_timer(now, self.state, self._cum_tsn())
        if reason is not None:
            self.terminate(reason)
            return
        sender = self.sender
        if self.state is not State.CLOSED and sender.t3 is not None and now >= sender.t3:
            sender.on_t3(now)
            limit = self.config.max_retransmissions
            if limit is not None and sender.consecutive_errors > limit:
                self.fail("peer unreachable (Association.Max.Retrans)")
                return
        acks = self.acks
        if acks.at is not None and now >= acks.at:
            acks.at = None
            acks.due = True
        reason = self.heartbeat.on_timer(now, self.state is State.ESTABLISHED)
        if reason is None:
            reason = self.stream_reset.on_timer(now)
        if reason is not None:
            self.fail(reason)

    def packets_to_send(self, now: float) -> list[bytes]:
        self._now = now
        outbox = self.outbox
        out = outbox.packets
        outbox.packets = []
        state = self.state
        if state is State.CLOSED or state is State.COOKIE_WAIT:
            self.stats.packets_sent += len(out)
            return out
        sender = self.sender
        acks = self.acks
        control = outbox.chunks
        can_send = state in _SEND_STATES and sender.can_send()
        heartbeat = self.heartbeat
        if (
            not control
            and not can_send
            and not acks.due
            and not acks.sacks
            and not sender.forward_tsn_due
            and not sender.low_events
            and state is State.ESTABLISHED
            and not self.stream_reset.can_start()
        ):
            # Nothing to send (the common case right after a SACK was processed).
            # The transmission opportunities pass unused (§6.1 D, §7.2.1).
            sender.sacks_since_fill = 0
            sender.new_data = False
            sender.full_at_fill = False
            if sender.t3 is not None:
                heartbeat.at = None
            elif heartbeat.at is None:
                heartbeat.arm(now)
            self.stats.packets_sent += len(out)
            return out
        outbox.chunks = []
        sacks = acks.take(can_send)
        if sacks:
            # §6.2: the SACKs that fell due since the last call, in order, each in a packet
            # of its own (the peer's window and Max.Burst move with each one); the newest
            # rides with whatever else goes out now.
            control.insert(0, sacks.pop())
            if sacks:
                out += self._seal_each(sacks)
        packets: list[list[bytes]] = [[]]
        if sender.forward_tsn_due and sender.forward_tsn is not None:
            sender.forward_tsn_due = False
            control.append(sender.forward_tsn.encode())
        mtu = sender.mtu
        room = mtu
        for chunk in control:
            size = len(chunk)
            if size > room and packets[-1]:
                packets.append([])
                room = mtu
            packets[-1].append(chunk)
            room -= size
        if state in _SEND_STATES:
            room = sender.fill(now, packets, room)
            if sender.forward_tsn_due and sender.forward_tsn is not None:
                sender.forward_tsn_due = False
                chunk = sender.forward_tsn.encode()
                if len(chunk) > room:
                    packets.append([])
                    room = mtu
                packets[-1].append(chunk)
                room -= len(chunk)
            chunk = self.stream_reset.start(now)
            if chunk:
                if len(chunk) > room:
                    packets.append([])
                packets[-1].append(chunk)
            if sender.low_events:
                self._report_low()
            if state is not State.ESTABLISHED:
                # A SHUTDOWN or SHUTDOWN ACK leaves alone, with the next call.
                self.state = self.closing.progress(state, self._cum_tsn(), now)
        if sender.t3 is not None and heartbeat.at is not None:
            heartbeat.at = None  # data outstanding: T3 watches the path
        elif sender.t3 is None and heartbeat.at is None and state is State.ESTABLISHED:
            heartbeat.arm(now)
        # Seal the packets: common header, checksum, the chunks' parts joined once.
        head = self._header()
        if self._send_zero_checksum:
            head += _ZERO4  # RFC 9653 §5.3: checksum 0
            for chunks in packets:
                if chunks:
                    out.append(b"".join((head, *chunks)))
        else:
            head_crc = self._head_crc
            join = b"".join
            le32 = _LE32.pack
            for chunks in packets:
                if chunks:
                    body = join(chunks)
                    out.append(join((head, le32(crc32c_extend(head_crc, body)), body)))
        self.stats.packets_sent += len(out)
        return out

    def receive_packets(self, packets: Sequence[bytes], now: float) -> None:
        """SCTP packets that arrived together, each handled in order (RFC 9260 §8.5
        checks, then its chunks); the bulk of a transfer is taken in line (:mod:`.bulk`).
        A SACK that lowered a stream's buffered amount through its threshold queues the
        :class:`BufferedAmountLow` here, with the input that caused it: the SACK of the
        last byte queued leaves nothing to send, and the owner reads this input's events
        before it asks for packets.

        With ``SctpConfig.sack_at_batch_end`` the batch's end is a SACK point (:mod:`.acks`):
        a delayed SACK still owed leaves with the answer to the batch."""
        self._now = now
        bulk.receive_packets(self, packets, now)
        if self._sack_at_batch_end:
            self.acks.batch_end()
        self._after_input(now)

    def _after_input(self, now: float) -> None:
        """What an input leaves behind: the BufferedAmountLow events its SACKs caused, and
        the heartbeat armed again if a SACK acknowledged all that was outstanding (§8.3:
        the path of an idle association is watched), so that :meth:`get_timer` is a real
        deadline before the owner asks for packets."""
        sender = self.sender
        if sender.low_events:
            self._report_low()
        if sender.t3 is None and self.heartbeat.at is None and self.state is State.ESTABLISHED:
            self.heartbeat.arm(now)

    def receive_packet(self, data: bytes, now: float) -> None:
        """One SCTP packet, as :meth:`receive_packets` takes it, but with no batch end
        seen: a delayed SACK waits for ``sack_delay`` (§6.2) or the next packet."""
        self._now = now
        bulk.receive_packets(self, (data,), now)
        self._after_input(now)

    def _report_low(self) -> None:
        """The :class:`BufferedAmountLow` events the sender noted, queued in order."""
        sender = self.sender
        push = self._events.push
        for sid in sender.low_events:
            push(BufferedAmountLow(sid))
        sender.low_events = []

    def _header(self) -> bytes:
        """Our packets' common header without the checksum (§3.1), made once per peer tag,
        with its share of the CRC-32C (§6.8) in ``_head_crc``."""
        tag = self.outbox.peer_tag
        head = self._head
        if self._head_tag != tag or head is None:
            head = _HEADER.pack(self.config.local_port, self.config.remote_port, tag)
            self._head = head
            self._head_crc = crc32c(head + _ZERO4)  # the header's share of every CRC
            self._head_tag = tag
        return head

    def _seal_each(self, chunks: list[bytes]) -> list[bytes]:
        """Each of ``chunks`` (SACKs) in a packet of its own: header and checksum."""
        head = self._header()
        if self._send_zero_checksum:
            head += _ZERO4  # RFC 9653 §5.3: checksum 0
            return [head + c for c in chunks]
        head_crc = self._head_crc
        le32 = _LE32.pack
        return [b"".join((head, le32(crc32c_extend(head_crc, c)), c)) for c in chunks]

    # == for the parts: the association's own transitions ======================================
    def set_peer(self, peer: Peer) -> None:
        """Adopt what the handshake learnt about the peer (§5.1) and make the receiver."""
        cfg = self.config
        self.outbox.peer_tag = peer.tag
        self._peer_pr = bool(peer.features & FEATURE_FORWARD_TSN)
        self._send_zero_checksum = bool(peer.features & FEATURE_ZERO_CHECKSUM) and (
            cfg.zero_checksum
        )
        self.stream_reset.set_peer(peer.tsn, bool(peer.features & FEATURE_RECONFIG))
        # §5.1.1: streams in each direction are the smaller of what each end offers.
        self.outbound_streams = min(cfg.outbound_streams, peer.inbound_streams)
        self.inbound_streams = min(cfg.inbound_streams, peer.outbound_streams)
        sender = self.sender
        sender.peer_rwnd = peer.rwnd
        sender.ssthresh = peer.rwnd
        sender.pr_supported = self._peer_pr
        self.receiver = self.acks.receiver = Receiver(
            peer.tsn, cfg.receive_window, cfg.max_message_size, self._events, self.inbound_streams
        )

    def establish(self, now: float) -> None:
        """The handshake completed (§5.1 D, E): ESTABLISHED, and the event says so."""
        self.state = State.ESTABLISHED
        cfg = self.config
        self.rx_head = head = _HEADER.pack(cfg.remote_port, cfg.local_port, self.local_tag)[:8]
        self.rx_head_crc = crc32c(head + _ZERO4)
        # (final here: no INIT or INIT ACK of ours follows the handshake, §5.2.2 restarts
        # being refused)
        self.rx_zero_head = head + _ZERO4 if self.handshake.zero_checksum_sent else None
        self._events.push(
            AssociationEstablished(
                self.outbound_streams,
                self.inbound_streams,
                self._peer_pr,
                self.stream_reset.peer_supported,
            )
        )
        self.heartbeat.arm(now)

    def fail(self, reason: str, code: int = CauseCode.PROTOCOL_VIOLATION) -> None:
        """End the association with ABORT (§9.1) because of an error (ours or the peer's)."""
        if self.outbox.peer_tag:
            self.outbox.send_alone(AbortChunk([ErrorCause(code, reason.encode())]).encode())
        self.terminate(reason)

    def terminate(self, error: str | None, aborted: bool = False) -> None:
        """Enter CLOSED for good: an association is never restarted (see docs/sctp.md)."""
        if self._closed_for_good:
            return
        self._closed_for_good = True
        self.state = State.CLOSED
        self.handshake.stop()
        self.closing.stop()
        self.acks.stop()
        self.heartbeat.stop()
        self.stream_reset.stop()
        self.sender.t3 = None
        self.outbox.clear()
        self._events.push(AssociationClosed(error, aborted))

    @property
    def closed_for_good(self) -> bool:
        """CLOSED after having lived (or failed to): input is ignored from then on."""
        return self._closed_for_good

    def _cum_tsn(self) -> int:
        receiver = self.receiver
        return receiver.cum_tsn if receiver is not None else 0
