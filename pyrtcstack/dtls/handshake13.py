"""The DTLS 1.3 handshake messages of both roles (RFC 8446 §4 as RFC 9147 §5 adapts it).

:class:`Handshake13` is the half of :class:`~pyrtcstack.dtls.dtls13.Dtls13Engine` that reads
and writes handshake messages; the engine does records, flights, ACKs and timers. The
entry points are :meth:`Handshake13.start_server` (the ClientHello that selected 1.3) and
:meth:`Handshake13.start_client` (the ServerHello or HelloRetryRequest that did).
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
    DTLS1_2_VERSION,
    DTLS1_3_VERSION,
    AlertDescription,
    CipherSuite13,
    ExtensionType,
    HandshakeType,
    SignatureScheme,
)
from .errors import DtlsError, DtlsHandshakeError, DtlsUsageError, FingerprintMismatchError
from .events import ApplicationData, HandshakeCompleted
from .flights import RetransmitTimer
from .fragments import Reassembler
from .kex13 import ClientShare, server_key_exchange
from .keyschedule import TLS13_SUITES, KeySchedule, Suite13, TrafficKeys
from .messages import (
    CertificateVerify,
    ClientHello,
    ServerHello,
    decode_u16_list,
    decode_use_srtp,
    encode_u16_list,
    encode_use_srtp,
)
from .messages13 import (
    EXT_COOKIE,
    HRR_RANDOM,
    Certificate13,
    CertificateRequest13,
    EncryptedExtensions,
    KeyShareEntry,
    KeyUpdate,
    decode_client_key_shares,
    decode_cookie,
    decode_hrr_key_share,
    decode_server_key_share,
    decode_supported_versions_server,
    encode_client_key_shares,
    encode_cookie,
    encode_server_key_share,
)
from .record import ReplayWindow
from .srtp import SrtpProfile

if TYPE_CHECKING:
    from collections.abc import Callable

    from .connection import DtlsConnection

__all__ = ["VERIFY_SCHEMES13", "Handshake13", "State13"]

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


def _message_hash(hash_name: str, client_hello1: bytes) -> bytes:
    """RFC 8446 §4.4.1: ``message_hash`` stands in for ClientHello1 in the transcript."""
    digest = hashlib.new(hash_name, client_hello1).digest()
    return bytes([_MESSAGE_HASH, 0, 0, len(digest)]) + digest


class Handshake13:
    """Client and server message handlers of the DTLS 1.3 engine."""

    # Declared here, assigned by Dtls13Engine.__init__ / _init_handshake.
    conn: DtlsConnection
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

    def _fail(self, error: DtlsError, send_alert: bool = True) -> None:
        raise NotImplementedError

    def _process_messages(self, now: float) -> None:
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
        if self.conn.keylog is not None:
            self.conn.keylog(f"{label} {self._client_random.hex()} {secret.hex()}")

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
        conn = self.conn
        if conn._remote_fingerprints is not None or not conn._verify_fingerprint:
            self.check_peer_fingerprint()

    def check_peer_fingerprint(self) -> None:
        """RFC 8122 §5 / RFC 5763 §5: the certificate must hash to an SDP fingerprint."""
        conn = self.conn
        if not conn._verify_fingerprint:
            self._peer_verified = True
            return
        if not self._peer_certificate_der:
            return
        if not any(
            fp.matches(self._peer_certificate_der) for fp in conn._remote_fingerprints or []
        ):
            raise FingerprintMismatchError(
                "peer certificate "
                f"{Fingerprint.of(self._peer_certificate_der)} matches no expected fingerprint"
            )
        self._peer_verified = True

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
        cert = self.conn.certificate
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

    def _finished_body(self, from_client: bool) -> bytes:
        schedule = self._schedule
        assert schedule is not None
        base = schedule.client_handshake_secret if from_client else schedule.server_handshake_secret
        return schedule.finished(base, self._hash())

    def _check_finished(self, body: bytes, from_client: bool) -> None:
        if not hmac.compare_digest(body, self._finished_body(from_client)):
            raise DtlsHandshakeError("Finished does not verify", AlertDescription.DECRYPT_ERROR)

    def maybe_complete(self) -> None:
        """Emit HandshakeCompleted once the handshake is done and the fingerprint matched."""
        if not self.established or self._completed or not self._peer_verified:
            return
        assert self._suite is not None
        self._completed = True
        self.conn._state_to_established()
        self._events.append(
            HandshakeCompleted(
                version="DTLS 1.3",
                cipher_suite=CipherSuite13(self._suite.code),
                srtp_profile=self._srtp_profile,
                peer_fingerprint=Fingerprint.of(self._peer_certificate_der),
                peer_certificate=self._peer_certificate_der,
            )
        )
        self._release_pending(lambda d: self._events.append(ApplicationData(d)))
        self._update_fast_path()

    def _handshake_done(self) -> None:
        self.state = State13.CONNECTED
        self.established = True
        self.maybe_complete()

    # ---- message dispatch ----------------------------------------------------------------------

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self.state
        if state == State13.CONNECTED:
            self._post_handshake(msg_type, body, now)
            return
        handlers = {
            (
                State13.SERVER_WAIT_CLIENT_HELLO,
                HandshakeType.CLIENT_HELLO,
            ): self._server_second_hello,
            (State13.SERVER_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE): self._server_certificate,
            (State13.SERVER_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
                self._server_certificate_verify
            ),
            (State13.SERVER_WAIT_FINISHED, HandshakeType.FINISHED): self._server_finished,
            (
                State13.CLIENT_WAIT_SERVER_HELLO,
                HandshakeType.SERVER_HELLO,
            ): self._client_server_hello,
            (State13.CLIENT_WAIT_ENCRYPTED_EXTENSIONS, 8): self._client_encrypted_extensions,
            (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE_REQUEST): (
                self._client_certificate_request
            ),
            (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE): (
                self._client_certificate
            ),
            (State13.CLIENT_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE): self._client_certificate,
            (State13.CLIENT_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
                self._client_certificate_verify
            ),
            (State13.CLIENT_WAIT_FINISHED, HandshakeType.FINISHED): self._client_finished,
        }
        handler = handlers.get((state, msg_type))
        if handler is None:
            raise DtlsHandshakeError(
                f"unexpected handshake message {msg_type} in state {state.value}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )
        handler(seq, body, now)

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
                item = _make_raw_item(self, _KEY_UPDATE, KeyUpdate(False).encode())
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
        item = _make_raw_item(self, _KEY_UPDATE, KeyUpdate(True).encode())
        secret = self._next_secret("client" if self._is_client() else "server")
        self._write_keys[self._write_epoch + 1] = self._schedule.traffic_keys(secret)
        self._pending_key_update = self._write_epoch + 1
        self._send_flight([item], now, needs_ack=True)

    def _next_secret(self, side: str) -> bytes:
        assert self._schedule is not None
        secret = self._schedule.next_application_secret(self._app_secrets[side])
        self._app_secrets[side] = secret
        return secret

    # ---- server ------------------------------------------------------------------------------

    def start_server(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        """Answer the ClientHello that offered DTLS 1.3 (RFC 8446 §4.1.1)."""
        self._reassembler.reset(seq + 1)
        self._client_hello = hello
        self._client_random = hello.random
        try:
            self._server_hello_or_retry(hello, body, seq, now)
        except DtlsError as exc:
            self._fail(exc)

    def _server_second_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ClientHello.decode(body)
        self._client_hello = hello
        self._server_hello_or_retry(hello, body, seq, now)

    def _server_hello_or_retry(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        conn = self.conn
        if hello.client_version != DTLS1_2_VERSION:
            raise DtlsHandshakeError(
                "DTLS 1.3 ClientHello must carry legacy_version 0xfefd",
                AlertDescription.PROTOCOL_VERSION,
            )
        suite = next((TLS13_SUITES[s] for s in conn.suites13 if s in hello.cipher_suites), None)
        if suite is None:
            raise DtlsHandshakeError("no TLS 1.3 cipher suite in common")
        if self._suite is not None and suite.code != self._suite.code:
            raise DtlsHandshakeError(
                "second ClientHello changed the cipher suite", AlertDescription.ILLEGAL_PARAMETER
            )
        groups_data = hello.extension(ExtensionType.SUPPORTED_GROUPS)
        offered_groups = decode_u16_list(groups_data) if groups_data is not None else []
        shares_data = hello.extension(ExtensionType.KEY_SHARE)
        shares = decode_client_key_shares(shares_data) if shares_data is not None else []
        for share in shares:
            if share.group not in offered_groups:  # RFC 8446 §4.2.8
                raise DtlsHandshakeError(
                    "key share for a group not in supported_groups",
                    AlertDescription.ILLEGAL_PARAMETER,
                )
        ours = conn.groups13
        chosen = next((s for g in ours for s in shares if s.group == g), None)
        cookie_data = hello.extension(EXT_COOKIE)
        cookie_ok = not conn.use_cookie or (
            cookie_data is not None
            and hmac.compare_digest(decode_cookie(cookie_data), self._cookie)
        )
        if chosen is None or not cookie_ok:
            if self._hrr_done:
                raise DtlsHandshakeError(
                    "second ClientHello still unusable", AlertDescription.ILLEGAL_PARAMETER
                )
            group = next((g for g in ours if g in offered_groups), None)
            if group is None:
                raise DtlsHandshakeError("no key exchange group in common")
            self._send_retry(hello, body, suite, group=group if chosen is None else None, now=now)
            return
        sig_data = hello.extension(ExtensionType.SIGNATURE_ALGORITHMS)
        if sig_data is None:
            raise DtlsHandshakeError(
                "ClientHello without signature_algorithms", AlertDescription.MISSING_EXTENSION
            )
        client_schemes = decode_u16_list(sig_data)
        if self._schedule is None:  # no HelloRetryRequest: the transcript starts here
            self._suite = suite
            self._schedule = KeySchedule(suite)
        self._add_transcript(HandshakeType.CLIENT_HELLO, body)
        server_share, shared = server_key_exchange(chosen.group, chosen.key_exchange, conn._rng)

        extensions: list[tuple[int, bytes]] = [
            (ExtensionType.SUPPORTED_VERSIONS, DTLS1_3_VERSION.to_bytes(2, "big")),
            (
                ExtensionType.KEY_SHARE,
                encode_server_key_share(KeyShareEntry(chosen.group, server_share)),
            ),
        ]
        server_hello = ServerHello(
            DTLS1_2_VERSION, conn._rng.randbytes(32), hello.session_id, suite.code, 0, extensions
        )
        items = [self._make_item(HandshakeType.SERVER_HELLO, server_hello.encode(), 0)]
        assert self._schedule is not None
        self._schedule.set_shared_secret(shared, self._hash())
        self._install_handshake_keys()

        ee: list[tuple[int, bytes]] = []
        srtp_data = hello.extension(ExtensionType.USE_SRTP)
        if srtp_data is not None and conn.srtp_profiles:
            offered, _mki = decode_use_srtp(srtp_data)
            # RFC 5764 §4.1.1 (unchanged in 1.3, carried in EncryptedExtensions)
            profile = next((p for p in conn.srtp_profiles if p in offered), None)
            if profile is not None:
                self._srtp_profile = profile
                ee.append((ExtensionType.USE_SRTP, encode_use_srtp([int(profile)])))
        items.append(self._make_item(8, EncryptedExtensions(ee).encode(), 2))
        # RFC 8827 §6.5: WebRTC authenticates both ends.
        self._cert_request_context = b""
        request = CertificateRequest13(
            b"",
            [
                (
                    ExtensionType.SIGNATURE_ALGORITHMS,
                    encode_u16_list([int(s) for s in VERIFY_SCHEMES13]),
                )
            ],
        )
        items.append(self._make_item(HandshakeType.CERTIFICATE_REQUEST, request.encode(), 2))
        cert = Certificate13(b"", (conn.certificate.der,)).encode()
        items.append(self._make_item(HandshakeType.CERTIFICATE, cert, 2))
        items.append(
            self._make_item(
                HandshakeType.CERTIFICATE_VERIFY, self._certificate_verify_body(client_schemes), 2
            )
        )
        items.append(self._make_item(HandshakeType.FINISHED, self._finished_body(False), 2))
        self._schedule.set_server_finished(self._hash())
        self._install_application_keys()
        self._trigger = (seq, seq + 1)
        self._send_flight(items, now, needs_ack=False)
        self.state = State13.SERVER_WAIT_CERTIFICATE

    def _send_retry(
        self,
        hello: ClientHello,
        body: bytes,
        suite: Suite13,
        *,
        group: int | None,
        now: float,
    ) -> None:
        """HelloRetryRequest (RFC 8446 §4.1.4, RFC 9147 §5.1: it replaces HelloVerifyRequest).
        The transcript restarts with ``message_hash(ClientHello1)``."""
        self._hrr_done = True
        self._suite = suite
        self._schedule = KeySchedule(suite)
        self._transcript = bytearray(
            _message_hash(suite.hash_name, bytes([1]) + len(body).to_bytes(3, "big") + body)
        )
        self._cookie = hmac.digest(
            self.conn._cookie_secret,
            repr(self.conn.remote_address).encode() + hello.random,
            "sha256",
        )
        extensions: list[tuple[int, bytes]] = [
            (ExtensionType.SUPPORTED_VERSIONS, DTLS1_3_VERSION.to_bytes(2, "big"))
        ]
        if group is not None:
            extensions.append((ExtensionType.KEY_SHARE, group.to_bytes(2, "big")))
        extensions.append((EXT_COOKIE, encode_cookie(self._cookie)))
        retry = ServerHello(
            DTLS1_2_VERSION, HRR_RANDOM, hello.session_id, suite.code, 0, extensions
        )
        item = self._make_item(HandshakeType.SERVER_HELLO, retry.encode(), 0)
        # RFC 9147 §5.8.1: a HelloRetryRequest has no timer; a repeated ClientHello1 re-sends it
        self._flight = [item]
        self._transmit_flight()
        self._timer.stop()
        self._trigger = (0, self._reassembler.next_seq)
        self.state = State13.SERVER_WAIT_CLIENT_HELLO

    def _server_certificate(self, seq: int, body: bytes, now: float) -> None:
        self._flight = []  # RFC 9147 §5.8: the client's flight acknowledges ours
        self._timer.stop()
        self._receive_certificate(body)
        self._add_transcript(HandshakeType.CERTIFICATE, body)
        self.state = State13.SERVER_WAIT_CERTIFICATE_VERIFY

    def _server_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        self._verify_certificate_verify(body, from_client=True)
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, body)
        self.state = State13.SERVER_WAIT_FINISHED

    def _server_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=True)
        self._add_transcript(HandshakeType.FINISHED, body)
        self._write_epoch = 3
        self._send_ack()  # RFC 9147 §7: the client's final flight is ACKed
        self._send_ack_on_old = True
        self._handshake_done()

    # ---- client ------------------------------------------------------------------------------

    def start_client(
        self,
        hello: ServerHello,
        seq: int,
        body: bytes,
        now: float,
        *,
        client_hello: ClientHello,
        client_hello_body: bytes,
        shares: dict[int, ClientShare],
    ) -> None:
        """Continue from the ServerHello/HelloRetryRequest that selected DTLS 1.3."""
        self._client_hello = client_hello
        self._client_random = client_hello.random
        self._shares = shares
        self._reassembler.reset(seq)
        self._send_seq = 1
        self._add_transcript(HandshakeType.CLIENT_HELLO, client_hello_body)
        self.state = State13.CLIENT_WAIT_SERVER_HELLO
        try:
            self._client_server_hello_first(hello, seq, body, now)
        except DtlsError as exc:
            self._fail(exc)
        # the ServerHello itself was popped by the 1.2 layer: next comes seq + 1
        self._process_messages(now)

    def _client_server_hello_first(
        self, hello: ServerHello, seq: int, body: bytes, now: float
    ) -> None:
        self._reassembler.reset(seq + 1)
        self._client_server_hello(seq, body, now, hello)

    def _client_server_hello(
        self, seq: int, body: bytes, now: float, hello: ServerHello | None = None
    ) -> None:
        hello = hello or ServerHello.decode(body)
        ch = self._client_hello
        assert ch is not None
        versions = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
        if versions is None or decode_supported_versions_server(versions) != DTLS1_3_VERSION:
            raise DtlsHandshakeError(
                "server did not select DTLS 1.3", AlertDescription.PROTOCOL_VERSION
            )
        if hello.cipher_suite not in TLS13_SUITES or hello.cipher_suite not in ch.cipher_suites:
            raise DtlsHandshakeError(
                "server chose a suite we did not offer", AlertDescription.ILLEGAL_PARAMETER
            )
        if hello.session_id != ch.session_id or hello.compression_method != 0:
            raise DtlsHandshakeError(
                "ServerHello legacy fields do not echo ours", AlertDescription.ILLEGAL_PARAMETER
            )
        suite = TLS13_SUITES[hello.cipher_suite]
        if self._suite is not None and self._suite.code != suite.code:
            raise DtlsHandshakeError(
                "ServerHello suite differs from the HelloRetryRequest's",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        if hello.random == HRR_RANDOM:
            self._client_retry(hello, suite, body, now)
            return
        share_data = hello.extension(ExtensionType.KEY_SHARE)
        if share_data is None:
            raise DtlsHandshakeError(
                "ServerHello without key_share", AlertDescription.MISSING_EXTENSION
            )
        entry = decode_server_key_share(share_data)
        ours = self._shares.get(entry.group)
        if ours is None:
            raise DtlsHandshakeError(
                "server key share for a group we sent no share for",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        if self._schedule is None:
            self._suite = suite
            self._schedule = KeySchedule(suite)
        self._add_transcript(HandshakeType.SERVER_HELLO, body)
        self._schedule.set_shared_secret(ours.exchange(entry.key_exchange), self._hash())
        self._shares = {}
        self._flight = []  # the ServerHello acknowledges our ClientHello
        self._timer.stop()
        self._install_handshake_keys()
        self.state = State13.CLIENT_WAIT_ENCRYPTED_EXTENSIONS

    def _client_retry(self, hello: ServerHello, suite: Suite13, body: bytes, now: float) -> None:
        """Answer a HelloRetryRequest with ClientHello2 (RFC 8446 §4.1.2)."""
        if self._hrr_done:
            raise DtlsHandshakeError(
                "second HelloRetryRequest", AlertDescription.UNEXPECTED_MESSAGE
            )
        self._hrr_done = True
        ch = self._client_hello
        assert ch is not None
        self._suite = suite
        self._schedule = KeySchedule(suite)
        self._transcript = bytearray(_message_hash(suite.hash_name, bytes(self._transcript)))
        self._add_transcript(HandshakeType.SERVER_HELLO, body)
        extensions = dict(ch.extensions)
        share_data = hello.extension(ExtensionType.KEY_SHARE)
        if share_data is not None:
            group = decode_hrr_key_share(share_data)
            if group not in self.conn.groups13 or group in self._shares:
                raise DtlsHandshakeError(
                    "HelloRetryRequest asks for an unusable group",
                    AlertDescription.ILLEGAL_PARAMETER,
                )
            share = ClientShare(group, self.conn._rng)
            self._shares = {group: share}
            extensions[ExtensionType.KEY_SHARE] = encode_client_key_shares(
                [KeyShareEntry(group, share.public_bytes)]
            )
        cookie = hello.extension(EXT_COOKIE)
        if cookie is not None:
            decode_cookie(cookie)
            extensions[EXT_COOKIE] = cookie
        if share_data is None and cookie is None:
            raise DtlsHandshakeError(
                "HelloRetryRequest that changes nothing", AlertDescription.ILLEGAL_PARAMETER
            )
        second = ClientHello(
            ch.client_version,
            ch.random,
            ch.session_id,
            b"",
            ch.cipher_suites,
            ch.compression_methods,
            list(extensions.items()),
        )
        self._client_hello = second
        item = self._make_item(HandshakeType.CLIENT_HELLO, second.encode(), 0)
        self._trigger = None
        self._send_flight([item], now, needs_ack=False)
        self.state = State13.CLIENT_WAIT_SERVER_HELLO

    def _client_encrypted_extensions(self, seq: int, body: bytes, now: float) -> None:
        ee = EncryptedExtensions.decode(body)
        srtp_data = ee.extension(ExtensionType.USE_SRTP)
        if srtp_data is not None:
            chosen, _mki = decode_use_srtp(srtp_data)
            if len(chosen) != 1 or chosen[0] not in self.conn.srtp_profiles:
                raise DtlsHandshakeError(
                    "server chose an SRTP profile we did not offer",
                    AlertDescription.ILLEGAL_PARAMETER,
                )
            self._srtp_profile = SrtpProfile(chosen[0])
        self._add_transcript(8, body)
        self._peer_flight_start = seq
        self.state = State13.CLIENT_WAIT_CERTIFICATE_REQUEST

    def _client_certificate_request(self, seq: int, body: bytes, now: float) -> None:
        request = CertificateRequest13.decode(body)
        sig = request.extension(ExtensionType.SIGNATURE_ALGORITHMS)
        if sig is None:
            raise DtlsHandshakeError(
                "CertificateRequest without signature_algorithms",
                AlertDescription.MISSING_EXTENSION,
            )
        self._peer_schemes = decode_u16_list(sig)
        self._cert_request_context = request.context
        self._add_transcript(HandshakeType.CERTIFICATE_REQUEST, body)
        self.state = State13.CLIENT_WAIT_CERTIFICATE

    def _client_certificate(self, seq: int, body: bytes, now: float) -> None:
        self._receive_certificate(body)
        self._add_transcript(HandshakeType.CERTIFICATE, body)
        self.state = State13.CLIENT_WAIT_CERTIFICATE_VERIFY

    def _client_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        self._verify_certificate_verify(body, from_client=False)
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, body)
        self.state = State13.CLIENT_WAIT_FINISHED

    def _client_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=False)
        self._add_transcript(HandshakeType.FINISHED, body)
        schedule = self._schedule
        assert schedule is not None
        schedule.set_server_finished(self._hash())
        items = []
        if self._cert_request_context is not None:
            cert = Certificate13(self._cert_request_context, (self.conn.certificate.der,))
            items.append(self._make_item(HandshakeType.CERTIFICATE, cert.encode(), 2))
            items.append(
                self._make_item(
                    HandshakeType.CERTIFICATE_VERIFY,
                    self._certificate_verify_body(self._peer_schemes),
                    2,
                )
            )
        items.append(self._make_item(HandshakeType.FINISHED, self._finished_body(True), 2))
        self._install_application_keys()
        self._trigger = (self._peer_flight_start, seq + 1)
        self._send_flight(items, now, needs_ack=True)
        self._write_epoch = 3
        self._handshake_done()


def _make_raw_item(engine: Handshake13, msg_type: int, body: bytes) -> _Item:
    """A post-handshake message: numbered, but not part of the handshake transcript."""
    item = _Item(engine._write_epoch, msg_type, engine._send_seq, body)
    engine._send_seq += 1
    return item
