"""atheris harness: hostile bytes into the mDNS response reader (pyrtcstack.ice.mdns).

Invariant: :func:`parse_addresses` raises nothing but ``MdnsParseError`` and returns only
valid IP address strings. Run: ``.venv/bin/python fuzz/fuzz_ice_mdns.py -atheris_runs=500000``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import sys

from pyrtcstack.ice.mdns import MdnsParseError, parse_addresses

NAME = "0b9c6a8f-1d8e-4a52-9d1f-1a2b3c4d5e6f.local"


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    for name in (NAME, "a.local", ""):
        with contextlib.suppress(MdnsParseError):
            for address in parse_addresses(data, name):
                ipaddress.ip_address(address)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
