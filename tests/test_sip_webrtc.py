"""WebRTC-style SIP calls (RFC 5763/8842): a PeerConnection's offer and answer carried by
two of our SipPhones, ICE + DTLS-SRTP, G.711 audio both ways."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.aio.sip import SipCallError, SipPhone
from pyrtcstack.aio.sip_media import (
    accept_reinvites,
    answer_with_peerconnection,
    call_with_peerconnection,
    restart_ice,
)
from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import Settings

pytestmark = pytest.mark.interop

LOOPBACK = Settings(host_addresses=["127.0.0.1"])


async def _inbound_packets(pc: PeerConnection) -> int:
    report = await pc.get_stats()
    return sum(int(s.get("packetsReceived", 0)) for s in report.values()
               if s.get("type") == "inbound-rtp")  # fmt: skip


async def _call_between_two_agents() -> tuple[list[Any], list[Any], int, int]:
    alice = await SipPhone.open(user="alice")
    bob = await SipPhone.open(user="bob")
    pa, pb = PeerConnection(settings=LOOPBACK), PeerConnection(settings=LOOPBACK)
    pa.add_track(G711Track(ToneSource(440)))
    pb.add_track(G711Track(ToneSource(660)))
    got_a: list[Any] = []
    got_b: list[Any] = []
    pa.on("track", got_a.append)
    pb.on("track", got_b.append)

    async def callee() -> None:
        await answer_with_peerconnection(bob, pb, await bob.incoming())

    task = asyncio.ensure_future(callee())
    try:
        call_id = await call_with_peerconnection(
            alice, pa, f"sip:bob@{bob.local[0]}:{bob.local[1]}", bob.local
        )
        await task
        await pa.wait_connection_state("connected")
        await pb.wait_connection_state("connected")
        for _ in range(100):
            if (
                got_a
                and got_b
                and got_a[0].frames_received >= 25
                and got_b[0].frames_received >= 25
            ):
                break
            await asyncio.sleep(0.05)
        packets = await _inbound_packets(pa), await _inbound_packets(pb)
        await alice.hang_up(call_id)
        assert await bob.wait_ended(call_id)
        return got_a, got_b, *packets
    finally:
        task.cancel()
        await pa.close()
        await pb.close()
        alice.close()
        bob.close()


def test_call_carries_ice_dtls_srtp_and_audio_both_ways() -> None:
    got_a, got_b, packets_a, packets_b = asyncio.run(_call_between_two_agents())
    assert got_a and got_b
    assert got_a[0].frames_received >= 25 and got_b[0].frames_received >= 25
    assert packets_a >= 25 and packets_b >= 25  # SRTP received and decrypted


async def _offerless_and_garbage() -> None:
    alice = await SipPhone.open(user="alice")
    bob = await SipPhone.open(user="bob")
    pb = PeerConnection(settings=LOOPBACK)
    try:
        for offer in (None, b"v=0\r\nnot an sdp\r\n"):
            caller = asyncio.ensure_future(
                alice.call(f"sip:bob@{bob.local[0]}:{bob.local[1]}", bob.local, offer)
            )
            with pytest.raises(SipCallError) as answered:
                await answer_with_peerconnection(bob, pb, await bob.incoming())
            assert answered.value.status == 488
            with pytest.raises(SipCallError) as failed:
                await caller
            assert failed.value.status == 488
    finally:
        await pb.close()
        alice.close()
        bob.close()


def test_offers_a_peerconnection_cannot_answer_get_488() -> None:
    asyncio.run(_offerless_and_garbage())


async def _restart_in_a_call() -> tuple[int, int, str, str]:
    alice = await SipPhone.open(user="alice")
    bob = await SipPhone.open(user="bob")
    pa, pb = PeerConnection(settings=LOOPBACK), PeerConnection(settings=LOOPBACK)
    pa.add_track(G711Track(ToneSource(440)))
    pb.add_track(G711Track(ToneSource(660)))
    got_b: list[Any] = []
    pb.on("track", got_b.append)

    async def callee() -> str:
        call = await bob.incoming()
        await answer_with_peerconnection(bob, pb, call)
        accept_reinvites(bob, pb, call.call_id)
        return call.call_id

    task = asyncio.ensure_future(callee())
    try:
        call_id = await call_with_peerconnection(
            alice, pa, f"sip:bob@{bob.local[0]}:{bob.local[1]}", bob.local
        )
        await task
        await pb.wait_connection_state("connected")
        assert pb.remote_description is not None
        assert pa.remote_description is not None
        ufrag_before = pb.remote_description.sdp.split("a=ice-ufrag:")[1].split()[0]
        answer_before = pa.remote_description.sdp.split("a=ice-ufrag:")[1].split()[0]
        await restart_ice(alice, pa, call_id)
        # the caller applied the callee's restarted answer too (new ufrag both ways)
        assert pa.remote_description.sdp.split("a=ice-ufrag:")[1].split()[0] != answer_before
        await pa.wait_connection_state("connected")
        before = got_b[0].frames_received
        for _ in range(100):
            if got_b[0].frames_received - before >= 25:
                break
            await asyncio.sleep(0.05)
        ufrag_after = pb.remote_description.sdp.split("a=ice-ufrag:")[1].split()[0]
        after = got_b[0].frames_received
        await alice.hang_up(call_id)
        return before, after, ufrag_before, ufrag_after
    finally:
        task.cancel()
        await pa.close()
        await pb.close()
        alice.close()
        bob.close()


def test_ice_restart_by_reinvite_and_media_goes_on() -> None:
    before, after, ufrag_before, ufrag_after = asyncio.run(_restart_in_a_call())
    assert ufrag_after != ufrag_before  # the callee applied the restarted offer
    assert after - before >= 25  # audio kept arriving after the restart
