"""The DTLS connection: a sans-I/O core for both roles and both versions (RFC 6347, RFC 9147).

:class:`DtlsConnection` is a thin object over one engine (:mod:`.engine`): the DTLS 1.2
engine (:mod:`.engine12`) runs the hellos and, if they select DTLS 1.2, the handshake and
records; if they select DTLS 1.3 (:mod:`.negotiation`), it hands over to the DTLS 1.3 engine
(:mod:`.engine13`) and the connection calls that one from then on. The public API and the
events are the same for both versions; the configuration, the events, the datagrams to send
and the counters live in one :class:`~.engine.DtlsContext` both engines write to.

The connection follows the core contract of :mod:`pyrtcstack.common.core`. It is bound to no
address of its own: the driver passes every datagram with the address it came from, and the
connection sends to :attr:`DtlsConnection.remote_address` (set by the constructor, by
:meth:`~DtlsConnection.set_remote_address`, e.g. when ICE selects another pair, or learned from
the first datagram if still unset).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Final, Generic, TypeVar, overload

from ..common.core import Address, Event, default_rng
from . import datapath
from .certificate import DtlsCertificate, Fingerprint
from .constants import CipherSuite, DtlsVersion, NamedGroup
from .engine import MAX_PENDING_PLAINTEXT, AnyCipherSuite, DtlsContext, DtlsEngine
from .engine12 import Dtls12Engine
from .errors import DtlsError, DtlsUsageError
from .flights import INITIAL_TIMEOUT, MAX_RETRANSMISSIONS, MAX_TIMEOUT
from .handshake import DtlsRole, DtlsStats
from .kex13 import DEFAULT_GROUPS13, X25519MLKEM768
from .keyexchange import SUPPORTED_GROUPS
from .keylog import KeyLogCallback
from .keyschedule import TLS13_SUITES
from .negotiation import DEFAULT_CIPHER_SUITES
from .record import pack_datagrams
from .srtp import (
    DEFAULT_SRTP_PROFILES,
    SRTP_EXPORTER_LABEL,
    SrtpKeys,
    SrtpProfile,
    split_keying_material,
)

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

_T = TypeVar("_T")


class _Setting(Generic[_T]):
    """A connection attribute that lives in its :class:`~.engine.DtlsContext` (read and
    written there, so both engines see the same value)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Setting[_T]: ...
    @overload
    def __get__(self, obj: DtlsConnection, owner: type) -> _T: ...
    def __get__(self, obj: DtlsConnection | None, owner: type) -> _T | _Setting[_T]:
        if obj is None:
            return self
        value: _T = getattr(obj.ctx, self.name)
        return value

    def __set__(self, obj: DtlsConnection, value: _T) -> None:
        setattr(obj.ctx, self.name, value)


