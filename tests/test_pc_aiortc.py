"""Interop with aiortc's RTCPeerConnection on loopback, both as offerer and answerer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.pc_harness import WAIT, Aiortc, Ours, check_scenario, connect, data_channel_scenario
from tests.peers import require_module

pytestmark = pytest.mark.interop


@pytest.fixture
def aiortc(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = require_module("aiortc")
    aioice = require_module("aioice")
    # INTEROP.md §1: aioice skips loopback when gathering; pin it to 127.0.0.1.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    return module


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
@pytest.mark.parametrize("closer", ["offerer", "answerer"])
def test_data_channels_with_aiortc(aiortc: Any, we_offer: bool, closer: str) -> None:
    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        offerer, answerer = (ours, theirs) if we_offer else (theirs, ours)
        try:
            check_scenario(await data_channel_scenario(offerer, answerer, closer))
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


async def _audio_call(aiortc: Any, we_offer: bool) -> tuple[Ours, Aiortc, list[int], list[Any]]:
    from aiortc.mediastreams import AudioStreamTrack

    from pyrtcstack.media import G711Track, ToneSource
    from pyrtcstack.peerconnection import Description

    ours, theirs = Ours(), Aiortc(aiortc)
    their_frames = [0]
    our_tracks: list[Any] = []
    pullers: list[asyncio.Future[None]] = []

    @theirs.pc.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            while True:
                try:
                    await track.recv()
                except Exception:  # MediaStreamError when the call ends
                    return
                their_frames[0] += 1

        pullers.append(asyncio.ensure_future(pull()))

    ours.pc.on("track", our_tracks.append)
    theirs.pc.addTrack(AudioStreamTrack())
    if we_offer:
        ours.pc.add_track(G711Track(ToneSource(440)))
        await connect(ours, theirs)
    else:
        offer = await theirs.offer()
        await ours.pc.set_remote_description(Description.from_dict(offer))
        ours.pc.add_track(G711Track(ToneSource(440)))  # reuses the offered m=audio
        await ours.pc.set_local_description()
        await ours.pc.wait_gathering_complete()
        assert ours.pc.local_description is not None
        await theirs.accept(ours.pc.local_description.to_dict())
    return ours, theirs, their_frames, our_tracks


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
def test_pcmu_both_ways_with_aiortc(aiortc: Any, we_offer: bool) -> None:
    async def main() -> None:
        ours, theirs, their_frames, our_tracks = await _audio_call(aiortc, we_offer)
        try:
            async with asyncio.timeout(WAIT):
                while not (
                    their_frames[0] >= 50 and our_tracks and our_tracks[0].frames_received >= 50
                ):
                    await asyncio.sleep(0.05)
            stats = await ours.pc.get_stats()
            inbound = [s for s in stats.values() if s["type"] == "inbound-rtp"]
            outbound = [s for s in stats.values() if s["type"] == "outbound-rtp"]
            assert stats[inbound[0]["codecId"]]["mimeType"] == "audio/PCMU"
            assert outbound[0]["packetsSent"] >= 50
            assert ours.pc.core.counters["dropped_srtp"] == 0
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


@pytest.mark.parametrize("closer", ["ours", "aiortc"])
def test_close_from_either_side_with_aiortc(aiortc: Any, closer: str) -> None:
    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        channel = ours.channel("bye")
        their_state: list[str] = []
        theirs.pc.on("connectionstatechange", lambda: their_state.append(theirs.pc.connectionState))
        try:
            await connect(ours, theirs)
            await channel.wait_open(WAIT)
            if closer == "ours":
                await ours.close()
                assert ours.pc.connection_state == "closed"
                async with asyncio.timeout(WAIT):
                    while theirs.pc.sctp is not None and theirs.pc.sctp.transport.state != "closed":
                        await asyncio.sleep(0.05)
            else:
                await theirs.close()
                await ours.pc.wait_dtls_state("closed", timeout=WAIT)
                await channel.wait_closed(WAIT)
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


def test_ice_restart_offer_with_aiortc(aiortc: Any) -> None:
    """Our ICE restart offer (new ufrag/pwd, RFC 8445 §9) is answered by aiortc and the
    data channel keeps working across it. aiortc itself has no ICE restart (its answer keeps
    its own credentials), so this proves our side of the exchange and continuity."""

    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        channel = ours.channel("r")
        echoes: list[str] = []
        got = asyncio.Event()

        def on_dc(c: Any) -> None:
            c.on("message", lambda m: c.send("echo:" + m))

        def on_echo(m: str) -> None:
            echoes.append(m)
            got.set()

        theirs.on_datachannel(on_dc)
        channel.on("message", on_echo)
        try:
            await connect(ours, theirs)
            await channel.wait_open(WAIT)
            channel.send("before")
            await asyncio.wait_for(got.wait(), WAIT)
            got.clear()
            old = ours.pc.core.agent.local_ufrag if ours.pc.core.agent else None
            ours.pc.restart_ice()
            await ours.pc.set_local_description()
            await ours.pc.wait_gathering_complete()
            assert ours.pc.local_description is not None
            assert f"a=ice-ufrag:{old}" not in ours.pc.local_description.sdp
            await ours.accept(await theirs.answer(ours.pc.local_description.to_dict()))
            channel.send("after")
            await asyncio.wait_for(got.wait(), WAIT)
            assert echoes == ["echo:before", "echo:after"]
            assert ours.pc.connection_state == "connected"
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


@pytest.mark.parametrize("size", [16384, 65536])
def test_aiortc_sends_to_us_with_a_sack_every_second_packet(aiortc: Any, size: int) -> None:
    """aiortc's sender (window grown only when full, Max.Burst 4) to our peer connection in
    one process, the case of issue 15 (one SACK per read batch starved it: 0.3 MB/s with
    64 KiB messages). Not timed: the transfer completes, and our SCTP association sent a
    SACK for every second full-sized packet it received (RFC 9260 §6.2), whatever the
    read batches were. The rate is bench/bench_foreign.py's business."""
    count = (4 << 20) // size

    async def main() -> None:
        ours, theirs = Ours(), Aiortc(aiortc)
        done = asyncio.Event()
        received = [0]

        def on_message(message: Any) -> None:
            received[0] += 1
            if received[0] == count:
                done.set()

        ours.on_datachannel(lambda c: c.on("message", on_message))
        try:
            channel = theirs.channel("bulk")
            await connect(theirs, ours)
            opened = asyncio.Event()
            channel.on("open", opened.set)
            if channel.readyState != "open":
                await asyncio.wait_for(opened.wait(), WAIT)
            low = asyncio.Event()
            channel.on("bufferedamountlow", low.set)
            channel.bufferedAmountLowThreshold = 1 << 18
            for _ in range(count):
                if channel.bufferedAmount > 1 << 20:
                    low.clear()
                    await asyncio.wait_for(low.wait(), 120)
                channel.send(bytes(size))
            await asyncio.wait_for(done.wait(), 120)
            stats = ours.pc.core.sctp.association.stats
            # Nearly all packets we received carried DATA; nearly all we sent were SACKs
            # (plus the handshake and DCEP's ACK, a handful). A SACK per two full-sized
            # packets: a message's shorter last fragment counts as its share of one.
            assert stats.packets_received > (4 << 20) // 1200
            assert stats.packets_received <= 2.2 * stats.packets_sent
            # the one path (issue 16): every SCTP packet came out of a DTLS record that
            # receive_datagrams took from the socket, handed up by take_application_data
            # (nothing left behind, nothing dropped at its bound)
            core = ours.pc.core
            assert core.counters["dtls_records_received"] >= stats.packets_received
            assert core.dtls.stats.records_received >= stats.packets_received
            assert core.dtls.take_application_data() == []
            assert core.dtls.stats.dropped_plaintext_overflow == 0
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())
