"""Answering mDNS queries for our own ``.local`` names (RFC 6762 §6), so that a peer can
resolve the host candidates we hide behind them (draft-ietf-mmusic-mdns-ice-candidates
§3.1: one random UUID name per host IP address).

The sans-I/O half: :class:`MdnsResponder` reads queries and says what to answer and
where; ``pyrtcstack.aio.ice.MdnsPublisher`` owns the socket on port 5353. Three ways to
answer a question for one of our names (A for an IPv4 address, AAAA for IPv6, or ANY):

* the query came from a port other than 5353: a *legacy unicast* query such as a one-shot
  resolver sends (§6.7): answer by unicast to that port, with the query's ID, the
  question repeated, and a TTL of at most 10 s;
* the question has the unicast-response ("QU") bit (§5.4): unicast to the sender, ID 0;
* otherwise: multicast to 224.0.0.251:5353, ID 0, with the cache-flush bit (§10.2), since
  the record is unique to us.

Not done: probing and announcing (§8; a random 122-bit name does not collide), known-answer
suppression (§7.1), negative (NSEC) answers, and goodbye packets.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass

from ..common.core import Address, Event
from .mdns import (
    MAX_MDNS_RECORDS,
    MDNS_GROUP_V4,
    MDNS_PORT,
    MdnsParseError,
    _encode_name,
    _read_name,
    is_mdns_name,
)

__all__ = [
    "LEGACY_TTL",
    "MAX_MDNS_NAMES",
    "RECORD_TTL",
    "MdnsResponder",
    "Question",
    "parse_questions",
]

#: RFC 6762 §10: TTL of address records (120 s).
RECORD_TTL = 120
#: RFC 6762 §6.7: legacy unicast answers carry a TTL of at most 10 s.
LEGACY_TTL = 10
#: Names one responder answers for (one per host address); more are refused.
MAX_MDNS_NAMES = 64

_TYPE_A, _TYPE_AAAA, _TYPE_ANY, _CLASS_IN = 1, 28, 255, 1
_CACHE_FLUSH = 0x8000
_QU = 0x8000


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a query (RFC 1035 §4.1.2, RFC 6762 §5.4 for the QU bit)."""

    name: str
    qtype: int
    qclass: int
    unicast: bool


def parse_questions(data: bytes) -> tuple[int, list[Question]]:
    """The ID and the questions of a standard query; ``(id, [])`` for a response or
    another opcode (RFC 6762 §18.3: only standard queries are answered). A malformed
    message raises :class:`~pyrtcstack.ice.mdns.MdnsParseError`."""
    if len(data) < 12:
        raise MdnsParseError("shorter than a DNS header")
    query_id, flags, qdcount, _an, _ns, _ar = struct.unpack_from("!6H", data)
    if flags & 0x8000 or flags & 0x7800:
        return query_id, []  # a response (QR) or not a standard query (opcode)
    if qdcount > MAX_MDNS_RECORDS:
        raise MdnsParseError("too many questions")
    questions: list[Question] = []
    pos = 12
    for _ in range(qdcount):
        name, pos = _read_name(data, pos)
        if pos + 4 > len(data):
            raise MdnsParseError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", data, pos)
        pos += 4
        questions.append(Question(name, qtype, qclass & 0x7FFF, bool(qclass & _QU)))
    return query_id, questions


class MdnsResponder:
    """Answers queries for the names added with :meth:`add_name` (see the module
    docstring). Core contract: ``receive_datagram(data, addr, now)`` with ``addr`` the
    sender, ``datagrams_to_send(now)`` (the multicast answers go to
    ``(MDNS_GROUP_V4, MDNS_PORT)``), no timer, no events. Malformed or foreign messages
    are dropped and counted in :attr:`stats`."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._out: list[tuple[bytes, Address]] = []
        self.stats: Counter[str] = Counter()

    @property
    def names(self) -> dict[str, str]:
        """Our names (lower case, no trailing dot) and their addresses."""
        return dict(self._names)

    def add_name(self, name: str, address: str) -> None:
        """Answer for ``name`` (a ``.local`` name) with ``address`` (IPv4 or IPv6)."""
        if not is_mdns_name(name):
            raise ValueError(f"not a .local name: {name!r}")
        _encode_name(name)  # raises ValueError for a name that cannot be encoded
        ipaddress.ip_address(address)
        key = name.lower().rstrip(".")
        if key not in self._names and len(self._names) >= MAX_MDNS_NAMES:
            raise ValueError(f"more than {MAX_MDNS_NAMES} names")
        self._names[key] = address

    def remove_name(self, name: str) -> None:
        self._names.pop(name.lower().rstrip("."), None)

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        try:
            query_id, questions = parse_questions(data)
        except MdnsParseError:
            self.stats["malformed"] += 1
            return
        if not questions:
            self.stats["not_a_query"] += 1
            return
        self.stats["queries"] += 1
        legacy = addr[1] != MDNS_PORT
        answers: list[tuple[str, int, bytes]] = []  # (name as asked, type, rdata)
        asked: list[Question] = []
        unicast = legacy
        for q in questions:
            address = self._names.get(q.name.lower().rstrip("."))
            if address is None or q.qclass not in (_CLASS_IN, _TYPE_ANY):
                continue
            ip = ipaddress.ip_address(address)
            rtype = _TYPE_A if ip.version == 4 else _TYPE_AAAA
            if q.qtype not in (rtype, _TYPE_ANY):
                continue
            answers.append((q.name, rtype, ip.packed))
            asked.append(q)
            unicast = unicast or q.unicast
        if not answers:
            return
        self.stats["answered"] += 1
        if legacy:
            # §6.7: the ID and the question echoed, TTL <= 10 s, no cache-flush bit
            head = struct.pack("!6H", query_id, 0x8400, len(asked), len(answers), 0, 0)
            body = b"".join(
                _encode_name(q.name) + struct.pack("!HH", q.qtype, _CLASS_IN) for q in asked
            )
            ttl, rclass = LEGACY_TTL, _CLASS_IN
        else:
            head = struct.pack("!6H", 0, 0x8400, 0, len(answers), 0, 0)
            body = b""
            ttl, rclass = RECORD_TTL, _CACHE_FLUSH | _CLASS_IN
        for name, rtype, rdata in answers:
            body += _encode_name(name) + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata))
            body += rdata
        destination = addr if unicast else (MDNS_GROUP_V4, MDNS_PORT)
        self._out.append((head + body, destination))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return None
