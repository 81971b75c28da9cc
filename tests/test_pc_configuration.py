"""getConfiguration / setConfiguration (webrtc-pc §4.4.1.6 "set a configuration"): what
cannot change raises InvalidModificationError; new ICE servers and a new transport policy
are not used until the next gathering phase, an ICE restart (JSEP §3.5.1), which then
gathers from them. The restart case runs through coturn (TURN over TCP) on loopback."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from pyrtcstack.dtls import DtlsCertificate
from pyrtcstack.peerconnection import (
    Configuration,
    ConfigurationError,
    Description,
    IceServer,
    InvalidModificationError,
    InvalidStateError,
    PeerConnectionCore,
)
from tests.pc_harness import WAIT, Ours, connect, wait_open
from tests.test_pc_turn_streams import Coturn, coturn  # noqa: F401  (the fixture)


def test_set_configuration_refuses_what_cannot_change() -> None:
    cert = DtlsCertificate.generate(random.Random(1))
    pc = PeerConnectionCore(Configuration(certificates=[cert]), rng=random.Random(2))
    assert pc.certificate is cert
    with pytest.raises(InvalidModificationError):
        pc.set_configuration(
            Configuration(certificates=[DtlsCertificate.generate(random.Random(3))])
        )
    with pytest.raises(InvalidModificationError):
        pc.set_configuration(Configuration(bundle_policy="balanced"))
    with pytest.raises(ConfigurationError):  # W3C InvalidAccessError: TURN needs both
        pc.set_configuration(Configuration(ice_servers=[IceServer("turn:127.0.0.1")]))
    with pytest.raises(ConfigurationError):  # W3C SyntaxError / NotSupportedError
        pc.set_configuration(Configuration(ice_servers=[IceServer("http://127.0.0.1")]))
    with pytest.raises(ConfigurationError):
        pc.set_configuration(Configuration(ice_transport_policy="nohost"))
    # the candidate pool size may change until a local description is set
    pc.set_configuration(Configuration(ice_candidate_pool_size=2))
    assert pc.configuration.ice_candidate_pool_size == 2
    # allowed: servers and policy; the certificates stay those of the construction
    new = Configuration(
        ice_servers=[IceServer("stun:127.0.0.1:3478")], ice_transport_policy="relay"
    )
    new.ice_candidate_pool_size = 2
    pc.set_configuration(new)
    assert pc.configuration is new and new.certificates == [cert]
    assert pc.certificate is cert
    assert new.to_dict()["iceTransportPolicy"] == "relay"
    pc.create_data_channel("x")
    pc.set_local_description(pc.create_offer(0.0), 0.0)
    with pytest.raises(InvalidModificationError):
        pc.set_configuration(Configuration(ice_candidate_pool_size=0))
    # the same certificates given again are no change
    pc.set_configuration(
        Configuration(certificates=[cert], ice_candidate_pool_size=2, ice_transport_policy="all")
    )
    pc.close(0.0)
    with pytest.raises(InvalidStateError):
        pc.set_configuration(Configuration())


def test_new_policy_waits_for_the_next_gathering_phase() -> None:
    """setConfiguration does not touch the running agent; the restart applies it."""
    a = PeerConnectionCore(rng=random.Random(5))
    b = PeerConnectionCore(rng=random.Random(6))
    a.create_data_channel("x")
    a.set_local_description(a.create_offer(0.0), 0.0)
    a.gather([("127.0.0.1", 40000)], 0.0)
    b.set_remote_description(a.local_description, 0.0)  # type: ignore[arg-type]
    b.set_local_description(b.create_answer(0.0), 0.0)
    b.gather([("127.0.0.1", 40002)], 0.0)
    a.set_remote_description(b.local_description, 0.0)  # type: ignore[arg-type]
    agent = a.agent
    assert agent is not None
    assert agent.config.relay_only is False
    a.set_configuration(Configuration(ice_transport_policy="relay"))
    assert [agent.config.relay_only] == [False]  # not yet
    a.set_local_description(a.create_offer(0.0, ice_restart=True), 0.0)
    assert [agent.config.relay_only] == [True]  # the restart is the next gathering phase
    while a.next_event() is not None:
        pass
    local = a.local_description
    assert local is not None and " typ host" not in local.sdp  # relay only: no host
    a.set_local_description(Description("rollback"), 0.0)


def test_ice_servers_added_later_are_used_at_the_ice_restart(coturn: Coturn) -> None:  # noqa: F811
    """Two peers connect host to host without any server. Then one is given a TURN
    server (over TCP) and the relay policy: nothing happens until restartIce; the restart
    gathers a relayed candidate from the new server and the new selected pair goes
    through it, while a message every 10 ms keeps arriving in order."""

    async def main() -> None:
        a, b = Ours(), Ours()
        try:
            chan = a.channel("m")
            got: list[Any] = []
            b.on_datachannel(lambda ch: ch.on("message", got.append))
            await connect(a, b)
            await wait_open(chan)
            candidates: list[Any] = []
            a.pc.on("icecandidate", candidates.append)
            a.pc.set_configuration(
                Configuration(
                    ice_servers=[
                        IceServer(f"turn:127.0.0.1:{coturn.port}?transport=tcp", "user", "pass")
                    ],
                    ice_transport_policy="relay",
                )
            )
            await asyncio.sleep(0.2)
            assert candidates == [] and a.pc.turn_streams == []
            assert a.pc.ice_gathering_state == "complete"
            sent = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal sent
                while not stop.is_set() and chan.ready_state == "open":
                    chan.send(f"t{sent}")
                    sent += 1
                    await asyncio.sleep(0.01)

            task = asyncio.ensure_future(ticker())
            a.pc.restart_ice()
            await connect(a, b)
            local = a.pc.local_description
            assert local is not None
            lines = [ln for ln in local.sdp.splitlines() if ln.startswith("a=candidate")]
            assert lines and all(" typ relay " in ln for ln in lines)
            assert len(a.pc.turn_streams) == 1

            async def relayed() -> bool:
                stats = await a.pc.get_stats()
                pair_id = stats["T01"].get("selectedCandidatePairId")
                if pair_id is None:
                    return False
                cand = stats[stats[pair_id]["localCandidateId"]]
                agent = a.pc.core.agent
                return bool(
                    cand["candidateType"] == "relay"
                    and cand.get("relayProtocol") == "tcp"
                    and agent is not None
                    and agent.previous is None
                )

            async with asyncio.timeout(WAIT):
                while not await relayed():
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            stop.set()
            await task
            async with asyncio.timeout(WAIT):
                while len(got) < sent:
                    await asyncio.sleep(0.02)
            assert got == [f"t{i}" for i in range(sent)]
            assert a.pc.get_configuration().ice_transport_policy == "relay"
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
