"""atheris harness: hostile bytes into the DNS codec (pyrtcstack.dns).

Invariants: :meth:`Message.decode` and :func:`check_response` raise nothing but
``pyrtcstack.dns.DnsParseError`` (``DnsMismatchError`` is one); whatever decodes
re-encodes (compressed and not) to bytes that decode to the same message;
:func:`answers_for` never raises on a decoded message and returns at most as many records
as the message has; a SIP :class:`ServerLocator` given the message as the answer to each of
its questions ends with targets or ``LocateError`` within its bounds. Run:
``.venv/bin/python fuzz/fuzz_dns.py -atheris_runs=100000``
(seeded with the dnsmasq answers of tests/test_dns_codec.py by tests/test_dns_fuzz_harness.py).
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.dns import (
    TYPE_A,
    TYPE_NAPTR,
    TYPE_SRV,
    DnsError,
    DnsParseError,
    Message,
    answers_for,
    check_response,
    make_query,
)
from pyrtcstack.sip import MAX_QUERIES, LocateError, ServerLocator

_QUERY = Message(0x410A, 0x0100, make_query("_sip._udp.example.test", TYPE_SRV).questions)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    try:
        message = Message.decode(data)
    except DnsParseError:
        message = None
    with contextlib.suppress(DnsParseError):
        check_response(_QUERY, data)
    if message is None:
        return
    for compress in (True, False):
        try:
            wire = message.encode(compress=compress)
        except DnsError:  # a decoded message past 64 KiB once its names are written whole
            if compress:
                raise AssertionError("a decoded message does not re-encode") from None
            continue
        try:
            again = Message.decode(wire)
        except DnsParseError as exc:
            raise AssertionError(f"DNS message does not round-trip: {exc}") from None
        if again != message:
            raise AssertionError("DNS message does not round-trip")
    _locate(message)
    names = {q.name for q in message.questions} | {r.name for r in message.answers}
    for name in list(names)[:8]:
        for rtype in (TYPE_A, TYPE_SRV, TYPE_NAPTR):
            if len(answers_for(message, name, rtype)) > len(message.answers):
                raise AssertionError("answers_for returned records the message lacks")


def _locate(message: Message) -> None:
    for uri in ("sip:bob@example.test", "sips:bob@example.test"):
        locator = ServerLocator(uri)
        try:
            while locator.next_query() is not None:
                locator.answer(message)
        except LocateError:
            continue
        if not locator.targets or locator.queries > MAX_QUERIES:
            raise AssertionError("the locator ended without targets or past its bound")


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
