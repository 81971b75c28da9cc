"""TURN over TCP and TLS through the peer connection (RFC 8656 §3.1: ``turn:...?transport
=tcp`` and ``turns:``), with ``ice_transport_policy="relay"``, against coturn on loopback
with a certificate made for the test: our two peers and ours with aiortc, a data channel
and PCMU audio both ways through the relays. Also the ranking of relayed candidates by
the transport to the server (RFC 8445 §5.1.2.1: UDP > TCP > TLS) and that ``turns:``
verifies the server unless told otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import Configuration, IceServer, Settings
from tests.pc_harness import WAIT, Aiortc, Ours, connect, wait_open
from tests.peers import free_tcp_port, free_udp_port, require_binary, require_module

pytestmark = pytest.mark.interop


@dataclass
class Coturn:
    port: int  # UDP and TCP
    tls_port: int
    ca_file: str  # the server's self-signed certificate, for 127.0.0.1


def _port_free_for_tcp_and_udp() -> int:
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    """coturn on 127.0.0.1 with UDP, TCP and TLS listeners (INTEROP.md §1)."""
    turnserver = require_binary("turnserver", "coturn")
    openssl = require_binary("openssl", "openssl")
    tmp = tmp_path_factory.mktemp("coturn")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    # coturn also listens on port + 1 and tls_port + 1 (its "alternative" ports)
    port, tls_port = _port_free_for_tcp_and_udp(), free_tcp_port()
    while abs(tls_port - port) <= 1:
        tls_port = free_tcp_port()
    base = random.Random().randrange(20000, 60000, 100)
    log = tmp / "turnserver.log"
    cmd = [
        turnserver, "-n", "--no-cli", "--no-dtls", "-L", "127.0.0.1", "--relay-ip", "127.0.0.1",
        "--listening-port", str(port), "--tls-listening-port", str(tls_port),
        "--cert", str(cert), "--pkey", str(key), "--allow-loopback-peers",
        "-a", "-u", "user:pass", "-r", "pyrtcstack", "--userdb", str(tmp / "turndb"),
        "--pidfile", str(tmp / "turn.pid"), "--log-file", "stdout", "--simple-log",
        "--min-port", str(base), "--max-port", str(base + 99), "--relay-threads", "1",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        binding = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
        deadline = time.monotonic() + 10
        ready = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            while not ready and time.monotonic() < deadline and proc.poll() is None:
                s.sendto(binding, ("127.0.0.1", port))
                with contextlib.suppress(OSError):
                    s.recvfrom(2048)
                    ready = True
        while ready and time.monotonic() < deadline and proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", tls_port), 0.2),
            ):
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"coturn not ready in 10 s: {log.read_text()[-2000:]}")
        yield Coturn(port, tls_port, str(cert))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _url(coturn: Coturn, transport: str) -> str:
    if transport == "tls":
        return f"turns:127.0.0.1:{coturn.tls_port}"
    return f"turn:127.0.0.1:{coturn.port}?transport={transport}"


def _relay_side(coturn: Coturn, transport: str) -> Ours:
    config = Configuration(
        ice_servers=[IceServer(_url(coturn, transport), "user", "pass")],
        ice_transport_policy="relay",
    )
    return Ours(config, Settings(host_addresses=["127.0.0.1"], turn_tls_ca_file=coturn.ca_file))


async def _count_frames(track: Any, counter: list[int]) -> None:
    while True:
        try:
            await track.recv()
        except Exception:  # aiortc's MediaStreamError when the call ends
            return
        counter[0] += 1


async def _call(offerer: Any, answerer: Any, relayed: list[Ours], transport: str) -> None:
    """A data channel exchange and PCMU both ways (>= 50 frames each way) through the
    relays; checks that only relayed candidates were signalled and selected, over the
    expected transport to the server."""
    from aiortc.mediastreams import AudioStreamTrack

    received: list[Any] = []  # per side: its remote track, or a frame counter for aiortc
    tasks: list[asyncio.Future[None]] = []
    for side in (offerer, answerer):
        if isinstance(side, Ours):
            side.pc.add_track(G711Track(ToneSource(440 if side is offerer else 660)))
            side.pc.on("track", received.append)
        else:
            counter = [0]
            received.append(counter)
            side.pc.addTrack(AudioStreamTrack())
            side.pc.on(
                "track",
                lambda t, c=counter: tasks.append(asyncio.ensure_future(_count_frames(t, c))),
            )

    def frames(r: Any) -> int:
        return int(r[0]) if isinstance(r, list) else int(r.frames_received)

    got: list[Any] = []
    arrived = asyncio.Event()

    def on_dc(channel: Any) -> None:
        channel.on("message", channel.send)

    answerer.on_datachannel(on_dc)
    chat = offerer.channel("relay")

    def on_echo(m: Any) -> None:
        got.append(m)
        if len(got) == 100:
            arrived.set()

    chat.on("message", on_echo)
    try:
        await connect(offerer, answerer)
        for side in relayed:
            assert side.pc.local_description is not None
            cands = [
                ln
                for ln in side.pc.local_description.sdp.splitlines()
                if ln.startswith("a=candidate")
            ]
            assert cands and all(" typ relay " in c for c in cands)
        await wait_open(chat)
        for i in range(100):
            chat.send(f"r{i}")
        await asyncio.wait_for(arrived.wait(), WAIT)
        assert got == [f"r{i}" for i in range(100)]
        async with asyncio.timeout(WAIT):
            while not (len(received) == 2 and all(frames(r) >= 50 for r in received)):
                await asyncio.sleep(0.05)
        for side in relayed:
            stats = await side.pc.get_stats()
            transport_stats = stats["T01"]
            pair = stats[transport_stats["selectedCandidatePairId"]]
            local = stats[pair["localCandidateId"]]
            assert local["candidateType"] == "relay"
            assert local["relayProtocol"] == transport
            inbound = [s for s in stats.values() if s["type"] == "inbound-rtp"]
            assert inbound and inbound[0]["packetsReceived"] >= 50
            (stream,) = side.pc.turn_streams
            assert stream.connect_errors == 0 and stream.tls is (transport == "tls")
    finally:
        for task in tasks:
            task.cancel()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_relay_over_tcp_and_tls_between_our_peers(coturn: Coturn, transport: str) -> None:
    require_module("aiortc")

    async def main() -> None:
        a, b = _relay_side(coturn, transport), _relay_side(coturn, transport)
        try:
            await _call(a, b, [a, b], transport)
        finally:
            await a.close()
            await b.close()
        assert all(s.closed for s in a.pc.turn_streams + b.pc.turn_streams) or not (
            a.pc.turn_streams or b.pc.turn_streams
        )

    asyncio.run(main())


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_relay_over_tcp_and_tls_with_aiortc(
    coturn: Coturn, transport: str, we_offer: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    aiortc = require_module("aiortc")
    aioice = require_module("aioice")
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])

    async def main() -> None:
        ours, theirs = _relay_side(coturn, transport), Aiortc(aiortc)
        offerer, answerer = (ours, theirs) if we_offer else (theirs, ours)
        try:
            await _call(offerer, answerer, [ours], transport)
        finally:
            await ours.close()
            await theirs.close()

    asyncio.run(main())


def test_relayed_candidates_ranked_by_transport_to_the_server(coturn: Coturn) -> None:
    """One server by UDP, TCP and TLS: three relayed candidates whose priorities follow
    RFC 8445 §5.1.2.1 local preferences UDP > TCP > TLS (STREAM_RELAY_PREFERENCE); the
    stats name each one's relayProtocol."""

    async def main() -> None:
        config = Configuration(
            ice_servers=[
                IceServer([_url(coturn, t) for t in ("tls", "tcp", "udp")], "user", "pass")
            ],
            ice_transport_policy="relay",
        )
        side = Ours(config, Settings(host_addresses=["127.0.0.1"], turn_tls_ca_file=coturn.ca_file))
        try:
            side.pc.create_data_channel("x")
            await side.pc.set_local_description()
            await side.pc.wait_gathering_complete(WAIT)
            stats = await side.pc.get_stats()
            relays = [
                s
                for s in stats.values()
                if s["type"] == "local-candidate" and s["candidateType"] == "relay"
            ]
            ranked = sorted(relays, key=lambda s: -s["priority"])
            assert [s["relayProtocol"] for s in ranked] == ["udp", "tcp", "tls"]
            assert len({s["priority"] >> 24 for s in ranked}) == 1  # same type preference
        finally:
            await side.close()

    asyncio.run(main())


