"""Fuzz an established SCTP association (wrapped in a data channel manager) with hostile
packets. The fuzzer's bytes become chunk areas of packets that carry the right ports,
verification tag and CRC-32C, so they reach the chunk handlers; some arrive in bursts
through ``receive_packets`` (the bulk path). Nothing may raise: bad input is dropped and
counted; the core must keep honouring its contract afterwards, and after every packet
the receiver holds what its window count says, never more than the window.

Run: ``.venv/bin/python fuzz/fuzz_sctp_association.py -atheris_runs=200000``
"""

from __future__ import annotations

import random
import struct
import sys

from pyrtcstack.datachannel import DataChannelManager
from pyrtcstack.sctp.chunks import encode_packet
from pyrtcstack.sctp.receiver import MIN_CHARGE


def _established() -> tuple[DataChannelManager, DataChannelManager]:
    a = DataChannelManager(dtls_role="client", rng=random.Random(1))
    b = DataChannelManager(dtls_role="server", rng=random.Random(2))
    a.create_data_channel("fuzz")
    a.connect(0.0)
    for _ in range(20):
        for p in a.packets_to_send(0.0):
            b.receive_packet(p, 0.0)
        for p in b.packets_to_send(0.0):
            a.receive_packet(p, 0.0)
        while a.next_event() is not None or b.next_event() is not None:
            pass
    assert a.association.is_established and b.association.is_established
    return a, b


def _check_window(m: DataChannelManager) -> None:
    """The receive window is a hard bound, and its count is what is really held (every
    piece charged at least MIN_CHARGE bytes): fragments, waiting and unread messages."""
    r = m.association.receiver
    if r is None:
        return
    pieces = [*(r.run or [])]
    for stream in r.streams.values():
        pieces += [f[3] for f in stream.frags.values()]
        pieces += [d for _, d in stream.pending.values()]
    pieces += [e[2] for e in m.association.outbox.events if type(e) is tuple]
    assert r.buffered == sum(max(len(p), MIN_CHARGE) for p in pieces)
    assert r.buffered <= r.capacity


def TestOneInput(data: bytes) -> None:  # noqa: N802 - the atheris entry point
    a, b = _established()
    tag = b.association.local_tag
    peer_tsn = a.association.sender.next_tsn
    now = 1.0
    pos = 0
    burst: list[bytes] = []
    while pos + 2 <= len(data):
        length = data[pos] + 1
        mode = data[pos + 1]
        body = data[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if mode & 1 and len(body) >= 8:
            # Aim DATA-like chunks near the expected TSN so they are processed.
            body = body[:4] + struct.pack("!I", (peer_tsn + body[4]) & 0xFFFFFFFF) + body[8:]
        if mode & 2:
            packet = encode_packet(5000, 5000, tag if mode & 4 else 0, [body])
        else:
            packet = body
        if mode & 0x80:  # held back: arrives with the next packets in one burst
            burst.append(packet)
            continue
        now += ((mode >> 3) & 0x0F) * 0.05
        if burst:
            b.receive_packets([*burst, packet], now)
            burst = []
        else:
            b.receive_packet(packet, now)
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
        for p in a.packets_to_send(now):
            b.receive_packet(p, now)
        _check_window(b)
        for m in (a, b):
            deadline = m.get_timer()
            if deadline is not None and deadline <= now:
                m.handle_timer(now)
            while m.next_event() is not None:
                pass
    if burst:
        b.receive_packets(burst, now)
    # The core still works: run the clock forward a little.
    for m in (a, b):
        deadline = m.get_timer()
        if deadline is not None:
            m.handle_timer(deadline)
        m.packets_to_send(now + 100)


if __name__ == "__main__":
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
