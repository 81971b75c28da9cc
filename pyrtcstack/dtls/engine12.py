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

Which handler takes which message is :mod:`.handlers`; the handlers are :mod:`.client` and
:mod:`.server`. When the hellos select DTLS 1.3 (:mod:`.negotiation`), this engine builds
the :class:`~.engine13.Dtls13Engine` that continues and names it its :attr:`successor`;
from then on it takes no datagram of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from ..common.core import Address
from . import datapath
from .client import ClientHandshake
from .constants import (
    AlertDescription,
    AlertLevel,
    ContentType,
    DtlsVersion,
    HandshakeType,
)
from .datapath import ReadState
from .engine import ECHO_GUARD, AnyCipherSuite, DtlsContext, DtlsEngine
from .engine13 import Dtls13Engine
from .errors import (
    DtlsDecodeError,
    DtlsTimeoutError,
    DtlsUsageError,
)
from .flights import RetransmitTimer
from .fragments import Reassembler
from .handlers import HANDLERS, dispatch
from .handshake import DtlsRole
from .handshake import State as _State
from .messages import ClientHello, ServerHello
from .prf import export_keying_material
from .record import (
    HEADER_LENGTH,
    MAX_PLAINTEXT,
    EpochState,
    Record,
    parse_records,
)
from .server import ServerHandshake

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


