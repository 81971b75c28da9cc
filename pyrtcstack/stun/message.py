"""The STUN message: header, ordered attributes, encoding with integrity, strict decoding.

RFC 8489 §5 (header), §14 (attribute TLVs with 4-byte padding), §14.5/§14.6 (MESSAGE-
INTEGRITY and MESSAGE-INTEGRITY-SHA256), §14.7 (FINGERPRINT).

A :class:`Message` keeps its attributes as an ordered list of ``(type, value bytes)`` pairs,
so decoding is a single walk that only slices; typed helpers (``get_address``,
``get_error`` ...) decode a value when asked. MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256
and FINGERPRINT are *not* in that list: :meth:`Message.encode` computes them, and a decoded
message exposes them through :attr:`Message.raw` and :meth:`Message.verify_integrity`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import zlib
from collections.abc import Iterable
from typing import Literal

from ..common.core import Address
from .attributes import (
    ErrorCode,
    pack_address,
    pack_error_code,
    pack_unknown_attributes,
    pack_xor_address,
    unpack_address,
    unpack_error_code,
    unpack_unknown_attributes,
    unpack_xor_address,
)
from .constants import (
    FINGERPRINT_XOR,
    HEADER_SIZE,
    MAGIC_COOKIE,
    MAX_ATTRIBUTES,
    XOR_ADDRESS_TYPES,
    AttributeType,
    MessageClass,
    Method,
    PasswordAlgorithm,
)
from .errors import StunParseError, StunUsageError

__all__ = [
    "REASON_PHRASES",
    "HmacKey",
    "Integrity",
    "Message",
    "decode",
    "is_stun",
    "message_size",
    "new_transaction_id",
]

Integrity = Literal["sha1", "sha256", "both"]

_HEADER = struct.Struct("!HHI")
_TL = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
_PADS = (b"", b"\0", b"\0\0", b"\0\0\0")
_MI = int(AttributeType.MESSAGE_INTEGRITY)
_MI256 = int(AttributeType.MESSAGE_INTEGRITY_SHA256)
_FP = int(AttributeType.FINGERPRINT)
_COMPUTED = frozenset({_MI, _MI256, _FP})
_METHODS: dict[int, Method] = {int(m): m for m in Method}
_CLASSES = tuple(MessageClass)
_XOR_TYPES = frozenset(int(t) for t in XOR_ADDRESS_TYPES)
_new_object = object.__new__
_FP_HEAD = b"\x80\x28\x00\x04"
_MI_HEAD = b"\x00\x08\x00\x14"
_compare = hmac.compare_digest
_KNOWN_ALL = frozenset(int(t) for t in AttributeType)
_KNOWN_PLAIN = _KNOWN_ALL - _COMPUTED
_SPECIAL = _COMPUTED
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))

#: How many keys keep precomputed HMAC pads (an ICE agent uses one or two keys; TURN one).
HMAC_KEY_CACHE_SIZE = 64
_pads: dict[tuple[bytes, str], tuple[object, object]] = {}
_pad_misses = [0]  # misses since the last hit, once the cache is full


def _pad_states(key: bytes, digest: str) -> tuple[object, object]:
    """RFC 2104: the hash states after the inner (``ipad``) and outer (``opad``) key
    blocks, to be copied for each message."""
    block = 64
    k = key if len(key) <= block else hashlib.new(digest, key).digest()
    k = k.ljust(block, b"\0")
    return (hashlib.new(digest, k.translate(_IPAD)), hashlib.new(digest, k.translate(_OPAD)))


class HmacKey(bytes):
    """A STUN key (RFC 8489 §9) that carries its own HMAC-SHA1 states (RFC 2104).

    ``bytes`` in every respect, but MESSAGE-INTEGRITY made or checked with it costs two
    hash-state copies instead of a key schedule, and no lookup in the shared cache of
    :func:`_hmac`. An ICE agent holds one per password of each credentials generation: a
    process with a thousand idle connections has four thousand keys in use, far more than
    that cache keeps, and every consent check (RFC 7675) would otherwise miss it. About
    0.4 KiB per key."""

    sha1: tuple[object, object]

    def __new__(cls, value: bytes) -> HmacKey:
        self = super().__new__(cls, value)
        self.sha1 = _pad_states(self, "sha1")
        return self

    def __reduce__(self) -> tuple[type[HmacKey], tuple[bytes]]:
        # copy, deepcopy and pickle remake the states (hash objects do not pickle)
        return (HmacKey, (bytes(self),))


def _states(key: bytes, digest: str) -> tuple[object, object] | None:
    if digest == "sha1" and type(key) is HmacKey:
        return key.sha1
    return _pads.get((key, digest))


def _hmac(key: bytes, data: bytes, digest: str) -> bytes:
    """HMAC (RFC 2104) with the inner and outer hash states cached per key: an ICE agent
    signs and checks every message with the same key, and a cached state saves more than
    half the cost of :func:`hmac.digest`. The cache holds at most HMAC_KEY_CACHE_SIZE keys
    (an :class:`HmacKey` carries its own states and needs none).

    A miss is answered by :func:`hmac.digest` (making the pads costs more than that). With
    more keys in use than the cache holds (hundreds of idle peer connections, each
    checking consent with its own keys), the cache is not refilled on every miss: it is
    emptied after HMAC_KEY_CACHE_SIZE misses without a hit in between, so it follows a
    working set that moved on (connections closed) without paying for pads on every
    message."""
    states = _states(key, digest)
    if states is None:
        if len(_pads) >= HMAC_KEY_CACHE_SIZE:
            _pad_misses[0] += 1
            if _pad_misses[0] < HMAC_KEY_CACHE_SIZE:
                return hmac.digest(key, data, digest)
            _pads.clear()
        _pad_misses[0] = 0
        states = _pads[(bytes(key), digest)] = _pad_states(key, digest)
    elif type(key) is not HmacKey:
        _pad_misses[0] = 0
    return _mac(states, data)


def _mac(states: tuple[object, object], data: bytes) -> bytes:
    """HMAC (RFC 2104) of ``data`` from a key's prepared inner and outer hash states."""
    inner = states[0].copy()  # type: ignore[attr-defined]
    inner.update(data)
    outer = states[1].copy()  # type: ignore[attr-defined]
    outer.update(inner.digest())
    return outer.digest()  # type: ignore[no-any-return]


