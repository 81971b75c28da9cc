"""Accepting checksum 0 follows what we sent (RFC 9653 §5.3).

"If an endpoint has sent the Zero Checksum Acceptable Chunk Parameter [...] in an INIT or
INIT ACK chunk, in addition to SCTP packets containing the correct CRC32c checksum value
it MUST accept SCTP packets that have an incorrect checksum value of zero [...].
Otherwise, the endpoint MUST drop all SCTP packets with an incorrect CRC32c checksum."

So the oracle here is the wire: whether any INIT or INIT ACK *we* sent carried the
parameter (0x8001), decoded from our packets, never ``SctpConfig.zero_checksum``. A packet
with checksum 0 goes through each of the association's receive paths: the one-packet DATA
path (``dispatch.receive_one``), the general path (``dispatch._general``, here a
HEARTBEAT), and the batch path's two in-line cases (``bulk``: a middle fragment of the
message being reassembled, a SACK without gap blocks); accepted, it acts, dropped, it is
counted as ``bad_checksum``.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.sctp import Association, SctpConfig, decode_packet
from pyrtcstack.sctp.chunks import (
    DataChunk,
    HeartbeatAckChunk,
    HeartbeatChunk,
    InitChunk,
    SackChunk,
    encode_packet,
)
from pyrtcstack.sctp.params import Parameter, ParamType

PORT = 5000
PATHS = ("data", "general", "batch_data", "batch_sack")


def _announces(packet: bytes) -> bool:
    """Whether an INIT or INIT ACK in ``packet`` carries Zero Checksum Acceptable."""
    return any(
        isinstance(c, InitChunk) and c.param(ParamType.ZERO_CHECKSUM_ACCEPTABLE) is not None
        for c in decode_packet(packet).chunks
    )


def _setup(
    ours_on: bool, peer_on: bool, order: str, losses: list[bool]
) -> tuple[Association, Association, list[bytes]]:
    """Our association and a peer, set up on a virtual clock: ``order`` says who sends
    INIT ("ours", "peer", "both"), ``losses`` which of the first packets (either way, in
    the order sent) are lost. Returns both and every packet we sent."""
    ours = Association(SctpConfig(zero_checksum=ours_on), rng=random.Random(1))
    peer = Association(SctpConfig(zero_checksum=peer_on), rng=random.Random(2))
    now = 0.0
    if order in ("ours", "both"):
        ours.connect(now)
    if order in ("peer", "both"):
        peer.connect(now)
    lost = iter(losses)
    sent: list[bytes] = []
    for _ in range(200):
        moved = False
        for p in ours.packets_to_send(now):
            sent.append(p)
            moved = True
            if not next(lost, False):
                peer.receive_packet(p, now)
        for p in peer.packets_to_send(now):
            moved = True
            if not next(lost, False):
                ours.receive_packet(p, now)
        if ours.is_established and peer.is_established:
            break
        if not moved:
            timers = [t for t in (ours.get_timer(), peer.get_timer()) if t is not None]
            assert timers
            now = max(now, min(timers))
            ours.handle_timer(now)
            peer.handle_timer(now)
    assert ours.is_established and peer.is_established
    for _ in range(3):  # what the handshake left to say (a COOKIE ACK after a collision)
        for p in ours.packets_to_send(now):
            sent.append(p)
            peer.receive_packet(p, now)
        for p in peer.packets_to_send(now):
            ours.receive_packet(p, now)
    assert not ours.packets_to_send(now)
    while ours.next_event() is not None:
        pass
    return ours, peer, sent


def _packet(ours: Association, chunk: bytes, *, zero: bool = True) -> bytes:
    """A packet from the peer to ``ours`` with ``chunk``, checksum 0 (or a real CRC-32C)."""
    p = bytearray(encode_packet(PORT, PORT, ours.local_tag, [chunk]))
    if zero:
        p[8:12] = bytes(4)
    return bytes(p)


def _through(ours: Association, path: str) -> bool:
    """Send ``ours`` a packet with checksum 0 along ``path``; True if it was accepted
    (it acted, nothing counted), False if dropped (counted as ``bad_checksum``)."""
    receiver = ours.receiver
    assert receiver is not None
    tsn = (receiver.cum_tsn + 1) & 0xFFFFFFFF
    bad = ours.stats.bad_checksum
    received = ours.stats.packets_received
    if path == "data":  # a whole message: receive_one's DATA path
        ours.receive_packet(_packet(ours, DataChunk(tsn, 1, 0, 53, b"m" * 200).encode()), 1.0)
        accepted = receiver.cum_tsn == tsn
    elif path == "general":  # a HEARTBEAT: the general path, answered if accepted
        probe = HeartbeatChunk([Parameter(ParamType.HEARTBEAT_INFO, b"probe")])
        ours.receive_packet(_packet(ours, probe.encode()), 1.0)
        out = [c for p in ours.packets_to_send(1.0) for c in decode_packet(p).chunks]
        accepted = any(isinstance(c, HeartbeatAckChunk) for c in out)
    elif path == "batch_data":  # a middle fragment after a first one (good CRC)
        first = _packet(ours, DataChunk(tsn, 1, 0, 53, b"B" * 1100, 0x02).encode(), zero=False)
        ours.receive_packet(first, 1.0)
        assert receiver.cum_tsn == tsn and ours.stats.bad_checksum == bad
        middle = _packet(ours, DataChunk((tsn + 1) & 0xFFFFFFFF, 1, 0, 53, b"M" * 1100, 0).encode())
        ours.receive_packets([middle], 1.0)
        received += 1
        accepted = receiver.cum_tsn == (tsn + 1) & 0xFFFFFFFF
    else:  # a SACK without gap blocks: the batch path's in-line SACK
        cum = ours.sender.cum_ack
        ours.receive_packets([_packet(ours, SackChunk(cum, 1 << 20).encode())], 1.0)
        accepted = ours.stats.bad_checksum == bad
    assert ours.stats.packets_received == received + 1
    assert ours.stats.bad_checksum == bad + (not accepted)
    return accepted


@pytest.mark.parametrize("path", PATHS)
def test_off_drops_checksum_zero_on_every_path(path: str) -> None:
    ours, _, sent = _setup(False, True, "ours", [])
    assert not any(_announces(p) for p in sent)
    assert not ours.accepts_zero_checksum
    assert not _through(ours, path)


@pytest.mark.parametrize("path", PATHS)
def test_an_init_ack_that_mirrored_a_plain_init_drops_checksum_zero(path: str) -> None:
    """On by default, but the peer's INIT did not announce it, so our INIT ACK did not
    (RFC 9653 §5.1, as for Pion): nothing we sent announced it, so 0 is a bad checksum.
    (Accepted before, when acceptance followed the configuration.)"""
    ours, _, sent = _setup(True, False, "peer", [])
    assert not any(_announces(p) for p in sent)
    assert not _through(ours, path)


@pytest.mark.parametrize("path", PATHS)
def test_announced_accepts_checksum_zero_on_every_path(path: str) -> None:
    for order in ("ours", "peer", "both"):
        ours, _, sent = _setup(True, True, order, [])
        assert any(_announces(p) for p in sent)
        assert ours.accepts_zero_checksum
        assert _through(ours, path)


@pytest.mark.parametrize("path", PATHS)
def test_an_unanswered_init_that_announced_it_keeps_acceptance(path: str) -> None:
    """Our first INIT announced it and was lost; the retransmission did not
    (``drop_zero_checksum``). We *sent* the parameter, so §5.3 makes us accept 0: this
    is the case where the peer answers the first INIT late (next test)."""
    ours, _, sent = _setup(True, False, "ours", [True])
    assert _announces(sent[0]) and not _announces(sent[1])
    assert _through(ours, path)


def test_a_late_answer_to_our_first_init_holds_the_peer_to_it() -> None:
    """Why acceptance stays after the announcement was dropped: our first INIT is only
    late, the peer answers it, and its INIT ACK cannot say which INIT it answers (same tag
    and TSN, §5.1). The cookie we echo then carries the first INIT's announcement, the peer
    sends us checksum 0 (RFC 9653 §5.2), and the association must work."""
    ours = Association(SctpConfig(), rng=random.Random(1))
    peer = Association(SctpConfig(), rng=random.Random(2))
    ours.connect(0.0)
    (first,) = ours.packets_to_send(0.0)
    assert _announces(first)  # delayed on the path
    ours.handle_timer(ours.get_timer() or 0.0)
    (second,) = ours.packets_to_send(1.0)
    assert not _announces(second)  # lost
    peer.receive_packet(first, 1.5)
    for _ in range(4):
        for p in peer.packets_to_send(1.5):
            ours.receive_packet(p, 1.5)
        for p in ours.packets_to_send(1.5):
            peer.receive_packet(p, 1.5)
    assert ours.is_established and peer.is_established
    assert peer.sends_zero_checksum  # the first INIT told it so
    peer.send(1, b"z" * 3000, 53)
    out = peer.packets_to_send(1.5)
    assert out and all(p[8:12] == bytes(4) for p in out)
    ours.receive_packets(out, 1.5)
    assert ours.stats.bad_checksum == 0
    assert any(getattr(e, "data", None) == b"z" * 3000 for e in iter(ours.next_event, None))


def test_an_init_with_checksum_zero_is_dropped_even_when_announced() -> None:
    """RFC 9653 §5.2: an INIT always carries a real CRC-32C; ours announced (we connect
    too), a zero-checksum INIT is still a bad checksum."""
    ours = Association(SctpConfig(), rng=random.Random(1))
    ours.connect(0.0)
    ours.packets_to_send(0.0)
    assert ours.accepts_zero_checksum
    init = InitChunk(0x1234, 1 << 20, 16, 16, 7).encode()
    p = bytearray(encode_packet(PORT, PORT, 0, [init]))
    p[8:12] = bytes(4)
    ours.receive_packet(bytes(p), 0.1)
    assert ours.stats.bad_checksum == 1
    assert not ours.packets_to_send(0.1)  # no INIT ACK


@settings(max_examples=60, deadline=None)
@given(
    ours_on=st.booleans(),
    peer_on=st.booleans(),
    order=st.sampled_from(["ours", "peer", "both"]),
    losses=st.lists(st.booleans(), max_size=6),
    path=st.sampled_from(PATHS),
)
def test_acceptance_is_what_our_init_or_init_ack_carried(
    ours_on: bool, peer_on: bool, order: str, losses: list[bool], path: str
) -> None:
    """Any configuration, handshake order and loss of handshake packets: a packet with
    checksum 0 is accepted on any path exactly when an INIT or INIT ACK we sent carried
    Zero Checksum Acceptable (read from our packets on the wire)."""
    ours, _, sent = _setup(ours_on, peer_on, order, losses)
    assert _through(ours, path) is any(_announces(p) for p in sent)
