"""The client half of the DTLS 1.3 handshake (RFC 8446 §4, RFC 9147 §5): the ServerHello or
HelloRetryRequest that selected 1.3, the server flight's checks, and the final flight. A
:class:`~.engine13.Dtls13Engine` whose role is client owns one :class:`ClientHandshake13`."""

from __future__ import annotations

from .constants import (
    DTLS1_3_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
)
from .errors import DtlsHandshakeError
from .handlers import ENCRYPTED_EXTENSIONS, handles
from .handshake13 import (
    ClientStart13,
    Handshake13,
    ServerStart13,
    State13,
    message_hash,
)
from .kex13 import ClientShare
from .keyschedule import TLS13_SUITES, KeySchedule, Suite13
from .messages import (
    ClientHello,
    ServerHello,
    decode_u16_list,
    decode_use_srtp,
)
from .messages13 import (
    EXT_COOKIE,
    HRR_RANDOM,
    Certificate13,
    CertificateRequest13,
    EncryptedExtensions,
    KeyShareEntry,
    decode_cookie,
    decode_hrr_key_share,
    decode_server_key_share,
    decode_supported_versions_server,
    encode_client_key_shares,
)
from .srtp import SrtpProfile

__all__ = ["ClientHandshake13"]


class ClientHandshake13(Handshake13):
    """What a DTLS 1.3 client sends and its handlers (``@handles``) for the server's flight."""

    __slots__ = ()

    is_client = True

    def begin(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """Continue from the ServerHello/HelloRetryRequest that selected DTLS 1.3 (our
        ClientHello, message 0, was sent by the 1.2 engine)."""
        assert isinstance(start, ClientStart13)
        self._client_hello = start.client_hello
        self._client_random = start.client_hello.random
        self._shares = start.shares
        # the ServerHello itself was popped by the 1.2 layer: next comes seq + 1
        self.host.expect_message_seq(start.seq + 1)
        self._add_transcript(HandshakeType.CLIENT_HELLO, start.client_hello.encode())
        self.state = State13.CLIENT_WAIT_SERVER_HELLO
        self._client_server_hello(start.seq, start.body, now, start.server_hello)

    @handles(State13.CLIENT_WAIT_SERVER_HELLO, HandshakeType.SERVER_HELLO)
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
        if self.suite is not None and self.suite.code != suite.code:
            raise DtlsHandshakeError(
                "ServerHello suite differs from the HelloRetryRequest's",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        if hello.random == HRR_RANDOM:
            self._client_retry(hello, suite, body, now)
            return
        entry = decode_server_key_share(hello.required_extension(ExtensionType.KEY_SHARE))
        ours = self._shares.get(entry.group)
        if ours is None:
            raise DtlsHandshakeError(
                "server key share for a group we sent no share for",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        if self._schedule is None:
            self.suite = suite
            self._schedule = KeySchedule(suite)
        self._add_transcript(HandshakeType.SERVER_HELLO, body)
        self._schedule.set_shared_secret(ours.exchange(entry.key_exchange), self._hash())
        self._shares = {}
        self.host.drop_flight()  # the ServerHello acknowledges our ClientHello
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
        self.suite = suite
        self._schedule = KeySchedule(suite)
        self._transcript = bytearray(message_hash(suite.hash_name, bytes(self._transcript)))
        self._add_transcript(HandshakeType.SERVER_HELLO, body)
        extensions = dict(ch.extensions)
        share_data = hello.extension(ExtensionType.KEY_SHARE)
        if share_data is not None:
            group = decode_hrr_key_share(share_data)
            if group not in self.ctx.groups13 or group in self._shares:
                raise DtlsHandshakeError(
                    "HelloRetryRequest asks for an unusable group",
                    AlertDescription.ILLEGAL_PARAMETER,
                )
            share = ClientShare(group, self.ctx.rng)
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
        item = self._item(HandshakeType.CLIENT_HELLO, second.encode(), 0)
        self.host.send_flight([item], now, needs_ack=False, trigger=None)
        self.state = State13.CLIENT_WAIT_SERVER_HELLO

    @handles(State13.CLIENT_WAIT_ENCRYPTED_EXTENSIONS, ENCRYPTED_EXTENSIONS)
    def _client_encrypted_extensions(self, seq: int, body: bytes, now: float) -> None:
        ee = EncryptedExtensions.decode(body)
        srtp_data = ee.extension(ExtensionType.USE_SRTP)
        if srtp_data is not None:
            chosen, _mki = decode_use_srtp(srtp_data)
            if len(chosen) != 1 or chosen[0] not in self.ctx.srtp_profiles:
                raise DtlsHandshakeError(
                    "server chose an SRTP profile we did not offer",
                    AlertDescription.ILLEGAL_PARAMETER,
                )
            self.srtp_profile = SrtpProfile(chosen[0])
        self._add_transcript(ENCRYPTED_EXTENSIONS, body)
        self._peer_flight_start = seq
        self.state = State13.CLIENT_WAIT_CERTIFICATE_REQUEST

    @handles(State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE_REQUEST)
    def _client_certificate_request(self, seq: int, body: bytes, now: float) -> None:
        request = CertificateRequest13.decode(body)
        sig = request.required_extension(ExtensionType.SIGNATURE_ALGORITHMS)
        self._peer_schemes = decode_u16_list(sig)
        self._cert_request_context = request.context
        self._add_transcript(HandshakeType.CERTIFICATE_REQUEST, body)
        self.state = State13.CLIENT_WAIT_CERTIFICATE

    @handles(State13.CLIENT_WAIT_FINISHED, HandshakeType.FINISHED)
    def _client_finished(self, seq: int, body: bytes, now: float) -> None:
        self._peer_finished(body)
        schedule = self._schedule
        assert schedule is not None
        schedule.set_server_finished(self._hash())
        items = []
        if self._cert_request_context is not None:
            cert = Certificate13(self._cert_request_context, (self.ctx.certificate.der,))
            items.append(self._item(HandshakeType.CERTIFICATE, cert.encode(), 2))
            items.append(
                self._item(
                    HandshakeType.CERTIFICATE_VERIFY,
                    self._certificate_verify_body(self._peer_schemes),
                    2,
                )
            )
        items.append(self._item(HandshakeType.FINISHED, self._finished_body(True), 2))
        self._install_application_keys()
        trigger = (self._peer_flight_start, seq + 1)
        self.host.send_flight(items, now, needs_ack=True, trigger=trigger)
        self.host.use_write_epoch(3)
        self._done(now)
