"""When and what to acknowledge: the receiving side's SACK policy (RFC 9260 §6.2).

An :class:`Acks` object belongs to an association. The receive paths tell it how much
DATA arrived (:meth:`Acks.count`); it decides when a SACK falls due and builds it with
the receiver's state *as of that packet*:

- at once for every ``sack_every``-th full-sized packet with DATA (§6.2: "at least every
  second packet"), a "full-sized" packet being the largest one the peer sent so far, up to
  :data:`.config.FULL_PACKET` (RFC 5681 §4.2 counts full-sized segments the same way);
  smaller packets count as their share of one;
- at once on a gap or a duplicate TSN (§6.2, §6.7);
- at once for a DATA chunk with the I bit (RFC 7053 §4: the sender asks for it; the
  receive paths pass it as a reason to SACK now, as a gap);
- if ``SctpConfig.sack_at_batch_end`` (on by default), at the end of a read batch
  (:meth:`Acks.batch_end`): the SACK still owed for the batch's last odd packet(s) leaves
  with the batch's answer instead of after ``sack_delay``: as far as we can see the peer's
  burst has ended, and a sender that waits for everything to be acknowledged (Janus's
  usrsctp glue) would otherwise sit idle; at most one more SACK per batch;
- if ``SctpConfig.sack_coalesce`` (off by default), the SACKs that fell due within one
  read batch leave as one, built when the batch's answer is taken (:meth:`Acks.take`), so
  it acknowledges every packet read so far: a deliberate deviation from "every second
  packet" (as pion/sctp's receiver), for senders that pay for each SACK; a batch with a
  SACK reporting a gap or a duplicate keeps all its SACKs;
- otherwise within ``sack_delay`` (200 ms at most, §6.2: a packet handed over alone,
  ``receive_packet``, with no batch end seen), or with the next DATA we send (§6.2: a SACK
  may ride with outgoing DATA);
- when the application read so much that the window opened by a quarter (§6.2 window
  update, so a peer we throttled to zero learns it may send again).

SACKs that fell due while a burst of packets was read wait in :attr:`Acks.sacks` (each
in a packet of its own, in order, so a window-limited sender sees every one), at most
:data:`MAX_PENDING_SACKS`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from .chunks import ChunkType
from .config import FULL_PACKET, SctpConfig

if TYPE_CHECKING:
    from ..common.core import EventQueue
    from .receiver import Receiver

__all__ = ["MAX_PENDING_SACKS", "MISS_REPORTS", "Acks"]

#: SACKs built and not yet handed to packets_to_send: one per two full-sized packets of a
#: burst of up to 2048 of them (a 1 MiB window in packets of ~500 bytes); past it (a caller
#: that feeds packets without ever asking what to send), a new SACK replaces the newest
#: waiting one.
MAX_PENDING_SACKS = 1024

#: Of the SACKs of one read batch that report the same cumulative TSN, the newest this
#: many leave (see :func:`_thin`): the miss indications a sender counts before it fast
#: retransmits (RFC 9260 §7.2.4: three).
MISS_REPORTS = 3

#: A SACK chunk without gap blocks or duplicates (§3.3.4) as four 32-bit words: type,
#: flags 0 and length 16 (:data:`_PURE_SACK_HEAD`), the cumulative TSN, a_rwnd, then 0 gap
#: blocks and 0 duplicates (a word of 0).
_PURE_SACK = struct.Struct("!IIII")
_PURE_SACK_PACK = _PURE_SACK.pack
_PURE_SACK_HEAD = ChunkType.SACK.value << 24 | 16


class Acks:
    """The SACK policy of one association (see the module docstring)."""

    __slots__ = (
        "_coalesce",
        "_events",
        "_max_queued",
        "_sack_delay",
        "_sack_every",
        "_window",
        "at",
        "credit",
        "due",
        "full_packet",
        "last_rwnd",
        "receiver",
        "sacks",
        "threshold",
    )

    def __init__(self, config: SctpConfig, events: EventQueue[Any]) -> None:
        self._events = events
        self._max_queued = config.max_queued_messages
        self._sack_delay = config.sack_delay
        self._sack_every = config.sack_every
        self._coalesce = config.sack_coalesce
        self._window = config.receive_window
        #: The receiver, once the handshake created it.
        self.receiver: Receiver | None = None
        #: The delayed SACK's deadline (§6.2), or None.
        self.at: float | None = None
        #: A SACK is due with the next packets_to_send (built then).
        self.due = False
        #: SACK chunks built when they fell due, waiting for packets_to_send.
        self.sacks: list[bytes] = []
        #: Bytes of full-sized packets with DATA since the last SACK (see :meth:`size`).
        self.credit = 0
        self.full_packet = 0
        #: A SACK falls due when ``credit`` reaches this (``sack_every`` full packets).
        self.threshold = 0
        #: The a_rwnd of the last SACK we sent.
        self.last_rwnd = config.receive_window

    def size(self, size: int) -> int:
        """What a packet of ``size`` bytes counts: min(size, full size). A packet larger
        than every one so far sets the full size (up to FULL_PACKET) and the threshold."""
        full = self.full_packet
        if size < full:
            return size
        if full == FULL_PACKET:
            return full
        full = min(size, FULL_PACKET)
        if full > self.full_packet:
            self.full_packet = full
            self.threshold = self._sack_every * full
        return full

    def count(self, credit: int, sack_now: bool, now: float) -> None:
        """Packets with DATA worth ``credit`` (see :meth:`size`) arrived; ``sack_now``: a
        gap or a duplicate among them (§6.2)."""
        n = self.credit + credit
        self.credit = n
        if sack_now or n >= self.threshold:
            self.point()
        elif self.at is None:
            self.at = now + self._sack_delay

    def point(self) -> None:
        """§6.2: a SACK is due now: built with the receiver's state as of this packet, it
        leaves with the next packets_to_send, after the SACKs due before it."""
        if self.receiver is None:
            self.due = True
            return
        sacks = self.sacks
        if len(sacks) >= MAX_PENDING_SACKS:
            sacks.pop()  # superseded: the new SACK acknowledges at least as much
        sacks.append(self.build())

    def take(self, bundle: bool) -> list[bytes]:
        """The SACK chunks to send now, oldest first (the list is handed over); ``bundle``:
        DATA leaves now, so a delayed SACK rides with it (§6.2)."""
        if bundle and self.at is not None:
            self.due = True
        if self.receiver is not None:
            sacks = self.sacks
            if (
                self._coalesce
                and (self.due or sacks)
                and all(len(sack) == _PURE_SACK.size for sack in sacks)
            ):
                # One SACK for the whole batch, built now: it acknowledges at least as
                # much as every one it replaces, and the packets read after them. SACKs
                # that report a gap or a duplicate (§6.2: at once) are all kept.
                self.sacks = [self.build()]
            elif self.due:
                self.sacks.append(self.build())
        sacks = self.sacks
        if sacks:
            self.sacks = []
            if len(sacks) > MISS_REPORTS:
                sacks = _thin(sacks)
        return sacks

    def build(self) -> bytes:
        """The SACK chunk for the receiver's state now (§3.3.4)."""
        receiver = self.receiver
        assert receiver is not None
        self.due = False
        self.at = None
        self.credit = 0
        if not receiver.ooo and not receiver.duplicates:
            # The common case, packed directly: no gap blocks, no duplicates. The window
            # is Receiver.a_rwnd's, without the reserve (a sender that filled the reserve
            # too would have what it sent past its next loss dropped).
            rwnd = receiver.capacity - receiver.reserve - receiver.buffered
            if rwnd < 0 or len(self._events) >= self._max_queued:
                rwnd = 0
            self.last_rwnd = rwnd
            return _PURE_SACK_PACK(_PURE_SACK_HEAD, receiver.cum_tsn, rwnd, 0)
        sack = receiver.build_sack()
        if len(self._events) >= self._max_queued:
            sack.a_rwnd = 0
        self.last_rwnd = sack.a_rwnd
        return sack.encode()

    def batch_end(self) -> None:
        """A read batch ended (§6.2 allows a SACK for any packet; it must not wait longer
        than the delay): a delayed SACK still owed falls due now, to leave with the batch's
        answer (see the module docstring)."""
        if self.at is not None:
            self.at = None
            self.due = True

    def window_update(self, now: float) -> None:
        """§6.2: the application read data; tell a peer we throttled that the window
        opened again (by a quarter of it) with a SACK now."""
        receiver = self.receiver
        if receiver is not None and (receiver.a_rwnd - self.last_rwnd >= self._window >> 2):
            self.at = now

    def stop(self) -> None:
        """The association closed: nothing more to acknowledge."""
        self.at = None
        self.due = False
        self.sacks = []


