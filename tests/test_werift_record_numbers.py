"""werift's DTLS 1.2 Finished reuses a record sequence number (docs/interop.md, werift
quirks): the cause of the one T3 expiry our SCTP had on every connection to werift.

werift sends its Finished in epoch 1 with the sequence number that follows its epoch-0
records (N > 0, where RFC 6347 §4.1 resets it to 0 after the ChangeCipherSpec), then
numbers its application records 1, 2, …: its N-th application record carries N again,
under the same key and so the same AES-GCM nonce. Our replay window (RFC 6347 §4.1.2.6)
has seen N and drops that record; when it holds the SACK of our last DATA chunk, only our
T3 timer brings the acknowledgement. We keep dropping it: a second record under a nonce
already used would let an on-path attacker who saw both forge a record at that number.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from pyrtcstack.dtls import DtlsConnection
from pyrtcstack.dtls.constants import ContentType
from pyrtcstack.dtls.record import parse_records
from pyrtcstack.interop.launchers import PeerUnavailableError, find_peer
from tests.peers import PROJECT, peer_missing

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

sys.path.insert(0, str(PROJECT / "bench"))
import bench_interop  # noqa: E402


def test_werift_finished_and_an_application_record_share_a_sequence_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        find_peer("werift")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    remote = bench_interop.HarnessPeer("werift", 1, [])
    #: (content type, sequence number) of every epoch-1 record werift sent us, in order
    seen: list[tuple[int, int]] = []
    receive = DtlsConnection.receive_datagrams

    def watch(self: DtlsConnection, datagrams: Any, addr: Any, now: float) -> None:
        for datagram in datagrams:
            records, _ = parse_records(datagram)
            seen.extend((r.content_type, r.sequence_number) for r in records if r.epoch == 1)
        receive(self, datagrams, addr, now)

    monkeypatch.setattr(DtlsConnection, "receive_datagrams", watch)  # our one connection

    async def main() -> Any:
        await remote.start()
        side = bench_interop.Side("ours", "werift")
        try:
            await side.connect(remote)
            # werift → us, 96 records or more: past werift's N-th application record
            sample = await side.receive(remote, 96 * 1200, 1200)
            return sample, side.pc.core.dtls.stats
        finally:
            await side.close()
            await remote.end_link()
            await remote.close()

    sample, stats = asyncio.run(main())
    assert sample.failure is None and sample.rate > 0
    assert seen[0][0] == ContentType.HANDSHAKE  # werift's Finished, the first in epoch 1
    finished = seen[0][1]
    assert finished > 0, seen[:3]  # RFC 6347 §4.1 would have 0
    reused = [ctype for ctype, seq in seen[1:] if seq == finished]
    assert reused.count(ContentType.APPLICATION_DATA) == 1, seen[: finished + 2]
    # that record, and nothing else, was dropped (a replay, never decrypted); on a loaded
    # machine werift may also resend its last flight as it was, the Finished's copy a replay
    assert stats.dropped_replay == len(reused), (stats, reused)
    assert stats.dropped_decrypt == stats.dropped_epoch == stats.dropped_malformed == 0, stats
