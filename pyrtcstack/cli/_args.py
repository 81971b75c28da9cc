"""What every subcommand shares to turn a person's mistake into one clear line.

* :class:`CliError`: raised by a command (or by the helpers here) for a mistake in what the
  person typed or in their environment (a file that is not there, a port already taken);
  :func:`pyrtcstack.cli.main` prints ``pyrtcstack COMMAND: message`` on stderr and exits
  with its ``code``. The library's own documented errors and :class:`OSError` are turned
  into such a line there too; anything else is a bug and keeps its traceback.
* argparse types that validate before anything runs: :func:`host_port` (ports 1–65535,
  or 0 = any free port where the command listens; never wrapped modulo 65536),
  :func:`ws_url`, :func:`number`.
* :func:`listening` (an address already in use becomes "cannot listen on ADDRESS: …"),
  :func:`resolve` (a name that does not resolve says which name), :func:`server_tls` and
  :func:`client_tls` (certificate files that are missing or not PEM say which file).

Servers bind the loopback address by default (``127.0.0.1``); ``--listen 0.0.0.0:PORT``
(or the server's host option) exposes them to the network.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import os
import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

from ..common.core import Address

__all__ = [
    "LOOPBACK",
    "CliError",
    "Parser",
    "client_tls",
    "describe_os_error",
    "end_status_line",
    "format_address",
    "host_port",
    "listening",
    "number",
    "parse_host_port",
    "plain",
    "read_input",
    "resolve",
    "server_tls",
    "status_line",
    "ws_url",
]

#: Where every server listens unless told otherwise.
LOOPBACK = "127.0.0.1"

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,6}")


class CliError(Exception):
    """A person's mistake (or their environment's): one line on stderr, exit ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj):`~?([^`]+)`")


def plain(text: str) -> str:
    """Help text without reST markup: ``x`` and :mod:`x` become x."""
    return _ROLE.sub(r"\1", text).replace("``", "")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``pyrtcstack stun: error: … (see --help)``) and
    help texts shown without reST markup (the docstrings they come from keep it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        return plain(super().format_help())

    def format_usage(self) -> str:
        return plain(super().format_usage())


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-``: standard input); a :class:`CliError` (one line, exit 1)
    when it cannot be read."""
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", code=1) from None


def describe_os_error(exc: OSError) -> str:
    """``No such file or directory: '/x'`` — without the ``[Errno 2]`` prefix."""
    if isinstance(exc, TimeoutError) and not exc.args:
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        # "[SSL: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4149)"
        text = str(exc.args[1] if len(exc.args) > 1 else exc)
        return re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", text) or "TLS error"
    text = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        text += f": {exc.filename!r}"
    return text


def _check_host(host: str, what: str) -> str:
    address, _, scope = host.partition("%")
    if not scope or _SCOPE.fullmatch(scope):  # an IPv6 zone (fe80::1%eth0): a name, no more
        try:
            return str(ipaddress.ip_address(host if scope else address))
        except ValueError:
            pass
    if not _HOSTNAME.fullmatch(host) or host.replace(".", "").isdigit():
        raise CliError(f"{what}: {host!r} is not a host name or IP address")
    return host


def _check_port(text: str, what: str, listen: bool) -> int:
    low = 0 if listen else 1
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= 65535:
        span = "0 (any free port) to 65535" if listen else "1 to 65535"
        raise CliError(f"{what}: the port must be a number from {span}, not {text!r}")
    return int(text)


def parse_host_port(
    text: str,
    *,
    default_port: int | None = None,
    default_host: str | None = None,
    listen: bool = False,
    what: str = "address",
) -> Address:
    """``host:port``, ``[v6]:port``, ``host`` or a bare IPv6 address (with
    ``default_port``), a bare ``port`` (with ``default_host``). Raises :class:`CliError`."""
    text = text.strip()
    host: str | None
    port: str | None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise CliError(f"{what}: expected [IPv6]:PORT, got {text!r}")
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif text.count(":") > 1:
        host, port = text, None
    elif _DIGITS.fullmatch(text) and default_host is not None:
        host, port = None, text
    else:
        host, port = text, None
    if not host:
        if default_host is None:
            raise CliError(f"{what}: expected HOST:PORT, got {text!r}")
        host = default_host
    if port is None:
        if default_port is None:
            raise CliError(f"{what}: expected HOST:PORT (the port is missing), got {text!r}")
        return (_check_host(host, what), default_port)
    return (_check_host(host, what), _check_port(port, what, listen))


def host_port(
    *, default_port: int | None = None, default_host: str | None = None, listen: bool = False
) -> Callable[[str], Address]:
    """An argparse ``type=`` for :func:`parse_host_port`."""

    def convert(text: str) -> Address:
        try:
            return parse_host_port(
                text, default_port=default_port, default_host=default_host, listen=listen
            )
        except CliError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("address: ")) from None

    convert.__name__ = "HOST:PORT"  # argparse names the type in its messages
    return convert


def number(
    kind: Callable[[str], float] | type[int] = float,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
) -> Callable[[str], float]:
    """An argparse ``type=`` for a number within bounds (``above``: strictly greater)."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be more than {above:g}, not {text}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, not {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text}")
        return value

    convert.__name__ = "number"
    return convert


def ws_url(text: str) -> str:
    """An argparse ``type=``: a ``ws://`` or ``wss://`` URL with a host."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("ws", "wss"):
        hint = f" (did you mean ws://{text}?)" if not sep else ""
        raise argparse.ArgumentTypeError(f"expected a ws:// or wss:// URL, got {text!r}{hint}")
    authority = rest.split("/", 1)[0].rpartition("@")[2]
    if not authority:
        raise argparse.ArgumentTypeError(f"no host in {text!r}")
    if authority.startswith("[") or authority.count(":") == 1:
        try:
            parse_host_port(authority, default_port=443)
        except CliError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def format_address(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def resolve(host: str, port: int, kind: socket.SocketKind = socket.SOCK_DGRAM) -> Address:
    """The first address ``host`` resolves to; :class:`CliError` naming the host if none."""
    try:
        info = socket.getaddrinfo(host, port, type=kind)
    except socket.gaierror as exc:
        raise CliError(f"cannot resolve {host!r}: {exc.strerror}", 1) from None
    addr = info[0][4]
    return (str(addr[0]), int(addr[1]))


@contextlib.contextmanager
def listening(addr: Address | str) -> Iterator[None]:
    """Binding inside: an OSError (address in use, not ours, no permission) becomes
    ``cannot listen on ADDRESS: reason``."""
    try:
        yield
    except (OverflowError, OSError) as exc:
        shown = addr if isinstance(addr, str) else format_address(addr)
        reason = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        if isinstance(exc, OSError) and exc.errno == 98:  # EADDRINUSE
            reason = "the address is already in use (another program listens there?)"
        raise CliError(f"cannot listen on {shown}: {reason}", 1) from None


def server_tls(cert: str, key: str | None) -> ssl.SSLContext:
    """A TLS server context from PEM files; :class:`CliError` naming the file if it fails."""
    for path in (cert, key):
        if path is not None and not os.path.isfile(path):
            raise CliError(f"no such certificate or key file: {path!r}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:
        files = cert if key is None else f"{cert} and {key}"
        raise CliError(
            f"cannot load a PEM certificate chain and key from {files}: {describe_os_error(exc)}"
        ) from None
    return context


def client_tls(ca_file: str | None) -> ssl.SSLContext:
    """The system trust store, or only ``ca_file`` (a private CA) when given."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except FileNotFoundError:
        raise CliError(f"no such CA file: {ca_file!r}") from None
    except OSError as exc:
        raise CliError(f"cannot load CA file {ca_file!r}: {describe_os_error(exc)}") from None


_status_open = False


def status_line(text: str) -> None:
    """Show ``text`` as the one status line on stderr (a progress bar), redrawn in place."""
    global _status_open
    sys.stderr.write(f"\r{text}\033[K" if sys.stderr.isatty() else f"\r{text}")
    sys.stderr.flush()
    _status_open = True


def end_status_line() -> None:
    """End the status line, if one is open, so the next message starts on its own line."""
    global _status_open
    if _status_open:
        sys.stderr.write("\n")
        sys.stderr.flush()
        _status_open = False
