"""SCTP / data channel throughput in memory (no crypto), ours beside aiortc's, same run.

Ours: two :class:`~pyrtcstack.sctp.Association` objects (and, separately, two
:class:`~pyrtcstack.datachannel.DataChannelManager`) wired back to back in one loop on a
virtual clock. aiortc: two ``RTCSctpTransport`` joined by an in-process pipe that plays
their DTLS transport (as aiortc's tests do, minus the DTLS), each carrying an
``RTCDataChannel``. Both move the same messages; the sender keeps at most 1 MiB
unacknowledged (``buffered_amount``) so memory stays bounded.

With crypto: our DataChannelManager over our DtlsConnection (AES-GCM records, in memory),
beside aiortc's RTCSctpTransport over its RTCDtlsTransport on queues (aiortc's own test
setup, ``dummy_dtls_transport_pair``).

Our associations use Max.Burst 4, as the peer connection does (``Settings.sctp_max_burst``).

Run: ``.venv/bin/python bench/bench_sctp.py [--repeat N] [--mib M] [--cpu]``. The machine
is shared and its speed drifts: compare the two stacks only within one run; the script
prints the median of the repeats. ``--cpu`` divides by the thread's CPU time instead of
the wall time (every row runs in this one thread), which other jobs on the machine
disturb much less.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from pyrtcstack.datachannel import ChannelMessage, DataChannelManager
from pyrtcstack.sctp import Association, MessageReceived, SctpConfig

HIGH_WATER = 1 << 20
#: Max.Burst as the peer connection sets it (Settings.sctp_max_burst, docs/peerconnection.md).
MAX_BURST = 4
#: What the rows time with: wall clock, or this thread's CPU time (``--cpu``).
_clock = time.perf_counter


def _pump(a: Any, b: Any, now: float) -> int:
    moved = 0
    for p in a.packets_to_send(now):
        b.receive_packet(p, now)
        moved += 1
    for p in b.packets_to_send(now):
        a.receive_packet(p, now)
        moved += 1
    return moved


def _advance(a: Any, b: Any, now: float) -> float:
    timers = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
    now = max(now + 0.001, min(timers)) if timers else now + 0.001
    a.handle_timer(now)
    b.handle_timer(now)
    return now


def ours_association(size: int, total: int) -> float:
    cfg = SctpConfig(remote_max_message_size=0, max_burst=MAX_BURST)
    a = Association(cfg, rng=random.Random(1))
    b = Association(SctpConfig(max_burst=MAX_BURST), rng=random.Random(2))
    now = 0.0
    a.connect(now)
    while not (a.is_established and b.is_established):
        if not _pump(a, b, now):
            now = _advance(a, b, now)
    while a.next_event() is not None or b.next_event() is not None:
        pass
    count = total // size
    msg = bytes(size)
    sent = got = 0
    t0 = _clock()
    while got < count:
        while sent < count and a.buffered_amount(1) < HIGH_WATER:
            a.send(1, msg, 53)
            sent += 1
        if _pump(a, b, now):
            now += 0.0001
        else:
            now = _advance(a, b, now)
        event = b.next_event()
        while event is not None:
            if type(event) is MessageReceived:
                got += 1
            event = b.next_event()
        while a.next_event() is not None:
            pass
    return count * size / (_clock() - t0)


def ours_datachannel(size: int, total: int) -> float:
    a = DataChannelManager(
        SctpConfig(remote_max_message_size=0, max_burst=MAX_BURST), dtls_role="client"
    )
    b = DataChannelManager(SctpConfig(max_burst=MAX_BURST), dtls_role="server")
    channel = a.create_data_channel("bench")
    now = 0.0
    a.connect(now)
    b.connect(now)
    while channel.ready_state != "open" or not b.channels:
        if not _pump(a, b, now):
            now = _advance(a, b, now)
        while a.next_event() is not None or b.next_event() is not None:
            pass
    count = total // size
    msg = bytes(size)
    sent = got = 0
    t0 = _clock()
    while got < count:
        while sent < count and channel.buffered_amount < HIGH_WATER:
            channel.send(msg)
            sent += 1
        if _pump(a, b, now):
            now += 0.0001
        else:
            now = _advance(a, b, now)
        event = b.next_event()
        while event is not None:
            if type(event) is ChannelMessage:
                got += 1
            event = b.next_event()
        while a.next_event() is not None:
            pass
    return count * size / (_clock() - t0)


class _Pipe:
    """The slice of RTCDtlsTransport that RTCSctpTransport uses, joined to a peer."""

    def __init__(self, role: str) -> None:
        self._role = role
        self.state = "connected"
        self._data_receiver: Any = None
        self.peer: _Pipe | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def _register_data_receiver(self, receiver: Any) -> None:
        self._data_receiver = receiver

    def _unregister_data_receiver(self, receiver: Any) -> None:
        self._data_receiver = None

    async def _send_data(self, data: bytes) -> None:
        assert self.peer is not None
        self.peer.queue.put_nowait(data)

    async def run(self) -> None:
        while True:
            data = await self.queue.get()
            if self._data_receiver is not None:
                await self._data_receiver._handle_data(data)


async def _aiortc_transfer(a: Any, b: Any, size: int, total: int) -> float:
    """Bytes per second of ``total`` bytes in ``size``-byte messages from aiortc SCTP
    transport ``a`` to ``b`` (both started), with the browser-like buffered-amount window."""
    from aiortc import RTCDataChannel, RTCDataChannelParameters

    count = total // size
    done = asyncio.Event()
    got = 0

    def on_channel(channel: Any) -> None:
        @channel.on("message")
        def on_message(_: Any) -> None:
            nonlocal got
            got += 1
            if got == count:
                done.set()

    b.on("datachannel", on_channel)
    channel = RTCDataChannel(a, RTCDataChannelParameters(label="bench"))
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await asyncio.wait_for(opened.wait(), 10)
    low = asyncio.Event()
    channel.bufferedAmountLowThreshold = HIGH_WATER // 2
    channel.on("bufferedamountlow", low.set)
    msg = bytes(size)
    t0 = _clock()
    for _ in range(count):
        if channel.bufferedAmount > HIGH_WATER:
            low.clear()
            await low.wait()
        channel.send(msg)
    await asyncio.wait_for(done.wait(), 300)
    elapsed = _clock() - t0
    return count * size / elapsed


async def _aiortc(size: int, total: int) -> float:
    from aiortc.rtcsctptransport import RTCSctpTransport

    pa, pb = _Pipe("client"), _Pipe("server")
    pa.peer, pb.peer = pb, pa
    tasks = [asyncio.create_task(pa.run()), asyncio.create_task(pb.run())]
    a = RTCSctpTransport(pa)  # type: ignore[arg-type]
    b = RTCSctpTransport(pb)  # type: ignore[arg-type]
    await asyncio.gather(a.start(b.getCapabilities(), 5000), b.start(a.getCapabilities(), 5000))
    rate = await _aiortc_transfer(a, b, size, total)
    await a.stop()
    await b.stop()
    for t in tasks:
        t.cancel()
    return rate


def aiortc_datachannel(size: int, total: int) -> float:
    return asyncio.run(_aiortc(size, total))


# -- with DTLS (AES-GCM records), in memory ------------------------------------------------


class _OursOverDtls:
    """Our DTLS connection + data channel manager, as the peer connection composes them."""

    def __init__(self, role: str, seed: int) -> None:
        from pyrtcstack.dtls import DtlsConnection, DtlsRole

        self.dtls = DtlsConnection(
            DtlsRole.CLIENT if role == "client" else DtlsRole.SERVER,
            verify_fingerprint=False,
            remote_address=("peer", 1),
            rng=random.Random(seed),
        )
        self.dcm = DataChannelManager(
            SctpConfig(remote_max_message_size=0, max_burst=MAX_BURST),
            dtls_role=role,
            rng=random.Random(seed),
        )
        self.up = False

    def receive(self, datagram: bytes, now: float) -> None:
        from pyrtcstack.dtls.events import HandshakeCompleted

        self.dtls.receive_datagram(datagram, ("peer", 1), now)
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.up = True
                self.dcm.connect(now)
        if self.up:
            self.dcm.receive_packets(self.dtls.take_application_data(), now)

    def transmit(self, now: float) -> list[bytes]:
        if self.up:
            for packet in self.dcm.packets_to_send(now):
                self.dtls.send(packet)
        return [d for d, _ in self.dtls.datagrams_to_send(now)]

    def timer(self) -> float | None:
        timers = [self.dtls.get_timer(), self.dcm.get_timer() if self.up else None]
        due = [t for t in timers if t is not None]
        return min(due) if due else None

    def fire(self, now: float) -> None:
        self.dtls.handle_timer(now)
        if self.up:
            self.dcm.handle_timer(now)


def ours_over_dtls(size: int, total: int) -> float:
    a, b = _OursOverDtls("client", 1), _OursOverDtls("server", 2)
    channel = a.dcm.create_data_channel("bench")
    now = 0.0
    b.dtls.start(now)
    a.dtls.start(now)

    def pump() -> int:
        moved = 0
        for d in a.transmit(now):
            b.receive(d, now)
            moved += 1
        for d in b.transmit(now):
            a.receive(d, now)
            moved += 1
        return moved

    def advance() -> float:
        timers = [t for t in (a.timer(), b.timer()) if t is not None]
        t = max(now + 0.001, min(timers)) if timers else now + 0.001
        a.fire(t)
        b.fire(t)
        return t

    while channel.ready_state != "open" or not b.dcm.channels:
        if not pump():
            now = advance()
        while a.dcm.next_event() is not None or b.dcm.next_event() is not None:
            pass
    count = total // size
    msg = bytes(size)
    sent = got = 0
    t0 = _clock()
    while got < count:
        while sent < count and channel.buffered_amount < HIGH_WATER:
            channel.send(msg)
            sent += 1
        if pump():
            now += 0.0001
        else:
            now = advance()
        event = b.dcm.next_event()
        while event is not None:
            if type(event) is ChannelMessage:
                got += 1
            event = b.dcm.next_event()
        while a.dcm.next_event() is not None:
            pass
    return count * size / (_clock() - t0)


class _QueueIce:
    """aiortc's tests' DummyIceTransport: asyncio queues instead of ICE."""

    def __init__(self, role: str, rx: asyncio.Queue[bytes], tx: asyncio.Queue[bytes]) -> None:
        self.role = role
        self.rx, self.tx = rx, tx

    async def _recv(self) -> bytes:
        return await self.rx.get()

    async def _send(self, data: bytes) -> None:
        await self.tx.put(data)

    async def stop(self) -> None:
        pass


async def _aiortc_dtls(size: int, total: int) -> float:
    from aiortc import RTCCertificate
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcsctptransport import RTCSctpTransport

    qa: asyncio.Queue[bytes] = asyncio.Queue()
    qb: asyncio.Queue[bytes] = asyncio.Queue()
    da = RTCDtlsTransport(_QueueIce("controlling", qa, qb), [RTCCertificate.generateCertificate()])  # type: ignore[arg-type]
    db = RTCDtlsTransport(_QueueIce("controlled", qb, qa), [RTCCertificate.generateCertificate()])  # type: ignore[arg-type]
    await asyncio.gather(db.start(da.getLocalParameters()), da.start(db.getLocalParameters()))
    a, b = RTCSctpTransport(da), RTCSctpTransport(db)
    await asyncio.gather(a.start(b.getCapabilities(), 5000), b.start(a.getCapabilities(), 5000))
    rate = await _aiortc_transfer(a, b, size, total)
    await a.stop()
    await b.stop()
    await da.stop()
    await db.stop()
    return rate


def aiortc_over_dtls(size: int, total: int) -> float:
    return asyncio.run(_aiortc_dtls(size, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mib", type=int, default=32, help="MiB moved by our stack")
    parser.add_argument("--aiortc-mib", type=int, default=4, help="MiB moved by aiortc")
    parser.add_argument("--cpu", action="store_true", help="rate per CPU second of this thread")
    args = parser.parse_args()
    if args.repeat < 1 or args.mib < 1 or args.aiortc_mib < 1:
        parser.error("--repeat, --mib and --aiortc-mib must be positive")
    if args.cpu:
        global _clock
        _clock = time.thread_time
    try:
        import aiortc  # noqa: F401

        have_aiortc = True
    except ImportError:
        have_aiortc = False
        print("aiortc not installed: baseline skipped")
    rows = (
        ("assoc", "pyrtcstack Association pair (no crypto)", ours_association, False),
        ("dc", "pyrtcstack DataChannelManager pair (no crypto)", ours_datachannel, False),
        ("aiortc", "aiortc SCTP + RTCDataChannel (no crypto)", aiortc_datachannel, True),
        ("dtls", "pyrtcstack data channel over our DTLS", ours_over_dtls, False),
        ("aiortc_dtls", "aiortc data channel over its DTLS", aiortc_over_dtls, True),
    )
    for size in (16384, 1200):
        results: dict[str, list[float]] = {key: [] for key, *_ in rows}
        for _ in range(args.repeat):
            for key, _label, func, is_baseline in rows:
                if is_baseline and not have_aiortc:
                    continue
                mib = args.aiortc_mib if is_baseline else args.mib
                results[key].append(func(size, mib << 20))
        med = {k: statistics.median(v) for k, v in results.items() if v}
        what = "per CPU second" if args.cpu else "wall clock"
        print(
            f"\n{size}-byte messages, median of {args.repeat} runs (in memory, one process, {what})"
        )
        for key, label, _func, _base in rows:
            if key not in med:
                continue
            rate = med[key]
            base = med.get("aiortc_dtls" if "dtls" in key else "aiortc")
            ratio = f"  x{rate / base:.1f} vs aiortc" if base else ""
            print(f"  {label:48s} {rate / 1e6:8.1f} MB/s {rate / size:9.0f} msg/s{ratio}")


if __name__ == "__main__":
    main()
