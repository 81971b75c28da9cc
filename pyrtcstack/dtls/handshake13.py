"""What both roles of the DTLS 1.3 handshake share (RFC 8446 §4 as RFC 9147 §5 adapts it):
states, the key schedule, peer identity, CertificateVerify and Finished.

A :class:`~.engine13.Dtls13Engine` owns one role object, made with the engine (the role is
known by then): a :class:`~.client13.ClientHandshake13` or a
:class:`~.server13.ServerHandshake13`, both :class:`Handshake13`. The role object holds the
transcript, the key schedule and what the hellos negotiated, and handles the peer's
handshake messages; it reaches the engine (records, flights, ACKs, timers, epochs) only
through :class:`Host13`. The entry points are
:meth:`~.server13.ServerHandshake13.begin` (the ClientHello that selected 1.3, a
:class:`ServerStart13`) and :meth:`~.client13.ClientHandshake13.begin` (the ServerHello or
HelloRetryRequest, a :class:`ClientStart13`).
"""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from .certificate import VERIFY_SCHEMES, load_peer_certificate, verify_signature
from .constants import (
    AlertDescription,
    HandshakeType,
    SignatureScheme,
)
from .errors import DtlsHandshakeError, DtlsUsageError
from .handlers import HandshakeRole, handles
from .kex13 import ClientShare
from .keyschedule import KeySchedule, Suite13, TrafficKeys
from .messages import (
    CertificateVerify,
    ClientHello,
    ServerHello,
)
from .messages13 import Certificate13

if TYPE_CHECKING:
    from .engine import DtlsContext

__all__ = [
    "VERIFY_SCHEMES13",
    "ClientStart13",
    "Handshake13",
    "Host13",
    "Retry13",
    "ServerStart13",
    "State13",
    "message_hash",
    "message_hash_of",
]

#: Schemes a TLS 1.3 CertificateVerify may use (RFC 8446 §4.4.3: no PKCS#1 v1.5).
VERIFY_SCHEMES13: Final = tuple(
    s for s in VERIFY_SCHEMES if not (0x0401 <= s <= 0x0601 and s & 0xFF == 0x01)
)
_SERVER_CONTEXT: Final = b" " * 64 + b"TLS 1.3, server CertificateVerify\x00"
_CLIENT_CONTEXT: Final = b" " * 64 + b"TLS 1.3, client CertificateVerify\x00"
#: Read epochs kept after a KeyUpdate, for records that were overtaken (RFC 9147 §4.2.1).
MAX_OLD_READ_EPOCHS: Final = 2
#: The synthetic handshake type that replaces ClientHello1 after a HelloRetryRequest.
_MESSAGE_HASH: Final = 254
#: What a server answers and keeps in EncryptedExtensions; unknown extensions are skipped.

_CV_SCHEMES13 = frozenset(int(s) for s in VERIFY_SCHEMES13)


class State13(Enum):
    """What the 1.3 handshake waits for (RFC 8446 §A.1, §A.2)."""

    CLIENT_WAIT_SERVER_HELLO = "client: expect ServerHello (after HelloRetryRequest)"
    CLIENT_WAIT_ENCRYPTED_EXTENSIONS = "client: expect EncryptedExtensions"
    CLIENT_WAIT_CERTIFICATE_REQUEST = "client: expect CertificateRequest/Certificate"
    CLIENT_WAIT_CERTIFICATE = "client: expect Certificate"
    CLIENT_WAIT_CERTIFICATE_VERIFY = "client: expect CertificateVerify"
    CLIENT_WAIT_FINISHED = "client: expect Finished"
    SERVER_WAIT_CLIENT_HELLO = "server: expect ClientHello (after HelloRetryRequest)"
    SERVER_WAIT_CERTIFICATE = "server: expect Certificate"
    SERVER_WAIT_CERTIFICATE_VERIFY = "server: expect CertificateVerify"
    SERVER_WAIT_FINISHED = "server: expect Finished"
    CONNECTED = "established"
    CLOSED = "closed"
    FAILED = "failed"


#: What our stateless HelloRetryRequest's cookie carried (:mod:`.cookies`): the cookie, the
#: suite, the group asked for (None: none), Hash(ClientHello1).
Retry13 = tuple[bytes, Suite13, int | None, bytes]


class ServerStart13(NamedTuple):
    """What the 1.2 engine read when a ClientHello selected DTLS 1.3 (RFC 9147 §5.3): the
    1.3 server continues from here."""

    hello: ClientHello
    body: bytes
    seq: int
    #: set when the hello answered our stateless HelloRetryRequest
    retry: Retry13 | None


