"""The DTLS 1.2 record layer (RFC 6347 §4.1): framing, epochs, replay protection, packing.

Each record has a 13-byte header::

    type(1) version(2) epoch(2) sequence_number(6) length(2) fragment(length)

A datagram carries one or more whole records; a record never spans datagrams (§4.1.1).
The ``epoch`` counts cipher-state changes (0 = plaintext, 1 = after the first
ChangeCipherSpec); each epoch has its own 48-bit sequence space and replay window.

This module only frames and protects; it knows nothing of handshakes. DTLS 1.3 (RFC 9147 §4)
uses a different, variable-length "unified header" for protected records; its parser would sit
beside :func:`parse_records` (the first byte tells them apart: 0b001xxxxx vs 20–25), which is
why framing, protection (:class:`EpochState`) and packing are separate functions here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .constants import DTLS1_0_VERSION, DTLS1_2_VERSION
from .errors import DtlsDecodeError
from .suites import RecordCipher

__all__ = [
    "HEADER_LENGTH",
    "MAX_CIPHERTEXT",
    "MAX_PLAINTEXT",
    "RECORD_HEADER",
    "RECORD_HEADER_SEQ64",
    "SEQUENCE_MASK",
    "EpochState",
    "Record",
    "ReplayWindow",
    "encode_record",
    "pack_datagrams",
    "parse_records",
]

HEADER_LENGTH: Final = 13
#: Largest plaintext fragment (RFC 5246 §6.2.1: 2^14).
MAX_PLAINTEXT: Final = 1 << 14
#: Largest protected fragment we accept (RFC 5246 §6.2.3: 2^14 + 2048).
MAX_CIPHERTEXT: Final = MAX_PLAINTEXT + 2048
#: Size of the anti-replay window (RFC 6347 §4.1.2.6 recommends 64).
REPLAY_WINDOW_SIZE: Final = 64
#: Highest 48-bit sequence number; an epoch must not wrap (RFC 6347 §4.1).
MAX_SEQUENCE: Final = (1 << 48) - 1

#: type, version, epoch, sequence_number high 16 bits, low 32 bits, length
RECORD_HEADER = struct.Struct("!BHHHIH")
#: The same header with epoch + sequence_number read as one 64-bit ``seq_num`` (RFC 6347
#: §4.1.2.1): what the data path needs for the AEAD additional data.
RECORD_HEADER_SEQ64 = struct.Struct("!BHQH")
#: ``seq_num & SEQUENCE_MASK`` is the 48-bit sequence_number.
SEQUENCE_MASK: Final = (1 << 48) - 1
_HEADER = RECORD_HEADER
_ACCEPTED_VERSIONS = frozenset({DTLS1_2_VERSION, DTLS1_0_VERSION})


@dataclass(frozen=True, slots=True)
class Record:
    """One record as it appeared on the wire (``fragment`` still protected if epoch > 0)."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes

    @property
    def seq64(self) -> int:
        """``epoch << 48 | sequence_number``: the 64-bit seq_num of RFC 6347 §4.1.2.1."""
        return (self.epoch << 48) | self.sequence_number


def parse_records(datagram: bytes) -> tuple[list[Record], int]:
    """Split a datagram into records (RFC 6347 §4.1).

    Returns the records and how many trailing bytes could not be framed (a truncated or
    malformed header ends the walk: there is no way to resynchronise inside a datagram).
    Raises :class:`DtlsDecodeError` only if not even the first record is well-formed.
    """
    records: list[Record] = []
    pos = 0
    end = len(datagram)
    while pos < end:
        if end - pos < HEADER_LENGTH:
            break
        ctype, version, epoch, seq_hi, seq_lo, length = _HEADER.unpack_from(datagram, pos)
        if version not in _ACCEPTED_VERSIONS or length > MAX_CIPHERTEXT:
            break
        start = pos + HEADER_LENGTH
        if start + length > end:
            break
        records.append(
            Record(ctype, version, epoch, (seq_hi << 32) | seq_lo, datagram[start : start + length])
        )
        pos = start + length
    if not records and end:
        raise DtlsDecodeError("datagram holds no well-formed DTLS record")
    return records, end - pos


