"""atheris harness: hostile bytes into the SIP codec (datagram and stream).

Invariants: :func:`parse_message` and :meth:`StreamFramer.feed` raise nothing but
``pyrtcstack.sip.SipParseError``; whatever parses re-encodes to a message that parses to
the same value, every typed accessor works on it, and the same bytes fed to a stream
framer in two pieces give the same messages as in one. Run:
``.venv/bin/python fuzz/fuzz_sip.py -atheris_runs=1000000 [SEED_DIR]`` (seed with the
messages of tests/data/sip/rfc4475.json).
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.sip import Message, SipParseError, SipUri, StreamFramer, parse_message


def _exercise(message: Message) -> None:
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
    except SipParseError:
        message = None
    if message is not None:
        _exercise(message)
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
