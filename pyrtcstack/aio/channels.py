"""The objects a :class:`~pyrtcstack.aio.peerconnection.PeerConnection` hands to the
application: a small event emitter, the data channel (W3C RTCDataChannel, webrtc-pc §6.2)
and the remote track (the ``track`` event's payload), each a thin wrapper over the sans-I/O
core's object."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..datachannel import DataChannel as CoreChannel
from ..media import EncodedFrame
from ..peerconnection import Transceiver

if TYPE_CHECKING:
    from .peerconnection import PeerConnection

__all__ = ["MAX_TRACK_QUEUE", "DataChannel", "EventEmitter", "Flag", "RemoteTrack"]

#: Frames kept per remote track for :meth:`RemoteTrack.recv`; older ones are dropped.
MAX_TRACK_QUEUE = 256

Callback = Callable[..., Any]


def forget_task(tasks: dict[Any, None], task: Any) -> None:
    """A done callback: drop ``task`` from the dict of running ``tasks``."""
    tasks.pop(task, None)


class Flag:
    """``asyncio.Event``'s ``set``/``clear``/``is_set``/``wait`` without its deque of
    waiters made up front (0.74 KiB each; a peer connection and each of its channels keep
    two): a waiter is a future in a list made at the first ``wait``. As many waiters as
    coroutines wait, as with ``asyncio.Event``."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class EventEmitter:
    """A minimal event emitter: ``on(name, cb)`` (also as a decorator), ``off``,
    ``once``, ``emit``. Coroutine callbacks are scheduled as tasks (kept referenced)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callback]] = {}
        # running tasks as dict keys (an empty set is 216 bytes, an empty dict 64)
        self._tasks: dict[asyncio.Task[Any], None] = {}

    def on(self, name: str, callback: Callback | None = None) -> Any:
        def register(cb: Callback) -> Callback:
            self._handlers.setdefault(name, []).append(cb)
            return cb

        return register if callback is None else register(callback)

    def once(self, name: str, callback: Callback) -> None:
        def wrapper(*args: Any) -> Any:
            self.off(name, wrapper)
            return callback(*args)

        self.on(name, wrapper)

    def off(self, name: str, callback: Callback) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._handlers[name].remove(callback)

    def emit(self, name: str, *args: Any) -> None:
        """Call every handler of ``name``. A handler that raises is reported to the loop's
        exception handler and does not stop the others (nor the peer connection's drain:
        an exception escaping here would leave its timer unarmed)."""
        handlers = self._handlers.get(name)
        if not handlers:
            return
        for cb in tuple(handlers):  # a handler may call on()/off() while we iterate
            try:
                result = cb(*args)
            except Exception as exc:  # the application's bug, not ours: report, go on
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"exception in {name!r} handler {cb!r}", "exception": exc}
                )
                continue
            if result is not None and asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self._tasks[task] = None
                task.add_done_callback(functools.partial(forget_task, self._tasks))


class DataChannel(EventEmitter):
    """RTCDataChannel (webrtc-pc §6.2) over the core's sans-I/O channel."""

    def __init__(self, pc: PeerConnection, channel: CoreChannel) -> None:
        super().__init__()
        # webrtc-pc §4.4.4 (Garbage collection): "All RTCDataChannel and MediaStreamTrack
        # objects that are connected to an RTCPeerConnection have a strong reference to
        # the RTCPeerConnection object", which "MUST not be garbage collected as long as
        # any event can cause an event handler to be triggered on the object" (and §6.4:
        # a channel that can still fire an event, or has data queued, is not collected
        # either). So a live channel holds its peer connection: an application that keeps
        # only the channel (the peer connection made in a function that returned it)
        # still has a connection that opens and sends. The owner keeps this wrapper too
        # (``pc._channels``): the strong reference is let go when the channel closes
        # (:meth:`mark_closed`; the peer connection's close() reports every channel
        # closed, and its drain delivers each report whatever the handlers do), so
        # that "[when] [[IsClosed]] is true [...] it is therefore safe to garbage
        # collect the object" holds by reference counting alone, with no cycle left for
        # the collector.
        self._pc: PeerConnection | None = pc
        self.channel = channel
        self._opened = Flag()
        self._closed = Flag()
        self.messages_received = 0
        self.messages_sent = 0
        self.bytes_received = 0
        self.bytes_sent = 0

    @property
    def has_opened(self) -> bool:
        """Whether "open" fired (webrtc-stats dataChannelsOpened counts these)."""
        return self._opened.is_set()

    @property
    def has_closed(self) -> bool:
        """Whether "close" fired."""
        return self._closed.is_set()

    def mark_open(self) -> None:
        """The driver's: the core's ChannelOpen came; fire "open"."""
        self._opened.set()
        self.emit("open")

    def mark_closed(self) -> None:
        """The driver's: the core's ChannelClosed came; fire "close" once, then let go of
        the peer connection (no event can fire on this channel any more)."""
        if not self._closed.is_set():
            self._closed.set()
            self.emit("close")
        self._pc = None

    def __repr__(self) -> str:
        return f"<DataChannel {self.label!r} id={self.id} {self.ready_state}>"

    label = property(lambda self: self.channel.label)
    ordered = property(lambda self: self.channel.ordered)
    protocol = property(lambda self: self.channel.protocol)
    negotiated = property(lambda self: self.channel.negotiated)
    max_packet_life_time = property(lambda self: self.channel.max_packet_life_time)
    max_retransmits = property(lambda self: self.channel.max_retransmits)
    #: The DCEP priority (RFC 8832 §5.1): 128 very-low, 256 low, 512 medium, 1024 high.
    priority = property(lambda self: self.channel.priority)

    @property
    def id(self) -> int | None:
        return self.channel.id

    @property
    def ready_state(self) -> str:
        return self.channel.ready_state

    @property
    def buffered_amount(self) -> int:
        return self.channel.buffered_amount

    @property
    def buffered_amount_low_threshold(self) -> int:
        return self.channel.buffered_amount_low_threshold

    @buffered_amount_low_threshold.setter
    def buffered_amount_low_threshold(self, value: int) -> None:
        self.channel.buffered_amount_low_threshold = value

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue one message; it leaves at the next loop iteration (sends coalesce)."""
        self.channel.send(data)
        self.messages_sent += 1
        # surrogatepass: 3 bytes per lone surrogate, as the U+FFFD the channel sends
        size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        self.bytes_sent += size
        pc = self._pc
        if pc is not None:
            pc.sent_by_application(size)

    def close(self) -> None:
        self.channel.close()
        pc = self._pc
        if pc is not None:  # the stream reset leaves with the next drain
            pc.sent_by_application(0)

    async def wait_open(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._opened.wait()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._closed.wait()


class RemoteTrack(EventEmitter):
    """The receiving side of a transceiver (W3C ``track`` event payload): frames arrive
    as ``frame`` events and through :meth:`recv`."""

    def __init__(self, transceiver: Transceiver) -> None:
        super().__init__()
        self.transceiver = transceiver
        self.kind = transceiver.kind
        self._queue: asyncio.Queue[EncodedFrame] = asyncio.Queue()
        self.dropped = 0

    @property
    def frames_received(self) -> int:
        return self.transceiver.received.frames

    def push_frame(self, frame: EncodedFrame) -> None:
        """A frame the driver took from the core (``TrackFrame``): queued (bounded,
        the oldest dropped and counted) and emitted as "frame"."""
        if self._queue.qsize() >= MAX_TRACK_QUEUE:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)
        self.emit("frame", frame)

    async def recv(self) -> EncodedFrame:
        return await self._queue.get()

    def request_keyframe(self) -> bool:
        """Ask the remote sender for a keyframe: a PLI (RFC 4585 §6.3.1) goes out with
        our next feedback (at most one per ``PLI_INTERVAL``). False when the negotiation
        did not allow it (no ``nack pli``) or media has not started (the receiver sends a
        PLI by itself when the stream starts)."""
        endpoint = self.transceiver.endpoint
        receiver = None if endpoint is None else endpoint.receiver
        if receiver is None or not receiver.pli_enabled:
            return False
        receiver.request_keyframe()
        return True
