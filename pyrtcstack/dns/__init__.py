"""DNS (RFC 1035): a sans-I/O message codec for the records a SIP client looks up.

* :func:`make_query` — a query (random id from the injected CSPRNG, RD set);
  :func:`check_response` — the bytes of a reply, accepted only if they answer that query;
  :func:`answers_for` — one name's records of one type, CNAMEs followed.
* :class:`Message`, :class:`Question`, :class:`Record` and the record data :class:`A`,
  :class:`AAAA` (RFC 3596), :class:`CNAME`, :class:`SRV` (RFC 2782), :class:`NAPTR`
  (RFC 3403), :class:`Opaque` (any other type).
* :class:`DnsParseError` (and :class:`DnsMismatchError`) for bytes, :class:`DnsError` for
  a bad name; the limits :data:`MAX_MESSAGE_BYTES`, :data:`MAX_RECORDS`,
  :data:`MAX_NAME_BYTES`, :data:`MAX_LABEL_BYTES`, :data:`MAX_POINTERS`,
  :data:`MAX_CNAMES`.

Stands alone: imports only :mod:`pyrtcstack.common`. No sockets: the asyncio resolver is
:mod:`pyrtcstack.aio.dns`. See docs/dns.md.
"""

from __future__ import annotations

from pyrtcstack.dns.errors import DnsError, DnsMismatchError, DnsParseError
from pyrtcstack.dns.message import (
    AAAA,
    CLASS_IN,
    CNAME,
    MAX_CNAMES,
    MAX_MESSAGE_BYTES,
    MAX_RECORDS,
    NAPTR,
    RCODE_NAMES,
    SRV,
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    TYPE_NAMES,
    TYPE_NAPTR,
    TYPE_SRV,
    A,
    Message,
    Opaque,
    Question,
    RData,
    Record,
    answers_for,
    check_response,
    make_query,
)
from pyrtcstack.dns.names import MAX_LABEL_BYTES, MAX_NAME_BYTES, MAX_POINTERS, name_key

__all__ = [
    "AAAA",
    "CLASS_IN",
    "CNAME",
    "MAX_CNAMES",
    "MAX_LABEL_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_NAME_BYTES",
    "MAX_POINTERS",
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
    "DnsError",
    "DnsMismatchError",
    "DnsParseError",
    "Message",
    "Opaque",
    "Question",
    "RData",
    "Record",
    "answers_for",
    "check_response",
    "make_query",
    "name_key",
]
