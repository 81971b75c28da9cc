"""The DTLS side of a peer connection (webrtc-pc §5.5 RTCDtlsTransport, sans-I/O): the
bundle's :class:`~pyrtcstack.dtls.DtlsConnection`, its negotiated role, when it starts,
and its W3C state (the SRTP keys come from the connection's ``srtp_keys``, RFC 5764 §4.2).

:class:`DtlsTransport` is owned by
:class:`~pyrtcstack.peerconnection.PeerConnectionCore`, whose ``BundleTransports`` part
(``transports.py``) emits the state changes this returns; the core drives the record path
itself (``connection`` is public: the core's input, pump and timer use it directly, one
path per direction).
"""

from __future__ import annotations

import random

from ..common.core import Address, Event
from ..dtls import (
    Closed,
    DtlsCertificate,
    DtlsConnection,
    DtlsRole,
    DtlsVersion,
    Failed,
)
from ..sctp import SctpConfig
from .config import Settings

__all__ = ["DTLS_RECORD_OVERHEAD", "DtlsTransport", "sctp_config"]

#: Bytes a DTLS 1.2 AEAD record adds to its payload (RFC 6347 §4.1, RFC 5288 §3): the
#: SCTP packet size until the handshake chose the version (then its own overhead, which
#: for DTLS 1.3 is 22 bytes: ``DtlsVersion.record_overhead``).
DTLS_RECORD_OVERHEAD = 13 + 8 + 16


def sctp_config(settings: Settings) -> SctpConfig:
    """The configuration of the SCTP association that runs over this transport: one SCTP
    packet per DTLS record (RFC 8261 §5) within the MTU, so the packet leaves room for a
    DTLS 1.2 AES-GCM record's 13 (header) + 8 (explicit nonce) + 16 (tag) bytes."""
    return SctpConfig(
        max_packet_size=settings.mtu - DTLS_RECORD_OVERHEAD,
        max_message_size=settings.sctp_max_message_size,
        rto_initial=settings.sctp_rto_initial,
        rto_min=settings.sctp_rto_min,
        max_burst=settings.sctp_max_burst,
        zero_checksum=settings.sctp_zero_checksum,
        sack_at_batch_end=settings.sctp_sack_at_batch_end,
        sack_coalesce=settings.sctp_sack_coalesce,
    )


class DtlsTransport:
    """The connection, the first negotiated role (no DTLS renegotiation), ``started`` and
    the W3C ``state`` (new, connecting, connected, closed, failed)."""

    __slots__ = ("connection", "role", "started", "state")

    def __init__(
        self, certificate: DtlsCertificate, settings: Settings, rng: random.Random
    ) -> None:
        self.connection = DtlsConnection(
            None,
            certificate=certificate,
            mtu=settings.mtu,
            rng=rng,
            initial_timeout=settings.dtls_initial_timeout,
            keylog=settings.keylog,
            versions=[DtlsVersion.parse(v) for v in settings.dtls_versions],
        )
        self.role: DtlsRole | None = None
        self.started = False
        self.state = "new"

    @property
    def is_client(self) -> bool:
        return self.role is DtlsRole.CLIENT

    def negotiated(self, role: DtlsRole | None) -> None:
        """The role an applied answer gave (RFC 5763 §5); the first one stays."""
        if self.role is None:
            self.role = role

    def start(self, now: float, selected_remote: Address | None) -> bool:
        """Start once the role is known (JSEP §5.3.1 a=setup) and, for the client, ICE has
        a selected pair (``selected_remote``; RFC 8842 §4: the handshake runs on the ICE
        pair). True when it started now (the state is then "connecting")."""
        if self.started or self.role is None:
            return False
        if self.role is DtlsRole.CLIENT:
            if selected_remote is None:
                return False
            self.connection.set_remote_address(selected_remote)
        self.started = True
        self.connection.start(now, self.role)
        return True

    def get_timer(self) -> float | None:
        return self.connection.get_timer() if self.started else None

    def handle_timer(self, now: float) -> None:
        """The connection's retransmission timer (RFC 6347 §4.2.4), when it is due."""
        if self.started:
            t = self.connection.get_timer()
            if t is not None and t <= now:
                self.connection.handle_timer(now)

    def close(self, now: float) -> None:
        """close_notify if it started (RFC 5246 §7.2.1); the state becomes "closed"
        silently (webrtc-pc §4.4.1.5 close())."""
        if self.started:
            self.connection.close(now)
        self.state = "closed"

    def state_after(self, event: Event) -> str | None:
        """The W3C state a Closed or Failed event leads to (None for any other event:
        HandshakeCompleted is "connected" once the core used it)."""
        kind = type(event)
        if kind is Closed:
            return "closed"
        if kind is Failed:
            return "failed"
        return None
