"""STUN (RFC 8489): message codec, integrity, sans-I/O transactions, a server core.

The codec (import everything from ``pyrtcstack.stun``)
------------------------------------------------------

Codepoints (IntEnums, :mod:`.constants`)
    ``Method`` (BINDING, and TURN's ALLOCATE 0x003, REFRESH 0x004, SEND 0x006, DATA 0x007,
    CREATE_PERMISSION 0x008, CHANNEL_BIND 0x009), ``MessageClass`` (REQUEST, INDICATION,
    SUCCESS, ERROR), ``AttributeType`` (every RFC 8489 attribute, ICE's PRIORITY,
    USE_CANDIDATE, ICE_CONTROLLED, ICE_CONTROLLING, TURN's CHANNEL_NUMBER, LIFETIME,
    XOR_PEER_ADDRESS, DATA, XOR_RELAYED_ADDRESS, REQUESTED_ADDRESS_FAMILY, EVEN_PORT,
    REQUESTED_TRANSPORT, DONT_FRAGMENT, RESERVATION_TOKEN, ADDITIONAL_ADDRESS_FAMILY,
    ADDRESS_ERROR_CODE, ICMP and RFC 5780's CHANGE_REQUEST, PADDING, RESPONSE_PORT,
    RESPONSE_ORIGIN, OTHER_ADDRESS), ``PasswordAlgorithm`` (MD5, SHA256).

``Message(method, message_class=REQUEST, transaction_id=None, attributes=())``
    ``transaction_id`` is 12 bytes (None: from the OS CSPRNG; cores use
    ``new_transaction_id(rng)``). ``attributes`` is an ordered list of ``(type, value)``
    pairs (raw value bytes, unpadded) that never holds MESSAGE-INTEGRITY(-SHA256) or
    FINGERPRINT: those are computed by ``encode`` and checked on decode.

    * raw access: ``get(t)``, ``get_all(t)``, ``t in msg``, ``has(t)``, ``add(t, value)``,
      ``set(t, value)``, ``remove(t)`` (``add``/``set``/``remove`` return the message, so
      calls chain).
    * typed helpers (``get_*`` returns None when absent, raises ``StunParseError`` when the
      value is malformed; ``add_*`` appends): ``get_address/add_address(t, (host, port))``
      — XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS are XORed with the
      cookie and, for IPv6, the transaction id automatically; ``get_addresses(t)``;
      ``get_uint32/add_uint32`` (PRIORITY, LIFETIME); ``get_uint64/add_uint64``
      (ICE-CONTROLLED/-CONTROLLING); ``get_text/add_text`` (USERNAME, REALM, NONCE,
      SOFTWARE); ``get_error() -> ErrorCode(code, reason)`` / ``add_error(code, reason=None)``;
      ``get_unknown_attributes/add_unknown_attributes``; ``get_change_request() ->
      (change_ip, change_port)`` / ``add_change_request``; ``get_password_algorithms``,
      ``get_password_algorithm`` and their ``add_``; ``get_requested_transport``,
      ``get_channel_number``, ``get_address_family(t)``, ``get_even_port``,
      ``get_address_error``, ``get_icmp`` and the matching ``add_`` where one makes sense.
    * ``success_response()`` / ``error_response(code, reason=None)``: same method and id.
    * ``encode(key=None, *, fingerprint=False, integrity="sha1"|"sha256"|"both") -> bytes``
      adds MESSAGE-INTEGRITY (HMAC-SHA1) and/or MESSAGE-INTEGRITY-SHA256 when ``key`` is
      given, then FINGERPRINT.
    * decoded messages only: ``raw`` (the exact bytes), ``verify_integrity(key) -> bool``
      (MI-SHA256 if present, else MI; constant time; over exactly the bytes of RFC 8489
      §14.5/§14.6), ``integrity`` ("sha1"/"sha256"/None), ``has_fingerprint``,
      ``unknown_required`` (unknown comprehension-required types: a server answers 420
      with UNKNOWN-ATTRIBUTES, a client fails the transaction), ``ignored_after_integrity``.

``decode(data, *, check_fingerprint=True) -> Message``
    Strict decoding of one whole message; raises only ``StunParseError`` (a
    ``common.errors.ParseError``). A wrong FINGERPRINT is a parse error. Unknown
    comprehension-optional attributes (0x8000–0xFFFF, e.g. Chrome's 0xC057) are kept in
    ``attributes`` and otherwise ignored.
``is_stun(data) -> bool``
    Cheap first-byte + cookie check (RFC 7983 §7); ``message_size(header)`` gives the
    total size from the first 4 bytes, for stream framing.
Credentials (:mod:`.credentials`)
    ``short_term_key(password)``, ``long_term_key(username, realm, password,
    algorithm=PasswordAlgorithm.MD5)`` (SASLprep'd password; SHA-256 per
    PASSWORD-ALGORITHM), ``userhash(username, realm)``, ``saslprep(text)``.
Attribute value codecs (:mod:`.attributes`)
    ``pack_/unpack_address``, ``pack_/unpack_xor_address(value, transaction_id)``,
    ``pack_/unpack_error_code``, ``ErrorCode``.
Errors (:mod:`.errors`)
    ``StunParseError`` (ParseError), ``StunUsageError`` (LocalProtocolError).

Transactions (:mod:`.transaction`, RFC 8489 §6.2/§6.3)
-----------------------------------------------------
``RetransmissionPolicy(rto=0.5, rc=7, rm=16, reliable=False, ti=39.5, rto_max=None)``
    UDP: sends at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s, timeout at 39.5 s; ``reliable``
    (TCP/TLS): one send, timeout after ``ti``. ICE passes its own RTO (RFC 8445 §14.3).
    ``UDP_POLICY`` and ``TCP_POLICY`` are the RFC defaults; ``schedule()`` lists the send
    offsets and the timeout.
``ClientTransaction(request, addr, *, key=None, fingerprint=True, integrity="sha1",
policy=...)``
    For cores that embed transactions (TURN, ICE): ``start(now) -> bytes`` (first
    datagram), ``deadline``, ``handle_timer(now) -> bytes | None`` (retransmission; state
    becomes TIMED_OUT at the end), ``handle_response(msg, now) -> TransactionState | None``
    (None = ignored: duplicate, not a response, or failed authentication), ``state``,
    ``response``, ``error()``, ``sends``, ``first_sent``, ``transaction_id``, ``data``.
``StunClient(*, rng=None, policy=..., max_pending=256)``
    A DatagramCore running many transactions from one socket: ``request(msg, addr, now,
    key=..., ...) -> transaction_id``, ``binding(addr, now, change_ip=, change_port=)``,
    ``cancel(tid)``; events ``TransactionSucceeded(transaction_id, response, addr, rtt)``
    (rtt None after a retransmission, Karn), ``TransactionFailed(transaction_id, response,
    addr, error)``, ``TransactionTimedOut(transaction_id)``; counters ``malformed``,
    ``stray``, ``unauthenticated``.

Server (:mod:`.server`, RFC 8489 §6.3, RFC 5780 §6.1)
-----------------------------------------------------
``StunServer(primary, *, other=None, software=None, credentials=None, long_term=None,
mapped_address=False)``
    Binding responder; a DatagramCore for ``primary``. With ``other=(IP2, P2)`` it serves
    RFC 5780 on four addresses: ``endpoints()`` gives one DatagramCore per address, and
    ``receive_datagram(data, addr, now, local=...)`` + ``transmits(now)`` make it a
    multi-socket core. ``credentials(username) -> key | None`` enables short-term auth.
    Answers 420 + UNKNOWN-ATTRIBUTES for unknown comprehension-required attributes.

Long-term credentials (:mod:`.longterm`, RFC 8489 §9.2)
-----------------------------------------------------
``LongTermAuth(username, password, *, policy=STUN_AUTH_RETRY)`` (client, the one used by
the STUN client and the TURN client): ``key`` and ``attributes()`` (USERNAME/REALM/NONCE/
PASSWORD-ALGORITHMS/PASSWORD-ALGORITHM once a challenge was seen), ``on_error(response, *,
signed, stale_retried=False) -> AuthRetry | None``; for one request at a time
``apply(msg) -> key | None``, ``handle_error(response) -> bool``, ``handle_success()``.
``AuthRetryPolicy``: how 401/438 are retried, ``STUN_AUTH_RETRY`` or ``TURN_AUTH_RETRY``.
``LongTermServerAuth(realm, users, *, password_algorithms=(SHA256,
MD5), nonce_lifetime=600, rng=None)`` (server, ``StunServer(long_term=...)``): stateless
``obMatJos2`` nonces bound to the client IP, USERHASH lookup, bid-down checks.

NAT behaviour discovery (:mod:`.nat`, RFC 5780 §4.3/§4.4)
--------------------------------------------------------
``NatBehaviorDiscovery(server, *, local=None, rng=None, policy=..., probe_policy=None)``
    A DatagramCore; ``start(now)``, then one ``NatReport`` event (also ``.report``) with
    ``mapped``, ``other_address``, ``mapping`` (``Mapping``), ``filtering``
    (``Filtering``), ``error``, ``verdict`` ("direct", "direct-mostly", "needs-turn",
    "unknown") and ``explain()``.

Example::

    >>> from pyrtcstack.stun import Message, Method, AttributeType as A, decode
    >>> req = Message(Method.BINDING, transaction_id=bytes(12))
    >>> req.add_text(A.USERNAME, "bob:alice").add_uint32(A.PRIORITY, 1845494271)
    <Message BINDING REQUEST tid=000000000000000000000000 [USERNAME(9), PRIORITY(4)]>
    >>> data = req.encode(b"pwd", fingerprint=True)
    >>> decode(data).verify_integrity(b"pwd")
    True
"""

