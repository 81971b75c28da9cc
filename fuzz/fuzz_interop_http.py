"""Fuzz the URL harness's HTTP response parser and long-poll answer check: any bytes give
a JSON value or EndpointError, and a well-formed response carrying any body does too.

    .venv/bin/python fuzz/fuzz_interop_http.py -atheris_runs=200000
"""

from __future__ import annotations

import sys

from pyrtcstack.interop.remote import EndpointError, checked_messages, parse_response


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    wrapped = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data
    for raw in (data, wrapped, b"HTTP/1.1 200 OK\r\n" + data):
        try:
            value = parse_response(raw)
        except EndpointError:
            continue
        try:
            messages = checked_messages(value)
        except EndpointError:
            continue
        assert all(isinstance(m["seq"], int) and isinstance(m["kind"], str) for m in messages)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
