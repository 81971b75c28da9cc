"""A narrated timeline of every protocol step, for learners (``pyrtcstack demo --trace``).

The core calls :class:`Tracer` with each datagram it sends or receives (before
encryption for SCTP, which rides inside DTLS) and with notable transitions; the tracer
describes it in one line with the RFC section that defines it and hands a
:class:`TraceRecord` to the user's callback. Decoding here is best effort and never raises.

A bulk transfer is thousands of near-identical lines (SCTP DATA, SACK, SRTP). Records of
that kind carry a ``kind`` (and byte and message counts); :class:`RunSummary` folds each
run of them into one line ("SCTP DATA × 1,812 packets, 2,000 messages, 2.0 MB, stream 1"),
which is what ``demo --trace`` prints unless ``--trace-all`` asks for every line.

SCTP fragments are labelled so a 1,000-byte message split across two packets reads as
``message 2 part 1 (B), 116 B`` then ``message 2 part 2 of 2 (E), 884 B = 1,000 B``
rather than two unrelated sizes (RFC 9260 §3.3.1: the B and E bits mark a message's first and last
fragment; the chunks of one message carry consecutive TSNs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.core import Address
from ..demux import PacketKind, classify
from ..dtls import DtlsError, HandshakeCompleted, PeerAlertError
from ..ice import IceCandidate
from ..sctp.chunks import (
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ForwardTsnChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitAckChunk,
    InitChunk,
    ReconfigChunk,
    SackChunk,
    ShutdownAckChunk,
    ShutdownChunk,
    ShutdownCompleteChunk,
    decode_packet,
)
from ..stun import AttributeType, MessageClass, Method, StunParseError, decode

__all__ = [
    "FragmentLabeller",
    "RunSummary",
    "TraceRecord",
    "Tracer",
    "alert_name",
    "describe_dtls",
    "describe_sctp",
    "describe_stun",
    "selected_pair_text",
]

_HANDSHAKE = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    3: "HelloVerifyRequest",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}
_CONTENT = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
#: RFC 5246 §7.2 / RFC 8446 §6 alert names, as the RFCs spell them.
_ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}
_PPID = {50: "DCEP", 51: "string", 53: "binary", 56: "empty string", 57: "empty binary"}


def selected_pair_text(local: IceCandidate, remote: IceCandidate, nominated: bool) -> str:
    """The "selected pair" note: the two candidates in short, and why it may come before
    the USE-CANDIDATE request in the timeline."""

    def short(c: IceCandidate) -> str:
        host, port = c.address[0], c.address[1]
        return f"{c.type.value} [{host}]:{port}" if ":" in host else f"{c.type.value} {host}:{port}"

    text = f"selected pair {short(local)} ↔ {short(remote)}"
    if nominated:
        return text + " (nominated, RFC 8445 §8.1.1)"
    return text + (
        " (valid, not yet nominated: data may flow on a valid pair before selection, RFC"
        " 8445 §12.1; the controlling agent nominates it later with USE-CANDIDATE, §8.1.1)"
    )


def alert_name(description: int) -> str:
    """The RFC's name of an alert description (``close_notify``), or its number."""
    return _ALERTS.get(description, f"alert {description}")


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One step: ``time`` (seconds, the driver's clock), ``layer`` (ICE, DTLS, SCTP,
    SRTP...), ``direction`` ("send", "recv" or "note"), ``peer`` and a description.

    Repetitive records have a ``kind`` ("SCTP DATA", "SCTP SACK", "SRTP"...) with the
    ``payload_bytes``, completed ``messages`` and ``streams`` they carry, for
    :class:`RunSummary`; a summary line itself has kind "run", ``count`` records and
    ``since`` (the time of the run's first record)."""

    time: float
    layer: str
    direction: str
    text: str
    local: Address | None = None
    peer: Address | None = None
    kind: str = ""
    payload_bytes: int = 0
    messages: int = 0
    streams: tuple[int, ...] = ()
    count: int = 1
    since: float | None = None


def handshake_text(event: HandshakeCompleted) -> str:
    """The trace line of a completed DTLS handshake."""
    srtp = event.srtp_profile.name if event.srtp_profile else "none"
    return (
        f"handshake complete: {event.version} {event.cipher_suite.name}, SRTP {srtp} "
        "(RFC 6347 §4.2, RFC 5764 §4.2)"
    )


def failure_text(error: DtlsError) -> str:
    """The trace line of a failed DTLS connection: the alert, and who sent it."""
    how = "received" if isinstance(error, PeerAlertError) else "sent"
    return f"failed: {error} (alert {alert_name(error.alert)} {how}, RFC 5246 §7.2.2)"


def describe_stun(data: bytes) -> str:
    """A STUN message as a learner reads it (RFC 8445 §7: checks; RFC 7675: consent)."""
    try:
        msg = decode(data, check_fingerprint=False)
    except StunParseError:
        return "malformed STUN"
    method = Method(msg.method).name if msg.method in Method._value2member_map_ else hex(msg.method)
    cls = MessageClass(msg.message_class).name.lower().replace("_", " ")
    parts = [f"STUN {method} {cls}"]
    if msg.method == Method.BINDING and msg.message_class is MessageClass.REQUEST:
        user = msg.get_text(AttributeType.USERNAME)
        if user:
            parts.append(f"USERNAME={user}")
        if msg.has(AttributeType.USE_CANDIDATE):
            # Regular nomination (RFC 8445 §8.1.1): the controlling agent nominates a pair
            # whose check already succeeded, so the pair was selected (and carried data,
            # §12.1) before this request.
            parts.append(
                "USE-CANDIDATE (regular nomination of a pair already valid and in use, "
                "RFC 8445 §8.1.1, §7.2.2)"
            )
        elif msg.has(AttributeType.ICE_CONTROLLING):
            parts.append("ICE-CONTROLLING (connectivity check, RFC 8445 §7.2.4)")
        elif msg.has(AttributeType.ICE_CONTROLLED):
            parts.append("ICE-CONTROLLED (connectivity check, RFC 8445 §7.2.4)")
    elif msg.method == Method.BINDING and msg.message_class is MessageClass.SUCCESS:
        mapped = msg.get_address(AttributeType.XOR_MAPPED_ADDRESS)
        if mapped:
            parts.append(f"XOR-MAPPED-ADDRESS={mapped[0]}:{mapped[1]} (RFC 8489 §14.2)")
    elif msg.message_class is MessageClass.INDICATION:
        parts.append("(keepalive, RFC 8445 §11)")
    return " ".join(parts)


def describe_dtls(data: bytes) -> str:
    """The records of a DTLS datagram (RFC 6347 §4.1; handshake types §4.2.2)."""
    out: list[str] = []
    pos = 0
    while pos + 13 <= len(data):
        ctype = data[pos]
        epoch = int.from_bytes(data[pos + 3 : pos + 5], "big")
        length = int.from_bytes(data[pos + 11 : pos + 13], "big")
        body = data[pos + 13 : pos + 13 + length]
        name = _CONTENT.get(ctype, f"type {ctype}")
        if ctype == 22 and epoch == 0 and len(body) >= 12:
            hs = _HANDSHAKE.get(body[0], f"handshake {body[0]}")
            frag_len = int.from_bytes(body[9:12], "big")
            total = int.from_bytes(body[1:4], "big")
            frag = "" if frag_len == total else " (fragment)"
            out.append(hs + frag)
        elif ctype == 22:
            out.append(f"encrypted Handshake (Finished), epoch {epoch}")
        elif ctype == 23:
            out.append(f"ApplicationData {length} B")
        elif ctype == 21 and epoch == 0 and len(body) == 2:
            level = {1: "warning", 2: "fatal"}.get(body[0], f"level {body[0]}")
            out.append(f"Alert {level} {alert_name(body[1])} (RFC 5246 §7.2)")
        elif ctype == 21:
            # Encrypted: the name is inside. The core notes which alert it sent or got.
            out.append(f"Alert (encrypted, epoch {epoch})")
        else:
            out.append(name)
        pos += 13 + length
    return "DTLS " + (", ".join(out) if out else "(malformed)")


class FragmentLabeller:
    """Numbers the user messages of each (direction, stream, ordering) and labels their
    DATA chunks: whole message, or part k (of m, known at the E fragment). RFC 9260
    §3.3.1: B marks a message's first fragment, E its last; a chunk whose TSN is not newer
    than one already seen in that direction is a retransmission (§6.3.3).

    Bounded: at most :attr:`MAX_TRACKED` (direction, stream, ordering) entries; past that
    the oldest is forgotten and its next fragment reads "part ?"."""

    MAX_TRACKED = 1024

    def __init__(self) -> None:
        # key → [messages begun, part number of the message in progress, its bytes so far]
        self._state: dict[tuple[str, int, bool], list[int]] = {}
        self._highest_tsn: dict[str, int] = {}

    def label(self, direction: str, chunk: DataChunk) -> tuple[str, int]:
        """``(text, messages completed by this chunk)``."""
        highest = self._highest_tsn.get(direction)
        if highest is not None and not 0 < (chunk.tsn - highest) & 0xFFFFFFFF < 0x80000000:
            return "retransmission (RFC 9260 §6.3.3)", 0
        self._highest_tsn[direction] = chunk.tsn
        key = (direction, chunk.stream_id, chunk.unordered)
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= self.MAX_TRACKED:
                del self._state[next(iter(self._state))]
            state = self._state[key] = [0, 0, 0]
        size = len(chunk.data)
        if chunk.beginning:
            state[0] += 1
            state[1], state[2] = 1, size
            if chunk.ending:
                return f"message {state[0]:,}, {size:,} B", 1
            return f"message {state[0]:,} part 1 (B), {size:,} B", 0
        if state[1] == 0:  # we never saw this message's B fragment
            return f"part ? {'(E) ' if chunk.ending else ''}{size:,} B", int(chunk.ending)
        state[1] += 1
        state[2] += size
        part, total = state[1], state[2]
        if chunk.ending:
            state[1] = state[2] = 0
            return f"message {state[0]:,} part {part} of {part} (E), {size:,} B = {total:,} B", 1
        return f"message {state[0]:,} part {part}, {size:,} B", 0


@dataclass(slots=True)
class _SctpSummary:
    text: str
    kind: str = ""
    payload_bytes: int = 0
    messages: int = 0
    streams: tuple[int, ...] = ()


def describe_sctp(
    packet: bytes, labeller: FragmentLabeller | None = None, direction: str = "send"
) -> str:
    """The chunks of one SCTP packet (RFC 9260 §3.3) inside a DTLS record (RFC 8261).
    With a :class:`FragmentLabeller` DATA chunks are numbered and their fragments
    labelled."""
    return _describe_sctp(packet, labeller, direction).text


def _describe_sctp(
    packet: bytes, labeller: FragmentLabeller | None, direction: str
) -> _SctpSummary:
    try:
        decoded = decode_packet(packet)
    except ValueError:
        return _SctpSummary("malformed SCTP")
    out: list[str] = []
    kinds: set[str] = set()
    payload = messages = 0
    streams: set[int] = set()
    for chunk in decoded.chunks:
        if isinstance(chunk, DataChunk):
            what = _PPID.get(chunk.ppid, f"PPID {chunk.ppid}")
            if chunk.ppid == 50 and chunk.data:
                what = {3: "DATA_CHANNEL_OPEN", 2: "DATA_CHANNEL_ACK"}.get(chunk.data[0], "DCEP")
                what += f" (RFC 8832 §5) {len(chunk.data)} B"
                kinds.add("DCEP")
            elif labeller is not None:
                label, done = labeller.label(direction, chunk)
                what += " " + label
                messages += done
                payload += len(chunk.data)
                streams.add(chunk.stream_id)
                kinds.add("DATA")
            else:
                what += f" {len(chunk.data)} B"
                kinds.add("DATA")
            out.append(f"DATA tsn={chunk.tsn} stream={chunk.stream_id} {what}")
        elif isinstance(chunk, SackChunk):
            out.append(f"SACK cum_tsn={chunk.cumulative_tsn} a_rwnd={chunk.a_rwnd}")
            kinds.add("SACK")
        else:
            out.append(_CONTROL.get(type(chunk), type(chunk).__name__))
            kinds.add("control")
    kind = {
        frozenset({"DATA"}): "SCTP DATA",
        frozenset({"SACK"}): "SCTP SACK",
        frozenset({"SACK", "DATA"}): "SCTP SACK+DATA",
    }.get(frozenset(kinds), "")
    return _SctpSummary("SCTP " + ", ".join(out), kind, payload, messages, tuple(sorted(streams)))


_CONTROL: dict[type, str] = {
    InitAckChunk: "INIT-ACK (RFC 9260 §5.1 B, carries the state cookie)",
    # RFC 8841 §9.3: in WebRTC both ends send INIT; the crossing INITs are resolved by
    # RFC 9260 §5.2.1 (each answers the other's INIT with an INIT-ACK, one association).
    InitChunk: "INIT (RFC 9260 §5.1 A; both ends send one, RFC 8841 §9.3, RFC 9260 §5.2.1)",
    CookieEchoChunk: "COOKIE-ECHO (RFC 9260 §5.1 C)",
    CookieAckChunk: "COOKIE-ACK (RFC 9260 §5.1 E)",
    HeartbeatAckChunk: "HEARTBEAT-ACK",
    HeartbeatChunk: "HEARTBEAT (RFC 9260 §8.3)",
    ForwardTsnChunk: "FORWARD-TSN (RFC 3758 §3.2)",
    ReconfigChunk: "RE-CONFIG stream reset (RFC 6525, closes a channel RFC 8831 §6.7)",
    AbortChunk: "ABORT (RFC 9260 §9.1)",
    ShutdownCompleteChunk: "SHUTDOWN-COMPLETE",
    ShutdownAckChunk: "SHUTDOWN-ACK",
    ShutdownChunk: "SHUTDOWN (RFC 9260 §9.2)",
}

#: RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1): the SRTCP header stays in clear.
_RTCP = {200: "SR", 201: "RR", 202: "SDES", 203: "BYE", 204: "APP", 205: "RTPFB", 206: "PSFB"}


def _size(n: int) -> str:
    if n < 10_000:
        return f"{n:,} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1e6:.1f} MB"


@dataclass(slots=True)
class _Run:
    first: TraceRecord
    last: TraceRecord
    count: int = 0
    payload_bytes: int = 0
    messages: int = 0
    streams: set[int] = field(default_factory=set)


class RunSummary:
    """Folds runs of repetitive records into one summary line each.

    ``emit(record, source)`` receives what to show: every record without a ``kind`` as
    it comes; the first :attr:`shown` records of each (source, direction, layer, kind)
    in full, so a learner sees what one looks like; after that, runs of them are
    counted and, when any other line is due or at :meth:`flush`, emitted as one record
    of kind "run" (``since``: its first record's time, ``time``: its last one's), in the
    order the runs began. ``source`` tells apart several peers printed to one timeline.
    Bounded: at most :attr:`MAX_KEYS` distinct keys are remembered."""

    MAX_KEYS = 256

    def __init__(self, emit: Callable[[TraceRecord, str], None], shown: int = 2) -> None:
        self._emit = emit
        self.shown = shown
        self._runs: dict[tuple[str, str, str, str], _Run] = {}
        self._seen: dict[tuple[str, str, str, str], int] = {}

    def add(self, record: TraceRecord, source: str = "") -> None:
        if not record.kind:
            self.flush()
            self._emit(record, source)
            return
        key = (source, record.direction, record.layer, record.kind)
        seen = self._seen.get(key, 0 if len(self._seen) < self.MAX_KEYS else self.shown)
        if seen < self.shown:
            self._seen[key] = seen + 1
            self.flush()
            self._emit(record, source)
            return
        run = self._runs.get(key)
        if run is None:
            if len(self._runs) >= self.MAX_KEYS:
                self.flush()
            run = self._runs[key] = _Run(record, record)
        run.last = record
        run.count += 1
        run.payload_bytes += record.payload_bytes
        run.messages += record.messages
        if len(run.streams) < 8:
            run.streams.update(record.streams)

    def flush(self) -> None:
        """Emit the summary of every open run (oldest first)."""
        runs, self._runs = self._runs, {}
        # by start time: every run began before the line that ends it, so a timeline
        # stamped with each run's start stays in order
        for (source, _direction, _layer, kind), run in sorted(
            runs.items(), key=lambda item: item[1].first.time
        ):
            parts = [f"{kind} × {run.count:,}"]
            if run.messages:
                parts.append(f"{run.messages:,} messages")
            if run.payload_bytes:
                parts.append(_size(run.payload_bytes))
            if run.streams:
                label = "stream" if len(run.streams) == 1 else "streams"
                parts.append(f"{label} {', '.join(str(s) for s in sorted(run.streams))}")
            first, last = run.first, run.last
            record = TraceRecord(
                last.time,
                last.layer,
                last.direction,
                ", ".join(parts),
                last.local,
                last.peer,
                kind="run",
                payload_bytes=run.payload_bytes,
                messages=run.messages,
                streams=tuple(sorted(run.streams)),
                count=run.count,
                since=first.time,
            )
            self._emit(record, source)


class Tracer:
    """Turns raw steps into :class:`TraceRecord` objects for ``callback``."""

    def __init__(self, callback: Callable[[object], None]) -> None:
        self.callback = callback
        self.media_packets = {"send": 0, "recv": 0}
        self.fragments = FragmentLabeller()

    def note(self, now: float, layer: str, text: str) -> None:
        self.callback(TraceRecord(now, layer, "note", text))

    def datagram(
        self, direction: str, data: bytes, peer: Address, local: Address | None, now: float
    ) -> None:
        kind = classify(data)
        if kind is PacketKind.STUN:
            self.callback(TraceRecord(now, "ICE", direction, describe_stun(data), local, peer))
        elif kind is PacketKind.DTLS:
            text = describe_dtls(data)
            if data[0] == 23:
                return  # application data: the SCTP line says what is inside
            self.callback(TraceRecord(now, "DTLS", direction, text, local, peer))
        elif kind is PacketKind.RTP and len(data) >= 12:
            self.media_packets[direction] += 1
            pt, ssrc = data[1] & 0x7F, int.from_bytes(data[8:12], "big")
            text = f"SRTP {len(data)} B, PT {pt}, SSRC {ssrc:08x} (RFC 3711)"
            self.callback(
                TraceRecord(
                    now,
                    "SRTP",
                    direction,
                    text,
                    local,
                    peer,
                    kind=f"SRTP PT {pt} SSRC {ssrc:08x}",
                    payload_bytes=len(data),
                )
            )
        elif kind is PacketKind.RTCP and len(data) >= 2:
            what = _RTCP.get(data[1], f"PT {data[1]}")
            text = f"SRTCP {len(data)} B, first packet {what} (RFC 3711 §3.4, RFC 3550 §6)"
            self.callback(TraceRecord(now, "SRTP", direction, text, local, peer))
        elif kind is PacketKind.TURN_CHANNEL:
            self.callback(
                TraceRecord(now, "TURN", direction, "ChannelData (RFC 8656 §12.4)", local, peer)
            )

    def sctp(self, direction: str, packet: bytes, now: float) -> None:
        d = _describe_sctp(packet, self.fragments, direction)
        self.callback(
            TraceRecord(
                now,
                "SCTP",
                direction,
                d.text,
                kind=d.kind,
                payload_bytes=d.payload_bytes,
                messages=d.messages,
                streams=d.streams,
            )
        )
