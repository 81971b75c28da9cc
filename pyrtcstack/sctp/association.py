"""The SCTP association (RFC 9260) as a sans-I/O core carrying data channels over DTLS.

SCTP packets go in and out as bytes (RFC 8261 §5: each SCTP packet is the payload of one
DTLS application-data record); the association never sees an address:

``receive_packet(data, now)``   one SCTP packet arrived (the plaintext of a DTLS record)
``packets_to_send(now)``        SCTP packets to hand to DTLS
``get_timer()`` / ``handle_timer(now)``   the earliest deadline and acting on it
``next_event()``                :mod:`pyrtcstack.sctp.events`

The handshake (§5.1) is the four-way INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK with an
HMAC-signed, time-limited cookie (:mod:`.cookie`); both ends may call :meth:`connect`
(RFC 8841 §9.3 lets both initiate, §5.2 resolves the collision). Data transfer lives in
:mod:`.sender` and :mod:`.receiver`; stream reset (RFC 6525) and shutdown (§9) are here.
"""

from __future__ import annotations

import random
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..common.core import Event, default_rng
from . import bulk, dispatch, handshake, heartbeat, reconfig, shutdown
from .chunks import (
    AbortChunk,
    ChunkType,
    ReconfigChunk,
    SackChunk,
    encode_packet,
)
from .config import FULL_PACKET, SctpConfig
from .crc32c import crc32c, crc32c_extend
from .errors import (
    AssociationClosedError,
    MessageTooLargeError,
    SctpError,
    SctpParseError,
    StreamError,
)
from .events import (
    AssociationClosed,
    AssociationEstablished,
    BufferedAmountLow,
    MessageReceived,
)
from .params import (
    CauseCode,
    ErrorCause,
    OutgoingResetRequest,
    Parameter,
    ParamType,
    ReconfigResponse,
)
from .receiver import MIN_CHARGE, RawMessage, Receiver
from .sender import OutMessage, Sender
from .state import State

__all__ = ["Association", "AssociationStats", "State"]

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
_HEADER = struct.Struct("!HHI")
_CHUNK = struct.Struct("!BBH")
_LE32 = struct.Struct("<I")
_ZERO4 = bytes(4)
_DATA_FIELDS = struct.Struct("!IHHI")
#: A SACK chunk without gap blocks or duplicates (§3.3.4): type, flags, length 16, cumulative
#: TSN, a_rwnd, 0 gap blocks, 0 duplicates.
_PURE_SACK = struct.Struct("!BBHIIHH")
#: A SACK chunk's cumulative TSN and a_rwnd, from offset 16 of a packet that starts with it.
_SACK_FIELDS = struct.Struct("!II")

#: SACKs built and not yet handed to packets_to_send: one per two full-sized packets of a
#: burst of up to 2048 of them (a 1 MiB window in packets of ~500 bytes); past it (a caller
#: that feeds packets without ever asking what to send), a new SACK replaces the newest
#: waiting one.
MAX_PENDING_SACKS = 1024

_EXTENSIONS = bytes([ChunkType.RECONFIG, ChunkType.FORWARD_TSN])


# Tuples, not sets: membership tests by identity avoid hashing the enum on the hot path.
_DATA_STATES = dispatch.DATA_STATES
_SEND_STATES = (State.ESTABLISHED, State.SHUTDOWN_PENDING, State.SHUTDOWN_RECEIVED)


@dataclass(slots=True)
class AssociationStats:
    """Counters: dropped input is counted here, never raised (docs/architecture.md)."""

    packets_received: int = 0
    packets_sent: int = 0
    bad_checksum: int = 0
    malformed: int = 0
    bad_verification_tag: int = 0
    bad_port: int = 0
    bad_cookie: int = 0
    unexpected_chunks: int = 0
    data_dropped: int = 0
    invalid_stream: int = 0


