"""One line per SCTP packet, for people reading a trace (``pyrtcstack demo --trace``).

:func:`describe` names every chunk of a packet (RFC 9260 §3.3) with the section that
defines it; :func:`summarize` gives the same line with what a trace needs to fold a bulk
transfer into one line per run (the kind of packet, payload bytes, messages completed,
streams). SCTP does not know what its user puts in DATA: the layer above (data channels,
RFC 8831 §8) names the payload through ``payload``.

A :class:`FragmentLabeller` numbers user messages and labels their fragments, so a
1,000-byte message split across two packets reads as ``message 2 part 1 (B), 116 B`` then
``message 2 part 2 of 2 (E), 884 B = 1,000 B`` rather than two unrelated sizes (RFC 9260
§3.3.1: B and E mark a message's first and last fragment; its chunks carry consecutive
TSNs). Best effort: nothing here raises, whatever the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .chunks import (
    AbortChunk,
    CookieAckChunk,
    CookieEchoChunk,
    DataChunk,
    ErrorChunk,
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
    UnknownChunk,
    decode_packet,
)
from .errors import SctpParseError

__all__ = ["FragmentLabeller", "PacketSummary", "PayloadNamer", "describe", "summarize"]

#: Names what a DATA chunk carries: ``(ppid, user data) -> (name, is_user_message)``. A
#: user message is numbered and its fragments labelled; anything else (a control message
#: such as DCEP's, RFC 8832) is shown with its size alone. Given by the layer above.
PayloadNamer = Callable[[int, bytes], tuple[str, bool]]


def _ppid_only(ppid: int, data: bytes) -> tuple[str, bool]:
    return f"PPID {ppid}", True


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


@dataclass(frozen=True, slots=True)
class PacketSummary:
    """A packet's line and what a trace folds by: ``kind`` is "DATA", "SACK",
    "SACK+DATA" for the packets of a bulk transfer ("" for the rest, never folded),
    ``payload_bytes`` and ``messages`` count the user messages' DATA (with a labeller),
    ``streams`` the streams they are on."""

    text: str
    kind: str = ""
    payload_bytes: int = 0
    messages: int = 0
    streams: tuple[int, ...] = ()


_CONTROL: dict[type, str] = {
    InitAckChunk: "INIT-ACK (RFC 9260 §5.1 B, carries the state cookie)",
    # RFC 8841 §9.3: in WebRTC both ends send INIT; the crossing INITs are resolved by
    # RFC 9260 §5.2.1 (each answers the other's INIT with an INIT-ACK, one association).
    InitChunk: "INIT (RFC 9260 §5.1 A; both ends send one, RFC 8841 §9.3, RFC 9260 §5.2.1)",
    CookieEchoChunk: "COOKIE-ECHO (RFC 9260 §5.1 C)",
    CookieAckChunk: "COOKIE-ACK (RFC 9260 §5.1 E)",
    HeartbeatAckChunk: "HEARTBEAT-ACK (RFC 9260 §8.3)",
    HeartbeatChunk: "HEARTBEAT (RFC 9260 §8.3)",
    ForwardTsnChunk: "FORWARD-TSN (RFC 3758 §3.2)",
    ReconfigChunk: "RE-CONFIG stream reset (RFC 6525, closes a channel RFC 8831 §6.7)",
    AbortChunk: "ABORT (RFC 9260 §9.1)",
    ErrorChunk: "ERROR (RFC 9260 §3.3.10)",
    ShutdownCompleteChunk: "SHUTDOWN-COMPLETE (RFC 9260 §9.2)",
    ShutdownAckChunk: "SHUTDOWN-ACK (RFC 9260 §9.2)",
    ShutdownChunk: "SHUTDOWN (RFC 9260 §9.2)",
}

_KINDS = {
    frozenset({"DATA"}): "DATA",
    frozenset({"SACK"}): "SACK",
    frozenset({"SACK", "DATA"}): "SACK+DATA",
}


def summarize(
    packet: bytes,
    labeller: FragmentLabeller | None = None,
    direction: str = "send",
    payload: PayloadNamer | None = None,
) -> PacketSummary:
    """The chunks of one SCTP packet (RFC 9260 §3.3). With a :class:`FragmentLabeller`
    the user messages' DATA chunks are numbered and their fragments labelled (per
    ``direction``, "send" or "recv"); ``payload`` names what DATA carries (by PPID)."""
    try:
        decoded = decode_packet(packet)
    except SctpParseError:
        return PacketSummary("SCTP (malformed)")
    name_payload = payload or _ppid_only
    out: list[str] = []
    kinds: set[str] = set()
    size = messages = 0
    streams: set[int] = set()
    for chunk in decoded.chunks:
        if isinstance(chunk, DataChunk):
            what, user = name_payload(chunk.ppid, chunk.data)
            if not user:
                what += f" {len(chunk.data):,} B"
                kinds.add("control")
            elif labeller is not None:
                label, done = labeller.label(direction, chunk)
                what += " " + label
                messages += done
                size += len(chunk.data)
                streams.add(chunk.stream_id)
                kinds.add("DATA")
            else:
                what += f" {len(chunk.data):,} B"
                kinds.add("DATA")
            out.append(f"DATA tsn={chunk.tsn} stream={chunk.stream_id} {what}")
        elif isinstance(chunk, SackChunk):
            text = f"SACK cum_tsn={chunk.cumulative_tsn} a_rwnd={chunk.a_rwnd}"
            if chunk.gaps:
                text += f", {len(chunk.gaps)} gap block(s) (RFC 9260 §3.3.4)"
            out.append(text)
            kinds.add("SACK")
        elif isinstance(chunk, UnknownChunk):
            # RFC 9260 §3.2: the upper two bits of an unknown type say what to do with it
            out.append(f"unknown chunk type {chunk.type} (RFC 9260 §3.2)")
            kinds.add("control")
        else:
            out.append(_CONTROL.get(type(chunk), type(chunk).__name__))
            kinds.add("control")
    return PacketSummary(
        "SCTP " + ", ".join(out) if out else "SCTP (no chunks)",
        _KINDS.get(frozenset(kinds), ""),
        size,
        messages,
        tuple(sorted(streams)),
    )


def describe(
    packet: bytes,
    labeller: FragmentLabeller | None = None,
    direction: str = "send",
    payload: PayloadNamer | None = None,
) -> str:
    """The line of :func:`summarize`, e.g. ``SCTP DATA tsn=7 stream=1 PPID 53 1,000 B,
    SACK cum_tsn=4 a_rwnd=1048576``."""
    return summarize(packet, labeller, direction, payload).text
