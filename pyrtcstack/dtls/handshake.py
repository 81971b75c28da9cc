"""What both roles of the DTLS 1.2 handshake share: transcript, message numbering, key
schedule and the peer's certificate (RFC 6347 §4.2, RFC 5246 §7.4, RFC 7627).

A :class:`~pyrtcstack.dtls.engine12.Dtls12Engine` owns one role object once its role is
known: a :class:`~.client.ClientHandshake` or a :class:`~.server.ServerHandshake`, both
:class:`Handshake12`. The role object holds the handshake's state (:class:`State`) and
secrets and handles the peer's messages; it asks its engine for records, flights, keys and
the fingerprint check only through :class:`Host12`. The engine keeps the record layer,
the flight timer, alerts and the end.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from .certificate import load_peer_certificate
from .constants import (
    AlertDescription,
    HandshakeType,
)
from .errors import DtlsHandshakeError
from .flights import FlightItem
from .fragments import encode_message
from .handlers import HandshakeRole, handles
from .keyexchange import EcdheKey
from .keylog import keylog_line
from .messages import Certificate, Finished
from .prf import export_keying_material, extended_master_secret, key_block, verify_data
from .suites import RecordCipher, SuiteInfo

if TYPE_CHECKING:
    from .engine import DtlsContext
    from .handshake13 import ClientStart13, ServerStart13

__all__ = ["DtlsRole", "DtlsStats", "Handshake12", "Host12", "State"]


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


class Host12(Protocol):
    """What a DTLS 1.2 role object asks of its engine, and all it may ask: the engine keeps
    the records, the flight and its timer, the epochs and the peer's identity."""

    def send_flight(
        self, items: list[FlightItem], now: float, *, trigger: int | None, expect_reply: bool
    ) -> None:
        """Send a new flight (RFC 6347 §4.2.4); a repeat of the peer's messages from
        ``trigger`` on makes us resend it; an item of epoch 1 moves our write epoch there;
        without ``expect_reply`` no timer runs (the last flight is resent only on demand)."""

    def send_stateless(self, msg_type: int, seq: int, body: bytes, version: int) -> None:
        """One unprotected handshake message, sent at once and not kept, with the record
        sequence number of the ClientHello it answers (RFC 6347 §4.2.1)."""

    def expect_message_seq(self, seq: int) -> None:
        """The next peer message is ``seq`` (a server, after the ClientHello it answers)."""

    def install_keys(self, write: RecordCipher, read: RecordCipher) -> None:
        """The epoch-1 cipher states (RFC 6347 §4.1)."""

    def peer_certificate_received(self, der: bytes) -> None:
        """The peer's end-entity certificate: kept, and checked against the fingerprints
        if they are known (RFC 8122 §5); raises on a mismatch."""

    def handshake_finished(self, now: float, *, keep_flight: bool) -> None:
        """Both Finished are checked (RFC 5246 §7.4.9); ``keep_flight``: ours is the last
        flight, kept for a peer that repeats its own (RFC 6347 §4.2.4)."""

    def hand_over13(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """The hellos selected DTLS 1.3 (RFC 9147 §5.3): the 1.3 engine continues from
        ``start``."""


class Handshake12(HandshakeRole[State, Host12]):
    """One role of the DTLS 1.2 handshake: its state, transcript and secrets; the base of
    :class:`~.client.ClientHandshake` and :class:`~.server.ServerHandshake`, which add the
    handlers of what that role receives (their ``HANDLERS`` table). The engine calls
    :meth:`start`, :meth:`handle`, :meth:`export` and :meth:`forget`, and reads
    :attr:`state`, :attr:`suite` and :attr:`srtp_profile`.

    ``__slots__``: a connection lives as long as its peer connection, and an instance dict
    costs more than its fields."""

    __slots__ = ("_ecdhe", "_master", "_pre_master", "_send_seq", "_server_random", "suite")

    def __init__(self, ctx: DtlsContext, host: Host12) -> None:
        super().__init__(ctx, host, State.IDLE)
        self.suite: SuiteInfo | None = None
        self._send_seq = 0
        self._server_random = b""
        self._ecdhe: EcdheKey | None = None
        self._pre_master = b""
        self._master = b""

    # ---- what the engine calls -----------------------------------------------------------

    def start(self, now: float) -> None:
        raise NotImplementedError

    def export(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """RFC 5705 exporter over the master secret (the engine checks when and which label)."""
        assert self.suite is not None
        return export_keying_material(
            self.suite.hash_name,
            self._master,
            self._client_random,
            self._server_random,
            label=label,
            length=length,
            context=context,
        )

    def forget(self) -> None:
        """What only the handshake needed goes (a connection lives for hours): the
        transcript and the ephemeral ECDHE key (RFC 5246 §8.1: the premaster secret and
        what made it are deleted once the master secret is computed), the parsed peer
        certificate (the engine keeps its DER)."""
        self._transcript = bytearray()
        self._ecdhe = None
        self._peer_certificate = self._peer_key = None

    # ---- what both roles do --------------------------------------------------------------

    def _add_transcript(self, msg_type: int, seq: int, body: bytes) -> None:
        self._transcript += encode_message(msg_type, seq, body)

    def _next_item(self, msg_type: HandshakeType, body: bytes, epoch: int = 0) -> FlightItem:
        item = FlightItem(epoch, msg_type, self._send_seq, body)
        self._add_transcript(msg_type, self._send_seq, body)
        self._send_seq += 1
        return item

    def _derive_keys(self) -> None:
        """Master secret (RFC 7627 §4, over the transcript through ClientKeyExchange), key
        block (RFC 5246 §6.3) and the epoch-1 cipher states."""
        suite = self.suite
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
        if self.is_client:
            self.host.install_keys(client, server)
        else:
            self.host.install_keys(server, client)

    def _finished_body(self, from_client: bool) -> bytes:
        assert self.suite is not None
        return verify_data(self.suite.hash_name, self._master, from_client, bytes(self._transcript))

    def _check_finished(self, body: bytes, from_client: bool) -> None:
        expected = self._finished_body(from_client)
        if not hmac.compare_digest(Finished.decode(body).verify_data, expected):
            raise DtlsHandshakeError("Finished does not verify", AlertDescription.DECRYPT_ERROR)

    def _receive_peer_certificate(self, body: bytes) -> None:
        chain = Certificate.decode(body).certificates
        if not chain:
            raise DtlsHandshakeError(
                "peer sent no certificate (WebRTC requires one, RFC 8827 §6.5)",
                AlertDescription.BAD_CERTIFICATE
                if self.is_client
                else AlertDescription.CERTIFICATE_REQUIRED,
            )
        self._peer_certificate, self._peer_key = load_peer_certificate(chain[0])
        self.host.peer_certificate_received(chain[0])

    @handles(State.CLIENT_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE)
    @handles(State.SERVER_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE)
    def _peer_certificate_message(self, seq: int, body: bytes, now: float) -> None:
        """The peer's Certificate (RFC 5246 §7.4.2, §7.4.6); its key exchange comes next."""
        if not self.is_client:
            self._peer_flight_start = seq  # the client's flight 5 starts with it
        self._add_transcript(HandshakeType.CERTIFICATE, seq, body)
        self._receive_peer_certificate(body)
        self.state = (
            State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE
            if self.is_client
            else State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE
        )

    def _finished(self, now: float, *, keep_flight: bool) -> None:
        self.state = State.ESTABLISHED
        self.host.handshake_finished(now, keep_flight=keep_flight)
