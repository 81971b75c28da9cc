"""atheris harness: hostile datagrams into a TURN client (allocated) and a TURN server.

Whatever arrives, the cores must drop and count it, never raise. Run:
``.venv/bin/python fuzz/fuzz_turn_cores.py -atheris_runs=100000``.
"""

from __future__ import annotations

import random
import sys

from pyrtcstack.stun import AttributeType, Message, MessageClass, Method, long_term_key
from pyrtcstack.turn.client import TurnClient
from pyrtcstack.turn.server import TurnServer

SERVER = ("10.0.0.1", 3478)
CLIENT = ("10.0.0.2", 5000)
PEER = ("10.0.0.3", 6000)


def _allocated_client() -> TurnClient:
    """A client driven to the allocated state by a real server, plus one channel."""
    server = TurnServer(SERVER, {"u": "p"}, "r", rng=random.Random(1), allow_private_peers=True)
    client = TurnClient(SERVER, "u", "p", rng=random.Random(2))
    client.allocate(0.0)
    for _ in range(4):
        for data, _dst in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        for data, _dst in server.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
    client.bind_channel(PEER, 0.0)
    client.create_permission(PEER, 0.0)
    for data, _dst in client.datagrams_to_send(0.0):
        server.receive_datagram(data, CLIENT, 0.0)
    for data, _dst in server.datagrams_to_send(0.0):
        client.receive_datagram(data, SERVER, 0.0)
    while client.next_event() is not None:
        pass
    return client


CLIENT_TEMPLATE = _allocated_client()


ATTRIBUTES = [
    AttributeType.XOR_RELAYED_ADDRESS,
    AttributeType.XOR_MAPPED_ADDRESS,
    AttributeType.LIFETIME,
    AttributeType.ERROR_CODE,
    AttributeType.REALM,
    AttributeType.NONCE,
    AttributeType.PASSWORD_ALGORITHMS,
    AttributeType.XOR_PEER_ADDRESS,
]


def _fuzzed_attributes(data: bytes) -> list[tuple[int, bytes]]:
    attrs: list[tuple[int, bytes]] = []
    pos = 1
    while pos + 2 <= len(data):
        size = data[pos + 1] % 24
        attrs.append((int(ATTRIBUTES[data[pos] % 8]), data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return attrs


def _answer_pending(client: TurnClient, data: bytes, key: bytes | None) -> None:
    """Answer the client's outstanding request with fuzzed attributes (right transaction
    id, and integrity under the client's key when it has one)."""
    for request, _dst in client.datagrams_to_send(1.0):
        if request[0] >= 4:
            continue
        tid = request[8:20]
        method = int.from_bytes(request[:2], "big") & 0x3EEF
        cls = MessageClass.ERROR if data and data[0] & 1 else MessageClass.SUCCESS
        msg = Message(method, cls, tid, _fuzzed_attributes(data))
        client.receive_datagram(msg.encode(key, fingerprint=bool(data[:1] < b"\x80")), SERVER, 1.0)
    client.handle_timer(100.0)
    client.datagrams_to_send(100.0)
    while client.next_event() is not None:
        pass


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    # Responses to real outstanding requests: the first Allocate, then a Refresh.
    fresh = TurnClient(SERVER, "u", "p", rng=random.Random(5))
    fresh.allocate(0.0)
    _answer_pending(fresh, data, None)
    allocated = _allocated_client()
    allocated.refresh(1.0)
    _answer_pending(allocated, data, long_term_key("u", "r", "p"))
    client = _allocated_client() if len(data) % 7 == 0 else CLIENT_TEMPLATE
    client.receive_datagram(data, SERVER, 1.0)
    client.datagrams_to_send(1.0)
    while client.next_event() is not None:
        pass
    server = TurnServer(SERVER, {"u": "p"}, "r", rng=random.Random(3))
    server.receive_datagram(data, CLIENT, 1.0)
    server.receive_relayed(data, PEER, ("10.0.0.1", 49152), 1.0)
    # Also as the body of a well-formed request, so attribute handling gets exercised.
    if len(data) >= 2:
        method = [Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND]
        msg = Message(method[data[0] % 4], MessageClass.REQUEST, bytes(12))
        if data[0] & 0x80:  # authenticated, so the method handlers see the attributes
            msg.add_text(AttributeType.USERNAME, "u").add_text(AttributeType.REALM, "r")
            msg.add(AttributeType.NONCE, server._nonce(1.0, CLIENT))
        pos = 1
        while pos + 3 <= len(data):
            attr = [
                AttributeType.REQUESTED_TRANSPORT,
                AttributeType.LIFETIME,
                AttributeType.XOR_PEER_ADDRESS,
                AttributeType.CHANNEL_NUMBER,
                AttributeType.EVEN_PORT,
                AttributeType.REQUESTED_ADDRESS_FAMILY,
                AttributeType.USERNAME,
                AttributeType.DATA,
            ][data[pos] % 8]
            size = data[pos + 1] % 24
            msg.add(attr, data[pos + 2 : pos + 2 + size])
            pos += 2 + size
        key = long_term_key("u", "r", "p")
        server.receive_datagram(msg.encode(key, fingerprint=True), CLIENT, 1.0)
        if data[0] & 0x40:  # and once more, after an Allocate, on the same 5-tuple
            alloc = Message(Method.ALLOCATE, MessageClass.REQUEST, bytes(range(12)))
            alloc.add_requested_transport(17).add_text(AttributeType.USERNAME, "u")
            alloc.add_text(AttributeType.REALM, "r").add(
                AttributeType.NONCE, server._nonce(1.0, CLIENT)
            )
            server.receive_datagram(alloc.encode(key), CLIENT, 1.0)
            server.receive_datagram(msg.encode(key, fingerprint=True), CLIENT, 1.0)
            server.receive_relayed(data, PEER, server.allocations.get(CLIENT, PEER), 1.0)
    server.datagrams_to_send(1.0)
    server.relayed_datagrams_to_send()
    server.handle_timer(2000.0)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
