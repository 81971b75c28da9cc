"""Two associations in memory, for the SCTP tests that then craft what a peer sends."""

from __future__ import annotations

import random

from pyrtcstack.sctp import Association, SctpConfig, decode_packet
from pyrtcstack.sctp.chunks import InitChunk
from pyrtcstack.sctp.params import ParamType


def handshake(a: Association, b: Association) -> None:
    """``a`` connects to ``b`` (RFC 9260 §5.1: INIT, INIT ACK, COOKIE ECHO, COOKIE ACK),
    every packet delivered at time 0, and the events of ``b``'s setup read."""
    a.connect(0.0)
    for _ in range(10):
        for p in a.packets_to_send(0.0):
            b.receive_packet(p, 0.0)
        for p in b.packets_to_send(0.0):
            a.receive_packet(p, 0.0)
    assert a.is_established and b.is_established
    while b.next_event() is not None:
        pass


def victim(config: SctpConfig | None = None) -> tuple[Association, int]:
    """Our association, established with a well-behaved peer; returns it and the first
    TSN it expects (the hostile packets are crafted from here on)."""
    a = Association(SctpConfig(remote_max_message_size=0), rng=random.Random(1))
    b = Association(config or SctpConfig(), rng=random.Random(2))
    handshake(a, b)
    assert b.receiver is not None
    return b, (b.receiver.cum_tsn + 1) & 0xFFFFFFFF


def init_chunks(packet: bytes) -> list[InitChunk]:
    """The INIT and INIT ACK chunks of ``packet`` (InitAckChunk is an InitChunk)."""
    return [c for c in decode_packet(packet).chunks if isinstance(c, InitChunk)]


def announces_zero_checksum(packet: bytes) -> bool:
    """Whether an INIT or INIT ACK in ``packet`` carries Zero Checksum Acceptable
    (RFC 9653 §4)."""
    return any(c.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE) is not None for c in init_chunks(packet))
