"""DNS messages (RFC 1035 §4.1) with the records a SIP client needs: A (RFC 1035 §3.4.1),
AAAA (RFC 3596 §2), CNAME (RFC 1035 §3.3.1), SRV (RFC 2782) and NAPTR (RFC 3403 §4.1).
Any other type is kept as :class:`Opaque` octets.

A message is a 12-octet header (id, flags, four counts), then the questions, the answers,
the authority records and the additional records. :meth:`Message.decode` reads one within
the limits below and raises :class:`DnsParseError` otherwise; :meth:`Message.encode` writes
one (owner names and CNAME targets compressed, RFC 1035 §4.1.4; SRV and NAPTR names never,
RFC 2782 and RFC 3597 §4).

A client makes its query with :func:`make_query` (a random id from the injected CSPRNG,
RD set, RFC 1035 §4.1.1) and accepts a datagram as the answer only through
:func:`check_response` (same id, QR set, same opcode and question, RFC 5452 §9.1), which
raises :class:`DnsMismatchError` for a stray or spoofed one. :func:`answers_for` takes the
records of one name and type from the answer section, following CNAMEs.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from pyrtcstack.common.core import default_rng
from pyrtcstack.dns.errors import DnsError, DnsMismatchError, DnsParseError
from pyrtcstack.dns.names import decode_name, encode_name, name_key

__all__ = [
    "AAAA",
    "CLASS_IN",
    "CNAME",
    "MAX_CNAMES",
    "MAX_MESSAGE_BYTES",
    "MAX_RECORDS",
    "NAPTR",
    "RCODE_NAMES",
    "SRV",
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_CNAME",
    "TYPE_NAMES",
    "TYPE_NAPTR",
    "TYPE_SRV",
    "A",
    "Message",
    "Opaque",
    "Question",
    "RData",
    "Record",
    "answers_for",
    "check_response",
    "make_query",
]

#: A DNS message: 65,535 octets, what a TCP length prefix can say (RFC 1035 §4.2.2).
MAX_MESSAGE_BYTES = 65_535
#: Questions and records in one message (all four sections); past it the message is refused.
MAX_RECORDS = 512
#: CNAMEs followed by :func:`answers_for` from the queried name.
MAX_CNAMES = 8

CLASS_IN = 1
TYPE_A, TYPE_CNAME, TYPE_AAAA, TYPE_SRV, TYPE_NAPTR = 1, 5, 28, 33, 35
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 16: "TXT", 28: "AAAA",
              33: "SRV", 35: "NAPTR", 41: "OPT"}  # fmt: skip
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED"}  # fmt: skip

_QR, _AA, _TC, _RD, _RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080


@dataclass(frozen=True, slots=True)
class A:
    """An IPv4 address (RFC 1035 §3.4.1)."""

    address: str
    type = TYPE_A


@dataclass(frozen=True, slots=True)
class AAAA:
    """An IPv6 address (RFC 3596 §2.2), in its compressed text form."""

    address: str
    type = TYPE_AAAA


@dataclass(frozen=True, slots=True)
class CNAME:
    """The canonical name of an alias (RFC 1035 §3.3.1)."""

    target: str
    type = TYPE_CNAME


@dataclass(frozen=True, slots=True)
class SRV:
    """A server for a service (RFC 2782): lower ``priority`` first, ``weight`` shares the
    load among equal priorities; target ``"."`` means the service is not offered."""

    priority: int
    weight: int
    port: int
    target: str
    type = TYPE_SRV


@dataclass(frozen=True, slots=True)
class NAPTR:
    """A rewrite rule (RFC 3403 §4.1): lower ``order`` first, then lower ``preference``;
    for SIP (RFC 3263 §4.1) ``flags`` is ``"s"`` and ``replacement`` the SRV name. The
    three character-strings are kept as Latin-1 text (one character per octet)."""

    order: int
    preference: int
    flags: str
    services: str
    regexp: str
    replacement: str
    type = TYPE_NAPTR


@dataclass(frozen=True, slots=True)
class Opaque:
    """The RDATA of a type this codec does not interpret, as octets."""

    type: int
    data: bytes


RData = A | AAAA | CNAME | SRV | NAPTR | Opaque


@dataclass(frozen=True, slots=True)
class Question:
    name: str
    type: int
    cls: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class Record:
    """A resource record (RFC 1035 §4.1.3); its type is ``data.type``."""

    name: str
    data: RData
    ttl: int = 0
    cls: int = CLASS_IN

    @property
    def type(self) -> int:
        return self.data.type


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def _string(text: str) -> bytes:
    """A <character-string> (RFC 1035 §3.3): one length octet, at most 255 octets."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise DnsError(f"{text[:40]!r} is not one octet per character") from None
    if len(raw) > 255:
        raise DnsError("a character-string is at most 255 octets")
    return bytes([len(raw)]) + raw


