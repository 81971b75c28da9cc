"""The floor of idle peer connections on asyncio: what the event loop alone costs.

``--pairs`` pairs of UDP sockets on one loop (loopback), each end with its own timer
firing every 4-6 s (RFC 7675's consent period), sending a 100-byte request that the other
end answers with 100 bytes; the handlers do nothing else. The process CPU share while
they run for ``--idle`` seconds, and the CPU per request/answer cycle, are what an
asyncio design pays before any protocol work: compare with ``bench_pc.py --sections
pairs`` (idle CPU of real peer connections) in the same session.

Run: ``unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/bench_asyncio_floor.py'``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import time

REQUEST, ANSWER = b"q" * 100, b"r" * 100


class _End:
    """One socket: a timer that sends a request, a reader that answers requests."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, sent: list[int]):
        self.loop = loop
        self.sock = sock
        self.sent = sent
        self.peer: tuple[str, int] = ("127.0.0.1", 0)
        loop.add_reader(sock.fileno(), self.readable)
        self.handle = loop.call_at(loop.time() + 4 + 2 * random.random(), self.fire)

    def fire(self) -> None:
        self.sock.sendto(REQUEST, self.peer)
        self.sent[0] += 1
        self.handle = self.loop.call_at(self.loop.time() + 4 + 2 * random.random(), self.fire)

    def readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            if data[:1] == b"q":
                self.sock.sendto(ANSWER, addr)

    def close(self) -> None:
        self.handle.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


async def main(pairs: int, idle: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sent = [0]
    ends: list[_End] = []
    for _ in range(pairs):
        a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        end_a, end_b = _End(loop, a, sent), _End(loop, b, sent)
        end_a.peer, end_b.peer = b.getsockname(), a.getsockname()
        ends += [end_a, end_b]
    await asyncio.sleep(6)  # every timer has fired once: the steady state
    c0, t0, w0 = sent[0], os.times(), time.perf_counter()
    await asyncio.sleep(idle)
    t1, wall, cycles = os.times(), time.perf_counter() - w0, sent[0] - c0
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    for end in ends:
        end.close()
    return {
        "pairs": pairs,
        "idle_cpu_percent": round(100 * cpu / wall, 2),
        "cpu_us_per_cycle": round(cpu / max(cycles, 1) * 1e6),
        "cycles": cycles,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds measured")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.pairs, args.idle))))
