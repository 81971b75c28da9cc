"""An SRTP/SRTCP session for one transport: outbound and inbound libsrtp contexts.

:class:`SrtpSession` owns two ``pylibsrtp`` sessions, as a DTLS-SRTP transport needs:
one with our write key for any outbound SSRC, one with the peer's write key for any
inbound SSRC. libsrtp implements RFC 3711 (key derivation §4.3, AES-CM §4.1.1,
HMAC-SHA1 §4.2, the rollover counter §3.3.1, SRTCP §3.4) and RFC 7714 (AES-GCM).

Replay protection (RFC 3711 §3.3.2) stays on for inbound packets with a window of
:data:`REPLAY_WINDOW` packets. Outbound, ``allow_repeat_tx`` lets a NACK retransmission
re-protect a packet with the same sequence number (RFC 4585 retransmission without RTX).

Errors: unprotect failures raise subclasses of :class:`~pyrtcstack.srtp.errors.SrtpError`
(a ``ParseError``) and are counted in :attr:`SrtpSession.stats`; a caller running a core
drops such packets.
"""

from __future__ import annotations

from dataclasses import dataclass

from pylibsrtp import Error, Policy, Session

from .errors import SrtpAuthenticationError, SrtpError, SrtpReplayError, SrtpUsageError
from .keying import SrtpKeys
from .profiles import SrtpProfile

__all__ = ["REPLAY_WINDOW", "SrtpSession", "SrtpStats"]

#: Inbound replay window in packets (RFC 3711 §3.3.2 requires at least 64).
REPLAY_WINDOW = 1024


@dataclass
class SrtpStats:
    """Counters of one session (never reset)."""

    rtp_protected: int = 0
    rtcp_protected: int = 0
    rtp_unprotected: int = 0
    rtcp_unprotected: int = 0
    auth_failures: int = 0
    replays: int = 0
    other_errors: int = 0

    @property
    def errors(self) -> int:
        return self.auth_failures + self.replays + self.other_errors


def _policy(key: bytes, profile: SrtpProfile, ssrc_type: int) -> Policy:
    if len(key) != profile.master_length:
        raise SrtpUsageError(
            f"{profile.name}: master key+salt is {profile.master_length} bytes, got {len(key)}"
        )
    policy = Policy(key=key, ssrc_type=ssrc_type, srtp_profile=profile.libsrtp_profile)
    policy.allow_repeat_tx = True
    policy.window_size = REPLAY_WINDOW
    return policy


class SrtpSession:
    """Protect outbound and unprotect inbound RTP and RTCP with one profile.

    ``tx_key`` and ``rx_key`` are master key || master salt, as
    :meth:`pyrtcstack.srtp.keying.SrtpKeys.for_role` returns them.
    """

    __slots__ = ("_rx", "_tx", "profile", "stats")

    def __init__(self, profile: SrtpProfile, tx_key: bytes, rx_key: bytes) -> None:
        self.profile = profile
        self.stats = SrtpStats()
        try:
            self._tx = Session(_policy(tx_key, profile, Policy.SSRC_ANY_OUTBOUND))
            self._rx = Session(_policy(rx_key, profile, Policy.SSRC_ANY_INBOUND))
        except Error as exc:
            raise SrtpUsageError(f"libsrtp refused {profile.name}: {exc}") from None

    @classmethod
    def from_keys(cls, keys: SrtpKeys, is_client: bool) -> SrtpSession:
        """The session of the DTLS client (``is_client=True``) or server."""
        tx, rx = keys.for_role(is_client)
        return cls(keys.profile, tx, rx)

    def _fail(self, exc: Error) -> SrtpError:
        msg = str(exc)
        if "authentication" in msg:
            self.stats.auth_failures += 1
            return SrtpAuthenticationError(msg)
        if "replay" in msg:
            self.stats.replays += 1
            return SrtpReplayError(msg)
        self.stats.other_errors += 1
        return SrtpError(msg)

    def protect_rtp(self, packet: bytes) -> bytes:
        try:
            out: bytes = self._tx.protect(packet)
        except Error as exc:
            raise SrtpUsageError(f"protect failed: {exc}") from None
        self.stats.rtp_protected += 1
        return out

    def protect_rtcp(self, packet: bytes) -> bytes:
        try:
            out: bytes = self._tx.protect_rtcp(packet)
        except Error as exc:
            raise SrtpUsageError(f"protect failed: {exc}") from None
        self.stats.rtcp_protected += 1
        return out

    def unprotect_rtp(self, packet: bytes) -> bytes:
        """Verify and decrypt one SRTP packet; raise an :class:`SrtpError` subclass
        (libsrtp checks every length itself)."""
        try:
            out: bytes = self._rx.unprotect(packet)
        except Error as exc:
            raise self._fail(exc) from None
        self.stats.rtp_unprotected += 1
        return out

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """Verify and decrypt one SRTCP packet; raise an :class:`SrtpError` subclass."""
        try:
            out: bytes = self._rx.unprotect_rtcp(packet)
        except Error as exc:
            raise self._fail(exc) from None
        self.stats.rtcp_unprotected += 1
        return out
