"""A clean setup with every real peer of the matrix, in both roles where the peer has
them: set up a data channel connection, move a little data each way, and our side has
retransmitted nothing and dropped nothing (:mod:`pyrtcstack.interop.audit`) beyond the
peer's documented allowance (``audit.ALLOWANCES``; docs/interop.md, "A clean setup").

Pion 3.1.56 once set up every connection through one T1-init expiry of ours (our INIT's
Zero Checksum Acceptable, which it cannot parse) and Chromium through one DTLS flight
retransmission (our flight answering its early ClientHello dropped for want of a valid
pair): both passed every functional check, and only these counters show them. Where the
peer's side can be read (Pion's and GStreamer's debug logs, Janus's log), its own
handshake is checked too (:func:`_check_peer_side`).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pyrtcstack.interop import PeerUnavailableError, run_launch
from pyrtcstack.interop.audit import ALLOWANCES, anomalies, setup_counters
from pyrtcstack.interop.launchers import find_peer
from pyrtcstack.interop.matrix import Launch, format_table
from pyrtcstack.interop.scenarios import scenario_spec
from tests.pc_harness import Aiortc, Ours, connect, wait_open
from tests.peers import PROJECT, peer_missing, require_binary, require_module
from tests.test_janus_interop import one_address

pytestmark = [pytest.mark.interop, pytest.mark.timeout(240)]

sys.path.insert(0, str(PROJECT / "bench"))

#: The harness's peers and the roles each takes (Janus's echotest only answers).
HARNESS_PEERS = ("werift", "pion", "gstreamer", "chromium", "firefox", "janus")


def _specs(peer: str) -> list[dict[str, Any]]:
    if peer == "janus":
        return [scenario_spec("echotest", "we-offer", trickle=t) for t in (False, True)]
    return [
        scenario_spec("dc", role, trickle=trickle)
        for trickle in (False, True)
        for role in ("we-offer", "peer-offers")
    ]


def _assert_clean(peer: str, rows: list[tuple[str, dict[str, int] | None]]) -> None:
    """Every row set up (counters recorded) and clean beyond ``peer``'s allowance."""
    problems = {}
    for name, counters in rows:
        if counters is None:
            problems[name] = "never set up"
        elif bad := anomalies(counters, peer):
            problems[name] = str(bad)
    allowance = ALLOWANCES.get(peer, {})
    assert not problems, f"{peer} (allowance {allowance}): {problems}"


#: What each peer logs of its own side of the setup, where it can say (its environment).
PEER_LOGGING = {
    # pion/logging: SCTP at debug level, its association's state changes among it
    "pion": {"PION_LOG_DEBUG": "sctp"},
    # GStreamer: its DTLS elements at INFO ("handshake just completed successfully")
    "gstreamer": {"GST_DEBUG": "dtls*:4", "GST_DEBUG_NO_COLOR": "1"},
}


def _check_peer_side(peer: str, log: str, associations: int) -> None:
    """The peer's own handshake took its normal path, as its log shows."""
    if peer == "pion":
        # pion/sctp's own INIT got our INIT ACK and it echoed the cookie: Pion set up
        # through its handshake, not only through ours (with Zero Checksum Acceptable in
        # our INIT ACK it could not parse it and went 'CookieWait' => 'Established' on
        # our COOKIE ECHO, its ssthresh left at 0; docs/interop.md, Pion quirks).
        echoed = log.count("state change: 'CookieWait' => 'CookieEchoed'")
        assert echoed == associations, log[-3000:]
        assert "'CookieWait' => 'Established'" not in log
        # pion/sctp 1.8 cannot parse our INIT's Zero Checksum Acceptable: at most our one
        # INIT per association is dropped (we cannot know the peer before its INIT).
        assert log.count("unable to parse SCTP packet") <= associations
    elif peer == "gstreamer":
        done = log.count("handshake just completed successfully")
        assert done == associations, log[-3000:]
        bad = re.findall(r"(?m)^.* (?:WARN|ERROR) +dtls\w*.*$", log)
        assert not bad, bad
    elif peer == "janus":
        # Janus's log (debug level 4): every DTLS handshake completed, no warning or
        # error about ICE, DTLS or SCTP.
        done = log.count("The DTLS handshake has been completed")
        assert done == associations, log[-3000:]
        bad = re.findall(r"(?im)^.*\[(?:WARN|ERR)\].*(?:dtls|sctp|ice|alert).*$", log)
        assert not bad, bad


@pytest.mark.parametrize("peer", HARNESS_PEERS)
def test_clean_setup_with_harness_peer(peer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        find_peer(peer)
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    log_dir = tempfile.mkdtemp(prefix=f"pyrtcstack-clean-{peer}-")
    for name, value in PEER_LOGGING.get(peer, {}).items():
        monkeypatch.setenv(name, value)

    async def main() -> list[Any]:
        return await run_launch(Launch(peer, _specs(peer)), log_dir=log_dir)

    if peer == "janus":
        require_binary("ip", "iproute2")
        with one_address():
            results = asyncio.run(main())
    else:
        results = asyncio.run(main())
    table = format_table(results)
    assert all(r.ok for r in results), f"{table}\nlogs: {log_dir}"
    _assert_clean(
        peer,
        [(f"{r.role}{'' if r.trickle else ' (no trickle)'}", r.setup_counters) for r in results],
    )
    log = "\n".join(p.read_text(errors="replace") for p in Path(log_dir).glob("*.log"))
    _check_peer_side(peer, log, len(results))


async def _aiortc_in_process(aiortc: Any, we_offer: bool) -> dict[str, int]:
    ours, theirs = Ours(), Aiortc(aiortc)
    offerer, answerer = (ours, theirs) if we_offer else (theirs, ours)
    try:
        chat = offerer.channel("chat")
        got: asyncio.Queue[Any] = asyncio.Queue()
        chat.on("message", got.put_nowait)

        def on_datachannel(channel: Any) -> None:  # the answerer echoes
            channel.on("message", channel.send)

        answerer.on_datachannel(on_datachannel)
        await connect(offerer, answerer)
        await wait_open(chat)
        for message in ("hello", b"\x00" * 1200, "x" * 1000):
            chat.send(message)
            assert await asyncio.wait_for(got.get(), 10) == message
        return setup_counters(ours.pc)
    finally:
        await ours.close()
        await theirs.close()


@pytest.mark.parametrize("we_offer", [True, False], ids=["we-offer", "aiortc-offers"])
def test_clean_setup_with_aiortc_in_process(
    monkeypatch: pytest.MonkeyPatch, we_offer: bool
) -> None:
    aiortc = require_module("aiortc")
    aioice = require_module("aioice")
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    counters = asyncio.run(_aiortc_in_process(aiortc, we_offer))
    _assert_clean("aiortc", [("we-offer" if we_offer else "aiortc-offers", counters)])


def test_clean_setup_with_aiortc_in_its_own_process() -> None:
    """aiortc in a child process (bench_interop's): we offer, 240,000 bytes to it, its answer."""
    require_module("aiortc")
    import bench_interop_link as link
    from bench_interop_peers import AiortcChild

    async def main() -> dict[str, int]:
        remote = AiortcChild()
        await remote.start()
        side = link.Side("ours", "aiortc")
        try:
            await side.connect(remote)
            sample = await side.send(remote, 200 * 1200, 1200)
            assert sample.rate > 0
            return setup_counters(side.pc)
        finally:
            await side.close()
            await remote.end_link()
            await remote.close()

    _assert_clean("aiortc", [("we-offer, own process", asyncio.run(main()))])
