"""An asyncio DNS stub resolver over :mod:`pyrtcstack.dns`, and the SIP server location of
RFC 3263 driven by it.

:class:`DnsResolver` asks one question at a time: a UDP datagram from a fresh socket (a
new source port each query, RFC 5452 §9.2) connected to the server, so the kernel drops
datagrams from anyone else; a reply is accepted only through ``dns.check_response`` (id
and question, RFC 5452 §9.1) and anything else is dropped and counted. No reply within
``timeout``: the next server of the list, at most ``attempts`` rounds. A reply with TC set
is asked again over TCP (RFC 1035 §4.2.2, RFC 7766 §5), its length read first and capped
by the 16-bit prefix. No server is built in: the list comes from ``/etc/resolv.conf``
(:func:`nameservers`) or the caller (``sip call --dns-server``).

    resolver = DnsResolver([("127.0.0.1", 5353)])
    locator = await locate_sip_server("sip:bob@example.test", resolver)
    locator.targets  # [SipTarget("127.0.0.1", 5070, "UDP", "sip1.example.test"), ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
from collections.abc import Iterable, Sequence

from ..common.core import Address
from ..common.errors import PyrtcstackError
from ..dns import (
    MAX_MESSAGE_BYTES,
    TYPE_NAMES,
    DnsParseError,
    Message,
    check_response,
    make_query,
)
from ..sip import ServerLocator, SipUri

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT",
    "MAX_NAMESERVERS",
    "DnsLookupError",
    "DnsResolver",
    "locate_sip_server",
    "nameservers",
]

#: Seconds to wait for one reply (glibc: 5, c-ares: 2, PJSIP: 2 per retransmission).
DEFAULT_TIMEOUT = 2.0
#: Rounds over the server list (glibc: 2, c-ares: 3, PJSIP: 5 retransmissions).
DEFAULT_ATTEMPTS = 3
#: Servers read from resolv.conf (glibc's MAXNS).
MAX_NAMESERVERS = 3


class DnsLookupError(PyrtcstackError):
    """No usable answer: every server timed out, refused the connection, or sent garbage
    over TCP. The message is one line for a person."""


class _Reply(asyncio.DatagramProtocol):
    def __init__(self, query: Message, resolver: DnsResolver) -> None:
        self.query = query
        self.resolver = resolver
        self.future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.future.done():
            return
        try:
            self.future.set_result(check_response(self.query, data))
        except DnsParseError:  # malformed, or not the answer to our query: keep waiting
            self.resolver.dropped += 1

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable
        if not self.future.done():
            self.future.set_exception(exc)


def nameservers(path: str = "/etc/resolv.conf") -> list[Address]:
    """The ``nameserver`` addresses of a resolv.conf (port 53), at most
    :data:`MAX_NAMESERVERS`; an unreadable file or malformed lines give fewer."""
    out: list[Address] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(65_536).splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            host = fields[1].split("%", 1)[0]
            with contextlib.suppress(ValueError):
                out.append((str(ipaddress.ip_address(host)), 53))
        if len(out) >= MAX_NAMESERVERS:
            break
    return out


class DnsResolver:
    """Questions to ``servers`` over UDP (TCP when truncated); see the module docstring."""

    def __init__(
        self,
        servers: Sequence[Address],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        rng: random.Random | None = None,
    ) -> None:
        self.servers = list(servers)[:MAX_NAMESERVERS]
        self.timeout = timeout
        self.attempts = attempts
        self.rng = rng
        self.dropped = 0  # datagrams that were not the answer to the query they reached
        self.queries = 0

    async def query(self, name: str, rtype: int) -> Message:
        """The response to ``name``/``rtype`` (any rcode: NXDOMAIN is an answer);
        :class:`DnsLookupError` when no server gives one."""
        if not self.servers:
            raise DnsLookupError("no DNS server (none in /etc/resolv.conf; give one)")
        query = make_query(name, rtype, self.rng)
        data = query.encode()
        what = f"{name} {TYPE_NAMES.get(rtype, rtype)}"
        refused: list[str] = []
        for _ in range(self.attempts):
            for server in self.servers:
                self.queries += 1
                try:
                    response = await self._udp(query, data, server)
                except TimeoutError:
                    continue
                except OSError:
                    refused.append(f"{server[0]}:{server[1]}")
                    continue
                if response.truncated:
                    response = await self._tcp(query, data, server, what)
                return response
            if len(refused) >= len(self.servers):
                break
        if refused:
            raise DnsLookupError(f"{what}: no DNS server at {', '.join(dict.fromkeys(refused))}")
        servers = ", ".join(f"{h}:{p}" for h, p in self.servers)
        total = self.timeout * self.attempts * len(self.servers)
        raise DnsLookupError(f"{what}: no answer from {servers} in {total:g} s")

    async def _udp(self, query: Message, data: bytes, server: Address) -> Message:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Reply(query, self), remote_addr=server
        )
        try:
            transport.sendto(data)
            return await asyncio.wait_for(protocol.future, self.timeout)
        finally:
            transport.close()

    async def _tcp(self, query: Message, data: bytes, server: Address, what: str) -> Message:
        writer = None
        try:
            async with asyncio.timeout(self.timeout * 2):
                reader, writer = await asyncio.open_connection(server[0], server[1])
                writer.write(len(data).to_bytes(2, "big") + data)
                length = int.from_bytes(await reader.readexactly(2), "big")
                reply = await reader.readexactly(min(length, MAX_MESSAGE_BYTES))
            return check_response(query, reply)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, DnsParseError) as exc:
            why = str(exc) or type(exc).__name__
            raise DnsLookupError(
                f"{what}: truncated over UDP and no answer over TCP ({why})"
            ) from None
        finally:
            if writer is not None:
                writer.close()


async def locate_sip_server(
    uri: SipUri | str,
    resolver: DnsResolver,
    *,
    transports: Iterable[str] = ("UDP", "TCP", "WS"),
    transport: str | None = None,
    rng: random.Random | None = None,
) -> ServerLocator:
    """RFC 3263 §4 for ``uri``: a :class:`~pyrtcstack.sip.ServerLocator` driven over
    ``resolver`` until its ``targets`` are known. ``LocateError`` when there is no server,
    :class:`DnsLookupError` when DNS gives no answer at all."""
    locator = ServerLocator(uri, transports=transports, transport=transport, rng=rng)
    while (question := locator.next_query()) is not None:
        locator.answer(await resolver.query(*question))
    return locator
