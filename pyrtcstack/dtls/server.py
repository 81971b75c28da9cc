"""The server role of the DTLS 1.2 handshake (RFC 6347 §4.2, RFC 5246 §7.4): the optional
HelloVerifyRequest, flights 4 and 6, and the checks on the client's flight 5. A
:class:`~.engine12.Dtls12Engine` whose role is server owns one :class:`ServerHandshake`."""

from __future__ import annotations

import hashlib
import hmac

from .certificate import VERIFY_SCHEMES, verify_signature
from .constants import (
    CLIENT_CERT_TYPE_ECDSA_SIGN,
    CLIENT_CERT_TYPE_RSA_SIGN,
    DTLS1_0_VERSION,
    DTLS1_2_VERSION,
    AlertDescription,
    DtlsVersion,
    HandshakeType,
)
from .cookies import hello_verify_cookie, make_retry_cookie, open_retry_cookie, retry_request
from .errors import DtlsDecodeError, DtlsHandshakeError
from .flights import FlightItem
from .handlers import handles
from .handshake import Handshake12, State
from .handshake13 import Retry13, ServerStart13
from .keyexchange import EcdheKey
from .messages import (
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    HelloVerifyRequest,
    ServerHello,
    ServerKeyExchange,
)
from .messages13 import (
    DOWNGRADE_TLS12,
    EXT_COOKIE,
    decode_cookie,
)
from .negotiation import choose_server_parameters, select13, select_version
from .suites import SUITES

__all__ = ["ServerHandshake"]


