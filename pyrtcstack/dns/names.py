"""Domain names on the wire and as text (RFC 1035 §3.1, §4.1.4; text form §5.1).

On the wire a name is a sequence of labels, each one length octet (at most 63) and that
many octets, ended by the zero-length root label; the whole is at most 255 octets. A
**compression pointer** (two octets, the top two bits set) replaces the rest of a name with
the name at an earlier offset of the message (§4.1.4).

Hostile input: a pointer must point strictly before the run of labels it ends (so every
jump goes further back and no chain can loop: "a" then a pointer back to "a" is refused),
a name may follow at most :data:`MAX_POINTERS` pointers, and its expanded length is
checked against the 255-octet limit as it grows, so the work per name is bounded whatever
the message holds.

As text, labels are joined with ``.`` (no trailing dot; the root is ``"."``). An octet
outside letters, digits, ``-`` and ``_`` is written ``\\DDD`` (decimal, §5.1), so every
wire name has one text form and the round trip is exact.
"""

from __future__ import annotations

import string

from pyrtcstack.dns.errors import DnsError, DnsParseError

__all__ = [
    "MAX_LABEL_BYTES",
    "MAX_NAME_BYTES",
    "MAX_POINTERS",
    "decode_name",
    "encode_name",
    "name_key",
    "split_name",
]

#: A label's length (RFC 1035 §2.3.4: the length octet's top two bits are the pointer flag).
MAX_LABEL_BYTES = 63
#: A name on the wire, length octets and root label included (RFC 1035 §2.3.4).
MAX_NAME_BYTES = 255
#: Compression pointers followed while reading one name.
MAX_POINTERS = 32

_PLAIN = frozenset((string.ascii_letters + string.digits + "-_").encode())


def _label_text(label: bytes) -> str:
    return "".join(chr(b) if b in _PLAIN else f"\\{b:03d}" for b in label)


def split_name(text: str) -> tuple[bytes, ...]:
    """The labels of a text name (``\\DDD`` and ``\\X`` escapes resolved, a trailing dot
    allowed); :class:`DnsError` for an empty label or a name past the limits."""
    if text in ("", "."):
        return ()
    if text.endswith(".") and not text.endswith("\\."):
        text = text[:-1]
    labels: list[bytes] = []
    label = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            digits = text[i + 1 : i + 4]
            if len(digits) == 3 and digits.isascii() and digits.isdigit() and int(digits) < 256:
                label.append(int(digits))
                i += 4
                continue
            if i + 1 >= len(text) or ord(text[i + 1]) > 0x7E:
                raise DnsError(f"bad escape in the name {text[:80]!r}")
            label.append(ord(text[i + 1]))
            i += 2
            continue
        if c == ".":
            labels.append(bytes(label))
            label.clear()
        elif ord(c) > 0x7E or ord(c) < 0x21:
            raise DnsError(f"character {c!r} in the name {text[:80]!r}")
        else:
            label.append(ord(c))
        i += 1
    labels.append(bytes(label))
    if any(not lab or len(lab) > MAX_LABEL_BYTES for lab in labels):
        raise DnsError(f"empty or over-long label in the name {text[:80]!r}")
    if sum(len(lab) + 1 for lab in labels) + 1 > MAX_NAME_BYTES:
        raise DnsError(f"the name {text[:80]!r} is longer than {MAX_NAME_BYTES} octets")
    return tuple(labels)


def name_key(text: str) -> str:
    """The comparison form of a name: ASCII case folded (RFC 4343 §3), no trailing dot."""
    return ".".join(_label_text(lab) for lab in split_name(text)).lower() or "."


def encode_name(
    text: str, out: bytearray, offsets: dict[bytes, int] | None = None, *, point: bool = True
) -> None:
    """Append ``text`` in wire form to ``out``; with ``offsets`` (suffix → offset, shared
    by one message), compress the longest suffix already written with the same octets
    (§4.1.4) and record the new suffixes (only those within the 14-bit pointer range).
    ``point=False`` writes the name whole but still records its suffixes for later names
    (the targets of SRV and NAPTR, which are never compressed themselves)."""
    labels = split_name(text)
    for i in range(len(labels)):
        suffix = b"".join(bytes([len(lab)]) + lab for lab in labels[i:])
        if offsets is not None:
            at = offsets.get(suffix) if point else None
            if at is not None:
                out += (0xC000 | at).to_bytes(2, "big")
                return
            if len(out) < 0x4000:
                offsets.setdefault(suffix, len(out))
        out.append(len(labels[i]))
        out += labels[i]
    out.append(0)


def decode_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` of the message ``data`` and the offset just after it (after
    its first pointer, if any); :class:`DnsParseError` when malformed or hostile."""
    labels: list[str] = []
    size = 1  # the root label
    end: int | None = None
    pointers = 0
    n = len(data)
    start = pos  # where the current run of labels began
    while True:
        if pos >= n:
            raise DnsParseError("name runs past the end of the message")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                raise DnsParseError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= start:  # before the labels it ends: each jump goes further back
                raise DnsParseError("compression pointer does not point backwards")
            pointers += 1
            if pointers > MAX_POINTERS:
                raise DnsParseError(f"more than {MAX_POINTERS} compression pointers")
            if end is None:
                end = pos + 2
            pos = start = target
            continue
        if kind:
            raise DnsParseError(f"label type {kind >> 6} is not supported (RFC 6891 §5)")
        size += length + 1
        if size > MAX_NAME_BYTES:
            raise DnsParseError(f"name longer than {MAX_NAME_BYTES} octets")
        if pos + 1 + length > n:
            raise DnsParseError("label runs past the end of the message")
        labels.append(_label_text(data[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    return (".".join(labels) or "."), (end if end is not None else pos)
