"""``pyrtcstack turn URL`` (allocate, optionally probe a relay) and ``pyrtcstack turn-server``.

``turn`` allocates on a TURN server (``turn:host[:port][?transport=tcp]`` or
``turns:host[:port]``) and prints the relayed and mapped addresses. With ``--probe`` it
then walks the whole RFC 8656 sequence against a UDP echo peer it runs itself on
``--peer-ip``: CreatePermission, Send indication → peer, peer → Data indication,
ChannelBind, ChannelData both ways, Refresh and deallocation, one PASS/FAIL line each.

``turn-server`` runs the small built-in relay (UDP relaying, long-term credentials; clients
over UDP, and with ``--tcp`` / ``--tls-port`` over TCP and TLS) until Ctrl-C.

Passwords can come from ``$TURN_PASSWORD`` instead of the command line; they are never
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import ssl
import sys

from ..aio.turn import TurnClientConnection, connect_turn, start_turn_server
from ..common.core import Address, Event
from ..turn import RelayClosed, RelayOpened, TurnError
from ..turn.url import parse_turn_url
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

  pyrtcstack turn-server --listen 0.0.0.0:3478 --user alice:secret
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
    server.add_argument(
        "--user",
        action="append",
        required=True,
        type=_user,
        metavar="NAME:PASSWORD",
        help="a user and password; repeatable",
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
    server.set_defaults(func=_run_server)


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
    conn = await connect_turn(args.url, args.user, password, ssl_context=context)
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


async def _server(args: argparse.Namespace, users: dict[str, str]) -> int:
    listen = resolve(*args.listen)

    def on_event(event: Event) -> None:
        if isinstance(event, RelayOpened):
            c, r = event.client, event.relayed_address
            print(f"allocation {c[0]}:{c[1]} user {event.username!r} -> relay {r[0]}:{r[1]}")
        elif isinstance(event, RelayClosed):
            r = event.relayed_address
            print(f"relay {r[0]}:{r[1]} closed ({event.reason})")
        sys.stdout.flush()

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
            on_event=on_event,
            tcp=args.tcp,
            tls=(listen[0], args.tls_port) if args.tls_port is not None else None,
            ssl_context=context,
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
    users: dict[str, str] = {}
    for item in args.user:
        name, sep, password = item.partition(":")
        if not sep or not name:
            print("turn-server: --user takes NAME:PASSWORD", file=sys.stderr)
            return 2
        users[name] = password
    try:
        return asyncio.run(_server(args, users))
    except OSError as exc:
        print(f"turn-server: {exc}", file=sys.stderr)
        return 1
