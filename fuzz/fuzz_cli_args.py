"""Fuzz the command line's text parsers (``pyrtcstack/cli/_args.py``, ``cli/stun.py``):
any text gives a valid address or the documented refusal, never another exception.

Invariants: :func:`parse_host_port` (and ``stun``'s URL-aware ``parse_hostport``) return a
host that is an IP address or a DNS name and a port in 1–65535 (0–65535 when listening),
or raise ``CliError``; the argparse types (:func:`host_port`, :func:`ws_url`,
:func:`number`) raise only ``argparse.ArgumentTypeError``; a returned address formats and
parses back to itself. Run: ``.venv/bin/python fuzz/fuzz_cli_args.py -atheris_runs=200000``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from pyrtcstack.cli._args import (
    CliError,
    format_address,
    host_port,
    number,
    parse_host_port,
    ws_url,
)
from pyrtcstack.cli.stun import parse_hostport

_TYPES = [
    host_port(),
    host_port(default_port=3478),
    host_port(default_host="127.0.0.1", listen=True),
    ws_url,
    number(above=0),
    number(int, low=0, high=65535),
]


def _check(addr: tuple[str, int], listen: bool) -> None:
    host, port = addr
    assert host and isinstance(port, int)
    assert (0 if listen else 1) <= port <= 65535, addr
    again = parse_host_port(format_address(addr), listen=listen)
    assert again == addr, (addr, again)


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    text = data.decode("utf-8", errors="replace")
    for listen in (False, True):
        for default_port in (None, 3478):
            try:
                addr = parse_host_port(text, default_port=default_port, listen=listen)
            except CliError:
                continue
            _check(addr, listen)
    with contextlib.suppress(CliError):
        _check(parse_hostport(text), False)
    for convert in _TYPES:
        with contextlib.suppress(argparse.ArgumentTypeError):
            convert(text)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