#: Default reason phrases: RFC 8489 §14.8, RFC 8656 §19 (TURN), RFC 5780 (none new).
REASON_PHRASES: dict[int, str] = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthenticated",
    403: "Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    486: "Allocation Quota Reached",
    487: "Role Conflict",
    500: "Server Error",
    508: "Insufficient Capacity",
}


def _type_of(method: int, message_class: int) -> int:
    """RFC 8489 §5 Figure 3: interleave the 12 method bits M11..M0 with C1 C0."""
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 1) << 4)
        | ((message_class & 2) << 7)
    )


#: Message type → (method, class) for the known methods (decode's fast lookup).
_TYPES: dict[int, tuple[Method, MessageClass]] = {
    _type_of(m, c): (m, c) for m in Method for c in MessageClass
}
#: (method, class) → message type for the known methods (encode's lookup).
_TYPE_CODES: dict[tuple[int, int], int] = {mc: t for t, mc in _TYPES.items()}


def new_transaction_id(rng: object | None = None) -> bytes:
    """A random 96-bit transaction id (RFC 8489 §5). ``rng`` is an injected
    :class:`random.Random` (tests); without one the OS CSPRNG is used."""
    if rng is None:
        return secrets.token_bytes(12)
    return rng.randbytes(12)  # type: ignore[attr-defined, no-any-return]


def is_stun(data: bytes) -> bool:
    """Cheap check that ``data`` looks like STUN: at least a header, first byte 0–3
    (RFC 7983 §7) and the magic cookie (RFC 8489 §5). It does not validate the rest."""
    return len(data) >= HEADER_SIZE and data[0] < 4 and data[4:8] == _COOKIE_BYTES


