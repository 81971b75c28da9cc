"""Fuzz the packet descriptions the learner's trace prints (each protocol's ``describe``,
and the :class:`~pyrtcstack.peerconnection.Tracer` that composes them): they read what a
peer sent, so any bytes give one line, never an exception.

Invariants: every line is a ``str`` without a newline or an escape character (text from
the wire is escaped); the tracer's tables stay within their bounds. Run:
``.venv/bin/python fuzz/fuzz_trace.py -atheris_runs=200000``.
"""

from __future__ import annotations

import sys

from pyrtcstack import datachannel, dtls, rtp, sctp, stun, turn
from pyrtcstack.peerconnection import RunSummary, Tracer, TraceRecord

_records: list[object] = []
_tracer = Tracer(_records.append)
_summary = RunSummary(lambda record, source: None)


def _line(text: str) -> None:
    assert isinstance(text, str) and "\n" not in text and "\x1b" not in text, text


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    _line(stun.describe(data))
    _line(dtls.describe(data))
    dtls.only_application_data(data, established=True)
    _line(sctp.describe(data, sctp.FragmentLabeller(), "recv", datachannel.describe_payload))
    _line(rtp.describe(data))
    _line(rtp.describe(data, secure=True))
    rtp.stream_label(data)
    _line(turn.describe(data, dtls.describe))
    if data:
        datachannel.describe_payload(data[0], data[1:])
    direction = "send" if len(data) & 1 else "recv"
    _tracer.datagram(direction, data, ("192.0.2.1", 9), None, 0.0)
    _tracer.sctp(direction, data, 0.0)
    for record in _records:
        assert isinstance(record, TraceRecord)
        _line(record.text)
        _summary.add(record)
    _records.clear()
    assert len(_tracer.fragments._state) <= sctp.FragmentLabeller.MAX_TRACKED


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
