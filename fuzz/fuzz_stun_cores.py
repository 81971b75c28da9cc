"""atheris harness: hostile datagrams into the STUN cores (server, RFC 5780 server
endpoints, long-term authenticating server, client with a pending transaction, NAT
classifier) and, as error responses, into the long-term client under both retry policies.

Whatever arrives, the cores must drop and count it or answer it, never raise. Run:
``.venv/bin/python fuzz/fuzz_stun_cores.py -atheris_runs=200000``.
"""

from __future__ import annotations

import random
import sys

from pyrtcstack.stun import (
    STUN_AUTH_RETRY,
    TURN_AUTH_RETRY,
    LongTermAuth,
    LongTermServerAuth,
    Message,
    Method,
    NatBehaviorDiscovery,
    StunClient,
    StunParseError,
    StunServer,
    decode,
)

SERVER = ("198.51.100.1", 3478)
OTHER = ("198.51.100.2", 3479)
PEER = ("203.0.113.9", 40000)
LONG_TERM = LongTermServerAuth("realm", {"u": "p"}, rng=random.Random(3))


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    users = {"u": b"k"}
    for server in (
        StunServer(SERVER, software="fuzz"),
        StunServer(SERVER, other=OTHER, credentials=users.get),
        StunServer(SERVER, long_term=LONG_TERM),
    ):
        for local in server.endpoints():
            server.receive_datagram(data, PEER, 0.0, local=local)
        for out, _local, _dst in server.transmits(0.0):
            decode(out)  # whatever the server sends must be valid STUN
    client = StunClient(rng=random.Random(1))
    tid = client.binding(SERVER, 0.0)
    client.datagrams_to_send(0.0)
    # splice the pending transaction id in so the input reaches response handling
    spliced = data[:8] + tid + data[20:] if len(data) >= 20 else data
    for datagram in (data, spliced):
        client.receive_datagram(datagram, SERVER, 0.1)
        while client.next_event() is not None:
            pass
    disco = NatBehaviorDiscovery(SERVER, rng=random.Random(2))
    disco.start(0.0)
    [(req, _)] = disco.datagrams_to_send(0.0)
    spliced = data[:8] + req[8:20] + data[20:] if len(data) >= 20 else data
    disco.receive_datagram(spliced, SERVER, 0.1)
    disco.datagrams_to_send(0.1)
    while disco.next_event() is not None:
        pass
    try:
        response = decode(data)
    except StunParseError:
        return
    for policy in (STUN_AUTH_RETRY, TURN_AUTH_RETRY):
        auth = LongTermAuth("u", "p", policy=policy)
        for signed in (False, True, True):
            # whatever it learns must make a request that encodes
            if auth.on_error(response, signed=signed) is not None:
                Message(Method.BINDING, attributes=auth.attributes()).encode(auth.key)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
