"""The sans-I/O contract shared by every protocol core.

A *core* is a state machine that never touches a socket, the event loop, the clock or
global randomness. It is driven by exactly these calls (the union of aioquic's and
str0m's contracts, see docs/architecture.md):

``receive_datagram(data, addr, now)``
    Feed one datagram that arrived from ``addr`` at time ``now`` (seconds, any epoch,
    monotonic).
``datagrams_to_send(now)``
    Drain what the core wants to send: a list of ``(payload, addr)``.
``get_timer()``
    The absolute deadline (same clock as ``now``) at which :meth:`handle_timer` must be
    called, or ``None``.
``handle_timer(now)``
    Let the core act on expired deadlines (retransmissions, keepalives, timeouts).
``next_event()``
    Pop the next event (a frozen dataclass), or ``None`` when there is none.

**The drain invariant.** After *every* call that may change the core (an input, a timer,
an API call), the driver drains ``datagrams_to_send`` and ``next_event`` and then re-reads
``get_timer``; a deadline is only valid until the next mutation.

Randomness is injected as a :class:`random.Random`: tests pass ``random.Random(seed)`` and
get byte-identical runs, production code passes :class:`random.SystemRandom` (the OS
CSPRNG), which is also what :func:`default_rng` returns when the caller passes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = ["Address", "DatagramCore", "Event", "default_rng"]

#: A transport address as the asyncio layer gives it: ``(host, port)``.
Address: TypeAlias = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every event a core emits."""


@runtime_checkable
class DatagramCore(Protocol):
    """What every datagram-driven protocol core provides (see the module docstring)."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Event | None: ...


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
    alphabet's size are rejected, so every character has the same chance."""
    size = len(alphabet)
    if not 1 <= size <= 256:
        raise ValueError("the alphabet must have 1 to 256 characters")
    limit = 256 - 256 % size
    out: list[str] = []
    while len(out) < n:
        out.extend(alphabet[b % size] for b in rng.randbytes(n - len(out)) if b < limit)
    return "".join(out)


def default_rng(rng: random.Random | None) -> random.Random:
    """Return ``rng``, or the operating system's CSPRNG when the caller injected none."""
    return rng if rng is not None else _SYSTEM_RNG
