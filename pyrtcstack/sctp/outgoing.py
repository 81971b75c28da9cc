"""What the sending half of an association keeps: one :class:`OutMessage` per user message
until it is acknowledged or abandoned, one :class:`SentChunk` per DATA chunk that has a
TSN and is not yet cumulatively acknowledged (RFC 9260 §6.1, §6.2.1, §6.3; RFC 3758 §3.5
for the abandoned flags). The algorithms that move them are :mod:`.sender`'s."""

from __future__ import annotations

__all__ = ["OutMessage", "SentChunk"]


class OutMessage:
    """One user message waiting to be (completely) acknowledged."""

    __slots__ = (
        "abandoned",
        "data",
        "expires",
        "first_tsn",
        "max_rtx",
        "offset",
        "ppid",
        "sid",
        "ssn",
        "unordered",
    )

    def __init__(  # noqa: PLR0917 - one per message, positional on purpose
        self,
        sid: int,
        ppid: int,
        data: bytes,
        unordered: bool,
        max_rtx: int | None,
        expires: float | None,
    ) -> None:
        self.sid = sid
        self.ppid = ppid
        self.data = data
        self.unordered = unordered
        self.max_rtx = max_rtx
        self.expires = expires
        self.offset = 0
        self.ssn = 0
        self.abandoned = False
        self.first_tsn: int | None = None


class SentChunk:
    """A DATA chunk that has a TSN and is not cumulatively acknowledged yet."""

    __slots__ = (
        "abandoned",
        "acked",
        "data",
        "fast_done",
        "flags",
        "in_flight",
        "marked",
        "misses",
        "msg",
        "rtx",
        "sent_at",
        "tsn",
    )

    def __init__(self, tsn: int, flags: int, data: bytes, msg: OutMessage, now: float) -> None:
        self.tsn = tsn
        self.flags = flags
        self.data = data
        self.msg = msg
        self.sent_at = now
        self.rtx = 0
        self.misses = 0
        self.acked = False
        self.abandoned = False
        self.in_flight = True
        self.marked = False
        self.fast_done = False
