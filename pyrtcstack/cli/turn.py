"""``pyrtcstack turn URL`` (allocate, optionally probe a relay) and ``pyrtcstack turn-server``.

``turn`` allocates on a TURN server (``turn:host[:port][?transport=tcp]`` or
``turns:host[:port]``) and prints the relayed and mapped addresses. With ``--probe`` it
then walks the whole RFC 8656 sequence against a UDP echo peer it runs itself on
``--peer-ip``: CreatePermission, Send indication → peer, peer → Data indication,
ChannelBind, ChannelData both ways, Refresh and deallocation, one PASS/FAIL line each.

``turn-server`` runs the small built-in relay (UDP relaying, long-term credentials; clients
over UDP, and with ``--tcp`` / ``--tls-port`` over TCP and TLS) until Ctrl-C. Its users come
from ``--users-file`` (one ``NAME:PASSWORD`` per line), ``$PYRTCSTACK_TURN_USERS`` (the
same format) or ``--user NAME:PASSWORD`` (visible to every local user in ``ps``: for tests
only). It refuses loopback, private and other internal peers unless told otherwise
(``--allow-loopback-peers``, ``--allow-private-peers``, ``--allowed-peer-ip``); see
docs/turn.md and docs/security.md.

Passwords can come from ``$TURN_PASSWORD`` instead of the command line; they are never
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import ssl
import stat
import sys
from typing import TypedDict

from ..aio import TurnClientConnection, connect_turn, start_turn_server
from ..common.core import Address
from ..turn import (
    MAX_ALLOCATIONS,
    MAX_ALLOCATIONS_PER_USER,
    PeerPolicy,
    TurnError,
    parse_ip_range,
    parse_turn_url,
)
from ._args import (
    LOOPBACK,
    CliError,
    describe_os_error,
    host_port,
    listening,
    number,
    resolve,
    server_tls,
)

#: Environment variable with the server's users (``NAME:PASSWORD`` lines), so that no
#: password has to be on the command line.
USERS_ENV = "PYRTCSTACK_TURN_USERS"

__all__ = ["CLIENT_DESCRIPTION", "SERVER_DESCRIPTION", "register"]

CLIENT_DESCRIPTION = """\
Allocate a relayed address on a TURN server (RFC 8656) and print the relayed and mapped
addresses: turn:HOST[:PORT] (UDP), turn:HOST[:PORT]?transport=tcp, or turns:HOST[:PORT]
(TLS). With --probe it then walks the whole RFC 8656 sequence against a UDP echo peer it
runs itself on --peer-ip: CreatePermission, Send indication to the peer, the peer's Data
indication back, ChannelBind, ChannelData both ways, Refresh and deallocation, one
PASS/FAIL line each. The password comes from --password or $TURN_PASSWORD and is never
printed.

  TURN_PASSWORD=secret pyrtcstack turn turn:turn.example.org -u alice --probe
"""

SERVER_DESCRIPTION = f"""\
Run the small built-in TURN relay (RFC 8656): UDP relaying with long-term credentials;
clients over UDP, and with --tcp / --tls-port over TCP and TLS. Runs until Ctrl-C.

Like every pyrtcstack server it listens on the loopback address by default
({LOOPBACK}:3478); --listen 0.0.0.0:3478 serves the network.

  pyrtcstack turn-server --listen 0.0.0.0:3478 --users-file users.txt

