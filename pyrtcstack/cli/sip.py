"""``pyrtcstack sip explain FILE|-``: a SIP message explained field by field."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyrtcstack.sip import SipParseError, explain_message, parse_message

from ._args import CliError

__all__ = ["register"]


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _normalise(data: bytes) -> bytes:
    """A pasted message has lost its CRLFs: put them back (RFC 3261 §7 needs CRLF), and
    drop a Content-Length the paste made wrong (the body is what was pasted)."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").lstrip(b"\r\n")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return head + b"\r\n\r\n"
    framing = (b"content-length", b"l")
    lines = [
        ln for ln in head.split(b"\r\n") if ln.split(b":", 1)[0].strip().lower() not in framing
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _explain(args: argparse.Namespace) -> int:
    try:
        data = _read(args.file)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}", code=1) from None
    try:
        message = parse_message(_normalise(data))
    except SipParseError as exc:
        raise CliError(f"{args.file}: not a valid SIP message: {exc}", code=1) from None
    sys.stdout.write(explain_message(message))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sip", help="explain a SIP message (RFC 3261)", description=__doc__
    )
    commands = parser.add_subparsers(dest="sip_command", metavar="ACTION", required=True)
    p = commands.add_parser(
        "explain",
        help="annotated walk through a SIP request or response, with RFC references",
        description="Walk through a SIP message (a file, or - for standard input; LF line ends "
        "are accepted, as from a paste) field by field: what each means, with its RFC 3261 "
        "section, the transaction and dialog it belongs to, and its body.",
    )
    p.add_argument("file", metavar="FILE", help="SIP message file, or - for standard input")
    p.set_defaults(func=_explain)
