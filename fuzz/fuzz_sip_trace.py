"""Fuzz the SIP lines of the learner's trace (``sip call --trace``): :func:`describe` and
the :class:`SipTracer` on a user agent's observation points read what a peer sent, so any
bytes give lines, never an exception.

Invariants: :func:`describe` of the bytes (and of the message they parse to) is one
``str`` without a newline, a carriage return or an escape character, and holds no digest
``response`` value of the message; a traced :class:`UserAgent` with a call and a
registration open takes the bytes twice (a retransmission) and every record it hands out
is such a line; the tracer's memory of recent messages stays within its bound. Run:
``.venv/bin/python fuzz/fuzz_sip_trace.py -atheris_runs=200000 [SEED_DIR]`` (seed with the
messages of tests/data/sip/rfc4475.json).
"""

from __future__ import annotations

import random
import re
import sys

from pyrtcstack.common.trace import TraceRecord
from pyrtcstack.sip import (
    DigestClient,
    SipParseError,
    SipTracer,
    UserAgent,
    describe,
    parse_message,
)

_PEER = ("192.0.2.1", 5060)
_PASSWORD = "fuzz-pässword"
_RESPONSE = re.compile(rb'response\s*=\s*"?([0-9A-Za-z+/=]{8,})', re.IGNORECASE)
_AUTHORIZATION = re.compile(rb"(?im)^(proxy-)?authorization[ \t]*:.*$")
_records: list[object] = []


def _agent() -> tuple[UserAgent, SipTracer]:
    """A traced agent with an INVITE and a REGISTER out (fixed randomness, so seeds can
    hit their branches and tags)."""
    agent = UserAgent(
        ("192.0.2.2", 5060), user="alice", credentials=DigestClient("alice", _PASSWORD),
        rng=random.Random(0),
    )  # fmt: skip
    tracer = SipTracer(_records.append)
    agent.observer = tracer
    agent.invite("sip:bob@192.0.2.1", _PEER, 0.0, b"v=0\r\n")
    agent.register("sip:192.0.2.1", _PEER, 0.0)
    return agent, tracer


def _line(text: object, secrets: list[bytes]) -> None:
    assert isinstance(text, str), text
    assert "\n" not in text and "\r" not in text and "\x1b" not in text, text
    for secret in secrets:
        assert secret.decode("latin-1") not in text, (secret, text)


def _secrets(data: bytes) -> list[bytes]:
    """The digest responses in ``data`` that appear nowhere else in it (a Call-ID may
    be the same text: that one may be shown)."""
    others = _AUTHORIZATION.sub(b"", data)
    return [s for s in _RESPONSE.findall(data) if s not in others]


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    secrets = _secrets(data)
    _line(describe(data), secrets)
    try:
        message = parse_message(data)
    except SipParseError:
        message = None
    if message is not None:
        _line(describe(message), secrets)
    agent, tracer = _agent()
    for now in (1.0, 2.0):
        agent.receive_datagram(data, _PEER, now)
        while agent.next_event() is not None:
            pass
        for sent, _ in agent.datagrams_to_send(now):
            secrets += _secrets(sent)  # our own retry with credentials, after a 401
        when = agent.get_timer()
        if when is not None:
            agent.handle_timer(max(when, now))
    secrets.append(_PASSWORD.encode())
    for record in _records:
        assert isinstance(record, TraceRecord)
        _line(record.text, secrets)
    _records.clear()
    assert all(len(seen) <= SipTracer.REMEMBERED for seen in tracer._seen.values())


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
