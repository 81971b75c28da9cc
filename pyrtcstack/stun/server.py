"""A sans-I/O STUN server core: Binding responder with optional RFC 5780 support.

RFC 8489 §6.3 (receiving requests), §9.1.3 (optional short-term authentication) and
RFC 5780 §6.1 (NAT behaviour discovery server: CHANGE-REQUEST, RESPONSE-ORIGIN,
OTHER-ADDRESS, RESPONSE-PORT).

Plain server: :class:`StunServer` *is* a :class:`~pyrtcstack.common.core.DatagramCore`
for its one address. RFC 5780 server: give ``other=(IP2, P2)``; the server then listens on
four addresses (IP1:P1, IP1:P2, IP2:P1, IP2:P2) and :meth:`StunServer.endpoints` returns one
DatagramCore per address, because an answer to CHANGE-REQUEST leaves from a different
address than the one the request arrived at. Drive every endpoint (MemoryNetwork does; the
asyncio runner in :mod:`pyrtcstack.aio.stun` flushes them together).

The server keeps no per-client state and has no timers.

**Reflection and amplification.** A UDP request's source address can be forged, so what the
server sends to an address it has not authenticated is kept small and aimed only at that
address:

* RESPONSE-PORT (RFC 5780 §7.5) is honoured only by an RFC 5780 server (``other`` given).
  A plain server answers 420 naming it (it is comprehension-required, RFC 8489 §6.3.1.1
  and RFC 5780 §7.5), so it cannot be told to aim at another port of a forged source.
* An error response to a request that was not authenticated (400, 401, 420, 438 ...) carries
  no SOFTWARE and an empty reason phrase (RFC 8489 §14.8 allows it; the code says it all):
  only ERROR-CODE, and for 401/438 REALM, NONCE and PASSWORD-ALGORITHMS (§9.2.4). With
  the compact nonces of :class:`~.longterm.LongTermServerAuth` a 401 is
  ``72 + 4·⌈len(realm)/4⌉`` bytes (+8 when the request has FINGERPRINT): 92 bytes for the
  default realm, 4.6× the smallest request (20 bytes) and 3.6× one with FINGERPRINT
  (28 bytes). See docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..common.core import Address, Event
from .attributes import pack_error_code
from .constants import MAX_SOFTWARE_CHARS, AttributeType, MessageClass, Method
from .errors import StunParseError, StunUsageError
from .longterm import LongTermServerAuth
from .message import Integrity, Message, decode

__all__ = ["MAX_QUEUED_RESPONSES", "ServerEndpoint", "StunServer"]

#: Responses queued per local address before the driver drains them; beyond it, requests
#: are dropped and counted (a driver that never drains must not make the server grow).
MAX_QUEUED_RESPONSES = 1024

#: ``credentials(username) -> key`` for short-term authentication (None: unknown user).
Credentials = Callable[[str], bytes | None]


class ServerEndpoint:
    """The DatagramCore face of a :class:`StunServer` at one local address."""

    def __init__(self, server: StunServer, local: Address) -> None:
        self.server = server
        self.local = local
        self.queue: list[tuple[bytes, Address]] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.server.handle(data, addr, self.local, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self.queue = self.queue, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return None


class StunServer:
    """Binding responder (RFC 8489 §6.3) and, with ``other``, an RFC 5780 server.

    ``primary`` is the address it is reached at (IP1, P1); ``other`` the alternate
    address (IP2, P2). ``software`` adds SOFTWARE to responses. ``credentials`` turns on
    short-term authentication (§9.1.3): requests without USERNAME or MESSAGE-INTEGRITY get
    400, an unknown user or a wrong MESSAGE-INTEGRITY gets 401, and responses carry
    MESSAGE-INTEGRITY. ``long_term`` (a :class:`~pyrtcstack.stun.longterm.LongTermServerAuth`)
    turns on long-term authentication instead (§9.2.4: 401 with REALM/NONCE/
    PASSWORD-ALGORITHMS, 438 for a stale nonce, 400 for a bid-down attempt).
    ``mapped_address`` also adds the legacy MAPPED-ADDRESS.
    """

    def __init__(
        self,
        primary: Address,
        *,
        other: Address | None = None,
        software: str | None = None,
        credentials: Credentials | None = None,
        long_term: LongTermServerAuth | None = None,
        mapped_address: bool = False,
    ) -> None:
        if credentials is not None and long_term is not None:
            raise StunUsageError("short-term or long-term credentials, not both")
        if software is not None and len(software) > MAX_SOFTWARE_CHARS:
            raise StunUsageError("SOFTWARE is at most 128 characters (RFC 8489 §14.14)")
        self.primary = primary
        self.other = other
        self.software = software
        self.credentials = credentials
        self.long_term = long_term
        self.mapped_address = mapped_address
        if other is not None:
            if other[0] == primary[0] or other[1] == primary[1]:
                raise StunUsageError("RFC 5780: the other address differs in IP and port")
            ips, ports = (primary[0], other[0]), (primary[1], other[1])
            locals_ = [(ip, port) for ip in ips for port in ports]
        else:
            locals_ = [primary]
        self._endpoints = {addr: ServerEndpoint(self, addr) for addr in locals_}
        self._primary = self._endpoints[primary]
        #: datagrams that were not STUN, or not requests (indications, responses)
        self.dropped = 0
        #: requests answered (success or error)
        self.answered = 0

    def endpoints(self) -> dict[Address, ServerEndpoint]:
        """One DatagramCore per local address (four with ``other``, else one)."""
        return dict(self._endpoints)

    # -- DatagramCore for the primary address, multi-socket core for all of them ------
    def receive_datagram(
        self, data: bytes, addr: Address, now: float, local: Address | None = None
    ) -> None:
        """A datagram from ``addr`` arrived at ``local`` (default: the primary address)."""
        self.handle(data, addr, self.primary if local is None else local, now)

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None:
        """Datagrams that arrived together at ``local`` (the multi-socket contract)."""
        at = self.primary if local is None else local
        for data, addr in batch:
            self.handle(data, addr, at, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Drain what leaves from the primary address (single-socket drivers)."""
        return self._primary.datagrams_to_send(now)

    def transmits(self, now: float) -> list[tuple[bytes, Address, Address]]:
        """Drain every address: ``(data, local, remote)`` (multi-socket drivers such as
        :class:`pyrtcstack.testing.vnet.VirtualNetwork`)."""
        out: list[tuple[bytes, Address, Address]] = []
        for local, endpoint in self._endpoints.items():
            out.extend((data, local, dst) for data, dst in endpoint.datagrams_to_send(now))
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return None

    # -- request processing ------------------------------------------------------------
    def _alternate(self, local: Address, change_ip: bool, change_port: bool) -> Address:
        assert self.other is not None
        ip1, p1 = self.primary
        ip2, p2 = self.other
        ip, port = local
        if change_ip:
            ip = ip2 if ip == ip1 else ip1
        if change_port:
            port = p2 if port == p1 else p1
        return (ip, port)

    def handle(self, data: bytes, addr: Address, local: Address, now: float = 0.0) -> None:
        """Process one datagram that arrived at ``local`` from ``addr`` at ``now``."""
        try:
            request = decode(data)
        except StunParseError:
            self.dropped += 1
            return
        if request.message_class is not MessageClass.REQUEST:
            self.dropped += 1  # §6.3.2: indications need no answer; responses are strays
            return
        try:
            self._answer(request, addr, local, now)
        except StunParseError:
            # a known attribute with a malformed value (CHANGE-REQUEST of 3 bytes ...)
            self._send(request.error_response(400), addr, local, request, None)

    def _answer(self, request: Message, addr: Address, local: Address, now: float) -> None:
        key: bytes | None = None
        if self.long_term is not None:
            lt = self.long_term
            key = self._long_term_key(lt, request, addr, local, now)
            if key is None:
                return
        elif self.credentials is not None:
            # RFC 8489 §9.1.3: authentication comes first.
            username = request.get_text(AttributeType.USERNAME)
            if username is None or request.integrity is None:
                self._send(request.error_response(400), addr, local, request, None)
                return
            key = self.credentials(username)
            if key is None or not request.verify_integrity(key):
                self._send(request.error_response(401), addr, local, request, None)
                return
        # RFC 8489 §6.3.1.1: unknown comprehension-required attributes -> 420.
        if request.unknown_required:
            resp = request.error_response(420).add_unknown_attributes(request.unknown_required)
            self._send(resp, addr, local, request, key)
            return
        if request.method != Method.BINDING:
            self._send(request.error_response(400), addr, local, request, key)
            return
        source, dest = local, addr
        change = request.get_change_request()
        if change is not None and any(change):
            if self.other is None:
                # RFC 5780 §6.1: no alternate address -> 420 naming CHANGE-REQUEST.
                resp = request.error_response(420).add_unknown_attributes(
                    [AttributeType.CHANGE_REQUEST]
                )
                self._send(resp, addr, local, request, key)
                return
            source = self._alternate(local, *change)
        response_port = request.get(AttributeType.RESPONSE_PORT)
        if response_port is not None:
            if self.other is None:
                # RFC 5780 §7.5: a server that does not do RFC 5780 treats the
                # (comprehension-required) attribute as unknown: 420, and the answer goes
                # back to the source, never to a port the request names (reflection).
                resp = request.error_response(420).add_unknown_attributes(
                    [AttributeType.RESPONSE_PORT]
                )
                self._send(resp, addr, local, request, key)
                return
            # RFC 5780 §7.5: answer to the given port at the source IP.
            if len(response_port) != 4:
                raise StunParseError("RESPONSE-PORT is not 4 bytes")
            port = (response_port[0] << 8) | response_port[1]
            if port == 0:
                raise StunParseError("RESPONSE-PORT is 0")
            dest = (addr[0], port)
        resp = request.success_response()
        resp.add_address(AttributeType.XOR_MAPPED_ADDRESS, addr)
        if self.mapped_address:
            resp.add_address(AttributeType.MAPPED_ADDRESS, addr)
        if self.other is not None:
            resp.add_address(AttributeType.RESPONSE_ORIGIN, source)
            resp.add_address(AttributeType.OTHER_ADDRESS, self._alternate(local, True, True))
        self._send(resp, dest, source, request, key)

    def _long_term_key(
        self, lt: LongTermServerAuth, request: Message, addr: Address, local: Address, now: float
    ) -> bytes | None:
        """RFC 8489 §9.2.4: authenticate ``request``; answer and return None on failure."""
        if request.integrity is None:
            self._send(lt.challenge(request.error_response(401), addr, now), addr, local, request)
            return None
        nonce = request.get(AttributeType.NONCE)
        has_user = AttributeType.USERNAME in request or AttributeType.USERHASH in request
        if not has_user or AttributeType.REALM not in request or nonce is None:
            self._send(request.error_response(400), addr, local, request)
            return None
        if not lt.nonce_valid(nonce, addr, now):
            self._send(lt.challenge(request.error_response(438), addr, now), addr, local, request)
            return None
        algorithm = lt.algorithm_of(request)
        if algorithm is None:
            self._send(request.error_response(400), addr, local, request)
            return None
        username = lt.username_of(request)
        key = None if username is None else lt.key(username, algorithm)
        if key is None or not request.verify_integrity(key):
            self._send(lt.challenge(request.error_response(401), addr, now), addr, local, request)
            return None
        return key

    def _send(
        self,
        response: Message,
        dest: Address,
        source: Address,
        request: Message,
        key: bytes | None = None,
    ) -> None:
        if key is None and response.message_class is MessageClass.ERROR:
            # Not authenticated: keep it small (module docstring): no reason phrase, no
            # SOFTWARE.
            err = response.get_error()
            if err is not None and err.reason:
                response.set(AttributeType.ERROR_CODE, pack_error_code(err.code, ""))
        elif self.software is not None:
            response.add_text(AttributeType.SOFTWARE, self.software)
        endpoint = self._endpoints.get(source)
        if endpoint is None or len(endpoint.queue) >= MAX_QUEUED_RESPONSES:
            # an unknown ``local`` (a driver bug) or a driver that does not drain
            self.dropped += 1
            return
        integrity: Integrity = "sha256" if request.integrity == "sha256" else "sha1"
        data = response.encode(key, fingerprint=request.has_fingerprint, integrity=integrity)
        endpoint.queue.append((data, dest))
        self.answered += 1
