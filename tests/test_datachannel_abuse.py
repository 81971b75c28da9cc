"""A hostile data channel peer (issue 14, items 9 and 10), sans-I/O on a virtual clock.

* Item 9: the channels a peer may open, and the bytes of their labels and protocols, are
  capped (``max_remote_channels``, ``max_remote_label_bytes``); an OPEN beyond either is
  refused by resetting its stream, and the peer sees its channel close.
* Item 10: ``next_event()`` never raises, even when an ABORT arrives right after the
  COOKIE ACK while a channel waits to be announced.
"""

from __future__ import annotations

import random

from pyrtcstack.common.core import Event
from pyrtcstack.datachannel import (
    ChannelClosed,
    ChannelError,
    DataChannelManager,
    DataChannelOpened,
    TransportClosed,
    TransportEstablished,
)
from pyrtcstack.datachannel.manager import (
    DEFAULT_MAX_REMOTE_CHANNELS,
    DEFAULT_MAX_REMOTE_LABEL_BYTES,
)
from pyrtcstack.sctp import SctpConfig


def _drain(m: DataChannelManager, into: list[Event]) -> None:
    while (event := m.next_event()) is not None:
        into.append(event)


def _run(
    a: DataChannelManager, b: DataChannelManager, rounds: int
) -> tuple[list[Event], list[Event]]:
    """Move packets both ways (both applications reading) until quiet or ``rounds``."""
    ea: list[Event] = []
    eb: list[Event] = []
    now = 0.0
    for _ in range(rounds):
        moved = 0
        for p in a.packets_to_send(now):
            b.receive_packet(p, now)
            moved += 1
        for p in b.packets_to_send(now):
            a.receive_packet(p, now)
            moved += 1
        _drain(a, ea)
        _drain(b, eb)
        if not moved:
            timers = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
            if not timers or min(timers) > now + 5:
                break
            now = max(now + 0.001, min(timers))
            a.handle_timer(now)
            b.handle_timer(now)
        else:
            now += 0.0001
    return ea, eb


def _pair() -> tuple[DataChannelManager, DataChannelManager]:
    a = DataChannelManager(
        SctpConfig(remote_max_message_size=0, max_burst=64, max_send_buffer=64 << 20),
        dtls_role="client",
        rng=random.Random(1),
    )
    b = DataChannelManager(dtls_role="server", rng=random.Random(2))
    a.connect(0.0)
    b.connect(0.0)
    _run(a, b, 50)
    assert a.association.is_established and b.association.is_established
    return a, b


def test_remote_channel_count_is_capped() -> None:
    """Item 9: 2,000 DATA_CHANNEL_OPENs; at most DEFAULT_MAX_REMOTE_CHANNELS are opened,
    the others are refused (stream reset: the opener's channels close); closing some
    makes room again (before: 2,000 channels)."""
    a, b = _pair()
    n = 2000
    mine = [a.create_data_channel(f"c{i}") for i in range(n)]
    ea, eb = _run(a, b, 20000)
    opened = [e.channel for e in eb if isinstance(e, DataChannelOpened)]
    assert len(opened) == len(b.channels) == DEFAULT_MAX_REMOTE_CHANNELS
    assert b.refused_opens == n - DEFAULT_MAX_REMOTE_CHANNELS
    refused = [c for c in mine if c.ready_state == "closed"]
    assert len(refused) == n - DEFAULT_MAX_REMOTE_CHANNELS
    assert {e.channel for e in ea if isinstance(e, ChannelClosed)} == set(refused)
    # The peer closes ten channels: ten new ones fit.
    for channel in [c for c in mine if c.ready_state == "open"][:10]:
        channel.close()
    _run(a, b, 2000)
    assert len(b.channels) == DEFAULT_MAX_REMOTE_CHANNELS - 10
    more = [a.create_data_channel(f"d{i}") for i in range(12)]
    _run(a, b, 2000)
    assert len(b.channels) == DEFAULT_MAX_REMOTE_CHANNELS
    assert [c.ready_state for c in more].count("open") == 10


def test_remote_label_and_protocol_bytes_are_capped() -> None:
    """Item 9: OPENs with 65,535-byte labels and protocols (the field maximum): what the
    channels hold in labels and protocols stays within DEFAULT_MAX_REMOTE_LABEL_BYTES
    (before: 300 channels, 39 MB)."""
    a, b = _pair()
    label, protocol = "l" * 65535, "p" * 65535
    for _ in range(300):
        a.create_data_channel(label, protocol=protocol)
    _run(a, b, 50000)
    held = sum(len(c.label.encode()) + len(c.protocol.encode()) for c in b.channels)
    assert 0 < held <= DEFAULT_MAX_REMOTE_LABEL_BYTES
    assert len(b.channels) == DEFAULT_MAX_REMOTE_LABEL_BYTES // (2 * 65535)
    assert b.refused_opens == 300 - len(b.channels)
    # Configurable: a manager allowing none refuses every OPEN.
    a2, b2 = _pair()
    b2.max_remote_channels = 0
    a2.create_data_channel("x")
    _run(a2, b2, 500)
    assert not b2.channels and b2.refused_opens == 1


def test_abort_right_after_cookie_ack_is_an_event() -> None:
    """Item 10: our channel waits for the association; the COOKIE ACK and an ABORT arrive
    in one burst. next_event() reports (ChannelError, ChannelClosed, TransportClosed)
    instead of raising AssociationClosedError."""
    a = DataChannelManager(dtls_role="client", rng=random.Random(1))
    b = DataChannelManager(dtls_role="server", rng=random.Random(2))
    channel = a.create_data_channel("early")
    a.connect(0.0)
    for p in a.packets_to_send(0.0):  # INIT
        b.receive_packet(p, 0.0)
    for p in b.packets_to_send(0.0):  # INIT ACK
        a.receive_packet(p, 0.0)
    for p in a.packets_to_send(0.0):  # COOKIE ECHO
        b.receive_packet(p, 0.0)
    assert b.association.is_established
    burst = b.packets_to_send(0.0)  # COOKIE ACK
    b.association.abort("bye")
    burst += b.packets_to_send(0.0)  # ABORT
    for p in burst:
        a.receive_packet(p, 0.0)
    events: list[Event] = []
    _drain(a, events)
    assert [type(e) for e in events] == [
        TransportEstablished,
        ChannelError,
        ChannelClosed,
        TransportClosed,
    ]
    assert channel.ready_state == "closed"
    assert a.next_event() is None


def test_channels_beyond_the_peers_streams_close_with_an_error() -> None:
    """Item 10, audit: channels created before the handshake get ids the peer's stream
    count does not reach; announcing them must not raise StreamError from next_event."""
    a = DataChannelManager(dtls_role="client", rng=random.Random(1))
    b = DataChannelManager(SctpConfig(inbound_streams=16), dtls_role="server")
    mine = [a.create_data_channel(f"c{i}") for i in range(10)]  # ids 0, 2, ..., 18
    a.connect(0.0)
    b.connect(0.0)
    ea, _ = _run(a, b, 200)
    assert [c.ready_state for c in mine] == ["open"] * 8 + ["closed"] * 2
    errors = [e for e in ea if isinstance(e, ChannelError)]
    assert [e.channel for e in errors] == mine[8:]
    assert len(b.channels) == 8