def encode_record(
    content_type: int, version: int, epoch: int, sequence_number: int, fragment: bytes
) -> bytes:
    """Frame one record (no protection: pass the sealed fragment for epoch > 0)."""
    return (
        _HEADER.pack(
            content_type,
            version,
            epoch,
            sequence_number >> 32,
            sequence_number & 0xFFFFFFFF,
            len(fragment),
        )
        + fragment
    )


class ReplayWindow:
    """The sliding anti-replay window of RFC 6347 §4.1.2.6 (a bitmap of ``size`` records).

    :meth:`is_fresh` is checked before decrypting; :meth:`mark` only after the record
    authenticated, so forged records cannot move the window.
    """

    __slots__ = ("bits", "highest", "mask", "size")

    def __init__(self, size: int = REPLAY_WINDOW_SIZE) -> None:
        self.size = size
        self.mask = (1 << size) - 1
        #: the highest authenticated sequence number (-1: none yet)
        self.highest = -1
        #: bit i set: record (highest - i) was received
        self.bits = 0

    def is_fresh(self, seq: int) -> bool:
        if seq > self.highest:
            return True
        offset = self.highest - seq
        if offset >= self.size:
            return False  # too old: left of the window
        return not (self.bits >> offset) & 1

    def mark(self, seq: int) -> None:
        if seq > self.highest:
            shift = seq - self.highest
            if shift >= self.size:  # a jump past the whole window (never shift by 2^48)
                self.bits = 1
            else:
                self.bits = ((self.bits << shift) | 1) & self.mask
            self.highest = seq
        else:
            self.bits |= 1 << (self.highest - seq)


class EpochState:
    """One direction of one epoch: its cipher (None for epoch 0) and counters."""

    __slots__ = ("cipher", "epoch", "next_sequence", "replay")

    def __init__(self, epoch: int, cipher: RecordCipher | None) -> None:
        self.epoch = epoch
        self.cipher = cipher
        self.next_sequence = 0
        self.replay = ReplayWindow()

    def protect(
        self,
        content_type: int,
        payload: bytes | bytearray | memoryview,
        version: int = DTLS1_2_VERSION,
    ) -> bytes:
        """Build the next record of this epoch around ``payload``."""
        seq = self.next_sequence
        if seq > MAX_SEQUENCE:
            raise OverflowError("DTLS sequence number space exhausted for this epoch")
        self.next_sequence = seq + 1
        if self.cipher is not None:
            return self.cipher.seal_record((self.epoch << 48) | seq, content_type, version, payload)
        return encode_record(content_type, version, self.epoch, seq, bytes(payload))

    def protect_many(
        self,
        content_type: int,
        payloads: Sequence[bytes | bytearray | memoryview],
        version: int = DTLS1_2_VERSION,
    ) -> list[bytes]:
        """:meth:`protect` for each of ``payloads`` in order (the same records), sealed as
        one batch (:meth:`RecordCipher.seal_records`)."""
        seq = self.next_sequence
        cipher = self.cipher
        if cipher is None or seq + len(payloads) - 1 > MAX_SEQUENCE:
            # plaintext epoch, or the epoch ends inside the batch: one by one (the record
            # that would wrap raises OverflowError as with protect)
            return [self.protect(content_type, p, version) for p in payloads]
        self.next_sequence = seq + len(payloads)
        return cipher.seal_records((self.epoch << 48) | seq, content_type, version, payloads)

    def unprotect(self, record: Record) -> bytes:
        """Decrypt ``record``; raise :class:`DtlsDecodeError` if it does not authenticate."""
        if self.cipher is None:
            return record.fragment
        plaintext = self.cipher.open(
            record.seq64, record.content_type, record.version, record.fragment
        )
        if len(plaintext) > MAX_PLAINTEXT:
            raise DtlsDecodeError("record plaintext longer than 2^14")
        return plaintext


def pack_datagrams(records: list[bytes], mtu: int) -> list[bytes]:
    """Pack whole records into datagrams of at most ``mtu`` bytes, in order (RFC 6347 §4.1.1:
    several records may share a datagram; none is split). A record larger than ``mtu`` goes
    alone into its own datagram."""
    out: list[bytes] = []
    current = bytearray()
    for rec in records:
        if current and len(current) + len(rec) > mtu:
            out.append(bytes(current))
            current = bytearray()
        current += rec
    if current:
        out.append(bytes(current))
    return out
