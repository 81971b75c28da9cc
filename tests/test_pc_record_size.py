"""SCTP packets sized for the DTLS version the handshake chose (RFC 8261 §5: one SCTP
packet per DTLS record, the record within the MTU): a DTLS 1.3 record adds 22 bytes
(RFC 9147 §4 unified header of 5, the inner type, the tag), a 1.2 AES-GCM record 37."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pyrtcstack.datachannel import ChannelMessage
from pyrtcstack.dtls import DtlsVersion
from pyrtcstack.peerconnection import PeerConnectionCore, Settings
from pyrtcstack.sctp import Association, SctpConfig, SctpError
from tests.test_pc_datapath import A, B, _run_batched


class _Watched:
    """A core whose sent datagram sizes are recorded (the core has slots)."""

    def __init__(self, pc: PeerConnectionCore, sizes: list[int]) -> None:
        self._pc = pc
        self._sizes = sizes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pc, name)

    def transmits(self, now: float) -> list[Any]:
        out = self._pc.transmits(now)
        self._sizes.extend(len(d) for d, _l, _r in out)
        return out


def _transfer(versions: tuple[str, ...]) -> tuple[Any, list[int]]:
    settings = Settings(dtls_versions=versions)
    a = PeerConnectionCore(settings=settings, rng=random.Random(7))
    b = PeerConnectionCore(settings=settings, rng=random.Random(8))
    chan = a.create_data_channel("bulk")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([A], 0.0)
    _run_batched(a, b, lambda: a.local_description is not None and a.ice.gathering_started)
    b.set_remote_description(a.local_description, 0.0)
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([B], 0.0)
    a.set_remote_description(b.local_description, 0.0)
    got: list[bytes] = []
    sizes: list[int] = []
    watched = _Watched(a, sizes)

    def drain() -> bool:
        while (ev := b.next_event()) is not None:
            if isinstance(ev, ChannelMessage):
                got.append(bytes(ev.data))
        while a.next_event() is not None:
            pass
        return False

    _run_batched(watched, b, lambda: drain() or chan.ready_state == "open")
    message = random.Random(3).randbytes(65536)
    chan.send(message)
    _run_batched(watched, b, lambda: drain() or bool(got))
    assert got == [message]
    assert a.dtls.version is DtlsVersion.parse(versions[0])
    return a, sizes


@pytest.mark.parametrize(("versions", "overhead"), [(("1.3", "1.2"), 22), (("1.2",), 37)])
def test_packets_fill_the_mtu_for_the_negotiated_version(
    versions: tuple[str, ...], overhead: int
) -> None:
    a, sizes = _transfer(versions)
    mtu = a.settings.mtu
    assert a.sctp.association.config.max_packet_size == mtu - overhead
    assert max(sizes) <= mtu
    # the middle of a 64 KiB message fills whole packets: the datagram is the MTU, less
    # what the SCTP chunk room's 4-byte rounding leaves
    assert mtu - 3 <= max(sizes) <= mtu


def test_the_packet_size_changes_only_before_the_association_starts() -> None:
    assoc = Association(SctpConfig(max_packet_size=1163))
    assoc.set_max_packet_size(1178)
    assert assoc.sender.mtu == 1164 and assoc.config.max_packet_size == 1178
    with pytest.raises(SctpError):
        assoc.set_max_packet_size(100)
    assert assoc.config.max_packet_size == 1178
    assoc.connect(0.0)
    with pytest.raises(SctpError):
        assoc.set_max_packet_size(1163)
    assert assoc.sender.mtu == 1164