def message_size(header: bytes) -> int | None:
    """Total size of the STUN message whose first bytes are ``header`` (for stream
    framing, RFC 8489 §6.2.2), or ``None`` if fewer than 4 bytes are given."""
    if len(header) < 4:
        return None
    return HEADER_SIZE + ((header[2] << 8) | header[3])


class Message:
    """One STUN message (RFC 8489 §5).

    ``attributes`` is the ordered list of ``(type, value)`` pairs, excluding the three
    computed ones (MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256, FINGERPRINT). A decoded
    message also has ``raw`` (the exact bytes), ``unknown_required`` (unknown
    comprehension-required types, RFC 8489 §6.3.1) and ``ignored_after_integrity``.
    """

    __slots__ = (
        "_fp",
        "_mi",
        "_mi256",
        "attributes",
        "ignored_after_integrity",
        "message_class",
        "method",
        "raw",
        "transaction_id",
        "unknown_required",
    )

    method: Method | int
    message_class: MessageClass
    transaction_id: bytes
    attributes: list[tuple[int, bytes]]
    raw: bytes | None
    unknown_required: list[int]
    ignored_after_integrity: int

    def __init__(
        self,
        method: Method | int,
        message_class: MessageClass = MessageClass.REQUEST,
        transaction_id: bytes | None = None,
        attributes: Iterable[tuple[int, bytes]] = (),
    ) -> None:
        if transaction_id is None:
            transaction_id = secrets.token_bytes(12)
        elif len(transaction_id) != 12:
            raise StunUsageError("a transaction id is 12 bytes")
        if not 0 <= method <= 0xFFF:
            raise StunUsageError(f"method out of range: {method}")
        self.method = _METHODS.get(method, method)
        self.message_class = (
            message_class if type(message_class) is MessageClass else MessageClass(message_class)
        )
        self.transaction_id = (
            transaction_id if type(transaction_id) is bytes else bytes(transaction_id)
        )
        attrs: list[tuple[int, bytes]] = list(attributes) if attributes else []
        for t, _ in attrs:  # a loop, no generator per message (every consent check makes two)
            if t in _COMPUTED:
                raise StunUsageError("integrity and fingerprint are added by encode()")
        self.attributes = attrs
        self.raw = None
        self.unknown_required = []
        self.ignored_after_integrity = 0
        self._mi = self._mi256 = self._fp = -1

    # -- dunder ------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.method == other.method
            and self.message_class == other.message_class
            and self.transaction_id == other.transaction_id
            and self.attributes == other.attributes
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Values are not shown: USERNAME, NONCE and friends are nobody's log business.
        names = []
        for t, v in self.attributes:
            try:
                name = AttributeType(t).name
            except ValueError:
                name = f"0x{t:04X}"
            names.append(f"{name}({len(v)})")
        method = self.method.name if isinstance(self.method, Method) else f"0x{self.method:03X}"
        return (
            f"<Message {method} {self.message_class.name} "
            f"tid={self.transaction_id.hex()} [{', '.join(names)}]>"
        )

    # -- raw attribute access ----------------------------------------------------------
    def get(self, attr_type: int) -> bytes | None:
        """The value of the first attribute of ``attr_type``, or None."""
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def get_all(self, attr_type: int) -> list[bytes]:
        """The values of every attribute of ``attr_type``, in order."""
        return [v for t, v in self.attributes if t == attr_type]

    def __contains__(self, attr_type: int) -> bool:
        return self.get(attr_type) is not None  # a loop, no generator per call

    def add(self, attr_type: int, value: bytes = b"") -> Message:
        """Append an attribute (raw value, padding is added on encode). Returns self."""
        t = int(attr_type)
        if t in _COMPUTED:
            raise StunUsageError("integrity and fingerprint are added by encode()")
        if t < 0 or t > 0xFFFF or len(value) > 0xFFFF:
            raise StunUsageError("attribute type or length out of range")
        self.attributes.append((t, value if type(value) is bytes else bytes(value)))
        return self

    def set(self, attr_type: int, value: bytes = b"") -> Message:
        """Replace every attribute of ``attr_type`` by one with ``value`` (kept at the
        position of the first one, or appended). Returns self."""
        if attr_type in _COMPUTED:
            raise StunUsageError("integrity and fingerprint are added by encode()")
        for i, (t, _) in enumerate(self.attributes):
            if t == attr_type:
                self.attributes[i] = (int(attr_type), bytes(value))
                self.attributes[i + 1 :] = [a for a in self.attributes[i + 1 :] if a[0] != t]
                return self
        return self.add(attr_type, value)

    def remove(self, attr_type: int) -> Message:
        """Remove every attribute of ``attr_type``. Returns self."""
        self.attributes = [a for a in self.attributes if a[0] != attr_type]
        return self

    # -- typed helpers -----------------------------------------------------------------
    def get_address(self, attr_type: int) -> Address | None:
        """Decode an address attribute; XOR-* types (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS,
        XOR-RELAYED-ADDRESS) are un-XORed with this message's transaction id (§14.2)."""
        v = self.get(attr_type)
        if v is None:
            return None
        if attr_type in _XOR_TYPES:
            return unpack_xor_address(v, self.transaction_id)
        return unpack_address(v)

    def get_addresses(self, attr_type: int) -> list[Address]:
        """Every address of ``attr_type`` (TURN allows several XOR-PEER-ADDRESS)."""
        if attr_type in _XOR_TYPES:
            return [unpack_xor_address(v, self.transaction_id) for v in self.get_all(attr_type)]
        return [unpack_address(v) for v in self.get_all(attr_type)]

    def add_address(self, attr_type: int, addr: Address) -> Message:
        """Append an address attribute, XORed when ``attr_type`` is an XOR-* type."""
        if attr_type in _XOR_TYPES:
            return self.add(attr_type, pack_xor_address(addr, self.transaction_id))
        return self.add(attr_type, pack_address(addr))

    def get_uint32(self, attr_type: int) -> int | None:
        """PRIORITY, LIFETIME, FINGERPRINT-style 32-bit values."""
        v = self.get(attr_type)
        if v is None:
            return None
        if len(v) != 4:
            raise StunParseError(f"attribute 0x{attr_type:04X} is not 4 bytes")
        return int(_U32.unpack(v)[0])

    def add_uint32(self, attr_type: int, value: int) -> Message:
        try:
            return self.add(attr_type, _U32.pack(value))
        except struct.error:
            raise StunUsageError("value does not fit 32 bits") from None

    def get_uint64(self, attr_type: int) -> int | None:
        """ICE-CONTROLLED / ICE-CONTROLLING tie-breakers (RFC 8445 §16.1)."""
        v = self.get(attr_type)
        if v is None:
            return None
        if len(v) != 8:
            raise StunParseError(f"attribute 0x{attr_type:04X} is not 8 bytes")
        return int(_U64.unpack(v)[0])

    def add_uint64(self, attr_type: int, value: int) -> Message:
        try:
            return self.add(attr_type, _U64.pack(value))
        except struct.error:
            raise StunUsageError("value does not fit 64 bits") from None

    def get_text(self, attr_type: int) -> str | None:
        """USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN: UTF-8 text."""
        v = self.get(attr_type)
        if v is None:
            return None
        try:
            return v.decode()
        except UnicodeDecodeError:
            raise StunParseError(f"attribute 0x{attr_type:04X} is not UTF-8") from None

    def add_text(self, attr_type: int, value: str) -> Message:
        return self.add(attr_type, value.encode())

    def has(self, attr_type: int) -> bool:
        """Flag attributes (USE-CANDIDATE, DONT-FRAGMENT) are present or absent."""
        return attr_type in self

    def get_error(self) -> ErrorCode | None:
        """ERROR-CODE (RFC 8489 §14.8) as ``(code, reason)``."""
        v = self.get(AttributeType.ERROR_CODE)
        return None if v is None else unpack_error_code(v)

    def add_error(self, code: int, reason: str | None = None) -> Message:
        """Append ERROR-CODE; the reason defaults to the RFC's phrase."""
        if reason is None:
            reason = REASON_PHRASES.get(code, "Error")
        return self.add(AttributeType.ERROR_CODE, pack_error_code(code, reason))

    def get_unknown_attributes(self) -> list[int]:
        """UNKNOWN-ATTRIBUTES (RFC 8489 §14.13)."""
        v = self.get(AttributeType.UNKNOWN_ATTRIBUTES)
        return [] if v is None else unpack_unknown_attributes(v)

    def add_unknown_attributes(self, types: Iterable[int]) -> Message:
        return self.add(AttributeType.UNKNOWN_ATTRIBUTES, pack_unknown_attributes(list(types)))

    def get_change_request(self) -> tuple[bool, bool] | None:
        """CHANGE-REQUEST (RFC 5780 §7.2) as ``(change_ip, change_port)``."""
        v = self.get(AttributeType.CHANGE_REQUEST)
        if v is None:
            return None
        if len(v) != 4:
            raise StunParseError("CHANGE-REQUEST is not 4 bytes")
        return bool(v[3] & 0x04), bool(v[3] & 0x02)

    def add_change_request(self, change_ip: bool, change_port: bool) -> Message:
        flags = (0x04 if change_ip else 0) | (0x02 if change_port else 0)
        return self.add(AttributeType.CHANGE_REQUEST, bytes((0, 0, 0, flags)))

    def get_password_algorithms(self) -> list[tuple[int, bytes]]:
        """PASSWORD-ALGORITHMS (RFC 8489 §14.11): ``[(algorithm, parameters), ...]``."""
        v = self.get(AttributeType.PASSWORD_ALGORITHMS)
        return [] if v is None else _unpack_algorithms(v)

    def add_password_algorithms(self, algorithms: Iterable[tuple[int, bytes]]) -> Message:
        return self.add(AttributeType.PASSWORD_ALGORITHMS, _pack_algorithms(algorithms))

    def get_password_algorithm(self) -> tuple[int, bytes] | None:
        """PASSWORD-ALGORITHM (RFC 8489 §14.12): ``(algorithm, parameters)``."""
        v = self.get(AttributeType.PASSWORD_ALGORITHM)
        if v is None:
            return None
        algs = _unpack_algorithms(v)
        if len(algs) != 1:
            raise StunParseError("PASSWORD-ALGORITHM holds one algorithm")
        return algs[0]

    def add_password_algorithm(
        self, algorithm: int = PasswordAlgorithm.SHA256, parameters: bytes = b""
    ) -> Message:
        return self.add(
            AttributeType.PASSWORD_ALGORITHM, _pack_algorithms([(algorithm, parameters)])
        )

    def get_requested_transport(self) -> int | None:
        """REQUESTED-TRANSPORT (RFC 8656 §18.7): the IP protocol number (17 = UDP)."""
        v = self.get(AttributeType.REQUESTED_TRANSPORT)
        if v is None:
            return None
        if len(v) != 4:
            raise StunParseError("REQUESTED-TRANSPORT is not 4 bytes")
        return v[0]

    def add_requested_transport(self, protocol: int = 17) -> Message:
        return self.add(AttributeType.REQUESTED_TRANSPORT, bytes((protocol, 0, 0, 0)))

    def get_channel_number(self) -> int | None:
        """CHANNEL-NUMBER (RFC 8656 §18.1)."""
        v = self.get(AttributeType.CHANNEL_NUMBER)
        if v is None:
            return None
        if len(v) != 4:
            raise StunParseError("CHANNEL-NUMBER is not 4 bytes")
        return (v[0] << 8) | v[1]

    def add_channel_number(self, channel: int) -> Message:
        return self.add(AttributeType.CHANNEL_NUMBER, bytes((channel >> 8, channel & 0xFF, 0, 0)))

    def get_address_family(self, attr_type: int) -> int | None:
        """REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8/18.11):
        0x01 IPv4, 0x02 IPv6."""
        v = self.get(attr_type)
        if v is None:
            return None
        if len(v) != 4:
            raise StunParseError("address family attribute is not 4 bytes")
        return v[0]

    def add_address_family(self, attr_type: int, family: int) -> Message:
        return self.add(attr_type, bytes((family, 0, 0, 0)))

    def get_even_port(self) -> bool | None:
        """EVEN-PORT (RFC 8656 §18.9): the R bit (reserve the next port too)."""
        v = self.get(AttributeType.EVEN_PORT)
        if v is None:
            return None
        if len(v) < 1:
            raise StunParseError("EVEN-PORT is empty")
        return bool(v[0] & 0x80)

    def add_even_port(self, reserve: bool) -> Message:
        return self.add(AttributeType.EVEN_PORT, bytes((0x80 if reserve else 0,)))

    def get_address_error(self) -> tuple[int, ErrorCode] | None:
        """ADDRESS-ERROR-CODE (RFC 8656 §18.12): ``(family, ErrorCode)``."""
        v = self.get(AttributeType.ADDRESS_ERROR_CODE)
        if v is None:
            return None
        err = unpack_error_code(bytes((0, 0)) + v[2:])
        return v[0], err

    def get_icmp(self) -> tuple[int, int, int] | None:
        """ICMP (RFC 8656 §18.13): ``(type, code, error data)``."""
        v = self.get(AttributeType.ICMP)
        if v is None:
            return None
        if len(v) != 8:
            raise StunParseError("ICMP is not 8 bytes")
        return v[2] & 0x7F, v[3] & 0x1F, int(_U32.unpack_from(v, 4)[0])

    # -- responses ---------------------------------------------------------------------
    def success_response(self) -> Message:
        """An empty success response with the same method and transaction id."""
        return Message(self.method, MessageClass.SUCCESS, self.transaction_id)

    def error_response(self, code: int, reason: str | None = None) -> Message:
        """An error response carrying ERROR-CODE (RFC 8489 §6.3.1.1)."""
        return Message(self.method, MessageClass.ERROR, self.transaction_id).add_error(code, reason)

    # -- integrity of decoded messages -------------------------------------------------
    @property
    def integrity(self) -> Literal["sha1", "sha256"] | None:
        """Which integrity attribute a decoded message carries (SHA-256 preferred)."""
        if self._mi256 >= 0:
            return "sha256"
        if self._mi >= 0:
            return "sha1"
        return None

    @property
    def has_fingerprint(self) -> bool:
        """True if the decoded message carried FINGERPRINT (already checked by decode)."""
        return self._fp >= 0

    def verify_integrity(self, key: bytes) -> bool:
        """Check MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, in constant
        time, over exactly the bytes RFC 8489 §14.5/§14.6 cover: the header with its
        length field rewritten to end after the integrity attribute, and every attribute
        before it. False when the message carries neither."""
        raw = self.raw
        if raw is None:
            raise StunUsageError("verify_integrity needs a decoded message")
        off = self._mi256
        if off >= 0:
            size = (raw[off + 2] << 8) | raw[off + 3]
            digest = "sha256"
        else:
            off = self._mi
            if off < 0:
                return False
            size = 20
            digest = "sha1"
        covered = raw[:2] + _U16.pack(off + 4 + size - HEADER_SIZE) + raw[4:off]
        states = _states(key, digest)
        mac = _hmac(key, covered, digest) if states is None else _mac(states, covered)
        return _compare(mac[:size], raw[off + 4 : off + 4 + size])

    # -- encoding ----------------------------------------------------------------------
    def encode(
        self,
        key: bytes | None = None,
        *,
        fingerprint: bool = False,
        integrity: Integrity = "sha1",
    ) -> bytes:
        """Encode the message (RFC 8489 §5, §14).

        With ``key``, append MESSAGE-INTEGRITY (``integrity="sha1"``, the default and what
        ICE uses), MESSAGE-INTEGRITY-SHA256 (``"sha256"``) or both in that order
        (``"both"``), each HMAC computed over the header whose length covers it (§14.5,
        §14.6). With ``fingerprint``, FINGERPRINT comes last (§14.7).
        """
        parts: list[bytes] = []
        pack = _TL.pack
        for t, v in self.attributes:
            n = len(v)
            parts += (pack(t, n), v, _PADS[-n & 3])  # no call per part (consent: 2 a check)
        body = b"".join(parts)
        mtype = _TYPE_CODES.get((self.method, self.message_class))
        if mtype is None:
            mtype = _type_of(self.method, self.message_class)
        tid = self.transaction_id
        if key is not None:
            if integrity != "sha256":
                head = _HEADER.pack(mtype, len(body) + 24, MAGIC_COOKIE) + tid
                body += b"\x00\x08\x00\x14" + _hmac(key, head + body, "sha1")
            if integrity != "sha1":
                head = _HEADER.pack(mtype, len(body) + 36, MAGIC_COOKIE) + tid
                body += b"\x00\x1c\x00\x20" + _hmac(key, head + body, "sha256")
        if fingerprint:
            data = _HEADER.pack(mtype, len(body) + 8, MAGIC_COOKIE) + tid + body
            crc = (zlib.crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
            data += b"\x80\x28\x00\x04" + _U32.pack(crc)
        else:
            data = _HEADER.pack(mtype, len(body), MAGIC_COOKIE) + tid + body
        if len(data) > 0xFFFF + HEADER_SIZE:
            raise StunUsageError("message longer than 65535 bytes of attributes")
        return data

    def __bytes__(self) -> bytes:
        return self.encode()


def _pack_algorithms(algorithms: Iterable[tuple[int, bytes]]) -> bytes:
    out = []
    for alg, params in algorithms:
        out.append(_TL.pack(alg, len(params)) + params + _PADS[-len(params) & 3])
    return b"".join(out)


def _unpack_algorithms(value: bytes) -> list[tuple[int, bytes]]:
    """RFC 8489 §14.11: algorithm (16 bits), parameters length, parameters padded to 4."""
    out = []
    pos, end = 0, len(value)
    while pos < end:
        if pos + 4 > end:
            raise StunParseError("truncated password algorithm")
        alg, n = _TL.unpack_from(value, pos)
        if pos + 4 + n > end:
            raise StunParseError("truncated password algorithm parameters")
        out.append((alg, value[pos + 4 : pos + 4 + n]))
        pos += 4 + n + (-n & 3)
    return out


def decode(data: bytes, *, check_fingerprint: bool = True) -> Message:
    """Decode one STUN message, the whole of ``data`` (one datagram).

    Checks (RFC 8489 §5, §14): top two bits zero, magic cookie, length a multiple of 4 and
    equal to the data, every attribute inside the message and padded, at most
    :data:`~pyrtcstack.stun.constants.MAX_ATTRIBUTES`, MESSAGE-INTEGRITY 20 bytes,
    MESSAGE-INTEGRITY-SHA256 16–32 bytes in steps of 4, nothing after FINGERPRINT and, with
    ``check_fingerprint``, a correct FINGERPRINT. Attributes after an integrity attribute,
    except MESSAGE-INTEGRITY-SHA256 after MESSAGE-INTEGRITY and FINGERPRINT, are ignored as
    §14.5 requires (counted in ``ignored_after_integrity``). Raises only
    :class:`StunParseError`.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < HEADER_SIZE:
        raise StunParseError("shorter than a STUN header")
    mtype, length, cookie = _HEADER.unpack_from(data)
    if mtype & 0xC000:
        raise StunParseError("top two bits of a STUN message must be zero")
    if cookie != MAGIC_COOKIE:
        raise StunParseError("bad magic cookie")
    if length & 3 or length + HEADER_SIZE != n:
        raise StunParseError("message length does not match the data")
    # Fast path for the common layout "plain attributes [MI] [FINGERPRINT]" (every ICE
    # check): if the trailer headers sit where they would and the walk of the plain
    # attributes lands exactly on them, they are real attribute boundaries (the walk is
    # deterministic). Anything else takes the general walk below.
    mi = mi256 = fp = -1
    end = n
    if n >= 28 and data[n - 8 : n - 4] == _FP_HEAD:
        fp = end = n - 8
    if end >= 44 and data[end - 24 : end - 20] == _MI_HEAD:
        mi = end = end - 24
    attrs: list[tuple[int, bytes]] = []
    unknown: list[int] = []
    append = attrs.append
    unpack = _TL.unpack_from
    off = HEADER_SIZE
    while off < end:
        t, size = unpack(data, off)
        start = off + 4
        off = start + size + (-size & 3)
        if t not in _KNOWN_PLAIN:  # one set lookup for the usual attributes
            if t in _SPECIAL:
                off = -1
                break
            if t < 0x8000:
                unknown.append(t)
        append((t, data[start : start + size]))
    if off == end:
        ignored = 0
        if len(attrs) > MAX_ATTRIBUTES:
            raise StunParseError("too many attributes")
    else:
        attrs, unknown, mi, mi256, fp, ignored = _walk(data, n)
    if fp >= 0 and check_fingerprint:
        crc = (zlib.crc32(data[:fp]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
        if crc != _U32.unpack_from(data, fp + 4)[0]:
            raise StunParseError("FINGERPRINT mismatch")
    msg = _new_object(Message)
    known = _TYPES.get(mtype)
    if known is None:
        mval = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
        msg.method = mval
        msg.message_class = _CLASSES[((mtype >> 4) & 1) | ((mtype >> 7) & 2)]
    else:
        msg.method, msg.message_class = known
    msg.transaction_id = data[8:20]
    msg.attributes = attrs
    msg.raw = data
    msg.unknown_required = unknown
    msg.ignored_after_integrity = ignored
    msg._mi = mi
    msg._mi256 = mi256
    msg._fp = fp
    return msg


def _walk(data: bytes, n: int) -> tuple[list[tuple[int, bytes]], list[int], int, int, int, int]:
    """The general attribute walk of :func:`decode` (RFC 8489 §14, §14.5–§14.7)."""
    attrs: list[tuple[int, bytes]] = []
    unknown: list[int] = []
    mi = mi256 = fp = -1
    ignored = 0
    off = HEADER_SIZE
    unpack = _TL.unpack_from
    append = attrs.append
    sealed = False  # True once an integrity attribute or FINGERPRINT has been seen
    while off < n:
        t, size = unpack(data, off)
        start = off + 4
        nxt = start + size + (-size & 3)
        if nxt > n:
            raise StunParseError("attribute runs past the end of the message")
        if sealed or t in _SPECIAL:
            sealed = True
            if fp >= 0:
                raise StunParseError("attribute after FINGERPRINT")
            if t == _FP:
                if size != 4:
                    raise StunParseError("FINGERPRINT is not 4 bytes")
                fp = off
            elif t == _MI256 and mi256 < 0:
                if size < 16 or size > 32 or size & 3:
                    raise StunParseError("bad MESSAGE-INTEGRITY-SHA256 length")
                mi256 = off
            elif t == _MI and mi < 0 and mi256 < 0:
                if size != 20:
                    raise StunParseError("MESSAGE-INTEGRITY is not 20 bytes")
                mi = off
            else:
                # RFC 8489 §14.5/§14.6: everything after the integrity attributes except
                # MESSAGE-INTEGRITY-SHA256 and FINGERPRINT is ignored.
                ignored += 1
        else:
            append((t, data[start : start + size]))
            if t not in _KNOWN_ALL and t < 0x8000:
                unknown.append(t)
        off = nxt
    if len(attrs) + ignored > MAX_ATTRIBUTES:
        raise StunParseError("too many attributes")
    return attrs, unknown, mi, mi256, fp, ignored
