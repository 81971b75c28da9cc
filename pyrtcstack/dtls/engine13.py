"""The DTLS 1.3 engine (RFC 9147): record layer, flights, ACKs and timers, for both roles.

The 1.2 engine (:mod:`.engine12`, which speaks the hellos) builds a :class:`Dtls13Engine` at
the moment :mod:`.negotiation` selects DTLS 1.3: the server when it reads a ClientHello
whose supported_versions holds 0xFEFC (and 1.3 is allowed), the client when the ServerHello
(or HelloRetryRequest) selects 0xFEFC; the connection then calls this engine alone (the
interface is :class:`~.engine.DtlsEngine`). Events, datagrams and counters go into the
connection's :class:`~.engine.DtlsContext`.

The full handshake as this code runs it (WebRTC: both sides authenticate)::

    client                                                   server
    ClientHello (+key_share, supported_versions) ----->           epoch 0
                                <-----  HelloRetryRequest          (only if no usable share
    ClientHello (+cookie/new share)  ----->                         or a cookie is wanted)
                                                 ServerHello       epoch 0
                                         EncryptedExtensions       epoch 2 (use_srtp)
                                          CertificateRequest
                                                 Certificate
                                           CertificateVerify
                                <-----              Finished
    Certificate, CertificateVerify, Finished ----->               epoch 2
                                <-----                   ACK       epoch 3 (RFC 9147 §7)
    application data            <---->      application data      epoch 3

Retransmission (RFC 9147 §5.8): each flight is resent on a doubling timer until the peer's
next flight (an implicit acknowledgement) or an ACK covering every record of it arrives; a
record the peer ACKed is not resent. The client's final flight has no reply, so the server
ACKs it, and ACKs it again if it is repeated.

Epochs (RFC 9147 §6.1): 0 plaintext, 1 early data (unused), 2 handshake, 3 application; a
KeyUpdate (RFC 8446 §4.6.3) moves a direction to 4, 5, ...
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..common.core import Address
from . import datapath
from .client13 import ClientHandshake13
from .constants import (
    DTLS1_2_VERSION,
    AlertDescription,
    AlertLevel,
    CipherSuite13,
    ContentType,
    DtlsVersion,
)
from .datapath import ReadState
from .engine import ECHO_GUARD
from .errors import (
    DtlsDecodeError,
    DtlsTimeoutError,
    DtlsUsageError,
)
from .flights import RetransmitTimer
from .fragments import HANDSHAKE_HEADER_LENGTH, Reassembler, fragment_message
from .handlers import HANDLERS13, dispatch
from .handshake13 import State13, _Item
from .keyschedule import TAG_LENGTH, KeySchedule, Suite13, TrafficKeys
from .record import HEADER_LENGTH, MAX_PLAINTEXT, MAX_SEQUENCE, ReplayWindow, encode_record
from .record import pack_datagrams as _pack
from .record13 import (
    CONTENT_ACK,
    MAX_ACK_RECORDS,
    UNIFIED_HEADER,
    UNIFIED_HEADER_LENGTH,
    CiphertextRecord,
    PlaintextRecord,
    decode_ack,
    encode_ack,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    seal_record,
    unmask_sequence,
)
from .server13 import ServerHandshake13

if TYPE_CHECKING:
    from .engine import AnyCipherSuite, DtlsContext, DtlsEngine

__all__ = ["Dtls13Engine", "State13"]

#: The AEAD nonce as the data path builds it: the IV's first 4 bytes, then its last 8 XOR
#: the record's sequence number (RFC 8446 §5.3).
_NONCE = struct.Struct("!4sQ")
#: The first two bytes of each 16-byte mask, as 16-bit numbers (RFC 9147 §4.2.3).
_MASK16 = struct.Struct("!H14x").iter_unpack


class Dtls13Engine(ClientHandshake13, ServerHandshake13):
    """Everything after version negotiation picked DTLS 1.3 (see the module docstring)."""

    def __init__(
        self,
        ctx: DtlsContext,
        now: float,
        *,
        write_seq0: int = 0,
        retry: tuple[bytes, Suite13, int | None, bytes] | None = None,
    ) -> None:
        """``write_seq0``: the next epoch-0 record number (the hellos already sent some);
        ``retry``: what our stateless HelloRetryRequest cookie carried (server only)."""
        self.ctx = ctx
        self.role = ctx.role
        self.stats = ctx.stats
        self._events = ctx.events
        self._out = ctx.out
        self.successor: DtlsEngine | None = None
        self._retry = retry
        self._timer = RetransmitTimer(ctx.initial_timeout, ctx.max_timeout, ctx.max_retransmissions)
        self.state = State13.CONNECTED  # set properly by the handshake entry points
        self.established = False
        self._completed = False
        self._close_sent = False
        # record layer
        self._write_epoch = 0
        self._write_keys: dict[int, TrafficKeys] = {}
        self._write_seq: dict[int, int] = {0: write_seq0}
        self._read_keys: dict[int, TrafficKeys] = {}
        self._windows: dict[int, ReplayWindow] = {0: ReplayWindow()}
        self._pending_app: list[bytes] = []
        # handshake layer
        self._reassembler = Reassembler()
        self._send_seq = 0
        self._transcript = bytearray()
        self._schedule: KeySchedule | None = None
        self._flight: list[_Item] = []
        self._flight_needs_ack = False
        self._acked: set[tuple[int, int]] = set()
        self._trigger: tuple[int, int] | None = None  # peer message_seq range that re-sends
        self._last_echo_at = -1e9
        self._ack_pending: list[tuple[int, int]] = []  # records of the peer's flight to ACK
        self._send_ack_on_old = False
        self._current_records: list[tuple[int, int]] = []  # handshake records being processed
        self._pending_key_update: int | None = None  # next write epoch, once our KU is ACKed
        # the data path's current read epoch (set once established, see _update_fast_path)
        self._fast_keys: TrafficKeys | None = None
        self._fast_wkeys: TrafficKeys | None = None  # our write keys, once established
        self._fast_wfirst = 0x2C
        self._fast_first = -1
        self._fast_epoch = 0
        self._fast_window = ReplayWindow()
        self._init_handshake(now)

    # ---- the engine interface (DtlsEngine) ----------------------------------------------------

    @property
    def state_name(self) -> str:
        return self.state.value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self.established and self._completed

    @property
    def version(self) -> DtlsVersion | None:
        return DtlsVersion.DTLS_1_3

    @property
    def cipher_suite(self) -> AnyCipherSuite | None:
        return CipherSuite13(self._suite.code) if self._suite is not None else None

    def start(self, now: float) -> None:
        raise DtlsUsageError("already started")  # the 1.2 engine started; we continue

    def _update_fast_path(self) -> None:
        """Point the receive fast path at the newest read epoch (after the handshake and
        after each KeyUpdate from the peer); None while not established."""
        if not self.established or self.ended() or not self._completed:
            self._fast_keys = self._fast_wkeys = None
            return
        self._write_seq.setdefault(self._write_epoch, 0)
        self._fast_wkeys = self._write_keys[self._write_epoch]
        self._fast_wfirst = 0x2C | (self._write_epoch & 3)
        epoch = max(self._read_keys)
        self._fast_epoch = epoch
        self._fast_keys = self._read_keys[epoch]
        self._fast_window = self._windows[epoch]
        self._fast_first = 0x2C | (epoch & 3)

    def ended(self) -> bool:
        return self.state in (State13.CLOSED, State13.FAILED)

    def protect(self, data: bytes | bytearray | memoryview) -> bytes:
        """One application data record (RFC 9147 §4): :meth:`protect_many` of one, without
        the batch's setup (a caller that sends one message at a time)."""
        keys = self._fast_wkeys
        if keys is None:
            raise DtlsUsageError("DTLS connection is not established")
        counters = self._write_seq
        epoch = self._write_epoch
        seq = counters[epoch]
        if len(data) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        if seq > MAX_SEQUENCE:
            raise DtlsUsageError("DTLS sequence number space exhausted for this epoch")
        first = self._fast_wfirst
        pack = UNIFIED_HEADER.pack
        sealed = keys.seal_raw(
            _NONCE.pack(keys.iv_high, keys.iv_low ^ seq),
            (data if type(data) is not memoryview else data.tobytes()) + b"\x17",
            pack(first, seq & 0xFFFF, len(data) + 17),
        )
        counters[epoch] = seq + 1
        self.stats.records_sent += 1
        ((mask16,),) = _MASK16(keys.masks(sealed[:16]))
        return pack(first, (seq & 0xFFFF) ^ mask16, len(sealed)) + sealed

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """One application data record per packet, in order, in the current write epoch
        (RFC 9147 §4): ``seal_record`` inlined for the data path, the same header, nonce,
        additional data and mask. With AES the record-number masks (§4.2.3) of the whole
        batch come from one AES-ECB call (ECB masks each 16-byte sample on its own).
        Raises :class:`DtlsUsageError` before sealing anything if a packet exceeds 2^14
        bytes or the epoch's sequence numbers would run out."""
        keys = self._fast_wkeys
        if keys is None:
            raise DtlsUsageError("DTLS connection is not established")
        counters = self._write_seq
        epoch = self._write_epoch
        first = self._fast_wfirst
        seal = keys.seal_raw
        # RFC 8446 §5.3: nonce = IV xor the 64-bit sequence number (left-padded)
        iv_high = keys.iv_high
        iv_low = keys.iv_low
        nonce = _NONCE.pack
        pack = UNIFIED_HEADER.pack
        start = counters[epoch]
        # checked before anything is sealed: a batch is protected whole or not at all
        if packets and max(map(len, packets)) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        if start + len(packets) - 1 > MAX_SEQUENCE:
            raise DtlsUsageError("DTLS sequence number space exhausted for this epoch")
        # RFC 8446 §5.2: the inner plaintext is content || type (no padding); RFC 9147 §4:
        # the additional data is the header with the sequence number not yet masked, its
        # length = content + type + 16-byte tag. (AESGCM takes bytes and bytearray; a
        # memoryview is copied once.)
        sealed = [
            seal(
                nonce(iv_high, iv_low ^ seq),
                (data if type(data) is not memoryview else data.tobytes()) + b"\x17",
                pack(first, seq & 0xFFFF, len(data) + 17),
            )
            for seq, data in enumerate(packets, start)
        ]
        end = start + len(sealed)
        counters[epoch] = end
        self.stats.records_sent += len(sealed)
        # RFC 9147 §4.2.3: each record's sequence bits XOR the first two bytes of the mask
        # made from its first 16 ciphertext bytes; the masks of the batch in one call
        masks = _MASK16(keys.masks(b"".join([s[:16] for s in sealed])))
        return [
            pack(first, (seq & 0xFFFF) ^ mask16, len(s)) + s
            for seq, (mask16,), s in zip(range(start, end), masks, sealed, strict=True)
        ]

    def get_timer(self) -> float | None:
        if self.ended():
            return None
        return self._timer.deadline

    def handle_timer(self, now: float) -> None:
        deadline = self._timer.deadline
        if deadline is None or now < deadline or not self._flight:
            return
        if not self._timer.expire(now):
            self._fail(DtlsTimeoutError("DTLS handshake timed out"), send_alert=False)
            return
        self.stats.retransmissions += 1
        self._transmit_flight()

    def export(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """The TLS 1.3 exporter (RFC 8446 §7.5), once the handshake is done (a server has the
        exporter secret before the client's Finished arrived: not yet)."""
        schedule = self._schedule
        if not self.established or schedule is None or not schedule.exporter_master_secret:
            raise DtlsUsageError("keying material is only available after the handshake")
        return schedule.export(label, context or b"", length)

    # ---- receiving ---------------------------------------------------------------------------

    def receive_datagrams(self, datagrams: Iterable[bytes], addr: Address, now: float) -> None:
        datapath.receive_datagrams(self, self.ctx, datagrams, addr, now)

    def read_state(self) -> ReadState:
        """What the data path needs of the current read epoch (RFC 9147 §4)."""
        keys = self._fast_keys
        if keys is None:
            return datapath.NO_STATE
        # RFC 9147 §7: a client still waiting for the ACK of its final flight takes the
        # server's application data as that ACK; dispatch_inner does that once
        implied = self._flight_needs_ack and self._pending_key_update is None
        return (
            datapath.V13,
            self._fast_first,
            self._fast_window,
            keys.open_raw,
            keys.iv_high,
            keys.iv_low,
            keys.masks,
            None,
            self._fast_epoch,
            implied and self._is_client(),
        )

    def receive_general(self, data: bytes, addr: Address, now: float) -> None:
        """One datagram the data path (:mod:`.datapath`) did not take: any mix of
        DTLSPlaintext and DTLSCiphertext records (RFC 9147 §4)."""
        if self.ended():
            return
        if self.ctx.remote_address is None:
            self.ctx.remote_address = addr
        self.stats.datagrams_received += 1
        records, trailing = parse_datagram13(bytes(data))
        if trailing or not records:
            self.stats.dropped_malformed += 1
        for record in records:
            if self.ended():
                return
            self.stats.records_received += 1
            if isinstance(record, PlaintextRecord):
                self._receive_plaintext(record, now)
            else:
                self._receive_ciphertext(record, now)

    def _receive_plaintext(self, record: PlaintextRecord, now: float) -> None:
        """DTLSPlaintext: epoch 0 only (RFC 9147 §4)."""
        if record.epoch != 0:
            self.stats.dropped_epoch += 1
            return
        window = self._windows[0]
        if not window.is_fresh(record.sequence_number):
            self.stats.dropped_replay += 1
            return
        window.mark(record.sequence_number)
        self.dispatch_inner(record.content_type, record.fragment, 0, record.sequence_number, now)

    def _receive_ciphertext(self, record: CiphertextRecord, now: float) -> None:
        """DTLSCiphertext (RFC 9147 §4): find the epoch by its low bits, unmask and rebuild the
        sequence number (§4.2.2, §4.2.3), authenticate, then dispatch the inner type."""
        epoch = max(
            (e for e in self._read_keys if e & 3 == record.epoch_bits),
            default=None,
        )
        if epoch is None:
            self.stats.dropped_epoch += 1
            return
        keys = self._read_keys[epoch]
        window = self._windows[epoch]
        try:
            low = unmask_sequence(keys, record)
            seq = reconstruct_sequence(low, 8 * record.seq_length, window.highest + 1)
            if seq > MAX_SEQUENCE or not window.is_fresh(seq):
                self.stats.dropped_replay += 1
                return
            ctype, content = open_record(keys, epoch, seq, low, record)
        except DtlsDecodeError:
            self.stats.dropped_decrypt += 1  # RFC 9147 §4.5.2: silently discard
            return
        window.mark(seq)
        self.dispatch_inner(ctype, content, epoch, seq, now)

    def dispatch_inner(self, ctype: int, content: bytes, epoch: int, seq: int, now: float) -> None:
        """One authenticated record's inner plaintext, by its type (RFC 9147 §4)."""
        if ctype == ContentType.HANDSHAKE:
            self._current_records = [(epoch, seq)]
            self._receive_handshake(content, epoch, now)
        elif ctype == ContentType.APPLICATION_DATA:
            if epoch < 3:
                self.stats.dropped_unexpected += 1  # RFC 8446 §5.1: never unprotected
            else:
                if (
                    self.is_established
                    and self._flight_needs_ack
                    and self._pending_key_update is None
                    and self._is_client()
                ):
                    # RFC 9147 §7: the server's data implies our Finished got in (not a
                    # KeyUpdate: only an ACK acknowledges that, §8)
                    self._flight_acknowledged()
                self._application_data(content, now)
        elif ctype == ContentType.ALERT:
            self._receive_alert(content, epoch)
        elif ctype == CONTENT_ACK:
            self._receive_ack(content, epoch)
        else:
            self.stats.dropped_unexpected += 1

    def _receive_ack(self, content: bytes, epoch: int) -> None:
        """ACK (RFC 9147 §7): records of our flight the peer holds are not resent; once all
        are, the flight is done."""
        try:
            numbers = decode_ack(content)
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return
        if not self._flight:
            return
        # only numbers of records we sent count (bounds the set to our flight's records)
        sent = {r for item in self._flight for records in item.sent_in for r in records}
        self._acked.update(n for n in numbers if n in sent)
        pending = [item for item in self._flight if not self._item_acked(item)]
        if not pending:
            self._flight_acknowledged()

    def _item_acked(self, item: _Item) -> bool:
        return any(all(r in self._acked for r in sent) for sent in item.sent_in if sent)

    def _flight_acknowledged(self) -> None:
        self._flight = []
        self._flight_needs_ack = False
        self._timer.stop()
        if self._pending_key_update is not None:
            self._write_epoch = self._pending_key_update  # RFC 9147 §8: switch once ACKed
            self._pending_key_update = None
            for old in [e for e in self._write_keys if 3 <= e < self._write_epoch - 1]:
                del self._write_keys[old]  # bounded: the previous epoch is kept, no more
                self._write_seq.pop(old, None)
            self._update_fast_path()

    def _receive_handshake(self, payload: bytes, epoch: int, now: float) -> None:
        old = self._add_fragments(payload, now)
        if not old:
            self._ack_pending.extend(self._current_records)
            del self._ack_pending[:-MAX_ACK_RECORDS]
        elif self._send_ack_on_old:
            self._ack_pending.extend(self._current_records)
            self._send_ack()
        self._process_messages(now)

    def _on_old_fragment(self, message_seq: int, now: float) -> None:
        """The peer repeated a message we processed: it lost our answer, resend it (RFC 9147
        §5.8.1)."""
        trigger = self._trigger
        if (
            self._flight
            and trigger is not None
            and trigger[0] <= message_seq < trigger[1]
            and now - self._last_echo_at >= self._timer.initial * ECHO_GUARD
        ):
            self._last_echo_at = now
            self.stats.retransmissions += 1
            self._transmit_flight()
            self._timer.restart(now)

    # ---- sending -----------------------------------------------------------------------------

    def _is_client(self) -> bool:
        return self.role is not None and self.role.value == "client"

    def _next_write_seq(self, epoch: int) -> int:
        seq = self._write_seq.get(epoch, 0)
        if seq > MAX_SEQUENCE:
            raise DtlsUsageError("DTLS sequence number space exhausted for this epoch")
        self._write_seq[epoch] = seq + 1
        return seq

    def _seal(self, epoch: int, ctype: int, data: bytes) -> bytes:
        seq = self._next_write_seq(epoch)
        if epoch == 0:
            return encode_record(ctype, DTLS1_2_VERSION, 0, seq, data)
        return seal_record(self._write_keys[epoch], epoch, seq, ctype, data)

    def _send_flight(self, items: list[_Item], now: float, needs_ack: bool) -> None:
        """Send a new flight; its timer runs until it is acknowledged (RFC 9147 §5.8)."""
        self._flight = items
        self._flight_needs_ack = needs_ack
        self._acked.clear()
        self._ack_pending = []  # our flight acknowledges the peer's implicitly (§7)
        self._transmit_flight()
        self._timer.start(now, True)

    def _transmit_flight(self) -> None:
        records: list[bytes] = []
        for item in self._flight:
            if self._item_acked(item):
                continue  # RFC 9147 §7.1: do not resend what the peer acknowledged
            overhead = HEADER_LENGTH if item.epoch == 0 else UNIFIED_HEADER_LENGTH + TAG_LENGTH + 1
            room = self.ctx.mtu - overhead - HANDSHAKE_HEADER_LENGTH
            sent: list[tuple[int, int]] = []
            for piece in fragment_message(item.msg_type, item.seq, item.body, room):
                seq_before = self._write_seq.get(item.epoch, 0)
                records.append(self._seal(item.epoch, ContentType.HANDSHAKE, piece))
                sent.append((item.epoch, seq_before))
            item.sent_in.append(sent)
        self._out.extend(_pack(records, self.ctx.mtu))

    def _make_item(self, msg_type: int, body: bytes, epoch: int) -> _Item:
        item = _Item(epoch, msg_type, self._send_seq, body)
        self._send_seq += 1
        self._add_transcript(msg_type, body)
        return item

    def _add_transcript(self, msg_type: int, body: bytes) -> None:
        # RFC 9147 §5.2: the transcript holds TLS 1.3-style headers (no message_seq or
        # fragment fields).
        self._transcript += bytes([msg_type]) + len(body).to_bytes(3, "big") + body

    def _send_ack(self) -> None:
        """ACK the peer's records (RFC 9147 §7), in our newest write epoch."""
        if not self._ack_pending or self._write_epoch == 0:
            return
        numbers = sorted(set(self._ack_pending))[-MAX_ACK_RECORDS:]
        self._out.append(self._seal(self._write_epoch, CONTENT_ACK, encode_ack(numbers)))

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        with contextlib.suppress(DtlsUsageError):  # no write epoch yet
            self._out.append(
                self._seal(self._write_epoch, ContentType.ALERT, bytes([level, description]))
            )

    def _may_alert(self) -> bool:
        return True

    def _keys_exist(self) -> bool:
        return self.established

    def _alert_is_fatal(self, level: int, desc: AlertDescription) -> bool:
        # RFC 8446 §6: in TLS 1.3 every error alert is fatal, whatever its level says
        return level == AlertLevel.FATAL or desc != AlertDescription.USER_CANCELED

    def _stop(self, failed: bool) -> None:
        self._fast_keys = self._fast_wkeys = None
        self.state = State13.FAILED if failed else State13.CLOSED
        self.established = False
        self._timer.stop()
        self._flight = []

    def _release_pending(self, deliver: Callable[[bytes], None]) -> None:
        pending, self._pending_app = self._pending_app, []
        for data in pending:
            deliver(data)

    # ---- message dispatch ----------------------------------------------------------------

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self.state
        if state == State13.CONNECTED:
            self._post_handshake(msg_type, body, now)
            return
        dispatch(HANDLERS13, self, state, (msg_type, seq, body), now)
