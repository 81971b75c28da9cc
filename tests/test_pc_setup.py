"""How a peer connection sets up its SCTP association (bench/bench_setup.py shows the timing).

Two sans-I/O cores on a virtual clock. RFC 8841 §9.3: both ends send INIT. The DTLS client
sends its INIT with its Finished; the DTLS server answers that INIT (RFC 9260 §5.1 B) before
it sends its own, so the client's COOKIE ECHO establishes the server (§5.1 D) and the INIT
ACK the client sends to the server's INIT arrives in ESTABLISHED and is discarded (§5.2.3):
the server never makes a COOKIE ECHO of its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from pyrtcstack.common.core import Address
from pyrtcstack.datachannel import ChannelClosed, ChannelMessage, ChannelOpen, DataChannelOpened
from pyrtcstack.dtls import DtlsConnection
from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.peerconnection.trace import TraceRecord
from pyrtcstack.sctp import State
from tests.freed import Watch, collector_off

A: Address = ("127.0.0.1", 40000)
B: Address = ("127.0.0.1", 40002)
SCTP_CHUNKS = ("INIT-ACK", "INIT", "COOKIE-ECHO", "COOKIE-ACK")


def _chunks(text: str) -> list[str]:
    """The handshake chunk names a traced SCTP packet carries, in order."""
    names = []
    for part in text.removeprefix("SCTP ").split(", "):
        for name in SCTP_CHUNKS:
            if part.startswith(name + " ") or part == name:
                names.append(name)
                break
    return names


class Pair:
    """Two cores, a zero-delay wire, and each one's SCTP handshake chunks as sent."""

    def __init__(self, seed: int, traced: bool = True) -> None:
        self.sent: dict[str, list[str]] = {"a": [], "b": []}
        self.received: dict[str, list[str]] = {"a": [], "b": []}

        def tracer(name: str) -> Callable[[object], None]:
            def on_record(record: object) -> None:
                assert isinstance(record, TraceRecord)
                if record.layer == "SCTP" and record.direction in ("send", "recv"):
                    log = self.sent if record.direction == "send" else self.received
                    log[name].extend(_chunks(record.text))

            return on_record

        rng = random.Random(seed)
        self.a = PeerConnectionCore(
            settings=Settings(tracer=tracer("a") if traced else None),
            rng=random.Random(rng.random()),
        )
        self.b = PeerConnectionCore(
            settings=Settings(tracer=tracer("b") if traced else None),
            rng=random.Random(rng.random()),
        )
        self.now = 0.0
        self.wire: list[tuple[bytes, Address, Address]] = []
        self.events: dict[str, list[object]] = {"a": [], "b": []}

    def pump(self) -> bool:
        moved = False
        for name, pc in (("a", self.a), ("b", self.b)):
            for data, local, remote in pc.transmits(self.now):
                self.wire.append((data, local, remote))
                moved = True
            event = pc.next_event()
            while event is not None:
                moved = True
                self.events[name].append(event)
                event = pc.next_event()
        return moved

    def run(self, until: Callable[[], bool], limit: float = 30.0) -> None:
        while not until():
            if self.pump():
                continue
            if self.wire:
                due, self.wire = self.wire, []
                for data, src, dst in due:
                    (self.a if dst == A else self.b).receive_datagram(
                        data, src, self.now, local=dst
                    )
                continue
            times = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            assert times, "stuck"
            self.now = max(self.now, min(times))
            assert self.now < limit
            for pc in (self.a, self.b):
                timer = pc.get_timer()
                if timer is not None and timer <= self.now:
                    pc.handle_timer(self.now)

    def negotiate(self) -> None:
        a, b = self.a, self.b
        a.set_local_description(a.create_offer(0.0), 0.0)
        a.gather([A], 0.0)
        self.pump()
        assert a.local_description is not None
        b.set_remote_description(a.local_description, 0.0)
        b.set_local_description(b.create_answer(0.0), 0.0)
        b.gather([B], 0.0)
        self.pump()
        assert b.local_description is not None
        a.set_remote_description(b.local_description, 0.0)


def _opened(events: list[object]) -> bool:
    return any(isinstance(e, ChannelOpen | DataChannelOpened) for e in events)


