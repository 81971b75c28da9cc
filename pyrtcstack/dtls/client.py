"""The client role of the DTLS 1.2 handshake (RFC 6347 §4.2, RFC 5246 §7.4): flights 1, 3
and 5, and the checks on the server's flight 4 and 6. A
:class:`~.engine12.Dtls12Engine` whose role is client owns one :class:`ClientHandshake`."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from .certificate import verify_signature
from .constants import (
    DTLS1_2_VERSION,
    DTLS1_3_VERSION,
    AlertDescription,
    DtlsVersion,
    ExtensionType,
    HandshakeType,
    NamedGroup,
)
from .engine import DtlsContext
from .errors import DtlsHandshakeError, DtlsUsageError
from .flights import FlightItem
from .handlers import handles
from .handshake import Handshake12, Host12, State
from .handshake13 import ClientStart13
from .kex13 import ClientShare, client_shares
from .keyexchange import EcdheKey
from .messages import (
    MAX_COOKIE_LENGTH,
    Certificate,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    Extensions,
    HelloVerifyRequest,
    ServerHello,
    ServerHelloDone,
    ServerKeyExchange,
    encode_u16_list,
)
from .messages13 import (
    KeyShareEntry,
    encode_client_key_shares,
    encode_supported_versions_client,
)
from .negotiation import build_client_extensions, check_server_hello, selected_version
from .suites import SUITES

__all__ = ["ClientHandshake"]

#: HelloVerifyRequests a client follows before giving up (RFC 6347 §4.2.1 allows a repeat).
MAX_HELLO_VERIFY_REQUESTS = 4


class ClientHandshake(Handshake12):
    """The client's handshake: what it sends, and a handler for each message it receives
    (:attr:`HANDLERS`)."""

    __slots__ = (
        "_certificate_requested",
        "_hello_verify_count",
        "_peer_signature_schemes",
        "_shares13",
    )

    is_client = True

    def __init__(self, ctx: DtlsContext, host: Host12) -> None:
        super().__init__(ctx, host)
        self._hello_verify_count = 0
        self._certificate_requested = False
        self._peer_signature_schemes: list[int] | None = None
        #: our DTLS 1.3 key shares, the same in a repeated (cookie) hello
        self._shares13: dict[int, ClientShare] = {}

    def start(self, now: float) -> None:
        """Flight 1: the ClientHello (RFC 6347 §4.2.1)."""
        if self.ctx.remote_address is None:
            raise DtlsUsageError("a client needs remote_address before start()")
        self._client_random = self.ctx.rng.randbytes(32)
        self._send_client_hello(now, cookie=b"", trigger=None)
        self.state = State.CLIENT_EXPECT_SERVER_HELLO

    def _send_client_hello(self, now: float, cookie: bytes, trigger: int | None) -> None:
        suites = tuple(int(s) for s in self.ctx.cipher_suites)
        extensions = build_client_extensions(self.ctx.groups, self.ctx.srtp_profiles)
        if DtlsVersion.DTLS_1_3 in self.ctx.versions:
            suites, extensions = self._offer_dtls13(suites, extensions)
        elif DtlsVersion.DTLS_1_2 not in self.ctx.versions:
            raise DtlsUsageError("no DTLS version to offer")
        hello = ClientHello(
            client_version=DTLS1_2_VERSION,
            random=self._client_random,
            session_id=b"",
            cookie=cookie,
            cipher_suites=suites,
            extensions=extensions,
        )
        self._client_hello = hello
        # RFC 6347 §4.2.6: the transcript restarts with the ClientHello that carries the cookie.
        self._transcript = bytearray()
        item = self._next_item(HandshakeType.CLIENT_HELLO, hello.encode())
        self.host.send_flight([item], now, trigger=trigger, expect_reply=True)

    def _offer_dtls13(
        self, suites: tuple[int, ...], extensions: Extensions
    ) -> tuple[tuple[int, ...], Extensions]:
        """Add what a DTLS 1.3 ClientHello needs (RFC 8446 §4.1.2, §9.2; RFC 9147 §5.3):
        the TLS 1.3 suites, supported_versions, key shares, and every 1.3 group; the 1.2
        offer stays in the same hello for a 1.2-only server."""
        only13 = DtlsVersion.DTLS_1_2 not in self.ctx.versions
        suites13 = self.ctx.suites13
        suites = suites13 if only13 else suites13 + suites
        versions = [DTLS1_3_VERSION] if only13 else [DTLS1_3_VERSION, DTLS1_2_VERSION]
        if not self._shares13:  # the same shares in a repeated (cookie) hello
            self._shares13 = client_shares(self.ctx.key_shares, self.ctx.rng)
        shares = [KeyShareEntry(g, s.public_bytes) for g, s in self._shares13.items()]
        groups = list(self.ctx.groups13) + [
            int(g) for g in self.ctx.groups if g not in self.ctx.groups13
        ]
        out: Extensions = [
            (t, encode_u16_list(groups) if t == ExtensionType.SUPPORTED_GROUPS else d)
            for t, d in extensions
        ]
        out.append((ExtensionType.SUPPORTED_VERSIONS, encode_supported_versions_client(versions)))
        out.append((ExtensionType.KEY_SHARE, encode_client_key_shares(shares)))
        return suites, out

    @handles(State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.HELLO_VERIFY_REQUEST)
    def _client_hello_verify(self, seq: int, body: bytes, now: float) -> None:
        hvr = HelloVerifyRequest.decode(body)
        if len(hvr.cookie) > MAX_COOKIE_LENGTH or self._hello_verify_count >= (
            MAX_HELLO_VERIFY_REQUESTS
        ):
            raise DtlsHandshakeError(
                "too many HelloVerifyRequests", AlertDescription.ILLEGAL_PARAMETER
            )
        self._hello_verify_count += 1
        self._send_client_hello(now, hvr.cookie, trigger=seq)

    @handles(State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.SERVER_HELLO)
    def _client_server_hello(self, seq: int, body: bytes, now: float) -> None:
        hello = ServerHello.decode(body)
        assert self._client_hello is not None
        if selected_version(hello, self.ctx.versions) is DtlsVersion.DTLS_1_3:
            start = ClientStart13(hello, seq, body, self._client_hello, self._shares13)
            self.host.hand_over13(start, now)
            return
        view = check_server_hello(hello, self._client_hello.cipher_suites, self.ctx.srtp_profiles)
        self.suite = SUITES[view.suite]
        self.srtp_profile = view.srtp_profile
        self._server_random = hello.random
        self._peer_flight_start = seq
        self._add_transcript(HandshakeType.SERVER_HELLO, seq, body)
        self.state = State.CLIENT_EXPECT_CERTIFICATE

    @handles(State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE, HandshakeType.SERVER_KEY_EXCHANGE)
    def _client_server_key_exchange(self, seq: int, body: bytes, now: float) -> None:
        ske = ServerKeyExchange.decode(body)
        assert self._peer_key is not None and self.suite is not None
        if ske.named_curve not in self.ctx.groups:
            raise DtlsHandshakeError(
                "server chose a group we did not offer", AlertDescription.ILLEGAL_PARAMETER
            )
        key_is_ec = isinstance(self._peer_key, ec.EllipticCurvePublicKey)
        if key_is_ec != self.suite.ecdsa:  # RFC 8422 §5.3: ECDHE_ECDSA needs an ECDSA cert
            raise DtlsHandshakeError(
                "server certificate does not fit the cipher suite",
                AlertDescription.UNSUPPORTED_CERTIFICATE,
            )
        signed = self._client_random + self._server_random + ske.params()
        verify_signature(self._peer_key, ske.signature_scheme, ske.signature, signed)
        self._ecdhe = EcdheKey(NamedGroup(ske.named_curve), self.ctx.rng)
        self._pre_master = self._ecdhe.exchange(ske.public_key)
        self._add_transcript(HandshakeType.SERVER_KEY_EXCHANGE, seq, body)
        self.state = State.CLIENT_EXPECT_SERVER_HELLO_DONE

    @handles(State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.CERTIFICATE_REQUEST)
    def _client_certificate_request(self, seq: int, body: bytes, now: float) -> None:
        if self._certificate_requested:
            raise DtlsHandshakeError(
                "second CertificateRequest", AlertDescription.UNEXPECTED_MESSAGE
            )
        request = CertificateRequest.decode(body)
        self._certificate_requested = True
        self._peer_signature_schemes = list(request.signature_schemes)
        self._add_transcript(HandshakeType.CERTIFICATE_REQUEST, seq, body)

    @handles(State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.SERVER_HELLO_DONE)
    def _client_server_hello_done(self, seq: int, body: bytes, now: float) -> None:
        ServerHelloDone.decode(body)
        self._add_transcript(HandshakeType.SERVER_HELLO_DONE, seq, body)
        assert self._ecdhe is not None
        items: list[FlightItem] = []
        if self._certificate_requested:
            cert = Certificate((self.ctx.certificate.der,)).encode()
            items.append(self._next_item(HandshakeType.CERTIFICATE, cert))
        cke = ClientKeyExchange(self._ecdhe.public_bytes).encode()
        items.append(self._next_item(HandshakeType.CLIENT_KEY_EXCHANGE, cke))
        self._derive_keys()
        if self._certificate_requested:
            scheme = self.ctx.certificate.choose_scheme(self._peer_signature_schemes)
            signature = self.ctx.certificate.sign(scheme, bytes(self._transcript))
            cv = CertificateVerify(scheme, signature).encode()
            items.append(self._next_item(HandshakeType.CERTIFICATE_VERIFY, cv))
        items.append(FlightItem(0, -1))  # ChangeCipherSpec: we write epoch 1 from here
        items.append(self._next_item(HandshakeType.FINISHED, self._finished_body(True), epoch=1))
        self.host.send_flight(items, now, trigger=self._peer_flight_start, expect_reply=True)
        self.state = State.CLIENT_EXPECT_FINISHED

    @handles(State.CLIENT_EXPECT_FINISHED, HandshakeType.FINISHED)
    def _client_finished(self, seq: int, body: bytes, now: float) -> None:
        self._check_finished(body, from_client=False)
        self._add_transcript(HandshakeType.FINISHED, seq, body)
        self._finished(now, keep_flight=False)  # flight 6 acknowledges our flight 5