def _encode_rdata(data: RData, out: bytearray, offsets: dict[bytes, int] | None) -> None:
    if isinstance(data, A):
        out += ipaddress.IPv4Address(data.address).packed
    elif isinstance(data, AAAA):
        out += ipaddress.IPv6Address(data.address).packed
    elif isinstance(data, CNAME):
        encode_name(data.target, out, offsets)
    elif isinstance(data, SRV):
        out += _u16(data.priority) + _u16(data.weight) + _u16(data.port)
        encode_name(data.target, out, offsets, point=False)  # RFC 2782: never compressed
    elif isinstance(data, NAPTR):
        out += _u16(data.order) + _u16(data.preference)
        out += _string(data.flags) + _string(data.services) + _string(data.regexp)
        encode_name(data.replacement, out, offsets, point=False)  # RFC 3597 §4: whole
    else:
        out += data.data


def _decode_rdata(rtype: int, msg: bytes, pos: int, end: int) -> RData:
    """The RDATA of ``rtype`` at ``msg[pos:end]``; names in it may point anywhere before."""

    def name_at(p: int) -> tuple[str, int]:
        name, after = decode_name(msg, p)
        if after > end:
            raise DnsParseError("a name runs past its record")
        return name, after

    def exact(after: int) -> None:
        if after != end:
            raise DnsParseError(f"{TYPE_NAMES.get(rtype, rtype)} record of the wrong length")

    if rtype == TYPE_A:
        exact(pos + 4)
        return A(str(ipaddress.IPv4Address(msg[pos:end])))
    if rtype == TYPE_AAAA:
        exact(pos + 16)
        return AAAA(str(ipaddress.IPv6Address(msg[pos:end])))
    if rtype == TYPE_CNAME:
        target, after = name_at(pos)
        exact(after)
        return CNAME(target)
    if rtype == TYPE_SRV:
        if end - pos < 7:
            raise DnsParseError("SRV record too short")
        fields = [int.from_bytes(msg[pos + i : pos + i + 2], "big") for i in (0, 2, 4)]
        target, after = name_at(pos + 6)
        exact(after)
        return SRV(fields[0], fields[1], fields[2], target)
    if rtype == TYPE_NAPTR:
        if end - pos < 7:
            raise DnsParseError("NAPTR record too short")
        order = int.from_bytes(msg[pos : pos + 2], "big")
        preference = int.from_bytes(msg[pos + 2 : pos + 4], "big")
        p = pos + 4
        texts: list[str] = []
        for _ in range(3):
            if p >= end or p + 1 + msg[p] > end:
                raise DnsParseError("NAPTR character-string runs past its record")
            texts.append(msg[p + 1 : p + 1 + msg[p]].decode("latin-1"))
            p += 1 + msg[p]
        replacement, after = name_at(p)
        exact(after)
        return NAPTR(order, preference, texts[0], texts[1], texts[2], replacement)
    return Opaque(rtype, msg[pos:end])