class DtlsConnection:
    """One DTLS association, client or server, 1.2 or 1.3 (see the module docstring).

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

    __slots__ = ("_app_records", "_engine", "_now", "ctx")

    role: _Setting[DtlsRole | None] = _Setting()
    certificate: _Setting[DtlsCertificate] = _Setting()
    srtp_profiles: _Setting[tuple[SrtpProfile, ...]] = _Setting()
    cipher_suites: _Setting[tuple[CipherSuite, ...]] = _Setting()
    groups: _Setting[tuple[NamedGroup, ...]] = _Setting()
    mtu: _Setting[int] = _Setting()
    remote_address: _Setting[Address | None] = _Setting()
    use_cookie: _Setting[bool] = _Setting()
    keylog: _Setting[KeyLogCallback | None] = _Setting()
    #: See the constructor argument of the same name.
    max_pending_plaintext: _Setting[int] = _Setting()
    versions: _Setting[tuple[DtlsVersion, ...]] = _Setting()
    #: Groups accepted (server) or offered (client) in DTLS 1.3, best first.
    groups13: _Setting[tuple[int, ...]] = _Setting()
    #: Groups a 1.3 client sends key shares for.
    key_shares: _Setting[tuple[int, ...]] = _Setting()
    #: TLS 1.3 cipher suites offered/accepted with DTLS 1.3, best first.
    suites13: _Setting[tuple[int, ...]] = _Setting()
    stats: _Setting[DtlsStats] = _Setting()
    #: Why the connection failed (the error of the Failed event), else None.
    error: _Setting[DtlsError | None] = _Setting()

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
        allowed = tuple(DtlsVersion(v) for v in versions)
        if not allowed:
            raise DtlsUsageError("versions must allow DTLS 1.2 or 1.3")
        groups13_ = tuple(int(g) for g in groups13)
        if not groups13_ or not set(groups13_) <= set(DEFAULT_GROUPS13):
            raise DtlsUsageError(f"groups13 must be among {DEFAULT_GROUPS13}")
        if mtu < 256:
            raise DtlsUsageError("MTU below 256 bytes cannot carry a DTLS handshake")
        rng_ = default_rng(rng)
        self.ctx = DtlsContext(
            role=role,
            certificate=certificate or DtlsCertificate.generate(rng_),
            remote_fingerprints=(
                list(remote_fingerprints) if remote_fingerprints is not None else None
            ),
            verify_fingerprint=verify_fingerprint,
            srtp_profiles=tuple(SrtpProfile(p) for p in srtp_profiles),
            cipher_suites=tuple(CipherSuite(s) for s in cipher_suites),
            groups=tuple(NamedGroup(g) for g in groups),
            mtu=mtu,
            remote_address=remote_address,
            rng=rng_,
            use_cookie=use_cookie,
            initial_timeout=initial_timeout,
            max_timeout=max_timeout,
            max_retransmissions=max_retransmissions,
            keylog=keylog,
            max_pending_plaintext=max_pending_plaintext,
            versions=allowed,
            groups13=groups13_,
            key_shares=tuple(int(g) for g in key_shares if int(g) in groups13_),
            suites13=tuple(int(c) for c in suites13 if int(c) in TLS13_SUITES),
            stats=DtlsStats(),
        )
        #: The engine that runs now: the 1.2 engine, or the 1.3 engine it handed over to.
        self._engine: DtlsEngine = Dtls12Engine(self.ctx)
        self._app_records: list[bytes] = []  # protected records waiting to be packed
        #: the last ``now`` an input, a timer or a drain gave (get_timer's "at once")
        self._now = 0.0

    # ---- public API --------------------------------------------------------------------------

    @property
    def engine(self) -> DtlsEngine:
        """The engine that runs now (:class:`~.engine12.Dtls12Engine` or, once the hellos
        selected DTLS 1.3, :class:`~.engine13.Dtls13Engine`), for tests and the curious."""
        return self._engine

    @property
    def state(self) -> str:
        return self._engine.state_name

    @property
    def is_established(self) -> bool:
        """True once HandshakeCompleted has been emitted (keys ready, peer verified)."""
        return self._engine.is_established

    @property
    def version(self) -> DtlsVersion | None:
        """The negotiated version, once known."""
        return self._engine.version

    @property
    def cipher_suite(self) -> AnyCipherSuite | None:
        return self._engine.cipher_suite

    @property
    def srtp_profile(self) -> SrtpProfile | None:
        return self._engine.srtp_profile

    @property
    def local_fingerprint(self) -> Fingerprint:
        return self.ctx.certificate.fingerprint()

    @property
    def peer_certificate(self) -> bytes | None:
        return self._engine.peer_certificate

    def set_remote_address(self, addr: Address) -> None:
        """Where to send from now on (the driver calls this when ICE switches pairs)."""
        self.ctx.remote_address = addr

    def set_remote_fingerprints(self, fingerprints: Sequence[Fingerprint], now: float) -> None:
        """Give the fingerprints from the remote description; checks a certificate already
        received and, if the handshake is done, releases HandshakeCompleted (or fails)."""
        self.ctx.remote_fingerprints = list(fingerprints)
        self._engine.fingerprints_changed()

    def start(self, now: float, role: DtlsRole | None = None) -> None:
        """Begin: a client sends its ClientHello, a server starts answering (including any
        datagrams that arrived early)."""
        ctx = self.ctx
        if role is not None:
            if ctx.role is not None and ctx.role != role:
                raise DtlsUsageError("role already set")
            ctx.role = role
        if ctx.role is None:
            raise DtlsUsageError("start() needs a role")
        self._now = now
        engine = self._engine
        engine.start(now)
        if engine.successor is not None:  # an early ClientHello selected DTLS 1.3
            self._engine = engine.successor

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one record of application data (at most 2^14 bytes, RFC 5246 §6.2.1).
        Pending output is a deadline: :meth:`get_timer` returns the last ``now`` until a
        drain took the record, so a driver re-reading it sends at once (no flush)."""
        self._app_records.append(self.protect(data))

    def protect(self, data: bytes | bytearray | memoryview) -> bytes:
        """One application data record as bytes, without queueing (for drivers that batch)."""
        return self._engine.protect(data)

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """:meth:`protect` for each of ``packets``, in order: the same records (one per
        packet), sealed as one batch; all or none (a packet over 2^14 bytes raises
        :class:`DtlsUsageError` before any is sealed)."""
        return self._engine.protect_many(packets)

    def close(self, now: float) -> None:
        """Send close_notify (RFC 5246 §7.2.1, RFC 8446 §6.1) and end the connection."""
        self._engine.close()

    def export_keying_material(
        self, label: bytes | str, length: int, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 exporter (after the handshake completed); with DTLS 1.3, the TLS 1.3
        exporter (RFC 8446 §7.5)."""
        label_bytes = label.encode() if isinstance(label, str) else label
        return self._engine.export(label_bytes, length, context)

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
        self._now = now
        engine = self._engine
        datapath.receive_datagrams(engine, self.ctx, (data,), addr, now)
        if engine.successor is not None:
            self._engine = engine.successor

    def receive_datagrams(self, datagrams: Iterable[bytes], addr: Address, now: float) -> None:
        """The one input: ``datagrams`` that arrived together from ``addr``, in order. The
        plaintext of their application data records is kept, in arrival order, for
        :meth:`take_application_data`; everything else becomes events or output."""
        self._now = now
        engine = self._engine
        datapath.receive_datagrams(engine, self.ctx, datagrams, addr, now)
        if engine.successor is not None:
            self._engine = engine.successor

    def take_application_data(self) -> list[bytes]:
        """The plaintext of every application data record received since the last call,
        in arrival order (one ``bytes`` per record: for SCTP over DTLS, one packet each,
        RFC 8261 §5). The one way received data leaves the connection. At most
        :attr:`max_pending_plaintext` bytes wait here; a driver that takes after every
        input never reaches it."""
        ctx = self.ctx
        taken = ctx.plaintext
        if taken:
            ctx.plaintext = []
            ctx.plaintext_bytes = 0
        return taken

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        self._now = now
        out = self.ctx.out
        if self._app_records:
            out.extend(pack_datagrams(self._app_records, self.ctx.mtu))
            self._app_records = []
        if not out:
            return []
        datagrams = out[:]
        out.clear()
        addr = self.ctx.remote_address
        if addr is None:
            return []
        return [(d, addr) for d in datagrams]

    def get_timer(self) -> float | None:
        """The engine's deadline (retransmission, RFC 6347 §4.2.4), or the last ``now``
        while records queued by :meth:`send` wait (the contract's pending-output rule)."""
        if self._app_records:
            return self._now
        return self._engine.get_timer()

    def handle_timer(self, now: float) -> None:
        self._now = now
        self._engine.handle_timer(now)

    def next_event(self) -> Event | None:
        return self.ctx.events.pop()
