"""The sending half of an association: queue, fragmentation, retransmission, congestion.

RFC 9260 §6.1 (transmission rules, Max.Burst), §6.3 (RTO and T3-rtx), §7.2 (slow start,
congestion avoidance, fast retransmit and fast recovery), and RFC 3758 §3.5 (abandoning
messages of partially reliable streams and sending FORWARD TSN).

Data structures whose cost does not grow with the window:

* ``queues``: a FIFO of :class:`OutMessage` per stream, served round-robin one message at a
  time (RFC 9260 §6.9: a message's fragments take consecutive TSNs, so messages cannot
  interleave), so one busy channel cannot starve the others. A message is cut into DATA
  chunks only when a packet has room for them, so fragments fill every packet to the MTU
  and a message that expires before it is sent costs no TSN.
* ``sent``: every chunk with a TSN and not yet cumulatively acknowledged, in TSN order,
  in a list with a moving head: chunk ``tsn`` is ``sent[head + (tsn - cum_ack - 1)]``, so a
  SACK is O(newly acknowledged chunks) and a gap block is a slice of indexes.
* ``rtx_queue``: chunks marked for retransmission, so sending never scans ``sent``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Sequence

from ..common.core import EventQueue
from .chunks import ForwardTsnChunk
from .outgoing import OutMessage, SentChunk

__all__ = ["OutMessage", "Sender", "SentChunk"]

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
_DATA_HEAD = struct.Struct("!BBHIHHI")
_PAD = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")
#: Do not start a DATA chunk in a packet with less room than this (header + a few bytes).
MIN_FRAGMENT_ROOM = 16 + 64


class Sender:
    """Outgoing data: see the module docstring."""

    # One per association: slots instead of an instance dict (43 attributes, more than a
    # dict shares keys for: 1.5 KiB each, ~0.4 KiB as slots).
    __slots__ = (
        "abandoned_messages",
        "active",
        "buffered",
        "consecutive_errors",
        "cum_ack",
        "current",
        "cwnd",
        "fast_recovery_exit",
        "fast_retransmissions",
        "fast_rtx",
        "flight",
        "forward_tsn",
        "forward_tsn_due",
        "full_at_fill",
        "gap_top",
        "head",
        "in_fast_recovery",
        "low_events",
        "low_threshold",
        "max_burst",
        "mtu",
        "new_data",
        "next_tsn",
        "out_ssn",
        "partial_bytes_acked",
        "peer_rwnd",
        "pending",
        "pr_supported",
        "queues",
        "reneged",
        "retransmissions",
        "rto",
        "rto_max",
        "rto_min",
        "rttvar",
        "rtx_queue",
        "sacks_since_fill",
        "sent",
        "srtt",
        "ssthresh",
        "t3",
        "t3_expirations",
        "timed_at",
        "timed_tsn",
        "total_buffered",
    )

    def __init__(  # noqa: PLR0917
        self,
        initial_tsn: int,
        max_packet_size: int,
        rto_initial: float,
        rto_min: float,
        rto_max: float,
        max_burst: int,
    ) -> None:
        self.mtu = 0
        self.cwnd = 0
        self.set_max_packet_size(max_packet_size)
        self.next_tsn = initial_tsn
        self.cum_ack = (initial_tsn - 1) & MASK32
        self.queues: dict[int, deque[OutMessage]] = {}
        # streams with queued messages, round-robin (a list-based FIFO: an empty deque is
        # ~0.6 KiB for the life of every association)
        self.active: EventQueue[int] = EventQueue()
        self.current: OutMessage | None = None  # the message being cut into chunks
        self.pending = 0  # messages not yet completely assigned TSNs
        self.sent: list[SentChunk] = []
        self.head = 0
        self.flight = 0
        self.ssthresh = 1 << 30
        self.partial_bytes_acked = 0
        self.peer_rwnd = 1 << 30
        self.max_burst = max_burst
        #: Transmission opportunities of Max.Burst packets each (§6.1 D) since the last
        #: :meth:`fill`: every SACK applied (also when a burst of them is read at once),
        #: and new messages from the application (one opportunity however many).
        self.sacks_since_fill = 0
        self.new_data = False
        #: Whether the last :meth:`fill` left the window in use (see :meth:`on_sack`).
        self.full_at_fill = False
        self.in_fast_recovery = False
        self.fast_recovery_exit = 0
        #: Made at the first T3 expiry or deferred fast retransmission: an empty deque
        #: costs 0.6 KiB, and most associations never retransmit on a timer.
        self.rtx_queue: deque[SentChunk] | None = None
        self.fast_rtx: list[SentChunk] = []
        #: The highest TSN the last SACK reported in a gap block, -1 when none: a later
        #: SACK that reports less took chunks back (the peer reneged, §6.2).
        self.gap_top = -1
        self.reneged = 0
        # RTO state (RFC 9260 §6.3.1).
        self.rto = rto_initial
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.timed_tsn: int | None = None
        self.timed_at = 0.0
        self.t3: float | None = None
        # Partial reliability (RFC 3758).
        self.pr_supported = False
        self.forward_tsn: ForwardTsnChunk | None = None
        self.forward_tsn_due = False
        # Per stream: next SSN, unacknowledged bytes, low threshold.
        self.out_ssn: dict[int, int] = {}
        self.buffered: dict[int, int] = {}
        self.low_threshold: dict[int, int] = {}
        self.total_buffered = 0
        self.low_events: list[int] = []
        # Counters.
        self.retransmissions = 0
        self.fast_retransmissions = 0
        self.abandoned_messages = 0
        self.t3_expirations = 0
        self.consecutive_errors = 0

    def set_max_packet_size(self, max_packet_size: int) -> None:
        """The packet size, and the initial window that follows from it (before sending)."""
        # Room for chunks in a packet, a multiple of 4: chunks are padded to 4 bytes (§3.2).
        self.mtu = mtu = (max_packet_size - 12) & ~3
        # RFC 9260 §7.2.1: initial cwnd = min(4*MTU, max(2*MTU, 4380)).
        self.cwnd = min(4 * mtu, max(2 * mtu, 4380))

    # -- queueing ----------------------------------------------------------------------
    def enqueue(self, msg: OutMessage) -> None:
        sid = msg.sid
        q = self.queues.get(sid)
        if q is None:
            q = self.queues[sid] = deque()
            self.active.push(sid)
        q.append(msg)
        self.new_data = True
        size = len(msg.data)
        self.buffered[sid] = self.buffered.get(sid, 0) + size
        self.total_buffered += size
        self.pending += 1

    def has_queued(self, sid: int) -> bool:
        """Does stream ``sid`` have a message not yet completely assigned TSNs?"""
        current = self.current
        return sid in self.queues or (current is not None and current.sid == sid)

    def _unbuffer(self, sid: int, size: int) -> None:
        buffered = self.buffered
        before = buffered[sid]
        after = before - size
        buffered[sid] = after
        self.total_buffered -= size
        threshold = self.low_threshold.get(sid, 0)
        if before > threshold >= after:
            self.low_events.append(sid)

    def _finish(self, msg: OutMessage) -> None:
        """``msg`` has all its TSNs (or was dropped): it leaves the send queue."""
        if self.current is msg:
            self.current = None
        self.pending -= 1

    def _next_message(self, now: float) -> OutMessage | None:
        """The next message to send: round-robin over streams; queued partially reliable
        messages whose lifetime ended are dropped here without using a TSN."""
        active = self.active
        queues = self.queues
        while (sid := active.pop()) is not None:
            q = queues[sid]
            msg = q.popleft()
            if q:
                active.push(sid)
            else:
                del queues[sid]
            if msg.expires is not None and now >= msg.expires and self.pr_supported:
                msg.abandoned = True
                self.abandoned_messages += 1
                self._unbuffer(sid, len(msg.data))
                self.pending -= 1
                continue
            self.current = msg
            return msg
        return None

    @property
    def outstanding(self) -> int:
        """Chunks with a TSN and not cumulatively acknowledged."""
        return len(self.sent) - self.head

    def can_send(self) -> bool:
        """Would :meth:`fill` produce a DATA chunk now?"""
        if self.fast_rtx or (self.rtx_queue and self.flight < self.cwnd):
            return True
        return self.pending > 0 and (
            self.flight == 0 or (self.flight < self.cwnd and self.peer_rwnd > 0)
        )

    def has_output(self) -> bool:
        """Would :meth:`fill` produce a DATA chunk now, Max.Burst included (a transmission
        opportunity, §6.1 D, must have come since the last fill)?"""
        if self.fast_rtx:
            return True
        if not (self.sacks_since_fill or self.new_data or self.flight == 0):
            return False
        return self.can_send()

    def idle(self) -> bool:
        """Nothing queued and nothing outstanding."""
        return self.pending == 0 and self.head == len(self.sent)

    # -- RTO (RFC 9260 §6.3.1) ----------------------------------------------------------
    def rtt_sample(self, r: float) -> None:
        if self.srtt is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        self.rto = min(max(self.srtt + 4 * self.rttvar, self.rto_min), self.rto_max)

    # -- SACK processing (RFC 9260 §6.2.1, §7.2) ---------------------------------------
    def on_sack(
        self,
        cum: int,
        a_rwnd: int,
        gaps: Sequence[tuple[int, int]],
        now: float,
        count: int = 1,
    ) -> bool:
        """Apply a SACK (§3.3.4: cumulative TSN ``cum``, ``a_rwnd``, gap blocks as
        ``(start, end)`` offsets from ``cum``; duplicates do not matter to the sender);
        returns False when it was stale or bogus (ignored). ``count`` > 1: the newest of
        that many SACKs without gap blocks or duplicates read in one burst (``bulk``):
        cumulative, it says what they all say; the window grows and Max.Burst allows as
        for that many SACKs. No object is made for a SACK that only moves ``cum``."""
        advance = (cum - self.cum_ack) & MASK32
        if advance >= HALF32:
            return False  # older than what we know (§6.2.1 D i)
        sent = self.sent
        head = self.head
        if advance > len(sent) - head:
            return False  # acknowledges TSNs we never sent
        flight_before = self.flight
        acked_bytes = 0
        mtu = self.mtu
        # Any valid SACK shows the peer is alive: a receiver that keeps answering zero-window
        # probes with a_rwnd = 0 is slow, not unreachable (§6.1, §8.1).
        self.consecutive_errors = 0
        if advance:
            stop = head + advance
            flight = self.flight
            # Chunks below the new cumulative TSN leave ``sent``; only ``acked`` matters
            # after that (the retransmission queues skip acknowledged chunks). The buffered
            # amount falls on acknowledgement, once per run of chunks of one stream.
            sid_run = -1
            run_bytes = 0
            for c in sent[head:stop]:
                if c.abandoned:
                    continue  # already out of the buffered amount and the flight
                size = len(c.data)
                if c.in_flight:
                    flight -= size
                if not c.acked:
                    acked_bytes += size
                    c.acked = True
                sid = c.msg.sid
                if sid == sid_run:
                    run_bytes += size
                else:
                    if run_bytes:
                        self._unbuffer(sid_run, run_bytes)
                    sid_run = sid
                    run_bytes = size
            if run_bytes:
                self._unbuffer(sid_run, run_bytes)
            self.flight = flight
            timed = self.timed_tsn
            if timed is not None and ((cum - timed) & MASK32) < HALF32:
                self.rtt_sample(now - self.timed_at)
                self.timed_tsn = None
            head = stop
            self.cum_ack = cum
            # Acknowledged chunks leave the list soon (a short memmove per SACK): kept for
            # thousands of packets, they were thousands of live objects that the cyclic GC
            # scanned and promoted over and over (measured: 40 young and 4 middle
            # collections per 32 MiB, gone with the early trim; 16 KiB transfers +6-8 %).
            if head >= 32:
                del sent[:head]
                head = 0
            self.head = head
        htna = -1  # index of the highest newly acknowledged TSN
        if gaps:
            n = len(sent)
            prev_end = 0
            for start, end in gaps:
                # Blocks must be ordered and disjoint (§3.3.4); others are ignored, which
                # also bounds the work of one SACK by the number of outstanding chunks.
                if start > end or start <= prev_end:
                    continue
                prev_end = end
                lo = head + start - 1
                hi = min(head + end, n)
                for i in range(lo, hi):
                    c = sent[i]
                    if not c.acked:
                        c.acked = True
                        if not c.abandoned:
                            size = len(c.data)
                            acked_bytes += size
                            if c.in_flight:
                                c.in_flight = False
                                self.flight -= size
                            if c.marked:
                                c.marked = False
                        htna = i
            if htna >= 0:
                self._miss_indications(head, htna, now)
        if self.gap_top >= 0:
            self._revoke(cum, prev_end if gaps else 0, now)
        if gaps and prev_end:
            self.gap_top = (cum + prev_end) & MASK32
        # Congestion control (§7.2.1, §7.2.2), not while in fast recovery.
        if self.in_fast_recovery and ((cum - self.fast_recovery_exit) & MASK32) < HALF32:
            self.in_fast_recovery = False
        # §7.2.1 "cwnd fully utilized": now, or at the last transmission opportunity if data
        # is still waiting. SACKs read in a burst are applied one after the other with no
        # send in between; one by one, the sender would have refilled the window after each.
        in_use = (self.full_at_fill and self.pending > 0) or flight_before + mtu >= self.cwnd
        if advance and not self.in_fast_recovery:
            if self.cwnd <= self.ssthresh:
                if in_use:
                    # §7.2.1 allows min(acked, MTU) per SACK, which assumes a SACK every
                    # second packet (§6.2). Receivers that acknowledge more per SACK (a
                    # whole read batch: ours did until it followed §6.2 within a batch)
                    # would make slow start linear; count bytes instead: half the
                    # acknowledged bytes, i.e. one MTU per two packets acknowledged, as
                    # the RFC gives against a per-two-packets SACKer.
                    # Still bounded by what was acknowledged (no gain from splitting SACKs).
                    # A documented deviation (docs/sctp.md).
                    self.cwnd += max(min(acked_bytes, count * mtu), acked_bytes >> 1)
            else:
                self.partial_bytes_acked += acked_bytes
                if self.partial_bytes_acked >= self.cwnd and in_use:
                    self.partial_bytes_acked -= self.cwnd
                    self.cwnd += mtu
        rwnd = a_rwnd - self.flight
        self.peer_rwnd = rwnd if rwnd > 0 else 0
        self.sacks_since_fill += count
        # T3-rtx (§6.3.2 R2, R3).
        if self.head == len(sent):
            self.t3 = None
        elif advance:
            self.t3 = now + self.rto
        if self.pr_supported:  # only then are chunks abandoned
            self._update_forward_tsn()
        return True

    def _revoke(self, cum: int, reported: int, now: float) -> None:
        """RFC 9260 §6.2.1, §6.3.3, §7.2.4: the chunks a previous SACK reported in a gap
        block above what this one reports (``reported`` TSNs past ``cum``) were dropped
        by the peer (it reneged, §6.2): acknowledged only in a gap block, they were
        kept; they are outstanding again, in the flight, for fast retransmission or the
        T3-rtx timer to send them again."""
        top = self.gap_top
        self.gap_top = -1
        span = (top - cum) & MASK32
        if span >= HALF32 or span <= reported:
            return  # the cumulative TSN or this SACK's gap blocks cover it
        sent = self.sent
        head = self.head
        for i in range(head + reported, min(head + span, len(sent))):
            c = sent[i]
            if c.acked and not c.abandoned:
                c.acked = False
                c.in_flight = True
                c.misses = 0
                c.fast_done = False
                self.flight += len(c.data)
                self.reneged += 1
        if self.t3 is None and head < len(sent):
            self.t3 = now + self.rto

    def _miss_indications(self, head: int, htna: int, now: float) -> None:
        """§7.2.4: count a miss for every unacked TSN below the highest newly acked one;
        the third miss marks the chunk for fast retransmission."""
        sent = self.sent
        marked_any = False
        for i in range(head, htna):
            c = sent[i]
            if c.acked or c.abandoned or not c.in_flight or c.fast_done:
                continue
            c.misses += 1
            if c.misses >= 3:
                msg = c.msg
                if self._should_abandon(c, now):
                    self._abandon(msg)
                    continue
                c.fast_done = True
                c.in_flight = False
                self.flight -= len(c.data)
                c.marked = True
                self.fast_rtx.append(c)
                marked_any = True
                if self.timed_tsn == c.tsn:
                    self.timed_tsn = None
        if marked_any and not self.in_fast_recovery:
            self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
            self.cwnd = self.ssthresh
            self.partial_bytes_acked = 0
            self.in_fast_recovery = True
            self.fast_recovery_exit = (self.next_tsn - 1) & MASK32

    # -- T3-rtx expiry (§6.3.3) -----------------------------------------------------------
    def on_t3(self, now: float) -> None:
        self.t3_expirations += 1
        self.consecutive_errors += 1
        self.rto = min(self.rto * 2, self.rto_max)
        self.ssthresh = max(self.cwnd // 2, 4 * self.mtu)
        self.cwnd = self.mtu
        self.partial_bytes_acked = 0
        self.full_at_fill = False
        self.in_fast_recovery = False
        self.timed_tsn = None
        sent = self.sent
        rtx = self.rtx_queue
        if rtx is None:
            rtx = self.rtx_queue = deque()
        for i in range(self.head, len(sent)):
            c = sent[i]
            if c.acked or c.abandoned or c.marked:
                continue
            if self._should_abandon(c, now):
                self._abandon(c.msg)
                continue
            if c.in_flight:
                c.in_flight = False
                self.flight -= len(c.data)
            c.marked = True
            rtx.append(c)
        self.t3 = now + self.rto if self.head < len(sent) else None
        self._update_forward_tsn()
        if self.forward_tsn is not None:
            self.forward_tsn_due = True

    # -- partial reliability (RFC 3758 §3.5, RFC 7496) --------------------------------------
    def _should_abandon(self, c: SentChunk, now: float) -> bool:
        """A chunk about to be retransmitted: abandon its message instead? maxRetransmits N
        allows N retransmissions (RFC 7496 §4), the lifetime is since the send() call."""
        if not self.pr_supported:
            return False
        msg = c.msg
        if msg.max_rtx is not None and c.rtx >= msg.max_rtx:
            return True
        return msg.expires is not None and now >= msg.expires

    def _abandon(self, msg: OutMessage) -> None:
        if msg.abandoned:
            return
        msg.abandoned = True
        self.abandoned_messages += 1
        sent = self.sent
        if msg.first_tsn is not None:
            off = (msg.first_tsn - self.cum_ack - 1) & MASK32
            i = self.head + off if off < HALF32 else self.head
            n = len(sent)
            while i < n and sent[i].msg is msg:
                c = sent[i]
                if not c.abandoned:
                    c.abandoned = True
                    c.marked = False
                    size = len(c.data)
                    if c.in_flight:
                        c.in_flight = False
                        self.flight -= size
                    self._unbuffer(msg.sid, size)
                i += 1
        rest = len(msg.data) - msg.offset
        if rest > 0:
            msg.offset = len(msg.data)
            self._unbuffer(msg.sid, rest)
            if self.current is msg:
                self._finish(msg)

    def _update_forward_tsn(self) -> None:
        """Advance the Advanced.Peer.Ack.Point over abandoned chunks (RFC 3758 §3.5 C1-C3)
        and prepare the FORWARD TSN that tells the peer."""
        sent = self.sent
        i = self.head
        n = len(sent)
        if i >= n or not sent[i].abandoned:
            self.forward_tsn = None
            return
        streams: dict[int, int] = {}
        adv = self.cum_ack
        while i < n and sent[i].abandoned:
            c = sent[i]
            adv = c.tsn
            if not c.flags & 4:
                streams[c.msg.sid] = c.msg.ssn
            i += 1
        self.forward_tsn = ForwardTsnChunk(adv, sorted(streams.items()))
        self.forward_tsn_due = True

    def _expire_current(self, now: float) -> None:
        """The message being sent outlived its lifetime (RFC 3758 §3.5 A1): abandon it,
        unless every fragment sent so far is acknowledged (then it is finished reliably:
        abandoning it could leave the peer a message that never completes)."""
        msg = self.current
        if msg is None or msg.expires is None or now < msg.expires or not self.pr_supported:
            return
        if not self._all_sent_acked(msg):
            self._abandon(msg)

    def _all_sent_acked(self, msg: OutMessage) -> bool:
        # A partially sent message is the newest one: its chunks end the ``sent`` list.
        return msg.first_tsn is not None and not (
            self.head < len(self.sent) and self.sent[-1].msg is msg
        )

    # -- building DATA chunks (§6.1, §6.9) ------------------------------------------------
    def fill(
        self,
        now: float,
        packets: list[list[bytes]],
        room: int,
    ) -> int:
        """Append DATA chunks to ``packets`` (lists of encoded chunks; the last one is being
        filled and has ``room`` bytes left). Returns the room left in the last packet."""
        mtu = self.mtu
        sent = self.sent
        if not (self.pending or self.fast_rtx or self.rtx_queue):
            # Nothing to send (the receiving side of a transfer): the opportunity passes
            # (what the steps below come to with nothing queued).
            self.sacks_since_fill = 0
            self.new_data = False
            if self.t3 is None and self.head < len(sent):
                self.t3 = now + self.rto
            self.full_at_fill = self.flight + mtu >= self.cwnd
            return room
        pack = _DATA_HEAD.pack

        def new_packet() -> int:
            packets.append([])
            return mtu

        # 1. Fast retransmissions: one packet, regardless of cwnd (§7.2.4 step 3).
        if self.fast_rtx:
            fast = sorted(self.fast_rtx, key=lambda c: (c.tsn - self.cum_ack) & MASK32)
            self.fast_rtx = []
            later: list[SentChunk] = []
            opened = False
            for c in fast:
                if c.acked or c.abandoned or not c.marked:
                    continue
                size = 16 + len(c.data)
                if size > room:
                    if opened:
                        later.append(c)  # waits in the retransmission queue (cwnd)
                        continue
                    room = new_packet()
                    opened = True
                c.marked = False
                c.rtx += 1
                c.sent_at = now
                c.in_flight = True
                self.flight += len(c.data)
                self.retransmissions += 1
                self.fast_retransmissions += 1
                m = c.msg
                packets[-1].append(
                    pack(0, c.flags, size, c.tsn, m.sid, m.ssn, m.ppid) + c.data + _PAD[size & 3]
                )
                room -= (size + 3) & ~3
            if later:
                if self.rtx_queue is None:
                    self.rtx_queue = deque()
                self.rtx_queue.extendleft(reversed(later))
        # Max.Burst (§6.1 D): at most max_burst packets of new data beyond what is in
        # flight per transmission opportunity, without touching cwnd. Each SACK applied
        # since the last fill is one (SACKs read in a burst allow what they would have
        # allowed one by one, and no more), new messages from the application one, an
        # empty flight one (nothing else would ever clock data out). A driver that asks
        # for packets again and again gets nothing more until the next opportunity.
        opportunities = self.sacks_since_fill + self.new_data
        if not opportunities and not self.flight:
            opportunities = 1
        self.sacks_since_fill = 0
        self.new_data = False
        # (The flight counts user data: a full packet carries mtu - 16 bytes of it.)
        cwnd = min(self.cwnd, self.flight + opportunities * self.max_burst * (mtu - 16))
        # 2. Retransmissions marked by T3 (within cwnd).
        rtx = self.rtx_queue
        while rtx and (self.flight < cwnd or self.flight == 0):
            c = rtx.popleft()
            if c.acked or c.abandoned or not c.marked:
                continue
            if self._should_abandon(c, now):
                self._abandon(c.msg)
                self._update_forward_tsn()
                continue
            size = 16 + len(c.data)
            if size > room:
                room = new_packet()
            c.marked = False
            c.rtx += 1
            c.sent_at = now
            c.in_flight = True
            self.flight += len(c.data)
            self.retransmissions += 1
            m = c.msg
            packets[-1].append(
                pack(0, c.flags, size, c.tsn, m.sid, m.ssn, m.ppid) + c.data + _PAD[size & 3]
            )
            room -= (size + 3) & ~3
        # 3. New data (§6.1 A, B): within cwnd and the peer's rwnd (one probe when zero).
        if self.pending and not rtx:
            if self.current is not None and self.pr_supported:
                self._expire_current(now)
            out_ssn = self.out_ssn
            # Hot loop: state in locals, written back once. A packet is a list of parts
            # (chunk header, user data, padding) joined once when the packet is sealed.
            flight = self.flight
            peer_rwnd = self.peer_rwnd
            tsn = first_tsn = self.next_tsn
            current = packets[-1]
            append_sent = sent.append
            msg = self.current
            full = mtu - 16  # user data of a chunk that fills a packet alone
            while flight < cwnd and (peer_rwnd > 0 or flight == 0):
                if msg is None:
                    msg = self._next_message(now)
                    if msg is None:
                        break
                data = msg.data
                total = len(data)
                offset = msg.offset
                sid = msg.sid
                flags = 4 if msg.unordered else 0
                if offset == 0:
                    flags |= 2
                    msg.first_tsn = tsn
                    if not msg.unordered:
                        ssn = out_ssn.get(sid, 0)
                        msg.ssn = ssn
                        out_ssn[sid] = (ssn + 1) & 0xFFFF
                remaining = total - offset
                if room < MIN_FRAGMENT_ROOM and room < 16 + remaining:
                    current = []
                    packets.append(current)
                    room = mtu
                if room == mtu and remaining > full:
                    # The middle of a large message (the bulk of a transfer): packets of
                    # one full-size chunk each, in a tight loop. The last packet is the
                    # empty one being filled (room == mtu): it makes way for them.
                    ssn = msg.ssn
                    ppid = msg.ppid
                    unordered_bit = flags & 4
                    packets.pop()
                    add_packet = packets.append
                    while True:
                        piece = data[offset : offset + full]
                        add_packet([pack(0, flags, mtu, tsn, sid, ssn, ppid), piece])
                        append_sent(SentChunk(tsn, flags, piece, msg, now))
                        flags = unordered_bit
                        tsn = (tsn + 1) & MASK32
                        offset += full
                        remaining -= full
                        flight += full
                        peer_rwnd = peer_rwnd - full if peer_rwnd > full else 0
                        if remaining <= full or flight >= cwnd or not peer_rwnd:
                            break
                    current = packets[-1]
                    msg.offset = offset
                    room = 0
                    continue
                limit = (room & ~3) - 16  # user data that fits, padding included
                if remaining > limit:
                    # Not the last fragment: it fills the rest of the packet.
                    n = limit
                    piece = data[offset : offset + n]
                    msg.offset = offset + n
                else:
                    n = remaining
                    flags |= 1
                    piece = data if offset == 0 else data[offset:]
                    self._finish(msg)
                    msg.offset = total
                size = 16 + n
                current.append(pack(0, flags, size, tsn, sid, msg.ssn, msg.ppid))
                current.append(piece)
                if size & 3:
                    current.append(_PAD[size & 3])
                room -= (size + 3) & ~3
                append_sent(SentChunk(tsn, flags, piece, msg, now))
                if flags & 1:
                    msg = None
                tsn = (tsn + 1) & MASK32
                flight += n
                peer_rwnd = peer_rwnd - n if peer_rwnd > n else 0
            if tsn != first_tsn and self.timed_tsn is None:
                self.timed_tsn = first_tsn  # RTT measurement (§6.3.1 C5: one at a time)
                self.timed_at = now
            self.flight = flight
            self.peer_rwnd = peer_rwnd
            self.next_tsn = tsn
        if self.t3 is None and self.head < len(sent):
            self.t3 = now + self.rto
        self.full_at_fill = self.flight + mtu >= self.cwnd
        return room
