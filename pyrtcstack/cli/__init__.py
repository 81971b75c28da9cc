"""The ``pyrtcstack`` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the
parsed arguments and returning the exit code). Modules are discovered here, so adding a
command never edits this file.

A person's mistake ends in one line on stderr and a non-zero exit, never a traceback:
argparse errors are one line (:class:`._args.Parser`); a command raises
:class:`._args.CliError` for what it finds wrong; the library's documented errors (a
:class:`~pyrtcstack.common.errors.PyrtcstackError` that is not API misuse) and
:class:`OSError` (files, sockets, names, TLS) are reported here. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from .. import __version__
from ..common.errors import LocalProtocolError, PyrtcstackError
from ._args import CliError, Parser, describe_os_error, end_status_line

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pyrtcstack",
        description="A pure-Python WebRTC protocol stack: tools to learn, test and debug WebRTC.",
    )
    parser.add_argument(
        "--version", action="version", version=f"pyrtcstack {__version__}", help="print the version"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def _innermost(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` were parsed for (``sdp explain``: the
    ``explain`` parser), so that its error names its own ``--help``."""
    while True:
        chosen = None
        for action in parser._actions:  # argparse keeps its subparsers only there
            if isinstance(action, argparse._SubParsersAction):
                dest = action.dest
                chosen = action.choices.get(getattr(args, dest, None) or "")
        if chosen is None:
            return parser
        parser = chosen


def _fail(command: str, message: str, code: int) -> int:
    sys.stdout.flush()
    prefix = f"pyrtcstack {command}" if command else "pyrtcstack"
    end_status_line()  # a progress line may be open on stderr: the message gets its own
    sys.stderr.write(f"{prefix}: {message}\n")
    sys.stderr.flush()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # said by the (sub)command they were given to, with its own --help
        _innermost(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    command = " ".join(
        str(part)
        for part in (getattr(args, "command", None), getattr(args, f"{args.command}_command", None))
        if part
    )
    try:
        code = int(func(args))
        end_status_line()
        return code
    except KeyboardInterrupt:
        end_status_line()
        return 130
    except BrokenPipeError:
        return 0
    except CliError as exc:
        return _fail(command, str(exc), exc.code)
    except PyrtcstackError as exc:
        if isinstance(exc, LocalProtocolError):
            raise  # the command called the library wrongly: a bug, keep the traceback
        return _fail(command, str(exc) or type(exc).__name__, 1)
    except OSError as exc:
        return _fail(command, describe_os_error(exc), 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
