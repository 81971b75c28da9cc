"""A printed timeline of trace records (``demo --trace``, ``sip call --trace``).

Records from every tracer (the peer connection's, SIP's) carry the driver's clock, so
one :class:`Timeline` interleaves them in the order they happen, each stamped relative to
the first; runs of repetitive records (SCTP DATA, SRTP) fold into one line each unless
``summarise`` is off.
"""

from __future__ import annotations

from typing import Any, TextIO

from ..common.trace import TraceRecord
from ..peerconnection import RunSummary

__all__ = ["Timeline"]


class Timeline:
    """Prints trace records as a timeline relative to the first one: the time, who
    (``A`` for a note of A's, ``A→B`` for what A sent B), the layer and the text."""

    def __init__(self, out: TextIO, enabled: bool, summarise: bool = True) -> None:
        self.out = out
        self.enabled = enabled
        self.start: float | None = None
        self.lines = 0
        self.runs = RunSummary(self._print_record) if summarise else None

    def _stamp(self, when: float) -> str:
        if self.start is None:
            self.start = when
        return f"{(when - self.start) * 1000:9.1f} ms"

    def say(self, when: float, who: str, layer: str, text: str) -> None:
        if not self.enabled:
            return
        if self.runs is not None:
            self.runs.flush()  # a run's summary line comes before what follows it
        self._print(when, who, layer, text)

    def _print(self, when: float, who: str, layer: str, text: str) -> None:
        self.lines += 1
        print(f"{self._stamp(when)}  {who:<4} {layer:<9} {text}", file=self.out)

    def _print_record(self, record: TraceRecord, who: str) -> None:
        if record.kind == "run" and record.since is not None and self.start is not None:
            # a folded run: stamped with its start, its end in the text
            until = (record.time - self.start) * 1000
            self._print(record.since, who, record.layer, f"… {record.text}, until {until:.1f} ms")
            return
        self._print(record.time, who, record.layer, record.text)

    def flush(self) -> None:
        if self.runs is not None:
            self.runs.flush()

    def tracer(self, me: str, other: str, *, received: bool = False) -> Any:
        """The callback for a tracer of ``me`` (``Settings.tracer``, a ``SipTracer``).
        What ``me`` received is left out unless ``received``: when both peers are
        traced into one timeline, each datagram is narrated once, by its sender; a
        command that traces one side (``sip call``) shows both directions."""

        def on_record(record: object) -> None:
            assert isinstance(record, TraceRecord)
            if record.direction == "recv":
                if not received:
                    return
                who = f"{other}→{me}"
            else:
                who = me if record.direction == "note" else f"{me}→{other}"
            if self.runs is not None:
                self.runs.add(record, who)
            else:
                self._print_record(record, who)

        return on_record
