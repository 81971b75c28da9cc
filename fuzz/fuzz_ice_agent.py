"""atheris harness: hostile input into a running ICE agent.

The first byte picks what the rest becomes:

0. a raw datagram (any bytes) from a remote address;
1. a Binding request carrying the fuzzed attributes, with a *valid* MESSAGE-INTEGRITY and
   FINGERPRINT for the agent's credentials (so the fuzz reaches the check handling);
2. a response (success or error, fuzzed attributes, valid integrity) to one of the agent's
   outstanding checks, from the right address;
3. a remote candidate line (text) handed to ``add_remote_candidate``.

Invariant: the agent never raises, except ``PyrtcstackError`` subclasses from the API call
of mode 3 (a malformed candidate); timers keep working afterwards. Run:
``.venv/bin/python fuzz/fuzz_ice_agent.py -atheris_runs=200000``.
"""

from __future__ import annotations

import contextlib
import random
import sys

from pyrtcstack.common.errors import PyrtcstackError
from pyrtcstack.ice import IceAgent, IceConfig
from pyrtcstack.stun import Message, MessageClass, Method, short_term_key

LOCAL = ("192.0.2.1", 5000)
REMOTE = ("192.0.2.2", 6000)
REMOTE_PWD = "remotepasswordremotepw"


def _agent(controlling: bool) -> IceAgent:
    agent = IceAgent(IceConfig(controlling=controlling), rng=random.Random(7))
    agent.gather([LOCAL], 0.0)
    agent.set_remote_credentials("rmt1", REMOTE_PWD, 0.0)
    agent.add_remote_candidate("candidate:1 1 udp 2130706431 192.0.2.2 6000 typ host", 0.0)
    agent.handle_timer(0.0)
    return agent


def _attributes(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    i = 0
    while i + 3 <= len(data) and len(out) < 32:
        attr = (data[i] << 8) | data[i + 1]
        size = data[i + 2]
        value = data[i + 3 : i + 3 + size]
        i += 3 + size
        if attr in (0x0008, 0x001C, 0x8028):  # computed by encode()
            continue
        out.append((attr, value))
    return out


def _drain(agent: IceAgent, now: float) -> None:
    agent.transmits(now)
    while agent.next_event() is not None:
        pass


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    agent = _agent(controlling=bool(data[0] & 0x80))
    _drain(agent, 0.0)
    now = 0.01
    if mode == 0:
        agent.receive_datagram(rest, REMOTE, now, local=LOCAL)
    elif mode == 1:
        msg = Message(Method.BINDING, MessageClass.REQUEST, bytes(12), _attributes(rest))
        wire = msg.encode(short_term_key(agent.local_pwd), fingerprint=True)
        agent.receive_datagram(wire, REMOTE, now, local=LOCAL)
    elif mode == 2:
        for tid in [tx.transaction_id for tx in agent.transactions]:
            cls = MessageClass.ERROR if rest[:1] == b"\x01" else MessageClass.SUCCESS
            msg = Message(Method.BINDING, cls, tid, _attributes(rest[1:]))
            wire = msg.encode(short_term_key(REMOTE_PWD), fingerprint=True)
            agent.receive_datagram(wire, REMOTE, now, local=LOCAL)
    else:
        text = rest.decode("utf-8", errors="replace")
        with contextlib.suppress(PyrtcstackError):
            agent.add_remote_candidate(text, now)
    _drain(agent, now)
    for t in (0.1, 1.0, 10.0, 45.0):
        deadline = agent.get_timer()
        if deadline is not None and deadline <= t:
            agent.handle_timer(t)
        _drain(agent, t)
    agent.send(b"\x17data", 50.0)
    agent.restart(50.0)
    _drain(agent, 50.0)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
