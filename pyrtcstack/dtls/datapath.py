"""The established data path, DTLS 1.2 and 1.3: a burst of application data records in one call.

Called by both engines (:mod:`.engine12`, :mod:`.engine13`) through the small
:class:`RecordReader` interface: each engine says what its current read epoch is
(``read_state``), takes what this path does not (``receive_general``) and, with DTLS 1.3, a
record whose inner type is not plain application data (``dispatch_inner``).

A datagram that is exactly one application data record of the current read epoch (what a
bulk transfer receives) is checked, replay-filtered (RFC 6347 §4.1.2.6, RFC 9147 §4.5.1),
decrypted inline and appended to the connection's plaintext (the one route up:
``DtlsConnection.take_application_data``, bounded by ``max_pending_plaintext``) with the
connection's lookups done once per burst. Every other datagram goes through the engine's
general record path (``receive_general``), in order, which delivers into the same list.
The burst handling (counting, delivery, the hand-over to the general path) is written
once; only reading one record differs between the versions:

* DTLS 1.2 (RFC 6347 §4.1): a 13-byte header of content type 23, version 0xFEFD, the
  current epoch and a length equal to the rest; AES-GCM inline (RFC 5288 §3), ChaCha20 by
  :meth:`RecordCipher.open_record`.
* DTLS 1.3 (RFC 9147 §4): the unified header as we and the browsers send it (16-bit
  sequence number and a length, first byte ``0x2C`` + the current epoch's low bits); the
  record-number mask (§4.2.3), the sequence number closest to the next expected (§4.2.2),
  then the AEAD with the unmasked header as additional data. A record whose inner plaintext
  is not plain application data (a KeyUpdate, an ACK, an alert, padding) is handed to the
  engine's dispatch once it authenticated, after the records before it.

``tests/test_dtls_batch.py`` and ``tests/test_dtls13_batch.py`` check replay, drops,
counters and order on bursts, against one-by-one delivery and the general path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Final, Protocol

from cryptography.exceptions import InvalidTag

from ..common.core import Address
from .constants import DTLS1_2_VERSION
from .errors import DtlsDecodeError
from .record import (
    HEADER_LENGTH,
    MAX_CIPHERTEXT,
    MAX_PLAINTEXT,
    MAX_SEQUENCE,
    RECORD_HEADER_SEQ64,
    SEQUENCE_MASK,
    ReplayWindow,
)
from .record13 import UNIFIED_HEADER, first16
from .suites import AEAD_ADDITIONAL_DATA, GCM_RECORD_OVERHEAD, RecordCipher

if TYPE_CHECKING:
    from .engine import DtlsContext

__all__ = [
    "NONE",
    "NO_STATE",
    "V12",
    "V13",
    "ReadState",
    "RecordReader",
    "receive_datagrams",
]

#: Which record format the data path reads: none (not established: every datagram takes
#: the general path), DTLS 1.2 or DTLS 1.3.
NONE: Final = 0
V12: Final = 12
V13: Final = 13
#: DTLS 1.3: the unified header we read (first byte, 16-bit sequence number, length), the
#: inner content type byte and the tag (RFC 9147 §4, RFC 8446 §5.2).
_HEADER13: Final = UNIFIED_HEADER.size
_INNER_OVERHEAD13: Final = 1 + 16
#: DTLS 1.3: the largest datagram taken (content of at most 2^14 bytes, no padding);
#: anything longer is left to the general path and its checks.
_MAX_DATAGRAM13: Final = _HEADER13 + MAX_PLAINTEXT + _INNER_OVERHEAD13
_MIN_DATAGRAM13: Final = _HEADER13 + _INNER_OVERHEAD13

#: DTLS 1.3: the record-number masks of up to this many datagrams ahead come from one call
#: (with AES one ECB call: ECB masks each 16-byte sample on its own, RFC 9147 §4.2.3).
_MASK_AHEAD: Final = 64
_NO_SAMPLE: Final = bytes(16)
#: A datagram's mask sample: the first 16 ciphertext bytes after our 5-byte header
_SAMPLE13: Final = itemgetter(slice(_HEADER13, _HEADER13 + 16))
#: DTLS 1.3: the AEAD nonce, the IV's first 4 bytes and its last 8 XOR the sequence number
#: (RFC 8446 §5.3)
_NONCE13: Final = struct.Struct("!4sQ")

_Decrypt = Callable[[bytes, bytes, bytes], bytes]
_Mask = Callable[[bytes], bytes]
#: What the data path needs of the current read epoch, looked up once per burst (and again
#: after anything that may change it: the general path, a dispatched 1.3
#: record): (format, 1.2 epoch or 1.3 first byte, replay window, AEAD decrypt, 1.2 implicit
#: IV or 1.3 IV's first 4 bytes, 1.3 IV's last 8 bytes as an integer, 1.3 masks of many
#: samples (TrafficKeys.masks), 1.2 cipher, 1.3 epoch, 1.3: the next record implies an ACK)
ReadState = tuple[
    int,
    int,
    ReplayWindow,
    _Decrypt | None,
    bytes,
    int,
    _Mask | None,
    RecordCipher | None,
    int,
    bool,
]
#: Not established: every datagram takes the general path.
NO_STATE: Final[ReadState] = (NONE, -1, ReplayWindow(), None, b"", 0, None, None, 0, False)


class RecordReader(Protocol):
    """What the data path calls on an engine (both engines implement it)."""

    def read_state(self) -> ReadState:
        """The current read epoch as a :data:`ReadState` (NO_STATE: none, every datagram
        takes the general path)."""
        ...

    def receive_general(self, data: bytes, addr: Address, now: float) -> None:
        """A datagram the data path does not take, handled record by record."""
        ...

    def dispatch_inner(self, ctype: int, content: bytes, epoch: int, seq: int, now: float) -> None:
        """DTLS 1.3: an authenticated record whose inner type is not plain application data."""
        ...


def receive_datagrams(
    reader: RecordReader, ctx: DtlsContext, datagrams: Iterable[bytes], addr: Address, now: float
) -> None:
    """Both engines' ``receive_datagrams``: see :meth:`DtlsConnection.receive_datagrams`."""
    stats = ctx.stats
    # the one route up: the context's plaintext list, bounded by max_pending_plaintext
    # (pending counts its bytes; written back before the general path, which delivers too)
    plain = ctx.plaintext
    pending = ctx.plaintext_bytes
    cap = ctx.max_pending_plaintext
    unpack12 = RECORD_HEADER_SEQ64.unpack_from
    unpack13 = UNIFIED_HEADER.unpack_from
    pack13 = UNIFIED_HEADER.pack
    pack_aad = AEAD_ADDITIONAL_DATA.pack
    nonce13 = _NONCE13.pack
    taken = 0  # datagrams (= records) taken by this path, counted at the end
    stale = True  # the read state below must be looked up (again)
    if not isinstance(datagrams, (list, tuple)):
        datagrams = list(datagrams)
    # DTLS 1.3: the first two mask bytes of datagrams[mask_base:], as 16-bit numbers, made
    # by masks_of (the current epoch's keys; emptied when they change)
    mask16: Sequence[int] = ()
    mask_base = mask_end = 0  # mask16 covers datagrams[mask_base:mask_end]
    masks_of = None
    # The replay window's state in locals while records are taken (read with the read
    # state, written back before anything else may look at it: the general path, a
    # dispatched 1.3 record, the end of the burst)
    replay = NO_STATE[2]
    held = False  # whether highest and bits hold replay's state (to be written back)
    highest = bits = 0
    try:
        for index, data in enumerate(datagrams):
            if stale:
                stale = False
                if held:
                    replay.highest = highest
                    replay.bits = bits
                (
                    version,
                    match,
                    replay,
                    decrypt,
                    iv,
                    iv_int,
                    masks,
                    cipher,
                    epoch13,
                    ack,
                ) = reader.read_state()
                highest = replay.highest
                bits = replay.bits
                full = replay.mask
                held = True
                v13 = version == V13  # (a local: tested twice per record)
                if masks is not masks_of:
                    mask16, masks_of, mask_end = (), masks, 0
            size = len(data)
            # ---- is it one application data record of the current epoch? (per version;
            # DTLS 1.3, the default, first)
            seq = -1
            if v13:
                if (
                    _MIN_DATAGRAM13 <= size <= _MAX_DATAGRAM13
                    and (header := unpack13(data))[0] == match
                    and header[2] == size - _HEADER13
                ):
                    # RFC 9147 §4.2.3: the sequence bits XOR the first two bytes of the
                    # mask made from the first 16 ciphertext bytes; the masks of up to
                    # _MASK_AHEAD datagrams (this one and those after it) come from one call
                    # (a bound, not an IndexError caught: an exception per burst cost
                    # more than the compare per record at small bursts)
                    if index >= mask_end:
                        ahead = datagrams[index : index + _MASK_AHEAD]
                        samples = b"".join(map(_SAMPLE13, ahead))  # in C, no frame
                        if len(samples) != 16 * len(ahead):
                            # a datagram too short for a sample (not a record we take):
                            # a stand-in keeps the masks in step with the datagrams
                            samples = b"".join(
                                [d[5:21] if len(d) > 20 else _NO_SAMPLE for d in ahead]
                            )
                        mask16 = first16(masks(samples))  # type: ignore[misc]
                        mask_base = index
                        mask_end = index + len(ahead)
                    low = header[1] ^ mask16[index - mask_base]
                    # §4.2.2: the sequence number closest to one past the highest received
                    # (usually that one itself)
                    seq = highest + 1
                    if low != seq & 0xFFFF:
                        expected = seq
                        seq = (expected & ~0xFFFF) | low
                        if seq - expected > 0x8000 and seq >= 0x10000:
                            seq -= 0x10000
                        elif expected - seq > 0x8000:
                            seq += 0x10000
            elif version == V12 and size > HEADER_LENGTH and data[0] == 23:
                _ctype, record_version, seq64, length = unpack12(data)
                if (
                    seq64 >> 48 == match
                    and length == size - HEADER_LENGTH
                    and record_version == DTLS1_2_VERSION
                    and length <= MAX_CIPHERTEXT
                ):
                    seq = seq64 & SEQUENCE_MASK
            if seq < 0:
                # ---- anything else: the general path, after the records before it
                ctx.plaintext_bytes = pending
                replay.highest = highest
                replay.bits = bits
                reader.receive_general(data, addr, now)
                pending = ctx.plaintext_bytes
                held = False  # (written back already)
                stale = True  # it may have installed keys or ended the connection
                continue
            taken += 1
            # the replay check (RFC 6347 §4.1.2.6, RFC 9147 §4.5.1): ReplayWindow.is_fresh
            # inlined; the usual case, the next record in order, is fresh
            if seq > highest:
                if seq > MAX_SEQUENCE:
                    stats.dropped_replay += 1
                    continue
            elif highest - seq >= replay.size or (bits >> (highest - seq)) & 1:
                stats.dropped_replay += 1
                continue
            # ---- authenticate and decrypt (per version); RFC 6347 §4.1.2.7 and RFC 9147
            # §4.5.2: a record that does not is silently discarded
            other = None  # DTLS 1.3: an inner plaintext that is not plain application data
            try:
                if v13:
                    # RFC 8446 §5.3: nonce = IV xor the sequence number; RFC 9147 §4: the
                    # additional data is the header with the sequence number unmasked
                    inner = decrypt(  # type: ignore[misc]
                        nonce13(iv, iv_int ^ seq),
                        data[5:],
                        pack13(match, low, size - _HEADER13),
                    )
                    if inner[-1] == 23 and not ack:
                        plaintext = inner[:-1]  # application_data, no padding
                    else:
                        # RFC 8446 §5.4: the type is the last non-zero byte
                        other = inner.rstrip(b"\x00")
                        if not other:
                            raise DtlsDecodeError("inner plaintext has no content type")
                else:
                    n = length - GCM_RECORD_OVERHEAD
                    if decrypt is None or n < 0 or n > MAX_PLAINTEXT:  # ChaCha20, odd sizes
                        plaintext = cipher.open_record(data, seq64, 23, record_version)  # type: ignore[union-attr]
                    else:
                        plaintext = decrypt(
                            iv + data[13:21], data[21:], pack_aad(seq64, 23, record_version, n)
                        )
            except (DtlsDecodeError, InvalidTag):
                stats.dropped_decrypt += 1
                continue
            # the window moves only once the record authenticated (RFC 6347 §4.1.2.6, RFC
            # 9147 §4.5.1): ReplayWindow.mark inlined
            if seq > highest:
                shift = seq - highest
                if shift == 1:
                    if bits != full:  # (a full window stays full)
                        bits = ((bits << 1) | 1) & full
                elif shift >= replay.size:  # a jump past the whole window
                    bits = 1
                else:
                    bits = ((bits << shift) | 1) & full
                highest = seq
            else:
                bits |= 1 << (highest - seq)
            if other is not None:
                # DTLS 1.3 KeyUpdate, ACK, alert, padded data...: the engine's dispatch,
                # after the records before it; it may change the epoch or end us
                ctx.plaintext_bytes = pending
                replay.highest = highest
                replay.bits = bits
                reader.dispatch_inner(other[-1], other[:-1], epoch13, seq, now)
                pending = ctx.plaintext_bytes
                held = False  # (written back already)
                stale = True
                continue
            # ---- deliver (DtlsContext.deliver inlined)
            pending += len(plaintext)
            if pending <= cap:
                plain.append(plaintext)
            else:
                pending -= len(plaintext)
                stats.dropped_plaintext_overflow += 1
    finally:
        ctx.plaintext_bytes = pending
        if held:
            replay.highest = highest
            replay.bits = bits
        if taken:
            stats.datagrams_received += taken
            stats.records_received += taken
