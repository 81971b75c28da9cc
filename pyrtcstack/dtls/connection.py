"""The DTLS 1.2 connection: a sans-I/O state machine for both roles (RFC 6347 §4.2).

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

The connection follows the core contract of :mod:`pyrtcstack.common.core`. It is bound to no
address of its own: the driver passes every datagram with the address it came from, and the
connection sends to :attr:`DtlsConnection.remote_address` (set by the constructor, by
:meth:`~DtlsConnection.set_remote_address`, e.g. when ICE selects another pair, or learned from
the first datagram if still unset).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..common.core import Address, Event, default_rng
from .certificate import (
    VERIFY_SCHEMES,
    DtlsCertificate,
    Fingerprint,
    load_peer_certificate,
    verify_signature,
)
from .constants import (
    CLIENT_CERT_TYPE_ECDSA_SIGN,
    CLIENT_CERT_TYPE_RSA_SIGN,
    DTLS1_0_VERSION,
    DTLS1_2_VERSION,
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    HandshakeType,
    NamedGroup,
)
from .errors import (
    DtlsDecodeError,
    DtlsError,
    DtlsHandshakeError,
    DtlsTimeoutError,
    DtlsUsageError,
    FingerprintMismatchError,
    PeerAlertError,
)
from .events import ApplicationData, Closed, Failed, HandshakeCompleted
from .flights import (
    INITIAL_TIMEOUT,
    MAX_RETRANSMISSIONS,
    MAX_TIMEOUT,
    Flight,
    FlightItem,
    RetransmitTimer,
)
from .fragments import Reassembler, encode_message, parse_fragments
from .keyexchange import SUPPORTED_GROUPS, EcdheKey
from .keylog import KeyLogCallback, keylog_line
from .messages import (
    MAX_COOKIE_LENGTH,
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Finished,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
)
from .negotiation import (
    DEFAULT_CIPHER_SUITES,
    build_client_extensions,
    check_server_hello,
    choose_server_parameters,
)
from .prf import export_keying_material, extended_master_secret, key_block, verify_data
from .record import HEADER_LENGTH, MAX_PLAINTEXT, EpochState, Record, pack_datagrams, parse_records
from .srtp import (
    DEFAULT_SRTP_PROFILES,
    SRTP_EXPORTER_LABEL,
    SrtpKeys,
    SrtpProfile,
    split_srtp_keying_material,
)
from .suites import SUITES, RecordCipher, SuiteInfo

__all__ = ["DEFAULT_MTU", "DtlsConnection", "DtlsRole", "DtlsStats"]

_RECORD_HEADER = struct.Struct("!BHHHIH")

#: Default largest datagram we send (WebRTC's usual DTLS MTU, CHECKLISTS §0).
DEFAULT_MTU: Final = 1200
#: Datagrams kept while the connection is not started (early ClientHellos; Chrome keeps 4
#: ClientHellos, a browser ClientHello takes two datagrams).
MAX_EARLY_DATAGRAMS: Final = 8
#: Records of a future epoch kept until its keys exist (a Finished that overtook its CCS).
MAX_FUTURE_RECORDS: Final = 16
#: Application data records kept between "keys ready" and "handshake verified".
MAX_PENDING_APPLICATION_RECORDS: Final = 64
#: HelloVerifyRequests a client follows before giving up (RFC 6347 §4.2.1 allows a repeat).
MAX_HELLO_VERIFY_REQUESTS: Final = 4
#: A peer's repeated flight makes us resend ours at most once per this fraction of the
#: initial retransmission timeout.
ECHO_GUARD: Final = 0.25
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


class DtlsRole(Enum):
    CLIENT = "client"
    SERVER = "server"


class _State(Enum):
    IDLE = "idle"
    CLIENT_EXPECT_SERVER_HELLO = "client: expect ServerHello"
    CLIENT_EXPECT_CERTIFICATE = "client: expect Certificate"
    CLIENT_EXPECT_SERVER_KEY_EXCHANGE = "client: expect ServerKeyExchange"
    CLIENT_EXPECT_SERVER_HELLO_DONE = "client: expect CertificateRequest/ServerHelloDone"
    CLIENT_EXPECT_FINISHED = "client: expect Finished"
    SERVER_EXPECT_CLIENT_HELLO = "server: expect ClientHello"
    SERVER_EXPECT_CERTIFICATE = "server: expect Certificate"
    SERVER_EXPECT_CLIENT_KEY_EXCHANGE = "server: expect ClientKeyExchange"
    SERVER_EXPECT_CERTIFICATE_VERIFY = "server: expect CertificateVerify"
    SERVER_EXPECT_FINISHED = "server: expect Finished"
    ESTABLISHED = "established"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass
class DtlsStats:
    """Counters for everything dropped or repeated (the core never raises on bad input)."""

    datagrams_received: int = 0
    records_received: int = 0
    dropped_malformed: int = 0
    dropped_replay: int = 0
    dropped_decrypt: int = 0
    dropped_epoch: int = 0
    dropped_early: int = 0
    dropped_unexpected: int = 0
    retransmissions: int = 0
    records_sent: int = 0


class DtlsConnection:
    """One DTLS 1.2 association, client or server (see the module docstring).

    Arguments:
        role: ``DtlsRole.CLIENT``/``SERVER``, or None while the role is unknown (an early
            ClientHello is then buffered until :meth:`start`).
        certificate: our identity; a fresh ECDSA P-256 certificate is generated if omitted.
        remote_fingerprints: the ``a=fingerprint`` values from the peer's SDP; settable later
            with :meth:`set_remote_fingerprints`. The handshake runs meanwhile, but neither
            :class:`HandshakeCompleted` nor application data is released until one matches.
        verify_fingerprint: False accepts any peer certificate (tests, the CLI without
            ``--fingerprint``); the peer must still prove possession of its key.
        srtp_profiles: use_srtp profiles in our preference order (empty: no DTLS-SRTP).
        mtu: largest datagram we send. rng: the randomness source (seed it in tests).
        use_cookie: as a server, demand a HelloVerifyRequest round trip (RFC 6347 §4.2.1).
        keylog: called with an NSS ``CLIENT_RANDOM`` line when the master secret exists.
    """

    def __init__(
        self,
        role: DtlsRole | None,
        *,
        certificate: DtlsCertificate | None = None,
        remote_fingerprints: Sequence[Fingerprint] | None = None,
        verify_fingerprint: bool = True,
        srtp_profiles: Sequence[SrtpProfile] = DEFAULT_SRTP_PROFILES,
        cipher_suites: Sequence[CipherSuite] = DEFAULT_CIPHER_SUITES,
        groups: Sequence[NamedGroup] = SUPPORTED_GROUPS,
        mtu: int = DEFAULT_MTU,
        remote_address: Address | None = None,
        rng: random.Random | None = None,
        use_cookie: bool = False,
        initial_timeout: float = INITIAL_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        max_retransmissions: int = MAX_RETRANSMISSIONS,
        keylog: KeyLogCallback | None = None,
    ) -> None:
        if mtu < 256:
            raise DtlsUsageError("MTU below 256 bytes cannot carry a DTLS handshake")
        self.role = role
        self._rng = default_rng(rng)
        self.certificate = certificate or DtlsCertificate.generate(self._rng)
        self._remote_fingerprints: list[Fingerprint] | None = (
            list(remote_fingerprints) if remote_fingerprints is not None else None
        )
        self._verify_fingerprint = verify_fingerprint
        self.srtp_profiles = tuple(SrtpProfile(p) for p in srtp_profiles)
        self.cipher_suites = tuple(CipherSuite(s) for s in cipher_suites)
        self.groups = tuple(NamedGroup(g) for g in groups)
        self.mtu = mtu
        self.remote_address = remote_address
        self.use_cookie = use_cookie
        self.keylog = keylog
        self.stats = DtlsStats()

        self._state = _State.IDLE
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []  # datagrams ready to go
        self._app_records: list[bytes] = []  # protected records waiting to be packed
        self._early: deque[tuple[bytes, Address]] = deque()
        self._future_records: list[Record] = []
        self._pending_app: list[bytes] = []
        self._timer = RetransmitTimer(initial_timeout, max_timeout, max_retransmissions)
        self._last_echo_at = -1e9  # when we last resent a flight because the peer resent its

        # record layer: read and write state per epoch
        self._read: dict[int, EpochState] = {0: EpochState(0, None)}
        self._write: dict[int, EpochState] = {0: EpochState(0, None)}
        self._write_epoch = 0

        # handshake layer
        self._reassembler = Reassembler()
        self._send_seq = 0
        self._transcript = bytearray()
        self._flight: Flight | None = None
        self._flight_clean = True
        # message_seq range of the peer flight our current flight answers
        self._retransmit_trigger: int | None = None
        self._retransmit_trigger_end = 0
        self._peer_flight_start = 0  # first message_seq of the peer's latest flight
        self._last_record_seq = 0
        self._cookie_secret = self._rng.randbytes(32)
        self._hello_verify_count = 0

        # negotiated parameters
        self._client_random = b""
        self._server_random = b""
        self._client_hello: ClientHello | None = None
        self._suite: SuiteInfo | None = None
        self._srtp_profile: SrtpProfile | None = None
        self._ecdhe: EcdheKey | None = None
        self._pre_master = b""
        self._master = b""
        self._peer_certificate: x509.Certificate | None = None
        self._peer_certificate_der = b""
        self._peer_verified = False
        self._peer_signature_schemes: list[int] | None = None
        self._certificate_requested = False
        self._handshake_done = False
        self._completed_emitted = False
        self._close_sent = False
        self._fast_read: EpochState | None = None  # set once application data may flow

    # ---- public API --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state.value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self._completed_emitted and self._state == _State.ESTABLISHED

    @property
    def cipher_suite(self) -> CipherSuite | None:
        return self._suite.suite if self._suite is not None else None

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        return self._srtp_profile

    @property
    def local_fingerprint(self) -> Fingerprint:
        return self.certificate.fingerprint()

    @property
    def peer_certificate(self) -> bytes | None:
        return self._peer_certificate_der or None

    def set_remote_address(self, addr: Address) -> None:
        """Where to send from now on (the driver calls this when ICE switches pairs)."""
        self.remote_address = addr

    def set_remote_fingerprints(self, fingerprints: Sequence[Fingerprint], now: float) -> None:
        """Give the fingerprints from the remote description; checks a certificate already
        received and, if the handshake is done, releases HandshakeCompleted (or fails)."""
        self._remote_fingerprints = list(fingerprints)
        if self._peer_certificate_der and not self._peer_verified:
            try:
                self._check_peer_fingerprint()
            except DtlsError as exc:
                self._fail(exc)
                return
        self._maybe_complete()

    def start(self, now: float, role: DtlsRole | None = None) -> None:
        """Begin: a client sends its ClientHello, a server starts answering (including any
        datagrams that arrived early)."""
        if role is not None:
            if self.role is not None and self.role != role:
                raise DtlsUsageError("role already set")
            self.role = role
        if self.role is None:
            raise DtlsUsageError("start() needs a role")
        if self._state != _State.IDLE:
            raise DtlsUsageError("already started")
        if self.role == DtlsRole.CLIENT:
            if self.remote_address is None:
                raise DtlsUsageError("a client needs remote_address before start()")
            self._client_random = self._rng.randbytes(32)
            self._send_client_hello(now, cookie=b"")
            self._state = _State.CLIENT_EXPECT_SERVER_HELLO
        else:
            self._state = _State.SERVER_EXPECT_CLIENT_HELLO
        early, self._early = self._early, deque()
        for data, addr in early:
            self.receive_datagram(data, addr, now)

    def send(self, data: bytes) -> None:
        """Queue one record of application data (at most 2^14 bytes, RFC 5246 §6.2.1)."""
        if not self.is_established:
            raise DtlsUsageError("DTLS connection is not established")
        if len(data) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        self._app_records.append(
            self._write[self._write_epoch].protect(ContentType.APPLICATION_DATA, bytes(data))
        )
        self.stats.records_sent += 1

    def protect(self, data: bytes) -> bytes:
        """One application data record as bytes, without queueing (for drivers that batch)."""
        if not self.is_established:
            raise DtlsUsageError("DTLS connection is not established")
        self.stats.records_sent += 1
        return self._write[self._write_epoch].protect(ContentType.APPLICATION_DATA, bytes(data))

    def close(self, now: float) -> None:
        """Send close_notify (RFC 5246 §7.2.1) and end the connection."""
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        if self._state != _State.IDLE:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._close_sent = True
        self._enter_closed(by_peer=False)

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 exporter (after the handshake completed)."""
        if not self._handshake_done or self._suite is None:
            raise DtlsUsageError("keying material is only available after the handshake")
        label_bytes = label.encode() if isinstance(label, str) else label
        if label_bytes in _RESERVED_LABELS:
            raise DtlsUsageError("this exporter label is reserved (RFC 5705 §4)")
        return export_keying_material(
            self._suite.hash_name,
            self._master,
            self._client_random,
            self._server_random,
            label=label_bytes,
            length=length,
            context=context,
        )

    def srtp_keys(self) -> SrtpKeys:
        """The SRTP master keys/salts for the negotiated profile (RFC 5764 §4.2)."""
        if self._srtp_profile is None:
            raise DtlsUsageError("no SRTP profile was negotiated")
        material = self.export_keying_material(
            SRTP_EXPORTER_LABEL, self._srtp_profile.keying_material_length
        )
        return split_srtp_keying_material(
            self._srtp_profile, material, self.role == DtlsRole.CLIENT
        )

    # ---- core contract -----------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        fast = self._fast_read
        if fast is not None and len(data) > HEADER_LENGTH and data[0] == 23:
            # Fast path (established, one application data record of the current epoch):
            # the same checks as _receive_record, without the general dispatch.
            _ctype, version, epoch, seq_hi, seq_lo, length = _RECORD_HEADER.unpack_from(data)
            if epoch == fast.epoch and length == len(data) - HEADER_LENGTH:
                stats = self.stats
                stats.datagrams_received += 1
                stats.records_received += 1
                seq = (seq_hi << 32) | seq_lo
                if not fast.replay.is_fresh(seq):
                    stats.dropped_replay += 1
                    return
                assert fast.cipher is not None
                try:
                    plaintext = fast.cipher.open(
                        (epoch << 48) | seq, 23, version, data[HEADER_LENGTH:]
                    )
                except DtlsDecodeError:
                    stats.dropped_decrypt += 1
                    return
                fast.replay.mark(seq)
                self._events.append(ApplicationData(plaintext))
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
        if trailing:
            self.stats.dropped_malformed += 1
        if self.remote_address is None:
            self.remote_address = addr
        for record in records:
            if self._ended():
                return
            self._receive_record(record, now)
        self._flush_future(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        if self._app_records:
            self._out.extend(pack_datagrams(self._app_records, self.mtu))
            self._app_records = []
        if not self._out:
            return []
        out, self._out = self._out, []
        if self.remote_address is None:
            return []
        addr = self.remote_address
        return [(d, addr) for d in out]

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

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ---- record layer ------------------------------------------------------------------------

    def _ended(self) -> bool:
        return self._state in (_State.CLOSED, _State.FAILED)

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
            elif self.is_established:
                self._events.append(ApplicationData(payload))
            elif len(self._pending_app) < MAX_PENDING_APPLICATION_RECORDS:
                self._pending_app.append(payload)
            else:
                self.stats.dropped_unexpected += 1
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

    def _receive_alert(self, payload: bytes, epoch: int) -> None:
        if len(payload) != 2:
            self.stats.dropped_malformed += 1
            return
        if epoch == 0 and self._handshake_done:
            self.stats.dropped_unexpected += 1  # unauthenticated once keys exist
            return
        level, description = payload[0], payload[1]
        try:
            desc = AlertDescription(description)
        except ValueError:
            desc = AlertDescription.HANDSHAKE_FAILURE
        if description == AlertDescription.CLOSE_NOTIFY:
            if not self._close_sent and self._state != _State.IDLE:
                self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
                self._close_sent = True
            self._enter_closed(by_peer=True)
        elif level == AlertLevel.FATAL:
            self._fail(PeerAlertError(f"peer sent fatal alert {desc.name}", desc), False)
        # warnings (no_renegotiation...) are only noted

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        state = self._write[self._write_epoch]
        self._out.append(state.protect(ContentType.ALERT, bytes([level, description])))

    def _enter_closed(self, by_peer: bool) -> None:
        self._fast_read = None
        self._state = _State.CLOSED
        self._timer.stop()
        self._flight = None
        self._events.append(Closed(by_peer))

    def _fail(self, error: DtlsError, send_alert: bool = True) -> None:
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        if send_alert and self._state != _State.IDLE:
            self._send_alert(AlertLevel.FATAL, error.alert)
        self._fast_read = None
        self._state = _State.FAILED
        self._timer.stop()
        self._flight = None
        self._events.append(Failed(error))

    # ---- handshake layer ---------------------------------------------------------------------

    def _receive_handshake(self, payload: bytes, epoch: int, now: float) -> None:
        try:
            fragments = parse_fragments(payload)
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return
        for frag in fragments:
            try:
                fresh = self._reassembler.add(frag)
            except DtlsDecodeError:
                self.stats.dropped_malformed += 1
                continue
            if not fresh:
                self._on_old_fragment(frag.message_seq, now)
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
            and not self._ended()
        ):
            self._last_echo_at = now
            self.stats.retransmissions += 1
            self._flight_clean = False
            self._transmit_flight()
            self._timer.restart(now)

    def _process_messages(self, now: float) -> None:
        while self._state not in (_State.CLOSED, _State.FAILED):
            if self._state == _State.SERVER_EXPECT_CLIENT_HELLO:
                message = self._reassembler.pop_any(HandshakeType.CLIENT_HELLO)
            else:
                message = self._reassembler.pop()
            if message is None:
                return
            msg_type, seq, body = message
            try:
                self._handle_message(msg_type, seq, body, now)
            except DtlsDecodeError as exc:
                self._fail(DtlsHandshakeError(str(exc), AlertDescription.DECODE_ERROR))
            except DtlsError as exc:
                self._fail(exc)

    def _add_transcript(self, msg_type: int, seq: int, body: bytes) -> None:
        self._transcript += encode_message(msg_type, seq, body)

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self._state
        if msg_type == HandshakeType.HELLO_REQUEST and self.role == DtlsRole.CLIENT:
            if state == _State.ESTABLISHED:  # RFC 5746 / RFC 8827 §6.5: no renegotiation
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return  # RFC 5246 §7.4.1.1: ignored during a handshake
        if state == _State.ESTABLISHED:
            if msg_type == HandshakeType.CLIENT_HELLO and self.role == DtlsRole.SERVER:
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            else:
                self.stats.dropped_unexpected += 1
            return
        handler = _HANDLERS.get((state, msg_type))
        if handler is None:
            raise DtlsHandshakeError(
                f"unexpected {_type_name(msg_type)} in state {state.value}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )
        handler(self, seq, body, now)

    def _send_flight(self, items: list[FlightItem], now: float, expect_reply: bool) -> None:
        self._flight = Flight(items)
        self._retransmit_trigger_end = self._reassembler.next_seq
        self._transmit_flight()
        if expect_reply:
            self._timer.start(now, self._flight_clean)
        else:
            self._timer.stop()
        self._flight_clean = True

    def _transmit_flight(self) -> None:
        assert self._flight is not None
        self._out.extend(self._flight.datagrams(self._write, self.mtu, DTLS1_2_VERSION))

    def _next_item(self, msg_type: HandshakeType, body: bytes, epoch: int = 0) -> FlightItem:
        item = FlightItem(epoch, msg_type, self._send_seq, body)
        self._add_transcript(msg_type, self._send_seq, body)
        self._send_seq += 1
        return item

    # ---- keys --------------------------------------------------------------------------------

    def _derive_keys(self) -> None:
        """Master secret (RFC 7627 §4, over the transcript through ClientKeyExchange), key
        block (RFC 5246 §6.3) and the epoch-1 cipher states."""
        suite = self._suite
        assert suite is not None
        session_hash = hashlib.new(suite.hash_name, bytes(self._transcript)).digest()
        self._master = extended_master_secret(suite.hash_name, self._pre_master, session_hash)
        self._pre_master = b""
        if self.keylog is not None:
            self.keylog(keylog_line(self._client_random, self._master))
        block = key_block(
            suite.hash_name,
            self._master,
            self._client_random,
            self._server_random,
            suite.key_block_length,
        )
        k, iv = suite.key_length, suite.fixed_iv_length
        client_key, server_key = block[:k], block[k : 2 * k]
        client_iv, server_iv = block[2 * k : 2 * k + iv], block[2 * k + iv : 2 * k + 2 * iv]
        client = RecordCipher(suite, client_key, client_iv)
        server = RecordCipher(suite, server_key, server_iv)
        if self.role == DtlsRole.CLIENT:
            self._write[1], self._read[1] = EpochState(1, client), EpochState(1, server)
        else:
            self._write[1], self._read[1] = EpochState(1, server), EpochState(1, client)

    def _finished_body(self, from_client: bool) -> bytes:
        assert self._suite is not None
        return verify_data(
            self._suite.hash_name, self._master, from_client, bytes(self._transcript)
        )

    def _check_finished(self, body: bytes, from_client: bool) -> None:
        expected = self._finished_body(from_client)
        if not hmac.compare_digest(Finished.decode(body).verify_data, expected):
            raise DtlsHandshakeError("Finished does not verify", AlertDescription.DECRYPT_ERROR)

    # ---- peer identity -----------------------------------------------------------------------

    def _receive_peer_certificate(self, body: bytes) -> None:
        chain = Certificate.decode(body).certificates
        if not chain:
            raise DtlsHandshakeError(
                "peer sent no certificate (WebRTC requires one, RFC 8827 §6.5)",
                AlertDescription.CERTIFICATE_REQUIRED
                if self.role == DtlsRole.SERVER
                else AlertDescription.BAD_CERTIFICATE,
            )
        self._peer_certificate = load_peer_certificate(chain[0])
        self._peer_certificate_der = chain[0]
        if self._remote_fingerprints is not None or not self._verify_fingerprint:
            self._check_peer_fingerprint()

    def _check_peer_fingerprint(self) -> None:
        """RFC 8122 §5 / RFC 5763 §5: the certificate must hash to an SDP fingerprint."""
        if not self._verify_fingerprint:
            self._peer_verified = True
            return
        fingerprints = self._remote_fingerprints or []
        if not any(fp.matches(self._peer_certificate_der) for fp in fingerprints):
            raise FingerprintMismatchError(
                "peer certificate "
                f"{Fingerprint.of(self._peer_certificate_der)} matches no expected fingerprint"
            )
        self._peer_verified = True

    def _maybe_complete(self) -> None:
        if not self._handshake_done or self._completed_emitted or not self._peer_verified:
            return
        if self._state != _State.ESTABLISHED or self._suite is None:
            return
        self._completed_emitted = True
        self._fast_read = self._read[1]
        self._events.append(
            HandshakeCompleted(
                version="DTLS 1.2",
                cipher_suite=self._suite.suite,
                srtp_profile=self._srtp_profile,
                peer_fingerprint=Fingerprint.of(self._peer_certificate_der),
                peer_certificate=self._peer_certificate_der,
            )
        )
        pending, self._pending_app = self._pending_app, []
        self._events.extend(ApplicationData(p) for p in pending)

    def _handshake_finished(self) -> None:
        self._state = _State.ESTABLISHED
        self._handshake_done = True
        self._timer.stop()
        self._maybe_complete()

    # ---- client ------------------------------------------------------------------------------

    def _send_client_hello(self, now: float, cookie: bytes) -> None:
        hello = ClientHello(
            client_version=DTLS1_2_VERSION,
            random=self._client_random,
            session_id=b"",
            cookie=cookie,
            cipher_suites=tuple(int(s) for s in self.cipher_suites),
            extensions=build_client_extensions(self.groups, self.srtp_profiles),
        )
        self._client_hello = hello
        # RFC 6347 §4.2.6: the transcript restarts with the ClientHello that carries the cookie.
        self._transcript = bytearray()
        self._send_flight([self._next_item(HandshakeType.CLIENT_HELLO, hello.encode())], now, True)

    def _client_hello_verify(self, seq: int, body: bytes, now: float) -> None:
        hvr = HelloVerifyRequest.decode(body)
        if len(hvr.cookie) > MAX_COOKIE_LENGTH or self._hello_verify_count >= (
            MAX_HELLO_VERIFY_REQUESTS
        ):
            raise DtlsHandshakeError(
                "too many HelloVerifyRequests", AlertDescription.ILLEGAL_PARAMETER
            )
        self._hello_verify_count += 1
        self._retransmit_trigger = seq
        self._send_client_hello(now, hvr.cookie)

    def _client_server_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ServerHello.decode(body)
        assert self._client_hello is not None
        view = check_server_hello(hello, self._client_hello.cipher_suites, self.srtp_profiles)
        self._suite = SUITES[view.suite]
        self._srtp_profile = view.srtp_profile
        self._server_random = hello.random
        self._peer_flight_start = seq
        self._add_transcript(HandshakeType.SERVER_HELLO, seq, body)
        self._state = _State.CLIENT_EXPECT_CERTIFICATE

    def _client_certificate(self, seq: int, body: bytes, now: float) -> None:
        self._add_transcript(HandshakeType.CERTIFICATE, seq, body)
        self._receive_peer_certificate(body)
        self._state = _State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE

    def _client_server_key_exchange(self, seq: int, body: bytes, now: float) -> None:
        ske = ServerKeyExchange.decode(body)
        assert self._peer_certificate is not None and self._suite is not None
        if ske.named_curve not in self.groups:
            raise DtlsHandshakeError(
                "server chose a group we did not offer", AlertDescription.ILLEGAL_PARAMETER
            )
        key_is_ec = isinstance(self._peer_certificate.public_key(), ec.EllipticCurvePublicKey)
        if key_is_ec != self._suite.ecdsa:  # RFC 8422 §5.3: ECDHE_ECDSA needs an ECDSA cert
            raise DtlsHandshakeError(
                "server certificate does not fit the cipher suite",
                AlertDescription.UNSUPPORTED_CERTIFICATE,
            )
        signed = self._client_random + self._server_random + ske.params()
        verify_signature(self._peer_certificate, ske.signature_scheme, ske.signature, signed)
        self._ecdhe = EcdheKey(NamedGroup(ske.named_curve), self._rng)
        self._pre_master = self._ecdhe.exchange(ske.public_key)
        self._add_transcript(HandshakeType.SERVER_KEY_EXCHANGE, seq, body)
        self._state = _State.CLIENT_EXPECT_SERVER_HELLO_DONE

    def _client_certificate_request(self, seq: int, body: bytes, now: float) -> None:
        if self._certificate_requested:
            raise DtlsHandshakeError(
                "second CertificateRequest", AlertDescription.UNEXPECTED_MESSAGE
            )
        request = CertificateRequest.decode(body)
        self._certificate_requested = True
        self._peer_signature_schemes = list(request.signature_schemes)
        self._add_transcript(HandshakeType.CERTIFICATE_REQUEST, seq, body)

    def _client_server_hello_done(self, seq: int, body: bytes, now: float) -> None:
        ServerHelloDone.decode(body)
        self._add_transcript(HandshakeType.SERVER_HELLO_DONE, seq, body)
        assert self._ecdhe is not None
        items: list[FlightItem] = []
        if self._certificate_requested:
            cert = Certificate((self.certificate.der,)).encode()
            items.append(self._next_item(HandshakeType.CERTIFICATE, cert))
        cke = ClientKeyExchange(self._ecdhe.public_bytes).encode()
        items.append(self._next_item(HandshakeType.CLIENT_KEY_EXCHANGE, cke))
        self._derive_keys()
        if self._certificate_requested:
            scheme = self.certificate.choose_scheme(self._peer_signature_schemes)
            signature = self.certificate.sign(scheme, bytes(self._transcript))
            cv = CertificateVerify(scheme, signature).encode()
            items.append(self._next_item(HandshakeType.CERTIFICATE_VERIFY, cv))
        items.append(FlightItem(0, -1))
        self._write_epoch = 1
        items.append(self._next_item(HandshakeType.FINISHED, self._finished_body(True), epoch=1))
        self._retransmit_trigger = self._peer_flight_start
        self._send_flight(items, now, expect_reply=True)
        self._state = _State.CLIENT_EXPECT_FINISHED

    def _client_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=False)
        self._add_transcript(HandshakeType.FINISHED, seq, body)
        self._flight = None
        self._handshake_finished()

    # ---- server ------------------------------------------------------------------------------

    def _cookie_for(self, hello: ClientHello) -> bytes:
        """A stateless cookie (RFC 6347 §4.2.1): HMAC over the peer address and the hello's
        parameters, under a secret drawn from the rng at construction."""
        material = repr(self.remote_address).encode() + hello.random + hello.session_id
        material += b"".join(s.to_bytes(2, "big") for s in hello.cipher_suites)
        return hmac.digest(self._cookie_secret, material, "sha256")[:20]

    def _server_client_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ClientHello.decode(body)
        if self.use_cookie and not hmac.compare_digest(hello.cookie, self._cookie_for(hello)):
            # Stateless reply: same message_seq and record sequence number as the ClientHello.
            hvr = HelloVerifyRequest(DTLS1_0_VERSION, self._cookie_for(hello)).encode()
            state = self._write[0]
            state.next_sequence = max(state.next_sequence, self._last_record_seq)
            record = state.protect(
                ContentType.HANDSHAKE,
                encode_message(HandshakeType.HELLO_VERIFY_REQUEST, seq, hvr),
                DTLS1_0_VERSION,
            )
            self._out.append(record)
            return
        choice = choose_server_parameters(
            hello, self.cipher_suites, self.groups, self.srtp_profiles, self.certificate.is_ecdsa
        )
        self._reassembler.reset(seq + 1)
        self._send_seq = seq  # RFC 6347 §4.2.2: the ServerHello reuses the hello's seq
        self._client_hello = hello
        self._client_random = hello.random
        self._server_random = self._rng.randbytes(32)
        self._suite = SUITES[choice.suite]
        self._srtp_profile = choice.srtp_profile
        self._transcript = bytearray()
        self._add_transcript(HandshakeType.CLIENT_HELLO, seq, body)

        server_hello = ServerHello(
            DTLS1_2_VERSION, self._server_random, b"", int(choice.suite), 0, choice.extensions
        )
        items = [self._next_item(HandshakeType.SERVER_HELLO, server_hello.encode())]
        cert = Certificate((self.certificate.der,)).encode()
        items.append(self._next_item(HandshakeType.CERTIFICATE, cert))
        self._ecdhe = EcdheKey(choice.group, self._rng)
        scheme = self.certificate.choose_scheme(choice.signature_schemes)
        params = ServerKeyExchange(choice.group, self._ecdhe.public_bytes, 0, b"").params()
        signature = self.certificate.sign(
            scheme, self._client_random + self._server_random + params
        )
        ske = ServerKeyExchange(choice.group, self._ecdhe.public_bytes, scheme, signature)
        items.append(self._next_item(HandshakeType.SERVER_KEY_EXCHANGE, ske.encode()))
        # RFC 8827 §6.5 / RFC 5763 §5: WebRTC always authenticates both ends.
        request = CertificateRequest(
            bytes([CLIENT_CERT_TYPE_ECDSA_SIGN, CLIENT_CERT_TYPE_RSA_SIGN]),
            tuple(int(s) for s in VERIFY_SCHEMES),
        )
        items.append(self._next_item(HandshakeType.CERTIFICATE_REQUEST, request.encode()))
        items.append(self._next_item(HandshakeType.SERVER_HELLO_DONE, b""))
        self._retransmit_trigger = seq
        self._send_flight(items, now, expect_reply=True)
        self._state = _State.SERVER_EXPECT_CERTIFICATE

    def _server_certificate(self, seq: int, body: bytes, now: float) -> None:
        self._peer_flight_start = seq
        self._add_transcript(HandshakeType.CERTIFICATE, seq, body)
        self._receive_peer_certificate(body)
        self._state = _State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE

    def _server_client_key_exchange(self, seq: int, body: bytes, now: float) -> None:
        cke = ClientKeyExchange.decode(body)
        assert self._ecdhe is not None
        self._pre_master = self._ecdhe.exchange(cke.public_key)
        self._add_transcript(HandshakeType.CLIENT_KEY_EXCHANGE, seq, body)
        self._derive_keys()
        self._state = _State.SERVER_EXPECT_CERTIFICATE_VERIFY

    def _server_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        cv = CertificateVerify.decode(body)
        assert self._peer_certificate is not None
        if cv.signature_scheme not in VERIFY_SCHEMES:
            raise DtlsHandshakeError(
                "CertificateVerify uses a scheme we did not request",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        verify_signature(
            self._peer_certificate, cv.signature_scheme, cv.signature, bytes(self._transcript)
        )
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, seq, body)
        self._state = _State.SERVER_EXPECT_FINISHED

    def _server_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=True)
        self._add_transcript(HandshakeType.FINISHED, seq, body)
        self._write_epoch = 1
        items = [
            FlightItem(0, -1),
            self._next_item(HandshakeType.FINISHED, self._finished_body(False), epoch=1),
        ]
        # Flight 6 is kept (no timer) and resent whenever flight 5 shows up again.
        self._retransmit_trigger = self._peer_flight_start
        self._send_flight(items, now, expect_reply=False)
        self._handshake_finished()


