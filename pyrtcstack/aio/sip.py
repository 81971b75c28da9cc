"""asyncio driver for the SIP user agent (:class:`pyrtcstack.sip.UserAgent`) over UDP.

The single-socket pattern of :mod:`pyrtcstack.aio.endpoint`: one UDP socket, one core,
one re-armed timer. The socket is bound first so the agent's Via and Contact name its
real port. :class:`SipPhone` adds awaitables on top of the events:

    phone = await SipPhone.open(("127.0.0.1", 0), user="alice")
    call_id = await phone.call("sip:bob@127.0.0.1:5070", ("127.0.0.1", 5070), offer)
    ...
    await phone.hang_up(call_id)
    phone.close()
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable

from ..common.core import Address, Event
from ..sip import (
    CallAnswered,
    CallEnded,
    CallEstablished,
    CallFailed,
    DigestClient,
    IncomingCall,
    Registered,
    RegistrationFailed,
    UserAgent,
)
from .endpoint import CoreEndpoint

__all__ = ["MAX_PENDING_CALLS", "SipCallError", "SipPhone"]

#: Incoming calls queued for :meth:`SipPhone.incoming` (more are rejected with 486).
MAX_PENDING_CALLS = 16


class SipCallError(Exception):
    """A call or registration failed: ``status`` is the SIP status (408 on a timeout)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class SipPhone:
    """A :class:`~pyrtcstack.sip.UserAgent` on a UDP socket (see the module docstring)."""

    def __init__(self, agent: UserAgent, endpoint: CoreEndpoint) -> None:
        self.agent = agent
        self.endpoint = endpoint
        self.events: list[Event] = []  # every event, in order (bounded below)
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []
        self._incoming: deque[IncomingCall] = deque()
        self._incoming_ready = asyncio.Event()

    @classmethod
    async def open(
        cls,
        local: Address = ("127.0.0.1", 0),
        *,
        user: str = "pyrtcstack",
        credentials: DigestClient | None = None,
    ) -> SipPhone:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in local[0] else socket.AF_INET,
                             socket.SOCK_DGRAM)  # fmt: skip
        sock.bind(local)
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        agent = UserAgent((str(host), int(port)), user=user, credentials=credentials)
        phone: SipPhone | None = None

        def on_event(event: Event) -> None:
            assert phone is not None
            phone._on_event(event)

        _, endpoint = await loop.create_datagram_endpoint(
            lambda: CoreEndpoint(agent, on_event), sock=sock
        )
        phone = cls(agent, endpoint)
        return phone

    @property
    def local(self) -> Address:
        return self.agent.local

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) > 1000:
            del self.events[:500]
        if isinstance(event, IncomingCall):
            if len(self._incoming) >= MAX_PENDING_CALLS:
                self.agent.reject(event.call_id, self._now(), 486, "Busy Here")
                return
            self._incoming.append(event)
            self._incoming_ready.set()
        for matcher, future in list(self._waiters):
            if not future.done() and matcher(event):
                future.set_result(event)
                self._waiters.remove((matcher, future))

    async def _wait(self, matcher: Callable[[Event], bool], timeout: float) -> Event:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((matcher, future))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if (matcher, future) in self._waiters:
                self._waiters.remove((matcher, future))

    async def register(self, registrar: str, server: Address, *, timeout: float = 40.0) -> int:
        """REGISTER and return the expiry granted; :class:`SipCallError` on a failure."""
        call_id = self.agent.register(registrar, server, self._now())
        self.endpoint.flush()
        event = await self._wait(
            lambda e: isinstance(e, Registered | RegistrationFailed) and e.call_id == call_id,
            timeout,
        )
        if isinstance(event, RegistrationFailed):
            raise SipCallError(event.status, event.reason)
        assert isinstance(event, Registered)
        return event.expires

    async def call(
        self, target: str, server: Address, offer: bytes | None, *, timeout: float = 60.0
    ) -> tuple[str, bytes | None]:
        """INVITE ``target`` and wait for the answer: ``(call_id, sdp of the 200)``."""
        call_id = self.agent.invite(target, server, self._now(), offer)
        self.endpoint.flush()
        event = await self._wait(
            lambda e: isinstance(e, CallAnswered | CallFailed) and e.call_id == call_id,
            timeout,
        )
        if isinstance(event, CallFailed):
            raise SipCallError(event.status, event.reason)
        assert isinstance(event, CallAnswered)
        return call_id, event.sdp

    async def incoming(self) -> IncomingCall:
        """The next incoming call (answer it with :meth:`answer` or reject it)."""
        while not self._incoming:
            self._incoming_ready.clear()
            await self._incoming_ready.wait()
        return self._incoming.popleft()

    async def answer(self, call_id: str, sdp: bytes | None, *, ring: bool = True,
                     timeout: float = 40.0) -> bytes | None:  # fmt: skip
        """180 (optional) and 200 with ``sdp``; wait for the ACK and return its body."""
        if ring:
            self.agent.ring(call_id, self._now())
        self.agent.answer(call_id, sdp, self._now())
        self.endpoint.flush()
        event = await self._wait(
            lambda e: (
                isinstance(e, CallEstablished | CallFailed | CallEnded) and e.call_id == call_id
            ),
            timeout,
        )
        if isinstance(event, CallEstablished):
            return event.sdp
        if isinstance(event, CallFailed):
            raise SipCallError(event.status, event.reason)
        raise SipCallError(487, "ended before the ACK")

    def reject(self, call_id: str, status: int = 486, reason: str = "Busy Here") -> None:
        self.agent.reject(call_id, self._now(), status, reason)
        self.endpoint.flush()

    async def wait_ended(self, call_id: str, timeout: float = 60.0) -> bool:
        """Wait for the call to end; True when the peer hung up."""
        event = await self._wait(
            lambda e: isinstance(e, CallEnded) and e.call_id == call_id, timeout
        )
        assert isinstance(event, CallEnded)
        return event.by_remote

    async def hang_up(self, call_id: str, timeout: float = 40.0) -> None:
        """BYE, and wait for its answer (or its timeout)."""
        waiter = asyncio.ensure_future(self.wait_ended(call_id, timeout))
        self.agent.bye(call_id, self._now())
        self.endpoint.flush()
        await waiter

    def close(self) -> None:
        self.endpoint.close()
