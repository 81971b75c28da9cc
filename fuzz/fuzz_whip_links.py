"""Fuzz the Link header parser (``pyrtcstack/whip/links.py``, RFC 8288 §3 / RFC 9725
§4.6): any text gives links or :class:`LinkHeaderError`, never another exception.

Invariants: at most MAX_LINKS links; every ``ice-server`` link written back with
``IceServerLink.to_header`` parses to the same server. Run:
``.venv/bin/python fuzz/fuzz_whip_links.py -atheris_runs=200000``.
"""

from __future__ import annotations

import sys

from pyrtcstack.whip import LinkHeaderError, ice_servers, parse_link_header
from pyrtcstack.whip.links import MAX_LINKS


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    text = data.decode("utf-8", errors="replace")
    try:
        links = parse_link_header(text.split("\n"))
    except LinkHeaderError:
        return
    assert len(links) <= MAX_LINKS
    for server in ice_servers(links):
        try:
            header = server.to_header()
        except ValueError:
            continue  # a control character in a parameter: cannot be written back
        assert ice_servers(parse_link_header(header)) == [server], (server, header)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