Users come from --users-file (NAME:PASSWORD lines), ${USERS_ENV} (the same lines) or
--user NAME:PASSWORD (visible in ps). Peers on loopback, link-local, private and
multicast addresses and the server's own ports are refused (403) unless allowed below:
docs/security.md has every limit beside coturn's.
"""


def _turn_url(text: str) -> str:
    try:
        parse_turn_url(text)
    except TurnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def _user(text: str) -> str:
    name, sep, _ = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD (with a colon)")
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = subparsers.add_parser(
        "turn",
        help="allocate on a TURN server; --probe exercises the relay end to end",
        description=CLIENT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client.add_argument(
        "url",
        metavar="URL",
        type=_turn_url,
        help="turn:HOST[:PORT][?transport=tcp] or turns:HOST[:PORT]",
    )
    client.add_argument("--user", "-u", required=True, help="TURN username")
    client.add_argument(
        "--password", "-p", help="TURN password (default: $TURN_PASSWORD, kept out of argv)"
    )
    client.add_argument("--probe", action="store_true", help="relay through a local UDP peer")
    client.add_argument(
        "--peer-ip", default="127.0.0.1", help="where the probe peer listens (default 127.0.0.1)"
    )
    client.add_argument(
        "--insecure", action="store_true", help="turns: do not verify the server certificate"
    )
    client.add_argument(
        "--timeout",
        type=number(above=0),
        default=10.0,
        metavar="S",
        help="seconds per step (default 10)",
    )
    client.set_defaults(func=_run_client)

    server = subparsers.add_parser(
        "turn-server",
        help=f"run the built-in TURN relay (UDP; {LOOPBACK} unless --listen)",
        description=SERVER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument(
        "--listen",
        default=(LOOPBACK, 3478),
        type=host_port(default_port=3478, listen=True),
        metavar="HOST:PORT",
        help=f"where to listen (default {LOOPBACK}:3478, loopback only; 0.0.0.0:3478 serves "
        "the network; port 0: any free port)",
    )
    server.add_argument("--realm", default="pyrtcstack", help="REALM (default pyrtcstack)")
    server.add_argument(
        "--relay-ip",
        type=_ip,
        help="IP the relayed sockets bind (default: the listen IP)",
    )
    server.add_argument("--tcp", action="store_true", help="also accept TURN over TCP")
    server.add_argument(
        "--tls-port",
        type=number(int, low=0, high=65535),
        help="also accept TURN over TLS on this port",
    )
    server.add_argument("--cert", help="PEM certificate for --tls-port")
    server.add_argument("--key", help="PEM private key for --cert")
    _add_server_security_options(server)
    server.set_defaults(func=_run_server)


def _add_server_security_options(server: argparse.ArgumentParser) -> None:
    """Users, peer policy and limits of ``turn-server`` (issue 14; docs/security.md)."""
    group = server.add_argument_group("users, peer policy and limits")
    group.add_argument(
        "--users-file",
        metavar="PATH",
        help="one NAME:PASSWORD per line (or coturn's user=NAME:PASSWORD; # comments)",
    )
    group.add_argument(
        "--user",
        action="append",
        default=[],
        type=_user,
        metavar="NAME:PASSWORD",
        help=f"repeatable; visible in ps: prefer --users-file or ${USERS_ENV}",
    )
    group.add_argument(
        "--allow-loopback-peers", action="store_true", help="relay to 127/8 and ::1 (tests)"
    )
    group.add_argument(
        "--allow-private-peers",
        action="store_true",
        help="relay to 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7",
    )
    group.add_argument(
        "--denied-peer-ip",
        action="append",
        default=[],
        metavar="RANGE",
        help="CIDR, IP or FIRST-LAST never relayed to (repeatable)",
    )
    group.add_argument(
        "--allowed-peer-ip",
        action="append",
        default=[],
        metavar="RANGE",
        help="CIDR, IP or FIRST-LAST allowed even if denied otherwise (repeatable)",
    )
    group.add_argument(
        "--user-quota",
        type=number(int, low=0),
        default=MAX_ALLOCATIONS_PER_USER,
        metavar="N",
        help=f"concurrent allocations per user (default {MAX_ALLOCATIONS_PER_USER}; 0: no limit)",
    )
    group.add_argument(
        "--total-quota",
        type=number(int, low=0),
        default=MAX_ALLOCATIONS,
        metavar="N",
        help=f"concurrent allocations in all (default {MAX_ALLOCATIONS}; 0: no limit)",
    )
    group.add_argument(
        "--max-bps",
        type=number(int, low=0),
        metavar="BYTES",
        help="bytes/s per allocation and direction (default and 0: no limit)",
    )
    group.add_argument(
        "--auth-timeout",
        type=number(above=0),
        default=10.0,
        metavar="S",
        help="close TCP/TLS connections without an allocation after S s (default 10)",
    )
    group.add_argument(
        "--max-connections",
        type=number(int, low=1),
        metavar="N",
        help="TCP/TLS connections in all (default: a quarter of the open-file limit)",
    )
    group.add_argument(
        "--max-connections-per-ip",
        type=number(int, low=1),
        default=32,
        metavar="N",
        help="TCP/TLS connections from one IP (default 32)",
    )


def _parse_users(text: str, where: str) -> dict[str, str]:
    """``NAME:PASSWORD`` lines (``user=`` prefix, blank lines and ``#`` comments allowed);
    raises ValueError naming the line, never showing its password."""
    users: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("user="):
            line = line[5:]
        name, sep, password = line.partition(":")
        if not sep or not name or not password:
            raise ValueError(f"{where} line {lineno}: expected NAME:PASSWORD")
        users[name] = password
    return users


def _server_users(args: argparse.Namespace) -> dict[str, str]:
    """Users from --users-file, $PYRTCSTACK_TURN_USERS and --user (later ones win)."""
    users: dict[str, str] = {}
    if args.users_file is not None:
        try:
            with open(args.users_file, encoding="utf-8") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read --users-file: {exc}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            print(
                f"turn-server: warning: {args.users_file} is readable by other users "
                "(chmod 600 it)",
                file=sys.stderr,
            )
        users.update(_parse_users(text, args.users_file))
    env = os.environ.get(USERS_ENV)
    if env:
        users.update(_parse_users(env, f"${USERS_ENV}"))
    for item in args.user:
        users.update(_parse_users(item, "--user"))
    if not users:
        raise ValueError(f"no users: give --users-file, set ${USERS_ENV} or --user NAME:PASSWORD")
    return users


class _ServerOptions(TypedDict):
    peer_policy: PeerPolicy
    user_quota: int
    total_quota: int
    max_bps: int | None
    auth_timeout: float
    max_connections: int | None
    max_connections_per_ip: int


def _server_options(args: argparse.Namespace) -> _ServerOptions:
    """The keyword arguments of start_turn_server for the security options."""
    # (the numbers' bounds are checked by their argparse types)
    for text in args.denied_peer_ip + args.allowed_peer_ip:
        try:
            parse_ip_range(text)
        except ValueError:
            raise ValueError(f"not an IP, CIDR range or FIRST-LAST: {text!r}") from None
    policy = PeerPolicy.from_ranges(
        allow_loopback=args.allow_loopback_peers,
        allow_private=args.allow_private_peers,
        denied=args.denied_peer_ip,
        allowed=args.allowed_peer_ip,
    )
    return {
        "peer_policy": policy,
        # 0 means "no limit", as in coturn's user-quota, total-quota and max-bps.
        "user_quota": args.user_quota or sys.maxsize,
        "total_quota": args.total_quota or sys.maxsize,
        "max_bps": args.max_bps or None,
        "auth_timeout": args.auth_timeout,
        "max_connections": args.max_connections,
        "max_connections_per_ip": args.max_connections_per_ip,
    }


class _EchoPeer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        src = (str(addr[0]), int(str(addr[1])))
        self.got.put_nowait((data, src))
        if self.transport is not None:
            self.transport.sendto(b"echo:" + data, src)


async def _probe(conn: TurnClientConnection, relayed: Address, peer_ip: str, t: float) -> bool:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(_EchoPeer, local_addr=(peer_ip, 0))
    peer_addr: Address = tuple(transport.get_extra_info("sockname")[:2])
    ok = True

    def report(name: str, passed: bool, detail: str = "") -> None:
        nonlocal ok
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {name}{' ' + detail if detail else ''}")

    try:
        await conn.create_permission(peer_addr, t)
        report("create-permission", True, f"peer {peer_addr[0]}")
        conn.send(b"via-send-indication", peer_addr)
        data, src = await asyncio.wait_for(peer.got.get(), t)
        report("send-indication -> peer", src == relayed, f"peer saw it from {src[0]}:{src[1]}")
        data, src = await conn.recv(t)
        report("peer -> data-indication", data == b"echo:via-send-indication")
        channel = await conn.bind_channel(peer_addr, t)
        report("channel-bind", True, f"channel {channel:#06x}")
        conn.send(b"via-channeldata", peer_addr)
        data, src = await asyncio.wait_for(peer.got.get(), t)
        report("channeldata -> peer", data == b"via-channeldata" and src == relayed)
        data, src = await conn.recv(t)
        report("peer -> channeldata", data == b"echo:via-channeldata")
        await conn.refresh(t)
        report("refresh", True, f"lifetime {conn.core.lifetime} s")
    except (TimeoutError, TurnError) as exc:
        report("probe", False, f"{type(exc).__name__}: {exc}")
    finally:
        transport.close()
    return ok


async def _client(args: argparse.Namespace, password: str) -> int:
    url = parse_turn_url(args.url)
    context = None
    if url.secure:
        context = ssl.create_default_context()
        if args.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    # a wrong UDP port answers with an ICMP port unreachable: stop there, not at --timeout
    conn = await connect_turn(
        args.url, args.user, password, ssl_context=context, stop_on_unreachable=True
    )
    try:
        allocated = await conn.allocate(args.timeout)
    except TimeoutError:
        print(f"FAIL allocate: no answer from the server within {args.timeout:g} s")
        await conn.close(1.0)
        return 1
    except TurnError as exc:
        print(f"FAIL allocate: {type(exc).__name__}: {exc}")
        await conn.close(1.0)
        return 1
    relayed, mapped = allocated.relayed_address, allocated.mapped_address
    print(f"PASS allocate over {url.transport.upper()} to {conn.core.server[0]}:{url.port}")
    print(f"  relayed address  {relayed[0]}:{relayed[1]}  (peers send here; RFC 8656 §7.3)")
    if mapped is not None:
        print(f"  mapped address   {mapped[0]}:{mapped[1]}  (this host as the server sees it)")
    print(f"  lifetime         {allocated.lifetime} s (refreshed 60 s before expiry)")
    ok = True
    if args.probe:
        ok = await _probe(conn, relayed, args.peer_ip, args.timeout)
    await conn.close(args.timeout)
    deallocated = conn.core.state.value == "closed"
    print(f"{'PASS' if deallocated else 'FAIL'} deallocate (Refresh LIFETIME 0)")
    return 0 if ok and deallocated else 1


def _run_client(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else os.environ.get("TURN_PASSWORD")
    if password is None:
        raise CliError("give --password or set $TURN_PASSWORD")
    try:
        return asyncio.run(_client(args, password))
    except OSError as exc:
        raise CliError(f"cannot reach {args.url}: {describe_os_error(exc)}", 1) from None


async def _server(args: argparse.Namespace, users: dict[str, str], options: _ServerOptions) -> int:
    listen = resolve(*args.listen)
    # One line per allocation, relay closed, denied peer, refused connection and
    # disconnect, rate-limited by the server (pyrtcstack.aio.turn_server).
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    server_log = logging.getLogger("pyrtcstack.turn.server")
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO)

    context = None
    if args.tls_port is not None:
        if not args.cert:
            raise CliError("--tls-port needs --cert (and --key)")
        context = server_tls(args.cert, args.key)
    with listening(listen):
        endpoint = await start_turn_server(
            listen,
            users,
            args.realm,
            relay_ip=args.relay_ip,
            tcp=args.tcp,
            tls=(listen[0], args.tls_port) if args.tls_port is not None else None,
            ssl_context=context,
            **options,
        )
    host, port = endpoint.local_address
    extra = (" + tcp" if args.tcp else "") + (
        f" + tls port {args.tls_port}" if args.tls_port is not None else ""
    )
    print(f"TURN server on udp {host}:{port}{extra}, realm {args.realm!r}, {len(users)} user(s)")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        endpoint.close()
    return 0


def _run_server(args: argparse.Namespace) -> int:
    try:
        users = _server_users(args)
        options = _server_options(args)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return asyncio.run(_server(args, users, options))
