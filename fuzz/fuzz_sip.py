"""atheris harness: hostile bytes into the SIP codec (datagram and stream).

Invariants: :func:`parse_message` and :meth:`StreamFramer.feed` raise nothing but
``pyrtcstack.sip.SipParseError``; whatever parses re-encodes to a message that parses to
the same value, every typed accessor works on it, and the same bytes fed to a stream
framer in two pieces give the same messages as in one; a :class:`TransactionLayer` with
open transactions takes the bytes twice (a retransmission) without raising; what does not
parse gets no answer or one that parses and is at most ``MAX_ERROR_GROWTH`` octets longer
than the input (:func:`~pyrtcstack.sip.reject.error_response`, the 400 answers). Run:
``.venv/bin/python fuzz/fuzz_sip.py -atheris_runs=1000000 [SEED_DIR]`` (seed with the
messages of tests/data/sip/rfc4475.json).
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.sip import (
    DigestChallenge,
    Message,
    Request,
    SipParseError,
    SipUri,
    StreamFramer,
    TransactionLayer,
    explain_message,
    parse_message,
)
from pyrtcstack.sip.reject import MAX_ERROR_GROWTH, error_response

_PEER = ("192.0.2.1", 5060)


def _layer() -> TransactionLayer:
    """A transaction layer with an INVITE and a REGISTER client transaction open, whose
    branches are fixed so the fuzzer can hit them."""
    layer = TransactionLayer(("192.0.2.2", 5060))
    for method in ("INVITE", "REGISTER"):
        headers = (
            ("Via", f"SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKfuzz{method}"),
            ("From", "<sip:a@example.com>;tag=1"),
            ("To", "<sip:b@example.com>"),
            ("Call-ID", "fuzz"),
            ("CSeq", f"1 {method}"),
        )
        layer.send_request(Request(method, "sip:b@example.com", headers), _PEER, 0.0)
    return layer


def _transactions(data: bytes) -> None:
    """The transaction layer drops (and counts) what it cannot use; it never raises."""
    layer = _layer()
    for now in (1.0, 2.0):
        layer.receive_datagram(data, _PEER, now)
        while layer.next_event() is not None:
            pass
        layer.datagrams_to_send(now)
        when = layer.get_timer()
        if when is not None:
            layer.handle_timer(max(when, now))


def _exercise(message: Message) -> None:
    explain_message(message)  # the learner's walk-through reads every field: it must not raise
    data = message.encode()
    again = parse_message(data)
    if again != message or again.encode() != data:
        raise AssertionError("SIP message does not round-trip")
    _ = message.vias, message.from_, message.to, message.call_id, message.cseq
    _ = message.contacts, message.max_forwards, message.contact_star
    for via in message.vias:
        _ = via.branch, str(via)
    for na in (message.from_, message.to, *message.contacts):
        _ = na.tag, str(na)
        with contextlib.suppress(SipParseError):
            na.sip_uri()
    for name in ("WWW-Authenticate", "Proxy-Authenticate"):
        for value in message.get_all(name):
            with contextlib.suppress(SipParseError):
                DigestChallenge.parse(value)
    uri = getattr(message, "uri", None)
    if isinstance(uri, str) and uri[:4].lower() in ("sip:", "sips"):
        parsed = SipUri.parse(uri)
        if SipUri.parse(str(parsed)) != parsed:
            raise AssertionError("SIP URI does not round-trip")


def _stream(data: bytes) -> list[Message] | None:
    try:
        return StreamFramer().feed(data)
    except SipParseError:
        return None


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        message = parse_message(data)
    except SipParseError as exc:
        message = None
        answer = error_response(data, exc, "fuzztag0123456789")
        if answer is not None:
            if len(answer) > len(data) + MAX_ERROR_GROWTH:
                raise AssertionError("an error answer amplifies") from None
            parse_message(answer)
    if message is not None:
        _exercise(message)
    _transactions(data)
    whole = _stream(data)
    if whole is not None and len(data) > 1:
        framer = StreamFramer()
        try:
            split = framer.feed(data[: len(data) // 2]) + framer.feed(data[len(data) // 2 :])
        except SipParseError:
            raise AssertionError("a stream that parses whole fails in two pieces") from None
        if split != whole:
            raise AssertionError("stream framing depends on where the bytes were cut")
        for m in whole:
            _exercise(m)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
