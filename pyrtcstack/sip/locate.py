"""Locating a SIP server from a URI with DNS (RFC 3263 §4), as sans-I/O logic.

A :class:`ServerLocator` asks its questions one at a time and never touches a socket: the
driver (:mod:`pyrtcstack.aio`'s ``locate_sip_server``) sends each query and hands back the
answer. The procedure:

1. **Transport** (§4.1): the URI's ``transport`` parameter (or the caller's choice) wins;
   a numeric host or an explicit port means UDP (TLS for ``sips:``). Otherwise NAPTR
   records of the domain are read in order then preference, and the first whose service
   we support (``SIP+D2U`` UDP, ``SIP+D2T`` TCP, ``SIPS+D2T`` TLS, RFC 3263 §4.1;
   ``SIP+D2W``/``SIPS+D2W`` WebSocket, RFC 7118 §6) names the transport and the SRV
   name. With no usable NAPTR, the SRV names ``_sips._tcp``, ``_sip._tcp`` and
   ``_sip._udp`` are tried in that order (only ``_sips._tcp`` for ``sips:``); the first
   with records decides. With none, UDP (TLS for ``sips:``).
2. **Servers** (§4.2): a numeric host is the server; an explicit port skips SRV and
   looks up A and AAAA; otherwise the SRV records are ordered by priority and, within one
   priority, by RFC 2782's weighted random draw with the injected ``rng``, and each
   target's addresses are looked up. With no SRV records: the domain's A/AAAA with the
   transport's default port (5060, 5061 for TLS, 80/443 for WebSocket).
3. **Failover** (§4.3): :attr:`ServerLocator.targets` is the ordered list; a client
   tries the next one on a transport error, a timeout (408) or a 503.

Bounds: at most :data:`MAX_SRV_TARGETS` SRV targets are looked up, and at most
:data:`MAX_QUERIES` questions are asked for one URI.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Generator, Iterable
from dataclasses import dataclass

from pyrtcstack.common.core import default_rng
from pyrtcstack.common.errors import LocalProtocolError
from pyrtcstack.dns import (
    AAAA,
    NAPTR,
    SRV,
    TYPE_A,
    TYPE_AAAA,
    TYPE_NAPTR,
    TYPE_SRV,
    A,
    DnsError,
    Message,
    answers_for,
)
from pyrtcstack.sip.uri import SipUri

__all__ = [
    "DEFAULT_PORTS",
    "MAX_QUERIES",
    "MAX_SRV_TARGETS",
    "LocateError",
    "ServerLocator",
    "SipTarget",
    "order_srv",
]

#: SRV targets whose addresses are looked up (the rest of a longer list is ignored).
MAX_SRV_TARGETS = 8
#: Questions asked for one URI: 1 NAPTR + 3 SRV + 2 per SRV target.
MAX_QUERIES = 4 + 2 * MAX_SRV_TARGETS
#: The port when neither the URI nor an SRV record gives one (RFC 3261 §19.1.2, RFC 7118).
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061, "WS": 80, "WSS": 443}
#: NAPTR services (RFC 3263 §4.1, RFC 7118 §6) → transport.
_SERVICES = {"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS", "SIP+D2W": "WS",
             "SIPS+D2W": "WSS"}  # fmt: skip
#: SRV service names (RFC 3263 §4.1); the fallback order when there is no NAPTR.
_SRV_NAMES = {"TLS": "_sips._tcp", "TCP": "_sip._tcp", "UDP": "_sip._udp"}
_SECURE = ("TLS", "WSS")
_TRANSPORT_PARAM = {"udp": "UDP", "tcp": "TCP", "tls": "TLS", "ws": "WS", "wss": "WSS"}


class LocateError(LocalProtocolError):
    """No server for the URI: the reason is the message (one line for a person)."""


@dataclass(frozen=True, slots=True)
class SipTarget:
    """One place to send the request: an IP address, a port, a transport, and the host
    name it was found under (the address itself for a numeric host)."""

    address: str
    port: int
    transport: str
    name: str

    @property
    def destination(self) -> tuple[str, int]:
        return self.address, self.port


def order_srv(records: Iterable[SRV], rng: random.Random) -> list[SRV]:
    """RFC 2782's order: lower priority first; within a priority, repeatedly draw a number
    in ``[0, sum of the weights]`` and take the first record (weight-0 records placed
    first) whose running sum reaches it, so a record is picked in proportion to its weight
    and a weight-0 record rarely first."""
    out: list[SRV] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        group.sort(key=lambda r: r.weight != 0)  # weight 0 at the beginning (stable)
        while group:
            draw = rng.randint(0, sum(r.weight for r in group))
            running = 0
            for i, r in enumerate(group):
                running += r.weight
                if running >= draw:
                    out.append(group.pop(i))
                    break
    return out


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ServerLocator:
    """RFC 3263 §4 for one URI (see the module docstring). Drive it:

    ``while (q := loc.next_query()) is not None: loc.answer(<response to q, or None>)``

    then read :attr:`targets` (or catch :class:`LocateError` from :meth:`next_query`).
    ``transports`` are those the caller can use; ``transport`` forces one (as the URI's
    ``transport`` parameter would). :attr:`steps` narrates each decision for a learner.
    """

    def __init__(
        self,
        uri: SipUri | str,
        *,
        transports: Iterable[str] = ("UDP", "TCP", "TLS", "WS", "WSS"),
        transport: str | None = None,
        families: tuple[int, ...] = (TYPE_A, TYPE_AAAA),
        rng: random.Random | None = None,
    ) -> None:
        self.uri = SipUri.parse(uri) if isinstance(uri, str) else uri
        self.transports = tuple(t.upper() for t in transports)
        self.forced = transport.upper() if transport else None
        self.families = families
        self.rng = default_rng(rng)
        self.steps: list[str] = []
        self.targets: list[SipTarget] = []
        self.queries = 0
        self._question: tuple[str, int] | None = None
        self._procedure = self._run()
        self._answer: Message | None = None
        self._started = False
        self._done = False
        self._nxdomain = False  # a question about the URI's domain got NXDOMAIN

    @property
    def done(self) -> bool:
        return self._done

    def next_query(self) -> tuple[str, int] | None:
        """The next question ``(name, type)`` to ask, or ``None`` when :attr:`targets` is
        final; :class:`LocateError` when the URI cannot be located."""
        if self._done:
            return None
        try:
            if not self._started:
                self._started = True
                question = next(self._procedure)
            else:
                question = self._procedure.send(self._answer)
        except StopIteration as stop:
            self._done = True
            self.targets = stop.value
            return None
        except LocateError:
            self._done = True
            raise
        self.queries += 1
        if self.queries > MAX_QUERIES:  # cannot happen with the bounds above: a guard
            self._done = True
            raise LocateError(f"more than {MAX_QUERIES} DNS questions for {self.uri}")
        self._question = question
        self._answer = None
        return question

    def answer(self, response: Message | None) -> None:
        """The response to the last question (``None``: none came; it counts as empty).
        The driver has checked it answers that question (``dns.check_response``)."""
        self._answer = response

    # -- the procedure -----------------------------------------------------------------

    def _records(self, response: Message | None, name: str, rtype: int) -> list[object]:
        if response is None or response.rcode != 0:
            return []
        try:
            return list(answers_for(response, name, rtype))
        except DnsError:
            return []

    def _run(self) -> Generator[tuple[str, int], Message | None, list[SipTarget]]:
        uri = self.uri
        host = uri.host.strip("[]")
        secure = uri.scheme == "sips"
        param = uri.param("transport")
        transport = self.forced
        if transport is None and param is not None:
            transport = _TRANSPORT_PARAM.get(param.lower())
            if transport is None:
                raise LocateError(f"transport={param} is not a transport we know")
            self.steps.append(f"transport {transport}: the URI's transport parameter (§4.1)")
        if transport is not None:
            if secure and transport in ("UDP", "TCP"):
                transport = "TLS"  # sips: over TCP means TLS (§4.1); never over UDP
            if transport not in self.transports:
                raise LocateError(f"{uri} needs {transport}, which we do not support here")
        if _numeric(host):  # §4.1, §4.2: a numeric host is the server
            transport = transport or ("TLS" if secure else "UDP")
            if transport not in self.transports:
                raise LocateError(f"{uri} needs {transport}, which we do not support here")
            port = uri.port or DEFAULT_PORTS[transport]
            self.steps.append(f"{host} is an address: no DNS; {transport}, port {port} (§4.2)")
            return self._check([SipTarget(host, port, transport, host)])
        srv: list[SRV] | None = None
        if transport is None and uri.port is not None:
            transport = "TLS" if secure else "UDP"
            self.steps.append(f"explicit port: no NAPTR or SRV; {transport} (§4.1)")
        elif transport is None:
            transport, srv = yield from self._naptr(host, secure)
        elif uri.port is None and transport in _SRV_NAMES:
            name = f"{_SRV_NAMES[transport]}.{host}"
            srv = self._srv_list((yield name, TYPE_SRV), name)
            self.steps.append(f"SRV {name}: {len(srv)} records (§4.2)")
        if transport not in self.transports:
            raise LocateError(f"{uri} needs {transport}, which we do not support here")
        if srv:
            targets = yield from self._from_srv(srv, transport)
            return self._check(targets)
        port = uri.port or DEFAULT_PORTS[transport]
        targets = yield from self._addresses(host, port, transport)
        if not targets and self._nxdomain:
            raise LocateError(f"{host}: no such domain (NXDOMAIN)")
        return self._check(targets, f"{host} has no A or AAAA record")

    def _naptr(
        self, host: str, secure: bool
    ) -> Generator[tuple[str, int], Message | None, tuple[str, list[SRV] | None]]:
        """§4.1: the transport from NAPTR, else from the first SRV name with records."""
        response = yield host, TYPE_NAPTR
        self._nxdomain = response is not None and response.rcode == 3
        usable: list[tuple[int, int, str, str]] = []
        for rec in self._records(response, host, TYPE_NAPTR):
            assert isinstance(rec, NAPTR)
            transport = _SERVICES.get(rec.services.upper())
            if rec.flags.lower() != "s" or transport is None or rec.replacement == ".":
                continue
            if transport in self.transports and (not secure or transport in _SECURE):
                usable.append((rec.order, rec.preference, transport, rec.replacement))
        if usable:
            _, _, transport, name = min(usable)
            self.steps.append(f"NAPTR {host}: {transport} via {name} (§4.1)")
            srv = self._srv_list((yield name, TYPE_SRV), name)
            self.steps.append(f"SRV {name}: {len(srv)} records (§4.2)")
            return transport, srv
        if self._nxdomain:
            raise LocateError(f"{host}: no such domain (NXDOMAIN)")
        self.steps.append(f"NAPTR {host}: nothing usable; trying SRV names (§4.1)")
        order = ["TLS"] if secure else ["TLS", "TCP", "UDP"]
        for transport in order:
            if transport not in self.transports:
                continue
            name = f"{_SRV_NAMES[transport]}.{host}"
            srv = self._srv_list((yield name, TYPE_SRV), name)
            if srv:
                self.steps.append(f"SRV {name}: {len(srv)} records: {transport} (§4.1)")
                return transport, srv
        transport = "TLS" if secure else "UDP"
        self.steps.append(f"no SRV records: {transport} to {host}'s addresses (§4.1)")
        return transport, None

    def _srv_list(self, response: Message | None, name: str) -> list[SRV]:
        return [r for r in self._records(response, name, TYPE_SRV) if isinstance(r, SRV)]

    def _from_srv(
        self, records: list[SRV], transport: str
    ) -> Generator[tuple[str, int], Message | None, list[SipTarget]]:
        if len(records) == 1 and records[0].target == ".":  # RFC 2782: "decidedly not"
            raise LocateError(f"the domain offers no SIP service over {transport} (SRV '.')")
        ordered = order_srv([r for r in records if r.target != "."], self.rng)
        self.steps.append(
            "SRV order (priority, then weighted draw, RFC 2782): "
            + ", ".join(f"{r.target}:{r.port}" for r in ordered[:MAX_SRV_TARGETS])
        )
        targets: list[SipTarget] = []
        for rec in ordered[:MAX_SRV_TARGETS]:
            targets += yield from self._addresses(rec.target, rec.port, transport)
        return targets

    def _addresses(
        self, host: str, port: int, transport: str
    ) -> Generator[tuple[str, int], Message | None, list[SipTarget]]:
        out: list[SipTarget] = []
        for family in self.families:
            response = yield host, family
            if response is not None and response.rcode == 3:
                self._nxdomain = True
            records = self._records(response, host, family)
            out += [SipTarget(r.address, port, transport, host) for r in records
                    if isinstance(r, A | AAAA)]  # fmt: skip
        self.steps.append(
            f"{host}: " + (", ".join(t.address for t in out) or "no address") + f", port {port}"
        )
        return out

    def _check(self, targets: list[SipTarget], why: str = "no server") -> list[SipTarget]:
        if not targets:
            raise LocateError(f"{self.uri.host}: {why}")
        return list(dict.fromkeys(targets))
