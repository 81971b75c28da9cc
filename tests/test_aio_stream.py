"""The one asyncio stream driver (aio/stream.py): frames split across reads reach the core
whole, a framing error closes the connection and is counted, output is drained and the
core's timer re-armed from get_timer()."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from pyrtcstack.aio.stream import StreamEndpoint
from pyrtcstack.common import Address, Event
from pyrtcstack.sip import SipParseError
from pyrtcstack.sip import StreamFramer as SipFramer
from pyrtcstack.sip.message import Message
from pyrtcstack.turn.errors import TurnFramingError
from pyrtcstack.turn.framing import StreamFramer

# A STUN Binding request header (20 bytes, no attributes): one TURN stream frame.
FRAME = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(range(12))
SERVER: Address = ("192.0.2.1", 3478)
SIP_OPTIONS = (
    b"OPTIONS sip:bob@192.0.2.9 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:alice@198.51.100.7>;tag=1\r\n"
    b"To: <sip:bob@192.0.2.9>\r\n"
    b"Call-ID: c1\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@dataclass(frozen=True, slots=True)
class Fired(Event):
    at: float


class EchoCore:
    """Echoes each frame; asks for a wake-up 20 ms after each one and reports it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Address]] = []
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self._deadline: float | None = None
        self.fired = 0

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.received.append((data, addr))
        self._out.append((data, addr))
        self._deadline = now + 0.02

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self.fired += 1
            self._events.append(Fired(now))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("198.51.100.7", 5060) if name == "peername" else default


def test_own_core_partial_frames_drain_and_timer() -> None:
    async def main() -> tuple[EchoCore, FakeTransport, list[Event], StreamEndpoint[bytes]]:
        core = EchoCore()
        events: list[Event] = []
        ep = StreamEndpoint(
            StreamFramer(), TurnFramingError, peer=SERVER, core=core, on_event=events.append
        )
        transport = FakeTransport()
        ep.connection_made(transport)
        ep.data_received(FRAME[:7])
        assert core.received == []  # a partial frame waits in the framer
        ep.data_received(FRAME[7:] + FRAME[:3])
        assert core.received == [(FRAME, SERVER)]
        assert transport.written == [FRAME]  # drained at once
        ep.data_received(FRAME[3:])
        assert core.received == [(FRAME, SERVER)] * 2
        await asyncio.sleep(0.1)  # the re-armed timer fires handle_timer
        return core, transport, events, ep

    core, transport, events, ep = asyncio.run(main())
    assert transport.written == [FRAME, FRAME]
    assert core.fired == 1
    assert [type(e) for e in events] == [Fired]
    assert ep.framing_errors == 0 and not transport.closing


def test_framing_error_closes_and_counts() -> None:
    async def main() -> tuple[EchoCore, FakeTransport, StreamEndpoint[bytes]]:
        core = EchoCore()
        ep = StreamEndpoint(StreamFramer(), TurnFramingError, peer=SERVER, core=core)
        transport = FakeTransport()
        ep.connection_made(transport)
        ep.data_received(FRAME + b"\xc0\x00\x00\x04abcd")  # 0xc0: neither STUN nor ChannelData
        return core, transport, ep

    core, transport, ep = asyncio.run(main())
    assert ep.framing_errors == 1
    assert transport.closing
    assert core.received == []  # nothing of a stream that failed to frame is delivered


def test_shared_core_gets_peer_address_and_owner_drains() -> None:
    """The shared shape (SIP, the TURN server): frames with the peer learnt at
    connection_made go to the owner's receive, then the owner's drain runs once."""

    async def main() -> tuple[list[tuple[Message, Address]], int, StreamEndpoint[Message]]:
        got: list[tuple[Message, Address]] = []
        drains = 0

        def drain() -> None:
            nonlocal drains
            drains += 1

        ep: StreamEndpoint[Message] = StreamEndpoint(
            SipFramer(),
            SipParseError,
            receive=lambda m, addr, now: got.append((m, addr)),
            drain=drain,
        )
        ep.connection_made(FakeTransport())
        msg = SIP_OPTIONS
        ep.data_received(msg[:10])
        ep.data_received(msg[10:])
        ep.data_received(b"GARBAGE\r\n\r\n")
        return got, drains, ep

    got, drains, ep = asyncio.run(main())
    assert len(got) == 1 and got[0][1] == ("198.51.100.7", 5060)
    assert drains == 2
    assert ep.framing_errors == 1
    assert ep.transport is not None and ep.transport.is_closing()
