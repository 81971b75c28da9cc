"""Shared helpers for the DTLS tests (pairs on the MemoryNetwork, flight decoding); no tests."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from pyrtcstack.common.core import Address
from pyrtcstack.dtls import DtlsCertificate, DtlsConnection, DtlsRole
from pyrtcstack.dtls.constants import ContentType
from pyrtcstack.dtls.fragments import Fragment, Reassembler, parse_fragments
from pyrtcstack.dtls.record import parse_records
from pyrtcstack.testing.pair import Impairment, MemoryNetwork

CLIENT_ADDR: Address = ("10.0.0.1", 40000)
SERVER_ADDR: Address = ("10.0.0.2", 50000)
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

_CERTS: dict[int, DtlsCertificate] = {}


def certificate(seed: int) -> DtlsCertificate:
    """A deterministic ECDSA P-256 certificate (cached: generation costs ~1 ms)."""
    if seed not in _CERTS:
        _CERTS[seed] = DtlsCertificate.generate(random.Random(seed), not_before=NOT_BEFORE)
    return _CERTS[seed]


@dataclass
class Pair:
    net: MemoryNetwork
    client: DtlsConnection
    server: DtlsConnection

    def established(self) -> bool:
        return self.client.is_established and self.server.is_established

    def run(self, timeout: float = 120.0) -> bool:
        return self.net.run(until=self.established, timeout=timeout)


def make_pair(
    seed: int = 1,
    impairment: Impairment | None = None,
    start: bool = True,
    client_kwargs: dict[str, object] | None = None,
    server_kwargs: dict[str, object] | None = None,
) -> Pair:
    ccert, scert = certificate(1000 + seed % 3), certificate(2000 + seed % 3)
    ckw: dict[str, object] = {
        "certificate": ccert,
        "remote_fingerprints": [scert.fingerprint()],
        "remote_address": SERVER_ADDR,
        "rng": random.Random(seed * 2 + 1),
    }
    skw: dict[str, object] = {
        "certificate": scert,
        "remote_fingerprints": [ccert.fingerprint()],
        "rng": random.Random(seed * 2 + 2),
    }
    ckw.update(client_kwargs or {})
    skw.update(server_kwargs or {})
    client = DtlsConnection(DtlsRole.CLIENT, **ckw)  # type: ignore[arg-type]
    server = DtlsConnection(DtlsRole.SERVER, **skw)  # type: ignore[arg-type]
    net = MemoryNetwork(impairment, seed=seed)
    net.add(CLIENT_ADDR, client)
    net.add(SERVER_ADDR, server)
    if start:
        server.start(net.now)
        client.start(net.now)
    return Pair(net, client, server)


def handshake_messages(datagrams: list[bytes]) -> list[tuple[int, bytes]]:
    """Reassemble the plaintext (epoch 0) handshake messages in a list of datagrams."""
    reassembler = Reassembler()
    frags: list[Fragment] = []
    for d in datagrams:
        records, _ = parse_records(d)
        for r in records:
            if r.content_type == ContentType.HANDSHAKE and r.epoch == 0:
                frags.extend(parse_fragments(r.fragment))
    if frags:
        reassembler.reset(min(f.message_seq for f in frags))
    for f in frags:
        reassembler.add(f)
    out = []
    while (m := reassembler.pop()) is not None:
        out.append((m[0], m[2]))
    return out