@pytest.mark.parametrize("seed", range(5))
def test_server_answers_the_clients_init_before_sending_its_own(seed: int) -> None:
    pair = Pair(seed)
    channel = pair.a.create_data_channel("chat")
    pair.negotiate()
    pair.run(lambda: _opened(pair.events["a"]))
    # the offerer (actpass) is the DTLS server: the answerer picked active
    assert not pair.a.is_dtls_client and pair.b.is_dtls_client
    # RFC 8841 §9.3: both ends initiate
    assert "INIT" in pair.sent["a"] and "INIT" in pair.sent["b"]
    # RFC 9260 §5.1 B then A: the client's INIT is answered first, then ours leaves
    assert pair.sent["a"][:2] == ["INIT-ACK", "INIT"], pair.sent["a"]
    # §5.1 D: the client's COOKIE ECHO established us; we made none of our own
    assert "COOKIE-ECHO" in pair.received["a"]
    assert "COOKIE-ECHO" not in pair.sent["a"]
    assert pair.a.sctp.association.state is State.ESTABLISHED
    # the association both ends converge on carries data both ways
    channel.send("ping")
    pair.run(lambda: _opened(pair.events["b"]))
    remote = next(e for e in pair.events["b"] if isinstance(e, DataChannelOpened)).channel
    remote.send("pong")

    def messages(name: str) -> list[object]:
        return [e.data for e in pair.events[name] if isinstance(e, ChannelMessage)]

    pair.run(lambda: bool(messages("a") and messages("b")))
    assert messages("a") == ["pong"] and messages("b") == ["ping"]
    assert pair.b.sctp.association.state is State.ESTABLISHED
    # §5.2.3: the INIT ACK answering our INIT came after; discarded, counted apart
    stats = pair.a.sctp.association.stats
    assert stats.init_acks_discarded == 1 and stats.unexpected_chunks == 0


def test_each_peer_connection_makes_its_own_certificate() -> None:
    # docs/security.md "Peer connection: one certificate each": a fingerprint shared by
    # two sessions would link them; nothing shares one by default.
    first, second = PeerConnectionCore(), PeerConnectionCore()
    assert first.certificate.der != second.certificate.der
    assert str(first.certificate.fingerprint()) != str(second.certificate.fingerprint())


def _closed_pair(watch: Watch) -> None:
    """Two connected cores, a channel each way and a message, then both closed and
    dropped; ``watch`` names the objects that must go with them."""
    pair = Pair(3, traced=False)
    channel = pair.a.create_data_channel("chat")
    pair.negotiate()
    pair.run(lambda: _opened(pair.events["a"]))
    channel.send("ping")
    pair.run(lambda: _opened(pair.events["b"]))
    for name, pc in (("a", pair.a), ("b", pair.b)):
        watch.add(name, pc)
        watch.add(f"{name}.sctp", pc.sctp)
        watch.add(f"{name}.sctp.association", pc.sctp.association)
        for i, ch in enumerate(pc.sctp.channels):
            watch.add(f"{name} channel {i}", ch)
    for pc in (pair.a, pair.b):
        pc.close(pair.now)
        pc.transmits(pair.now)
        while pc.next_event() is not None:
            pass
    pair.events.clear()


def test_a_closed_peer_connection_is_freed_by_reference_counting() -> None:
    # Nothing of a closed connection is left for the garbage collector: close() marks
    # the channels closed, and the ABORT's AssociationClosed makes the data channel
    # manager forget them (a closed channel kept would be a cycle, channel._manager ->
    # manager -> its dict of channels -> channel, holding the association with it).
    # With the collector off, the named objects and every other object of ours made by
    # the run must be gone once the last reference is dropped (tests/freed.py).
    with collector_off():
        watch = Watch()
        _closed_pair(watch)
        watch.assert_freed()


def test_a_core_closed_before_sctp_started_forgets_its_channels() -> None:
    # Closed before DTLS came up: the channels made so far close too ("closed", a
    # ChannelClosed each) and the manager forgets them, so the core goes by reference
    # counting (each channel kept would hold the manager in a cycle).
    with collector_off():
        watch = Watch()
        pc = PeerConnectionCore()
        first = pc.create_data_channel("unassigned")  # no stream id before the DTLS role
        second = pc.create_data_channel("negotiated", negotiated=True, id=7)
        watch.add("pc", pc)
        watch.add("pc.sctp", pc.sctp)
        pc.close(0.0)
        events = list(iter(pc.next_event, None))
        closed = [e.channel for e in events if isinstance(e, ChannelClosed)]
        assert len(closed) == 2 and {id(c) for c in closed} == {id(first), id(second)}
        assert first.ready_state == second.ready_state == "closed"
        del pc, events, closed, first, second
        watch.assert_freed()


def test_a_data_only_connection_exports_no_srtp_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 5764 §4.2's exporter runs when media first needs the keys (the SRTP session is
    # made then too): a connection with data channels only never runs it. The profile
    # is still agreed (use_srtp is always offered), so the keys stay available.
    exported: list[int] = []
    export = DtlsConnection.export_keying_material

    def counted(self: DtlsConnection, *args: Any, **kwargs: Any) -> bytes:
        exported.append(1)
        return export(self, *args, **kwargs)

    monkeypatch.setattr(DtlsConnection, "export_keying_material", counted)
    pair = Pair(4, traced=False)
    channel = pair.a.create_data_channel("chat")
    pair.negotiate()
    pair.run(lambda: _opened(pair.events["a"]))
    channel.send("ping")
    pair.run(lambda: _opened(pair.events["b"]))
    assert exported == []
    assert pair.a.media.keyed and pair.a.media.srtp is None
    # the first use exports: both ends derive the same keys (RFC 5764 §4.2)
    assert pair.a.dtls.srtp_keys() == pair.b.dtls.srtp_keys()
    assert len(exported) == 2
