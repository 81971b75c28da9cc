"""Protocol constants, timers and limits of the SCTP association, with their sources.

RFC 9260 §16 gives the protocol parameter defaults; where WebRTC peers (Chrome's dcSCTP)
use other values for data channels we say so. Every limit that bounds memory is here,
named, and documented on docs/sctp.md.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COMMON_HEADER_SIZE",
    "DATA_CHUNK_HEADER_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_PORT",
    "FULL_PACKET",
    "MAX_STREAMS",
    "SctpConfig",
]

#: RFC 9260 §3.1: source port, destination port, verification tag, checksum.
COMMON_HEADER_SIZE = 12
#: RFC 9260 §3.3.1: chunk header (4) + TSN, SID, SSN, PPID (12).
DATA_CHUNK_HEADER_SIZE = 16
#: RFC 8841 §5: ``a=sctp-port`` default.
DEFAULT_PORT = 5000
#: RFC 8832 §6 / RFC 8831 §6.2: stream ids 0..65534 (65535 is reserved); we offer 65535.
MAX_STREAMS = 65535
#: What we advertise as ``a=max-message-size`` (Chrome sends 262144, RFC 8841 §6.1).
DEFAULT_MAX_MESSAGE_SIZE = 262144
#: A received packet of at least this many bytes counts as a full-sized one for the SACK
#: cadence (``SctpConfig.sack_every``); every WebRTC stack fills packets to 1189-1228.
FULL_PACKET = 1024


@dataclass(slots=True)
class SctpConfig:
    """Tunable parameters of one association. Defaults follow RFC 9260 §16 unless noted."""

    #: Our SCTP port and the peer's (RFC 8261 §5: both come from ``a=sctp-port``).
    local_port: int = DEFAULT_PORT
    remote_port: int = DEFAULT_PORT
    #: Largest SCTP packet we build. Chrome (dcSCTP) uses 1191 so the packet fits one DTLS
    #: record in a 1200-byte-ish datagram budget (CHECKLISTS §0).
    max_packet_size: int = 1191
    #: Our receive buffer: the a_rwnd we advertise and the hard bound on bytes held in
    #: reassembly plus delivered-but-unread messages (RFC 9260 §6.2).
    receive_window: int = 1024 * 1024
    #: Largest message we accept (advertised in SDP as max-message-size by the layer above).
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: The peer's max-message-size from its SDP (RFC 8841 §6.1: 65536 when absent, 0 = no
    #: limit). :meth:`Association.send` refuses larger messages with MessageTooLargeError.
    remote_max_message_size: int = 65536
    #: Streams we offer (OS) and accept (MIS), RFC 9260 §5.1.1; WebRTC SHOULD use 65535.
    outbound_streams: int = MAX_STREAMS
    inbound_streams: int = MAX_STREAMS
    #: RTO bounds and initial value, seconds (RFC 9260 §16: 1 s / 1 s / 60 s; dcSCTP uses
    #: 0.5 / 0.4 / 60 for data channels).
    rto_initial: float = 1.0
    rto_min: float = 1.0
    rto_max: float = 60.0
    #: Valid.Cookie.Life (RFC 9260 §16), seconds.
    cookie_lifetime: float = 60.0
    #: Association.Max.Retrans and Max.Init.Retransmits (RFC 9260 §16). ``None`` never gives
    #: up (as dcSCTP does for data channels).
    max_retransmissions: int | None = 10
    max_init_retransmissions: int | None = 8
    #: HB.interval (RFC 9260 §8.3, §16), seconds; ``None`` disables heartbeats.
    heartbeat_interval: float | None = 30.0
    #: Delayed SACK timer (RFC 9260 §6.2: default 200 ms, MUST be ≤ 500 ms) and how many
    #: full-sized DATA-carrying packets may arrive before a SACK is sent at once ("every
    #: second packet"; a packet under FULL_PACKET bytes counts as its share of one, as
    #: RFC 5681 §4.2 counts full-sized segments, see docs/sctp.md).
    sack_delay: float = 0.2
    sack_every: int = 2
    #: True: send a delayed SACK at once when a read batch ends
    #: (``Association.receive_packets``): the peer's burst has ended as far as we can see,
    #: and a sender that waits for all it sent to be acknowledged (Janus) would otherwise
    #: sit out ``sack_delay`` after every burst that ends on an odd packet. At most one
    #: more SACK per batch. On by default: a clear gain with Janus and GStreamer, a few per
    #: cent between two of ours, a cost with aiortc as the sender in another process (its
    #: CPU goes to the extra SACKs); figures in docs/sctp.md, "Receiving and SACK".
    #: ``receive_packet`` (no batch end seen) waits.
    sack_at_batch_end: bool = True
    #: True: the SACKs that fell due while a read batch was read leave as ONE SACK built
    #: when the answer goes out, acknowledging everything read so far (as pion/sctp's
    #: receiver does: its "immediate" SACK is built when its write loop next runs). Fewer
    #: SACKs for a sender that pays for each one (Pion: docs/interop.md, "Throughput"),
    #: but a sender that grows its window per SACK and only when it is full (aiortc) sees
    #: one SACK per batch and starves: off by default (docs/sctp.md, "Receiving and SACK").
    #: ``receive_packet`` (one packet per answer) is unchanged.
    sack_coalesce: bool = False
    #: Max.Burst (RFC 9260 §6.1, §16): new packets sent at once after an idle period.
    max_burst: int = 4
    #: Bound on complete-but-unread messages queued for the application, in *messages*; the
    #: byte bound is ``receive_window``. Protects against floods of tiny messages.
    max_queued_messages: int = 65536
    #: Bytes of messages queued for sending but not yet acknowledged, across all streams,
    #: above which :meth:`Association.send` refuses (the data channel layer's back-pressure).
    max_send_buffer: int = 16 * 1024 * 1024
    #: RFC 9653 zero checksum over DTLS: announce Zero Checksum Acceptable (EDMID 1), accept
    #: packets whose checksum is 0 once an INIT or INIT ACK of ours announced it (§5.3; our
    #: INIT ACK does only to an INIT that did), and send 0 when the peer announced it (INIT
    #: and the handshake packets always carry a real CRC-32C). DTLS protects integrity. On
    #: by default: it only changes what we send to a peer that announced it (checked with
    #: Chromium, Firefox and aiortc, docs/sctp.md); ``zero_checksum=False`` turns it off,
    #: and must when the packets do not travel inside DTLS (EDMID 1 promises they do). An
    #: INIT left unanswered for one T1-init is sent again without the announcement (Pion
    #: 3.1.56 drops INITs that carry it, docs/sctp.md).
    zero_checksum: bool = True
    #: Fixes our initial TSN (normally random, RFC 9260 §5.1); for tests of TSN wrap-around.
    initial_tsn: int | None = None
