"""What both DTLS engines share: the connection's context, the engine interface, and the
handshake-layer steps that are the same in DTLS 1.2 and 1.3.

A :class:`~pyrtcstack.dtls.DtlsConnection` is a thin object over one engine at a time:

* :class:`~pyrtcstack.dtls.engine12.Dtls12Engine` runs from the start. It speaks the hello
  exchange, whose format DTLS 1.3 kept (RFC 9147 §5.3), and the DTLS 1.2 handshake and
  records (RFC 6347).
* when the hellos select DTLS 1.3 (:func:`~pyrtcstack.dtls.negotiation.select_version`, the
  one place the version is chosen), the 1.2 engine builds a
  :class:`~pyrtcstack.dtls.engine13.Dtls13Engine` from what the hellos carried and names it
  its :attr:`DtlsEngine.successor`; the connection replaces its engine with it.

Both engines write into one :class:`DtlsContext`: the configuration, the event queue, the
datagrams waiting to leave and the counters. The connection reads them from there, so the
public API does not depend on which engine runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from ..common.core import Address, Event, EventQueue
from .certificate import DtlsCertificate, Fingerprint
from .constants import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    CipherSuite13,
    DtlsVersion,
    NamedGroup,
)
from .datapath import RecordReader
from .errors import (
    DtlsDecodeError,
    DtlsError,
    DtlsHandshakeError,
    FingerprintMismatchError,
    PeerAlertError,
)
from .events import Closed, Failed, HandshakeCompleted
from .fragments import Reassembler, parse_fragments
from .srtp import SrtpProfile

if TYPE_CHECKING:
    from .handshake import DtlsRole, DtlsStats
    from .keylog import KeyLogCallback

__all__ = [
    "ECHO_GUARD",
    "MAX_PENDING_APPLICATION_RECORDS",
    "MAX_PENDING_PLAINTEXT",
    "AnyCipherSuite",
    "DtlsContext",
    "DtlsEngine",
    "EngineBase",
    "parse_alert",
]

#: Application data records kept between "keys ready" and "peer verified" (the
#: fingerprint may come later, with the remote description).
MAX_PENDING_APPLICATION_RECORDS: Final = 64
#: Bytes of received plaintext kept for ``DtlsConnection.take_application_data``: a burst
#: of 64 full records (16 KiB each, RFC 6347 §4.1.1), what one read of a batching driver
#: can bring. A consumer that never takes loses the rest (counted), not memory.
MAX_PENDING_PLAINTEXT: Final = 64 * 16384

#: A repeated peer flight makes us resend ours at most once per this fraction of the
#: initial retransmission timeout (RFC 6347 §4.2.4, RFC 9147 §5.8.1).
ECHO_GUARD: Final = 0.25

#: A negotiated cipher suite: TLS 1.2's (DTLS 1.2) or TLS 1.3's (DTLS 1.3).
AnyCipherSuite = CipherSuite | CipherSuite13


class DtlsContext:
    """The state of a connection that outlives an engine: configuration (see
    :class:`~pyrtcstack.dtls.DtlsConnection` for each argument), the event queue, the
    datagrams waiting for :meth:`~pyrtcstack.dtls.DtlsConnection.datagrams_to_send`, the
    counters and the error."""

    __slots__ = (
        "certificate",
        "cipher_suites",
        "cookie_secret",
        "error",
        "events",
        "groups",
        "groups13",
        "initial_timeout",
        "key_shares",
        "keylog",
        "max_pending_plaintext",
        "max_retransmissions",
        "max_timeout",
        "mtu",
        "out",
        "plaintext",
        "plaintext_bytes",
        "remote_address",
        "remote_fingerprints",
        "rng",
        "role",
        "srtp_profiles",
        "stats",
        "suites13",
        "use_cookie",
        "verify_fingerprint",
        "versions",
    )

    def __init__(
        self,
        *,
        role: DtlsRole | None,
        certificate: DtlsCertificate,
        remote_fingerprints: list[Fingerprint] | None,
        verify_fingerprint: bool,
        srtp_profiles: tuple[SrtpProfile, ...],
        cipher_suites: tuple[CipherSuite, ...],
        groups: tuple[NamedGroup, ...],
        mtu: int,
        remote_address: Address | None,
        rng: random.Random,
        use_cookie: bool,
        initial_timeout: float,
        max_timeout: float,
        max_retransmissions: int,
        keylog: KeyLogCallback | None,
        max_pending_plaintext: int,
        versions: tuple[DtlsVersion, ...],
        groups13: tuple[int, ...],
        key_shares: tuple[int, ...],
        suites13: tuple[int, ...],
        stats: DtlsStats,
    ) -> None:
        self.role = role
        self.certificate = certificate
        self.remote_fingerprints = remote_fingerprints
        self.verify_fingerprint = verify_fingerprint
        self.srtp_profiles = srtp_profiles
        self.cipher_suites = cipher_suites
        self.groups = groups
        self.mtu = mtu
        self.remote_address = remote_address
        self.rng = rng
        #: the secret of our stateless cookies (RFC 6347 §4.2.1, RFC 8446 §4.2.2)
        self.cookie_secret = rng.randbytes(32)
        self.use_cookie = use_cookie
        self.initial_timeout = initial_timeout
        self.max_timeout = max_timeout
        self.max_retransmissions = max_retransmissions
        self.keylog = keylog
        #: received plaintext, one record each, in arrival order, until the connection's
        #: take_application_data(); at most max_pending_plaintext bytes (the rest dropped
        #: and counted in stats.dropped_plaintext_overflow)
        self.plaintext: list[bytes] = []
        self.plaintext_bytes = 0
        self.max_pending_plaintext = max_pending_plaintext
        self.versions = versions
        self.groups13 = groups13
        self.key_shares = key_shares
        self.suites13 = suites13
        self.stats = stats
        self.error: DtlsError | None = None
        # a list-based FIFO: an empty deque is ~0.75 KiB per connection
        self.events: EventQueue[Event] = EventQueue()
        #: datagrams ready to go (engines append, the connection empties it)
        self.out: list[bytes] = []

    def deliver(self, data: bytes) -> None:
        """Hand one record's plaintext up: into :attr:`plaintext`, the one way out
        (``DtlsConnection.take_application_data``), within its bound."""
        size = len(data)
        if self.plaintext_bytes + size > self.max_pending_plaintext:
            self.stats.dropped_plaintext_overflow += 1
            return
        self.plaintext_bytes += size
        self.plaintext.append(data)


class DtlsEngine(RecordReader, Protocol):
    """What :class:`~pyrtcstack.dtls.DtlsConnection` calls on its engine (and, through
    :class:`~.datapath.RecordReader`, what the data path calls)."""

    #: the engine that takes over (set by the 1.2 engine when the hellos select 1.3)
    successor: DtlsEngine | None

    @property
    def state_name(self) -> str: ...

    @property
    def is_established(self) -> bool: ...

    @property
    def version(self) -> DtlsVersion | None: ...

    @property
    def cipher_suite(self) -> AnyCipherSuite | None: ...

    @property
    def srtp_profile(self) -> SrtpProfile | None: ...

    @property
    def peer_certificate(self) -> bytes | None: ...

    def start(self, now: float) -> None: ...

    def fingerprints_changed(self) -> None: ...

    def receive_datagrams(self, datagrams: Iterable[bytes], addr: Address, now: float) -> None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def protect(self, data: bytes | bytearray | memoryview) -> bytes: ...

    def protect_many(self, packets: Sequence[bytes | bytearray | memoryview]) -> list[bytes]: ...

    def close(self) -> None: ...

    def export(self, label: bytes, length: int, context: bytes | None) -> bytes: ...


def parse_alert(payload: bytes) -> tuple[int, AlertDescription] | None:
    """An alert record's level and description (RFC 5246 §7.2, RFC 8446 §6); None if it is
    not two bytes. An unknown description reads as ``handshake_failure``."""
    if len(payload) != 2:
        return None
    try:
        desc = AlertDescription(payload[1])
    except ValueError:
        desc = AlertDescription.HANDSHAKE_FAILURE
    return payload[0], desc


class EngineBase:
    """What both engines do the same way, their one base class: the peer fingerprint check
    (RFC 8122 §5), alerts, close and failure (RFC 5246 §7.2, RFC 8446 §6), reassembling the
    peer's handshake fragments (RFC 6347 §4.2.3, RFC 9147 §5.5) and handling complete
    messages in order. Where the versions differ, each engine answers a small question
    (``_may_alert``, ``_keys_exist``, ``_alert_is_fatal``, ``_stop``...). The handshake
    itself is each engine's role object (:mod:`.handshake`, :mod:`.handshake13`)."""

    __slots__ = (
        "_close_sent",
        "_peer_certificate_der",
        "_peer_fingerprint",
        "_peer_verified",
        "_pending_app",
    )

    # Provided by each engine.
    ctx: DtlsContext
    stats: DtlsStats
    _events: EventQueue[Event]
    _reassembler: Reassembler
    _close_sent: bool
    _peer_certificate_der: bytes
    #: its sha-256 fingerprint once the check made it (HandshakeCompleted reports it)
    _peer_fingerprint: Fingerprint | None
    _peer_verified: bool
    _pending_app: list[bytes]

    # ---- what the connection reads (DtlsEngine) ------------------------------------------------

    @property
    def peer_certificate(self) -> bytes | None:
        return self._peer_certificate_der or None

    def fingerprints_changed(self) -> None:
        """Check a certificate already received against the new fingerprints and, if the
        handshake is done, release HandshakeCompleted (or fail)."""
        if self._peer_certificate_der and not self._peer_verified and not self.ended():
            try:
                self._check_peer_fingerprint()
            except DtlsError as exc:
                self._fail(exc)
                return
        self._maybe_complete()

    def peer_certificate_received(self, der: bytes) -> None:
        """The role object's peer certificate (its end-entity DER): kept, and checked now
        if the fingerprints are known or not checked at all (RFC 8122 §5)."""
        self._peer_certificate_der = der
        ctx = self.ctx
        if ctx.remote_fingerprints is not None or not ctx.verify_fingerprint:
            self._check_peer_fingerprint()

    def _check_peer_fingerprint(self) -> None:
        """RFC 8122 §5 / RFC 5763 §5: the certificate must hash to an SDP fingerprint."""
        ctx = self.ctx
        if not ctx.verify_fingerprint:
            self._peer_verified = True
            return
        der = self._peer_certificate_der
        if not der:
            return
        # hashed once: the sha-256 fingerprint (what the SDP of every browser carries)
        # is checked here and reported in HandshakeCompleted
        own = self._peer_fingerprint = Fingerprint.of(der)
        if not any(
            fp.same_as(own) if fp.algorithm == own.algorithm else fp.matches(der)
            for fp in ctx.remote_fingerprints or []
        ):
            raise FingerprintMismatchError(
                f"peer certificate {own} matches no expected fingerprint"
            )
        self._peer_verified = True

    def _emit_completed(
        self, version: str, suite: AnyCipherSuite, srtp_profile: SrtpProfile | None
    ) -> None:
        """HandshakeCompleted (keys ready, peer verified), then the application data held
        until now, in order."""
        self._events.push(
            HandshakeCompleted(
                version=version,
                cipher_suite=suite,
                srtp_profile=srtp_profile,
                peer_fingerprint=self._peer_fingerprint
                or Fingerprint.of(self._peer_certificate_der),
                peer_certificate=self._peer_certificate_der,
            )
        )
        pending, self._pending_app = self._pending_app, []
        for payload in pending:
            self.ctx.deliver(payload)

    def close(self) -> None:
        """Send close_notify (RFC 5246 §7.2.1, RFC 8446 §6.1) and end the connection."""
        if self.ended():
            return
        if self._may_alert():
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
        self._close_sent = True
        self._enter_closed(by_peer=False)

    def _application_data(self, data: bytes, now: float) -> None:
        """An authenticated application data record: handed up once the handshake is
        complete and the peer verified, held until then (bounded), else dropped."""
        if self.is_established:
            self.ctx.deliver(data)
        elif len(self._pending_app) < MAX_PENDING_APPLICATION_RECORDS:
            self._pending_app.append(data)
        else:
            self.stats.dropped_unexpected += 1

    # ---- alerts and the end (RFC 5246 §7.2, RFC 8446 §6) ----------------------------------------

    def _receive_alert(self, payload: bytes, epoch: int) -> None:
        """close_notify is answered and closes; an error alert fails us; an unprotected
        alert (epoch 0) once keys exist is not believed."""
        alert = parse_alert(payload)
        if alert is None:
            self.stats.dropped_malformed += 1
            return
        if epoch == 0 and self._keys_exist():
            # honoured during the handshake (a peer that cannot read our hello has no keys
            # to protect its alert), ignored once keys exist: anyone could have sent it
            self.stats.dropped_unexpected += 1
            return
        level, desc = alert
        if desc == AlertDescription.CLOSE_NOTIFY:
            if not self._close_sent and self._may_alert():
                self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
                self._close_sent = True
            self._enter_closed(by_peer=True)
        elif self._alert_is_fatal(level, desc):
            self._fail(PeerAlertError(f"peer sent fatal alert {desc.name}", desc), False)

    def _enter_closed(self, by_peer: bool) -> None:
        self._stop(failed=False)
        self._events.push(Closed(by_peer))

    def _fail(self, error: DtlsError, send_alert: bool = True) -> None:
        """End with ``error``: its alert goes to the peer (unless ``send_alert`` is False or
        we cannot send yet), the Failed event to the application."""
        if self.ended():
            return
        self.ctx.error = error
        if send_alert and self._may_alert():
            self._send_alert(AlertLevel.FATAL, error.alert)
        self._stop(failed=True)
        self._events.push(Failed(error))

    def _add_fragments(self, payload: bytes, now: float) -> bool:
        """Add a handshake record's fragments; each fragment of a message already handled
        goes to :meth:`_on_old_fragment`. Returns True if any did; False also when the
        record is malformed (counted)."""
        try:
            fragments = parse_fragments(payload)
        except DtlsDecodeError:
            self.stats.dropped_malformed += 1
            return False
        old = False
        for frag in fragments:
            try:
                fresh = self._reassembler.add(frag)
            except DtlsDecodeError:
                self.stats.dropped_malformed += 1
                continue
            if not fresh:
                old = True
                self._on_old_fragment(frag.message_seq, now)
        return old

    def _process_messages(self, now: float) -> None:
        """Handle every complete message in order until none is ready or the connection
        ended; a decode error fails it with ``decode_error`` (RFC 8446 §6.2)."""
        while not self.ended():
            message = self._next_message()
            if message is None:
                return
            msg_type, seq, body = message
            try:
                self._handle_message(msg_type, seq, body, now)
            except DtlsDecodeError as exc:
                self._fail(DtlsHandshakeError(str(exc), AlertDescription.DECODE_ERROR))
            except DtlsError as exc:
                self._fail(exc)

    def _next_message(self) -> tuple[int, int, bytes] | None:
        return self._reassembler.pop()

    # ---- what each engine says for itself -----------------------------------------------------

    def ended(self) -> bool:
        raise NotImplementedError

    @property
    def is_established(self) -> bool:
        raise NotImplementedError

    def _may_alert(self) -> bool:
        """Whether we can send an alert now (a 1.2 server that saw no hello cannot)."""
        raise NotImplementedError

    def _keys_exist(self) -> bool:
        """Whether the handshake made keys, so an unprotected alert is not believed."""
        raise NotImplementedError

    def _alert_is_fatal(self, level: int, desc: AlertDescription) -> bool:
        raise NotImplementedError

    def _send_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        raise NotImplementedError

    def _stop(self, failed: bool) -> None:
        """Into the closed or failed state: timers, flights and the data path stop."""
        raise NotImplementedError

    def _maybe_complete(self) -> None:
        raise NotImplementedError

    def _on_old_fragment(self, message_seq: int, now: float) -> None:
        raise NotImplementedError

    def _handle_message(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        raise NotImplementedError