def _thin(sacks: list[bytes]) -> list[bytes]:
    """The SACKs of one read batch with, of each run that reports the same cumulative TSN
    without duplicates, only the newest :data:`MISS_REPORTS`.

    §6.2 asks a SACK at once for every packet that arrives with a gap; read in one batch,
    they leave together, and behind a loss they all report the same holes: 60 SACKs in
    1 ms, each the same cumulative TSN (docs/interop.md, Chromium → us captured). Such a
    SACK grows no sender's window (§7.2.1, §7.2.2: only an advancing cumulative TSN
    does), and the newest reports all the gap blocks the older ones did, so the older
    ones only add miss indications (§7.2.4) — dcSCTP fast-retransmitted the same TSNs
    again on them, three times in 0.5 ms, and Chromium's socket dropped 787 of our
    datagrams. Three are kept: what a sender counts before it fast retransmits. A SACK
    that reports duplicate TSNs (§6.7) is kept whatever its run. A batch without loss
    has a new cumulative TSN in each SACK and loses none."""
    kept: list[bytes] = []
    cum = b""
    run = 0
    for sack in reversed(sacks):
        if sack[4:8] != cum:
            cum = sack[4:8]
            run = 0
        run += 1
        if run <= MISS_REPORTS or sack[14:16] != b"\0\0":
            kept.append(sack)
    kept.reverse()
    return kept