class ServerHandshake(Handshake12):
    """The server's handshake: what it sends, and a handler for each message it receives
    (:attr:`HANDLERS`)."""

    __slots__ = ()

    def start(self, now: float) -> None:
        """Wait for a ClientHello (RFC 6347 §4.2.1)."""
        self.state = State.SERVER_EXPECT_CLIENT_HELLO

    def _cookie_for(self, hello: ClientHello) -> bytes:
        """Our stateless cookie for ``hello`` (RFC 6347 §4.2.1, :mod:`.cookies`)."""
        return hello_verify_cookie(self.ctx.cookie_secret, self.ctx.remote_address, hello)

    def _open_retry13(self, hello: ClientHello) -> Retry13 | None:
        """What a valid cookie of our stateless HelloRetryRequest in ``hello`` carries (RFC
        8446 §4.2.2), for the 1.3 engine; None without one."""
        cookie_data = hello.extension(EXT_COOKIE)
        if cookie_data is None:
            return None
        try:
            cookie = decode_cookie(cookie_data)
        except DtlsDecodeError:
            cookie = b""
        opened = open_retry_cookie(self.ctx.cookie_secret, self.ctx.remote_address, cookie)
        return None if opened is None else (cookie, *opened)

    def _retry13_statelessly(self, hello: ClientHello, body: bytes) -> None:
        """DTLS 1.3 with ``use_cookie``: a ClientHello without a valid cookie of ours gets a
        HelloRetryRequest and we keep no state (RFC 9147 §5.1, the 1.3 HelloVerifyRequest;
        RFC 8446 §4.2.2)."""
        suite, share, group = select13(hello, self.ctx.suites13, self.ctx.groups13)
        hello1 = bytes([HandshakeType.CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body
        hello1_hash = hashlib.new(suite.hash_name, hello1).digest()
        ask = None if share is not None else group
        cookie = make_retry_cookie(
            self.ctx.cookie_secret, self.ctx.remote_address, suite, ask, hello1_hash
        )
        retry = retry_request(hello.session_id, suite, ask, cookie)
        # the server's first message (message_seq 0); record sequence of the ClientHello, as
        # a stateless HelloVerifyRequest does (RFC 6347 §4.2.1)
        self.host.send_stateless(HandshakeType.SERVER_HELLO, 0, retry, DTLS1_2_VERSION)

    @handles(State.SERVER_EXPECT_CLIENT_HELLO, HandshakeType.CLIENT_HELLO)
    def _server_client_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ClientHello.decode(body)
        if select_version(hello, self.ctx.versions) is DtlsVersion.DTLS_1_3:
            retry = None
            if self.ctx.use_cookie:
                retry = self._open_retry13(hello)
                if retry is None:
                    self._retry13_statelessly(hello, body)
                    return
            # RFC 9147 §5.3: the 1.3 engine answers
            self.host.hand_over13(ServerStart13(hello, body, seq, retry), now)
            return
        if self.ctx.use_cookie and not hmac.compare_digest(hello.cookie, self._cookie_for(hello)):
            # Stateless reply: same message_seq and record sequence number as the ClientHello.
            hvr = HelloVerifyRequest(DTLS1_0_VERSION, self._cookie_for(hello)).encode()
            self.host.send_stateless(HandshakeType.HELLO_VERIFY_REQUEST, seq, hvr, DTLS1_0_VERSION)
            return
        choice = choose_server_parameters(
            hello,
            self.ctx.cipher_suites,
            self.ctx.groups,
            self.ctx.srtp_profiles,
            self.ctx.certificate.is_ecdsa,
        )
        self.host.expect_message_seq(seq + 1)
        self._send_seq = seq  # RFC 6347 §4.2.2: the ServerHello reuses the hello's seq
        self._client_hello = hello
        self._client_random = hello.random
        self._server_random = self.ctx.rng.randbytes(32)
        if DtlsVersion.DTLS_1_3 in self.ctx.versions:
            # RFC 8446 §4.1.3: a 1.3-capable server that negotiates 1.2 says so in the random
            self._server_random = self._server_random[:24] + DOWNGRADE_TLS12
        self.suite = SUITES[choice.suite]
        self.srtp_profile = choice.srtp_profile
        self._transcript = bytearray()
        self._add_transcript(HandshakeType.CLIENT_HELLO, seq, body)

        server_hello = ServerHello(
            DTLS1_2_VERSION, self._server_random, b"", int(choice.suite), 0, choice.extensions
        )
        items = [self._next_item(HandshakeType.SERVER_HELLO, server_hello.encode())]
        cert = Certificate((self.ctx.certificate.der,)).encode()
        items.append(self._next_item(HandshakeType.CERTIFICATE, cert))
        self._ecdhe = EcdheKey(choice.group, self.ctx.rng)
        scheme = self.ctx.certificate.choose_scheme(choice.signature_schemes)
        params = ServerKeyExchange(choice.group, self._ecdhe.public_bytes, 0, b"").params()
        signature = self.ctx.certificate.sign(
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
        self.host.send_flight(items, now, trigger=seq, expect_reply=True)
        self.state = State.SERVER_EXPECT_CERTIFICATE

    @handles(State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE, HandshakeType.CLIENT_KEY_EXCHANGE)
    def _server_client_key_exchange(self, seq: int, body: bytes, now: float) -> None:
        cke = ClientKeyExchange.decode(body)
        assert self._ecdhe is not None
        self._pre_master = self._ecdhe.exchange(cke.public_key)
        self._add_transcript(HandshakeType.CLIENT_KEY_EXCHANGE, seq, body)
        self._derive_keys()
        self.state = State.SERVER_EXPECT_CERTIFICATE_VERIFY

    @handles(State.SERVER_EXPECT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY)
    def _server_certificate_verify(self, seq: int, body: bytes, now: float) -> None:
        cv = CertificateVerify.decode(body)
        assert self._peer_key is not None
        if cv.signature_scheme not in VERIFY_SCHEMES:
            raise DtlsHandshakeError(
                "CertificateVerify uses a scheme we did not request",
                AlertDescription.ILLEGAL_PARAMETER,
            )
        verify_signature(self._peer_key, cv.signature_scheme, cv.signature, bytes(self._transcript))
        self._add_transcript(HandshakeType.CERTIFICATE_VERIFY, seq, body)
        self.state = State.SERVER_EXPECT_FINISHED

    @handles(State.SERVER_EXPECT_FINISHED, HandshakeType.FINISHED)
    def _server_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=True)
        self._add_transcript(HandshakeType.FINISHED, seq, body)
        items = [
            FlightItem(0, -1),  # ChangeCipherSpec: we write epoch 1 from here
            self._next_item(HandshakeType.FINISHED, self._finished_body(False), epoch=1),
        ]
        # Flight 6 is kept (no timer) and resent whenever flight 5 shows up again.
        self.host.send_flight(items, now, trigger=self._peer_flight_start, expect_reply=False)
        self._finished(now, keep_flight=True)
