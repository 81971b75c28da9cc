"""One-shot mDNS queries for ``.local`` ICE candidates (RFC 6762; the candidate scheme is
draft-ietf-mmusic-mdns-ice-candidates): building the query and reading the answer.

Browsers hide their host addresses behind random names such as
``4e9e56ac-55d4-4ad1-9b6d-9d4ca1e2a2f9.local``. To use such a candidate, an agent asks the
local link once (RFC 6762 §5.1 "one-shot multicast DNS query"): a standard DNS query for the
A (or AAAA) record, sent to 224.0.0.251:5353 from an ordinary port, so that responders answer
by unicast to that port (§6.7 "legacy unicast responses"). This module is the sans-I/O half:
:func:`build_query` and :func:`parse_addresses`; ``pyrtcstack.aio.ice.resolve_mdns`` sends it.
"""

from __future__ import annotations

import ipaddress
import struct

from ..common.errors import ParseError

__all__ = [
    "MAX_MDNS_RECORDS",
    "MDNS_GROUP_V4",
    "MDNS_PORT",
    "MdnsParseError",
    "build_query",
    "is_mdns_name",
    "parse_addresses",
]

#: RFC 6762 §3: the IPv4 multicast group and port of mDNS.
MDNS_GROUP_V4 = "224.0.0.251"
MDNS_PORT = 5353
#: Resource records read from one response (answers, authority, additional); beyond it the
#: response is rejected.
MAX_MDNS_RECORDS = 64
_MAX_POINTERS = 32  # compression pointers followed in one name (loops end here)
_TYPE_A, _TYPE_AAAA, _CLASS_IN = 1, 28, 1


class MdnsParseError(ParseError):
    """A malformed mDNS/DNS message (RFC 1035 §4.1 format)."""


def is_mdns_name(host: str) -> bool:
    """Whether ``host`` is a ``.local`` name (RFC 6762 §3)."""
    return host.lower().rstrip(".").endswith(".local")


def _encode_name(name: str) -> bytes:
    labels = name.rstrip(".").split(".")
    out = bytearray()
    for label in labels:
        raw = label.encode("utf-8")
        if not 1 <= len(raw) <= 63:
            raise ValueError(f"bad DNS label in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"DNS name too long: {name!r}")
    return bytes(out)


def build_query(name: str, *, ipv6: bool = False) -> bytes:
    """A one-shot query (RFC 6762 §5.1) for the A (or AAAA) record of ``name``: ID 0
    (§18.1), one question, class IN with the unicast-response bit (§5.4)."""
    if not is_mdns_name(name):
        raise ValueError(f"not a .local name: {name!r}")
    qtype = _TYPE_AAAA if ipv6 else _TYPE_A
    return (
        struct.pack("!6H", 0, 0, 1, 0, 0, 0)
        + _encode_name(name)
        + struct.pack("!HH", qtype, 0x8000 | _CLASS_IN)
    )


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """RFC 1035 §4.1.4: a name with compression; returns (name, position after it)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    total = 0
    while True:
        if pos >= len(data):
            raise MdnsParseError("name runs past the end")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise MdnsParseError("truncated compression pointer")
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise MdnsParseError("compression pointer loop")
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length & 0xC0:
            raise MdnsParseError("reserved label type")
        pos += 1
        if length == 0:
            break
        if pos + length > len(data):
            raise MdnsParseError("label runs past the end")
        total += length + 1
        if total > 255:
            raise MdnsParseError("name longer than 255 bytes")
        labels.append(data[pos : pos + length].decode("utf-8", errors="replace"))
        pos += length
    return ".".join(labels), (end if end >= 0 else pos)


def parse_addresses(data: bytes, name: str) -> list[str]:
    """The IPv4/IPv6 addresses that A/AAAA records for ``name`` carry in the response
    ``data`` (answers, authority and additional sections). Queries and other names give
    an empty list; a malformed message raises :class:`MdnsParseError`."""
    if len(data) < 12:
        raise MdnsParseError("shorter than a DNS header")
    _id, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", data)
    if not flags & 0x8000:
        return []  # a query, not a response (RFC 1035 §4.1.1 QR bit)
    records = ancount + nscount + arcount
    if records > MAX_MDNS_RECORDS or qdcount > MAX_MDNS_RECORDS:
        raise MdnsParseError("too many records")
    pos = 12
    for _ in range(qdcount):
        _qname, pos = _read_name(data, pos)
        pos += 4
        if pos > len(data):
            raise MdnsParseError("truncated question")
    wanted = name.lower().rstrip(".")
    out: list[str] = []
    for _ in range(records):
        rname, pos = _read_name(data, pos)
        if pos + 10 > len(data):
            raise MdnsParseError("truncated resource record")
        rtype, rclass, _ttl, rdlength = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        if pos + rdlength > len(data):
            raise MdnsParseError("resource data runs past the end")
        rdata = data[pos : pos + rdlength]
        pos += rdlength
        # RFC 6762 §10.2: the top bit of the class is the cache-flush bit
        if rname.lower() != wanted or rclass & 0x7FFF != _CLASS_IN:
            continue
        if rtype == _TYPE_A and rdlength == 4:
            out.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == _TYPE_AAAA and rdlength == 16:
            out.append(ipaddress.IPv6Address(rdata).compressed)
    return out
