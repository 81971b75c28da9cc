"""Drive one multi-socket core (the ICE agent, the peer connection) from its sockets.

The asyncio driver of :class:`~pyrtcstack.common.core.MultiSocketCore`, written once for
every caller (:class:`~pyrtcstack.aio.ice.IceConnection`,
:class:`~pyrtcstack.aio.peerconnection.PeerConnection`). It owns:

* the sockets, by local address: :class:`~pyrtcstack.aio.udp.UdpSocket` (batched reads,
  GSO sends) and TCP/TLS streams to TURN servers (anything with ``send_many``); a burst
  read from one goes to ``core.receive_datagrams(batch, now, local)`` in one call;
* one timer handle (:class:`~pyrtcstack.aio.endpoint.CoreTimer`) re-armed from
  ``core.get_timer()`` after **every** mutation (the drain invariant): after an input,
  after the timer fired, and after an API call of the owner (:meth:`rearm`).

There is no ``flush``: an API call that queued output makes ``get_timer()`` return a time
no later than the core's last ``now``, so the timer fires at the next loop iteration and
:meth:`_on_timer` calls ``handle_timer`` and drains. Many ``channel.send`` calls in one
loop tick therefore leave together, in one drain (one GSO send per run of equal sizes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from operator import itemgetter
from typing import Protocol

from ..common.core import Address, Event, MultiSocketCore, Transmit
from .endpoint import CoreTimer

__all__ = ["DatagramSender", "MultiSocketDriver"]

# the parts of a transmit (data, source, destination)
_data_of, _source_of, _dest_of = itemgetter(0), itemgetter(1), itemgetter(2)

#: Called with ``(direction, data, local, remote)`` for every datagram (pcap).
DatagramHook = Callable[[str, bytes, Address, Address], None]


def _dispatch_nothing(event: Event) -> None:
    """The ``dispatch`` of a cancelled driver: its owner closed the core, so no event
    goes up any more (webrtc-pc §4.4.1.5: a closed connection fires no event)."""


class DatagramSender(Protocol):
    """The sending side of a socket the driver keeps (a UDP socket or a TURN stream)."""

    @property
    def closed(self) -> bool: ...

    @property
    def socket_errors(self) -> int: ...

    @property
    def send_drops(self) -> int: ...

    def send_many(self, datagrams: list[bytes], addr: Address) -> None: ...

    def close(self) -> None: ...


class MultiSocketDriver:
    """One :class:`MultiSocketCore`, its sockets and one timer (see the module docstring).

    ``dispatch(event)`` is called for every event the core emits, in order. ``hook`` (the
    attribute, settable) sees every datagram in and out."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        core: MultiSocketCore,
        dispatch: Callable[[Event], None],
        *,
        keep_earlier: bool = True,
    ) -> None:
        self.loop = loop
        self.core = core
        self.dispatch = dispatch
        #: the sockets by local address (the agent's pseudo socket key for a TURN stream)
        self.sockets: dict[Address, DatagramSender] = {}
        self.hook: DatagramHook | None = None
        self.datagrams_sent = 0
        self.datagrams_received = 0
        #: set by the owner once the core is closed: the timer is no longer armed
        self.stopped = False
        # keep_earlier: a core whose deadline moves later on every packet (SCTP's T3
        # restarts at each SACK) keeps its armed handle (see CoreTimer)
        self._timer = CoreTimer(loop, self._on_timer, keep_earlier=keep_earlier)

    # ---- input --------------------------------------------------------------------------
    def receive_batch(self, batch: list[tuple[bytes, Address]], local: Address) -> None:
        """A burst read from socket ``local`` (the ``on_batch`` of a UdpSocket)."""
        self.datagrams_received += len(batch)
        hook = self.hook
        if hook is not None:
            for data, addr in batch:
                hook("recv", data, local, addr)
        now = self.loop.time()
        try:
            self.core.receive_datagrams(batch, now, local)
        finally:  # even if a core has a bug, send what is queued and re-arm the timer
            self.drain(now)

    def _on_timer(self, now: float) -> None:
        core = self.core
        if self._timer.early:
            deadline = core.get_timer()
            if deadline is not None and deadline > now and not self.stopped:
                # An early wake-up of the kept, earlier handle (CoreTimer keep_earlier):
                # the deadline moved later since it was armed. Nothing is due and nothing
                # was queued since the last drain (the drain invariant): only re-arm.
                self._timer.arm(deadline)
                return
        # else the handle fires at the deadline the core last reported: it is due
        try:
            core.handle_timer(now)
        finally:
            self.drain(now)

    # ---- after every mutation -----------------------------------------------------------
    def drain(self, now: float | None = None) -> None:
        """Send the core's transmits, deliver its events, re-arm the timer (``now``: the
        loop time the caller already read for the input or timer)."""
        core = self.core
        for _ in range(1000):
            self.transmit(now)
            # Only an event's handler (the application) can queue more; what it queues
            # is reported by get_timer() (pending output), so the timer picks it up.
            event = core.next_event()
            if event is None:
                break
            while event is not None:
                self.dispatch(event)
                event = core.next_event()
            now = None  # the handlers took time: read the clock again
        # rearm() written out: a drain ends every input and timer of the core
        self._timer.arm(None if self.stopped else core.get_timer())

    def rearm(self) -> None:
        """Re-arm the timer from ``get_timer()``: after an API call on the core made
        outside an input (at "now" when it queued output)."""
        self._timer.arm(None if self.stopped else self.core.get_timer())

    def wake_pending(self) -> bool:
        """Whether the timer is armed to fire at the next loop iteration (a mutation
        since the last drain already asked for one: no need to read ``get_timer`` again)."""
        at = self._timer.at
        return at is not None and at <= self.loop.time()

    def cancel(self) -> None:
        """The owner closed the core: the timer is no longer armed, and the driver lets
        go of ``dispatch`` (a bound method of its owner, which holds the driver) and its
        timer of the driver's ``_on_timer``. Those were the reference cycles that left a
        closed peer connection to the garbage collector; without them it is freed by
        reference counting as soon as the application drops it."""
        self.stopped = True
        self._timer.close()
        self.dispatch = _dispatch_nothing

    def transmit(self, now: float | None = None) -> bool:
        """Send the datagrams the core queued; whether there were any."""
        out: list[Transmit] = self.core.transmits(self.loop.time() if now is None else now)
        if not out:
            return False
        n = len(out)
        _data, local, remote = out[0]
        if (
            n > 1
            and list(map(_source_of, out)).count(local) == n
            and list(map(_dest_of, out)).count(remote) == n
        ):
            # all from one socket to one address (the selected pair: the usual case),
            # checked and gathered without a Python loop per datagram
            self.datagrams_sent += self._send_run(list(map(_data_of, out)), local, remote)
            return True
        # consecutive datagrams from one socket to one address go out together (one GSO
        # send per run of equal sizes, see aio.udp)
        run: list[bytes] = []
        run_local: Address | None = None
        run_remote: Address | None = None
        sent = 0
        for data, local, remote in out:
            if local != run_local or remote != run_remote:
                if run and run_local is not None and run_remote is not None:
                    sent += self._send_run(run, run_local, run_remote)
                    run = []
                run_local, run_remote = local, remote
            run.append(data)
        if run and run_local is not None and run_remote is not None:
            sent += self._send_run(run, run_local, run_remote)
        self.datagrams_sent += sent
        return True

    def _send_run(self, run: list[bytes], local: Address, remote: Address) -> int:
        sock = self.sockets.get(local)
        if sock is None or sock.closed:
            return 0
        sock.send_many(run, remote)
        hook = self.hook
        if hook is not None:
            for data in run:
                hook("send", data, local, remote)
        return len(run)
