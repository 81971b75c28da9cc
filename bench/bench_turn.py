"""TURN data paths, ours beside aioice's TURN client, same run, no sockets.

Measured (operations per second, median of the repeats):

* ``channeldata-in``: a 1,200-byte ChannelData datagram from the server handed to the
  client, down to "data from peer X" (ours: ``TurnClient.receive_datagram`` + ``next_event``,
  or with the ``on_data`` callback; aioice: ``TurnClientUdpProtocol.datagram_received``
  into a receiver).
* ``data-indication-in``: the same payload as a Data indication (STUN decode, XOR-PEER-ADDRESS).
* ``send-indication-out``: building a Send indication for a 1,200-byte payload (ours: the
  client's ``send`` on a permitted peer; aioice: ``stun.Message`` + ``bytes()``, what its
  ``send_stun`` does).
* ``stream-framing``: cutting a TCP stream of 1,000 padded ChannelData frames, fed in
  1,400-byte chunks (ours: ``StreamFramer.feed``; aioice: ``TurnStreamMixin.data_received``).

Run: ``.venv/bin/python bench/bench_turn.py [--repeat N]``. The machine is shared and its
speed drifts: only compare the two within one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from aioice import stun as aioice_stun
from aioice import turn as aioice_turn

from pyrtcstack.stun import AttributeType, Message, MessageClass, Method
from pyrtcstack.turn import TurnClient, TurnServer
from pyrtcstack.turn.channeldata import encode_channel_data
from pyrtcstack.turn.framing import StreamFramer

SERVER = ("10.0.0.1", 3478)
CLIENT = ("10.0.0.2", 5000)
PEER = ("10.0.0.3", 6000)
PAYLOAD = bytes(range(256)) * 4 + bytes(176)  # 1,200 bytes


def allocated_client() -> TurnClient:
    server = TurnServer(SERVER, {"u": "p"}, "r", rng=random.Random(1), allow_private_peers=True)
    client = TurnClient(SERVER, "u", "p", rng=random.Random(2))
    client.allocate(0.0)
    for _ in range(6):
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        for data, _ in server.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
    client.bind_channel(PEER, 0.0)
    for _ in range(3):
        for data, _ in client.datagrams_to_send(0.0):
            server.receive_datagram(data, CLIENT, 0.0)
        for data, _ in server.datagrams_to_send(0.0):
            client.receive_datagram(data, SERVER, 0.0)
    while client.next_event() is not None:
        pass
    assert client.channel_for(PEER) == 0x4000
    return client


class Sink:
    def __init__(self) -> None:
        self.count = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.count += 1

    def on_data(self, data: bytes, addr: Any, channel: int | None) -> None:
        self.count += 1


def aioice_client() -> Any:
    proto = aioice_turn.TurnClientUdpProtocol(
        SERVER, "u", "p", lifetime=600, channel_refresh_time=500
    )
    proto.receiver = Sink()
    proto.channel_to_peer[0x4000] = PEER
    proto.peer_to_channel[PEER] = 0x4000
    return proto


def rate(fn: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def data_indication() -> bytes:
    msg = Message(Method.DATA, MessageClass.INDICATION, bytes(range(12)))
    msg.add_address(AttributeType.XOR_PEER_ADDRESS, PEER).add(AttributeType.DATA, PAYLOAD)
    return msg.encode()


def cases() -> dict[str, tuple[Callable[[], None], Callable[[], None], int]]:
    ours, theirs = allocated_client(), aioice_client()
    fast = allocated_client()
    sink = Sink()
    fast.on_data = sink.on_data
    channel_frame = encode_channel_data(0x4000, PAYLOAD)
    indication = data_indication()

    def ours_channel_in() -> None:
        ours.receive_datagram(channel_frame, SERVER, 1.0)
        ours.next_event()

    def fast_channel_in() -> None:
        fast.receive_datagram(channel_frame, SERVER, 1.0)

    def theirs_channel_in() -> None:
        theirs.datagram_received(channel_frame, SERVER)

    def ours_indication_in() -> None:
        ours.receive_datagram(indication, SERVER, 1.0)
        ours.next_event()

    def theirs_indication_in() -> None:
        theirs.datagram_received(indication, SERVER)

    other_peer = ("10.0.0.3", 7000)  # permitted (same IP), no channel: Send indication

    def ours_send() -> None:
        ours.send(PAYLOAD, other_peer, 1.0)
        ours.datagrams_to_send(1.0)

    def theirs_send() -> None:
        msg = aioice_stun.Message(
            message_method=aioice_stun.Method.SEND,
            message_class=aioice_stun.Class.INDICATION,
        )
        msg.attributes["XOR-PEER-ADDRESS"] = other_peer
        msg.attributes["DATA"] = PAYLOAD
        bytes(msg)

    stream = b"".join(
        encode_channel_data(0x4000, PAYLOAD[: 100 + i], pad=True) for i in range(1000)
    )
    chunks = [stream[i : i + 1400] for i in range(0, len(stream), 1400)]

    def ours_stream() -> None:
        framer = StreamFramer()
        n = 0
        for chunk in chunks:
            n += len(framer.feed(chunk))
        assert n == 1000

    class Stream(aioice_turn.TurnStreamMixin):
        def __init__(self) -> None:
            self.count = 0
            self.transport = self  # type: ignore[assignment]

        def get_extra_info(self, name: str) -> Any:
            return SERVER

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.count += 1

    def theirs_stream() -> None:
        s = Stream()
        for chunk in chunks:
            s.data_received(chunk)
        assert s.count == 1000

    return {
        "channeldata-in (event)": (ours_channel_in, theirs_channel_in, 50_000),
        "channeldata-in (on_data)": (fast_channel_in, theirs_channel_in, 50_000),
        "data-indication-in": (ours_indication_in, theirs_indication_in, 20_000),
        "send-indication-out": (ours_send, theirs_send, 20_000),
        "stream-framing (x1000 frames)": (ours_stream, theirs_stream, 20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':32} {'ours/s':>12} {'aioice/s':>12} {'ratio':>7}")
    for name, (ours, theirs, n) in cases().items():
        ours_rates, their_rates = [], []
        for _ in range(args.repeat):
            ours_rates.append(rate(ours, n))
            their_rates.append(rate(theirs, n))
        a, b = statistics.median(ours_rates), statistics.median(their_rates)
        print(f"{name:32} {a:12,.0f} {b:12,.0f} {a / b:6.2f}x")


if __name__ == "__main__":
    main()
