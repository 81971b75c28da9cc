"""The DTLS 1.3 engine (RFC 9147): record layer, flights, ACKs and timers, for both roles.

The 1.2 engine (:mod:`.engine12`, which speaks the hellos) builds a :class:`Dtls13Engine` at
the moment :mod:`.negotiation` selects DTLS 1.3: the server when it reads a ClientHello
whose supported_versions holds 0xFEFC (and 1.3 is allowed), the client when the ServerHello
(or HelloRetryRequest) selects 0xFEFC; the connection then calls this engine alone (the
interface is :class:`~.engine.DtlsEngine`). Events, datagrams and counters go into the
connection's :class:`~.engine.DtlsContext`.

The engine keeps the records, epochs, flights, ACKs and timers, the post-handshake
messages, alerts and the end; the handshake itself is one role object made with the engine
(the role is known by then): a :class:`~.client13.ClientHandshake13` or a
:class:`~.server13.ServerHandshake13` (:mod:`.handshake13`), which reaches the engine only
through :class:`~.handshake13.Host13`.

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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

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
from .engine import ECHO_GUARD, EngineBase
from .errors import (
    DtlsDecodeError,
    DtlsError,
    DtlsHandshakeError,
    DtlsTimeoutError,
    DtlsUsageError,
)
from .flights import RetransmitTimer
from .fragments import HANDSHAKE_HEADER_LENGTH, Reassembler, fragment_message
from .handshake13 import (
    MAX_OLD_READ_EPOCHS,
    ClientStart13,
    Handshake13,
    ServerStart13,
    State13,
    _Item,
)
from .keyschedule import TAG_LENGTH, TrafficKeys
from .messages13 import KeyUpdate
from .record import HEADER_LENGTH, MAX_PLAINTEXT, MAX_SEQUENCE, ReplayWindow, encode_record
from .record import pack_datagrams as _pack
from .record13 import (
    CONTENT_ACK,
    MAX_ACK_RECORDS,
    SAMPLE,
    UNIFIED_HEADER,
    UNIFIED_HEADER_LENGTH,
    CiphertextRecord,
    PlaintextRecord,
    decode_ack,
    encode_ack,
    first16,
    open_record,
    parse_datagram13,
    reconstruct_sequence,
    seal_record,
    unmask_sequence,
)
from .server13 import ServerHandshake13
from .srtp import SrtpProfile

if TYPE_CHECKING:
    from .engine import AnyCipherSuite, DtlsContext, DtlsEngine

__all__ = ["Dtls13Engine", "State13"]

#: The AEAD nonce as the data path builds it: the IV's first 4 bytes, then its last 8 XOR
#: the record's sequence number (RFC 8446 §5.3).
_NONCE = struct.Struct("!4sQ")
#: Post-handshake messages (RFC 8446 §4.6).
_NEW_SESSION_TICKET: Final = 4
_KEY_UPDATE: Final = 24


class Dtls13Engine(EngineBase):
    """Everything after version negotiation picked DTLS 1.3 (see the module docstring).

    ``__slots__``, as the 1.2 engine: it lives as long as its peer connection and has
    more attributes than an instance dict shares keys for, so a dict cost ~1.5 KiB."""

    __slots__ = (
        "__weakref__",  # the role object's reference back (handlers.HandshakeRole)
        "_ack_pending",
        "_acked",
        "_client",
        "_completed",
        "_current_records",
        "_end",
        "_events",
        "_fast_epoch",
        "_fast_first",
        "_fast_keys",
        "_fast_wfirst",
        "_fast_window",
        "_fast_wkeys",
        "_flight",
        "_flight_needs_ack",
        "_last_echo_at",
        "_out",
        "_pending_key_update",
        "_read2_dormant",
        "_read_keys",
        "_reassembler",
        "_role",
        "_send_ack_on_old",
        "_send_seq",
        "_timer",
        "_trigger",
        "_windows",
        "_write_epoch",
        "_write_keys",
        "_write_seq",
        "ctx",
        "established",
        "stats",
        "successor",
    )

    def __init__(self, ctx: DtlsContext, now: float, *, write_seq0: int = 0) -> None:
        """``write_seq0``: the next epoch-0 record number (the hellos already sent some)."""
        self.ctx = ctx
        self.stats = ctx.stats
        self._events = ctx.events
        self._out = ctx.out
        self.successor: DtlsEngine | None = None
        self._client = ctx.role is not None and ctx.role.value == "client"
        #: the handshake of our role (the 1.2 engine started, so the role is known)
        self._role: Handshake13 = (
            ClientHandshake13(ctx, self) if self._client else ServerHandshake13(ctx, self)
        )
        self._end: State13 | None = None  # CLOSED or FAILED once the connection ended
        self._timer = RetransmitTimer(ctx.initial_timeout, ctx.max_timeout, ctx.max_retransmissions)
        self.established = False
        self._completed = False
        self._close_sent = False
        self._peer_certificate_der = b""
        self._peer_fingerprint = None
        self._peer_verified = False
        # record layer
        self._write_epoch = 0
        self._write_keys: dict[int, TrafficKeys] = {}
        self._write_seq: dict[int, int] = {0: write_seq0}
        self._read_keys: dict[int, TrafficKeys] = {}
        #: a server dropped the client's epoch-2 keys, and derives them again if its final
        #: flight comes again (see _forget_handshake_keys)
        self._read2_dormant = False
        self._windows: dict[int, ReplayWindow] = {0: ReplayWindow()}
        self._pending_app: list[bytes] = []
        # handshake layer: the peer's messages, ours (numbered here), flights and ACKs
        self._reassembler = Reassembler()
        # a client's message 0 was the 1.2 engine's ClientHello
        self._send_seq = 1 if self._client else 0
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

    def begin(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """Continue from the hello that selected DTLS 1.3 (the 1.2 engine read it); a
        client then handles the messages that came with the ServerHello."""
        if isinstance(start, ServerStart13) and start.retry is not None:
            self._send_seq = 1  # our stateless HelloRetryRequest was message 0
        try:
            self._role.begin(start, now)
        except DtlsError as exc:
            self._fail(exc)
        if self._client:
            self._process_messages(now)

    # ---- the engine interface (DtlsEngine) ----------------------------------------------------

    @property
    def handshake(self) -> Handshake13:
        """The role object (client or server handshake)."""
        return self._role

    @property
    def state_name(self) -> str:
        return (self._end or self._role.state).value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self.established and self._completed

    @property
    def version(self) -> DtlsVersion | None:
        return DtlsVersion.DTLS_1_3

    @property
    def cipher_suite(self) -> AnyCipherSuite | None:
        suite = self._role.suite
        return CipherSuite13(suite.code) if suite is not None else None

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        return self._role.srtp_profile

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
        return self._end is not None

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
        (mask16,) = first16(keys.masks(sealed[:16]))
        return pack(first, (seq & 0xFFFF) ^ mask16, len(sealed)) + sealed

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """One application data record per packet, in order, in the current write epoch
        (RFC 9147 §4): ``seal_record`` inlined for the data path, the same header, nonce,
        additional data and mask. With AES the record-number masks (§4.2.3) of the whole
        batch come from one AES-ECB call (ECB masks each 16-byte sample on its own).
        Raises :class:`DtlsUsageError` before sealing anything if a packet exceeds 2^14
        bytes or the epoch's sequence numbers would run out."""
        if len(packets) == 1:
            # a burst of one (a lone SACK, one small message): the record protect makes,
            # without the burst's set-up (callgrind, 1,176 bytes: 24.7k instructions
            # instead of 43.2k; 1.2's burst of one costs 27k)
            return [self.protect(packets[0])]
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
        if memoryview in map(type, packets):
            # AESGCM takes bytes and bytearray; a memoryview is copied once (checked for the
            # batch here, not per record in the loop below)
            packets = [p.tobytes() if type(p) is memoryview else p for p in packets]
        # RFC 8446 §5.2: the inner plaintext is content || type (no padding); RFC 9147 §4:
        # the additional data is the header with the sequence number not yet masked, its
        # length = content + type + 16-byte tag.
        sealed = [
            seal(
                nonce(iv_high, iv_low ^ seq),
                data + b"\x17",  # type: ignore[operator]
                pack(first, seq & 0xFFFF, len(data) + 17),
            )
            for seq, data in enumerate(packets, start)
        ]
        end = start + len(sealed)
        counters[epoch] = end
        self.stats.records_sent += len(sealed)
        # RFC 9147 §4.2.3: each record's sequence bits XOR the first two bytes of the mask
        # made from its first 16 ciphertext bytes; the masks of the batch in one call
        masks = first16(keys.masks(b"".join(map(SAMPLE, sealed))))
        return [
            pack(first, (seq & 0xFFFF) ^ mask16, len(s)) + s
            for seq, mask16, s in zip(range(start, end), masks, sealed, strict=True)
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
        exporter secret before the client's Finished arrived: not yet), and still after
        the connection closed, as with DTLS 1.2 (the exporter secret is kept): a peer
        connection exports its SRTP keys only when media first needs them."""
        if not (self.established or self._completed):
            raise DtlsUsageError("keying material is only available after the handshake")
        return self._role.export(label, length, context)

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
            implied and self._client,
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
            if not (self._read2_dormant and record.epoch_bits == 2):
                self.stats.dropped_epoch += 1
                return
            # RFC 9147 §7: the client resends its final flight (our ACK was lost)
            epoch = 2
            self._read_keys[2] = self._role.peer_handshake_keys()
            self._read2_dormant = False
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
                    and self._client
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
        if self._client and self.established:
            # our Finished is in (ACKed, or implied by the server's data): the server
            # sends nothing more in epoch 2 and we never resend in it
            self._forget_handshake_keys(read=True)

    def _forget_handshake_keys(self, *, read: bool) -> None:
        """Drop the epoch-2 keys (RFC 9147 §6.1: the handshake's) once they cannot be
        needed: ours when no record of our flight in epoch 2 may be resent, the peer's
        when it has nothing left to send in it (``read``). Each direction's keys hold
        two cipher contexts, ~3.8 KiB of OpenSSL memory for the life of a connection.
        The server needs the client's again if a client whose ACK was lost resends its
        Finished in epoch 2 (it ACKs it again, RFC 9147 §7): it keeps the replay window
        and the client's handshake secret (48 bytes at most), not the keys, and derives
        them again when such a record comes (:meth:`_receive_ciphertext`)."""
        if any(item.epoch == 2 for item in self._flight):
            return
        self._write_keys.pop(2, None)
        self._write_seq.pop(2, None)
        if read:
            self._read_keys.pop(2, None)
            self._windows.pop(2, None)
            self._read2_dormant = False
        elif self._read_keys.pop(2, None) is not None:
            self._read2_dormant = True

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

    # ---- what the role object asks (handshake13.Host13) -------------------------------------

    def new_item(self, msg_type: int, body: bytes, epoch: int) -> _Item:
        item = _Item(epoch, msg_type, self._send_seq, body)
        self._send_seq += 1
        return item

    def send_flight(
        self, items: list[_Item], now: float, *, needs_ack: bool, trigger: tuple[int, int] | None
    ) -> None:
        self._trigger = trigger
        self._flight = items
        self._flight_needs_ack = needs_ack
        self._acked.clear()
        self._ack_pending = []  # our flight acknowledges the peer's implicitly (§7)
        self._transmit_flight()
        self._timer.start(now, True)

    def send_retry_request(self, item: _Item) -> None:
        self._flight = [item]
        self._transmit_flight()
        self._timer.stop()
        self._trigger = (0, self._reassembler.next_seq)

    def drop_flight(self) -> None:
        self._flight = []
        self._timer.stop()

    def expect_message_seq(self, seq: int) -> None:
        self._reassembler.reset(seq)

    def install_keys(self, epoch: int, mine: TrafficKeys, theirs: TrafficKeys) -> None:
        self._write_keys[epoch], self._read_keys[epoch] = mine, theirs
        self._write_seq.setdefault(epoch, 0)
        self._windows[epoch] = ReplayWindow()

    def use_write_epoch(self, epoch: int) -> None:
        self._write_epoch = epoch

    def ack_final_flight(self) -> None:
        self._send_ack()
        self._send_ack_on_old = True

    def handshake_done(self, now: float) -> None:
        self.established = True
        self._maybe_complete()

    def _maybe_complete(self) -> None:
        """Emit HandshakeCompleted once the handshake is done and the fingerprint matched."""
        role = self._role
        if not self.established or self._completed or not self._peer_verified:
            return
        assert role.suite is not None
        self._completed = True
        role.forget()
        if not self._client:
            self._forget_handshake_keys(read=False)  # the client's Finished acked ours
        self._emit_completed("DTLS 1.3", CipherSuite13(role.suite.code), role.srtp_profile)
        self._update_fast_path()

    # ---- after the handshake (RFC 8446 §4.6) --------------------------------------------------

    def _post_handshake(self, msg_type: int, body: bytes, now: float) -> None:
        """KeyUpdate and NewSessionTicket after the handshake (RFC 8446 §4.6), each ACKed
        (RFC 9147 §7)."""
        if msg_type == _KEY_UPDATE:
            update = KeyUpdate.decode(body)
            self._send_ack()
            self._ack_pending = []
            read_epoch = max(self._read_keys)
            self._read_keys[read_epoch + 1] = self._role.next_traffic_keys(mine=False)
            self._windows[read_epoch + 1] = ReplayWindow()
            oldest = read_epoch + 1 - MAX_OLD_READ_EPOCHS
            for old in [e for e in self._read_keys if 3 <= e < oldest]:
                del self._read_keys[old]
                self._windows.pop(old, None)
            self._update_fast_path()
            if update.update_requested and self._pending_key_update is None and not self._flight:
                self._send_key_update(False, now)
        elif msg_type == _NEW_SESSION_TICKET:
            self._send_ack()  # no resumption: acknowledged and forgotten
            self._ack_pending = []
        else:
            raise DtlsHandshakeError(
                f"unexpected post-handshake message {msg_type}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )

    def request_key_update(self, now: float) -> None:
        """Send KeyUpdate(update_requested) (RFC 8446 §4.6.3); our write keys move to the
        next epoch once it is ACKed (RFC 9147 §8), the peer's follow its own KeyUpdate."""
        if not self.established or self._flight or self._pending_key_update is not None:
            raise DtlsUsageError("a KeyUpdate needs an established, idle connection")
        self._send_key_update(True, now)

    def _send_key_update(self, update_requested: bool, now: float) -> None:
        """Our KeyUpdate, a post-handshake message: numbered, not part of the transcript;
        the next write epoch's keys wait for its ACK (RFC 9147 §8)."""
        item = _Item(
            self._write_epoch, _KEY_UPDATE, self._send_seq, KeyUpdate(update_requested).encode()
        )
        self._send_seq += 1
        new_epoch = self._write_epoch + 1
        self._write_keys[new_epoch] = self._role.next_traffic_keys(mine=True)
        self._pending_key_update = new_epoch
        self.send_flight([item], now, needs_ack=True, trigger=self._trigger)

    # ---- sending -----------------------------------------------------------------------------

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
        self._end = State13.FAILED if failed else State13.CLOSED
        self.established = False
        self._timer.stop()
        self._flight = []

    # ---- message dispatch ----------------------------------------------------------------

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        if self.established:  # RFC 8446 §4.6: only post-handshake messages now
            self._post_handshake(msg_type, body, now)
            return
        self._role.handle(msg_type, seq, body, now)
