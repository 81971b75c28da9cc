"""A burst of received packets in one call: the association's one receive path.

:meth:`Association.receive_packets <pyrtcstack.sctp.association.Association.receive_packets>`
is this function; one packet is the trivial case. A data channel moving a large message
receives, packet after packet, one DATA chunk that continues the message being
reassembled (neither the B nor the E bit set, RFC 9260 §3.3.1) and carries the next TSN:
that packet only needs its header checked (§8.5 ports and verification tag, §6.8 checksum
or RFC 9653 zero checksum), the TSN advanced and the user data appended to the message.
:func:`receive_packets` takes such packets in line, with the association's lookups done
once per burst, and so it does with the SACKs that only move the cumulative TSN (§3.3.4
without gap blocks or duplicates: the other direction's half of a transfer); every other
packet goes through :func:`.dispatch.receive_one`, in order. The result — state, events,
SACK decisions, counters — is the same as handling the packets one by one (a property
test in ``tests/test_sctp_bulk.py`` checks it against one-packet calls).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config import FULL_PACKET
from .crc32c import crc32c_extend
from .dispatch import receive_one
from .receiver import MIN_CHARGE
from .state import State

if TYPE_CHECKING:
    from .association import Association
    from .receiver import Receiver

__all__ = ["receive_packets"]

MASK32 = 0xFFFFFFFF
HALF32 = 0x80000000
#: The first chunk's length, TSN and stream id (§3.3.1), from offset 14.
_DATA_FIELDS = struct.Struct("!HIH")
#: Common header + DATA chunk header: where the user data of the first chunk starts.
_DATA_START = 28
#: The smallest packet taken in line: its user data is charged its size (receiver.charge).
_MIN_SIZE = _DATA_START + MIN_CHARGE
_LE32 = struct.Struct("<I")
_ZERO4 = bytes(4)
#: A packet with one SACK chunk and no gap blocks or duplicates: header (12) + chunk (16),
#: the chunk's cumulative TSN and a_rwnd from offset 16, then 0 gap blocks, 0 duplicates.
_PURE_SACK_SIZE = 28
#: Its chunk header (§3.3.4): type 3 (SACK), flags 0, length 16.
_PURE_SACK_HEAD = bytes((3, 0, 0, 16))
_SACK_FIELDS = struct.Struct("!II")
_NO_GAPS: tuple[tuple[int, int], ...] = ()
_ESTABLISHED = State.ESTABLISHED


def receive_packets(a: Association, packets: Sequence[bytes], now: float) -> None:
    """Handle ``packets`` in order, as :func:`.dispatch.receive_one` each would."""
    receiver = a.receiver
    head = a.rx_head
    if receiver is None or head is None or a.state is not _ESTABLISHED:
        for data in packets:
            receive_one(a, data, now)
        return
    config = a.config
    stats = a.stats
    acks = a.acks
    max_ready = config.max_queued_messages
    ready = receiver.ready
    head_crc = a.rx_head_crc
    # What a packet starts with when it needs no checksum work: our header and checksum 0
    # (RFC 9653 §5.3, accepted once an INIT or INIT ACK of ours announced it); as a tuple
    # of prefixes, empty (no packet starts with it) when none did: such a packet then
    # fails the CRC-32C below and is counted as a bad checksum.
    zero_head = () if a.rx_zero_head is None else (a.rx_zero_head,)
    unpack = _DATA_FIELDS.unpack_from
    le32 = _LE32.pack
    # The receiver's state in locals while packets are taken in line, read when a packet
    # that may be taken in line comes (``stale``); written back (_commit) before any other
    # packet is handled, and read again after it. ``run`` is None when nothing may be taken
    # in line: no message being reassembled, a gap in the TSNs, or a full queue of
    # complete messages (those packets need receive_one).
    cum = buffered = end = run_sid = need = full = 0
    run: list[bytes] | None = None
    taken = 0  # packets taken in line, not yet in the SACK bookkeeping and the counters
    # §6.2: a SACK falls due at every ``sack_every``-th full-sized packet with DATA, and is
    # built with the state as of that packet: after ``need`` more bytes of credit (each
    # packet counts min(size, full size)), ``credit`` being the in-line packets' so far.
    credit = 0
    # SACKs without gap blocks or duplicates read in a row (the answer to a burst of our
    # DATA): the one with the highest cumulative TSN says all they say (§6.2.1), applied
    # once before any other packet, with their count (``Sender.on_sack``).
    sack_cum = -1
    sack_rwnd = 0
    sacks = 0
    sack_packets = 0  # in-line SACK packets (sacks counts the applied ones), not yet counted
    verdict = 0  # _verify's answer for a SACK without our zero-checksum header
    inline = True  # whether packets may be taken in line, as of the last read
    stale = True  # ``inline`` is to be read (first use, or receive_one ran)
    stale_run = True  # and the receiver's state
    for data in packets:
        size = len(data)
        # Two kinds of packet are taken in line: a DATA chunk alone, neither B nor E nor I
        # (RFC 7053 §4), that continues the run (the packets of small messages, of an I
        # bit and the like go to receive_one), and a SACK alone without gap blocks or
        # duplicates (§3.3.4: chunk length 16). Anything else, or one that fails a check
        # below, falls through.
        if size > _DATA_START and not data[12] and not data[13] & 11:
            if stale:
                stale = False
                inline = _inline(a, receiver, head)
                stale_run = True
            if stale_run:
                stale_run = False
                if inline:
                    need = acks.threshold - acks.credit
                    cum = receiver.cum_tsn
                    buffered = receiver.buffered
                    # The window and max-message-size bound, as the receiver's own check
                    # (run_room) gives it: in-line fragments are at least MIN_CHARGE
                    # bytes, so charged their size.
                    # (``end``: the bound plus the DATA header, against buffered + size)
                    end = buffered + receiver.run_room() + _DATA_START
                    full = acks.full_packet
                    run = receiver.run if not receiver.ooo and len(ready) < max_ready else None
                    run_sid = receiver.run_sid
                else:
                    run = None
            if run is not None:
                length, tsn, sid = unpack(data, 14)
                if (
                    length == size - 12  # the only chunk in the packet
                    and sid == run_sid
                    and tsn == ((cum + 1) & MASK32)
                    and size >= _MIN_SIZE
                    and buffered + size <= end
                ):
                    if data.startswith(zero_head):
                        ok = True
                    elif not data.startswith(head):
                        ok = False  # not our header: receive_one
                    elif data[8:12] == le32(crc32c_extend(head_crc, data[12:])):
                        ok = True  # our ports and tag (§8.5), a good CRC-32C (§6.8)
                    else:
                        stats.packets_received += 1
                        stats.bad_checksum += 1  # discarded
                        continue
                    if ok:
                        cum = tsn
                        buffered += size - _DATA_START
                        run.append(data[_DATA_START:])
                        taken += 1
                        if size < full:
                            credit += size
                        elif full == FULL_PACKET:
                            credit += full
                        else:
                            credit += acks.size(size)
                            full = acks.full_packet
                            need = acks.threshold - acks.credit
                        if credit >= need:
                            # §6.2: a SACK falls due with this packet. _commit inlined
                            # (this is once per two packets): the state written back,
                            # then the SACK built as of it (count() would call point():
                            # the credit reached the threshold).
                            receiver.cum_tsn = cum
                            receiver.run_bytes += buffered - receiver.buffered
                            receiver.buffered = buffered
                            stats.packets_received += taken
                            acks.credit += credit
                            acks.point()
                            taken = credit = 0
                            need = acks.threshold - acks.credit
                        continue
        elif (
            size == _PURE_SACK_SIZE
            and data.startswith(_PURE_SACK_HEAD, 12)
            and data.endswith(_ZERO4)
        ):
            # (checked in C, nothing allocated: the chunk header at 12 is SACK, flags 0,
            # length 16; the last 4 bytes, 0 gap blocks and 0 duplicates)
            if stale:
                stale = False
                inline = _inline(a, receiver, head)
                stale_run = True
            if inline:
                if data.startswith(zero_head) or (verdict := _verify(a, data, head, head_crc)) > 0:
                    sack_packets += 1
                    tsn, rwnd = _SACK_FIELDS.unpack_from(data, 16)
                    # Newer or equal (serial arithmetic, §6.2.1 D): applied; older: ignored.
                    if sack_cum < 0 or ((tsn - sack_cum) & MASK32) < HALF32:
                        sack_cum = tsn
                        sack_rwnd = rwnd
                        sacks += 1
                    continue
                # (here _verify ran for this packet: ``verdict`` is this packet's)
                if verdict < 0:
                    continue  # a bad checksum: discarded (counted)
        # Anything else: the packet-by-packet path, after the in-line packets' bookkeeping.
        if taken:
            _commit(a, receiver, cum, buffered, taken, credit, now)
            taken = credit = 0
        if sacks:  # (the first in-line SACK since the last flush is always applied)
            stats.packets_received += sack_packets
            a.sender.on_sack(sack_cum, sack_rwnd, _NO_GAPS, now, sacks)
            sack_cum = -1
            sacks = sack_packets = 0
        receive_one(a, data, now)
        stale = True
    if taken:
        _commit(a, receiver, cum, buffered, taken, credit, now)
    if sacks:
        stats.packets_received += sack_packets
        a.sender.on_sack(sack_cum, sack_rwnd, _NO_GAPS, now, sacks)


def _inline(a: Association, receiver: Receiver, head: bytes) -> bool:
    """Whether packets may be taken in line (read again after receive_one ran): still
    established, the same receiver and header, no stream reset waiting for the TSN to
    catch up (RFC 6525 §5.2.2), no message over max-message-size."""
    return (
        a.state is _ESTABLISHED
        and a.receiver is receiver
        and a.rx_head == head
        and a.stream_reset.deferred is None
        and not receiver.too_large
    )


def _verify(a: Association, data: bytes, head: bytes, head_crc: int) -> int:
    """A packet that does not start with our header and checksum 0: 1 if it has our
    ports and tag (§8.5) and a good CRC-32C (§6.8, computed with the checksum field
    zeroed), 0 if the header is not ours (for receive_one), -1 for a bad checksum (then
    counted as received and discarded)."""
    if not data.startswith(head):
        return 0
    if data[8:12] != _LE32.pack(crc32c_extend(head_crc, data[12:])):
        a.stats.packets_received += 1
        a.stats.bad_checksum += 1
        return -1
    return 1


def _commit(  # noqa: PLR0917
    a: Association, receiver: Receiver, cum: int, buffered: int, taken: int, credit: int, now: float
) -> None:
    """Write the in-line packets' state back: the receiver's cumulative TSN and bytes,
    the counters, and their SACK credit (§6.2, which may make a SACK due now)."""
    receiver.cum_tsn = cum
    receiver.run_bytes += buffered - receiver.buffered
    receiver.buffered = buffered
    a.stats.packets_received += taken
    a.acks.count(credit, False, now)
