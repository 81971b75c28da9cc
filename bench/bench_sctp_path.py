"""SCTP over a constrained path on the virtual network: what Max.Burst does there.

Loopback forgives bursts; a real path has a bottleneck with a small queue. The path here
(``pyrtcstack.testing.vnet``): 20 Mbit/s each way, a drop-tail queue of 64 datagrams, 50 ms
round trip (25 ms each way), 0 % and 1 % random loss. One association sends ``--mib`` MiB
in 16 KiB messages to another (our receiver: a SACK every second packet, RFC 9260 §6.2);
the senders differ only in Max.Burst (RFC 9260 §6.1 D):

* ``Max.Burst 4``: RFC 9260 §16's value, our default since issue 15 (per SACK, also for
  SACKs read in a burst);
* ``Max.Burst 64``: what the peer connection used before (``Settings.sctp_max_burst``).

Two workloads: bulk (everything queued at once) and bursty (a 128 KiB message every 250 ms:
the sender idles between messages with the window it grew, which is what Max.Burst is
for). Printed per row (median of ``--seeds`` seeds, virtual time, so no noise from the
machine): goodput (application bytes / time to deliver them all), for bursty the message
latency (``send()`` to delivery, median and 95th percentile over all seeds), the datagrams
dropped at the bottleneck's queue and by random loss per 100 sent (both directions), and
the sender's retransmissions and T3-rtx expiries. Zero checksum is off (these packets are not
inside DTLS, RFC 9653 §5).

Run: ``.venv/bin/python bench/bench_sctp_path.py [--mib 8] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass

from pyrtcstack.sctp import Association, DatagramAdapter, MessageReceived, SctpConfig
from pyrtcstack.testing.vnet import Link, VirtualNetwork

RATE = 20e6
QUEUE = 64
ONE_WAY = 0.025
SIZE = 16384
BURSTY_SIZE = 131072
BURSTY_EVERY = 0.25
A = ("198.51.100.1", 5000)
B = ("198.51.100.2", 5000)


@dataclass
class Result:
    goodput: float  # bytes per second
    latency: list[float]  # per message: send() to delivery, seconds
    queue_drops: float  # per 100 datagrams sent
    random_losses: float
    retransmissions: int
    t3: int


def transfer(
    max_burst: int, loss: float, seed: int, total: int, bursty: bool, queue: int = QUEUE
) -> Result:
    """``total`` bytes from a to b. Bulk: all queued at once, 16 KiB messages. Bursty: a
    128 KiB message every 250 ms (4.2 Mbit/s offered, a fifth of the path), so the sender
    is idle between messages with the window it grew: what Max.Burst is for."""
    net = VirtualNetwork(
        seed=seed,
        internet=Link(delay=ONE_WAY, rate=RATE, queue=queue, loss=loss),
        record=False,
        max_steps=50_000_000,
    )
    net.add_host("a", A[0])
    net.add_host("b", B[0])
    cfg = SctpConfig(remote_max_message_size=0, max_burst=max_burst, zero_checksum=False)
    a = Association(cfg, rng=random.Random(seed))
    b = Association(SctpConfig(zero_checksum=False), rng=random.Random(seed + 1))
    node_a = net.attach(DatagramAdapter(a, B), A, name="a")
    node_b = net.attach(DatagramAdapter(b, A), B, name="b")
    a.connect(net.now)
    assert net.run(lambda: a.is_established and b.is_established, 30)
    arrived: list[float] = []
    net.on_event = lambda node, event: (
        arrived.append(net.now) if node is node_b and isinstance(event, MessageReceived) else None
    )
    size = BURSTY_SIZE if bursty else SIZE
    count = total // size
    start = net.now
    sent_at: list[float] = []
    for i in range(count):
        if bursty and i:
            net.run(timeout=start + i * BURSTY_EVERY - net.now)
        sent_at.append(net.now)
        a.send(1, bytes(size), 53, now=net.now)
        net.flush()
    assert net.run(lambda: len(arrived) >= count, 3600), "transfer did not finish"
    elapsed = net.now - start
    sent = node_a.sent + node_b.sent
    stats = a.get_stats()
    return Result(
        count * size / elapsed,
        [t - s for s, t in zip(sent_at, arrived, strict=True)],
        100 * net.stats["queue_drop"] / sent,
        100 * net.stats["lost"] / sent,
        int(stats["retransmissions"] or 0),
        int(stats["t3_expirations"] or 0),
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=8.0)
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (medians)")
    parser.add_argument("--queue", type=int, default=QUEUE, help="bottleneck queue, datagrams")
    args = parser.parse_args(argv)
    if args.mib <= 0 or args.seeds < 1 or args.queue < 1:
        parser.error("--mib, --seeds and --queue must be positive")
    total = int(args.mib * (1 << 20))
    if total < BURSTY_SIZE:
        parser.error(f"--mib must be at least {BURSTY_SIZE / (1 << 20)} (one bursty message)")
    print(
        f"SCTP on a {RATE / 1e6:.0f} Mbit/s path, drop-tail queue {args.queue}, RTT "
        f"{2 * ONE_WAY * 1000:.0f} ms, {args.mib} MiB in {SIZE} B messages,"
        f" median of {args.seeds} seeds (virtual time)"
    )
    for bursty in (False, True):
        if bursty:
            print(f"  bursty: a {BURSTY_SIZE // 1024} KiB message every {BURSTY_EVERY} s")
        else:
            print(f"  bulk: everything queued at once, {SIZE // 1024} KiB messages")
        for loss in (0.0, 0.01):
            for max_burst in (4, 64):
                runs = [
                    transfer(max_burst, loss, seed, total, bursty, args.queue)
                    for seed in range(args.seeds)
                ]
                goodput = statistics.median(r.goodput for r in runs)
                latency = sorted(x for r in runs for x in r.latency)
                p95 = latency[min(len(latency) - 1, int(0.95 * len(latency)))]
                line = (
                    f"    loss {loss * 100:1.0f} %  Max.Burst {max_burst:>2}:"
                    f" {goodput * 8 / 1e6:5.2f} Mbit/s"
                )
                if bursty:
                    line += (
                        f"  message latency median {statistics.median(latency) * 1000:4.0f} ms"
                        f" p95 {p95 * 1000:4.0f} ms"
                    )
                line += (
                    f"  drops: queue {statistics.median(r.queue_drops for r in runs):4.2f}"
                    f" random {statistics.median(r.random_losses for r in runs):4.2f} %"
                    f"  rtx {statistics.median(r.retransmissions for r in runs):4.0f}"
                    f"  T3 {statistics.median(r.t3 for r in runs):2.0f}"
                )
                print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
