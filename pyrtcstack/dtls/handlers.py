"""The base of the handshake's role objects and how they find the handler of a message.

Each engine owns one role object (:mod:`.handshake` for DTLS 1.2, :mod:`.handshake13` for
DTLS 1.3): a client or a server handshake. A role's handlers are its methods marked with
:func:`handles` — the state it must be in and the handshake type it takes (RFC 6347 §4.2.4,
RFC 5246 §7.3; RFC 8446 §A.1, §A.2 as RFC 9147 §5 adapts them) — so each handler's trigger
stands beside it; :class:`HandshakeRole` collects them into its class's ``HANDLERS`` table.
A message that has no entry for the current state is an ``unexpected_message`` (RFC 5246
§7.2.2, RFC 8446 §6.2).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .constants import AlertDescription, HandshakeType
from .errors import DtlsHandshakeError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

    from .engine import DtlsContext
    from .messages import ClientHello
    from .srtp import SrtpProfile

__all__ = ["ENCRYPTED_EXTENSIONS", "Handler", "HandshakeRole", "handles", "type_name"]

#: EncryptedExtensions (RFC 8446 §4.3.1), a handshake type DTLS 1.2 does not have.
ENCRYPTED_EXTENSIONS = 8

#: A handler: the role object, the message's message_seq, its body, the time.
Handler = Callable[[Any, int, bytes, float], None]

_S = TypeVar("_S", bound=Enum)
_H = TypeVar("_H")
_F = TypeVar("_F", bound=Handler)


def handles(state: Enum, msg_type: int) -> Callable[[_F], _F]:
    """Mark a role's method as the handler of ``msg_type`` when the role is in ``state``
    (a method may take several)."""

    def mark(method: _F) -> _F:
        keys: list[tuple[Enum, int]] = getattr(method, "_handles", [])
        method._handles = [*keys, (state, msg_type)]  # type: ignore[attr-defined]
        return method

    return mark


class HandshakeRole(Generic[_S, _H]):
    """One role of a handshake, owned by its engine: the configuration (``ctx``), the
    engine's narrow interface (``host``: :class:`~.handshake.Host12` or
    :class:`~.handshake13.Host13`), the state, and the dispatch of the peer's messages to
    the methods marked with :func:`handles`."""

    __slots__ = (
        "_client_hello",
        "_client_random",
        "_peer_certificate",
        "_peer_flight_start",
        "_peer_key",
        "_transcript",
        "ctx",
        "host",
        "srtp_profile",
        "state",
    )

    #: True for the client role (RFC 5763 §5: ``a=setup:active``).
    is_client: ClassVar[bool] = False
    #: (state, handshake type) -> handler, collected from the class and its bases.
    HANDLERS: ClassVar[dict[tuple[Any, int], Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a handler both roles share (in the base) names a state of each: each role's
        # table takes its own (the states are named CLIENT_... and SERVER_...)
        prefix = "CLIENT_" if cls.is_client else "SERVER_"
        table: dict[tuple[Any, int], Handler] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for key in getattr(attr, "_handles", ()):
                    if key[0].name.startswith(prefix):
                        table[key] = attr
        cls.HANDLERS = table

    def __init__(self, ctx: DtlsContext, host: _H, state: _S) -> None:
        self.ctx = ctx
        # a weak proxy: the engine owns its role object, and a strong reference back would
        # make every connection a reference cycle that only the cyclic GC frees (measured:
        # 17 instead of 3 gen-0 collections per 100 DTLS 1.3 handshakes, +5-8 % CPU)
        self.host: _H = weakref.proxy(host)
        self.state = state
        #: the DTLS-SRTP profile the hellos chose (RFC 5764 §4.1.1), if any
        self.srtp_profile: SrtpProfile | None = None
        # what both versions' handshakes hold: the transcript of the messages so far, our
        # (or the peer's) ClientHello and its random, the peer's parsed certificate, and
        # the first message_seq of the peer's latest flight
        self._transcript = bytearray()
        self._client_hello: ClientHello | None = None
        self._client_random = b""
        self._peer_certificate: x509.Certificate | None = None
        self._peer_key: CertificatePublicKeyTypes | None = None  # the certificate's key
        self._peer_flight_start = 0

    def handle(self, msg_type: int, seq: int, body: bytes, now: float) -> None:
        """A complete peer message: the handler this role has for it in the current state,
        else ``unexpected_message`` (RFC 5246 §7.2.2, RFC 8446 §6.2)."""
        handler = self.HANDLERS.get((self.state, msg_type))
        if handler is None:
            raise DtlsHandshakeError(
                f"unexpected {type_name(msg_type)} in state {self.state.value}",
                AlertDescription.UNEXPECTED_MESSAGE,
            )
        handler(self, seq, body, now)


def type_name(msg_type: int) -> str:
    try:
        return HandshakeType(msg_type).name
    except ValueError:
        return f"handshake type {msg_type}"