class Dtls12Engine(ClientHandshake, ServerHandshake):
    """One DTLS 1.2 association, client or server, from the first hello (see the module
    docstring); the configuration, events and output are the connection's ``ctx``."""

    __slots__ = ()

    def __init__(self, ctx: DtlsContext) -> None:
        self.ctx = ctx
        self.stats = ctx.stats
        self.successor: DtlsEngine | None = None
        self._shares13 = {}
        self._retry13 = None
        self._state = _State.IDLE
        self._events = ctx.events
        self._out = ctx.out
        # records before start(): a list, not a deque (appended, then taken whole; an
        # empty deque is 0.74 KiB and a connection keeps this one for its life)
        self._early: list[tuple[bytes, Address]] = []
        self._future_records: list[Record] = []
        self._pending_app = []
        self._timer = RetransmitTimer(ctx.initial_timeout, ctx.max_timeout, ctx.max_retransmissions)
        self._last_echo_at = -1e9  # when we last resent a flight because the peer resent its

        # record layer: read and write state per epoch
        self._read = {0: EpochState(0, None)}
        self._write = {0: EpochState(0, None)}
        self._write_epoch = 0

        # handshake layer
        self._reassembler = Reassembler()
        self._send_seq = 0
        self._transcript = bytearray()
        self._flight = None
        self._flight_clean = True
        # message_seq range of the peer flight our current flight answers
        self._retransmit_trigger = None
        self._retransmit_trigger_end = 0
        self._peer_flight_start = 0  # first message_seq of the peer's latest flight
        self._last_record_seq = 0
        self._hello_verify_count = 0

        # negotiated parameters
        self._client_random = b""
        self._server_random = b""
        self._client_hello = None
        self._suite = None
        self._srtp_profile = None
        self._ecdhe = None
        self._pre_master = b""
        self._master = b""
        self._peer_certificate = None
        self._peer_certificate_der = b""
        self._peer_verified = False
        self._peer_signature_schemes = None
        self._certificate_requested = False
        self._handshake_done = False
        self._completed_emitted = False
        self._close_sent = False
        # set once application data may flow, cleared when the connection ends
        self._fast_read = None
        self._fast_write = None

    # ---- the engine interface (DtlsEngine) ----------------------------------------------------

    @property
    def state_name(self) -> str:
        return self._state.value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self._completed_emitted and self._state == _State.ESTABLISHED

    @property
    def version(self) -> DtlsVersion | None:
        return DtlsVersion.DTLS_1_2 if self._suite is not None else None

    @property
    def cipher_suite(self) -> AnyCipherSuite | None:
        return self._suite.suite if self._suite is not None else None

    def start(self, now: float) -> None:
        """A client sends its ClientHello, a server starts answering (including any
        datagrams that arrived early)."""
        if self._state != _State.IDLE:
            raise DtlsUsageError("already started")
        if self.ctx.role == DtlsRole.CLIENT:
            if self.ctx.remote_address is None:
                raise DtlsUsageError("a client needs remote_address before start()")
            self._client_random = self.ctx.rng.randbytes(32)
            self._send_client_hello(now, cookie=b"")
            self._state = _State.CLIENT_EXPECT_SERVER_HELLO
        else:
            self._state = _State.SERVER_EXPECT_CLIENT_HELLO
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
        if not self._handshake_done or self._suite is None:
            raise DtlsUsageError("keying material is only available after the handshake")
        if label in _RESERVED_LABELS:
            raise DtlsUsageError("this exporter label is reserved (RFC 5705 §4)")
        return export_keying_material(
            self._suite.hash_name,
            self._master,
            self._client_random,
            self._server_random,
            label=label,
            length=length,
            context=context,
        )

    def get_timer(self) -> float | None:
        if self._state in (_State.CLOSED, _State.FAILED, _State.IDLE):
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
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        if self._state == _State.IDLE:
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

    # ---- DTLS 1.3 hand-over -------------------------------------------------------------------

    def _start13_server(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        """The ClientHello selected DTLS 1.3: the 1.3 engine answers (RFC 9147 §5.3)."""
        engine = self._successor13(now)
        self._retry13 = None
        engine.start_server(hello, body, seq, now)

    def _start13_client(self, hello: ServerHello, seq: int, body: bytes, now: float) -> None:
        """The ServerHello (or HelloRetryRequest) selected DTLS 1.3."""
        assert self._client_hello is not None
        engine = self._successor13(now)
        engine.start_client(
            hello,
            seq,
            body,
            now,
            client_hello=self._client_hello,
            client_hello_body=self._client_hello.encode(),
            shares=self._shares13,
        )

    def _successor13(self, now: float) -> Dtls13Engine:
        """The 1.3 engine, continuing our epoch-0 record numbers; this engine keeps nothing
        of the handshake (the connection drops it once it takes the successor)."""
        self._flight = None
        self._timer.stop()
        engine = Dtls13Engine(
            self.ctx, now, write_seq0=self._write[0].next_sequence, retry=self._retry13
        )
        self.successor = engine
        self._transcript = bytearray()
        return engine

    # ---- record layer ------------------------------------------------------------------------

    def ended(self) -> bool:
        """Closed, failed, or handed over to DTLS 1.3."""
        return self._state in (_State.CLOSED, _State.FAILED) or self.successor is not None

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
                if self._state in (_State.CLOSED, _State.FAILED):
                    return
                self._receive_record(record, now)

    def _may_alert(self) -> bool:
        return self._state != _State.IDLE

    def _keys_exist(self) -> bool:
        return self._handshake_done

    def _alert_is_fatal(self, level: int, desc: AlertDescription) -> bool:
        return level == AlertLevel.FATAL  # warnings (no_renegotiation...) are only noted

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        state = self._write[self._write_epoch]
        self._out.append(state.protect(ContentType.ALERT, bytes([level, description])))

    def _stop(self, failed: bool) -> None:
        self._fast_read = self._fast_write = None
        self._state = _State.FAILED if failed else _State.CLOSED
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
        if self._state == _State.SERVER_EXPECT_CLIENT_HELLO:
            return self._reassembler.pop_any(HandshakeType.CLIENT_HELLO)
        return self._reassembler.pop()

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self._state
        if msg_type == HandshakeType.HELLO_REQUEST and self.ctx.role == DtlsRole.CLIENT:
            if state == _State.ESTABLISHED:  # RFC 5746 / RFC 8827 §6.5: no renegotiation
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return  # RFC 5246 §7.4.1.1: ignored during a handshake
        if state == _State.ESTABLISHED:
            if msg_type == HandshakeType.CLIENT_HELLO and self.ctx.role == DtlsRole.SERVER:
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            else:
                self.stats.dropped_unexpected += 1
            return
        dispatch(HANDLERS, self, state, (msg_type, seq, body), now)
