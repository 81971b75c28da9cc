"""The receiving half of an association: TSN tracking, reassembly, ordered delivery, SACKs.

RFC 9260 §6.2 (acknowledgement), §6.5-6.6 (stream ordering, unordered delivery), §6.9
(reassembly) and RFC 3758 §3.6 (FORWARD TSN on the receiver).

Costs do not grow with the window on the fast path: an in-order DATA chunk is an O(1)
update of the cumulative TSN, and a message is assembled once, when its last fragment
arrives. Out-of-order TSNs are kept in a set that is sorted only when a SACK with gap
blocks is built.

The fast path (:meth:`Receiver.receive_chunks`) takes all the DATA chunks of a packet in
one call. While data arrives in TSN order with no gap, the fragments of the message being
received are simply appended to a list (the *run*): the previous fragment of the message
is always the chunk at the cumulative TSN (§6.9: a message's fragments have consecutive
TSNs), so no lookup is needed, and the message is one ``b"".join`` when its E bit arrives.
Anything else (a gap, a duplicate, a chunk the run cannot take) first moves the run into
the per-stream fragment table keyed by TSN (:meth:`Receiver._spill`) and takes the general
path, which handles loss and reordering.

Complete messages are appended as plain tuples ``(stream_id, ppid, data, unordered)`` to
``ready``, which the association shares with its event queue: no object per message.

Memory is bounded by ``capacity`` (the window we advertise), a hard bound (RFC 9260 §6.2:
DATA beyond it is dropped, not acknowledged). Everything held counts: fragments, complete
messages waiting for an earlier sequence number, and messages delivered but not yet popped
by the application, each *charged* ``max(len, MIN_CHARGE)`` bytes so that a flood of tiny
chunks cannot hold more Python objects than bytes (a held item costs ~100-250 bytes of
memory whatever its size; usrsctp likewise subtracts an mbuf, MSIZE, per chunk held from
its window). Fragments taken into the run after the first are at least MIN_CHARGE bytes
(charged their size); a small first fragment's surplus charge is ``run_extra``.
:meth:`Receiver.admit` is the one admission check. DATA that does not advance the
cumulative TSN may only fill the window up to ``capacity - reserve``: the last ``reserve``
bytes (``min(max_message_size, capacity // 4)``) are kept for the chunks that fill the
hole at the cumulative TSN, so a window filled by out-of-order data can still be
reassembled, without ever going past ``capacity``. A gap filler (below the largest TSN
held, RFC 9260 §6.2) may use half of the reserve; past that, :meth:`Receiver._renege`
makes room by dropping held TSNs no SACK has reported yet. Per-stream state is two bytes (the
next SSN, ``next_ssn``) plus an :class:`InboundStream` only while something is held.
``next_ssn`` covers the stream ids seen so far, not the negotiated count: it grows (at
least doubling) when a message arrives on a higher stream id, up to the negotiated
inbound streams (RFC 9260 §5.1.2 MIS/OS), so a data channel connection that uses two
streams holds a few dozen bytes, and a peer that uses stream 65,534 costs 128 KiB, the
most it can, as a table for every stream would cost anyway.

A message is checked against ``max_message_size`` while it is being reassembled, not only
when it completes (RFC 8831 §6.6): the fragments from a B fragment on that are contiguous
form a *chain* (``InboundStream.chains``, its end TSN -> (first TSN, bytes)), extended as
fragments arrive, each fragment walked once; a chain longer than the limit sets
``too_large`` and the association aborts. The run is a chain too (``run_bytes``).
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from typing import Any

from ..common.core import EventQueue
from .chunks import SackChunk

__all__ = ["InboundStream", "RawMessage", "Receiver"]

#: A complete message as the receiver queues it: (stream id, PPID, data, unordered).
RawMessage = tuple[int, int, bytes, bool]
#: A DATA chunk's header (§3.3.1): type, flags, length, TSN, stream id, SSN, PPID.
_DATA_HEADER = struct.Struct("!BBHIHHI")

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
#: Largest distance ahead of the cumulative TSN we accept a DATA chunk at.
MAX_TSN_AHEAD = 0xFFFF  # gap block offsets are 16-bit
#: Bounds on what one SACK reports (RFC 9260 §3.3.4 allows more; a SACK must fit a packet).
MAX_GAP_BLOCKS = 64
#: Rebase the gap blocks' offsets once the cumulative TSN moved this far past their base.
_GAP_REBASE = 1 << 24
MAX_DUPLICATES = 32
#: The least a held fragment or message is charged against the window, in bytes (see the
#: module docstring). Full-size fragments (~1,175 bytes) are charged their size.
MIN_CHARGE = 256


def charge(size: int) -> int:
    """What ``size`` bytes of user data held in one piece cost against the window."""
    return size if size >= MIN_CHARGE else MIN_CHARGE


class InboundStream:
    """What is held for one incoming stream: complete ordered messages waiting for an
    earlier one, fragments, chains. It exists only while something is held (its expected
    SSN is in :attr:`Receiver.next_ssn`), so streams cost no objects while idle."""

    __slots__ = ("chains", "frags", "pending")

    def __init__(self) -> None:
        #: ssn -> (ppid, data, first TSN, last TSN) complete ordered messages waiting
        #: for an earlier one.
        self.pending: dict[int, tuple[int, bytes, int, int]] = {}
        #: tsn -> (flags, ssn, ppid, data) fragments of incomplete messages.
        self.frags: dict[int, tuple[int, int, int, bytes]] = {}
        #: end tsn -> (tsn of the B fragment, bytes): contiguous fragments from a B on.
        self.chains: dict[int, tuple[int, int]] = {}


class Receiver:
    """TSN bookkeeping and message assembly for the incoming direction."""

    def __init__(
        self,
        initial_tsn: int,
        capacity: int,
        max_message_size: int,
        ready: EventQueue[Any] | None = None,
        streams: int = 65536,
    ) -> None:
        self.cum_tsn = (initial_tsn - 1) & MASK32
        #: The TSNs received past the cumulative TSN -> the stream id of their chunk.
        self.ooo: dict[int, int] = {}
        #: Last TSN -> SSN of the complete ordered messages in ``pending`` (what
        #: :meth:`_renege` may drop; §6.2).
        self._tails: dict[int, int] = {}
        #: The TSNs of ``ooo`` as sorted blocks of consecutive TSNs (§3.3.4 gap blocks),
        #: offsets from ``_gap_base``: block i is ``_gap_starts[i]`` to ``_gap_ends[i]``.
        #: Kept as TSNs arrive (a bisect), so a SACK costs its blocks, not a sort of
        #: every out-of-order TSN (one SACK per packet with a gap, §6.2, made that
        #: quadratic in a window of one-byte chunks). Blocks the cumulative TSN passed are
        #: dropped when the next SACK is built.
        self._gap_base = self.cum_tsn
        self._gap_starts: list[int] = []
        self._gap_ends: list[int] = []
        self.duplicates: list[int] = []
        #: The streams something is held for (removed when nothing is).
        self.streams: dict[int, InboundStream] = {}
        #: The next expected SSN of the incoming streams (§6.5) up to the highest stream
        #: id seen: two bytes a stream (an InboundStream each cost ~330 bytes: 21 MB for
        #: one message on each of 65,535 streams); a stream past its end expects SSN 0.
        #: Grown by :meth:`_grow`, never past ``stream_count`` entries (128 KiB).
        self.next_ssn = array("H")
        #: The negotiated number of incoming streams (§5.1.2): every stream id is below it.
        self.stream_count = streams
        self.capacity = capacity
        self.max_message_size = max_message_size
        #: Room kept for DATA that advances the cumulative TSN (see the module docstring).
        self.reserve = min(max_message_size, capacity // 4)
        #: Bytes charged (:func:`charge`): fragments + pending ordered + delivered but unread.
        self.buffered = 0
        #: Complete messages ready for the application, as :data:`RawMessage` tuples (the
        #: association passes its event queue, so messages and events keep their order).
        self.ready: EventQueue[Any] = EventQueue() if ready is None else ready
        self.dropped_rwnd = 0
        #: TSNs held past the cumulative TSN (reported in gap blocks) dropped again to
        #: take a chunk that fills a gap with the window full (§6.2, :meth:`_renege`).
        self.reneged = 0
        #: The highest TSN a SACK of ours reported in a gap block (the cumulative TSN
        #: until one did): :meth:`_renege` never drops it or anything below it. dcSCTP
        #: (Chromium, libwebrtc) never sends again a chunk a SACK reported, whatever the
        #: SACKs that follow say, so dropping one stalls such a sender for good (see
        #: :meth:`_renege`).
        self.reported = self.cum_tsn
        self.too_large = False
        #: The run: fragments of the message being received in order (see the module
        #: docstring); its last fragment is the chunk at ``cum_tsn``.
        self.run: list[bytes] | None = None
        self.run_tsn = 0  # TSN of the run's first fragment (the one with the B bit)
        self.run_sid = 0
        self.run_ssn = 0
        self.run_ppid = 0
        self.run_flags = 0
        self.run_bytes = 0  # user data in the run
        #: What the run's first fragment is charged beyond its size (a small first
        #: fragment; the others are at least MIN_CHARGE bytes, charged their size).
        self.run_extra = 0

    # -- admission (RFC 9260 §6.2) ------------------------------------------------------
    def admit(self, diff: int, cost: int) -> bool:
        """Whether a new DATA chunk ``diff`` TSNs past the cumulative TSN, charged ``cost``
        (:func:`charge`), may be held. The window check of every receive path: the fast
        paths take in line only what it would admit (:meth:`run_room`) and leave the rest
        to :meth:`receive`. Only a chunk that advances the cumulative TSN may use the
        last ``reserve`` bytes; nothing goes past ``capacity``."""
        if diff == 1:
            return self.buffered + cost <= self.capacity
        if self.buffered + cost <= self.capacity - self.reserve:
            return diff <= MAX_TSN_AHEAD
        # RFC 9260 §6.2: "if the new incoming DATA chunk holds a TSN value less than the
        # largest TSN received so far", a gap filler, it may use half the reserve.
        return (
            self.buffered + cost <= self.capacity - (self.reserve >> 1) and diff < self._top_diff()
        )

    def _top_diff(self) -> int:
        """The largest TSN held past the cumulative TSN, as its distance from it (0 when
        nothing is held past it)."""
        ends = self._gap_ends
        if not ends or not self.ooo:
            return 0
        top = (self._gap_base + ends[-1] - self.cum_tsn) & MASK32
        return 0 if top >= HALF32 else top

    def run_room(self) -> int:
        """Bytes the run may still take in order, in fragments of at least
        :data:`MIN_CHARGE` bytes (charged their size): :meth:`admit` for the next TSN,
        and what is left below ``max_message_size`` for the message."""
        return min(self.capacity - self.buffered, self.max_message_size - self.run_bytes)

    # -- DATA, fast path ------------------------------------------------------------
    def receive_chunks(
        self, data: bytes, pos: int, size: int, streams: int, max_ready: int
    ) -> tuple[int, bool, int]:
        """Take the DATA chunks of packet ``data`` from offset ``pos`` (§6.2, §6.9).

        Stops before the first chunk that is not a well-formed DATA chunk with user data,
        is for a stream id >= ``streams``, or when ``ready`` holds ``max_ready`` messages:
        the caller's general path takes over from there. Returns (offset where it stopped,
        SACK at once (a gap, a duplicate, or a chunk with the I bit, RFC 7053 §4), number of
        chunks dropped for lack of room)."""
        sack_now = False
        dropped = 0
        ready = self.ready
        unpack = _DATA_HEADER.unpack_from
        capacity = self.capacity
        max_size = self.max_message_size
        while size - pos >= 16:
            kind, flags, length, tsn, sid, ssn, ppid = unpack(data, pos)
            end = pos + length
            if kind or length <= 16 or end > size or sid >= streams or len(ready) >= max_ready:
                break
            start = pos + 16
            pos += (length + 3) & ~3
            n = length - 16
            if flags & 8:  # I: the sender asks for a SACK at once (RFC 7053 §4)
                sack_now = True
            if tsn == ((self.cum_tsn + 1) & MASK32) and not self.ooo:
                # In order, nothing missing before it: what admit(1, charge(n)) takes.
                run = self.run
                if flags & 2:  # B: the first fragment of a message
                    if run is None:
                        cost = n if n >= MIN_CHARGE else MIN_CHARGE
                        if flags & 1:  # B and E: a whole message in one chunk
                            if self.buffered + cost <= capacity:
                                self.cum_tsn = tsn
                                self.buffered += cost
                                self._complete(sid, ssn, ppid, flags & 4, data[start:end])
                                continue
                        elif n <= max_size and self.buffered + cost <= capacity:
                            # The first fragment may be small (bundled after another
                            # message's last one): charged MIN_CHARGE, the rest remembered.
                            self.cum_tsn = tsn
                            self.buffered += cost
                            self.run = [data[start:end]]
                            self.run_bytes = n
                            self.run_extra = cost - n
                            self.run_tsn = tsn
                            self.run_sid = sid
                            self.run_ssn = ssn
                            self.run_ppid = ppid
                            self.run_flags = flags
                            continue
                elif run is not None and sid == self.run_sid:
                    if flags & 1:  # E: the message is complete
                        cost = n if n >= MIN_CHARGE else MIN_CHARGE
                        size_all = self.run_bytes + n
                        if self.buffered + cost <= capacity and size_all <= max_size:
                            # The message is charged charge(its size), its fragments were
                            # charged their sizes plus run_extra.
                            self.cum_tsn = tsn
                            self.buffered += (
                                (size_all if size_all >= MIN_CHARGE else MIN_CHARGE)
                                - self.run_bytes
                                - self.run_extra
                            )
                            run.append(data[start:end])
                            self.run = None
                            self.run_bytes = 0
                            self._complete(
                                sid, self.run_ssn, self.run_ppid, self.run_flags & 4, b"".join(run)
                            )
                            continue
                    elif (
                        n >= MIN_CHARGE
                        and self.buffered + n <= capacity
                        and self.run_bytes + n <= max_size
                    ):  # run_room(), in line
                        self.cum_tsn = tsn
                        self.buffered += n
                        self.run_bytes += n
                        run.append(data[start:end])
                        continue
            r = self.receive(tsn, sid, ssn, ppid, flags, data[start:end])
            if r:
                sack_now = True
                if r == 3:
                    dropped += 1
        return pos, sack_now, dropped

    def _spill(self) -> None:
        """Move the run into its stream's fragment table (a chain), for the general path."""
        run = self.run
        if run is None:
            return
        self.run = None
        stream = self.streams.get(self.run_sid)
        if stream is None:
            stream = self.streams[self.run_sid] = InboundStream()
        frags = stream.frags
        tsn = self.run_tsn
        ssn = self.run_ssn
        ppid = self.run_ppid
        flags = self.run_flags & 6  # B (and U) on the first fragment, no E
        for piece in run:
            frags[tsn] = (flags, ssn, ppid, piece)
            flags &= 4
            tsn = (tsn + 1) & MASK32
        stream.chains[(tsn - 1) & MASK32] = (self.run_tsn, self.run_bytes)
        self.run_bytes = 0  # the pieces keep their charges: charge(len) each

    # -- DATA ------------------------------------------------------------------------
    def receive(  # noqa: PLR0917 - hot path, positional on purpose
        self, tsn: int, sid: int, ssn: int, ppid: int, flags: int, data: bytes
    ) -> int:
        """Process one DATA chunk (the general path: any order, duplicates, loss). Returns
        0 accepted in order, 1 accepted out of order (a gap: SACK at once), 2 duplicate
        (SACK at once), 3 dropped (no room: not acknowledged, §6.2)."""
        if self.run is not None:
            self._spill()
        cum = self.cum_tsn
        diff = (tsn - cum) & MASK32
        if diff == 0 or diff >= HALF32 or tsn in self.ooo:
            if len(self.duplicates) < MAX_DUPLICATES:
                self.duplicates.append(tsn)
            return 2
        size = len(data)
        cost = size if size >= MIN_CHARGE else MIN_CHARGE
        if not self.admit(diff, cost) and not (
            self.ooo and diff <= MAX_TSN_AHEAD and self._renege(diff, cost)
        ):
            self.dropped_rwnd += 1
            return 3
        if diff == 1:
            cum = tsn
            ooo = self.ooo
            if ooo:
                nxt = (cum + 1) & MASK32
                while nxt in ooo:
                    del ooo[nxt]
                    cum = nxt
                    nxt = (cum + 1) & MASK32
            self.cum_tsn = cum
            result = 1 if self.ooo else 0
        else:
            self.ooo[tsn] = sid
            self._gap_add(tsn)
            result = 1
        self.buffered += cost
        if flags & 3 == 3:
            self._complete(sid, ssn, ppid, flags & 4, data, tsn, tsn)
            return result
        stream = self.streams.get(sid)
        if stream is None:
            stream = self.streams[sid] = InboundStream()
        stream.frags[tsn] = (flags, ssn, ppid, data)
        self._chain(stream, sid, tsn, flags, size)
        return result

    def ack_only(self, tsn: int) -> int:
        """Acknowledge a DATA chunk whose contents we discard (an invalid stream, §3.3.10.1)."""
        if self.run is not None:
            self._spill()
        cum = self.cum_tsn
        diff = (tsn - cum) & MASK32
        if diff == 0 or diff >= HALF32 or tsn in self.ooo or diff > MAX_TSN_AHEAD:
            return 2
        if diff == 1:
            self.cum_tsn = tsn
            nxt = (tsn + 1) & MASK32
            while nxt in self.ooo:
                del self.ooo[nxt]
                self.cum_tsn = nxt
                nxt = (nxt + 1) & MASK32
            return 1 if self.ooo else 0
        self.ooo[tsn] = -1  # nothing held: never dropped again (_renege)
        self._gap_add(tsn)
        return 1

    def _renege(self, diff: int, cost: int) -> bool:
        """RFC 9260 §6.2: the window is full and a new chunk ``diff`` TSNs past the
        cumulative TSN, charged ``cost``, is below the largest TSN held: drop the largest
        TSNs held for reordering, enough for :meth:`admit` to take it (the SACK that
        follows at once no longer reports them, and the peer sends them again). Only
        what is held past the cumulative TSN and not delivered goes: fragments of
        incomplete messages and complete ordered messages waiting for an earlier SSN
        (a message whole, all its TSNs). The walk stops at the first TSN that is not at
        or above the new chunk's, that is neither (a delivered message, a chunk
        acknowledged without data), or that a SACK of ours already reported in a gap
        block (``reported``: a message whole, so none of its TSNs may have been).
        Nothing is dropped if that cannot make room; returns whether it did. Each TSN is
        walked once when it is dropped (it was received once): the work follows the
        input."""
        # the next TSN, or a gap filler below the largest TSN held (which :meth:`admit`
        # lets use half the reserve)
        if diff == 1:
            limit = self.capacity
        elif diff < self._top_diff():
            limit = self.capacity - (self.reserve >> 1)
        else:
            return False  # above the largest TSN held: §6.2's MUST drop
        need = self.buffered + cost - limit
        if cost > limit or need <= 0:
            return False
        cum = self.cum_tsn
        tsn = (cum + diff) & MASK32
        # Only TSNs no SACK of ours reported (above ``reported``) may go. RFC 9260 §6.2
        # lets a receiver renege on gap-acknowledged data and §6.2.1/§7.2.4 make the
        # sender keep and resend it, but dcSCTP marks a chunk acked for good at its first
        # gap report (net/dcsctp/tx/outstanding_data.cc: AckGapBlocks; NackItem and the
        # T3's NackAll skip acked chunks): Chromium → us stalled for good in 3 of 4
        # transfers that reneged on reported TSNs (docs/interop.md, 2026-12-07).
        shield = (self.reported - cum) & MASK32
        if shield >= HALF32:
            shield = 0  # the cumulative TSN passed it: nothing held is shielded
        ooo = self.ooo
        streams = self.streams
        tails = self._tails
        # The plan, read before anything changes: (sid, ssn or -1 for a fragment, TSN).
        plan: list[tuple[int, int, int]] = []
        freed = 0
        base = self._gap_base
        starts = self._gap_starts
        ends = self._gap_ends
        i = len(ends) - 1
        top = ends[i] if i >= 0 else 0
        while freed < need and i >= 0:
            t = (base + top) & MASK32
            if ((t - tsn) & MASK32) >= HALF32:
                return False  # reached the new chunk's TSN: not enough above it
            if ((t - cum) & MASK32) <= shield:
                return False  # reached what a SACK reported: never dropped
            sid = ooo.get(t, -1)
            stream = streams.get(sid) if sid >= 0 else None
            if stream is None:
                return False
            frag = stream.frags.get(t)
            if frag is not None:
                plan.append((sid, -1, t))
                freed += charge(len(frag[3]))
                span = 1
            else:
                ssn = tails.get(t, -1)
                msg = stream.pending.get(ssn) if ssn >= 0 else None
                if msg is None or msg[3] != t:
                    return False  # delivered (or nothing held): never dropped
                if ((msg[2] - cum) & MASK32) <= shield:
                    return False  # its first TSNs were reported: the message stays whole
                plan.append((sid, ssn, t))
                freed += charge(len(msg[1]))
                span = ((t - msg[2]) & MASK32) + 1
            # The next TSN down that is held (past this message's first TSN).
            for _ in range(span):
                if top > starts[i]:
                    top -= 1
                else:
                    i -= 1
                    if i < 0:
                        break
                    top = ends[i]
        if freed < need:
            return False
        for sid, ssn, t in plan:
            stream = streams[sid]
            if ssn < 0:
                piece = stream.frags.pop(t)[3]
                self.buffered -= charge(len(piece))
                chain = stream.chains.pop(t, None)
                if chain is not None and chain[0] != t:
                    stream.chains[(t - 1) & MASK32] = (chain[0], chain[1] - len(piece))
                span = 1
            else:
                _, data, first, _ = stream.pending.pop(ssn)
                del tails[t]
                self.buffered -= charge(len(data))
                span = ((t - first) & MASK32) + 1
            for _ in range(span):
                del ooo[self._gap_pop()]
                self.reneged += 1
            if not (stream.frags or stream.pending or stream.chains):
                del streams[sid]
        return True

    def _gap_pop(self) -> int:
        """Remove the largest TSN from the gap blocks; returns it."""
        starts = self._gap_starts
        ends = self._gap_ends
        end = ends[-1]
        if end > starts[-1]:
            ends[-1] = end - 1
        else:
            del starts[-1], ends[-1]
        return (self._gap_base + end) & MASK32

    def _gap_add(self, tsn: int) -> None:
        """``tsn`` (not held before, ahead of the cumulative TSN) joins the gap blocks."""
        starts = self._gap_starts
        ends = self._gap_ends
        if not starts or ((self.cum_tsn - self._gap_base) & MASK32) > _GAP_REBASE:
            self._gap_trim()
            starts = self._gap_starts
            ends = self._gap_ends
        off = (tsn - self._gap_base) & MASK32
        i = bisect_right(starts, off)
        if i and ends[i - 1] >= off - 1:  # extends the block before it
            ends[i - 1] = off
            if i < len(starts) and starts[i] == off + 1:  # and joins the next one
                ends[i - 1] = ends[i]
                del starts[i], ends[i]
        elif i < len(starts) and starts[i] == off + 1:  # extends the next block down
            starts[i] = off
        else:
            starts.insert(i, off)
            ends.insert(i, off)

    def _gap_trim(self) -> int:
        """Drop the blocks the cumulative TSN passed; returns the cumulative TSN's offset
        from the blocks' base (rebased when no block is left, or far behind)."""
        starts = self._gap_starts
        ends = self._gap_ends
        shift = (self.cum_tsn - self._gap_base) & MASK32
        k = bisect_right(ends, shift)
        if k:
            del starts[:k], ends[:k]
        if not starts:
            self._gap_base = self.cum_tsn
            return 0
        if shift > _GAP_REBASE:
            self._gap_starts = [x - shift for x in starts]
            self._gap_ends = [x - shift for x in ends]
            self._gap_base = self.cum_tsn
            return 0
        return shift

    def _chain(self, stream: InboundStream, sid: int, tsn: int, flags: int, size: int) -> None:
        """Fragment ``tsn`` (``size`` bytes) was stored: start or extend the chain it belongs
        to, over the fragments already waiting after it (each fragment is walked once);
        assemble the message at its E fragment (§6.9); flag a message that passed
        ``max_message_size`` (RFC 8831 §6.6) as soon as it does."""
        frags = stream.frags
        chains = stream.chains
        if flags & 2:
            head = tsn
        else:
            found = chains.pop((tsn - 1) & MASK32, None)
            if found is None:
                return  # not connected to a B fragment (yet)
            head, before = found
            size += before
        end = tsn
        last = flags
        while not last & 1:
            nxt = (end + 1) & MASK32
            frag = frags.get(nxt)
            if frag is None or frag[0] & 2:
                break
            end = nxt
            last = frag[0]
            size += len(frag[3])
        if size > self.max_message_size:
            self.too_large = True  # the association aborts (see _complete)
        if last & 1:
            self._assemble(stream, sid, head, end)
        else:
            chains[end] = (head, size)

    def _assemble(self, stream: InboundStream, sid: int, begin: int, end: int) -> None:
        """Join the fragments ``begin``..``end`` (B to E) into their message (§6.9)."""
        frags = stream.frags
        flags, ssn, ppid, _ = frags[begin]
        parts = []
        held = 0
        t = begin
        while True:
            piece = frags.pop(t)[3]
            parts.append(piece)
            held += len(piece) if len(piece) >= MIN_CHARGE else MIN_CHARGE
            if t == end:
                break
            t = (t + 1) & MASK32
        data = b"".join(parts)
        self.buffered += charge(len(data)) - held
        self._complete(sid, ssn, ppid, flags & 4, data, begin, end)
        if not (frags or stream.pending or stream.chains) and self.streams.get(sid) is stream:
            del self.streams[sid]

    def _complete(  # noqa: PLR0917
        self,
        sid: int,
        ssn: int,
        ppid: int,
        unordered: int,
        data: bytes,
        first: int = -1,
        last: int = -1,
    ) -> None:
        """A whole message (TSNs ``first`` to ``last``): deliver it, or hold it until the
        earlier SSNs arrived (§6.5). The in-order paths leave the TSNs out (-1): their
        message is at or below the cumulative TSN, never dropped again (:meth:`_renege`)."""
        if len(data) > self.max_message_size:
            # RFC 8831 §6.6: never hold more than our advertised max-message-size; the
            # association aborts (it is a protocol violation by the peer).
            self.too_large = True
            self.buffered -= charge(len(data))
            return
        if unordered:
            self.ready.push((sid, ppid, data, True))
            return
        try:
            expected = self.next_ssn[sid]
        except IndexError:  # the first message on a stream past the table
            expected = self._grow(sid)
        if ssn == expected:
            self.ready.push((sid, ppid, data, False))
            nxt = (ssn + 1) & 0xFFFF
            stream = self.streams.get(sid)
            if stream is not None and stream.pending:
                nxt = self._release(sid, stream.pending, nxt)
                if not (stream.pending or stream.frags or stream.chains):
                    del self.streams[sid]
            self.next_ssn[sid] = nxt
            return
        stream = self.streams.get(sid)
        if ((ssn - expected) & 0xFFFF) < 0x8000 and (stream is None or ssn not in stream.pending):
            if stream is None:
                stream = self.streams[sid] = InboundStream()
            stream.pending[ssn] = (ppid, data, first, last)
            if last in self.ooo:  # past the cumulative TSN: _renege may drop it
                self._tails[last] = ssn
        else:  # an SSN already delivered or waiting: a misbehaving peer; drop it
            self.buffered -= charge(len(data))

    def _release(self, sid: int, pending: dict[int, tuple[int, bytes, int, int]], nxt: int) -> int:
        """§6.5: deliver the held messages of stream ``sid`` from SSN ``nxt`` on, in order,
        while there is no hole; returns the next SSN expected. A delivered message is no
        longer one :meth:`_renege` may drop."""
        tails = self._tails
        while nxt in pending:
            p, d, _, t = pending.pop(nxt)
            tails.pop(t, None)
            self.ready.push((sid, p, d, False))
            nxt = (nxt + 1) & 0xFFFF
        return nxt

    def _grow(self, sid: int) -> int:
        """Make ``next_ssn`` cover stream ``sid`` (at least doubling it, so a peer that
        climbs through its stream ids costs amortised O(1) each, never past the
        negotiated ``stream_count``). Returns the SSN the stream expects: 0 (§6.5)."""
        table = self.next_ssn
        size = max(sid + 1, 2 * len(table), 16)
        size = min(size, max(self.stream_count, sid + 1))
        table.frombytes(bytes(2 * (size - len(table))))
        return 0

    def release(self, size: int) -> None:
        """The application consumed a delivered message of ``size`` bytes."""
        self.buffered -= size if size >= MIN_CHARGE else MIN_CHARGE

    # -- FORWARD TSN (RFC 3758 §3.6) -------------------------------------------------
    def forward_tsn(self, new_cum: int, streams: list[tuple[int, int]]) -> bool:
        """Skip abandoned TSNs up to ``new_cum``; returns False when nothing changed."""
        if self.run is not None:
            self._spill()
        if ((new_cum - self.cum_tsn) & MASK32) >= HALF32 or new_cum == self.cum_tsn:
            return False
        if ((new_cum - self.cum_tsn) & MASK32) > MAX_TSN_AHEAD:
            return False
        self.cum_tsn = new_cum
        ooo = self.ooo
        for t in [t for t in ooo if ((t - new_cum) & MASK32) >= HALF32 or t == new_cum]:
            del ooo[t]
        nxt = (new_cum + 1) & MASK32
        while nxt in ooo:
            del ooo[nxt]
            self.cum_tsn = nxt
            nxt = (nxt + 1) & MASK32
        # Drop fragments at or below the new cumulative TSN: they belong to abandoned
        # messages (the sender only forwards over abandoned chunks), and their chains.
        for stream in self.streams.values():
            frags = stream.frags
            if frags:
                stale = [t for t in frags if ((new_cum - t) & MASK32) < HALF32]
                for t in stale:
                    self.buffered -= charge(len(frags.pop(t)[3]))
                chains = stream.chains
                for t in [e for e, (h, _) in chains.items() if ((new_cum - h) & MASK32) < HALF32]:
                    del chains[t]
        next_ssn = self.next_ssn
        for sid, ssn in streams:
            if sid >= self.stream_count:
                continue  # not a stream of this association
            if sid >= len(next_ssn):
                self._grow(sid)
            if ((ssn - next_ssn[sid]) & 0xFFFF) < 0x8000:
                nxt16 = (ssn + 1) & 0xFFFF
                held = self.streams.get(sid)
                if held is not None:
                    pending = held.pending
                    tails = self._tails
                    for s in [s for s in pending if ((ssn - s) & 0xFFFF) < 0x8000]:
                        _, d, _, t = pending.pop(s)
                        tails.pop(t, None)
                        self.buffered -= charge(len(d))
                    nxt16 = self._release(sid, pending, nxt16)
                next_ssn[sid] = nxt16
        for sid in [k for k, v in self.streams.items() if not (v.frags or v.pending or v.chains)]:
            del self.streams[sid]
        return True

    # -- stream reset (RFC 6525 §5.2.2) -----------------------------------------------
    def reset_streams(self, sids: tuple[int, ...]) -> None:
        """Incoming streams restart at SSN 0; anything still held for them is dropped."""
        if self.run is not None:
            self._spill()
        if not sids:  # all of them: every stream expects SSN 0 (an empty table)
            self.next_ssn = array("H")
        next_ssn = self.next_ssn
        for sid in sids or tuple(self.streams):
            if sid < len(next_ssn):
                next_ssn[sid] = 0
            stream = self.streams.pop(sid, None)
            if stream is None:
                continue
            for _, d, _, t in stream.pending.values():
                self._tails.pop(t, None)
                self.buffered -= charge(len(d))
            for f in stream.frags.values():
                self.buffered -= charge(len(f[3]))

    # -- SACK (RFC 9260 §3.3.4, §6.2) -------------------------------------------------
    @property
    def a_rwnd(self) -> int:
        """The window we advertise (RFC 9260 §6.2): what :meth:`admit` takes at any TSN,
        i.e. without the ``reserve`` that only chunks advancing the cumulative TSN may use.
        Advertising the reserve too let a sender fill it with data past a loss, which we
        then had to drop (Firefox → us with 1,200-byte messages: 7,953 chunks dropped,
        0.4 MB/s; docs/interop.md "Throughput")."""
        return max(0, self.capacity - self.reserve - self.buffered)

    def build_sack(self) -> SackChunk:
        cum = self.cum_tsn
        gaps: list[tuple[int, int]] = []
        if self.ooo:
            # The first MAX_GAP_BLOCKS blocks, as offsets from the cumulative TSN.
            shift = self._gap_trim()
            n = MAX_GAP_BLOCKS
            gaps = [
                (start - shift if start > shift else 1, end - shift)
                for start, end in zip(self._gap_starts[:n], self._gap_ends[:n], strict=True)
            ]
            if gaps:  # reported from now on: never reneged (see _renege)
                top = gaps[-1][1]
                shield = (self.reported - cum) & MASK32
                if shield >= HALF32 or top > shield:
                    self.reported = (cum + top) & MASK32
        dups = self.duplicates
        self.duplicates = []
        return SackChunk(cum, self.a_rwnd, gaps, dups)
