"""Association setup (RFC 9260 §5.1, §5.2): INIT, INIT ACK, COOKIE ECHO.

Functions of :class:`~pyrtcstack.sctp.association.Association`, kept apart by concept. The
responder stays stateless until COOKIE ECHO: what it needs travels in the signed cookie
(:mod:`.cookie`). Both ends may send INIT; §5.2.1 and §5.2.4 make the two handshakes
converge on one association.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chunks import AbortChunk, ChunkType, CookieAckChunk, CookieEchoChunk, InitAckChunk, InitChunk
from .cookie import CookieContents, open_cookie, seal_cookie
from .params import CauseCode, ErrorCause, Parameter, ParamType
from .receiver import Receiver
from .state import State

if TYPE_CHECKING:
    from .association import Association

#: RFC 9653 §5.1: Error Detection Method Identifier 1 = "SCTP over DTLS".
ZERO_CHECKSUM_EDMID_DTLS = b"\x00\x00\x00\x01"

__all__ = [
    "drop_zero_checksum",
    "init_packet",
    "on_cookie_echo",
    "on_init",
    "on_init_ack",
    "peer_features",
    "set_peer",
]


def init_packet(a: Association) -> bytes:
    """Our INIT (§5.1 A) in its packet: tag 0, our tag, window, streams and initial TSN
    (the same in every retransmission), and the extension parameters."""
    cfg = a.config
    init = InitChunk(
        a._local_tag,
        cfg.receive_window,
        cfg.outbound_streams,
        cfg.inbound_streams,
        a._local_tsn,
        a._extension_params(),
    )
    return a._packet(0, [init.encode()])


def drop_zero_checksum(a: Association) -> None:
    """Stop announcing Zero Checksum Acceptable (RFC 9653 §5.1) in INIT and INIT ACK.

    The parameter's type (0x8001) has the upper bits 10: a peer that does not know it must
    skip it and go on (RFC 9260 §3.2.1). pion/sctp up to 1.8.x (Pion WebRTC 3.1.56, as
    Debian ships it) instead fails to parse the whole chunk and drops the packet without
    an answer, so neither our INIT nor our INIT ACK ever gets one. We call this when our
    INIT went unanswered for one T1-init (its first retransmission goes without the
    parameter) and when the peer sends again an INIT we answered with the parameter. A
    lost packet costs the same: no zero checksum for that association (CRC-32C both ways,
    correct, a little slower). Checksum 0 stays accepted if ``config.zero_checksum``: a
    late answer to our first INIT holds the peer to what that INIT announced."""
    a._announce_zero_checksum = False


def peer_features(init: InitChunk) -> int:
    ext = init.param(ParamType.SUPPORTED_EXTENSIONS) or b""
    pr = init.param(ParamType.FORWARD_TSN_SUPPORTED) is not None or (ChunkType.FORWARD_TSN in ext)
    # RFC 9653 §5.1: Zero Checksum Acceptable with EDMID 1 (DTLS) is the only one we use.
    zero = init.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE) == ZERO_CHECKSUM_EDMID_DTLS
    return (1 if pr else 0) | (2 if ChunkType.RECONFIG in ext else 0) | (4 if zero else 0)


def on_init(a: Association, init: InitChunk, now: float) -> None:
    if init.initiate_tag == 0 or init.outbound_streams == 0 or init.inbound_streams == 0:
        # §3.3.2: a zero tag or stream count is invalid: ABORT (T bit, the peer's tag).
        if init.initiate_tag:
            cause = ErrorCause(CauseCode.INVALID_MANDATORY_PARAMETER)
            abort = AbortChunk([cause]).encode()
            a._raw.append(a._packet(init.initiate_tag, [abort]))
        a.stats.malformed += 1
        return
    if a.state not in (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED):
        # A restart (§5.2.2) is not supported: an association lives as long as its DTLS
        # connection in WebRTC. Dropped and counted.
        a.stats.unexpected_chunks += 1
        return
    if a._announce_zero_checksum:
        if init.initiate_tag == a._answered_init_tag:
            # The peer sends the INIT we answered again: our INIT ACK may be one it
            # cannot parse (see drop_zero_checksum).
            drop_zero_checksum(a)
            if a.state is State.COOKIE_WAIT:
                a._t1_packet = init_packet(a)
        a._answered_init_tag = init.initiate_tag
    # §5.2.1: in COOKIE-WAIT/ECHOED we answer with the tag and TSN of our own INIT (we
    # use one tag and one initial TSN for the life of the association).
    cookie = seal_cookie(
        a._cookie_key,
        CookieContents(
            now,
            a._local_tag,
            init.initiate_tag,
            a._local_tsn,
            init.initial_tsn,
            init.a_rwnd,
            init.outbound_streams,
            init.inbound_streams,
            peer_features(init),
        ),
    )
    params = [*a._extension_params(), Parameter(ParamType.STATE_COOKIE, cookie)]
    ack = InitAckChunk(
        a._local_tag,
        a.config.receive_window,
        a.config.outbound_streams,
        a.config.inbound_streams,
        a._local_tsn,
        params,
    )
    a._raw.append(a._packet(init.initiate_tag, [ack.encode()]))


def on_init_ack(a: Association, ack: InitChunk, now: float) -> None:
    if a.state is not State.COOKIE_WAIT:
        a.stats.unexpected_chunks += 1
        return  # §5.2.3: discard
    cookie = ack.param(ParamType.STATE_COOKIE)
    if cookie is None or ack.initiate_tag == 0 or ack.outbound_streams == 0:
        a.stats.malformed += 1
        return
    set_peer(
        a,
        ack.initiate_tag,
        ack.initial_tsn,
        ack.a_rwnd,
        ack.outbound_streams,
        ack.inbound_streams,
        peer_features(ack),
    )
    a._t1_packet = a._packet(a._peer_tag, [CookieEchoChunk(cookie).encode()])
    a._raw.append(a._t1_packet)
    a.state = State.COOKIE_ECHOED
    a._t1_rto = a.config.rto_initial
    a._t1 = now + a._t1_rto
    a._t1_count = 0


def on_cookie_echo(a: Association, cookie: bytes, now: float) -> None:
    established = a.state not in (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED)
    # §5.2.4 D: once established, a genuine duplicate is acknowledged however old it is
    # (our COOKIE ACK may have been lost for a while); only its MAC and tags matter.
    lifetime = float("inf") if established else a.config.cookie_lifetime
    opened = open_cookie(a._cookie_key, cookie, now, lifetime)
    if isinstance(opened, str) or opened.local_tag != a._local_tag:
        # §5.1.5: forged, foreign or stale cookies are discarded (counted).
        a.stats.bad_cookie += 1
        return
    if a.state in (State.CLOSED, State.COOKIE_WAIT, State.COOKIE_ECHOED):
        if a.state is State.COOKIE_ECHOED and opened.peer_tag != a._peer_tag:
            a.stats.bad_cookie += 1
            return
        set_peer(
            a,
            opened.peer_tag,
            opened.peer_tsn,
            opened.peer_rwnd,
            opened.peer_outbound_streams,
            opened.peer_inbound_streams,
            opened.peer_features,
        )
        a._t1 = None
        a._control.append(CookieAckChunk().encode())
        a._established(now)
    elif opened.peer_tag == a._peer_tag:
        # §5.2.4 D: a duplicate COOKIE ECHO: just acknowledge it again.
        a._control.append(CookieAckChunk().encode())
    else:
        a.stats.bad_cookie += 1


def set_peer(  # noqa: PLR0917
    a: Association, tag: int, tsn: int, rwnd: int, peer_os: int, peer_mis: int, features: int
) -> None:
    cfg = a.config
    a._peer_tag = tag
    a._peer_tsn = tsn
    a._peer_pr = bool(features & 1)
    a._peer_reconfig = bool(features & 2)
    a._send_zero_checksum = bool(features & 4) and cfg.zero_checksum
    a._peer_reconfig_seq = tsn
    # §5.1.1: streams in each direction are the smaller of what each end offers.
    a.outbound_streams = min(cfg.outbound_streams, peer_mis)
    a.inbound_streams = min(cfg.inbound_streams, peer_os)
    sender = a._sender
    sender.peer_rwnd = rwnd
    sender.ssthresh = rwnd
    sender.pr_supported = a._peer_pr
    a._receiver = Receiver(
        tsn, cfg.receive_window, cfg.max_message_size, a._events, a.inbound_streams
    )