def test_turns_verifies_the_server_unless_told_not_to(coturn: Coturn) -> None:
    """Without the test CA the TLS handshake fails (counted, no relayed candidate over
    TLS); with ``turn_tls_verify=False`` the same server is accepted."""

    async def gather(settings: Settings) -> Ours:
        config = Configuration(
            ice_servers=[IceServer(_url(coturn, "tls"), "user", "pass")],
            ice_transport_policy="relay",
        )
        side = Ours(config, settings)
        side.pc.create_data_channel("x")
        await side.pc.set_local_description()
        return side

    async def main() -> None:
        strict = await gather(Settings(host_addresses=["127.0.0.1"]))
        lax = await gather(Settings(host_addresses=["127.0.0.1"], turn_tls_verify=False))
        try:
            await lax.pc.wait_gathering_complete(WAIT)
            assert lax.pc.local_description is not None
            assert " typ relay " in lax.pc.local_description.sdp
            async with asyncio.timeout(WAIT):
                while not strict.pc.turn_streams[0].connect_errors:
                    await asyncio.sleep(0.02)
            assert strict.pc.local_description is not None
            assert " typ relay " not in strict.pc.local_description.sdp
        finally:
            await strict.close()
            await lax.close()

    asyncio.run(main())


def test_icecandidateerror_names_the_server_url(coturn: Coturn) -> None:
    """Wrong TURN credentials: coturn refuses the allocation (401 after the nonce retry,
    RFC 8656 §7.2 / RFC 8489 §9.2), over UDP and over TCP; each failure is an
    ``icecandidateerror`` with the URL as configured and the STUN error code, and
    gathering still completes."""

    async def main() -> None:
        urls = [_url(coturn, "udp"), _url(coturn, "tcp")]
        config = Configuration(ice_servers=[IceServer(urls, "user", "wrong")])
        side = Ours(config, Settings(host_addresses=["127.0.0.1"]))
        errors: list[Any] = []
        side.pc.on("icecandidateerror", errors.append)
        try:
            side.pc.create_data_channel("x")
            await side.pc.set_local_description()
            await side.pc.wait_gathering_complete(WAIT)
            assert sorted((e.url, e.error_code) for e in errors) == sorted((u, 401) for u in urls)
            assert all(e.error_text for e in errors)
            assert side.pc.core.counters["candidate_errors"] == 2
            assert side.pc.local_description is not None
            assert " typ relay " not in side.pc.local_description.sdp
        finally:
            await side.close()

    asyncio.run(main())
