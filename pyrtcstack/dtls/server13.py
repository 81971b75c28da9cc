"""The server half of the DTLS 1.3 handshake (RFC 8446 §4, RFC 9147 §5): the ClientHello that
selected 1.3, HelloRetryRequest, the server flight, and the checks on the client's final
flight. A :class:`~.engine13.Dtls13Engine` whose role is server owns one
:class:`ServerHandshake13`."""

from __future__ import annotations

import hmac

from .constants import (
    DTLS1_2_VERSION,
    DTLS1_3_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
)
from .cookies import retry_request
from .errors import DtlsHandshakeError
from .handlers import ENCRYPTED_EXTENSIONS, handles
from .handshake13 import (
    VERIFY_SCHEMES13,
    ClientStart13,
    Handshake13,
    ServerStart13,
    State13,
    message_hash,
    message_hash_of,
)
from .kex13 import server_key_exchange
from .keyschedule import KeySchedule, Suite13
from .messages import (
    ClientHello,
    ServerHello,
    decode_u16_list,
    decode_use_srtp,
    encode_u16_list,
    encode_use_srtp,
)
from .messages13 import (
    EXT_COOKIE,
    Certificate13,
    CertificateRequest13,
    EncryptedExtensions,
    KeyShareEntry,
    decode_cookie,
    encode_server_key_share,
)
from .negotiation import select13

__all__ = ["ServerHandshake13"]


