"""The handshake layer shared by both roles: transcript, flights, key schedule and peer
identity (RFC 6347 §4.2, RFC 5246 §7.4, RFC 7627, RFC 8122 §5).

:class:`HandshakeBase` holds what the client (:mod:`.client`) and server (:mod:`.server`)
halves have in common; :class:`~pyrtcstack.dtls.engine12.Dtls12Engine` combines them with
the record layer. The states of the handshake are :class:`State`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from cryptography import x509

from ..common.core import Event
from .certificate import Fingerprint, load_peer_certificate
from .constants import (
    DTLS1_2_VERSION,
    AlertDescription,
    HandshakeType,
)
from .engine import EngineBase
from .errors import DtlsHandshakeError
from .events import HandshakeCompleted
from .flights import Flight, FlightItem, RetransmitTimer
from .fragments import Reassembler, encode_message
from .kex13 import ClientShare
from .keyexchange import EcdheKey
from .keylog import keylog_line
from .keyschedule import Suite13
from .messages import Certificate, ClientHello, Finished, ServerHello
from .prf import extended_master_secret, key_block, verify_data
from .record import EpochState
from .srtp import SrtpProfile
from .suites import RecordCipher, SuiteInfo

if TYPE_CHECKING:
    from .engine import DtlsContext

__all__ = ["DtlsRole", "DtlsStats", "HandshakeBase", "State"]


class DtlsRole(Enum):
    """Which side of the handshake we play (RFC 5763 §5: ``a=setup:active`` is the client)."""

    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    """Where the handshake stands: which message each role expects next (RFC 5246 §7.3)."""

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
    #: plaintext records dropped because ``take_application_data`` was not called and
    #: ``max_pending_plaintext`` bytes were already waiting
    dropped_plaintext_overflow: int = 0
    retransmissions: int = 0
    records_sent: int = 0


class HandshakeBase(EngineBase):
    """Transcript, flights, keys and peer identity, for both roles.

    The state of :class:`~pyrtcstack.dtls.engine12.Dtls12Engine` is in ``__slots__``
    (declared here, where the annotations are): a connection lives as long as its peer
    connection and has more attributes than an instance dict shares keys for, so a dict
    cost 1.5 KiB per connection. The role mixins and the engine add no slots of their own."""

    __slots__ = (
        "_app_records",
        "_certificate_requested",
        "_client_hello",
        "_client_random",
        "_completed_emitted",
        "_early",
        "_ecdhe",
        "_events",
        "_fast_read",
        "_fast_write",
        "_flight",
        "_flight_clean",
        "_future_records",
        "_handshake_done",
        "_hello_verify_count",
        "_last_echo_at",
        "_last_record_seq",
        "_master",
        "_out",
        "_peer_certificate",
        "_peer_certificate_der",
        "_peer_flight_start",
        "_peer_signature_schemes",
        "_pending_app",
        "_pre_master",
        "_read",
        "_reassembler",
        "_retransmit_trigger",
        "_retransmit_trigger_end",
        "_retry13",
        "_send_seq",
        "_server_random",
        "_shares13",
        "_srtp_profile",
        "_state",
        "_suite",
        "_timer",
        "_transcript",
        "_write",
        "_write_epoch",
        "ctx",
        "stats",
        "successor",
    )

    # Declared here, assigned by Dtls12Engine.__init__.
    ctx: DtlsContext
    stats: DtlsStats
    _shares13: dict[int, ClientShare]
    _retry13: tuple[bytes, Suite13, int | None, bytes] | None
    _state: State
    _events: deque[Event]
    _out: list[bytes]
    _pending_app: list[bytes]
    _timer: RetransmitTimer
    _read: dict[int, EpochState]
    _write: dict[int, EpochState]
    _write_epoch: int
    _fast_read: EpochState | None
    _fast_write: EpochState | None
    _reassembler: Reassembler
    _send_seq: int
    _transcript: bytearray
    _flight: Flight | None
    _flight_clean: bool
    _retransmit_trigger: int | None
    _retransmit_trigger_end: int
    _peer_flight_start: int
    _last_record_seq: int
    _hello_verify_count: int
    _client_random: bytes
    _server_random: bytes
    _client_hello: ClientHello | None
    _suite: SuiteInfo | None
    _srtp_profile: SrtpProfile | None
    _ecdhe: EcdheKey | None
    _pre_master: bytes
    _master: bytes
    _peer_certificate: x509.Certificate | None
    _peer_certificate_der: bytes
    _peer_verified: bool
    _peer_signature_schemes: list[int] | None
    _certificate_requested: bool
    _handshake_done: bool
    _completed_emitted: bool

    def _start13_server(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        raise NotImplementedError  # Dtls12Engine

    def _start13_client(self, hello: ServerHello, seq: int, body: bytes, now: float) -> None:
        raise NotImplementedError  # Dtls12Engine

    def _add_transcript(self, msg_type: int, seq: int, body: bytes) -> None:
        self._transcript += encode_message(msg_type, seq, body)

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
        self._out.extend(self._flight.datagrams(self._write, self.ctx.mtu, DTLS1_2_VERSION))

    def _next_item(self, msg_type: HandshakeType, body: bytes, epoch: int = 0) -> FlightItem:
        item = FlightItem(epoch, msg_type, self._send_seq, body)
        self._add_transcript(msg_type, self._send_seq, body)
        self._send_seq += 1
        return item

    def _derive_keys(self) -> None:
        """Master secret (RFC 7627 §4, over the transcript through ClientKeyExchange), key
        block (RFC 5246 §6.3) and the epoch-1 cipher states."""
        suite = self._suite
        assert suite is not None
        session_hash = hashlib.new(suite.hash_name, bytes(self._transcript)).digest()
        self._master = extended_master_secret(suite.hash_name, self._pre_master, session_hash)
        self._pre_master = b""
        if self.ctx.keylog is not None:
            self.ctx.keylog(keylog_line(self._client_random, self._master))
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
        if self.ctx.role == DtlsRole.CLIENT:
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

    def _receive_peer_certificate(self, body: bytes) -> None:
        chain = Certificate.decode(body).certificates
        if not chain:
            raise DtlsHandshakeError(
                "peer sent no certificate (WebRTC requires one, RFC 8827 §6.5)",
                AlertDescription.CERTIFICATE_REQUIRED
                if self.ctx.role == DtlsRole.SERVER
                else AlertDescription.BAD_CERTIFICATE,
            )
        self._peer_certificate = load_peer_certificate(chain[0])
        self._peer_certificate_der = chain[0]
        if self.ctx.remote_fingerprints is not None or not self.ctx.verify_fingerprint:
            self._check_peer_fingerprint()

    def _maybe_complete(self) -> None:
        if not self._handshake_done or self._completed_emitted or not self._peer_verified:
            return
        if self._state != State.ESTABLISHED or self._suite is None:
            return
        self._completed_emitted = True
        # What only the handshake needed goes (a connection lives for hours): the
        # transcript and the ephemeral ECDHE key (RFC 5246 §8.1: the premaster secret and
        # what made it are deleted once the master secret is computed), the parsed peer
        # certificate (its DER stays: peer_certificate). Messages of the handshake that
        # still arrive are only counted or alerted (no renegotiation), and the last flight
        # is kept for retransmission (RFC 6347 §4.2.4).
        self._transcript = bytearray()
        self._ecdhe = None
        self._peer_certificate = None
        self._fast_read = self._read[1]
        self._fast_write = self._write[self._write_epoch]
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
        for payload in pending:
            self.ctx.deliver(payload)

    def _handshake_finished(self) -> None:
        self._state = State.ESTABLISHED
        self._handshake_done = True
        self._timer.stop()
        self._maybe_complete()
