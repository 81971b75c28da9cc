"""What both roles of the DTLS 1.3 handshake share (RFC 8446 §4 as RFC 9147 §5 adapts it):
states, key installation, peer identity, CertificateVerify and Finished, post-handshake
KeyUpdate / NewSessionTicket.

:class:`Handshake13` is the base of :class:`~.server13.ServerHandshake13` and
:class:`~.client13.ClientHandshake13`, which :class:`~.dtls13.Dtls13Engine` combines with the
record layer, flights, ACKs and timers. The entry points are
:meth:`~.server13.ServerHandshake13.start_server` (the ClientHello that selected 1.3) and
:meth:`~.client13.ClientHandshake13.start_client` (the ServerHello or HelloRetryRequest).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Final

from cryptography import x509

from ..common.core import Event
from .certificate import VERIFY_SCHEMES, Fingerprint, load_peer_certificate, verify_signature
from .constants import (
    AlertDescription,
    CipherSuite13,
    HandshakeType,
    SignatureScheme,
)
from .engine import EngineBase
from .errors import DtlsHandshakeError, DtlsUsageError
from .events import HandshakeCompleted
from .flights import RetransmitTimer
from .fragments import Reassembler
from .kex13 import ClientShare
from .keyschedule import KeySchedule, Suite13, TrafficKeys
from .messages import (
    CertificateVerify,
    ClientHello,
)
from .messages13 import (
    Certificate13,
    KeyUpdate,
)
from .record import ReplayWindow
from .srtp import SrtpProfile

if TYPE_CHECKING:
    from collections.abc import Callable

    from .engine import DtlsContext

__all__ = ["VERIFY_SCHEMES13", "Handshake13", "State13", "message_hash", "message_hash_of"]

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
_NEW_SESSION_TICKET: Final = 4
_KEY_UPDATE: Final = 24

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


class Handshake13(EngineBase):
    """Client and server message handlers of the DTLS 1.3 engine."""

    # Declared here, assigned by Dtls13Engine.__init__ / _init_handshake.
    ctx: DtlsContext
    _retry: tuple[bytes, Suite13, int | None, bytes] | None
    state: State13
    established: bool
    _completed: bool
    _events: deque[Event]
    _timer: RetransmitTimer
    _schedule: KeySchedule | None
    _transcript: bytearray
    _reassembler: Reassembler
    _send_seq: int
    _flight: list[_Item]
    _trigger: tuple[int, int] | None
    _write_epoch: int
    _write_keys: dict[int, TrafficKeys]
    _write_seq: dict[int, int]
    _read_keys: dict[int, TrafficKeys]
    _windows: dict[int, ReplayWindow]
    _ack_pending: list[tuple[int, int]]
    _send_ack_on_old: bool
    _pending_key_update: int | None
    _app_secrets: dict[str, bytes]
    _peer_flight_start: int

    # Implemented by Dtls13Engine (records, flights, ACKs).
    def _is_client(self) -> bool:
        raise NotImplementedError

    def _make_item(self, msg_type: int, body: bytes, epoch: int) -> _Item:
        raise NotImplementedError

    def _add_transcript(self, msg_type: int, body: bytes) -> None:
        raise NotImplementedError

    def _send_flight(self, items: list[_Item], now: float, needs_ack: bool) -> None:
        raise NotImplementedError

    def _transmit_flight(self) -> None:
        raise NotImplementedError

    def _send_ack(self) -> None:
        raise NotImplementedError

    def _release_pending(self, deliver: Callable[[bytes], None]) -> None:
        raise NotImplementedError

    def _update_fast_path(self) -> None:
        raise NotImplementedError

    def _init_handshake(self, now: float) -> None:
        self._suite: Suite13 | None = None
        self._srtp_profile: SrtpProfile | None = None
        self._client_random = b""
        self._client_hello: ClientHello | None = None
        self._shares: dict[int, ClientShare] = {}
        self._hrr_done = False
        self._peer_certificate: x509.Certificate | None = None
        self._peer_certificate_der = b""
        self._peer_verified = False
        self._cert_request_context: bytes | None = None
        self._peer_schemes: list[int] | None = None
        self._cookie = b""

    # ---- shared helpers ----------------------------------------------------------------------

    def _hash(self) -> bytes:
        assert self._schedule is not None
        return self._schedule.transcript_hash(self._transcript)

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
        mine, theirs = (client, server) if self._is_client() else (server, client)
        self._write_keys[2], self._read_keys[2] = mine, theirs
        self._write_seq.setdefault(2, 0)
        self._windows[2] = self._new_window()
        self._write_epoch = 2

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
        mine, theirs = (client, server) if self._is_client() else (server, client)
        self._write_keys[3], self._read_keys[3] = mine, theirs
        self._windows[3] = self._new_window()
        self._write_seq.setdefault(3, 0)

    def _new_window(self) -> ReplayWindow:
        return ReplayWindow()

    def _receive_certificate(self, body: bytes) -> None:
        message = Certificate13.decode(body)
        if self._is_client():
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
                if not self._is_client()
                else AlertDescription.DECODE_ERROR,
            )
        self._peer_certificate = load_peer_certificate(message.certificates[0])
        self._peer_certificate_der = message.certificates[0]
        ctx = self.ctx
        if ctx.remote_fingerprints is not None or not ctx.verify_fingerprint:
            self._check_peer_fingerprint()

    def _verify_certificate_verify(self, body: bytes, from_client: bool) -> None:
        cv = CertificateVerify.decode(body)
        if cv.signature_scheme not in _CV_SCHEMES13:
            raise DtlsHandshakeError(
                f"CertificateVerify scheme 0x{cv.signature_scheme:04x} not allowed in TLS 1.3",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        assert self._peer_certificate is not None
        context = _CLIENT_CONTEXT if from_client else _SERVER_CONTEXT
        verify_signature(
            self._peer_certificate, cv.signature_scheme, cv.signature, context + self._hash()
        )

    def _certificate_verify_body(self, schemes: list[int] | None) -> bytes:
        cert = self.ctx.certificate
        ours = [s for s in cert.signature_schemes() if s in _CV_SCHEMES13]
        scheme = next((s for s in ours if schemes is None or s in schemes), None)
        if scheme is None:
            raise DtlsHandshakeError(
                "peer accepts no signature scheme our certificate can make",
                AlertDescription.HANDSHAKE_FAILURE,
            )
        context = _SERVER_CONTEXT if not self._is_client() else _CLIENT_CONTEXT
        signature = cert.sign(SignatureScheme(scheme), context + self._hash())
        return CertificateVerify(scheme, signature).encode()

    def _peer_certificate_message(self, seq: int, body: bytes, now: float) -> None:
        """The peer's Certificate (RFC 8446 §4.4.2); its CertificateVerify comes next."""
        self._receive_certificate(body)
        self._add_transcript(HandshakeType.CERTIFICATE, body)
        self.state = (
            State13.CLIENT_WAIT_CERTIFICATE_VERIFY
            if self._is_client()
            else State13.SERVER_WAIT_CERTIFICATE_VERIFY
        )

    def _peer_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        """The peer's CertificateVerify (RFC 8446 §4.4.3); its Finished comes next."""
        self._verify_certificate_verify(body, from_client=not self._is_client())
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, body)
        self.state = (
            State13.CLIENT_WAIT_FINISHED if self._is_client() else State13.SERVER_WAIT_FINISHED
        )

    def _peer_finished(self, body: bytes) -> None:
        """Check the peer's Finished (RFC 8446 §4.4.4) and add it to the transcript."""
        self._check_finished(body, from_client=not self._is_client())
        self._add_transcript(HandshakeType.FINISHED, body)

    def _finished_body(self, from_client: bool) -> bytes:
        schedule = self._schedule
        assert schedule is not None
        base = schedule.client_handshake_secret if from_client else schedule.server_handshake_secret
        return schedule.finished(base, self._hash())

    def _check_finished(self, body: bytes, from_client: bool) -> None:
        if not hmac.compare_digest(body, self._finished_body(from_client)):
            raise DtlsHandshakeError("Finished does not verify", AlertDescription.DECRYPT_ERROR)

    def _maybe_complete(self) -> None:
        """Emit HandshakeCompleted once the handshake is done and the fingerprint matched."""
        if not self.established or self._completed or not self._peer_verified:
            return
        assert self._suite is not None
        self._completed = True
        # The transcript ends with the Finished messages (RFC 8446 §4.4.1): what built and
        # checked the keys is not needed any more (the peer certificate's DER stays, for
        # stats and late fingerprints), as the 1.2 handshake drops its own (RFC 5246 §8.1).
        self._transcript = bytearray()
        self._client_hello = None
        self._shares = {}
        self._peer_certificate = None
        self._events.append(
            HandshakeCompleted(
                version="DTLS 1.3",
                cipher_suite=CipherSuite13(self._suite.code),
                srtp_profile=self._srtp_profile,
                peer_fingerprint=Fingerprint.of(self._peer_certificate_der),
                peer_certificate=self._peer_certificate_der,
            )
        )
        self._release_pending(self.ctx.deliver)
        self._update_fast_path()

    def _handshake_done(self) -> None:
        self.state = State13.CONNECTED
        self.established = True
        self._maybe_complete()

    # ---- message dispatch ----------------------------------------------------------------------

    def _post_handshake(self, msg_type: int, body: bytes, now: float) -> None:
        """KeyUpdate and NewSessionTicket after the handshake (RFC 8446 §4.6), each ACKed
        (RFC 9147 §7)."""
        if msg_type == _KEY_UPDATE:
            update = KeyUpdate.decode(body)
            self._send_ack()
            self._ack_pending = []
            read_epoch = max(self._read_keys)
            side = "server" if self._is_client() else "client"
            secret = self._next_secret(side)
            assert self._schedule is not None
            self._read_keys[read_epoch + 1] = self._schedule.traffic_keys(secret)
            self._windows[read_epoch + 1] = self._new_window()
            oldest = read_epoch + 1 - MAX_OLD_READ_EPOCHS
            for old in [e for e in self._read_keys if 3 <= e < oldest]:
                del self._read_keys[old]
                self._windows.pop(old, None)
            self._update_fast_path()
            if update.update_requested and self._pending_key_update is None and not self._flight:
                item = self._make_raw_item(_KEY_UPDATE, KeyUpdate(False).encode())
                mine = "client" if self._is_client() else "server"
                new_secret = self._next_secret(mine)
                new_epoch = self._write_epoch + 1
                self._write_keys[new_epoch] = self._schedule.traffic_keys(new_secret)
                self._pending_key_update = new_epoch
                self._send_flight([item], now, needs_ack=True)
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
        assert self._schedule is not None
        item = self._make_raw_item(_KEY_UPDATE, KeyUpdate(True).encode())
        secret = self._next_secret("client" if self._is_client() else "server")
        self._write_keys[self._write_epoch + 1] = self._schedule.traffic_keys(secret)
        self._pending_key_update = self._write_epoch + 1
        self._send_flight([item], now, needs_ack=True)

    def _make_raw_item(self, msg_type: int, body: bytes) -> _Item:
        """A post-handshake message: numbered, but not part of the handshake transcript."""
        item = _Item(self._write_epoch, msg_type, self._send_seq, body)
        self._send_seq += 1
        return item

    def _next_secret(self, side: str) -> bytes:
        assert self._schedule is not None
        secret = self._schedule.next_application_secret(self._app_secrets[side])
        self._app_secrets[side] = secret
        return secret
