"""Handshake message framing, fragmentation and reassembly (RFC 6347 §4.2.2–§4.2.3).

Every handshake message travels with a 12-byte header::

    msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)

A message larger than what fits in one record is cut into fragments; the receiver rebuilds
it from fragments that may arrive out of order, overlap or repeat. The transcript hashed for
Finished/CertificateVerify contains each message *as if unfragmented* (offset 0, full length).

:class:`Reassembler` holds partial messages keyed by ``message_seq`` and releases complete
ones strictly in order. Its bounds are :data:`MAX_MESSAGE_LENGTH` (per message) and
:data:`MAX_PENDING_MESSAGES` (how far ahead of the next expected message we buffer).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from .errors import DtlsDecodeError

__all__ = [
    "HANDSHAKE_HEADER_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "MAX_PENDING_MESSAGES",
    "Fragment",
    "Reassembler",
    "encode_message",
    "fragment_message",
    "parse_fragments",
]

HANDSHAKE_HEADER_LENGTH: Final = 12
#: Largest handshake message we reassemble (a certificate chain fits comfortably).
MAX_MESSAGE_LENGTH: Final = 1 << 16
#: How many message_seq values past the next expected one we buffer fragments for.
MAX_PENDING_MESSAGES: Final = 8

_U24 = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class Fragment:
    msg_type: int
    length: int
    message_seq: int
    fragment_offset: int
    body: bytes

    @property
    def is_whole(self) -> bool:
        return self.fragment_offset == 0 and len(self.body) == self.length


def _header(msg_type: int, length: int, seq: int, offset: int, frag_len: int) -> bytes:
    return (
        bytes([msg_type])
        + length.to_bytes(3, "big")
        + seq.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + frag_len.to_bytes(3, "big")
    )


def encode_message(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """A whole message with its header: the form that goes into the transcript."""
    return _header(msg_type, len(body), message_seq, 0, len(body)) + body


def fragment_message(
    msg_type: int, message_seq: int, body: bytes, max_fragment: int
) -> list[bytes]:
    """Cut a message into header+fragment pieces whose fragment part is <= ``max_fragment``."""
    max_fragment = max(1, max_fragment)
    length = len(body)
    if length <= max_fragment:
        return [_header(msg_type, length, message_seq, 0, length) + body]
    return [
        _header(msg_type, length, message_seq, off, len(chunk)) + chunk
        for off in range(0, length, max_fragment)
        for chunk in (body[off : off + max_fragment],)
    ]


def parse_fragments(payload: bytes) -> list[Fragment]:
    """All handshake fragments in one record's plaintext (a record may hold several)."""
    out: list[Fragment] = []
    pos = 0
    end = len(payload)
    while pos < end:
        if end - pos < HANDSHAKE_HEADER_LENGTH:
            raise DtlsDecodeError("truncated handshake header")
        msg_type = payload[pos]
        length = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        seq = int.from_bytes(payload[pos + 4 : pos + 6], "big")
        offset = int.from_bytes(payload[pos + 6 : pos + 9], "big")
        frag_len = int.from_bytes(payload[pos + 9 : pos + 12], "big")
        start = pos + HANDSHAKE_HEADER_LENGTH
        if start + frag_len > end:
            raise DtlsDecodeError("handshake fragment runs past its record")
        if offset + frag_len > length:
            raise DtlsDecodeError("handshake fragment runs past its message")
        out.append(Fragment(msg_type, length, seq, offset, payload[start : start + frag_len]))
        pos = start + frag_len
    return out


class _Partial:
    """One message being rebuilt: its bytes and the sorted, merged list of received ranges."""

    __slots__ = ("body", "length", "msg_type", "ranges")

    def __init__(self, msg_type: int, length: int) -> None:
        self.msg_type = msg_type
        self.length = length
        self.body = bytearray(length)
        self.ranges: list[list[int]] = []

    def add(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end == offset:
            return
        self.body[offset:end] = data
        merged: list[list[int]] = []
        new = [offset, end]
        for r in self.ranges:
            if r[1] < new[0] or r[0] > new[1]:
                merged.append(r)
            else:
                new = [min(r[0], new[0]), max(r[1], new[1])]
        merged.append(new)
        merged.sort()
        self.ranges = merged

    @property
    def complete(self) -> bool:
        if self.length == 0:
            return True
        return len(self.ranges) == 1 and self.ranges[0] == [0, self.length]


class Reassembler:
    """Rebuilds handshake messages and releases them in ``message_seq`` order.

    ``next_seq`` is the next message expected. Fragments of older messages are reported as
    *old* by :meth:`add` (the peer retransmitted a flight we already processed); fragments
    more than :data:`MAX_PENDING_MESSAGES` ahead are dropped.
    """

    def __init__(self) -> None:
        self.next_seq = 0
        self._partials: dict[int, _Partial] = {}

    def add(self, frag: Fragment) -> bool:
        """Store a fragment. Returns False if it belongs to an already processed message."""
        if frag.message_seq < self.next_seq:
            return False
        if frag.message_seq >= self.next_seq + MAX_PENDING_MESSAGES:
            return True  # too far ahead: dropped, the peer will retransmit
        if frag.length > MAX_MESSAGE_LENGTH:
            raise DtlsDecodeError("handshake message too long")
        partial = self._partials.get(frag.message_seq)
        if partial is None:
            partial = self._partials[frag.message_seq] = _Partial(frag.msg_type, frag.length)
        elif partial.msg_type != frag.msg_type or partial.length != frag.length:
            raise DtlsDecodeError("fragment disagrees with earlier fragments of its message")
        partial.add(frag.fragment_offset, frag.body)
        return True

    def pop(self) -> tuple[int, int, bytes] | None:
        """The next complete in-order message as ``(msg_type, message_seq, body)``."""
        partial = self._partials.get(self.next_seq)
        if partial is None or not partial.complete:
            return None
        del self._partials[self.next_seq]
        seq = self.next_seq
        self.next_seq += 1
        return partial.msg_type, seq, bytes(partial.body)

    def pop_any(self, msg_type: int) -> tuple[int, int, bytes] | None:
        """The lowest-numbered complete message of ``msg_type`` regardless of order.

        Used by a server waiting for a ClientHello, whose message_seq is 0 or, after a cookie
        exchange, 1 (RFC 6347 §4.2.2); it does not advance ``next_seq``."""
        for seq in sorted(self._partials):
            partial = self._partials[seq]
            if partial.msg_type == msg_type and partial.complete:
                del self._partials[seq]
                return msg_type, seq, bytes(partial.body)
        return None

    def reset(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self._partials = {s: p for s, p in self._partials.items() if s >= next_seq}

    def discard(self, seq: int) -> None:
        self._partials.pop(seq, None)
