"""A burst of received packets in one call: the bulk-transfer receive path.

A function of :class:`~pyrtcstack.sctp.association.Association`, kept apart by concept.
A data channel moving a large message receives, packet after packet, one DATA chunk that
continues the message being reassembled (neither the B nor the E bit set, RFC 9260 §3.3.1)
and carries the next TSN: that packet only needs its header checked (§8.5 ports and
verification tag, §6.8 checksum or RFC 9653 zero checksum), the TSN advanced and the user
data appended to the message. :func:`receive_packets` takes such packets in line, with the
association's lookups done once per burst; every other packet goes through
``Association.receive_packet``, in order. The result — state, events, SACK decisions,
counters — is the same as calling ``receive_packet`` for each packet (a property test in
``tests/test_sctp_bulk.py`` checks it against the packet-by-packet path).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from .chunks import SackChunk
from .config import FULL_PACKET
from .crc32c import crc32c_extend
from .dispatch import delay_sack
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
_SACK_FIELDS = struct.Struct("!II")
_ESTABLISHED = State.ESTABLISHED


def receive_packets(a: Association, packets: list[bytes], now: float) -> None:
    """``a.receive_packet(p, now)`` for each ``p`` of ``packets``, in order."""
    receiver = a._receiver
    head = a._rx_head
    if receiver is None or head is None or not _inline_ok(a, receiver, head):
        for data in packets:
            a.receive_packet(data, now)
        return
    a._now = now
    config = a.config
    max_ready = config.max_queued_messages
    ready = receiver.ready
    head_crc = a._rx_head_crc
    # What a packet starts with when it needs no checksum work: our header, checksum 0
    # (RFC 9653 §5.2, accepted once we announced it) and a DATA chunk.
    zero_prefix = head + _ZERO4 + b"\0" if config.zero_checksum else None
    zero_head = head + _ZERO4 if config.zero_checksum else None
    unpack = _DATA_FIELDS.unpack_from
    le32 = _LE32.pack
    # The receiver's state in locals while packets are taken in line; written back before
    # any other packet is handled, and read again after it. ``run`` is None when nothing
    # may be taken in line: no message being reassembled, a gap in the TSNs, or a full
    # queue of complete messages (those packets need receive_packet's decisions).
    cum = receiver.cum_tsn
    buffered = receiver.buffered
    # The window and max-message-size bound, as the receiver's own check (run_room) gives
    # it: in-line fragments are at least MIN_CHARGE bytes, so charged their size.
    limit = buffered + receiver.run_room()
    run = receiver.run if not receiver.ooo and len(ready) < max_ready else None
    run_sid = receiver.run_sid
    taken = 0  # packets taken in line, not yet in the SACK bookkeeping and the counters
    # §6.2: a SACK falls due at every ``sack_every``-th full-sized packet with DATA, and is
    # built with the state as of that packet: after ``need`` more bytes of credit (each
    # packet counts min(size, full size)), ``credit`` being the in-line packets' so far.
    need = a._sack_threshold - a._sack_credit
    credit = 0
    # SACKs without gap blocks or duplicates read in a row (the answer to a burst of our
    # DATA): the one with the highest cumulative TSN says all they say (§6.2.1), applied
    # once before any other packet, with their count (``Sender.on_sack``).
    sack_cum = -1
    sack_rwnd = 0
    sacks = 0
    inline = True  # _inline_ok as of the last read of the state
    stale = False  # receive_packet ran since the locals were read
    for data in packets:
        size = len(data)
        if stale:
            stale = False
            need = a._sack_threshold - a._sack_credit
            inline = _inline_ok(a, receiver, head)
            if inline:
                cum = receiver.cum_tsn
                buffered = receiver.buffered
                limit = buffered + receiver.run_room()
                run = receiver.run if not receiver.ooo and len(ready) < max_ready else None
                run_sid = receiver.run_sid
            else:
                run = None
        # A DATA chunk first, neither B nor E: a candidate for the in-line path (the
        # packets of small messages and the like go straight to receive_packet).
        if size > _DATA_START and not data[12] and not data[13] & 3:
            if run is not None:
                length, tsn, sid = unpack(data, 14)
                if (
                    length == size - 12  # the only chunk in the packet
                    and sid == run_sid
                    and tsn == ((cum + 1) & MASK32)
                    and size >= _MIN_SIZE
                    and buffered + size - _DATA_START <= limit
                ):
                    ours = zero_prefix is not None and data.startswith(zero_prefix)
                    if not ours and data.startswith(head):
                        # §6.8: the CRC-32C over the packet, the checksum field zeroed
                        if data[8:12] != le32(crc32c_extend(head_crc, data[12:])):
                            a.stats.packets_received += 1
                            a.stats.bad_checksum += 1  # discarded
                            continue
                        ours = True
                    if ours:
                        cum = tsn
                        buffered += size - _DATA_START
                        run.append(data[_DATA_START:])
                        taken += 1
                        full = a._full_packet
                        if size < full:
                            credit += size
                        elif full == FULL_PACKET:
                            credit += full
                        else:
                            credit += a._full_size(size)
                            need = a._sack_threshold - a._sack_credit
                        if credit >= need:
                            receiver.cum_tsn = cum
                            receiver.run_bytes += buffered - receiver.buffered
                            receiver.buffered = buffered
                            a.stats.packets_received += taken
                            delay_sack(a, credit, False, now)
                            taken = credit = 0
                            need = a._sack_threshold - a._sack_credit
                        continue
        # A SACK alone, no gap blocks, no duplicates (§3.3.4: chunk length 16).
        elif (
            size == _PURE_SACK_SIZE
            and inline
            and data[12] == 3
            and data[15] == 16
            and not data[14]
            and data[24:] == _ZERO4
        ):
            ours = zero_head is not None and data.startswith(zero_head)
            if not ours and data.startswith(head):
                if data[8:12] != le32(crc32c_extend(head_crc, data[12:])):
                    a.stats.packets_received += 1
                    a.stats.bad_checksum += 1  # discarded
                    continue
                ours = True
            if ours:
                a.stats.packets_received += 1
                tsn, rwnd = _SACK_FIELDS.unpack_from(data, 16)
                # Newer or equal (serial arithmetic, §6.2.1 D): applied; older: ignored.
                if sack_cum < 0 or ((tsn - sack_cum) & MASK32) < HALF32:
                    sack_cum = tsn
                    sack_rwnd = rwnd
                    sacks += 1
                continue
        # Anything else: the packet-by-packet path, after the in-line packets' bookkeeping.
        if taken:
            receiver.cum_tsn = cum
            receiver.run_bytes += buffered - receiver.buffered
            receiver.buffered = buffered
            a.stats.packets_received += taken
            delay_sack(a, credit, False, now)
            taken = credit = 0
        if sacks:
            a._sender.on_sack(SackChunk(sack_cum, sack_rwnd), now, sacks)
            sack_cum = -1
            sacks = 0
        a.receive_packet(data, now)
        stale = True
    if taken:
        receiver.cum_tsn = cum
        receiver.run_bytes += buffered - receiver.buffered
        receiver.buffered = buffered
        a.stats.packets_received += taken
        delay_sack(a, credit, False, now)
    if sacks:
        a._sender.on_sack(SackChunk(sack_cum, sack_rwnd), now, sacks)


def _inline_ok(a: Association, receiver: Receiver, head: bytes) -> bool:
    """Whether packets may still be taken in line: established, the same receiver and
    header, no stream reset waiting for the TSN to catch up (RFC 6525 §5.2.2)."""
    return (
        a.state is _ESTABLISHED
        and a._receiver is receiver
        and a._rx_head == head
        and a._deferred_reset is None
        and not receiver.too_large
    )
