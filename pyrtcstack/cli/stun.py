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
import socket
import sys

from ..aio.stun import (
    StunResponseError,
    StunTimeoutError,
    discover_nat,
    serve_stun,
    source_address_for,
    stun_binding,
)
from ..common.core import Address
from ..stun import AttributeType, RetransmissionPolicy
from ..stun.longterm import LongTermServerAuth

__all__ = ["parse_hostport", "register"]

DEFAULT_PORT = 3478


def parse_hostport(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if text.count(":") == 1:
        host, port_text = text.split(":")
        return host, int(port_text)
    return text, default_port


def _resolve(host: str, port: int) -> Address:
    info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    addr = info[0][4]
    return (str(addr[0]), int(addr[1]))


def _fmt(addr: Address | None) -> str:
    if addr is None:
        return "-"
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = subparsers.add_parser(
        "stun",
        help="ask a STUN server for our mapped address; classify the NAT (RFC 5780)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument("server", metavar="HOST[:PORT]", help=f"STUN server (port {DEFAULT_PORT})")
    client.add_argument("--local", metavar="HOST:PORT", help="bind the client socket here")
    client.add_argument("--no-classify", action="store_true", help="only print the mapped address")
    client.add_argument(
        "--probe-timeout",
        type=float,
        default=3.5,
        metavar="S",
        help="how long a filtering probe waits for an answer that may never come "
        "(default 3.5 s; RFC 8489's full schedule is 39.5 s)",
    )
    client.add_argument(
        "--timeout",
        type=float,
        default=39.5,
        metavar="S",
        help="give up on the Binding request after about S seconds (default: RFC 8489's 39.5)",
    )
    client.add_argument(
        "--user",
        metavar="USER:PASSWORD",
        help="long-term credentials for servers that demand them (RFC 8489 §9.2)",
    )
    client.add_argument("--json", action="store_true", help="print a JSON object")
    client.set_defaults(func=_run_client)

    server = subparsers.add_parser(
        "stun-server",
        help="serve STUN Binding (and RFC 5780 with --other)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument(
        "--listen", metavar="HOST:PORT", default=f"0.0.0.0:{DEFAULT_PORT}", help="primary address"
    )
    server.add_argument(
        "--other",
        metavar="IP2:PORT2",
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
        help="require long-term credentials (RFC 8489 §9.2); repeatable",
    )
    server.add_argument("--realm", default="pyrtcstack", help="REALM for --user")
    server.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
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
    host, port = parse_hostport(args.server)
    server = _resolve(host, port)
    local = parse_hostport(args.local, 0) if args.local else None
    out: dict[str, object] = {"server": _fmt(server)}
    try:
        policy = _probe_policy(args.timeout)
        credentials = None
        if args.user:
            name, _, password = args.user.partition(":")
            credentials = (name, password)
        result = await stun_binding(
            server, local_addr=local, policy=policy, credentials=credentials
        )
    except StunTimeoutError as exc:
        print(f"stun: {exc}", file=sys.stderr)
        return 1
    except StunResponseError as exc:
        print(f"stun: {exc}", file=sys.stderr)
        return 1
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
            if value is not None:
                print(f"{key:16s} {value}")
    return 0


async def _server(args: argparse.Namespace) -> int:
    primary = _resolve(*parse_hostport(args.listen))
    other = _resolve(*parse_hostport(args.other)) if args.other else None
    long_term = None
    if args.user:
        users = dict(u.partition(":")[::2] for u in args.user)
        long_term = LongTermServerAuth(args.realm, users)
    runner = await serve_stun(
        primary,
        other=other,
        software=args.software or None,
        mapped_address=args.mapped_address,
        long_term=long_term,
    )
    for addr in runner.addresses:
        print(f"listening on udp {_fmt(addr)}", flush=True)
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