from .attributes import (
    ErrorCode,
    pack_address,
    pack_error_code,
    pack_xor_address,
    unpack_address,
    unpack_error_code,
    unpack_xor_address,
)
from .constants import (
    MAGIC_COOKIE,
    MAX_ATTRIBUTES,
    AttributeType,
    MessageClass,
    Method,
    PasswordAlgorithm,
)
from .credentials import long_term_key, saslprep, short_term_key, userhash
from .describe import describe
from .errors import StunParseError, StunUsageError
from .longterm import (
    STUN_AUTH_RETRY,
    TURN_AUTH_RETRY,
    AuthRetry,
    AuthRetryPolicy,
    LongTermAuth,
    LongTermServerAuth,
)
from .message import (
    REASON_PHRASES,
    HmacKey,
    Message,
    decode,
    is_stun,
    message_size,
    new_transaction_id,
)
from .nat import Filtering, Mapping, NatBehaviorDiscovery, NatReport
from .server import StunServer
from .transaction import (
    TCP_POLICY,
    UDP_POLICY,
    ClientTransaction,
    RetransmissionPolicy,
    StunClient,
    TransactionFailed,
    TransactionState,
    TransactionSucceeded,
    TransactionTimedOut,
)

__all__ = [
    "MAGIC_COOKIE",
    "MAX_ATTRIBUTES",
    "REASON_PHRASES",
    "STUN_AUTH_RETRY",
    "TCP_POLICY",
    "TURN_AUTH_RETRY",
    "UDP_POLICY",
    "AttributeType",
    "AuthRetry",
    "AuthRetryPolicy",
    "ClientTransaction",
    "ErrorCode",
    "Filtering",
    "HmacKey",
    "LongTermAuth",
    "LongTermServerAuth",
    "Mapping",
    "Message",
    "MessageClass",
    "Method",
    "NatBehaviorDiscovery",
    "NatReport",
    "PasswordAlgorithm",
    "RetransmissionPolicy",
    "StunClient",
    "StunParseError",
    "StunServer",
    "StunUsageError",
    "TransactionFailed",
    "TransactionState",
    "TransactionSucceeded",
    "TransactionTimedOut",
    "decode",
    "describe",
    "is_stun",
    "long_term_key",
    "message_size",
    "new_transaction_id",
    "pack_address",
    "pack_error_code",
    "pack_xor_address",
    "saslprep",
    "short_term_key",
    "unpack_address",
    "unpack_error_code",
    "unpack_xor_address",
    "userhash",
]