class ClientStart13(NamedTuple):
    """What the 1.2 engine had when the ServerHello (or HelloRetryRequest) selected DTLS
    1.3: the 1.3 client continues from here."""

    server_hello: ServerHello
    seq: int
    body: bytes
    #: our ClientHello (message 0, sent by the 1.2 engine) and its key shares
    client_hello: ClientHello
    shares: dict[int, ClientShare]


class _Item:
    """One handshake message of a flight and the records each transmission put it in."""

    __slots__ = ("body", "epoch", "msg_type", "sent_in", "seq")

    def __init__(self, epoch: int, msg_type: int, seq: int, body: bytes) -> None:
        self.epoch = epoch
        self.msg_type = msg_type
        self.seq = seq
        self.body = body
        self.sent_in: list[list[tuple[int, int]]] = []


def message_hash(hash_name: str, client_hello1: bytes) -> bytes:
    """RFC 8446 §4.4.1: ``message_hash`` stands in for ClientHello1 in the transcript."""
    return message_hash_of(hashlib.new(hash_name, client_hello1).digest())


def message_hash_of(digest: bytes) -> bytes:
    """The ``message_hash`` message for an already computed Hash(ClientHello1)."""
    return bytes([_MESSAGE_HASH, 0, 0, len(digest)]) + digest


class Host13(Protocol):
    """What a DTLS 1.3 role object asks of its engine, and all it may ask: the engine keeps
    the records, epochs, flights, ACKs and timers and the peer's identity."""

    def new_item(self, msg_type: int, body: bytes, epoch: int) -> _Item:
        """Our next handshake message (the engine numbers them, RFC 9147 §5.2), to go out
        in ``epoch``."""

    def send_flight(
        self, items: list[_Item], now: float, *, needs_ack: bool, trigger: tuple[int, int] | None
    ) -> None:
        """Send a new flight; its timer runs until it is acknowledged (RFC 9147 §5.8); a
        repeat of the peer's messages in ``trigger`` (a message_seq range) resends it."""

    def send_retry_request(self, item: _Item) -> None:
        """A HelloRetryRequest: sent, kept without a timer, resent when ClientHello1 is
        repeated (RFC 9147 §5.8.1)."""

    def drop_flight(self) -> None:
        """The peer's next flight acknowledges ours implicitly (RFC 9147 §5.8)."""

    def expect_message_seq(self, seq: int) -> None:
        """The next peer message is ``seq``."""

    def install_keys(self, epoch: int, mine: TrafficKeys, theirs: TrafficKeys) -> None:
        """Our and the peer's traffic keys of ``epoch`` (RFC 9147 §6.1: 2 handshake, 3
        application data)."""

    def use_write_epoch(self, epoch: int) -> None:
        """Our records go out in ``epoch`` from now on."""

    def ack_final_flight(self) -> None:
        """ACK the client's final flight, now and whenever it is repeated (RFC 9147 §7)."""

    def peer_certificate_received(self, der: bytes) -> None:
        """The peer's end-entity certificate: kept, and checked against the fingerprints
        if they are known (RFC 8122 §5); raises on a mismatch."""

    def handshake_done(self, now: float) -> None:
        """Both Finished are checked (RFC 8446 §4.4.4)."""


