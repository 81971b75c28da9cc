"""Drive a sans-I/O core over one TCP/TLS byte stream: the stream side of
:mod:`pyrtcstack.aio.endpoint`.

A stream has no datagrams, so a *framer* cuts the bytes into the units the core takes: any
object with ``feed(data) -> list[frame]`` that raises its protocol's documented framing
error on bad input (the TURN :class:`~pyrtcstack.turn.framing.StreamFramer`, RFC 8656
§12.5 / RFC 6062; the SIP :class:`~pyrtcstack.sip.StreamFramer`, RFC 3261 §18.3). Both
framers bound what they buffer for a frame not yet complete. A framing error closes the
connection (a stream cannot be resynchronised) and is counted in
:attr:`StreamEndpoint.framing_errors`.

One :class:`StreamEndpoint` per connection, in either of two shapes:

* **its own core** (``core=``, a TURN client): frames go to ``core.receive_datagram(frame,
  peer, now)``, then :meth:`StreamEndpoint.drain` writes ``datagrams_to_send`` to the
  stream, hands every event to ``on_event``, writes what the events produced and re-arms
  the one :class:`~pyrtcstack.aio.endpoint.CoreTimer` from ``get_timer()`` (the drain
  invariant);
* **a core shared by many streams** (``receive=`` and ``drain=``, the TURN server and the
  SIP user agent): the owner's core serves every connection and writes to each by its
  address, so the owner keeps the one timer and the one drain; the stream passes its
  frames with its peer's address to ``receive`` and then calls the owner's ``drain``.

Subclasses add what a protocol needs around the same path (connection caps, the SIP
CRLF keep-alive pong) by overriding :meth:`StreamEndpoint.deliver`,
:meth:`StreamEndpoint.framing_error` and the :class:`asyncio.Protocol` callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, cast

from ..common.core import Address, DatagramCore, Event
from .endpoint import CoreTimer

__all__ = ["Framer", "StreamEndpoint"]

FrameT = TypeVar("FrameT")


class Framer(Protocol[FrameT]):
    """Cuts a byte stream into frames; raises its protocol's framing error on bad input."""

    def feed(self, data: bytes) -> list[FrameT]: ...


class StreamEndpoint(asyncio.Protocol, Generic[FrameT]):
    """One TCP/TLS connection: bytes → framer → core → drain (see the module docstring)."""

    def __init__(
        self,
        framer: Framer[FrameT],
        framing_error: type[Exception],
        *,
        peer: Address | None = None,
        core: DatagramCore | None = None,
        on_event: Callable[[Event], None] | None = None,
        receive: Callable[[FrameT, Address, float], None] | None = None,
        drain: Callable[[], None] | None = None,
    ) -> None:
        if (core is None) == (receive is None or drain is None):
            raise TypeError("StreamEndpoint takes either core= or both receive= and drain=")
        self.framer = framer
        self._framing_error = framing_error
        #: the address frames are attributed to (learnt at connection_made if None)
        self.peer = peer
        self.core = core
        self.on_event = on_event
        self.transport: asyncio.Transport | None = None
        self.framing_errors = 0
        self.closed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._timer: CoreTimer | None = None
        if core is not None:
            self._receive = cast(Callable[[FrameT, Address, float], None], core.receive_datagram)
            self._drain = self._drain_core
            self._timer = CoreTimer(self._loop, self._on_timer)
        else:
            assert receive is not None and drain is not None
            self._receive = receive
            self._drain = drain

    # ---------------------------------------------------------------- asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.peer is None:
            name = transport.get_extra_info("peername")
            if name:
                self.peer = (str(name[0]), int(name[1]))
        if self.core is not None:
            self.drain()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        try:
            frames = self.framer.feed(data)
        except self._framing_error as exc:
            self.framing_errors += 1
            self.framing_error(exc)
            self.transport.close()  # the stream cannot be resynchronised
            return
        self.deliver(frames, self._loop.time())

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.closed.set()

    # ---------------------------------------------------------------- the path
    def deliver(self, frames: list[FrameT], now: float) -> None:
        """Hand ``frames`` to the core with the peer's address, then drain."""
        peer = self.peer
        assert peer is not None
        receive = self._receive
        for frame in frames:
            receive(frame, peer, now)
        self._drain()

    def framing_error(self, exc: Exception) -> None:
        """Called once with the framing error, before the connection is closed."""

    def drain(self) -> None:
        """Push out what the core has queued (after any API call on it from outside)."""
        self._drain()

    def _drain_core(self) -> None:
        transport = self.transport
        core = self.core
        if transport is None or core is None or transport.is_closing():
            return
        for data, _addr in core.datagrams_to_send(self._loop.time()):
            transport.write(data)
        on_event = self.on_event
        while (event := core.next_event()) is not None:
            if on_event is not None:
                on_event(event)
        for data, _addr in core.datagrams_to_send(self._loop.time()):
            transport.write(data)
        assert self._timer is not None
        self._timer.arm(core.get_timer())

    def _on_timer(self, now: float) -> None:
        assert self.core is not None
        self.core.handle_timer(now)
        self.drain()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
