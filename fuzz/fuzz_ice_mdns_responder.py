"""atheris harness: hostile bytes into the mDNS query reader and responder
(pyrtcstack.ice.mdns_responder).

Invariants: :func:`parse_questions` raises nothing but ``MdnsParseError``;
:class:`MdnsResponder` never raises, and every answer it sends is a well-formed response
that carries our address. Run:
``.venv/bin/python fuzz/fuzz_ice_mdns_responder.py -atheris_runs=500000``.
"""

from __future__ import annotations

import contextlib
import sys

from pyrtcstack.ice.mdns import MdnsParseError, parse_addresses
from pyrtcstack.ice.mdns_responder import MdnsResponder, parse_questions

NAME = "3f2b8c4e-9a1d-4c7e-8b2f-5d6e7f8a9b0c.local"


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    with contextlib.suppress(MdnsParseError):
        parse_questions(data)
    responder = MdnsResponder()
    responder.add_name(NAME, "192.0.2.7")
    port = 5353 if data[:1] == b"\x00" else 40000
    responder.receive_datagram(data, ("192.0.2.50", port), 0.0)
    for out, _dst in responder.datagrams_to_send(0.0):
        assert parse_addresses(out, NAME) == ["192.0.2.7"]


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
