"""Which handler takes which handshake message in which state: the dispatch tables of both
engines, :data:`HANDLERS` for DTLS 1.2 (RFC 6347 §4.2.4, RFC 5246 §7.3) and
:data:`HANDLERS13` for DTLS 1.3 (RFC 8446 §A.1, §A.2; RFC 9147 §5).

A message that has no entry for the current state is an ``unexpected_message`` (RFC 5246
§7.2.2, RFC 8446 §6.2); the engine raises that. The handlers themselves live in
:mod:`.client` and :mod:`.server` (1.2), :mod:`.client13`, :mod:`.server13` and
:mod:`.handshake13` (1.3); the 1.3 messages after the handshake go to
:meth:`~.handshake13.Handshake13._post_handshake`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .client import ClientHandshake
from .client13 import ClientHandshake13
from .constants import AlertDescription, HandshakeType
from .errors import DtlsHandshakeError
from .handshake import State
from .handshake13 import Handshake13, State13
from .server import ServerHandshake
from .server13 import ServerHandshake13

__all__ = ["HANDLERS", "HANDLERS13", "Handler", "dispatch", "type_name"]

#: EncryptedExtensions (RFC 8446 §4.3.1), a handshake type DTLS 1.2 does not have.
ENCRYPTED_EXTENSIONS = 8


def dispatch(
    table: dict[tuple[Any, int], Handler],
    engine: object,
    state: State | State13,
    message: tuple[int, int, bytes],
    now: float,
) -> None:
    """Call the handler ``table`` has for ``message`` (type, message_seq, body) in
    ``state``, else raise ``unexpected_message`` (RFC 5246 §7.2.2, RFC 8446 §6.2)."""
    msg_type, seq, body = message
    handler = table.get((state, msg_type))
    if handler is None:
        raise DtlsHandshakeError(
            f"unexpected {type_name(msg_type)} in state {state.value}",
            AlertDescription.UNEXPECTED_MESSAGE,
        )
    handler(engine, seq, body, now)


def type_name(msg_type: int) -> str:
    try:
        return HandshakeType(msg_type).name
    except ValueError:
        return f"handshake type {msg_type}"


Handler = Callable[[Any, int, bytes, float], None]

HANDLERS: dict[tuple[State, int], Handler] = {
    (State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.HELLO_VERIFY_REQUEST): (
        ClientHandshake._client_hello_verify
    ),
    (State.CLIENT_EXPECT_SERVER_HELLO, HandshakeType.SERVER_HELLO): (
        ClientHandshake._client_server_hello
    ),
    (State.CLIENT_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        ClientHandshake._client_certificate
    ),
    (State.CLIENT_EXPECT_SERVER_KEY_EXCHANGE, HandshakeType.SERVER_KEY_EXCHANGE): (
        ClientHandshake._client_server_key_exchange
    ),
    (State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.CERTIFICATE_REQUEST): (
        ClientHandshake._client_certificate_request
    ),
    (State.CLIENT_EXPECT_SERVER_HELLO_DONE, HandshakeType.SERVER_HELLO_DONE): (
        ClientHandshake._client_server_hello_done
    ),
    (State.CLIENT_EXPECT_FINISHED, HandshakeType.FINISHED): ClientHandshake._client_finished,
    (State.SERVER_EXPECT_CLIENT_HELLO, HandshakeType.CLIENT_HELLO): (
        ServerHandshake._server_client_hello
    ),
    (State.SERVER_EXPECT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        ServerHandshake._server_certificate
    ),
    (State.SERVER_EXPECT_CLIENT_KEY_EXCHANGE, HandshakeType.CLIENT_KEY_EXCHANGE): (
        ServerHandshake._server_client_key_exchange
    ),
    (State.SERVER_EXPECT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
        ServerHandshake._server_certificate_verify
    ),
    (State.SERVER_EXPECT_FINISHED, HandshakeType.FINISHED): ServerHandshake._server_finished,
}

HANDLERS13: dict[tuple[State13, int], Handler] = {
    (State13.SERVER_WAIT_CLIENT_HELLO, HandshakeType.CLIENT_HELLO): (
        ServerHandshake13._server_second_hello
    ),
    (State13.SERVER_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        ServerHandshake13._server_certificate
    ),
    (State13.SERVER_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
        Handshake13._peer_certificate_verify
    ),
    (State13.SERVER_WAIT_FINISHED, HandshakeType.FINISHED): ServerHandshake13._server_finished,
    (State13.CLIENT_WAIT_SERVER_HELLO, HandshakeType.SERVER_HELLO): (
        ClientHandshake13._client_server_hello
    ),
    (State13.CLIENT_WAIT_ENCRYPTED_EXTENSIONS, ENCRYPTED_EXTENSIONS): (
        ClientHandshake13._client_encrypted_extensions
    ),
    (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE_REQUEST): (
        ClientHandshake13._client_certificate_request
    ),
    # RFC 8446 §4.3.2: the CertificateRequest is optional (we always send one)
    (State13.CLIENT_WAIT_CERTIFICATE_REQUEST, HandshakeType.CERTIFICATE): (
        Handshake13._peer_certificate_message
    ),
    (State13.CLIENT_WAIT_CERTIFICATE, HandshakeType.CERTIFICATE): (
        Handshake13._peer_certificate_message
    ),
    (State13.CLIENT_WAIT_CERTIFICATE_VERIFY, HandshakeType.CERTIFICATE_VERIFY): (
        Handshake13._peer_certificate_verify
    ),
    (State13.CLIENT_WAIT_FINISHED, HandshakeType.FINISHED): ClientHandshake13._client_finished,
}
