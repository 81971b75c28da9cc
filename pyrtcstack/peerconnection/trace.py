"""A narrated timeline of every protocol step, for learners (``pyrtcstack demo --trace``).

The tracer **observes the peer connection at its boundaries**; it is not woven into it.
The core calls an :class:`Observer` (when one is set, ``Settings.tracer``) at one point per
boundary: datagrams in and out on the wire, SCTP packets in and out of DTLS (the plaintext
that only the core sees), and the events of the inner cores as the core takes them (the
selected pair, the handshake, an alert, the end of the association). With no observer
those points cost a ``None`` test per batch.

:class:`Tracer` is the observer behind ``Settings.tracer``. It does not decode anything
itself: **each protocol describes its own packets**, in one line with the RFC section
that defines them, through its package's exports — :func:`pyrtcstack.stun.describe`,
:func:`pyrtcstack.dtls.describe`, :func:`pyrtcstack.sctp.summarize` (with
:func:`pyrtcstack.datachannel.describe_payload` naming what DATA carries),
:func:`pyrtcstack.rtp.describe`, :func:`pyrtcstack.turn.describe` (ChannelData),
:func:`pyrtcstack.ice.describe_pair`. The tracer hands
one :class:`TraceRecord` per step to the user's callback. Describing never raises.

A bulk transfer is thousands of near-identical lines (SCTP DATA, SACK, SRTP). Records of
that kind carry a ``kind`` (and byte and message counts); :class:`RunSummary` folds each
run of them into one line ("SCTP DATA × 1,812 packets, 2,000 messages, 2.0 MB, stream 1"),
which is what ``demo --trace`` prints unless ``--trace-all`` asks for every line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .. import dtls, rtp, sctp, stun, turn
from ..common.core import Address, Event
from ..common.trace import TraceRecord
from ..datachannel import TransportClosed, describe_payload
from ..demux import PacketKind, classify
from ..ice import IceAgent, SelectedPairChanged, describe_pair

__all__ = ["Observer", "RunSummary", "TraceRecord", "Tracer"]


class Observer(Protocol):
    """What the peer connection core tells an observer, at one point per boundary.

    ``batch``: datagrams ``(data, remote)`` that arrived together on socket ``local``;
    ``transmits``: ``(data, local, remote)`` leaving; ``packets``: SCTP packets, the
    plaintext of DTLS records (RFC 8261); ``event``: an event of an inner core
    (``source``: the ICE agent, the DTLS connection or the data channel manager) as the
    peer connection takes it. An observer only reads: it must not call the core."""

    def datagrams_received(
        self, batch: Sequence[tuple[bytes, Address]], local: Address | None, now: float
    ) -> None: ...

    def datagrams_sent(
        self, transmits: Sequence[tuple[bytes, Address, Address]], now: float
    ) -> None: ...

    def packets_received(self, packets: Sequence[bytes], now: float) -> None: ...

    def packets_sent(self, packets: Sequence[bytes], now: float) -> None: ...

    def event(self, source: object, event: Event, now: float) -> None: ...


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


def _relayed(data: bytes) -> str:
    """What a TURN ChannelData message relays, by its first byte (RFC 7983 §7)."""
    kind = classify(data)
    if kind is PacketKind.STUN:
        return stun.describe(data)
    if kind is PacketKind.DTLS:
        return dtls.describe(data)
    if kind is PacketKind.RTP or kind is PacketKind.RTCP:
        return rtp.describe(data, secure=True)
    return f"{len(data):,} B"


class Tracer:
    """The :class:`Observer` behind ``Settings.tracer``: one :class:`TraceRecord` per
    protocol step for ``callback``."""

    def __init__(self, callback: Callable[[object], None]) -> None:
        self.callback = callback
        self.media_packets = {"send": 0, "recv": 0}
        self.fragments = sctp.FragmentLabeller()
        #: DTLS 1.3 hides a record's type (RFC 9147 §4): after the handshake, encrypted
        #: records are taken as application data, which the SCTP line describes.
        self.dtls_established = False

    def note(self, now: float, layer: str, text: str) -> None:
        self.callback(TraceRecord(now, layer, "note", text))

    # ---------------------------------------------------------------- the Observer calls
    def datagrams_received(
        self, batch: Sequence[tuple[bytes, Address]], local: Address | None, now: float
    ) -> None:
        for data, remote in batch:
            self.datagram("recv", data, remote, local, now)

    def datagrams_sent(
        self, transmits: Sequence[tuple[bytes, Address, Address]], now: float
    ) -> None:
        for data, local, remote in transmits:
            self.datagram("send", data, remote, local, now)

    def packets_received(self, packets: Sequence[bytes], now: float) -> None:
        for packet in packets:
            self.sctp("recv", packet, now)

    def packets_sent(self, packets: Sequence[bytes], now: float) -> None:
        for packet in packets:
            self.sctp("send", packet, now)

    def event(self, source: object, event: Event, now: float) -> None:
        """The notes: steps that are not one packet (RFC 8445 §8.1.1 selection, the end
        of the DTLS handshake RFC 6347 §4.2, alerts RFC 5246 §7.2, the association's
        end RFC 9260 §9)."""
        kind = type(event)
        if kind is SelectedPairChanged:
            assert isinstance(event, SelectedPairChanged)
            pair = source.selected_pair if isinstance(source, IceAgent) else None
            nominated = pair is not None and pair.nominated
            self.note(now, "ICE", describe_pair(event.local, event.remote, nominated))
        elif kind is dtls.HandshakeCompleted:
            assert isinstance(event, dtls.HandshakeCompleted)
            self.dtls_established = True
            profile = event.srtp_profile.name if event.srtp_profile else "none"
            self.note(
                now,
                "DTLS",
                f"handshake complete: {event.version} {event.cipher_suite.name}, "
                f"SRTP {profile} (RFC 6347 §4.2, RFC 5764 §4.2)",
            )
        elif kind is dtls.Closed:
            assert isinstance(event, dtls.Closed)
            how = "received" if event.by_peer else "sending"
            self.note(now, "DTLS", f"{how} close_notify (RFC 5246 §7.2.1)")
        elif kind is dtls.Failed:
            assert isinstance(event, dtls.Failed)
            error = event.error
            how = "received" if isinstance(error, dtls.PeerAlertError) else "sent"
            alert = dtls.alert_name(error.alert)
            self.note(now, "DTLS", f"failed: {error} (alert {alert} {how}, RFC 5246 §7.2.2)")
        elif kind is TransportClosed:
            assert isinstance(event, TransportClosed)
            why = f": {event.error}" if event.error else ""
            self.note(now, "SCTP", f"association closed{why}")

    # ---------------------------------------------------------------- one item each
    def datagram(
        self, direction: str, data: bytes, peer: Address, local: Address | None, now: float
    ) -> None:
        """One datagram on the wire, described by its protocol (RFC 7983 §7 demux)."""
        kind = classify(data)
        if kind is PacketKind.STUN:
            self.callback(TraceRecord(now, "ICE", direction, stun.describe(data), local, peer))
        elif kind is PacketKind.DTLS:
            if dtls.only_application_data(data, established=self.dtls_established):
                return  # application data: the SCTP line says what is inside
            self.callback(TraceRecord(now, "DTLS", direction, dtls.describe(data), local, peer))
        elif kind is PacketKind.RTP:
            self.media_packets[direction] += 1
            label = rtp.stream_label(data)
            self.callback(
                TraceRecord(
                    now,
                    "SRTP",
                    direction,
                    rtp.describe(data, secure=True),
                    local,
                    peer,
                    kind=f"SRTP {label}" if label else "",
                    payload_bytes=len(data),
                )
            )
        elif kind is PacketKind.RTCP:
            text = rtp.describe(data, secure=True)
            self.callback(TraceRecord(now, "SRTP", direction, text, local, peer))
        elif kind is PacketKind.TURN_CHANNEL:
            text = turn.describe(data, _relayed)
            self.callback(TraceRecord(now, "TURN", direction, text, local, peer))

    def sctp(self, direction: str, packet: bytes, now: float) -> None:
        """One SCTP packet inside DTLS (RFC 8261), its DATA numbered per message."""
        d = sctp.summarize(packet, self.fragments, direction, describe_payload)
        self.callback(
            TraceRecord(
                now,
                "SCTP",
                direction,
                d.text,
                kind=f"SCTP {d.kind}" if d.kind else "",
                payload_bytes=d.payload_bytes,
                messages=d.messages,
                streams=d.streams,
            )
        )
