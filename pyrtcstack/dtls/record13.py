"""The DTLS 1.3 record layer (RFC 9147 §4): the unified header, record-number encryption,
sequence-number reconstruction, the inner plaintext and the ACK message (§7).

Two record formats share a datagram:

* ``DTLSPlaintext`` (RFC 9147 §4, same 13 bytes as DTLS 1.2) carries epoch 0: ClientHello,
  ServerHello, HelloRetryRequest (and alerts before keys exist).
* ``DTLSCiphertext``, the *unified header*, carries every protected record::

      0 1 2 3 4 5 6 7
      +-+-+-+-+-+-+-+-+
      |0|0|1|C|S|L|E E|   C: connection ID present (never, we negotiate none)
      +-+-+-+-+-+-+-+-+   S: 16-bit (1) or 8-bit (0) sequence number
      | 8/16 bit seq  |   L: 16-bit length present
      +-+-+-+-+-+-+-+-+   EE: low two bits of the epoch
      | 16 bit length |
      +-+-+-+-+-+-+-+-+
      | encrypted record (DTLSInnerPlaintext: content || type || zeros) ...

  The sequence bits on the wire are XORed with a mask made from the first 16 ciphertext
  bytes (§4.2.3); the AEAD additional data is the header *before* that masking (§4), and
  the nonce is the IV XOR the record's 64-bit sequence number within its epoch (RFC 8446
  §5.3; the epoch selects the key and is not in the nonce, as Chromium and Firefox do it).
  We always send S=1, L=1 (a 5-byte header), and accept every variant.

The first byte decides the format (§4.1): 21/22/26 is DTLSPlaintext, ``0b001xxxxx`` is
DTLSCiphertext, anything else is dropped.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

from ..common.buffer import BufferReadError, Reader, Writer
from .errors import DtlsDecodeError
from .keyschedule import TAG_LENGTH, TrafficKeys
from .record import HEADER_LENGTH, MAX_CIPHERTEXT, MAX_PLAINTEXT

__all__ = [
    "CONTENT_ACK",
    "MAX_ACK_RECORDS",
    "SAMPLE",
    "UNIFIED_HEADER",
    "UNIFIED_HEADER_LENGTH",
    "CiphertextRecord",
    "PlaintextRecord",
    "decode_ack",
    "encode_ack",
    "first16",
    "open_record",
    "parse_datagram13",
    "reconstruct_sequence",
    "seal_record",
    "unmask_sequence",
]

#: ContentType ack (RFC 9147 §7).
CONTENT_ACK: Final = 26
#: Bytes of the unified header we send: flags, 16-bit sequence number, 16-bit length.
UNIFIED_HEADER_LENGTH: Final = 5
#: Most record numbers we accept in, or put into, one ACK (bounds the parse).
MAX_ACK_RECORDS: Final = 256

_PLAIN_TYPES = frozenset({21, 22, CONTENT_ACK})
_CONTENT_TYPE_BYTE = [bytes([i]) for i in range(256)]
#: The unified header we send: flags, 16-bit sequence number, 16-bit length (RFC 9147 §4).
UNIFIED_HEADER = struct.Struct("!BHH")
_PLAIN = struct.Struct("!BHHHIH")


@dataclass(frozen=True, slots=True)
class PlaintextRecord:
    """A DTLSPlaintext record (epoch 0 in DTLS 1.3)."""

    content_type: int
    version: int
    epoch: int
    sequence_number: int
    fragment: bytes


@dataclass(frozen=True, slots=True)
class CiphertextRecord:
    """A DTLSCiphertext record as on the wire: header fields still masked."""

    epoch_bits: int
    header: bytes  # the unified header as received (sequence bits masked)
    seq_length: int  # 1 or 2
    masked_seq: int
    ciphertext: bytes


Record13 = PlaintextRecord | CiphertextRecord


def parse_datagram13(datagram: bytes) -> tuple[list[Record13], int]:
    """Split a datagram into records (RFC 9147 §4.1, §4.3). Returns the records and how many
    trailing bytes were dropped (an unknown first byte, a connection ID, a bad length)."""
    out: list[Record13] = []
    pos = 0
    end = len(datagram)
    while pos < end:
        first = datagram[pos]
        if first in _PLAIN_TYPES:
            if end - pos < HEADER_LENGTH:
                break
            ctype, version, epoch, seq_hi, seq_lo, length = _PLAIN.unpack_from(datagram, pos)
            start = pos + HEADER_LENGTH
            if length > MAX_CIPHERTEXT or start + length > end:
                break
            seq = (seq_hi << 32) | seq_lo
            out.append(
                PlaintextRecord(ctype, version, epoch, seq, datagram[start : start + length])
            )
            pos = start + length
            continue
        if first & 0xE0 != 0x20 or first & 0x10:
            break  # not a record we can read (or a connection ID we never negotiated)
        seq_length = 2 if first & 0x08 else 1
        header_length = 1 + seq_length + (2 if first & 0x04 else 0)
        if end - pos < header_length:
            break
        masked = int.from_bytes(datagram[pos + 1 : pos + 1 + seq_length], "big")
        if first & 0x04:
            length = int.from_bytes(datagram[pos + 1 + seq_length : pos + header_length], "big")
        else:
            length = end - pos - header_length  # no length: the rest of the datagram
        start = pos + header_length
        if length > MAX_CIPHERTEXT or start + length > end:
            break
        out.append(
            CiphertextRecord(
                first & 0x03,
                datagram[pos:start],
                seq_length,
                masked,
                datagram[start : start + length],
            )
        )
        pos = start + length
    return out, end - pos


def reconstruct_sequence(low: int, bits: int, expected: int) -> int:
    """The full sequence number whose low ``bits`` are ``low``, closest to ``expected``
    (RFC 9147 §4.2.2: closest to one plus the highest deprotected so far)."""
    window = 1 << bits
    best = (expected & ~(window - 1)) | low
    for candidate in (best - window, best + window):
        if candidate >= 0 and abs(candidate - expected) < abs(best - expected):
            best = candidate
    return best


def seal_record(keys: TrafficKeys, epoch: int, seq: int, content_type: int, data: bytes) -> bytes:
    """A whole DTLSCiphertext record with a 16-bit sequence number and a length (§4)."""
    inner = bytes(data) + _CONTENT_TYPE_BYTE[content_type]
    # §4.2.3: the mask needs 16 bytes of ciphertext (always true with a 16-byte tag)
    first = 0x2C | (epoch & 0x03)
    seq16 = seq & 0xFFFF
    length = len(inner) + TAG_LENGTH
    sealed = keys.seal_raw(keys.nonce(seq), inner, UNIFIED_HEADER.pack(first, seq16, length))
    mask = keys.mask(sealed)
    return UNIFIED_HEADER.pack(first, seq16 ^ ((mask[0] << 8) | mask[1]), length) + sealed


def first16(masks: bytes) -> Sequence[int]:
    """The first two bytes of each 16-byte mask in ``masks`` (laid end to end, as
    ``TrafficKeys.masks`` returns them) as big-endian 16-bit numbers: what a 16-bit
    sequence number is XORed with (§4.2.3). In C, whatever the count: a few masks (a
    SACK, a small burst) in one ``struct`` call, more as an array (no tuple per mask)."""
    if len(masks) <= _FEW_MASKS * 16:
        return _MASK16[len(masks) >> 4].unpack(masks)
    out = array("H", masks)[::8]
    if _LITTLE_ENDIAN:
        out.byteswap()
    return out


_LITTLE_ENDIAN: Final = sys.byteorder == "little"
#: Up to this many masks are read by one struct (cheaper than the array for few; the
#: array's fixed cost is ~4 struct calls' worth, measured with callgrind)
_FEW_MASKS: Final = 16
_MASK16: Final = [struct.Struct("!" + "H14x" * n) for n in range(_FEW_MASKS + 1)]
#: A record's mask sample (§4.2.3), taken in C by ``map``: its first 16 bytes
SAMPLE: Final = itemgetter(slice(0, 16))


def unmask_sequence(keys: TrafficKeys, record: CiphertextRecord) -> int:
    """The low sequence bits of ``record`` with the mask removed (§4.2.3)."""
    mask = keys.mask(record.ciphertext[:16])
    if record.seq_length == 2:
        return record.masked_seq ^ ((mask[0] << 8) | mask[1])
    return record.masked_seq ^ mask[0]


def open_record(
    keys: TrafficKeys, epoch: int, seq: int, low: int, record: CiphertextRecord
) -> tuple[int, bytes]:
    """Authenticate and decrypt; returns ``(content_type, content)``. Raises
    :class:`DtlsDecodeError` if it does not authenticate or the inner plaintext is empty."""
    header = bytearray(record.header)
    header[1 : 1 + record.seq_length] = low.to_bytes(record.seq_length, "big")
    inner = keys.open(seq, bytes(header), record.ciphertext)
    # RFC 8446 §5.4: the content type is the last non-zero byte; the rest is padding
    stripped = inner.rstrip(b"\x00")
    if not stripped:
        raise DtlsDecodeError("inner plaintext has no content type")
    if len(stripped) - 1 > MAX_PLAINTEXT:
        raise DtlsDecodeError("record plaintext larger than 2^14")
    return stripped[-1], stripped[:-1]


def encode_ack(record_numbers: list[tuple[int, int]]) -> bytes:
    """ACK (RFC 9147 §7): ``RecordNumber record_numbers<0..2^16-1>`` where a RecordNumber is
    ``uint64 epoch; uint64 sequence_number``."""
    w = Writer()
    with w.length_prefixed(2):
        for epoch, seq in record_numbers[:MAX_ACK_RECORDS]:
            w.u64(epoch)
            w.u64(seq)
    return w.getvalue()


def decode_ack(data: bytes) -> list[tuple[int, int]]:
    try:
        r = Reader(data)
        block = r.sub_vector(2)
        r.expect_end("ACK")
        if block.remaining % 16:
            raise DtlsDecodeError("ACK length is not a multiple of 16")
        if block.remaining // 16 > MAX_ACK_RECORDS:
            raise DtlsDecodeError("ACK lists too many records")
        out: list[tuple[int, int]] = []
        while not block.eof():
            out.append((block.u64(), block.u64()))
    except BufferReadError as exc:
        raise DtlsDecodeError(f"malformed ACK: {exc}") from None
    return out