class Handshake13(HandshakeRole[State13, Host13]):
    """One role of the DTLS 1.3 handshake: its state, transcript, key schedule and what the
    hellos negotiated; the base of :class:`~.client13.ClientHandshake13` and
    :class:`~.server13.ServerHandshake13`, which add the handlers of what that role
    receives (their ``HANDLERS`` table). The engine calls :meth:`handle`,
    :meth:`next_traffic_keys`, :meth:`export` and :meth:`forget`, and reads :attr:`state`,
    :attr:`suite` and :attr:`srtp_profile`."""

    __slots__ = (
        "_app_secrets",
        "_cert_request_context",
        "_cookie",
        "_hrr_done",
        "_peer_schemes",
        "_running",
        "_running_length",
        "_running_of",
        "_schedule",
        "_shares",
        "suite",
    )

    def __init__(self, ctx: DtlsContext, host: Host13) -> None:
        """The state is set by :meth:`begin`, when the role knows what the hellos chose."""
        super().__init__(ctx, host, State13.CONNECTED)
        self.suite: Suite13 | None = None
        self._schedule: KeySchedule | None = None
        self._app_secrets: dict[str, bytes] = {}
        self._shares: dict[int, ClientShare] = {}
        self._hrr_done = False
        self._cert_request_context: bytes | None = None
        self._peer_schemes: list[int] | None = None
        self._cookie = b""
        # the running Transcript-Hash (_hash): of which transcript, how many octets taken
        self._running: hashlib._Hash | None = None
        self._running_of: bytearray | None = None
        self._running_length = 0

    # ---- what the engine calls -----------------------------------------------------------

    def begin(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """Continue from the hello that selected DTLS 1.3."""
        raise NotImplementedError

    def next_traffic_keys(self, mine: bool) -> TrafficKeys:
        """The next application traffic keys of our side (``mine``) or the peer's, for a
        KeyUpdate (RFC 8446 §4.6.3, §7.2)."""
        schedule = self._schedule
        assert schedule is not None
        side = "client" if mine == self.is_client else "server"
        secret = schedule.next_application_secret(self._app_secrets[side])
        self._app_secrets[side] = secret
        return schedule.traffic_keys(secret)

    def export(self, label: bytes, length: int, context: bytes | None) -> bytes:
        """The TLS 1.3 exporter (RFC 8446 §7.5); a server has the exporter secret before
        the client's Finished arrived, the engine asks only once the handshake is done."""
        schedule = self._schedule
        if schedule is None or not schedule.exporter_master_secret:
            raise DtlsUsageError("keying material is only available after the handshake")
        return schedule.export(label, context or b"", length)

    def forget(self) -> None:
        """The transcript ends with the Finished messages (RFC 8446 §4.4.1): what built and
        checked the keys is not needed any more (the engine keeps the peer certificate's
        DER), as the 1.2 handshake drops its own (RFC 5246 §8.1). Of the key schedule
        stay the application secrets (KeyUpdate, RFC 8446 §7.2), the exporter's (RFC 8446
        §7.5) and the peer's handshake secret (:meth:`peer_handshake_keys`)."""
        self._transcript = bytearray()
        self._running = self._running_of = None
        self._client_hello = None
        self._shares = {}
        self._peer_certificate = self._peer_key = None
        self._cookie = b""
        self._peer_schemes = None
        schedule = self._schedule
        if schedule is not None:
            schedule.forget_handshake(keep_client=not self.is_client)

    def peer_handshake_keys(self) -> TrafficKeys:
        """The peer's epoch-2 traffic keys (RFC 9147 §6.1), derived again from its
        handshake traffic secret: a server that dropped them re-reads a client's final
        flight resent after a lost ACK (RFC 9147 §7)."""
        schedule = self._schedule
        assert schedule is not None
        secret = (
            schedule.server_handshake_secret if self.is_client else schedule.client_handshake_secret
        )
        return schedule.traffic_keys(secret)

    # ---- what both roles do --------------------------------------------------------------

    def _item(self, msg_type: int, body: bytes, epoch: int) -> _Item:
        """Our next handshake message, added to the transcript."""
        item = self.host.new_item(msg_type, body, epoch)
        self._add_transcript(msg_type, body)
        return item

    def _add_transcript(self, msg_type: int, body: bytes) -> None:
        # RFC 9147 §5.2: the transcript holds TLS 1.3-style headers (no message_seq or
        # fragment fields).
        self._transcript += bytes([msg_type]) + len(body).to_bytes(3, "big") + body

    def _hash(self) -> bytes:
        """Transcript-Hash (RFC 8446 §4.4.1) of the messages so far.

        The transcript only grows (``_add_transcript``), so a running hash takes only the
        octets added since the last call: each message is hashed once, not again for every
        later Derive-Secret, CertificateVerify and Finished (with ML-KEM's 1,184 octets in
        the ClientHello, hashing the whole transcript each time was ~5 % of a setup's
        instructions). A replaced transcript (after a HelloRetryRequest, §4.4.1) or
        another hash starts a new one."""
        assert self._schedule is not None
        transcript = self._transcript
        name = self._schedule.suite.hash_name
        running = self._running
        fed = self._running_length
        if (
            running is None
            or self._running_of is not transcript
            or running.name != name
            or fed > len(transcript)
        ):
            running = self._running = hashlib.new(name)
            self._running_of = transcript
            fed = 0
        if fed < len(transcript):
            running.update(transcript[fed:])
            self._running_length = len(transcript)
        return running.copy().digest()

    def _keylog(self, label: str, secret: bytes) -> None:
        if self.ctx.keylog is not None:
            self.ctx.keylog(f"{label} {self._client_random.hex()} {secret.hex()}")

    def _install_handshake_keys(self) -> None:
        schedule = self._schedule
        assert schedule is not None
        client = schedule.traffic_keys(schedule.client_handshake_secret)
        server = schedule.traffic_keys(schedule.server_handshake_secret)
        self._keylog("CLIENT_HANDSHAKE_TRAFFIC_SECRET", schedule.client_handshake_secret)
        self._keylog("SERVER_HANDSHAKE_TRAFFIC_SECRET", schedule.server_handshake_secret)
        mine, theirs = (client, server) if self.is_client else (server, client)
        self.host.install_keys(2, mine, theirs)
        self.host.use_write_epoch(2)

    def _install_application_keys(self) -> None:
        schedule = self._schedule
        assert schedule is not None
        self._app_secrets = {
            "client": schedule.client_application_secret,
            "server": schedule.server_application_secret,
        }
        self._keylog("CLIENT_TRAFFIC_SECRET_0", schedule.client_application_secret)
        self._keylog("SERVER_TRAFFIC_SECRET_0", schedule.server_application_secret)
        self._keylog("EXPORTER_SECRET", schedule.exporter_master_secret)
        client = schedule.traffic_keys(schedule.client_application_secret)
        server = schedule.traffic_keys(schedule.server_application_secret)
        mine, theirs = (client, server) if self.is_client else (server, client)
        self.host.install_keys(3, mine, theirs)

    def _receive_certificate(self, body: bytes) -> None:
        message = Certificate13.decode(body)
        if self.is_client:
            if message.context:
                raise DtlsHandshakeError(
                    "server Certificate has a request context", AlertDescription.ILLEGAL_PARAMETER
                )
        elif message.context != (self._cert_request_context or b""):
            raise DtlsHandshakeError(
                "client Certificate context differs from the request",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        if not message.certificates:
            raise DtlsHandshakeError(
                "peer sent no certificate (WebRTC requires one, RFC 8827 §6.5)",
                AlertDescription.CERTIFICATE_REQUIRED
                if not self.is_client
                else AlertDescription.DECODE_ERROR,
            )
        self._peer_certificate, self._peer_key = load_peer_certificate(message.certificates[0])
        self.host.peer_certificate_received(message.certificates[0])

    def _verify_certificate_verify(self, body: bytes, from_client: bool) -> None:
        cv = CertificateVerify.decode(body)
        if cv.signature_scheme not in _CV_SCHEMES13:
            raise DtlsHandshakeError(
                f"CertificateVerify scheme 0x{cv.signature_scheme:04x} not allowed in TLS 1.3",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        assert self._peer_key is not None
        context = _CLIENT_CONTEXT if from_client else _SERVER_CONTEXT
        verify_signature(self._peer_key, cv.signature_scheme, cv.signature, context + self._hash())

    def _certificate_verify_body(self, schemes: list[int] | None) -> bytes:
        cert = self.ctx.certificate
        ours = [s for s in cert.signature_schemes() if s in _CV_SCHEMES13]
        scheme = next((s for s in ours if schemes is None or s in schemes), None)
        if scheme is None:
            raise DtlsHandshakeError(
                "peer accepts no signature scheme our certificate can make",
                AlertDescription.HANDSHAKE_FAILURE,
            )
        context = _SERVER_CONTEXT if not self.is_client else _CLIENT_CONTEXT
        signature = cert.sign(SignatureScheme(scheme), context + self._hash())
        return CertificateVerify(scheme, signature).encode()

    # RFC 8446 §4.3.2: the CertificateRequest is optional (we always send one)
    @handles(State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE)
    @handles(State13.CLIENT_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE)
    def _peer_certificate_message(self, seq: int, body: bytes, now: float) -> None:
        """The peer's Certificate (RFC 8446 §4.4.2); its CertificateVerify comes next."""
        self._receive_certificate(body)
        self._add_transcript(HandshakeType.CERTIFICATE, body)
        self.state = (
            State13.CLIENT_WAIT_CERTIFICATE_VERIFY
            if self.is_client
            else State13.SERVER_WAIT_CERTIFICATE_VERIFY
        )

    @handles(State13.CLIENT_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY)
    @handles(State13.SERVER_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY)
    def _peer_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        """The peer's CertificateVerify (RFC 8446 §4.4.3); its Finished comes next."""
        self._verify_certificate_verify(body, from_client=not self.is_client)
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, body)
        self.state = (
            State13.CLIENT_WAIT_FINISHED if self.is_client else State13.SERVER_WAIT_FINISHED
        )

    def _peer_finished(self, body: bytes) -> None:
        """Check the peer's Finished (RFC 8446 §4.4.4) and add it to the transcript."""
        self._check_finished(body, from_client=not self.is_client)
        self._add_transcript(HandshakeType.FINISHED, body)

    def _finished_body(self, from_client: bool) -> bytes:
        schedule = self._schedule
        assert schedule is not None
        base = schedule.client_handshake_secret if from_client else schedule.server_handshake_secret
        return schedule.finished(base, self._hash())

    def _check_finished(self, body: bytes, from_client: bool) -> None:
        if not hmac.compare_digest(body, self._finished_body(from_client)):
            raise DtlsHandshakeError("Finished does not verify", AlertDescription.DECRYPT_ERROR)

    def _done(self, now: float) -> None:
        self.state = State13.CONNECTED
        self.host.handshake_done(now)
