"""The sans-I/O contract family shared by every protocol core.

A *core* is a state machine that never touches a socket, the event loop, the clock or
global randomness. Every core has the three calls of :class:`Core`:

``get_timer()``
    The absolute deadline (same clock as ``now``) at which :meth:`handle_timer` must be
    called, or ``None``. **Pending output counts as a deadline**: when an API call (a
    ``send``, ``close``, ``create_data_channel``...) queued output, ``get_timer()``
    returns a time no later than the ``now`` the core last saw, so the driver calls
    ``handle_timer`` at once and drains. There is no ``flush()``.
``handle_timer(now)``
    Let the core act on expired deadlines (retransmissions, keepalives, timeouts) and on
    output queued by API calls.
``next_event()``
    Pop the next event (a frozen dataclass), or ``None`` when there is none. Never raises.

and one input and one output that depend on what it sits on (the family):

:class:`DatagramCore` — one socket (STUN client and server, TURN client and server, a
    DTLS endpoint): ``receive_datagram(data, addr, now)``, ``datagrams_to_send(now)`` →
    ``[(payload, addr)]``.
:class:`MultiSocketCore` — several local sockets (the ICE agent, the PeerConnection):
    ``receive_datagrams(batch, now, local)`` where ``batch`` is ``[(data, addr)]`` that
    arrived together on socket ``local`` (one datagram is the trivial case), and
    ``transmits(now)`` → ``[(data, source, destination)]`` (:data:`Transmit`).
:class:`PacketCore` — no addresses at all (SCTP over DTLS, RFC 8261):
    ``receive_packets(packets, now)``, ``packets_to_send(now)`` → ``[packet]``.

**The drain invariant.** After *every* call that may change the core (an input, a timer,
an API call), the driver drains the output and ``next_event`` and then re-reads
``get_timer``; a deadline is only valid until the next mutation. One asyncio driver per
family does this for every caller (``pyrtcstack.aio``); ``pyrtcstack.testing.vnet`` does
it on a virtual clock.

Randomness is injected as a :class:`random.Random`: tests pass ``random.Random(seed)`` and
get byte-identical runs, production code passes :class:`random.SystemRandom` (the OS
CSPRNG), which is also what :func:`default_rng` returns when the caller passes nothing.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Generic,
    Protocol,
    TypeAlias,
    TypeVar,
    runtime_checkable,
)

__all__ = [
    "Address",
    "Core",
    "DatagramCore",
    "Event",
    "EventQueue",
    "MultiSocketCore",
    "PacketCore",
    "Transmit",
    "default_rng",
]

#: A transport address as the asyncio layer gives it: ``(host, port)``.
Address: TypeAlias = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event a core emits."""


#: One datagram a :class:`MultiSocketCore` wants sent: ``(data, source, destination)`` —
#: ``data`` from its socket ``source`` to ``destination``. A plain tuple, not a
#: NamedTuple: the data path makes one per datagram, and a NamedTuple costs 3-4 times as
#: much to make (its ``__new__`` is Python code); ``for data, source, dest in transmits``
#: reads it the same way.
Transmit: TypeAlias = tuple[bytes, Address, Address]


@runtime_checkable
class Core(Protocol):
    """The calls every core has, whatever it sits on (see the module docstring)."""

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...


