"""The server half of the DTLS 1.3 handshake (RFC 8446 §4, RFC 9147 §5): the ClientHello that
selected 1.3, HelloRetryRequest, the server flight, and the checks on the client's final
flight."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from .constants import (
    DTLS1_2_VERSION,
    DTLS1_3_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
)
from .cookies import retry_request
from .errors import DtlsError, DtlsHandshakeError
from .handshake13 import (
    VERIFY_SCHEMES13,
    Handshake13,
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

if TYPE_CHECKING:
    pass

__all__ = ["ServerHandshake13"]


class ServerHandshake13(Handshake13):
    """Handlers for what a DTLS 1.3 server receives."""

    def start_server(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        """Answer the ClientHello that offered DTLS 1.3 (RFC 8446 §4.1.1)."""
        self._reassembler.reset(seq + 1)
        self._client_hello = hello
        self._client_random = hello.random
        retry = self._retry
        if retry is not None:
            # ClientHello2 after our stateless HelloRetryRequest: rebuild what the cookie
            # carries (RFC 8446 §4.4.1: message_hash(ClientHello1), then the retry itself)
            cookie, suite, group, hello1_hash = retry
            self._hrr_done = True
            self._suite = suite
            self._schedule = KeySchedule(suite)
            self._cookie = cookie
            self._transcript = bytearray(message_hash_of(hello1_hash))
            self._add_transcript(
                HandshakeType.SERVER_HELLO, retry_request(hello.session_id, suite, group, cookie)
            )
            self._send_seq = 1  # the retry was our message 0
        try:
            self._server_hello_or_retry(hello, body, seq, now)
        except DtlsError as exc:
            self._fail(exc)

    def _server_second_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ClientHello.decode(body)
        self._client_hello = hello
        self._server_hello_or_retry(hello, body, seq, now)

    def _server_hello_or_retry(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        ctx = self.ctx
        suite, chosen, group = select13(hello, ctx.suites13, ctx.groups13)
        if self._suite is not None and suite.code != self._suite.code:
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
            self._suite = suite
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
        items = [self._make_item(HandshakeType.SERVER_HELLO, server_hello.encode(), 0)]
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
        cert = Certificate13(b"", (ctx.certificate.der,)).encode()
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
            message_hash(suite.hash_name, bytes([1]) + len(body).to_bytes(3, "big") + body)
        )
        self._cookie = hmac.digest(
            self.ctx.cookie_secret,
            repr(self.ctx.remote_address).encode() + hello.random,
            "sha256",
        )
        retry = retry_request(hello.session_id, suite, group, self._cookie)
        item = self._make_item(HandshakeType.SERVER_HELLO, retry, 0)
        # RFC 9147 §5.8.1: a HelloRetryRequest has no timer; a repeated ClientHello1 re-sends it
        self._flight = [item]
        self._transmit_flight()
        self._timer.stop()
        self._trigger = (0, self._reassembler.next_seq)
        self.state = State13.SERVER_WAIT_CLIENT_HELLO

    def _server_certificate(self, seq: int, body: bytes, now: float) -> None:
        self._flight = []  # RFC 9147 §5.8: the client's flight acknowledges ours
        self._timer.stop()
        self._peer_certificate_message(seq, body, now)

    def _server_finished(self, seq: int, body: bytes, now: float) -> None:
        self._peer_finished(body)
        self._write_epoch = 3
        self._send_ack()  # RFC 9147 §7: the client's final flight is ACKed
        self._send_ack_on_old = True
        self._handshake_done()
