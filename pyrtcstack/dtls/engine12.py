"""The DTLS 1.2 engine (RFC 6347 §4.2): the hello exchange for every version, then the DTLS
1.2 handshake and records, for both roles.

The full handshake, as WebRTC runs it (mutual authentication, ECDHE, no resumption)::

    client                                              server
    ClientHello                         -------->                       flight 1
                                        <--------   HelloVerifyRequest  flight 2 (optional)
    ClientHello (with cookie)           -------->                       flight 3
                                                           ServerHello
                                                           Certificate
                                                     ServerKeyExchange
                                                    CertificateRequest
                                        <--------      ServerHelloDone  flight 4
    Certificate, ClientKeyExchange, CertificateVerify,
    [ChangeCipherSpec], Finished        -------->                       flight 5
                                        <--------   [ChangeCipherSpec]  flight 6
                                                              Finished
    application data                    <------->     application data

The engine keeps the record layer (epochs, replay windows, the data path's read state), the
flight and its retransmission timer (RFC 6347 §4.2.4), alerts and the end. The handshake
itself is one role object, made when :meth:`Dtls12Engine.start` knows the role: a
:class:`~.client.ClientHandshake` or a :class:`~.server.ServerHandshake` (:mod:`.handshake`),
which reaches the engine only through :class:`~.handshake.Host12`. When the hellos select
DTLS 1.3 (:mod:`.negotiation`), this engine builds the :class:`~.engine13.Dtls13Engine` that
continues and names it its :attr:`successor`; from then on it takes no datagram of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from ..common.core import Address
from . import datapath
from .client import ClientHandshake
from .constants import (
    DTLS1_2_VERSION,
    AlertDescription,
    AlertLevel,
    ContentType,
    DtlsVersion,
    HandshakeType,
)
from .datapath import ReadState
from .engine import ECHO_GUARD, AnyCipherSuite, DtlsContext, DtlsEngine, EngineBase
from .engine13 import Dtls13Engine
from .errors import (
    DtlsDecodeError,
    DtlsTimeoutError,
    DtlsUsageError,
)
from .flights import Flight, FlightItem, RetransmitTimer
from .fragments import Reassembler, encode_message
from .handshake import DtlsRole, Handshake12
from .handshake import State as _State
from .handshake13 import ClientStart13, ServerStart13
from .record import (
    HEADER_LENGTH,
    MAX_PLAINTEXT,
    EpochState,
    Record,
    parse_records,
)
from .server import ServerHandshake
from .srtp import SrtpProfile
from .suites import RecordCipher

__all__ = ["Dtls12Engine"]

#: Datagrams kept while the connection is not started (early ClientHellos; Chrome keeps 4
#: ClientHellos, a browser ClientHello takes two datagrams).
MAX_EARLY_DATAGRAMS: Final = 8
#: Records of a future epoch kept until its keys exist (a Finished that overtook its CCS).
MAX_FUTURE_RECORDS: Final = 16
#: Exporter labels RFC 5705 §4 reserves for TLS itself.
_RESERVED_LABELS = frozenset(
    {
        b"client finished",
        b"server finished",
        b"master secret",
        b"key expansion",
        b"extended master secret",
    }
)


class Dtls12Engine(EngineBase):
    """One DTLS 1.2 association, client or server, from the first hello (see the module
    docstring); the configuration, events and output are the connection's ``ctx``.

    ``__slots__``: a connection lives as long as its peer connection and has more
    attributes than an instance dict shares keys for (a dict cost 1.5 KiB a connection)."""

    __slots__ = (
        "__weakref__",  # the role object's reference back (handlers.HandshakeRole)
        "_completed_emitted",
        "_early",
        "_end",
        "_events",
        "_fast_read",
        "_fast_write",
        "_flight",
        "_flight_clean",
        "_future_records",
        "_handshake_done",
        "_last_echo_at",
        "_last_record_seq",
        "_out",
        "_read",
        "_reassembler",
        "_retransmit_trigger",
        "_retransmit_trigger_end",
        "_role",
        "_timer",
        "_write",
        "_write_epoch",
        "ctx",
        "stats",
        "successor",
    )

    def __init__(self, ctx: DtlsContext) -> None:
        self.ctx = ctx
        self.stats = ctx.stats
        self.successor: DtlsEngine | None = None
        #: the handshake of our role, made by start() (None: not started)
        self._role: Handshake12 | None = None
        self._end: _State | None = None  # CLOSED or FAILED once the connection ended
        self._events = ctx.events
        self._out = ctx.out
        # records before start(): a list, not a deque (appended, then taken whole; an
        # empty deque is 0.74 KiB and a connection keeps this one for its life)
        self._early: list[tuple[bytes, Address]] = []
        self._future_records: list[Record] = []
        self._pending_app: list[bytes] = []
        self._timer = RetransmitTimer(ctx.initial_timeout, ctx.max_timeout, ctx.max_retransmissions)
        self._last_echo_at = -1e9  # when we last resent a flight because the peer resent its

        # record layer: read and write state per epoch
        self._read = {0: EpochState(0, None)}
        self._write = {0: EpochState(0, None)}
        self._write_epoch = 0
        self._last_record_seq = 0

        # flights: ours, and the peer message_seq range whose repeat makes us resend it
        self._reassembler = Reassembler()
        self._flight: Flight | None = None
        self._flight_clean = True
        self._retransmit_trigger: int | None = None
        self._retransmit_trigger_end = 0

        # the peer and the end of the handshake
        self._peer_certificate_der = b""
        self._peer_fingerprint = None
        self._peer_verified = False
        self._handshake_done = False
        self._completed_emitted = False
        self._close_sent = False
        # set once application data may flow, cleared when the connection ends
        self._fast_read: EpochState | None = None
        self._fast_write: EpochState | None = None

    # ---- the engine interface (DtlsEngine) ----------------------------------------------------

    @property
    def handshake(self) -> Handshake12 | None:
        """The role object (client or server handshake), once started."""
        return self._role

    @property
    def state_name(self) -> str:
        if self._end is not None:
            return self._end.value
        return self._role.state.value if self._role is not None else _State.IDLE.value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self._completed_emitted and self._end is None

    @property
    def version(self) -> DtlsVersion | None:
        role = self._role
        return DtlsVersion.DTLS_1_2 if role is not None and role.suite is not None else None

    @property
    def cipher_suite(self) -> AnyCipherSuite | None:
        role = self._role
        return role.suite.suite if role is not None and role.suite is not None else None

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        return self._role.srtp_profile if self._role is not None else None

    def start(self, now: float) -> None:
        """Make the role object: a client sends its ClientHello, a server starts answering
        (including any datagrams that arrived early)."""
        if self._role is not None or self._end is not None:
            raise DtlsUsageError("already started")
        role: Handshake12
        if self.ctx.role == DtlsRole.CLIENT:
            role = ClientHandshake(self.ctx, self)
        else:
            role = ServerHandshake(self.ctx, self)
        role.start(now)
        self._role = role
        early, self._early = self._early, []
        for data, addr in early:
            self.receive_general(data, addr, now)

    def protect(self, data: bytes | bytearray | memoryview) -> bytes:
        """One application data record (RFC 6347 §4.1; at most 2^14 bytes, RFC 5246 §6.2.1)."""
        write = self._fast_write
        if write is None:
            raise DtlsUsageError("DTLS connection is not established")
        if len(data) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        self.stats.records_sent += 1
        return write.protect(23, data)  # application_data (an int: IntEnum packs slower)

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """One application data record per packet (RFC 6347 §4.1), sealed as one batch."""
        write = self._fast_write
        if write is None:
            raise DtlsUsageError("DTLS connection is not established")
        if packets and max(map(len, packets)) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        self.stats.records_sent += len(packets)
        return write.protect_many(23, packets)  # application_data (an int: IntEnum packs slower)

    def export(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """RFC 5705 exporter (after the handshake completed)."""
        role = self._role
        if not self._handshake_done or role is None or role.suite is None:
            raise DtlsUsageError("keying material is only available after the handshake")
        if label in _RESERVED_LABELS:
            raise DtlsUsageError("this exporter label is reserved (RFC 5705 §4)")
        return role.export(label, length, context)

    def get_timer(self) -> float | None:
        if self._end is not None or self._role is None:
            return None
        return self._timer.deadline

    def handle_timer(self, now: float) -> None:
        deadline = self._timer.deadline
        if deadline is None or now < deadline or self._flight is None:
            return
        if not self._timer.expire(now):
            self._fail(DtlsTimeoutError("DTLS handshake timed out"), send_alert=False)
            return
        self._flight_clean = False
        self.stats.retransmissions += 1
        self._transmit_flight()

    # ---- what the role object asks (handshake.Host12) ------------------------------------------

    def send_flight(
        self, items: list[FlightItem], now: float, *, trigger: int | None, expect_reply: bool
    ) -> None:
        self._retransmit_trigger = trigger
        self._write_epoch = max(self._write_epoch, *(item.epoch for item in items))
        self._flight = Flight(items)
        self._retransmit_trigger_end = self._reassembler.next_seq
        self._transmit_flight()
        if expect_reply:
            self._timer.start(now, self._flight_clean)
        else:
            self._timer.stop()
        self._flight_clean = True

    def send_stateless(self, msg_type: int, seq: int, body: bytes, version: int) -> None:
        state = self._write[0]
        state.next_sequence = max(state.next_sequence, self._last_record_seq)
        message = encode_message(msg_type, seq, body)
        self._out.append(state.protect(ContentType.HANDSHAKE, message, version))

    def expect_message_seq(self, seq: int) -> None:
        self._reassembler.reset(seq)

    def install_keys(self, write: RecordCipher, read: RecordCipher) -> None:
        self._write[1], self._read[1] = EpochState(1, write), EpochState(1, read)

    def handshake_finished(self, now: float, *, keep_flight: bool) -> None:
        if not keep_flight:
            self._flight = None
        self._handshake_done = True
        self._timer.stop()
        self._maybe_complete()

    def hand_over13(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """Build the 1.3 engine, continuing our epoch-0 record numbers, and let it answer;
        this engine keeps nothing of the handshake (the connection drops it once it takes
        the successor)."""
        self._flight = None
        self._timer.stop()
        engine = Dtls13Engine(self.ctx, now, write_seq0=self._write[0].next_sequence)
        self.successor = engine
        if self._role is not None:
            self._role.forget()
        engine.begin(start, now)

    def _transmit_flight(self) -> None:
        assert self._flight is not None
        self._out.extend(self._flight.datagrams(self._write, self.ctx.mtu, DTLS1_2_VERSION))

    def _maybe_complete(self) -> None:
        role = self._role
        if not self._handshake_done or self._completed_emitted or not self._peer_verified:
            return
        if self._end is not None or role is None or role.suite is None:
            return
        self._completed_emitted = True
        # Messages of the handshake that still arrive are only counted or alerted (no
        # renegotiation), and the last flight is kept for retransmission (RFC 6347 §4.2.4).
        role.forget()
        self._fast_read = self._read[1]
        self._fast_write = self._write[self._write_epoch]
        self._emit_completed("DTLS 1.2", role.suite.suite, role.srtp_profile)

    # ---- receiving (the data path's reader, datapath.RecordReader) ----------------------------

    def receive_datagrams(self, datagrams: Iterable[bytes], addr: Address, now: float) -> None:
        datapath.receive_datagrams(self, self.ctx, datagrams, addr, now)

    def read_state(self) -> ReadState:
        """What the data path needs of the current read epoch (RFC 6347 §4.1)."""
        fast = self._fast_read
        if fast is None or fast.cipher is None:
            return datapath.NO_STATE
        cipher = fast.cipher
        # AES-GCM decrypts inline; ChaCha20 (gcm_decrypt None) through the cipher
        return (
            datapath.V12,
            fast.epoch,
            fast.replay,
            cipher.gcm_decrypt,
            cipher.implicit_iv,
            0,
            None,
            cipher,
            0,
            False,
        )

    def dispatch_inner(self, ctype: int, content: bytes, epoch: int, seq: int, now: float) -> None:
        raise AssertionError("DTLS 1.2 records have no inner content type")  # pragma: no cover

    def receive_general(self, data: bytes, addr: Address, now: float) -> None:
        """Every datagram the data path (:mod:`.datapath`) does not take: handshake,
        alerts, several records, other epochs, datagrams before :meth:`start`; after the
        hand-over to DTLS 1.3, the successor's."""
        successor = self.successor
        if successor is not None:
            successor.receive_datagrams((data,), addr, now)
            return
        if self._end is not None:
            return
        if self._role is None:
            if len(self._early) >= MAX_EARLY_DATAGRAMS:
                self.stats.dropped_early += 1
            else:
                self._early.append((bytes(data), addr))
            return
        self.stats.datagrams_received += 1
        try:
            records, trailing = parse_records(bytes(data))
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return
        if self.ctx.remote_address is None:
            self.ctx.remote_address = addr
        consumed = 0
        for record in records:
            if self.ended():
                return
            self._receive_record(record, now)
            consumed += HEADER_LENGTH + len(record.fragment)
            successor = self.successor
            if successor is not None:
                # DTLS 1.3 was just selected: the rest of the datagram is its records
                if consumed < len(data):
                    self.stats.datagrams_received -= 1  # counted once, by the successor
                    successor.receive_datagrams((bytes(data[consumed:]),), addr, now)
                return
        if trailing:
            self.stats.dropped_malformed += 1
        self._flush_future(now)

    # ---- record layer ------------------------------------------------------------------------

    def ended(self) -> bool:
        """Closed, failed, or handed over to DTLS 1.3."""
        return self._end is not None or self.successor is not None

    def _receive_record(self, record: Record, now: float) -> None:
        self.stats.records_received += 1
        state = self._read.get(record.epoch)
        if state is None:
            if record.epoch == 1 and len(self._future_records) < MAX_FUTURE_RECORDS:
                self._future_records.append(record)  # keys not ready yet (RFC 6347 §4.1)
            else:
                self.stats.dropped_epoch += 1
            return
        if not state.replay.is_fresh(record.sequence_number):
            self.stats.dropped_replay += 1
            return
        try:
            payload = state.unprotect(record)
        except DtlsDecodeError:
            self.stats.dropped_decrypt += 1  # RFC 6347 §4.1.2.7: silently discard
            return
        state.replay.mark(record.sequence_number)
        ctype = record.content_type
        if ctype == ContentType.HANDSHAKE:
            self._last_record_seq = record.sequence_number
            self._receive_handshake(payload, record.epoch, now)
        elif ctype == ContentType.APPLICATION_DATA:
            if record.epoch == 0:
                self.stats.dropped_unexpected += 1
            else:
                self._application_data(payload, now)
        elif ctype == ContentType.ALERT:
            self._receive_alert(payload, record.epoch)
        elif ctype == ContentType.CHANGE_CIPHER_SPEC:
            # Keys are switched by epoch numbers, not by the CCS itself (RFC 6347 §4.1:
            # records carry their epoch), so a CCS only has to be well-formed.
            if payload != b"\x01":
                self.stats.dropped_malformed += 1
        else:
            self.stats.dropped_unexpected += 1

    def _flush_future(self, now: float) -> None:
        if self._future_records and 1 in self._read:
            pending, self._future_records = self._future_records, []
            for record in pending:
                if self._end is not None:
                    return
                self._receive_record(record, now)

    def _may_alert(self) -> bool:
        return self._role is not None

    def _keys_exist(self) -> bool:
        return self._handshake_done

    def _alert_is_fatal(self, level: int, desc: AlertDescription) -> bool:
        return level == AlertLevel.FATAL  # warnings (no_renegotiation...) are only noted

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        state = self._write[self._write_epoch]
        self._out.append(state.protect(ContentType.ALERT, bytes([level, description])))

    def _stop(self, failed: bool) -> None:
        self._fast_read = self._fast_write = None
        self._end = _State.FAILED if failed else _State.CLOSED
        self._timer.stop()
        self._flight = None

    # ---- handshake layer ---------------------------------------------------------------------

    def _receive_handshake(self, payload: bytes, epoch: int, now: float) -> None:
        self._add_fragments(payload, now)
        self._process_messages(now)

    def _on_old_fragment(self, message_seq: int, now: float) -> None:
        """The peer repeated a message we processed: if it belongs to the flight our current
        flight answers, the peer lost our flight, so resend it (RFC 6347 §4.2.4). Any message
        of that flight triggers (its first datagram may be the one lost again), at most once
        per :data:`ECHO_GUARD` of the initial timeout so one repeated flight of many
        datagrams costs one retransmission."""
        if (
            self._flight is not None
            and self._retransmit_trigger is not None
            and self._retransmit_trigger <= message_seq < self._retransmit_trigger_end
            and now - self._last_echo_at >= self._timer.initial * ECHO_GUARD
            and not self.ended()
        ):
            self._last_echo_at = now
            self.stats.retransmissions += 1
            self._flight_clean = False
            self._transmit_flight()
            self._timer.restart(now)

    def _next_message(self) -> tuple[int, int, bytes] | None:
        role = self._role
        if role is not None and role.state == _State.SERVER_EXPECT_CLIENT_HELLO:
            # RFC 6347 §4.2.2: a ClientHello may come with any message_seq (after a
            # HelloVerifyRequest, the client's second hello is 1)
            return self._reassembler.pop_any(HandshakeType.CLIENT_HELLO)
        return self._reassembler.pop()

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        role = self._role
        assert role is not None  # records are only read once started
        established = role.state == _State.ESTABLISHED
        if msg_type == HandshakeType.HELLO_REQUEST and role.is_client:
            if established:  # RFC 5746 / RFC 8827 §6.5: no renegotiation
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return  # RFC 5246 §7.4.1.1: ignored during a handshake
        if established:
            if msg_type == HandshakeType.CLIENT_HELLO and not role.is_client:
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            else:
                self.stats.dropped_unexpected += 1
            return
        role.handle(msg_type, seq, body, now)