class ServerHandshake13(Handshake13):
    """The DTLS 1.3 server's handshake: what it sends, and a handler for each message it
    receives (:attr:`HANDLERS`)."""

    __slots__ = ()

    def begin(self, start: ServerStart13 | ClientStart13, now: float) -> None:
        """Answer the ClientHello that offered DTLS 1.3 (RFC 8446 §4.1.1), which may answer
        our stateless HelloRetryRequest (``start.retry``: what its cookie carried)."""
        assert isinstance(start, ServerStart13)
        hello, body, seq = start.hello, start.body, start.seq
        self.host.expect_message_seq(seq + 1)
        self._client_hello = hello
        self._client_random = hello.random
        retry = start.retry
        if retry is not None:
            # ClientHello2 after our stateless HelloRetryRequest: rebuild what the cookie
            # carries (RFC 8446 §4.4.1: message_hash(ClientHello1), then the retry itself)
            cookie, suite, group, hello1_hash = retry
            self._hrr_done = True
            self.suite = suite
            self._schedule = KeySchedule(suite)
            self._cookie = cookie
            self._transcript = bytearray(message_hash_of(hello1_hash))
            self._add_transcript(
                HandshakeType.SERVER_HELLO, retry_request(hello.session_id, suite, group, cookie)
            )
        self._server_hello_or_retry(hello, body, seq, now)

    @handles(State13.SERVER_WAIT_CLIENT_HELLO, HandshakeType.CLIENT_HELLO)
    def _server_second_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ClientHello.decode(body)
        self._client_hello = hello
        self._server_hello_or_retry(hello, body, seq, now)

    def _server_hello_or_retry(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        ctx = self.ctx
        suite, chosen, group = select13(hello, ctx.suites13, ctx.groups13)
        if self.suite is not None and suite.code != self.suite.code:
            raise DtlsHandshakeError(
                "second ClientHello changed the cipher suite", AlertDescription.ILLEGAL_PARAMETER
            )
        cookie_data = hello.extension(EXT_COOKIE)
        cookie_ok = not ctx.use_cookie or (
            cookie_data is not None
            and hmac.compare_digest(decode_cookie(cookie_data), self._cookie)
        )
        if chosen is None or not cookie_ok:
            if self._hrr_done:
                raise DtlsHandshakeError(
                    "second ClientHello still unusable", AlertDescription.ILLEGAL_PARAMETER
                )
            self._send_retry(hello, body, suite, group=group if chosen is None else None, now=now)
            return
        sig_data = hello.required_extension(ExtensionType.SIGNATURE_ALGORITHMS)
        client_schemes = decode_u16_list(sig_data)
        if self._schedule is None:  # no HelloRetryRequest: the transcript starts here
            self.suite = suite
            self._schedule = KeySchedule(suite)
        self._add_transcript(HandshakeType.CLIENT_HELLO, body)
        server_share, shared = server_key_exchange(chosen.group, chosen.key_exchange, ctx.rng)

        extensions: list[tuple[int, bytes]] = [
            (ExtensionType.SUPPORTED_VERSIONS, DTLS1_3_VERSION.to_bytes(2, "big")),
            (
                ExtensionType.KEY_SHARE,
                encode_server_key_share(KeyShareEntry(chosen.group, server_share)),
            ),
        ]
        server_hello = ServerHello(
            DTLS1_2_VERSION, ctx.rng.randbytes(32), hello.session_id, suite.code, 0, extensions
        )
        items = [self._item(HandshakeType.SERVER_HELLO, server_hello.encode(), 0)]
        assert self._schedule is not None
        self._schedule.set_shared_secret(shared, self._hash())
        self._install_handshake_keys()

        ee: list[tuple[int, bytes]] = []
        srtp_data = hello.extension(ExtensionType.USE_SRTP)
        if srtp_data is not None and ctx.srtp_profiles:
            offered, _mki = decode_use_srtp(srtp_data)
            # RFC 5764 §4.1.1 (unchanged in 1.3, carried in EncryptedExtensions)
            profile = next((p for p in ctx.srtp_profiles if p in offered), None)
            if profile is not None:
                self.srtp_profile = profile
                ee.append((ExtensionType.USE_SRTP, encode_use_srtp([int(profile)])))
        items.append(self._item(ENCRYPTED_EXTENSIONS, EncryptedExtensions(ee).encode(), 2))
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
        items.append(self._item(HandshakeType.CERTIFICATE_REQUEST, request.encode(), 2))
        cert = Certificate13(b"", (ctx.certificate.der,)).encode()
        items.append(self._item(HandshakeType.CERTIFICATE, cert, 2))
        items.append(
            self._item(
                HandshakeType.CERTIFICATE_VERIFY, self._certificate_verify_body(client_schemes), 2
            )
        )
        items.append(self._item(HandshakeType.FINISHED, self._finished_body(False), 2))
        self._schedule.set_server_finished(self._hash())
        self._install_application_keys()
        self.host.send_flight(items, now, needs_ack=False, trigger=(seq, seq + 1))
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
        self.suite = suite
        self._schedule = KeySchedule(suite)
        self._transcript = bytearray(
            message_hash(suite.hash_name, bytes([1]) + len(body).to_bytes(3, "big") + body)
        )
        self._cookie = hmac.digest(
            self.ctx.cookie_secret,
            repr(self.ctx.remote_address).encode() + hello.random,
            "sha256",
        )
        retry = retry_request(hello.session_id, suite, group, self._cookie)
        # RFC 9147 §5.8.1: a HelloRetryRequest has no timer; a repeated ClientHello1 re-sends it
        self.host.send_retry_request(self._item(HandshakeType.SERVER_HELLO, retry, 0))
        self.state = State13.SERVER_WAIT_CLIENT_HELLO

    @handles(State13.SERVER_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE)
    def _server_certificate(self, seq: int, body: bytes, now: float) -> None:
        self.host.drop_flight()  # RFC 9147 §5.8: the client's flight acknowledges ours
        self._peer_certificate_message(seq, body, now)

    @handles(State13.SERVER_WAIT_FINISHED, HandshakeType.FINISHED)
    def _server_finished(self, seq: int, body: bytes, now: float) -> None:
        self._peer_finished(body)
        self.host.use_write_epoch(3)
        self.host.ack_final_flight()  # RFC 9147 §7: the client's final flight is ACKed
        self._done(now)