@dataclass(frozen=True, slots=True)
class Message:
    """A DNS message (RFC 1035 §4.1); ``flags`` is the header's second 16-bit word."""

    id: int
    flags: int = 0
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authorities: tuple[Record, ...] = ()
    additionals: tuple[Record, ...] = ()

    @property
    def is_response(self) -> bool:
        return bool(self.flags & _QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def truncated(self) -> bool:
        """TC (RFC 1035 §4.1.1): the answer did not fit; ask again over TCP (§4.2.2)."""
        return bool(self.flags & _TC)

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & _AA)

    @property
    def rcode(self) -> int:
        """0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN (the name does not exist), 5 REFUSED…"""
        return self.flags & 0xF

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")

    def encode(self, *, compress: bool = True) -> bytes:
        """The wire form; :class:`DnsError` for a value that does not fit its field."""
        sections = (self.questions, self.answers, self.authorities, self.additionals)
        if not 0 <= self.id <= 0xFFFF or not 0 <= self.flags <= 0xFFFF:
            raise DnsError("the id and the flags are 16-bit numbers")
        out = bytearray(_u16(self.id) + _u16(self.flags))
        for section in sections:
            out += _u16(len(section))
        offsets: dict[bytes, int] | None = {} if compress else None
        for q in self.questions:
            encode_name(q.name, out, offsets)
            out += _u16(q.type) + _u16(q.cls)
        for section in sections[1:]:
            for r in section:
                encode_name(r.name, out, offsets)
                if not 0 <= r.ttl <= 0xFFFFFFFF:
                    raise DnsError("a TTL is a 32-bit number")
                out += _u16(r.type) + _u16(r.cls) + r.ttl.to_bytes(4, "big") + b"\0\0"
                start = len(out)
                try:
                    _encode_rdata(r.data, out, offsets)
                except (ValueError, OverflowError) as exc:
                    if isinstance(exc, DnsError):
                        raise
                    raise DnsError(f"cannot encode {r.data!r}: {exc}") from None
                out[start - 2 : start] = _u16(len(out) - start)
        if len(out) > MAX_MESSAGE_BYTES:
            raise DnsError(f"a DNS message is at most {MAX_MESSAGE_BYTES} octets")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes, *, max_records: int = MAX_RECORDS) -> Message:
        """One message from ``data`` (a UDP payload, or a TCP message without its length
        prefix); :class:`DnsParseError` when malformed, past a limit, or followed by junk."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise DnsParseError(f"a DNS message is at most {MAX_MESSAGE_BYTES} octets")
        if len(data) < 12:
            raise DnsParseError("shorter than the 12-octet header")
        counts = [int.from_bytes(data[i : i + 2], "big") for i in range(4, 12, 2)]
        if sum(counts) > max_records:
            raise DnsParseError(f"more than {max_records} questions and records")
        pos = 12
        questions: list[Question] = []
        for _ in range(counts[0]):
            name, pos = decode_name(data, pos)
            if pos + 4 > len(data):
                raise DnsParseError("question runs past the end of the message")
            qtype = int.from_bytes(data[pos : pos + 2], "big")
            questions.append(Question(name, qtype, int.from_bytes(data[pos + 2 : pos + 4], "big")))
            pos += 4
        sections: list[tuple[Record, ...]] = []
        for count in counts[1:]:
            records: list[Record] = []
            for _ in range(count):
                name, pos = decode_name(data, pos)
                if pos + 10 > len(data):
                    raise DnsParseError("record header runs past the end of the message")
                rtype = int.from_bytes(data[pos : pos + 2], "big")
                rclass = int.from_bytes(data[pos + 2 : pos + 4], "big")
                ttl = int.from_bytes(data[pos + 4 : pos + 8], "big")
                length = int.from_bytes(data[pos + 8 : pos + 10], "big")
                pos += 10
                if pos + length > len(data):
                    raise DnsParseError("RDATA runs past the end of the message")
                rdata = _decode_rdata(rtype, data, pos, pos + length)
                records.append(Record(name, rdata, ttl, rclass))
                pos += length
            sections.append(tuple(records))
        if pos != len(data):
            raise DnsParseError(f"{len(data) - pos} octets after the last record")
        flags = int.from_bytes(data[2:4], "big")
        ident = int.from_bytes(data[0:2], "big")
        return cls(ident, flags, tuple(questions), sections[0], sections[1], sections[2])


def make_query(name: str, qtype: int, rng: random.Random | None = None) -> Message:
    """A standard query for ``name`` and ``qtype`` with RD set (recursion desired, RFC 1035
    §4.1.1) and a 16-bit id from ``rng`` (default: the OS CSPRNG; RFC 5452 §9.2: the id is
    half of what makes a spoofed answer hard to guess, the source port the other)."""
    name_key(name)  # DnsError now for a bad name, not when encoding
    return Message(default_rng(rng).getrandbits(16), _RD, (Question(name, qtype),))


def check_response(query: Message, data: bytes) -> Message:
    """``data`` decoded, if it is the answer to ``query`` (RFC 5452 §9.1: the id, the
    question's name, type and class, and QR set with the query's opcode); else
    :class:`DnsMismatchError` (drop it and keep waiting), or :class:`DnsParseError`."""
    if len(data) >= 2 and int.from_bytes(data[:2], "big") != query.id:
        raise DnsMismatchError("another query's id")  # before parsing: the cheap check
    response = Message.decode(data)
    if not response.is_response or response.opcode != query.opcode:
        raise DnsMismatchError("not a response to a standard query")
    if len(response.questions) != 1 or not _same(response.questions[0], query.questions[0]):
        raise DnsMismatchError("the response's question is not ours")
    return response


def _same(a: Question, b: Question) -> bool:
    return (a.type, a.cls) == (b.type, b.cls) and name_key(a.name) == name_key(b.name)


def answers_for(response: Message, name: str, rtype: int) -> list[RData]:
    """The data of the answer records of ``name`` and ``rtype`` (class IN), following at
    most :data:`MAX_CNAMES` CNAMEs from ``name`` (RFC 1034 §3.6.2) in the answer section."""
    wanted = name_key(name)
    for _ in range(MAX_CNAMES):
        alias = next(
            (r.data for r in response.answers
             if isinstance(r.data, CNAME) and r.cls == CLASS_IN and name_key(r.name) == wanted),
            None,
        )  # fmt: skip
        if alias is None or rtype == TYPE_CNAME:
            break
        wanted = name_key(alias.target)
    return [
        r.data
        for r in response.answers
        if r.type == rtype and r.cls == CLASS_IN and name_key(r.name) == wanted
    ]
