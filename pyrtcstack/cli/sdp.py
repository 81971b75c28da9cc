"""``pyrtcstack sdp explain|check FILE|-``: learn from an SDP, or find what breaks interop."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyrtcstack.sdp import ParseError, SessionDescription
from pyrtcstack.sdp import check_description as check
from pyrtcstack.sdp import explain_description as explain

from ._args import CliError, read_input

__all__ = ["register"]


def _load(path: str) -> SessionDescription:
    """The description in ``path``; a :class:`CliError` (one line, exit 1) when it
    cannot be read or is not SDP."""
    data = read_input(path)
    try:
        return SessionDescription.parse(data)
    except ParseError as exc:
        raise CliError(f"{path}: not a valid SDP: {exc}", code=1) from None


def _explain(args: argparse.Namespace) -> int:
    desc = _load(args.file)
    sys.stdout.write(explain(desc))
    return 0


def _check(args: argparse.Namespace) -> int:
    desc = _load(args.file)
    problems = check(desc, args.type)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        print(p)
    if not problems:
        print("no interop problems found")
    elif not errors:
        print(f"{len(problems)} warning(s), nothing that breaks interop")
    else:
        print(
            f"{len(errors)} error(s) that break interop, {len(problems) - len(errors)} warning(s)"
        )
    return 1 if errors else 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sdp", help="explain or check an SDP (RFC 8866, JSEP RFC 9429)", description=__doc__
    )
    commands = parser.add_subparsers(dest="sdp_command", metavar="ACTION", required=True)
    p = commands.add_parser(
        "explain",
        help="annotated walk through an SDP, with RFC references",
        description="Walk through an SDP (a file, or - for standard input) line by line: what "
        "each line and attribute means, with its RFC section (RFC 8866, JSEP RFC 9429).",
    )
    p.add_argument("file", metavar="FILE", help="SDP file, or - for standard input")
    p.set_defaults(func=_explain)
    p = commands.add_parser(
        "check",
        help="list what would break interop (exit code 1 if anything does)",
        description="List what in an SDP (a file, or - for standard input) would break interop "
        "with browsers and other WebRTC stacks; exit status 1 if anything does.",
    )
    p.add_argument("file", metavar="FILE", help="SDP file, or - for standard input")
    p.add_argument(
        "--type",
        choices=("offer", "answer"),
        default=None,
        help="what the SDP is (guessed from a=setup when omitted)",
    )
    p.set_defaults(func=_check)
