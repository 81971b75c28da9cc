"""Run a :class:`~pyrtcstack.dtls.DtlsConnection` on a UDP socket with asyncio.

A thin layer over :class:`~pyrtcstack.aio.endpoint.CoreEndpoint`: the endpoint feeds datagrams
and timers to the core; this module turns the core's events into awaitables::

    conn = DtlsConnection(DtlsRole.CLIENT, remote_address=("127.0.0.1", 4444), ...)
    sock = await open_dtls(conn)
    done = await sock.handshake()          # HandshakeCompleted, or raises the DtlsError
    sock.send(b"hello")
    data = await sock.recv()               # bytes, or None once the peer closed

In a peer connection DTLS does not own a socket (it rides on the ICE pair); there the peer
connection calls ``receive_datagrams`` itself. Received data is taken from the connection
(``take_application_data``) at every drain of the endpoint, before its events. This
module is for standalone use: the CLI, interop tests against OpenSSL/GnuTLS, and
benchmarks.
"""

from __future__ import annotations

import asyncio

from ..common.core import Address, Event
from ..dtls import Closed, DtlsConnection, DtlsError, Failed, HandshakeCompleted
from .endpoint import CoreEndpoint, open_endpoint

__all__ = ["DtlsSocket", "open_dtls"]


class DtlsSocket:
    """Awaitable façade over a DTLS connection driven by a :class:`CoreEndpoint`."""

    def __init__(self, connection: DtlsConnection) -> None:
        self.connection = connection
        self.endpoint: CoreEndpoint | None = None
        self._loop = asyncio.get_running_loop()
        self._handshake: asyncio.Future[HandshakeCompleted] = self._loop.create_future()
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.error: DtlsError | None = None
        self.closed = False

    def _take_data(self) -> None:
        for data in self.connection.take_application_data():
            self._incoming.put_nowait(data)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, HandshakeCompleted):
            if not self._handshake.done():
                self._handshake.set_result(event)
        elif isinstance(event, Failed):
            self.error = event.error
            if not self._handshake.done():
                self._handshake.set_exception(event.error)
            self._incoming.put_nowait(None)
        elif isinstance(event, Closed):
            self.closed = True
            if not self._handshake.done():
                self._handshake.set_exception(DtlsError("connection closed during handshake"))
            self._incoming.put_nowait(None)

    @property
    def local_address(self) -> Address:
        assert self.endpoint is not None
        return self.endpoint.local_address

    async def handshake(self, timeout: float | None = None) -> HandshakeCompleted:
        """Wait for the handshake to complete (raises the connection's error if it fails)."""
        return await asyncio.wait_for(asyncio.shield(self._handshake), timeout)

    def send(self, data: bytes) -> None:
        """Queue one record; the connection's ``get_timer`` then says "now" (pending
        output), so the endpoint's re-armed timer sends it at the next loop iteration,
        together with every record queued in the same iteration."""
        self.connection.send(data)
        assert self.endpoint is not None
        self.endpoint.rearm()

    async def recv(self) -> bytes | None:
        """The next application data record, or None when the connection ended."""
        return await self._incoming.get()

    def close(self) -> None:
        """Send close_notify and close the socket."""
        assert self.endpoint is not None
        self.connection.close(self._loop.time())
        self.endpoint.drain()
        self.endpoint.close()


async def open_dtls(
    connection: DtlsConnection,
    local_addr: Address = ("127.0.0.1", 0),
    *,
    stop_on_unreachable: bool = False,
) -> DtlsSocket:
    """Bind a UDP socket, attach ``connection`` and start it (a client sends its hello).

    ``stop_on_unreachable`` (a client with one ``remote_address``): the socket is
    connected to the server, and an ICMP port unreachable from it during the handshake
    fails :meth:`DtlsSocket.handshake` at once with a :class:`DtlsError` instead of
    leaving the flight retransmissions (RFC 9147 §5.8) to run out. Off by default: an
    ICMP error is easy to forge. The CLI asks for it."""
    sock = DtlsSocket(connection)
    remote = connection.remote_address if stop_on_unreachable else None
    sock.endpoint = await open_endpoint(
        connection,
        local_addr,
        on_event=sock._on_event,
        on_drain=sock._take_data,
        remote_addr=remote,
    )
    if remote is not None:

        def refused(exc: OSError) -> None:
            if isinstance(exc, ConnectionRefusedError) and not sock._handshake.done():
                where = f"{remote[0]}:{remote[1]}"
                sock._handshake.set_exception(
                    DtlsError(f"no answer from {where}: port unreachable (nothing listens there)")
                )

        sock.endpoint.on_error = refused
    connection.start(asyncio.get_running_loop().time())
    sock.endpoint.drain()
    return sock
