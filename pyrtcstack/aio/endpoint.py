"""Drive one sans-I/O core from one UDP socket with one re-armed timer.

This is the whole asyncio story for a datagram core (modelled on aioquic's
``QuicConnectionProtocol.transmit``): a datagram arrives → ``receive_datagram`` → drain
sends and events → re-arm the one timer at ``get_timer()`` (the timers of a loop share
one ``loop.call_at`` handle, :class:`_LoopTimers`). When the
timer fires, ``handle_timer(now)`` is called with ``now = max(deadline, loop.time())`` and
the same drain follows. After calling an API method on the core from outside a callback
(``core.send(...)``), call :meth:`CoreEndpoint.drain` so the result goes out (the drain
invariant: the driver drains after every mutation; the core itself has no ``flush``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from collections.abc import Callable
from typing import cast

from ..common.core import Address, DatagramCore, Event

__all__ = ["KEEP_SLACK", "CoreEndpoint", "CoreTimer", "open_endpoint"]

EventHandler = Callable[[Event], None]

#: How much later a deadline may move and still keep an armed, earlier handle (CoreTimer
#: ``keep_earlier``), in seconds: the SCTP T3 restarts of a transfer move it by less.
KEEP_SLACK = 1.0


class _LoopTimers:
    """Every :class:`CoreTimer` of one event loop in one heap, behind ONE loop handle.

    A thousand idle peer connections each re-arm their timer twice per consent round
    (RFC 7675: the retransmission time when the check leaves, the next check when the
    answer comes); with one ``loop.call_at`` handle each, every re-arm is a Python
    ``TimerHandle`` pushed into the loop's heap of thousands (a dozen Python ``__lt__``
    calls) and the old one cancelled. Here a deadline is a ``(when, seq, timer)`` tuple
    in a heap compared in C, a cancel only forgets its entry (it is dropped when it
    reaches the top), and the loop holds one handle at the earliest deadline. Due timers
    fire in deadline order, each as asyncio would run its own handle (an exception is
    reported to the loop's exception handler and the others still fire); a timer armed
    while they fire waits for the next loop iteration, as a ``call_at`` would."""

    __slots__ = ("__weakref__", "_at", "_firing", "_handle", "_heap", "_loop", "_seq", "_stale")

    #: forgotten entries are swept out once they are this many and half the heap
    SWEEP_AT = 256

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: this object is the loop's value in _LOOP_TIMERS, a WeakKeyDictionary,
        # and a value that holds its key keeps the entry, the loop and every timer left
        # in the heap alive for good (each asyncio.run() that drove a connection).
        self._loop: asyncio.AbstractEventLoop = weakref.proxy(loop)
        self._heap: list[tuple[float, int, CoreTimer]] = []
        #: the loop's handle at the earliest deadline, weakly too (a handle holds its
        #: loop; the loop holds the handle while it is scheduled, and drops it at close)
        self._handle: weakref.ref[asyncio.TimerHandle] | None = None
        self._at: float | None = None
        self._seq = itertools.count()
        self._stale = 0
        #: while due timers fire: what they arm is looked at once, after the last
        self._firing = False

    def push(self, when: float, timer: CoreTimer) -> tuple[float, int, CoreTimer]:
        entry = (when, next(self._seq), timer)
        heapq.heappush(self._heap, entry)
        at = self._at
        if (at is None or when < at) and not self._firing:
            self._arm(when)
        return entry

    def forget(self) -> None:
        """An entry was cancelled (its timer no longer points at it)."""
        self._stale += 1
        heap = self._heap
        if self._stale >= self.SWEEP_AT and 2 * self._stale > len(heap):
            heap[:] = [e for e in heap if e[2]._entry is e]
            heapq.heapify(heap)
            self._stale = 0

    def _arm(self, when: float) -> None:
        handle = self._handle() if self._handle is not None else None
        if handle is not None:
            handle.cancel()
        self._at = when
        self._handle = weakref.ref(self._loop.call_at(when, self._run))

    def _run(self) -> None:
        limit = max(self._at or 0.0, self._loop.time())
        self._handle = None
        self._at = None
        heap = self._heap
        due: list[tuple[float, int, CoreTimer]] = []
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            if entry[2]._entry is entry:
                due.append(entry)
            else:
                self._stale -= 1
        self._firing = True
        try:
            for entry in due:
                timer = entry[2]
                if timer._entry is not entry:
                    continue  # cancelled or re-armed by a timer that fired before it
                try:
                    timer._on_timer()
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:  # what asyncio's Handle._run reports
                    self._loop.call_exception_handler(
                        {"message": "Exception in a core timer", "exception": exc, "timer": timer}
                    )
        finally:
            self._firing = False
        while heap and heap[0][2]._entry is not heap[0]:
            heapq.heappop(heap)  # forgotten entries at the top go without a wake-up
            self._stale -= 1
        if heap:  # nothing armed the handle while the timers fired (``_firing``)
            self._arm(heap[0][0])


_LOOP_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTimers] = (
    weakref.WeakKeyDictionary()
)


def _loop_timers(loop: asyncio.AbstractEventLoop) -> _LoopTimers:
    timers = _LOOP_TIMERS.get(loop)
    if timers is None:
        timers = _LOOP_TIMERS[loop] = _LoopTimers(loop)
    return timers


def _fire_nothing(now: float) -> None:
    """The callback of a closed :class:`CoreTimer`."""


class CoreTimer:
    """The one timer a driver keeps for its core, re-armed from ``get_timer()``.

    ``fire(now)`` is called at the deadline with ``now = max(deadline, loop.time())``; it
    calls the core's ``handle_timer`` and drains. With ``keep_earlier`` a deadline that only
    moved later keeps the armed, earlier handle (it fires early, the core finds nothing due
    and the driver re-arms): one spurious wake-up instead of a cancel and a new handle per
    burst, for cores whose deadline moves on every packet (SCTP's T3 restarts at each SACK).
    Only a move of at most ``keep_slack`` seconds keeps the handle: a deadline that jumped
    far (an idle connection's consent check answered: the retransmission due in 0.5 s gives
    way to the next check in 4-6 s) is re-armed, since a cancelled handle costs the loop
    nothing when its time comes while a kept one is a wake-up per idle connection.
    """

    __slots__ = (
        "_at",
        "_entry",
        "_fire",
        "_keep_earlier",
        "_keep_slack",
        "_kept",
        "_timers",
        "early",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[float], None],
        keep_earlier: bool = False,
        keep_slack: float = KEEP_SLACK,
    ) -> None:
        # (the loop itself is not kept: a closed timer can stay in the loop's heap, the
        # value of the loop's weak key in _LOOP_TIMERS, until its deadline)
        self._fire = fire
        self._keep_earlier = keep_earlier
        self._keep_slack = keep_slack
        #: the loop's one heap of deadlines (:class:`_LoopTimers`) and our entry in it
        self._timers = _loop_timers(loop)
        self._entry: tuple[float, int, CoreTimer] | None = None
        self._at: float | None = None
        #: a later deadline was asked for while the armed handle was kept
        self._kept = False
        #: read by ``fire``: whether this wake-up may be early (the handle was kept for
        #: a later deadline), so the core's deadline must be read again before acting;
        #: False when the handle fires at the latest deadline it was armed for
        self.early = False

    @property
    def at(self) -> float | None:
        """When the armed handle fires (None when none is armed)."""
        return self._at if self._entry is not None else None

    @property
    def armed(self) -> bool:
        """Whether a deadline is armed."""
        return self._entry is not None

    def arm(self, deadline: float | None) -> None:
        at = self._at
        unchanged = (
            at is not None
            and deadline is not None
            and (at == deadline or (self._keep_earlier and at <= deadline <= at + self._keep_slack))
        )
        if self._entry is not None and unchanged:
            if deadline != at:
                self._kept = True
            return
        self.cancel()
        if deadline is not None:
            self._at = deadline
            self._entry = self._timers.push(deadline, self)

    def cancel(self) -> None:
        if self._entry is not None:
            self._entry = None
            self._timers.forget()
        self._at = None
        self._kept = False

    def close(self) -> None:
        """The owner is done with the timer: cancel it and let go of ``fire`` (a bound
        method of the owner, which holds this timer: a reference cycle), so that the
        owner is freed by reference counting once nothing else holds it. A forgotten
        entry stays in the loop's heap until its deadline comes (``_LoopTimers.forget``);
        it then keeps only this small object alive, not the owner and its core."""
        self.cancel()
        self._fire = _fire_nothing

    def _on_timer(self) -> None:
        now = self._timers._loop.time()  # (the loop through its timers: not kept here)
        deadline = self._at if self._at is not None else now
        self._entry = None
        self._at = None
        self.early, self._kept = self._kept, False
        self._fire(max(deadline, now))


class CoreEndpoint(asyncio.DatagramProtocol):
    """An asyncio datagram protocol that owns exactly one core and one timer."""

    def __init__(
        self,
        core: DatagramCore,
        on_event: EventHandler | None = None,
        on_drain: Callable[[], None] | None = None,
    ) -> None:
        self.core = core
        self.on_event = on_event
        #: called at every drain, after the sends and before the events: where a caller
        #: takes what its core hands up by a call (DTLS ``take_application_data``)
        self.on_drain = on_drain
        self.transport: asyncio.DatagramTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._timer = CoreTimer(self._loop, self._on_timer)
        self._closed = asyncio.Event()
        self.send_errors = 0
        #: called with each ICMP error the socket reports (only a connected socket gets
        #: them: :func:`open_endpoint` with ``remote_addr``), after it is counted
        self.on_error: Callable[[OSError], None] | None = None

    # asyncio.DatagramProtocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.drain()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        address: Address = (str(addr[0]), int(str(addr[1])))
        self.core.receive_datagram(data, address, self._loop.time())
        self.drain()

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable, ...) surface here; the core's own timers deal
        # with the silence that follows, so they are counted, and told to ``on_error``
        # (a one-server client that would rather stop than wait the schedule out).
        self.send_errors += 1
        if self.on_error is not None and isinstance(exc, OSError):
            self.on_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._timer.cancel()
        self._closed.set()

    # driving ------------------------------------------------------------------------
    @property
    def local_address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    def drain(self) -> None:
        """Send what the core has queued, deliver its events, and re-arm the timer."""
        if self.transport is None or self.transport.is_closing():
            return
        core = self.core
        while True:
            progressed = False
            for data, addr in core.datagrams_to_send(self._loop.time()):
                self.transport.sendto(data, addr)
                progressed = True
            if self.on_drain is not None:
                self.on_drain()
            event = core.next_event()
            while event is not None:
                progressed = True
                if self.on_event is not None:
                    self.on_event(event)
                event = core.next_event()
            if not progressed:
                break
        self._timer.arm(core.get_timer())

    def rearm(self) -> None:
        """Re-arm the timer from ``get_timer()`` after an API call on the core made
        outside an input (at "now" when it queued output: the contract's pending-output
        rule), so what it queued leaves at the next loop iteration, without a drain here."""
        if self.transport is not None and not self.transport.is_closing():
            self._timer.arm(self.core.get_timer())

    def _on_timer(self, now: float) -> None:
        self.core.handle_timer(now)
        self.drain()

    def close(self) -> None:
        """Close the socket and cancel the timer."""
        self._timer.cancel()
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()


async def open_endpoint(
    core: DatagramCore,
    local_addr: Address = ("127.0.0.1", 0),
    on_event: EventHandler | None = None,
    on_drain: Callable[[], None] | None = None,
    *,
    remote_addr: Address | None = None,
) -> CoreEndpoint:
    """Bind a UDP socket at ``local_addr`` and start driving ``core`` from it.

    With ``remote_addr`` the socket is connected to that one address: the core must send
    only there, datagrams from elsewhere are not delivered, and the kernel reports an
    ICMP port unreachable from it (``ConnectionRefusedError``) to
    :attr:`CoreEndpoint.on_error`."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: CoreEndpoint(core, on_event, on_drain),
        local_addr=local_addr,
        remote_addr=remote_addr,
    )
    return protocol