@runtime_checkable
class DatagramCore(Core, Protocol):
    """A core on one socket: datagrams in from an address, datagrams out to one."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...


@runtime_checkable
class MultiSocketCore(Core, Protocol):
    """A core on several local sockets: a batch in on one socket, transmits out."""

    def receive_datagrams(
        self, batch: Sequence[tuple[bytes, Address]], now: float, local: Address | None = None
    ) -> None: ...

    def transmits(self, now: float) -> list[Transmit]: ...


@runtime_checkable
class PacketCore(Core, Protocol):
    """A core without addresses (SCTP over DTLS, RFC 8261 §5): packets in, packets out."""

    def receive_packets(self, packets: Sequence[bytes], now: float) -> None: ...

    def packets_to_send(self, now: float) -> list[bytes]: ...


if TYPE_CHECKING:
    # PEP 696: a plain ``EventQueue()`` is an ``EventQueue[Event]`` (checkers only; the
    # runtime TypeVar of Python 3.11 takes no default, and needs none).
    from typing_extensions import TypeVar as _TypeVarWithDefault

    _T = _TypeVarWithDefault("_T", default=Event)
else:
    _T = TypeVar("_T")


class EventQueue(Generic[_T]):
    """The FIFO of events every core keeps: :meth:`push` from inside, :meth:`pop` is
    ``next_event``. Two lists (new events, and older ones reversed) make both ends O(1)
    amortised; ``pop`` never raises. ``push`` is the new list's own ``append`` (a C
    function, no Python call per event: the data path pushes one per message), so that
    list stays the same object for the queue's life. Lists, not a deque: an empty deque
    is ~0.75 KiB, and a peer connection keeps several queues (docs/peerconnection.md).
    ``EventQueue[Event]`` for a core's events; SCTP keeps received messages as plain
    tuples in the same queue (``EventQueue[Any]``), so they keep their order with the
    events without an object per message."""

    __slots__ = ("_new", "_ready", "push")

    def __init__(self) -> None:
        self._new: list[_T] = []
        self._ready: list[_T] = []
        #: Add ``event`` at the end (the bound ``append`` of the new events' list).
        self.push: Callable[[_T], None] = self._new.append

    def pop(self) -> _T | None:
        ready = self._ready
        if ready:
            return ready.pop()
        new = self._new
        if not new:
            return None
        ready.extend(reversed(new))
        new.clear()
        return ready.pop()

    def __iter__(self) -> Iterator[_T]:
        """The queued items, oldest first, left in the queue (for inspection)."""
        yield from reversed(self._ready)
        yield from self._new

    def __len__(self) -> int:
        return len(self._new) + len(self._ready)

    def __bool__(self) -> bool:
        return bool(self._new) or bool(self._ready)


#: The one CSPRNG the cores share when none is injected. ``SystemRandom`` keeps no state
#: of its own (every call reads ``os.urandom``) and its ``seed`` does nothing, so sharing
#: it changes no output; an instance per core (per peer connection) cost 2.8 KiB each,
#: the unused Mersenne Twister state every ``random.Random`` carries.
_SYSTEM_RNG = random.SystemRandom()


def random_text(rng: random.Random, alphabet: str, n: int) -> str:
    """``n`` characters drawn uniformly and independently from ``alphabet`` (at most 256
    characters): what ``"".join(rng.choice(alphabet) for _ in range(n))`` gives, from one
    ``randbytes`` call instead of a ``getrandbits`` per character (with ``SystemRandom``,
    one ``os.urandom`` read per character: ICE credentials, CNAME and stream ids cost a
    hundred of them per peer connection). Bytes at or above the largest multiple of the
    alphabet's size are rejected, so every character has the same chance; byte ``b`` below
    that gives ``alphabet[b % size]``. For an ASCII alphabet one ``bytes.translate`` does
    both for the whole draw (it deletes the rejected bytes and maps the others)."""
    size = len(alphabet)
    if not 1 <= size <= 256:
        raise ValueError("the alphabet must have 1 to 256 characters")
    limit = 256 - 256 % size
    if alphabet.isascii():
        table, rejected = _ascii_table(alphabet)
        text = ""
        while len(text) < n:
            text += rng.randbytes(n - len(text)).translate(table, rejected).decode("ascii")
        return text
    out: list[str] = []
    while len(out) < n:
        out.extend(alphabet[b % size] for b in rng.randbytes(n - len(out)) if b < limit)
    return "".join(out)


@functools.lru_cache(maxsize=32)
def _ascii_table(alphabet: str) -> tuple[bytes, bytes]:
    """random_text's ``bytes.translate`` arguments for ``alphabet``: the table (byte ``b``
    -> ``alphabet[b % size]``) and the bytes to delete (from the limit up)."""
    size = len(alphabet)
    table = bytes(ord(alphabet[b % size]) for b in range(256))
    return table, bytes(range(256 - 256 % size, 256))


def default_rng(rng: random.Random | None) -> random.Random:
    """Return ``rng``, or the operating system's CSPRNG when the caller injected none."""
    return rng if rng is not None else _SYSTEM_RNG
