"""Which handler takes which DTLS 1.2 handshake message in which state (RFC 6347 §4.2.4,
RFC 5246 §7.3): the dispatch table of :class:`~pyrtcstack.dtls.connection.DtlsConnection`.

A message that has no entry for the current state is an ``unexpected_message`` (RFC 5246
§7.2.2); the connection raises that. The handlers themselves live in :mod:`.client` and
:mod:`.server`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .client import ClientHandshake
from .constants import HandshakeType
from .handshake import State
from .server import ServerHandshake

__all__ = ["HANDLERS", "Handler", "type_name"]


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
