"""Two of our PeerConnections in one process over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.aio.endpoint import CoreTimer, _LoopTimers
from pyrtcstack.aio.peerconnection import EventEmitter, PeerConnection
from pyrtcstack.peerconnection import (
    ALLOWED_CONNECTION_TRANSITIONS,
    ALLOWED_SIGNALING_TRANSITIONS,
    Configuration,
    ConfigurationError,
    Description,
    IceServer,
    Settings,
)
from tests.freed import Watch, collector_off
from tests.pc_harness import WAIT, Ours, check_scenario, connect, data_channel_scenario


@pytest.mark.parametrize("closer", ["offerer", "answerer"])
def test_data_channel_scenario_between_our_peers(closer: str) -> None:
    async def main() -> None:
        offerer, answerer = Ours(), Ours()
        try:
            check_scenario(await data_channel_scenario(offerer, answerer, closer))
        finally:
            await offerer.close()
            await answerer.close()

    asyncio.run(main())


def test_trickle_events_and_close_releases_everything() -> None:
    async def main() -> None:
        a = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        b = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        log: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}
        for name, pc in (("a", a), ("b", b)):
            for ev in ("signalingstatechange", "connectionstatechange"):
                pc.on(ev, lambda state, ev=ev, name=name: log[name].append((ev, state)))
        pending: list[Any] = []

        async def trickle(dst: PeerConnection, cand: Any) -> None:
            await dst.add_ice_candidate(cand)

        a.on("icecandidate", lambda c: pending.append(("b", c)))
        b.on("icecandidate", lambda c: pending.append(("a", c)))
        needed = asyncio.Event()
        a.on("negotiationneeded", needed.set)
        chan = a.create_data_channel("t")
        await asyncio.wait_for(needed.wait(), WAIT)
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await b.set_remote_description(offer)  # no candidates inside: trickled below
        answer = await b.create_answer()
        await b.set_local_description(answer)
        await a.set_remote_description(answer)
        await asyncio.sleep(0)
        for dst, cand in pending:
            await trickle(b if dst == "b" else a, cand)
        await chan.wait_open(WAIT)
        assert await a.wait_connection_state("connected") == "connected"
        sockets = list(a._sockets.values())
        await a.close()
        assert a.connection_state == "closed" and a.signaling_state == "closed"
        assert all(s.closed for s in sockets)
        assert not a._driver._timer.armed  # the one timer handle is released
        await b.wait_dtls_state("closed", timeout=WAIT)
        await b.close()
        for name in ("a", "b"):
            sig = [s for e, s in log[name] if e == "signalingstatechange"]
            for t in zip(["stable", *sig], sig, strict=False):
                assert t in ALLOWED_SIGNALING_TRANSITIONS
            conn = [s for e, s in log[name] if e == "connectionstatechange"]
            for t in zip(["new", *conn], conn, strict=False):
                assert t in ALLOWED_CONNECTION_TRANSITIONS

    asyncio.run(main())


def test_descriptions_json_and_configuration() -> None:
    desc = Description("offer", "v=0\r\n")
    assert Description.from_json(desc.to_json()) == desc
    with pytest.raises(ConfigurationError):
        Configuration(ice_servers=[IceServer("turn:example.org")]).validate()
    with pytest.raises(ConfigurationError):
        Configuration(ice_transport_policy="none").validate()
    config = Configuration(
        ice_servers=[IceServer(["stun:127.0.0.1:3478", "turn:127.0.0.1?transport=udp"], "u", "p")],
        ice_transport_policy="relay",
    )
    config.validate()
    assert config.to_dict()["iceTransportPolicy"] == "relay"

    async def main() -> None:
        pc = PeerConnection()  # no configuration: no STUN server at all
        assert pc.get_configuration().ice_servers == []
        pc.set_configuration(config)
        assert pc.get_configuration().ice_transport_policy == "relay"
        await pc.close()

    asyncio.run(main())


def test_event_emitter_decorator_once_and_coroutines() -> None:
    async def main() -> None:
        em = EventEmitter()
        seen: list[Any] = []

        @em.on("x")
        def first(v: Any) -> None:
            seen.append(("on", v))

        em.once("x", lambda v: seen.append(("once", v)))

        async def later(v: Any) -> None:
            seen.append(("async", v))

        em.on("x", later)
        em.emit("x", 1)
        em.emit("x", 2)
        await asyncio.sleep(0.01)
        em.off("x", first)
        em.emit("x", 3)
        await asyncio.sleep(0.01)
        assert seen == [("on", 1), ("once", 1), ("on", 2), ("async", 1), ("async", 2), ("async", 3)]

    asyncio.run(main())


def test_lazy_top_level_export() -> None:
    code = (
        "import sys, pyrtcstack.sdp\n"
        "assert 'asyncio' not in sys.modules and 'pyrtcstack.ice' not in sys.modules\n"
        "import pyrtcstack\n"
        "assert pyrtcstack.PeerConnection.__name__ == 'PeerConnection'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_restart_ice_between_our_peers() -> None:
    async def main() -> None:
        a, b = Ours(), Ours()
        channel = a.channel("r")
        got: list[Any] = []
        arrived = asyncio.Event()

        def on_dc(c: Any) -> None:
            c.on("message", lambda m: (got.append(m), arrived.set()))

        b.on_datachannel(on_dc)
        needed = asyncio.Event()
        try:
            await connect(a, b)
            await channel.wait_open(WAIT)
            a.pc.on("negotiationneeded", needed.set)
            a.pc.restart_ice()
            await asyncio.wait_for(needed.wait(), WAIT)
            assert a.pc.core.agent is not None
            old = a.pc.core.agent.local_ufrag
            await connect(a, b)
            assert a.pc.core.agent.local_ufrag != old
            assert b.pc.core.agent is not None and b.pc.core.agent.generation.remote_ufrag != old
            channel.send("after restart")
            await asyncio.wait_for(arrived.wait(), WAIT)
            async with asyncio.timeout(WAIT):
                while a.pc.core.agent.generation.selected is None:
                    await asyncio.sleep(0.02)
            assert got == ["after restart"]
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The first python block of docs/peerconnection.md runs as written."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "peerconnection.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/peerconnection.md", "exec"), {"__name__": "__docs__"})
    assert "hello" in capsys.readouterr().out


def test_a_raising_handler_does_not_stall_the_connection() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[Any] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx["exception"]))
        a, b = Ours(), Ours()
        got: list[Any] = []
        arrived = asyncio.Event()

        def bad_handler(*_: Any) -> None:
            raise RuntimeError("application bug")

        def on_dc(channel: Any) -> None:
            channel.on("message", bad_handler)
            channel.on("message", lambda m: (got.append(m), arrived.set()))

        b.on_datachannel(on_dc)
        a.pc.on("connectionstatechange", bad_handler)
        channel = a.channel("x")
        try:
            await connect(a, b)
            await channel.wait_open(WAIT)
            channel.send("one")
            await asyncio.wait_for(arrived.wait(), WAIT)
            arrived.clear()
            channel.send("two")
            await asyncio.wait_for(arrived.wait(), WAIT)
            assert got == ["one", "two"]
            assert reported and all(isinstance(e, RuntimeError) for e in reported)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_a_large_burst_of_sends_starts_leaving_before_the_loop_runs() -> None:
    """Past EAGER_FLUSH_BYTES queued in one go, datagrams leave from within send() (no
    event is delivered there); everything arrives, in order."""
    from pyrtcstack.aio.peerconnection import EAGER_FLUSH_BYTES

    async def main() -> None:
        offerer, answerer = Ours(), Ours()
        a = offerer.pc
        got: list[bytes] = []
        done = asyncio.Event()
        count = 2 * EAGER_FLUSH_BYTES // 4096 + 8

        def on_channel(channel: Any) -> None:
            def on_message(message: Any) -> None:
                got.append(message)
                if len(got) == count:
                    done.set()

            channel.on("message", on_message)

        answerer.on_datachannel(on_channel)
        chan = offerer.channel("burst")
        opened: list[str] = []
        try:
            await connect(offerer, answerer)
            await chan.wait_open(WAIT)
            chan.on("open", lambda: opened.append("again"))  # must not fire from send()
            before = a.datagrams_sent
            small = [bytes([i % 251]) * 4096 for i in range(4)]
            for m in small:  # below the threshold: nothing leaves yet
                chan.send(m)
            assert a.datagrams_sent == before
            for i in range(4, count):
                chan.send(bytes([i % 251]) * 4096)
            assert a.datagrams_sent > before  # sent before the loop ran
            assert got == [] and opened == []
            await asyncio.wait_for(done.wait(), WAIT)
            assert got == [bytes([i % 251]) * 4096 for i in range(count)]
        finally:
            await offerer.close()
            await answerer.close()

    asyncio.run(main())


def test_a_live_channel_keeps_its_peer_connection_alive() -> None:
    # webrtc-pc §4.4.4: "All RTCDataChannel [...] objects that are connected to an
    # RTCPeerConnection have a strong reference to the RTCPeerConnection object". The
    # application's pattern: a function makes the peer connection and its channel and
    # returns the channel only; the signaling (this test) reaches the peer connection
    # weakly, as a registry of sessions might. Until it has sockets nothing else holds
    # it (once "negotiationneeded" fired, no timer either): a collection then must not
    # take it, and the channel must still open and carry data both ways.
    async def main() -> None:
        remote = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        got: list[Any] = []

        def echo_on(ch: Any) -> None:
            def echo(message: Any) -> None:
                got.append(message)
                ch.send(message)

            ch.on("message", echo)

        remote.on("datachannel", echo_on)
        fired = asyncio.Event()

        async def make() -> tuple[Any, weakref.ref[PeerConnection]]:
            pc = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
            channel = pc.create_data_channel("x")
            pc.on("negotiationneeded", fired.set)
            return channel, weakref.ref(pc)

        channel, ref = await make()
        echoed: list[Any] = []
        channel.on("message", echoed.append)
        await asyncio.wait_for(fired.wait(), WAIT)
        await asyncio.sleep(0)
        gc.collect()
        pc = ref()
        assert pc is not None, "the live channel's peer connection was collected"
        await _negotiate(pc, remote)
        del pc
        await channel.wait_open(WAIT)
        gc.collect()
        channel.send("hello")
        async with asyncio.timeout(WAIT):
            while not echoed:
                await asyncio.sleep(0.01)
        assert got == ["hello"] and echoed == ["hello"]
        pc = ref()
        assert pc is not None
        await pc.close()
        await remote.close()

    asyncio.run(main())


async def _negotiate(offerer: PeerConnection, answerer: PeerConnection) -> None:
    """Offer and answer, each complete (gathering waited for, no trickle)."""
    await offerer.set_local_description()
    await offerer.wait_gathering_complete(WAIT)
    assert offerer.local_description is not None
    await answerer.set_remote_description(offerer.local_description)
    await answerer.set_local_description()
    await answerer.wait_gathering_complete(WAIT)
    assert answerer.local_description is not None
    await offerer.set_remote_description(answerer.local_description)


#: Objects of ours that the event loop keeps on purpose, not a cycle of ours: the loop's one
#: heap of deadlines (aio.endpoint) lives as long as the loop, which asyncio's own cycles
#: leave to the collector, and a closed driver's CoreTimer stays in it until its deadline
#: (holding no callback: CoreTimer.close). What they held of ours would still count.
LOOP_KEPT = (CoreTimer, _LoopTimers)


def _watch_pc(watch: Watch, name: str, pc: PeerConnection) -> None:
    """The objects of one peer connection that must go with it."""
    watch.add(name, pc)
    watch.add(f"{name}.core", pc.core)
    watch.add(f"{name}._driver", pc._driver)
    watch.add(f"{name}.core.sctp", pc.core.sctp)
    watch.add(f"{name}.core.sctp.association", pc.core.sctp.association)
    for i, channel in enumerate(pc._channels.values()):
        watch.add(f"{name} channel {i}", channel)
        watch.add(f"{name} channel {i}.channel", channel.channel)


def test_a_closed_peer_connection_is_freed_by_reference_counting() -> None:
    # close() lets go of the reference cycles between the peer connection and its
    # driver (dispatch, a bound method of the peer connection), the driver and its
    # timer (_on_timer), a channel wrapper and its peer connection (the strong reference
    # webrtc-pc §4.4.4 asks for while the channel lives), and a channel and its manager.
    # So nothing of a closed pair waits for the garbage collector (the collector's time
    # on the setup path, and memory held until it runs). With the collector off, each of
    # our objects must be gone as soon as the last reference is dropped; asyncio's own
    # objects are not counted (tests/freed.py).
    watch = Watch()

    async def main() -> None:
        a = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        b = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        received: list[Any] = []
        b.on("datachannel", received.append)
        channel = a.create_data_channel("t")
        await _negotiate(a, b)
        await channel.wait_open(WAIT)
        channel.send("ping")
        while not received:
            await asyncio.sleep(0.01)
        _watch_pc(watch, "a", a)
        _watch_pc(watch, "b", b)
        await a.close()
        await b.close()
        channel.close()  # after close: a no-op, the wrapper let go of its peer connection

    with collector_off():
        asyncio.run(main())
        watch.assert_freed(allow=LOOP_KEPT)


def test_a_peer_connection_closed_unconnected_is_freed_while_its_channel_is_held() -> None:
    # Closed before DTLS came up: the channel, which never opened, is closed too ("close"
    # fires) and lets go of its peer connection, while the application still holds it.
    watch = Watch()

    async def main() -> Any:
        pc = PeerConnection(settings=Settings(host_addresses=["127.0.0.1"]))
        channel = pc.create_data_channel("t")
        await pc.set_local_description()
        _watch_pc(watch, "pc", pc)
        await pc.close()
        return channel

    with collector_off():
        channel = asyncio.run(main())
        assert channel.ready_state == "closed" and channel.has_closed
        # (the core's channel holds its manager, and the manager its association)
        assert watch.survivors() == [
            "pc.core.sctp",
            "pc.core.sctp.association",
            "pc channel 0",
            "pc channel 0.channel",
        ]
        del channel
        watch.assert_freed(allow=LOOP_KEPT)
