"""The established DTLS 1.2 data path: a burst of application data records in one call.

A function of :class:`~pyrtcstack.dtls.connection.DtlsConnection`, kept apart by concept.
A datagram that is exactly one application data record of the current read epoch (what a
bulk transfer receives) is checked, replay-filtered (RFC 6347 §4.1.2.6), decrypted with
AES-GCM inline (RFC 5288 §3) and handed up — through ``on_application_data_batch``, the
per-record ``on_application_data`` or as an ``ApplicationData`` event — with the
connection's lookups done once per burst. Every other datagram goes through the
connection's general record path, in order. ``tests/test_dtls_batch.py`` checks that the
results, events, drops and counters equal the one-by-one and the general paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from cryptography.exceptions import InvalidTag

from ..common.core import Address
from .constants import DTLS1_2_VERSION
from .errors import DtlsDecodeError
from .events import ApplicationData
from .record import (
    HEADER_LENGTH,
    MAX_CIPHERTEXT,
    MAX_PLAINTEXT,
    RECORD_HEADER_SEQ64,
    SEQUENCE_MASK,
    EpochState,
    ReplayWindow,
)
from .suites import AEAD_ADDITIONAL_DATA, GCM_RECORD_OVERHEAD, RecordCipher

if TYPE_CHECKING:
    from .connection import DtlsConnection

__all__ = ["receive_datagrams"]


_ReadState = tuple[
    int, ReplayWindow, RecordCipher, Callable[[bytes, bytes, bytes], bytes] | None, bytes
]


def _read_state(fast: EpochState | None) -> _ReadState:
    """What the data path needs of the current read epoch: its number, replay window and
    cipher, the AES-GCM decrypt function (None for ChaCha20) and implicit IV — looked up
    once per burst. Without a read epoch (``fast`` None) the path is never taken: the
    values are placeholders."""
    if fast is None or fast.cipher is None:
        return -1, ReplayWindow(), cast(RecordCipher, None), None, b""
    cipher = fast.cipher
    return fast.epoch, fast.replay, cipher, cipher.gcm_decrypt, cipher.implicit_iv


def receive_datagrams(
    conn: DtlsConnection, datagrams: Iterable[bytes], addr: Address, now: float
) -> None:
    """``conn.receive_datagrams``: see :meth:`DtlsConnection.receive_datagrams`."""
    stats = conn.stats
    events = conn._events
    unpack = RECORD_HEADER_SEQ64.unpack_from
    pack_aad = AEAD_ADDITIONAL_DATA.pack
    fast_count = 0  # datagrams (= records) taken by the fast path, counted at the end
    batch_callback = conn.on_application_data_batch
    batch: list[bytes] = []  # plaintexts for batch_callback, handed over in order
    # The current epoch's read state, looked up once (again after the general path,
    # which may install a new epoch or end the connection).
    fast = conn._fast_read
    epoch, replay, cipher, gcm_decrypt, iv = _read_state(fast)
    try:
        for data in datagrams:
            size = len(data)
            if fast is not None and size > HEADER_LENGTH and data[0] == 23:
                # Fast path (established, a datagram that is exactly one DTLS 1.2
                # application data record of the current epoch): the same checks, drops
                # and counters as parse_records + _receive_record, without the general
                # dispatch. Anything else takes the general path below.
                _ctype, version, seq64, length = unpack(data)
                if (
                    seq64 >> 48 == epoch
                    and length == size - HEADER_LENGTH
                    and version == DTLS1_2_VERSION
                    and length <= MAX_CIPHERTEXT
                ):
                    fast_count += 1
                    seq = seq64 & SEQUENCE_MASK
                    highest = replay.highest
                    if seq <= highest and not replay.is_fresh(seq):
                        stats.dropped_replay += 1
                        continue
                    # AES-GCM inline (RecordCipher.open_record, RFC 5288 §3: the
                    # explicit nonce follows the header, the tag ends the record);
                    # ChaCha20 through the method
                    n = length - GCM_RECORD_OVERHEAD
                    try:
                        if gcm_decrypt is None or n < 0 or n > MAX_PLAINTEXT:
                            plaintext = cipher.open_record(data, seq64, 23, version)
                        else:
                            plaintext = gcm_decrypt(
                                iv + data[13:21], data[21:], pack_aad(seq64, 23, version, n)
                            )
                    except (DtlsDecodeError, InvalidTag):
                        stats.dropped_decrypt += 1  # RFC 6347 §4.1.2.7: silently discard
                        continue
                    # the window moves only once the record authenticated (RFC 6347
                    # §4.1.2.6); the usual case, the next record in order, is
                    # ReplayWindow.mark inlined
                    if seq == highest + 1:
                        bits = replay.bits
                        if bits != replay.mask:  # (a full window stays full)
                            replay.bits = ((bits << 1) | 1) & replay.mask
                        replay.highest = seq
                    else:
                        replay.mark(seq)
                    if events:
                        events.append(ApplicationData(plaintext))
                    elif batch_callback is not None:
                        batch.append(plaintext)
                    else:
                        callback = conn.on_application_data
                        if callback is not None:
                            callback(plaintext, now)
                            fast = conn._fast_read  # the callback may have closed us
                            epoch, replay, cipher, gcm_decrypt, iv = _read_state(fast)
                        else:
                            events.append(ApplicationData(plaintext))
                    continue
            if batch:
                batch_callback(batch, now)  # type: ignore[misc]
                batch = []
            conn._receive_general(data, addr, now)
            fast = conn._fast_read
            epoch, replay, cipher, gcm_decrypt, iv = _read_state(fast)
        if batch:
            batch_callback(batch, now)  # type: ignore[misc]
    finally:
        if fast_count:
            stats.datagrams_received += fast_count
            stats.records_received += fast_count
