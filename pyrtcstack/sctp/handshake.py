"""Association setup (RFC 9260 §5.1, §5.2): INIT, INIT ACK, COOKIE ECHO, COOKIE ACK.

A :class:`Handshake` belongs to an association: it keeps our verification tag, initial
TSN and cookie key, timer T1 (§5.1: T1-init in COOKIE-WAIT, T1-cookie in COOKIE-ECHOED)
and what our INIT announces. The responder stays stateless until COOKIE ECHO: what it
needs travels in the signed cookie (:mod:`.cookie`). Both ends may send INIT (RFC 8841
§9.3); §5.2.1 and §5.2.4 make the two handshakes converge on one association.

Its answers go into the association's :class:`~.outbox.Outbox`; what the association
must do with the result comes back as a return value: a :class:`Peer` to adopt, "now
established", or a reason to close.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from .chunks import AbortChunk, ChunkType, CookieAckChunk, CookieEchoChunk, InitAckChunk, InitChunk
from .config import SctpConfig
from .cookie import CookieContents, open_cookie, seal_cookie
from .outbox import Outbox
from .params import CauseCode, ErrorCause, Parameter, ParamType
from .state import AssociationStats, State

__all__ = ["ZERO_CHECKSUM_EDMID_DTLS", "Handshake", "Peer", "peer_features"]

#: RFC 9653 §5.1: Error Detection Method Identifier 1 = "SCTP over DTLS".
ZERO_CHECKSUM_EDMID_DTLS = b"\x00\x00\x00\x01"
_EXTENSIONS = bytes([ChunkType.RECONFIG, ChunkType.FORWARD_TSN])
_SETUP_STATES = (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED)

#: Bits of :attr:`Peer.features`.
FEATURE_FORWARD_TSN = 1  # RFC 3758
FEATURE_RECONFIG = 2  # RFC 6525
FEATURE_ZERO_CHECKSUM = 4  # RFC 9653 with EDMID 1


class Peer(NamedTuple):
    """What the handshake learnt about the peer (its INIT, INIT ACK or our cookie)."""

    tag: int
    tsn: int
    rwnd: int
    outbound_streams: int
    inbound_streams: int
    features: int


class Handshake:
    """Our side of the four-way handshake (see the module docstring)."""

    __slots__ = (
        "_answered_init_tag",
        "_config",
        "_cookie_key",
        "_out",
        "_stats",
        "_t1_count",
        "_t1_packet",
        "_t1_rto",
        "announce_zero_checksum",
        "local_tag",
        "local_tsn",
        "t1",
        "zero_checksum_sent",
    )

    def __init__(
        self,
        config: SctpConfig,
        out: Outbox,
        stats: AssociationStats,
        rng: random.Random,
        local_tsn: int,
    ) -> None:
        self._config = config
        self._out = out
        self._stats = stats
        #: Our verification tag (§5.1: random, never 0) and initial TSN.
        self.local_tag = rng.randrange(1, 1 << 32)
        self.local_tsn = local_tsn
        self._cookie_key = rng.getrandbits(256).to_bytes(32, "big")
        #: Timer T1's deadline (§5.1), or None.
        self.t1: float | None = None
        self._t1_packet = b""
        self._t1_count = 0
        self._t1_rto = config.rto_initial
        #: Whether our INIT / INIT ACK announce Zero Checksum Acceptable (RFC 9653 §5.1):
        #: ``config.zero_checksum`` until a peer showed it cannot parse the parameter (see
        #: :meth:`drop_zero_checksum`).
        self.announce_zero_checksum = config.zero_checksum
        #: Whether an INIT or INIT ACK we sent for this association carried Zero Checksum
        #: Acceptable: then, and only then, a packet with checksum 0 is accepted (RFC 9653
        #: §5.3: "If an endpoint has sent the Zero Checksum Acceptable Chunk Parameter
        #: [...] in an INIT or INIT ACK chunk, [...] it MUST accept SCTP packets that have
        #: an incorrect checksum value of zero [...]. Otherwise, the endpoint MUST drop all
        #: SCTP packets with an incorrect CRC32c checksum."). Set when such a chunk is
        #: built (each one built is sent), never cleared: one flag for the whole
        #: association, whichever of our chunks the peer answered (see
        #: :meth:`drop_zero_checksum`; docs/sctp.md, "Zero checksum").
        self.zero_checksum_sent = False
        self._answered_init_tag = 0  # the peer's INIT tag our last INIT ACK answered

    def extension_params(self, zero_checksum: bool = True) -> list[Parameter]:
        """RFC 8831 §6.2 / RFC 3758 §3.1 / RFC 5061 §4.2.7: FORWARD-TSN and RE-CONFIG; and
        RFC 9653 §5.1 Zero Checksum Acceptable (EDMID 1, DTLS) when configured and
        ``zero_checksum``."""
        params = [
            Parameter(ParamType.FORWARD_TSN_SUPPORTED, b""),
            Parameter(ParamType.SUPPORTED_EXTENSIONS, _EXTENSIONS),
        ]
        if self.announce_zero_checksum and zero_checksum:
            params.append(Parameter(ParamType.ZERO_CHECKSUM_ACCEPTABLE, ZERO_CHECKSUM_EDMID_DTLS))
        return params

    def _init_chunk(
        self, kind: type[InitChunk] = InitChunk, cookie: bytes = b"", zero_checksum: bool = True
    ) -> bytes:
        """Our INIT (§5.1 A) or INIT ACK (§5.1 B, with ``cookie``): our tag, window,
        streams and initial TSN (the same in every retransmission), and the extension
        parameters (Zero Checksum Acceptable only if ``zero_checksum``)."""
        cfg = self._config
        params = self.extension_params(zero_checksum)
        if any(p.type == ParamType.ZERO_CHECKSUM_ACCEPTABLE for p in params):
            self.zero_checksum_sent = True  # RFC 9653 §5.3: from now on, checksum 0 accepted
        if cookie:
            params.append(Parameter(ParamType.STATE_COOKIE, cookie))
        chunk = kind(
            self.local_tag,
            cfg.receive_window,
            cfg.outbound_streams,
            cfg.inbound_streams,
            self.local_tsn,
            params,
        )
        return chunk.encode()

    def connect(self, now: float) -> None:
        """Send INIT (§5.1 A, tag 0) and start T1-init."""
        self._t1_packet = self._out.send_alone(self._init_chunk(), 0)
        self.t1 = now + self._t1_rto
        self._t1_count = 0

    def on_timer(self, now: float, state: State) -> str | None:
        """T1 expired (§6.3.3 for INIT and COOKIE ECHO): send again with a doubled RTO;
        returns the reason to close after Max.Init.Retransmits."""
        if self.t1 is None or now < self.t1:
            return None
        cfg = self._config
        self._t1_count += 1
        self._stats.t1_expirations += 1
        limit = cfg.max_init_retransmissions
        if limit is not None and self._t1_count > limit:
            return "handshake timed out (Max.Init.Retransmits)"
        self._t1_rto = min(self._t1_rto * 2, cfg.rto_max)
        if state is State.COOKIE_WAIT and self.announce_zero_checksum:
            # No answer to an INIT that announced zero checksum: the peer may be one that
            # rejects the whole INIT for it (drop_zero_checksum).
            self.drop_zero_checksum()
            self._t1_packet = self._out.packet([self._init_chunk()], 0)
        self._out.packets.append(self._t1_packet)
        self.t1 = now + self._t1_rto
        return None

    def drop_zero_checksum(self) -> None:
        """Stop announcing Zero Checksum Acceptable (RFC 9653 §5.1) in INIT and INIT ACK.

        The parameter's type (0x8001) has the upper bits 10: a peer that does not know it
        must skip it and go on (RFC 9260 §3.2.1). pion/sctp up to 1.8.x (Pion WebRTC
        3.1.56, as Debian ships it) instead fails to parse the whole chunk and drops the
        packet without an answer, so neither our INIT nor our INIT ACK ever gets one. We
        call this when our INIT went unanswered for one T1-init (its first retransmission
        goes without the parameter) and when the peer sends again an INIT we answered with
        the parameter. A lost packet costs the same: no zero checksum for that association
        (CRC-32C both ways, correct, a little slower). Checksum 0 stays accepted
        (:attr:`zero_checksum_sent`): we did send the parameter (RFC 9653 §5.3's condition),
        and a late answer to our first INIT (or a peer that took our first INIT ACK) holds
        the peer to what that chunk announced: a retransmitted INIT has the same tag and
        TSN, so its INIT ACK does not say which of our INITs it answers."""
        self.announce_zero_checksum = False

    def on_init(self, init: InitChunk, state: State, now: float) -> None:
        """Answer an INIT with an INIT ACK carrying a signed cookie (§5.1 B, §5.2.1)."""
        out = self._out
        if init.initiate_tag == 0 or init.outbound_streams == 0 or init.inbound_streams == 0:
            # §3.3.2: a zero tag or stream count is invalid: ABORT (T bit, the peer's tag).
            if init.initiate_tag:
                cause = ErrorCause(CauseCode.INVALID_MANDATORY_PARAMETER)
                out.send_alone(AbortChunk([cause]).encode(), init.initiate_tag)
            self._stats.malformed += 1
            return
        if state not in _SETUP_STATES:
            # A restart (§5.2.2) is not supported: an association lives as long as its DTLS
            # connection in WebRTC. Dropped and counted.
            self._stats.unexpected_chunks += 1
            return
        # RFC 9653 §5.1: our INIT ACK announces zero checksum only to an INIT that did, so
        # a stack that cannot parse the parameter (pion/sctp 1.8.x, see drop_zero_checksum)
        # gets an INIT ACK it can read at once. Otherwise Pion's own handshake never
        # completes: its association opens through our COOKIE ECHO, and pion/sctp sets its
        # ssthresh only from an INIT ACK (RFC 9260 §7.2.1 leaves the initial value to the
        # sender), so it stays 0 and Pion's sender skips slow start for the whole
        # association (docs/sctp.md, "Zero checksum"). The cost: a peer that implements RFC
        # 9653 but does not announce it itself sends us CRC-32C (correct, a little slower).
        announce = bool(peer_features(init) & FEATURE_ZERO_CHECKSUM)
        repeated = init.initiate_tag == self._answered_init_tag
        self._stats.inits_repeated += repeated
        if self.announce_zero_checksum and announce and repeated:
            # The peer sends the INIT we answered again: our INIT ACK may be one it cannot
            # parse (see drop_zero_checksum).
            self.drop_zero_checksum()
            if state is State.COOKIE_WAIT:
                self._t1_packet = out.packet([self._init_chunk()], 0)
        self._answered_init_tag = init.initiate_tag
        # §5.2.1: in COOKIE-WAIT/ECHOED we answer with the tag and TSN of our own INIT (we
        # use one tag and one initial TSN for the life of the association).
        cookie = seal_cookie(
            self._cookie_key,
            CookieContents(
                now,
                self.local_tag,
                init.initiate_tag,
                self.local_tsn,
                init.initial_tsn,
                init.a_rwnd,
                init.outbound_streams,
                init.inbound_streams,
                peer_features(init),
            ),
        )
        out.send_alone(self._init_chunk(InitAckChunk, cookie, announce), init.initiate_tag)

    def on_init_ack(self, ack: InitChunk, now: float) -> Peer | None:
        """§5.1 C: in COOKIE-WAIT, echo the cookie (T1-cookie) and return the peer to
        adopt; None when it is malformed (counted)."""
        cookie = ack.param(ParamType.STATE_COOKIE)
        # §3.3.3.1: what of our INIT the peer skipped and reported (upper bits 01 or 11:
        # a parameter it does not know, e.g. Zero Checksum Acceptable before RFC 9653).
        self._stats.unrecognized_parameters += sum(
            p.type == ParamType.UNRECOGNIZED_PARAMETER for p in ack.params
        )
        if cookie is None or ack.initiate_tag == 0 or ack.outbound_streams == 0:
            self._stats.malformed += 1
            return None
        self._t1_packet = self._out.send_alone(CookieEchoChunk(cookie).encode(), ack.initiate_tag)
        self._t1_rto = self._config.rto_initial
        self.t1 = now + self._t1_rto
        self._t1_count = 0
        return Peer(
            ack.initiate_tag,
            ack.initial_tsn,
            ack.a_rwnd,
            ack.outbound_streams,
            ack.inbound_streams,
            peer_features(ack),
        )

    def on_cookie_echo(self, cookie: bytes, state: State, peer_tag: int, now: float) -> Peer | None:
        """§5.1 D, §5.2.4: a valid cookie gets a COOKIE ACK. Returns the :class:`Peer` to
        adopt when that establishes the association; None for an acknowledged duplicate
        and for a cookie discarded (§5.1.5: forged, foreign or stale; counted)."""
        setup = state in _SETUP_STATES
        # §5.2.4 D: once established, a genuine duplicate is acknowledged however old it is
        # (our COOKIE ACK may have been lost for a while); only its MAC and tags matter.
        lifetime = self._config.cookie_lifetime if setup else float("inf")
        opened = open_cookie(self._cookie_key, cookie, now, lifetime)
        if isinstance(opened, str) or opened.local_tag != self.local_tag:
            self._stats.bad_cookie += 1
            return None
        if setup:
            if state is State.COOKIE_ECHOED and opened.peer_tag != peer_tag:
                self._stats.bad_cookie += 1
                return None
            self.t1 = None
            self._out.chunks.append(CookieAckChunk().encode())
            return Peer(
                opened.peer_tag,
                opened.peer_tsn,
                opened.peer_rwnd,
                opened.peer_outbound_streams,
                opened.peer_inbound_streams,
                opened.peer_features,
            )
        if opened.peer_tag == peer_tag:
            # §5.2.4 D: a duplicate COOKIE ECHO: just acknowledge it again.
            self._out.chunks.append(CookieAckChunk().encode())
        else:
            self._stats.bad_cookie += 1
        return None

    def on_cookie_ack(self, state: State) -> bool:
        """§5.1 E: COOKIE ACK in COOKIE-ECHOED ends the handshake (True: established)."""
        if state is not State.COOKIE_ECHOED:
            return False
        self.t1 = None
        return True

    def stop(self) -> None:
        self.t1 = None


def peer_features(init: InitChunk) -> int:
    """The extensions an INIT or INIT ACK announces, as FEATURE_* bits."""
    ext = init.param(ParamType.SUPPORTED_EXTENSIONS) or b""
    pr = init.param(ParamType.FORWARD_TSN_SUPPORTED) is not None or (ChunkType.FORWARD_TSN in ext)
    # RFC 9653 §5.1: Zero Checksum Acceptable with EDMID 1 (DTLS) is the only one we use.
    zero = init.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE) == ZERO_CHECKSUM_EDMID_DTLS
    return (
        (FEATURE_FORWARD_TSN if pr else 0)
        | (FEATURE_RECONFIG if ChunkType.RECONFIG in ext else 0)
        | (FEATURE_ZERO_CHECKSUM if zero else 0)
    )
