"""The DTLS 1.2 connection: a sans-I/O state machine for both roles (RFC 6347 §4.2).

The full handshake, as WebRTC runs it (mutual authentication, ECDHE, no resumption)::

    client                                              server
    ClientHello                         -------->                       flight 1
                                        <--------   HelloVerifyRequest  flight 2 (optional)
    ClientHello (with cookie)           -------->                       flight 3
                                                           ServerHello
                                                           Certificate
                                                     ServerKeyExchange
                                                    CertificateRequest
                                        <--------      ServerHelloDone  flight 4
    Certificate, ClientKeyExchange, CertificateVerify,
    [ChangeCipherSpec], Finished        -------->                       flight 5
                                        <--------   [ChangeCipherSpec]  flight 6
                                                              Finished
    application data                    <------->     application data

The connection follows the core contract of :mod:`pyrtcstack.common.core`. It is bound to no
address of its own: the driver passes every datagram with the address it came from, and the
connection sends to :attr:`DtlsConnection.remote_address` (set by the constructor, by
:meth:`~DtlsConnection.set_remote_address`, e.g. when ICE selects another pair, or learned from
the first datagram if still unset).

With DTLS 1.3 allowed (``versions``), a hello that selects 1.3 hands the handshake and the
records to :class:`~pyrtcstack.dtls.dtls13.Dtls13Engine` (RFC 9147); the public API and the
events stay the same. Which handler takes which 1.2 message is :mod:`.handlers`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Final

from cryptography import x509

from ..common.core import Address, Event, default_rng
from . import datapath
from .certificate import DtlsCertificate, Fingerprint
from .client import ClientHandshake
from .constants import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    CipherSuite13,
    ContentType,
    DtlsVersion,
    HandshakeType,
    NamedGroup,
)
from .dtls13 import Dtls13Engine
from .errors import (
    DtlsDecodeError,
    DtlsError,
    DtlsHandshakeError,
    DtlsTimeoutError,
    DtlsUsageError,
    PeerAlertError,
)
from .events import Closed, Failed
from .flights import INITIAL_TIMEOUT, MAX_RETRANSMISSIONS, MAX_TIMEOUT, Flight, RetransmitTimer
from .fragments import Reassembler, parse_fragments
from .handlers import HANDLERS, type_name
from .handshake import DtlsRole, DtlsStats
from .handshake import State as _State
from .kex13 import DEFAULT_GROUPS13, X25519MLKEM768, ClientShare
from .keyexchange import SUPPORTED_GROUPS, EcdheKey
from .keylog import KeyLogCallback
from .keyschedule import TLS13_SUITES, Suite13
from .messages import ClientHello, ServerHello
from .negotiation import DEFAULT_CIPHER_SUITES
from .prf import export_keying_material
from .record import (
    HEADER_LENGTH,
    MAX_PLAINTEXT,
    EpochState,
    Record,
    pack_datagrams,
    parse_records,
)
from .server import ServerHandshake
from .srtp import (
    DEFAULT_SRTP_PROFILES,
    SRTP_EXPORTER_LABEL,
    SrtpKeys,
    SrtpProfile,
    split_keying_material,
)
from .suites import SuiteInfo

__all__ = ["DEFAULT_MTU", "DEFAULT_VERSIONS", "DtlsConnection", "DtlsRole", "DtlsStats"]

#: The versions a connection negotiates unless told otherwise. DTLS 1.3 is opt-in
#: (``versions=(DtlsVersion.DTLS_1_3, DtlsVersion.DTLS_1_2)``) until the whole browser
#: interop matrix has passed with it on (docs/dtls.md, "DTLS 1.3").
DEFAULT_VERSIONS: tuple[DtlsVersion, ...] = (DtlsVersion.DTLS_1_2,)
#: Groups a DTLS 1.3 client sends key shares for: the post-quantum hybrid and x25519, as
#: Chrome and Firefox do (a ~1.4 KB ClientHello in two datagrams). Offering ML-KEM in
#: supported_groups without a share made Chromium answer with a HelloRetryRequest for it.
DEFAULT_KEY_SHARES: tuple[int, ...] = (X25519MLKEM768, int(NamedGroup.X25519))

#: Default largest datagram we send (WebRTC's usual DTLS MTU, CHECKLISTS §0).
DEFAULT_MTU: Final = 1200
#: Datagrams kept while the connection is not started (early ClientHellos; Chrome keeps 4
#: ClientHellos, a browser ClientHello takes two datagrams).
MAX_EARLY_DATAGRAMS: Final = 8
#: Records of a future epoch kept until its keys exist (a Finished that overtook its CCS).
MAX_FUTURE_RECORDS: Final = 16
#: Application data records kept between "keys ready" and "handshake verified".
MAX_PENDING_APPLICATION_RECORDS: Final = 64
#: Bytes of received plaintext kept for :meth:`DtlsConnection.take_application_data`: a
#: burst of 64 full records (16 KiB each, RFC 6347 §4.1.1), what one read of a batching
#: driver can bring. A consumer that never takes loses the rest (counted), not memory.
MAX_PENDING_PLAINTEXT: Final = 64 * 16384
#: A peer's repeated flight makes us resend ours at most once per this fraction of the
#: initial retransmission timeout.
ECHO_GUARD: Final = 0.25
#: Exporter labels RFC 5705 §4 reserves for TLS itself.
_RESERVED_LABELS = frozenset(
    {
        b"client finished",
        b"server finished",
        b"master secret",
        b"key expansion",
        b"extended master secret",
    }
)


class DtlsConnection(ClientHandshake, ServerHandshake):
    """One DTLS 1.2 association, client or server (see the module docstring).

    Arguments:
        role: ``DtlsRole.CLIENT``/``SERVER``, or None while the role is unknown (an early
            ClientHello is then buffered until :meth:`start`).
        certificate: our identity; a fresh ECDSA P-256 certificate is generated if omitted.
        remote_fingerprints: the ``a=fingerprint`` values from the peer's SDP; settable later
            with :meth:`set_remote_fingerprints`. The handshake runs meanwhile, but neither
            :class:`HandshakeCompleted` nor application data is released until one matches.
        verify_fingerprint: False accepts any peer certificate (tests, the CLI without
            ``--fingerprint``); the peer must still prove possession of its key.
        srtp_profiles: use_srtp profiles in our preference order (empty: no DTLS-SRTP).
        cipher_suites, groups: what we offer (client) or accept (server), best first.
        mtu: largest datagram we send.
        remote_address: where our datagrams go (see the module docstring).
        rng: the randomness source (seed it in tests; default: the OS CSPRNG).
        use_cookie: as a server, demand a HelloVerifyRequest round trip (RFC 6347 §4.2.1).
        initial_timeout, max_timeout, max_retransmissions: the flight timer (``flights.py``).
        keylog: called with an NSS ``CLIENT_RANDOM`` line when the master secret exists.
        max_pending_plaintext: bytes of received plaintext kept until
            :meth:`take_application_data` takes them (:data:`MAX_PENDING_PLAINTEXT`); a record
            that would go beyond is dropped and counted (``stats.dropped_plaintext_overflow``).
        versions: which DTLS versions we speak (:data:`DEFAULT_VERSIONS`: 1.2 only). With
            DTLS 1.3 allowed, a server answers a ClientHello offering 0xFEFC with DTLS 1.3
            (:mod:`.dtls13`) and any other with 1.2 (marking ServerHello.random with the
            RFC 8446 §4.1.3 downgrade sentinel); a client offers both and follows the
            server's choice. With only 1.3, a 1.2-only peer fails with ``protocol_version``.
        groups13, key_shares, suites13: DTLS 1.3 key exchange groups accepted/offered, the
            ones a client sends a key share for up front, and the TLS 1.3 cipher suites.
    """

    __slots__ = ()

    def __init__(
        self,
        role: DtlsRole | None,
        *,
        certificate: DtlsCertificate | None = None,
        remote_fingerprints: Sequence[Fingerprint] | None = None,
        verify_fingerprint: bool = True,
        srtp_profiles: Sequence[SrtpProfile] = DEFAULT_SRTP_PROFILES,
        cipher_suites: Sequence[CipherSuite] = DEFAULT_CIPHER_SUITES,
        groups: Sequence[NamedGroup] = SUPPORTED_GROUPS,
        mtu: int = DEFAULT_MTU,
        remote_address: Address | None = None,
        rng: random.Random | None = None,
        use_cookie: bool = False,
        initial_timeout: float = INITIAL_TIMEOUT,
        max_timeout: float = MAX_TIMEOUT,
        max_retransmissions: int = MAX_RETRANSMISSIONS,
        keylog: KeyLogCallback | None = None,
        max_pending_plaintext: int = MAX_PENDING_PLAINTEXT,
        versions: Sequence[DtlsVersion | int] = DEFAULT_VERSIONS,
        groups13: Sequence[int] = DEFAULT_GROUPS13,
        key_shares: Sequence[int] = DEFAULT_KEY_SHARES,
        suites13: Sequence[int] = tuple(TLS13_SUITES),
    ) -> None:
        self.versions = tuple(DtlsVersion(v) for v in versions)
        if not self.versions:
            raise DtlsUsageError("versions must allow DTLS 1.2 or 1.3")
        #: Groups accepted (server) or offered (client) in DTLS 1.3, best first.
        self.groups13 = tuple(int(g) for g in groups13)
        if not self.groups13 or not set(self.groups13) <= set(DEFAULT_GROUPS13):
            raise DtlsUsageError(f"groups13 must be among {DEFAULT_GROUPS13}")
        #: Groups a 1.3 client sends key shares for.
        self.key_shares = tuple(int(g) for g in key_shares if int(g) in self.groups13)
        #: TLS 1.3 cipher suites offered/accepted with DTLS 1.3, best first.
        self.suites13 = tuple(int(c) for c in suites13 if int(c) in TLS13_SUITES)
        self._engine13: Dtls13Engine | None = None
        self._shares13: dict[int, ClientShare] = {}
        #: what our stateless HelloRetryRequest cookie carried (see server.py)
        self._retry13: tuple[bytes, Suite13, int | None, bytes] | None = None
        if mtu < 256:
            raise DtlsUsageError("MTU below 256 bytes cannot carry a DTLS handshake")
        self.role = role
        self._rng = default_rng(rng)
        self.certificate = certificate or DtlsCertificate.generate(self._rng)
        self._remote_fingerprints: list[Fingerprint] | None = (
            list(remote_fingerprints) if remote_fingerprints is not None else None
        )
        self._verify_fingerprint = verify_fingerprint
        self.srtp_profiles = tuple(SrtpProfile(p) for p in srtp_profiles)
        self.cipher_suites = tuple(CipherSuite(s) for s in cipher_suites)
        self.groups = tuple(NamedGroup(g) for g in groups)
        self.mtu = mtu
        self.remote_address = remote_address
        self.use_cookie = use_cookie
        self.keylog = keylog
        #: See the constructor argument of the same name (settable).
        self.max_pending_plaintext = max_pending_plaintext
        # received plaintext, in arrival order, until take_application_data()
        self._plaintext: list[bytes] = []
        self._plaintext_bytes = 0
        self.stats = DtlsStats()
        #: Why the connection failed (the error of the Failed event), else None.
        self.error: DtlsError | None = None

        self._state = _State.IDLE
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []  # datagrams ready to go
        self._app_records: list[bytes] = []  # protected records waiting to be packed
        # records before start(): a list, not a deque (appended, then taken whole; an
        # empty deque is 0.74 KiB and a connection keeps this one for its life)
        self._early: list[tuple[bytes, Address]] = []
        self._future_records: list[Record] = []
        self._pending_app: list[bytes] = []
        self._timer = RetransmitTimer(initial_timeout, max_timeout, max_retransmissions)
        self._last_echo_at = -1e9  # when we last resent a flight because the peer resent its

        # record layer: read and write state per epoch
        self._read: dict[int, EpochState] = {0: EpochState(0, None)}
        self._write: dict[int, EpochState] = {0: EpochState(0, None)}
        self._write_epoch = 0

        # handshake layer
        self._reassembler = Reassembler()
        self._send_seq = 0
        self._transcript = bytearray()
        self._flight: Flight | None = None
        self._flight_clean = True
        # message_seq range of the peer flight our current flight answers
        self._retransmit_trigger: int | None = None
        self._retransmit_trigger_end = 0
        self._peer_flight_start = 0  # first message_seq of the peer's latest flight
        self._last_record_seq = 0
        self._cookie_secret = self._rng.randbytes(32)
        self._hello_verify_count = 0

        # negotiated parameters
        self._client_random = b""
        self._server_random = b""
        self._client_hello: ClientHello | None = None
        self._suite: SuiteInfo | None = None
        self._srtp_profile: SrtpProfile | None = None
        self._ecdhe: EcdheKey | None = None
        self._pre_master = b""
        self._master = b""
        self._peer_certificate: x509.Certificate | None = None
        self._peer_certificate_der = b""
        self._peer_verified = False
        self._peer_signature_schemes: list[int] | None = None
        self._certificate_requested = False
        self._handshake_done = False
        self._completed_emitted = False
        self._close_sent = False
        # set once application data may flow, cleared when the connection ends
        self._fast_read: EpochState | None = None
        self._fast_write: EpochState | None = None

    # ---- public API --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        if self._engine13 is not None:
            return self._engine13.state_name
        return self._state.value

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        if self._engine13 is not None:
            return self._engine13.established and self._engine13._completed
        return self._completed_emitted and self._state == _State.ESTABLISHED

    @property
    def version(self) -> DtlsVersion | None:
        """The negotiated version, once known."""
        if self._engine13 is not None:
            return DtlsVersion.DTLS_1_3
        return DtlsVersion.DTLS_1_2 if self._suite is not None else None

    @property
    def cipher_suite(self) -> CipherSuite | CipherSuite13 | None:
        if self._engine13 is not None:
            suite = self._engine13._suite
            return CipherSuite13(suite.code) if suite is not None else None
        return self._suite.suite if self._suite is not None else None

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        if self._engine13 is not None:
            return self._engine13._srtp_profile
        return self._srtp_profile

    @property
    def local_fingerprint(self) -> Fingerprint:
        return self.certificate.fingerprint()

    @property
    def peer_certificate(self) -> bytes | None:
        if self._engine13 is not None:
            return self._engine13._peer_certificate_der or None
        return self._peer_certificate_der or None

    def set_remote_address(self, addr: Address) -> None:
        """Where to send from now on (the driver calls this when ICE switches pairs)."""
        self.remote_address = addr

    def set_remote_fingerprints(self, fingerprints: Sequence[Fingerprint], now: float) -> None:
        """Give the fingerprints from the remote description; checks a certificate already
        received and, if the handshake is done, releases HandshakeCompleted (or fails)."""
        self._remote_fingerprints = list(fingerprints)
        engine = self._engine13
        if engine is not None:
            if not engine._peer_verified and not engine.ended():
                try:
                    engine.check_peer_fingerprint()
                except DtlsError as exc:
                    engine._fail(exc)
                    return
                engine.maybe_complete()
            return
        if self._peer_certificate_der and not self._peer_verified:
            try:
                self._check_peer_fingerprint()
            except DtlsError as exc:
                self._fail(exc)
                return
        self._maybe_complete()

    def start(self, now: float, role: DtlsRole | None = None) -> None:
        """Begin: a client sends its ClientHello, a server starts answering (including any
        datagrams that arrived early)."""
        if role is not None:
            if self.role is not None and self.role != role:
                raise DtlsUsageError("role already set")
            self.role = role
        if self.role is None:
            raise DtlsUsageError("start() needs a role")
        if self._state != _State.IDLE:
            raise DtlsUsageError("already started")
        if self.role == DtlsRole.CLIENT:
            if self.remote_address is None:
                raise DtlsUsageError("a client needs remote_address before start()")
            self._client_random = self._rng.randbytes(32)
            self._send_client_hello(now, cookie=b"")
            self._state = _State.CLIENT_EXPECT_SERVER_HELLO
        else:
            self._state = _State.SERVER_EXPECT_CLIENT_HELLO
        early, self._early = self._early, []
        for data, addr in early:
            self.receive_datagram(data, addr, now)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one record of application data (at most 2^14 bytes, RFC 5246 §6.2.1)."""
        write = self._fast_write
        if write is None:
            if self._engine13 is not None:
                self._app_records.append(self._engine13.protect(data))
                return
            raise DtlsUsageError("DTLS connection is not established")
        if len(data) > MAX_PLAINTEXT:
            raise DtlsUsageError("application data record larger than 2^14 bytes")
        self._app_records.append(write.protect(23, bytes(data)))  # 23: application_data
        self.stats.records_sent += 1

    def protect(self, data: bytes | bytearray | memoryview) -> bytes:
        """One application data record as bytes, without queueing (for drivers that batch)."""
        write = self._fast_write
        if write is None:
            if self._engine13 is not None:
                return self._engine13.protect(data)
            raise DtlsUsageError("DTLS connection is not established")
        self.stats.records_sent += 1
        return write.protect(23, data)  # 23: application_data (RFC 5246 §6.2.1)

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """:meth:`protect` for each of ``packets``, in order: the same records (one per
        packet), sealed as one batch."""
        write = self._fast_write
        if write is None:
            if self._engine13 is not None:
                return self._engine13.protect_many(packets)
            raise DtlsUsageError("DTLS connection is not established")
        self.stats.records_sent += len(packets)
        return write.protect_many(23, packets)  # 23: application_data (RFC 5246 §6.2.1)

    def close(self, now: float) -> None:
        """Send close_notify (RFC 5246 §7.2.1) and end the connection."""
        if self._engine13 is not None:
            self._engine13.close()
            self._state = _State.CLOSED
            return
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        if self._state != _State.IDLE:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._close_sent = True
        self._enter_closed(by_peer=False)

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 exporter (after the handshake completed); with DTLS 1.3, the TLS 1.3
        exporter (RFC 8446 §7.5)."""
        if self._engine13 is not None:
            label_bytes13 = label.encode() if isinstance(label, str) else label
            if not self._engine13.established:
                raise DtlsUsageError("keying material is only available after the handshake")
            return self._engine13.export(label_bytes13, length, context)
        if not self._handshake_done or self._suite is None:
            raise DtlsUsageError("keying material is only available after the handshake")
        label_bytes = label.encode() if isinstance(label, str) else label
        if label_bytes in _RESERVED_LABELS:
            raise DtlsUsageError("this exporter label is reserved (RFC 5705 §4)")
        return export_keying_material(
            self._suite.hash_name,
            self._master,
            self._client_random,
            self._server_random,
            label=label_bytes,
            length=length,
            context=context,
        )

    def srtp_keys(self) -> SrtpKeys:
        """The SRTP master keys/salts for the negotiated profile (RFC 5764 §4.2), for
        ``SrtpSession.from_keys(keys, is_client=conn.role is DtlsRole.CLIENT)``."""
        profile = self.srtp_profile
        if profile is None:
            raise DtlsUsageError("no SRTP profile was negotiated")
        material = self.export_keying_material(SRTP_EXPORTER_LABEL, profile.exporter_length)
        return split_keying_material(material, profile)

    # ---- core contract -----------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """One datagram: :meth:`receive_datagrams` with a batch of one."""
        datapath.receive_datagrams(self, (data,), addr, now)

    def receive_datagrams(self, datagrams: Iterable[bytes], addr: Address, now: float) -> None:
        """The one input: ``datagrams`` that arrived together from ``addr``, in order. The
        plaintext of their application data records is kept, in arrival order, for
        :meth:`take_application_data`; everything else becomes events or output."""
        datapath.receive_datagrams(self, datagrams, addr, now)

    def take_application_data(self) -> list[bytes]:
        """The plaintext of every application data record received since the last call,
        in arrival order (one ``bytes`` per record: for SCTP over DTLS, one packet each,
        RFC 8261 §5). The one way received data leaves the connection. At most
        :attr:`max_pending_plaintext` bytes wait here; a driver that takes after every
        input never reaches it."""
        taken = self._plaintext
        if taken:
            self._plaintext = []
            self._plaintext_bytes = 0
        return taken

    def _deliver(self, payload: bytes) -> None:
        size = len(payload)
        if self._plaintext_bytes + size > self.max_pending_plaintext:
            self.stats.dropped_plaintext_overflow += 1
            return
        self._plaintext_bytes += size
        self._plaintext.append(payload)

    def _receive_general(self, data: bytes, addr: Address, now: float) -> None:
        """Every datagram the data path (:mod:`.datapath`) does not take: handshake,
        alerts, several records, other epochs, datagrams before :meth:`start`; with DTLS
        1.3, the engine's record layer."""
        engine = self._engine13
        if engine is not None:
            if self.remote_address is None:
                self.remote_address = addr
            engine.receive_datagram(data, now)
            return
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        if self._state == _State.IDLE:
            if len(self._early) >= MAX_EARLY_DATAGRAMS:
                self.stats.dropped_early += 1
            else:
                self._early.append((bytes(data), addr))
            return
        self.stats.datagrams_received += 1
        try:
            records, trailing = parse_records(bytes(data))
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return
        if self.remote_address is None:
            self.remote_address = addr
        consumed = 0
        for record in records:
            if self._ended():
                return
            self._receive_record(record, now)
            consumed += HEADER_LENGTH + len(record.fragment)
            if self._engine13 is not None:
                # DTLS 1.3 was just selected: the rest of the datagram is its records
                if consumed < len(data):
                    self._engine13.receive_datagram(bytes(data[consumed:]), now)
                    self.stats.datagrams_received -= 1  # counted once, above
                return
        if trailing:
            self.stats.dropped_malformed += 1
        self._flush_future(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        if self._app_records:
            self._out.extend(pack_datagrams(self._app_records, self.mtu))
            self._app_records = []
        if not self._out:
            return []
        out, self._out = self._out, []
        if self.remote_address is None:
            return []
        addr = self.remote_address
        return [(d, addr) for d in out]

    def get_timer(self) -> float | None:
        if self._engine13 is not None:
            return self._engine13.get_timer()
        if self._state in (_State.CLOSED, _State.FAILED, _State.IDLE):
            return None
        return self._timer.deadline

    def handle_timer(self, now: float) -> None:
        if self._engine13 is not None:
            self._engine13.handle_timer(now)
            return
        deadline = self._timer.deadline
        if deadline is None or now < deadline or self._flight is None:
            return
        if not self._timer.expire(now):
            self._fail(DtlsTimeoutError("DTLS handshake timed out"), send_alert=False)
            return
        self._flight_clean = False
        self.stats.retransmissions += 1
        self._transmit_flight()

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ---- DTLS 1.3 hand-over -----------------------------------------------------------------

    def _state_to_established(self) -> None:
        """The DTLS 1.3 engine finished: what the connection kept for the hand-over (the
        first ClientHello, its transcript and key shares) goes too."""
        self._state = _State.ESTABLISHED
        self._transcript = bytearray()
        self._client_hello = None
        self._shares13 = {}

    def _start13_server(self, hello: ClientHello, body: bytes, seq: int, now: float) -> None:
        """The ClientHello offered DTLS 1.3 and we allow it: the 1.3 engine answers."""
        self._flight = None
        self._timer.stop()
        engine = Dtls13Engine(self, now)
        self._engine13 = engine
        engine.start_server(hello, body, seq, now)

    def _start13_client(self, hello: ServerHello, seq: int, body: bytes, now: float) -> None:
        """The ServerHello (or HelloRetryRequest) selected DTLS 1.3."""
        assert self._client_hello is not None
        self._flight = None
        self._timer.stop()
        engine = Dtls13Engine(self, now)
        self._engine13 = engine
        engine.start_client(
            hello,
            seq,
            body,
            now,
            client_hello=self._client_hello,
            client_hello_body=self._client_hello.encode(),
            shares=self._shares13,
        )

    # ---- record layer ------------------------------------------------------------------------

    def _ended(self) -> bool:
        return self._state in (_State.CLOSED, _State.FAILED)

    def _receive_record(self, record: Record, now: float) -> None:
        self.stats.records_received += 1
        state = self._read.get(record.epoch)
        if state is None:
            if record.epoch == 1 and len(self._future_records) < MAX_FUTURE_RECORDS:
                self._future_records.append(record)  # keys not ready yet (RFC 6347 §4.1)
            else:
                self.stats.dropped_epoch += 1
            return
        if not state.replay.is_fresh(record.sequence_number):
            self.stats.dropped_replay += 1
            return
        try:
            payload = state.unprotect(record)
        except DtlsDecodeError:
            self.stats.dropped_decrypt += 1  # RFC 6347 §4.1.2.7: silently discard
            return
        state.replay.mark(record.sequence_number)
        ctype = record.content_type
        if ctype == ContentType.HANDSHAKE:
            self._last_record_seq = record.sequence_number
            self._receive_handshake(payload, record.epoch, now)
        elif ctype == ContentType.APPLICATION_DATA:
            if record.epoch == 0:
                self.stats.dropped_unexpected += 1
            elif self.is_established:
                self._deliver(payload)
            elif len(self._pending_app) < MAX_PENDING_APPLICATION_RECORDS:
                self._pending_app.append(payload)
            else:
                self.stats.dropped_unexpected += 1
        elif ctype == ContentType.ALERT:
            self._receive_alert(payload, record.epoch)
        elif ctype == ContentType.CHANGE_CIPHER_SPEC:
            # Keys are switched by epoch numbers, not by the CCS itself (RFC 6347 §4.1:
            # records carry their epoch), so a CCS only has to be well-formed.
            if payload != b"\x01":
                self.stats.dropped_malformed += 1
        else:
            self.stats.dropped_unexpected += 1

    def _flush_future(self, now: float) -> None:
        if self._future_records and 1 in self._read:
            pending, self._future_records = self._future_records, []
            for record in pending:
                if self._state in (_State.CLOSED, _State.FAILED):
                    return
                self._receive_record(record, now)

    def _receive_alert(self, payload: bytes, epoch: int) -> None:
        if len(payload) != 2:
            self.stats.dropped_malformed += 1
            return
        if epoch == 0 and self._handshake_done:
            self.stats.dropped_unexpected += 1  # unauthenticated once keys exist
            return
        level, description = payload[0], payload[1]
        try:
            desc = AlertDescription(description)
        except ValueError:
            desc = AlertDescription.HANDSHAKE_FAILURE
        if description == AlertDescription.CLOSE_NOTIFY:
            if not self._close_sent and self._state != _State.IDLE:
                self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
                self._close_sent = True
            self._enter_closed(by_peer=True)
        elif level == AlertLevel.FATAL:
            self._fail(PeerAlertError(f"peer sent fatal alert {desc.name}", desc), False)
        # warnings (no_renegotiation...) are only noted

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        state = self._write[self._write_epoch]
        self._out.append(state.protect(ContentType.ALERT, bytes([level, description])))

    def _enter_closed(self, by_peer: bool) -> None:
        self._fast_read = self._fast_write = None
        self._state = _State.CLOSED
        self._timer.stop()
        self._flight = None
        self._events.append(Closed(by_peer))

    def _fail(self, error: DtlsError, send_alert: bool = True) -> None:
        if self._state in (_State.CLOSED, _State.FAILED):
            return
        self.error = error
        if send_alert and self._state != _State.IDLE:
            self._send_alert(AlertLevel.FATAL, error.alert)
        self._fast_read = self._fast_write = None
        self._state = _State.FAILED
        self._timer.stop()
        self._flight = None
        self._events.append(Failed(error))

    # ---- handshake layer ---------------------------------------------------------------------

    def _receive_handshake(self, payload: bytes, epoch: int, now: float) -> None:
        try:
            fragments = parse_fragments(payload)
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return
        for frag in fragments:
            try:
                fresh = self._reassembler.add(frag)
            except DtlsDecodeError:
                self.stats.dropped_malformed += 1
                continue
            if not fresh:
                self._on_old_fragment(frag.message_seq, now)
        self._process_messages(now)

    def _on_old_fragment(self, message_seq: int, now: float) -> None:
        """The peer repeated a message we processed: if it belongs to the flight our current
        flight answers, the peer lost our flight, so resend it (RFC 6347 §4.2.4). Any message
        of that flight triggers (its first datagram may be the one lost again), at most once
        per :data:`ECHO_GUARD` of the initial timeout so one repeated flight of many
        datagrams costs one retransmission."""
        if (
            self._flight is not None
            and self._retransmit_trigger is not None
            and self._retransmit_trigger <= message_seq < self._retransmit_trigger_end
            and now - self._last_echo_at >= self._timer.initial * ECHO_GUARD
            and not self._ended()
        ):
            self._last_echo_at = now
            self.stats.retransmissions += 1
            self._flight_clean = False
            self._transmit_flight()
            self._timer.restart(now)

    def _process_messages(self, now: float) -> None:
        while self._state not in (_State.CLOSED, _State.FAILED):
            if self._state == _State.SERVER_EXPECT_CLIENT_HELLO:
                message = self._reassembler.pop_any(HandshakeType.CLIENT_HELLO)
            else:
                message = self._reassembler.pop()
            if message is None:
                return
            msg_type, seq, body = message
            try:
                self._handle_message(msg_type, seq, body, now)
            except DtlsDecodeError as exc:
                self._fail(DtlsHandshakeError(str(exc), AlertDescription.DECODE_ERROR))
            except DtlsError as exc:
                self._fail(exc)

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        state = self._state
        if msg_type == HandshakeType.HELLO_REQUEST and self.role == DtlsRole.CLIENT:
            if state == _State.ESTABLISHED:  # RFC 5746 / RFC 8827 §6.5: no renegotiation
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            return  # RFC 5246 §7.4.1.1: ignored during a handshake
        if state == _State.ESTABLISHED:
            if msg_type == HandshakeType.CLIENT_HELLO and self.role == DtlsRole.SERVER:
                self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
            else:
                self.stats.dropped_unexpected += 1
            return
        handler = HANDLERS.get((state, msg_type))
        if handler is None:
            raise DtlsHandshakeError(
                f"unexpected {type_name(msg_type)} in state {state.value}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )
        handler(self, seq, body, now)
