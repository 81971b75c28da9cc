"""The data path of the peer connection core when datagrams arrive in batches
(``receive_datagrams``, as the asyncio driver delivers them): DTLS application data goes
straight into SCTP through ``DtlsConnection.on_application_data`` (traced or not), and the
SCTP knobs of :class:`Settings` reach the association."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from pyrtcstack.common.core import Address
from pyrtcstack.datachannel import ChannelMessage
from pyrtcstack.peerconnection import PeerConnectionCore, Settings

A: Address = ("127.0.0.1", 40010)
B: Address = ("127.0.0.1", 40012)


def _run_batched(a: PeerConnectionCore, b: PeerConnectionCore, until: Any) -> None:
    """Lossless wire on a virtual clock (1 ms); everything due for one core arrives in one
    ``receive_datagrams`` call."""
    now = 0.0
    wire: list[tuple[float, bytes, Address, Address]] = []
    cores = {A: a, B: b}
    for _ in range(200000):
        if until():
            return
        moved = False
        for pc in (a, b):
            for data, local, remote in pc.transmits(now):
                wire.append((now + 0.001, data, local, remote))
                moved = True
            pc.flush(now)
        if moved:
            continue
        times = [t for t in (a.get_timer(), b.get_timer()) if t is not None]
        times += [w[0] for w in wire]
        assert times, "stalled"
        now = max(now, min(times))
        assert now < 120, "virtual time limit"
        due = [w for w in wire if w[0] <= now]
        wire = [w for w in wire if w[0] > now]
        for dst, pc in cores.items():
            batch = [(data, src) for _t, data, src, d in due if d == dst]
            if batch:
                pc.receive_datagrams(batch, now, local=dst)
        for pc in (a, b):
            t = pc.get_timer()
            if t is not None and t <= now:
                pc.handle_timer(now)
    raise AssertionError("too many steps")


@pytest.mark.parametrize("traced", [False, True])
def test_bulk_transfer_over_batches_uses_the_dtls_fast_callback(traced: bool) -> None:
    records: list[object] = []
    settings_b = Settings(tracer=records.append if traced else None, sctp_max_burst=8)
    a = PeerConnectionCore(rng=random.Random(7))
    b = PeerConnectionCore(settings=settings_b, rng=random.Random(8))
    assert b.sctp_config.max_burst == 8
    assert a.sctp_config.max_burst == Settings().sctp_max_burst
    chan = a.create_data_channel("bulk")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A], 0.0)
    got: list[bytes] = []

    def drain_b() -> bool:
        ev = b.next_event()
        while ev is not None:
            if isinstance(ev, ChannelMessage):
                assert isinstance(ev.data, bytes)
                got.append(ev.data)
            ev = b.next_event()
        while a.next_event() is not None:
            pass
        return False

    _run_batched(a, b, lambda: a.local_description is not None and a.gathering_started)
    offer = a.local_description
    assert offer is not None
    b.set_remote_description(offer, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B], 0.0)
    answer = b.local_description
    assert answer is not None
    a.set_remote_description(answer, 0.0)
    _run_batched(a, b, lambda: drain_b() or chan.ready_state == "open")
    assert b.dtls.on_application_data is not None
    rng = random.Random(1)
    messages = [rng.randbytes(rng.choice((1, 1200, 16384, 65536))) for _ in range(120)]
    for m in messages:
        chan.send(m)
    _run_batched(a, b, lambda: drain_b() or len(got) == len(messages))
    assert hashlib.sha256(b"".join(got)).digest() == hashlib.sha256(b"".join(messages)).digest()
    assert got == messages
    assert b.counters["dtls_records_received"] > 100
    assert b.packets_received >= b.counters["dtls_records_received"]
    if traced:
        assert any("SCTP" in repr(r) for r in records)
