"""``pyrtcstack stun HOST[:PORT]`` and ``pyrtcstack stun-server``.

``stun`` sends a Binding request and prints the mapped (server-reflexive) address. When the
server returns OTHER-ADDRESS (an RFC 5780 server, e.g. coturn with two listening IPs and
``--alt-listening-port``), it goes on to classify the NAT's mapping and filtering behaviour
(RFC 5780 §4.3/§4.4) and explains what that means for WebRTC. There is no default server:
name one.

``stun-server`` answers Binding requests; with ``--other IP2:PORT2`` it is an RFC 5780
server on four sockets (IP1:P1, IP1:P2, IP2:P1, IP2:P2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..aio import (
    discover_nat,
    serve_stun,
    source_address_for,
    stun_binding,
)
from ..common.core import Address
from ..stun import AttributeType, LongTermServerAuth, RetransmissionPolicy
from ._args import LOOPBACK, CliError, listening, number, parse_host_port, resolve

__all__ = ["CLIENT_DESCRIPTION", "SERVER_DESCRIPTION", "parse_hostport", "register"]

DEFAULT_PORT = 3478


CLIENT_DESCRIPTION = """\
Send a STUN Binding request (RFC 8489) to a server and print the mapped address: this
host's address as the server sees it (server-reflexive). If the server also returns
OTHER-ADDRESS (an RFC 5780 server, e.g. coturn with two IPs and --alt-listening-port),
go on to classify the NAT's mapping and filtering behaviour (RFC 5780 sections 4.3 and 4.4)
and explain what it means for WebRTC. There is no default server: name one, as HOST,
HOST:PORT, [IPv6]:PORT or a stun:HOST[:PORT] URL (RFC 7064).

  pyrtcstack stun stun.example.org
  pyrtcstack stun stun:stun.example.org:3478 --json
"""

SERVER_DESCRIPTION = f"""\
Answer STUN Binding requests (RFC 8489) on UDP. With --other IP2:PORT2 it is an RFC 5780
server on four sockets (IP1:P1, IP1:P2, IP2:P1, IP2:P2), so that clients can classify
their NAT. With --user it demands long-term credentials (RFC 8489 section 9.2).

Like every pyrtcstack server it listens on the loopback address by default
({LOOPBACK}:{DEFAULT_PORT}); use --listen 0.0.0.0:{DEFAULT_PORT} to serve the network.

  pyrtcstack stun-server --listen 0.0.0.0:3478
  pyrtcstack stun-server --listen 192.0.2.1:3478 --other 192.0.2.2:3479
"""


def parse_hostport(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port``, a bare IPv6 address, or a ``stun:`` URL
    (RFC 7064: ``stun:host[:port]``). Raises :class:`~._args.CliError`."""
    lowered = text.lower()
    if lowered.startswith("stuns:"):
        raise CliError("stuns: (STUN over TLS) is not supported here; use stun:HOST[:PORT]")
    if lowered.startswith("stun:"):
        text = text[5:].removeprefix("//")
        text, _, query = text.partition("?")
        if query and query.lower() not in ("transport=udp", ""):
            raise CliError(f"only UDP is supported here, not {query!r}")
    return parse_host_port(text, default_port=default_port, what="server")


def _server_arg(text: str) -> Address:
    try:
        return parse_hostport(text)
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("server: ")) from None


def _listen_arg(text: str) -> Address:
    try:
        return parse_host_port(text, default_port=DEFAULT_PORT, listen=True)
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("address: ")) from None


def _local_arg(text: str) -> Address:
    try:
        return parse_host_port(text, default_port=0, listen=True)
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("address: ")) from None


