"""The client half of the DTLS 1.3 handshake (RFC 8446 §4, RFC 9147 §5): the ServerHello or
HelloRetryRequest that selected 1.3, the server flight's checks, and the final flight."""

from __future__ import annotations

from .constants import (
    DTLS1_3_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
)
from .errors import DtlsError, DtlsHandshakeError
from .handshake13 import (
    Handshake13,
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
    """Handlers for what a DTLS 1.3 client receives."""

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
        entry = decode_server_key_share(hello.required_extension(ExtensionType.KEY_SHARE))
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
        item = self._make_item(HandshakeType.CLIENT_HELLO, second.encode(), 0)
        self._trigger = None
        self._send_flight([item], now, needs_ack=False)
        self.state = State13.CLIENT_WAIT_SERVER_HELLO

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
            self._srtp_profile = SrtpProfile(chosen[0])
        self._add_transcript(8, body)
        self._peer_flight_start = seq
        self.state = State13.CLIENT_WAIT_CERTIFICATE_REQUEST

    def _client_certificate_request(self, seq: int, body: bytes, now: float) -> None:
        request = CertificateRequest13.decode(body)
        sig = request.required_extension(ExtensionType.SIGNATURE_ALGORITHMS)
        self._peer_schemes = decode_u16_list(sig)
        self._cert_request_context = request.context
        self._add_transcript(HandshakeType.CERTIFICATE_REQUEST, body)
        self.state = State13.CLIENT_WAIT_CERTIFICATE

    def _client_finished(self, seq: int, body: bytes, now: float) -> None:
        self._peer_finished(body)
        schedule = self._schedule
        assert schedule is not None
        schedule.set_server_finished(self._hash())
        items = []
        if self._cert_request_context is not None:
            cert = Certificate13(self._cert_request_context, (self.ctx.certificate.der,))
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