class Association:
    """One SCTP association (see the module docstring)."""

    def __init__(self, config: SctpConfig | None = None, rng: random.Random | None = None):
        self.config = cfg = config or SctpConfig()
        if not 256 <= cfg.max_packet_size <= 16384:
            raise SctpError("max_packet_size must be within 256..16384 (one DTLS record)")
        if cfg.receive_window < cfg.max_message_size + 4 * cfg.max_packet_size:
            raise SctpError("receive_window must exceed max_message_size (reassembly)")
        rng = default_rng(rng)
        self._rng = rng
        self.state = State.CLOSED
        self.stats = AssociationStats()
        self._local_tag = rng.randrange(1, 1 << 32)
        self._local_tsn = (
            rng.randrange(0, 1 << 32) if cfg.initial_tsn is None else cfg.initial_tsn & MASK32
        )
        self._cookie_key = rng.getrandbits(256).to_bytes(32, "big")
        self._hb_nonce = rng.getrandbits(64)
        self._peer_tag = 0
        self._peer_tsn = 0
        self._peer_pr = False
        self._peer_reconfig = False
        self.outbound_streams = 0
        self.inbound_streams = 0
        self._sender = Sender(
            self._local_tsn,
            cfg.max_packet_size,
            cfg.rto_initial,
            cfg.rto_min,
            cfg.rto_max,
            cfg.max_burst,
        )
        self._receiver: Receiver | None = None
        #: Events, and received messages as RawMessage tuples (the receiver's ``ready``).
        self._events: deque[Any] = deque()
        self._raw: list[bytes] = []  # complete packets (handshake, ABORT)
        self._control: list[bytes] = []  # encoded control chunks for the next packet
        self._now = 0.0
        # Timers (absolute deadlines).
        self._t1: float | None = None
        self._t1_packet = b""
        self._t1_count = 0
        self._t1_rto = cfg.rto_initial
        self._t2: float | None = None
        self._t2_count = 0
        self._sack_at: float | None = None
        self._sack_due = False
        #: SACK chunks built when they fell due (§6.2: every second full-sized packet with
        #: DATA, at once on a gap or a duplicate), each with the state as of its packet, waiting for
        #: packets_to_send: a burst of packets fed in one call gets its SACKs all the same.
        self._sacks: list[bytes] = []
        #: Packets with DATA since the last SACK, in bytes of full-sized packets (§6.2 with
        #: RFC 5681 §4.2): a "full-sized" packet is the largest one the peer sent so far, up
        #: to FULL_PACKET; each packet counts min(size, that); a SACK falls due at
        #: ``_sack_threshold`` = ``sack_every`` full-sized packets (see _full_size).
        self._sack_credit = 0
        self._full_packet = 0
        self._sack_threshold = 0
        self._last_rwnd = cfg.receive_window
        self._hb_at: float | None = None
        self._hb_sent_at: float | None = None
        # Stream reset (RFC 6525).
        self._reconfig_seq = self._local_tsn
        self._reconfig_out: OutgoingResetRequest | None = None
        self._reconfig_at: float | None = None
        self._reconfig_count = 0
        self._reset_wanted: list[int] = []
        self._resetting: set[int] = set()
        self._peer_reconfig_seq = 0
        self._deferred_reset: OutgoingResetRequest | None = None
        self._last_response: ReconfigResponse | None = None
        self._closed_for_good = False
        self._send_zero_checksum = False  # the peer accepts checksum 0 (RFC 9653)
        #: Whether our INIT / INIT ACK announce Zero Checksum Acceptable (RFC 9653 §5.1):
        #: ``config.zero_checksum`` until a peer showed it cannot parse the parameter (see
        #: :func:`.handshake.drop_zero_checksum`); acceptance of checksum 0 is unchanged.
        self._announce_zero_checksum = cfg.zero_checksum
        self._answered_init_tag = 0  # the peer's INIT tag our last INIT ACK answered
        # The common header of our packets and its CRC-32C share (§6.8), per peer tag.
        self._head: bytes | None = None
        self._head_tag = 0
        self._head_crc = 0
        self._rx_head: bytes | None = None  # set once established
        self._rx_head_crc = 0

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

    def get_stats(self) -> dict[str, int | float | None]:
        """Counters and congestion state, for logs, tests and getStats()."""
        sender = self._sender
        receiver = self._receiver
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
        )
        return out

    def connect(self, now: float) -> None:
        """Send INIT (RFC 9260 §5.1 A). Either end, or both, may call it."""
        if self.state is not State.CLOSED or self._closed_for_good:
            return
        self._now = now
        self._t1_packet = handshake.init_packet(self)
        self._raw.append(self._t1_packet)
        self.state = State.COOKIE_WAIT
        self._t1 = now + self._t1_rto
        self._t1_count = 0

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
        if state is not State.ESTABLISHED and (
            self._closed_for_good
            or state not in (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED)
        ):
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
        if self._resetting and stream_id in self._resetting:
            raise StreamError(f"stream {stream_id} is being reset")
        if not size:
            raise SctpError("SCTP cannot carry an empty message (RFC 9260 §3.3.1)")
        sender = self._sender
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
        return self._sender.buffered.get(stream_id, 0)

    def set_buffered_amount_low_threshold(self, stream_id: int, threshold: int) -> None:
        """:class:`BufferedAmountLow` fires when the stream's buffered amount falls from
        above ``threshold`` to at or below it."""
        self._sender.low_threshold[stream_id] = threshold

    def reset_streams(self, stream_ids: list[int] | tuple[int, ...]) -> None:
        """Reset our outgoing streams (RFC 6525 §5.1.2) once their queued data is sent; the
        outcome is :class:`OutgoingStreamsReset` or :class:`StreamResetFailed`."""
        for sid in stream_ids:
            if sid not in self._resetting:
                self._resetting.add(sid)
                self._reset_wanted.append(sid)

    def shutdown(self) -> None:
        """Graceful close (RFC 9260 §9.2): deliver what is queued, then SHUTDOWN."""
        if self.state is State.ESTABLISHED:
            self.state = State.SHUTDOWN_PENDING
        elif self.state in (State.COOKIE_WAIT, State.COOKIE_ECHOED):
            self._close(None)

    def abort(self, reason: str = "") -> None:
        """Send ABORT (RFC 9260 §9.1) with a User-Initiated Abort cause and close."""
        if self.state is State.CLOSED or not self._peer_tag:
            self._close(None)
            return
        cause = ErrorCause(CauseCode.USER_INITIATED_ABORT, reason.encode()[:256])
        self._raw.append(self._packet(self._peer_tag, [AbortChunk([cause]).encode()]))
        self._close(None)

    # == the sans-I/O core ===================================================================
    def next_event(self) -> Event | None:
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if type(event) is tuple:
            sid, ppid, payload, unordered = event
            self._release(len(payload))
            return MessageReceived(sid, ppid, payload, unordered)
        return event  # type: ignore[no-any-return]

    def next_item(self) -> Event | RawMessage | None:
        """:meth:`next_event` for the layer above: a message comes as the plain tuple
        ``(stream_id, ppid, data, unordered)`` instead of a :class:`MessageReceived`
        (no object per message); every other event is the same object."""
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if type(event) is tuple:
            self._release(len(event[2]))
        return event  # type: ignore[no-any-return]

    def _release(self, size: int) -> None:
        """The application took a message of ``size`` bytes: it leaves the window."""
        receiver = self._receiver
        if receiver is not None:
            receiver.buffered -= size if size >= MIN_CHARGE else MIN_CHARGE  # receiver.charge
            # §6.2: tell a peer we throttled that the window opened again.
            if receiver.a_rwnd - self._last_rwnd >= (self.config.receive_window >> 2):
                self._sack_at = self._now

    def get_timer(self) -> float | None:
        deadline: float | None = None
        for t in (
            self._t1,
            self._t2,
            self._sender.t3 if self.state is not State.CLOSED else None,
            self._sack_at,
            self._hb_at,
            self._reconfig_at,
        ):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline

    def handle_timer(self, now: float) -> None:
        self._now = now
        cfg = self.config
        if self._t1 is not None and now >= self._t1:
            self._t1_count += 1
            if cfg.max_init_retransmissions is not None and (
                self._t1_count > cfg.max_init_retransmissions
            ):
                self._close("handshake timed out (Max.Init.Retransmits)")
                return
            self._t1_rto = min(self._t1_rto * 2, cfg.rto_max)
            if self.state is State.COOKIE_WAIT and self._announce_zero_checksum:
                # No answer to an INIT that announced zero checksum: the peer may be one
                # that rejects the whole INIT for it (handshake.drop_zero_checksum).
                handshake.drop_zero_checksum(self)
                self._t1_packet = handshake.init_packet(self)
            self._raw.append(self._t1_packet)
            self._t1 = now + self._t1_rto
        if self._t2 is not None and now >= self._t2:
            self._t2_count += 1
            if cfg.max_retransmissions is not None and self._t2_count > cfg.max_retransmissions:
                self._close("shutdown timed out (Association.Max.Retrans)")
                return
            self._sender.rto = min(self._sender.rto * 2, cfg.rto_max)
            shutdown.send_shutdown_chunk(self, now)
        sender = self._sender
        if self.state is not State.CLOSED and sender.t3 is not None and now >= sender.t3:
            sender.on_t3(now)
            if cfg.max_retransmissions is not None and (
                sender.consecutive_errors > cfg.max_retransmissions
            ):
                self._fail("peer unreachable (Association.Max.Retrans)")
                return
        if self._sack_at is not None and now >= self._sack_at:
            self._sack_at = None
            self._sack_due = True
        if self._hb_at is not None and now >= self._hb_at:
            heartbeat.send_heartbeat(self, now)
        if self._reconfig_at is not None and now >= self._reconfig_at:
            self._reconfig_at = None
            if self._reconfig_out is not None:
                self._reconfig_count += 1
                sender.consecutive_errors += 1
                if cfg.max_retransmissions is not None and (
                    sender.consecutive_errors > cfg.max_retransmissions
                ):
                    self._fail("peer unreachable (stream reset unanswered)")
                    return
                self._control.append(ReconfigChunk([self._reconfig_out]).encode())
                self._reconfig_at = now + sender.rto

    def packets_to_send(self, now: float) -> list[bytes]:
        self._now = now
        out = self._raw
        self._raw = []
        state = self.state
        if state is State.CLOSED or state is State.COOKIE_WAIT:
            self.stats.packets_sent += len(out)
            return out
        sender = self._sender
        control = self._control
        can_send = state in _SEND_STATES and sender.can_send()
        if (
            not control
            and not can_send
            and not self._sack_due
            and not self._sacks
            and not sender.forward_tsn_due
            and not self._reset_wanted
            and not sender.low_events
            and state is State.ESTABLISHED
        ):
            # Nothing to send (the common case right after a SACK was processed).
            # The transmission opportunities pass unused (§6.1 D, §7.2.1).
            sender.sacks_since_fill = 0
            sender.new_data = False
            sender.full_at_fill = False
            if sender.t3 is not None:
                self._hb_at = None
            elif self._hb_at is None:
                heartbeat.arm(self, now)
            self.stats.packets_sent += len(out)
            return out
        self._control = []
        if self._sack_at is not None and can_send:
            self._sack_due = True  # bundle the delayed SACK with outgoing DATA
        if self._sack_due and self._receiver is not None:
            self._sacks.append(self._build_sack())
        sacks = self._sacks
        packets: list[list[bytes]] = [[]]
        if sacks:
            # §6.2: the SACKs that fell due since the last call, in order, each in a packet
            # of its own (the peer's window and Max.Burst move with each one); the newest
            # rides with whatever else goes out now.
            self._sacks = []
            control.insert(0, sacks.pop())
            if sacks:
                packets = [[s] for s in sacks]
                packets.append([])
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
            if self._reset_wanted and self._reconfig_out is None:
                chunk = reconfig.start_reset(self, now)
                if chunk:
                    if len(chunk) > room:
                        packets.append([])
                    packets[-1].append(chunk)
            if sender.low_events:
                for sid in sender.low_events:
                    self._events.append(BufferedAmountLow(sid))
                sender.low_events = []
            if state is not State.ESTABLISHED:
                shutdown.progress(self, now)
        if sender.t3 is not None and self._hb_at is not None:
            self._hb_at = None  # data outstanding: T3 watches the path
        elif sender.t3 is None and self._hb_at is None and state is State.ESTABLISHED:
            heartbeat.arm(self, now)
        # Seal the packets: common header, checksum, the chunks' parts joined once.
        tag = self._peer_tag
        if self._head_tag != tag or self._head is None:
            head = _HEADER.pack(self.config.local_port, self.config.remote_port, tag)
            self._head = head
            self._head_crc = crc32c(head + _ZERO4)  # the header's share of every CRC
            self._head_tag = tag
        head = self._head
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

    def receive_packets(self, packets: list[bytes], now: float) -> None:
        """:meth:`receive_packet` for each of ``packets`` in order, with the bulk of a
        transfer taken in line (see :mod:`pyrtcstack.sctp.bulk`)."""
        bulk.receive_packets(self, packets, now)

    def receive_packet(self, data: bytes, now: float) -> None:
        self._now = now
        stats = self.stats
        stats.packets_received += 1
        if (
            len(data) == 28
            and data[12] == 3
            and data[:8] == self._rx_head
            and data[15] == 16
            and not data[14]
            and data[24:] == _ZERO4
            and self.state is State.ESTABLISHED
            and self._deferred_reset is None
        ):
            # A SACK alone, without gap blocks or duplicates (§3.3.4), from our peer (§8.5):
            # half the packets of a transfer's other direction (§6.2).
            checksum = _LE32.unpack_from(data, 8)[0]
            if not (checksum == 0 and self.config.zero_checksum) and checksum != (
                crc32c_extend(self._rx_head_crc, data[12:])
            ):
                stats.bad_checksum += 1
                return
            self._sender.on_sack(SackChunk(*_SACK_FIELDS.unpack_from(data, 16)), now)
            return
        if data[:8] == self._rx_head and self.state is State.ESTABLISHED and data[12:13] == b"\0":
            # Fast path (the bulk of a transfer): our ports and verification tag (§8.5) on an
            # established association, a packet that starts with a DATA chunk.
            checksum = _LE32.unpack_from(data, 8)[0]
            if not (checksum == 0 and self.config.zero_checksum) and checksum != (
                crc32c_extend(self._rx_head_crc, data[12:])
            ):
                stats.bad_checksum += 1
                return
            receiver = self._receiver
            assert receiver is not None
            size = len(data)
            pos, sack_now, dropped = receiver.receive_chunks(
                data, 12, size, self.inbound_streams, self.config.max_queued_messages
            )
            if dropped:
                stats.data_dropped += dropped
            if pos >= size:
                if receiver.too_large or self._deferred_reset is not None:
                    dispatch.after_chunks(self, receiver, True, sack_now, now, size)
                    return
                # §6.2 delayed SACK: dispatch.delay_sack, in line on this per-packet path.
                full = self._full_packet
                n = self._sack_credit + (
                    size if size < full else full if full == FULL_PACKET else self._full_size(size)
                )
                self._sack_credit = n
                if sack_now or n >= self._sack_threshold:
                    self._sack_point()
                elif self._sack_at is None:
                    self._sack_at = now + self.config.sack_delay
                return
            if pos > 12:
                # Something else follows: the general path takes the rest of the packet.
                dispatch.process_tail(self, data, pos, size, now, sack_now=sack_now)
                return
            # The first chunk is not for the fast path: the general path below.
        if self._closed_for_good:
            return
        size = len(data)
        cfg = self.config
        # §6.8: CRC-32C over the packet with the checksum field zeroed, stored little-endian.
        # RFC 9653 §5.2: having announced it, we also accept 0, except on an INIT.
        if size < 16:
            stats.bad_checksum += 1
            return
        checksum = _LE32.unpack_from(data, 8)[0]
        if not (checksum == 0 and cfg.zero_checksum and data[12] != 1) and checksum != (
            crc32c_extend(crc32c(data[:8] + _ZERO4), data[12:])
        ):
            stats.bad_checksum += 1
            return
        src, dst, tag = _HEADER.unpack_from(data)
        if src != cfg.remote_port or dst != cfg.local_port:
            stats.bad_port += 1
            return
        receiver = self._receiver
        if (
            data[12] == 0
            and tag == self._local_tag
            and receiver is not None
            and self.state in _DATA_STATES
        ):
            # Fast path: a packet that starts with DATA chunks (the bulk of a transfer).
            pos, sack_now, dropped = receiver.receive_chunks(
                data, 12, size, self.inbound_streams, cfg.max_queued_messages
            )
            if dropped:
                stats.data_dropped += dropped
            if pos >= size:
                dispatch.after_chunks(self, receiver, True, sack_now, now, size)
                return
            if pos > 12:
                # Something else follows: the general path takes the rest of the packet.
                dispatch.process_tail(self, data, pos, size, now, sack_now=sack_now)
                return
        # Split into chunks (§3.2); a malformed chunk drops the whole packet.
        chunks = []
        pos = 12
        unpack = _CHUNK.unpack_from
        while pos < size:
            if size - pos < 4:
                stats.malformed += 1
                return
            type_, flags, length = unpack(data, pos)
            if length < 4 or pos + length > size:
                stats.malformed += 1
                return
            chunks.append((type_, flags, pos + 4, pos + length))
            pos += (length + 3) & ~3
        first = chunks[0][0]
        if first == 1:  # INIT
            # §8.5.1 A: INIT travels with tag 0 and alone.
            if tag != 0 or len(chunks) != 1:
                stats.bad_verification_tag += 1
                return
        # §8.5.1 B, C: ABORT / SHUTDOWN COMPLETE with the T bit carry the peer's tag.
        elif tag != self._local_tag and not (
            first in (ChunkType.ABORT, ChunkType.SHUTDOWN_COMPLETE)
            and chunks[0][1] & 1
            and tag == self._peer_tag
            and self._peer_tag != 0
        ):
            stats.bad_verification_tag += 1
            return
        try:
            dispatch.process_chunks(self, data, chunks, now)
        except SctpParseError:
            stats.malformed += 1

    # == handshake (§5.1, §5.2) ===============================================================
    def _extension_params(self) -> list[Parameter]:
        """RFC 8831 §6.2 / RFC 3758 §3.1 / RFC 5061 §4.2.7: FORWARD-TSN and RE-CONFIG; and
        RFC 9653 §5.1 Zero Checksum Acceptable (EDMID 1, DTLS) when configured."""
        params = [
            Parameter(ParamType.FORWARD_TSN_SUPPORTED, b""),
            Parameter(ParamType.SUPPORTED_EXTENSIONS, _EXTENSIONS),
        ]
        if self._announce_zero_checksum:
            params.append(
                Parameter(ParamType.ZERO_CHECKSUM_ACCEPTABLE, handshake.ZERO_CHECKSUM_EDMID_DTLS)
            )
        return params

    def _established(self, now: float) -> None:
        self.state = State.ESTABLISHED
        # What every packet from the peer starts with, for receive_packet's fast path, and
        # that header's share of the CRC-32C (checksum field zero, §6.8).
        cfg = self.config
        self._rx_head = _HEADER.pack(cfg.remote_port, cfg.local_port, self._local_tag)[:8]
        self._rx_head_crc = crc32c(self._rx_head + _ZERO4)
        self._events.append(
            AssociationEstablished(
                self.outbound_streams, self.inbound_streams, self._peer_pr, self._peer_reconfig
            )
        )
        heartbeat.arm(self, now)

    # == SACK (§6.2) =============================================================================
    def _full_size(self, size: int) -> int:
        """A packet of ``size`` bytes, at least the largest so far: it sets the full size
        (up to FULL_PACKET) and the SACK threshold; returns what it counts."""
        full = min(size, FULL_PACKET)
        if full > self._full_packet:
            self._full_packet = full
            self._sack_threshold = self.config.sack_every * full
        return full

    def _sack_point(self) -> None:
        """§6.2: a SACK is due now (the second full-sized packet with DATA since the last
        one, a gap, a duplicate): build it with the state as of this packet. It leaves with the next
        :meth:`packets_to_send`, beside the SACKs due before it."""
        if self._receiver is None:
            self._sack_due = True
            return
        sacks = self._sacks
        if len(sacks) >= MAX_PENDING_SACKS:
            sacks.pop()  # superseded: the new SACK acknowledges at least as much
        sacks.append(self._build_sack())

    def _build_sack(self) -> bytes:
        receiver = self._receiver
        assert receiver is not None
        self._sack_due = False
        self._sack_at = None
        self._sack_credit = 0
        full = len(self._events) >= self.config.max_queued_messages
        if not receiver.ooo and not receiver.duplicates:
            # The common case, encoded directly: no gap blocks, no duplicates (§3.3.4).
            rwnd = 0 if full else receiver.a_rwnd
            self._last_rwnd = rwnd
            return _PURE_SACK.pack(ChunkType.SACK, 0, 16, receiver.cum_tsn, rwnd, 0, 0)
        sack = receiver.build_sack()
        if full:
            sack.a_rwnd = 0
        self._last_rwnd = sack.a_rwnd
        return sack.encode()

    # == abort (§9.1) ===========================================================================
    def _fail(self, reason: str, code: int = CauseCode.PROTOCOL_VIOLATION) -> None:
        """End the association with ABORT because of an error (ours or the peer's)."""
        if self._peer_tag:
            cause = ErrorCause(code, reason.encode())
            self._raw.append(self._packet(self._peer_tag, [AbortChunk([cause]).encode()]))
        self._close(reason)

    def _close(self, error: str | None, aborted: bool = False) -> None:
        """Enter CLOSED for good: an association is never restarted (see docs/sctp.md)."""
        if self._closed_for_good:
            return
        self._closed_for_good = True
        self.state = State.CLOSED
        self._t1 = self._t2 = self._sack_at = self._hb_at = self._reconfig_at = None
        self._sender.t3 = None
        self._sack_due = False
        self._sacks = []
        self._control = []
        self._events.append(AssociationClosed(error, aborted))

    def _packet(self, tag: int, chunks: list[bytes]) -> bytes:
        return encode_packet(self.config.local_port, self.config.remote_port, tag, chunks)