def _credentials_arg(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD (with a colon)")
    return name, password


def _fmt(addr: Address | None) -> str | None:
    if addr is None:
        return None
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = subparsers.add_parser(
        "stun",
        help="ask a STUN server for our mapped address; classify the NAT (RFC 5780)",
        description=CLIENT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument(
        "server",
        metavar="HOST[:PORT]",
        type=_server_arg,
        help=f"STUN server: HOST, HOST:PORT, [IPv6]:PORT or stun:HOST[:PORT] (port {DEFAULT_PORT})",
    )
    client.add_argument(
        "--local",
        metavar="HOST[:PORT]",
        type=_local_arg,
        help="bind the client socket here (default: any address, any port)",
    )
    client.add_argument("--no-classify", action="store_true", help="only print the mapped address")
    client.add_argument(
        "--probe-timeout",
        type=number(above=0, high=3600),
        default=3.5,
        metavar="S",
        help="how long a filtering probe waits for an answer that may never come "
        "(default 3.5 s; RFC 8489's full schedule is 39.5 s)",
    )
    client.add_argument(
        "--timeout",
        type=number(above=0, high=3600),
        default=39.5,
        metavar="S",
        help="give up on the Binding request after about S seconds (default: RFC 8489's 39.5)",
    )
    client.add_argument(
        "--user",
        metavar="USER:PASSWORD",
        type=_credentials_arg,
        help="long-term credentials for servers that demand them (RFC 8489 section 9.2)",
    )
    client.add_argument(
        "--json", action="store_true", help="print a JSON object (null where there is no value)"
    )
    client.set_defaults(func=_run_client)

    server = subparsers.add_parser(
        "stun-server",
        help="serve STUN Binding (and RFC 5780 with --other); loopback unless --listen",
        description=SERVER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=_listen_arg,
        default=(LOOPBACK, DEFAULT_PORT),
        help=f"primary address (default {LOOPBACK}:{DEFAULT_PORT}, loopback only; "
        f"0.0.0.0:{DEFAULT_PORT} to serve the network; port 0: any free port)",
    )
    server.add_argument(
        "--other",
        metavar="IP2:PORT2",
        type=_listen_arg,
        help="alternate address for RFC 5780 (different IP and port from --listen)",
    )
    server.add_argument("--software", default="pyrtcstack", help="SOFTWARE attribute ('' = none)")
    server.add_argument(
        "--mapped-address", action="store_true", help="also send the legacy MAPPED-ADDRESS"
    )
    server.add_argument(
        "--user",
        action="append",
        metavar="USER:PASSWORD",
        type=_credentials_arg,
        help="require long-term credentials (RFC 8489 section 9.2); repeatable",
    )
    server.add_argument(
        "--realm", default="pyrtcstack", help="REALM for --user (default pyrtcstack)"
    )
    server.add_argument(
        "--duration",
        type=number(above=0),
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    server.set_defaults(func=_run_server)


def _probe_policy(seconds: float) -> RetransmissionPolicy:
    # RFC 8489 §6.2.1 shape (0.5 s doubling) cut short: sends at 0, 0.5, 1.5 ... and a final
    # wait, so that a probe gives up after about ``seconds``.
    rc, t, rto = 1, 0.0, 0.5
    while rc < 7 and t + rto < seconds:
        t += rto
        rto *= 2
        rc += 1
    rm = max(1, round((seconds - t) / 0.5))
    return RetransmissionPolicy(rto=0.5, rc=rc, rm=rm)


async def _client(args: argparse.Namespace) -> int:
    server = resolve(*args.server)
    local = resolve(*args.local) if args.local else None
    out: dict[str, object] = {"server": _fmt(server)}
    policy = _probe_policy(args.timeout)
    # No answer (StunTimeoutError) or an error response (StunResponseError): documented
    # errors, reported as one line by pyrtcstack.cli.main.
    # An ICMP port unreachable ends the wait at once (a mistyped port, no server there).
    result = await stun_binding(
        server, local_addr=local, policy=policy, credentials=args.user, stop_on_unreachable=True
    )
    resp = result.response
    lhost, lport = result.local
    if lhost in ("0.0.0.0", "::"):
        lhost = source_address_for(server)
    out["local"] = _fmt((lhost, lport))
    out["mapped"] = _fmt(result.mapped)
    out["rtt_ms"] = None if result.rtt is None else round(result.rtt * 1000, 2)
    other = resp.get_address(AttributeType.OTHER_ADDRESS)
    out["other_address"] = _fmt(other)
    out["response_origin"] = _fmt(resp.get_address(AttributeType.RESPONSE_ORIGIN))
    software = resp.get_text(AttributeType.SOFTWARE)
    if software:
        out["software"] = software
    if other is not None and not args.no_classify:
        report = await discover_nat(
            server,
            local_addr=local,
            policy=policy,
            probe_policy=_probe_policy(args.probe_timeout),
        )
        out["nat_local"] = _fmt(report.local)
        out["nat_mapped"] = _fmt(report.mapped)
        out["mapping"] = report.mapping.value
        out["filtering"] = report.filtering.value
        out["verdict"] = report.verdict
        out["explanation"] = report.explain()
        if report.error:
            out["error"] = report.error
    elif other is None and not args.no_classify:
        out["note"] = (
            "the server sent no OTHER-ADDRESS, so it cannot classify the NAT (RFC 5780); "
            "a mapped address different from the local one means a NAT is in the path"
        )
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:16s} {'-' if value is None else value}")
    return 0


async def _server(args: argparse.Namespace) -> int:
    primary = resolve(*args.listen)
    other = resolve(*args.other) if args.other else None
    if other is not None and (other[0] == primary[0] or other[1] == primary[1]):
        raise CliError("--other needs a different IP and a different port from --listen")
    long_term = None
    if args.user:
        long_term = LongTermServerAuth(args.realm, dict(args.user))
    with listening(f"{_fmt(primary)} and {_fmt(other)}" if other else primary):
        runner = await serve_stun(
            primary,
            other=other,
            software=args.software or None,
            mapped_address=args.mapped_address,
            long_term=long_term,
        )
    for addr in runner.addresses:
        print(f"listening on udp {_fmt(addr)}", flush=True)
    if args.duration is None:
        print("(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        if args.duration is not None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        runner.close()
        print(
            f"answered {runner.server.answered} requests, dropped {runner.server.dropped}",
            flush=True,
        )
    return 0


def _run_client(args: argparse.Namespace) -> int:
    return asyncio.run(_client(args))


def _run_server(args: argparse.Namespace) -> int:
    return asyncio.run(_server(args))