def _type_name(msg_type: int) -> str:
    try:
        return HandshakeType(msg_type).name
    except ValueError:
        return f"handshake type {msg_type}"


_Handler = Callable[[DtlsConnection, int, bytes, float], None]

_HANDLERS: dict[tuple[_State, int], _Handler] = {
    (_State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.HELLO_VERIFY_REQUEST): (
        DtlsConnection._client_hello_verify
    ),
    (_State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.SERVER_HELLO): (
        DtlsConnection._client_server_hello
    ),
    (_State.CLIENT_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        DtlsConnection._client_certificate
    ),
    (_State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE, HandshakeType.SERVER_KEY_EXCHANGE): (
        DtlsConnection._client_server_key_exchange
    ),
    (_State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.CERTIFICATE_REQUEST): (
        DtlsConnection._client_certificate_request
    ),
    (_State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.SERVER_HELLO_DONE): (
        DtlsConnection._client_server_hello_done
    ),
    (_State.CLIENT_EXPECT_FINISHED, HandshakeType.FINISHED): DtlsConnection._client_finished,
    (_State.SERVER_EXPECT_CLIENT_HELLO, HandshakeType.CLIENT_HELLO): (
        DtlsConnection._server_client_hello
    ),
    (_State.SERVER_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        DtlsConnection._server_certificate
    ),
    (_State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE, HandshakeType.CLIENT_KEY_EXCHANGE): (
        DtlsConnection._server_client_key_exchange
    ),
    (_State.SERVER_EXPECT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
        DtlsConnection._server_certificate_verify
    ),
    (_State.SERVER_EXPECT_FINISHED, HandshakeType.FINISHED): DtlsConnection._server_finished,
}
