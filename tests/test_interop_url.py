"""``pyrtcstack interop URL``: the harness as the client of a remote endpoint.

Two real endpoints, each its own process on loopback: ``pyrtcstack interop --endpoint``
(our PeerConnection serving the protocol, as a second machine would) and
``examples/interop_endpoint_aiortc.py`` (aiortc, written from docs/interop.md alone).
Both must pass every scenario their hello announces. Plus the protocol's edges: a server
that is not an endpoint, an unreachable one, bad requests to our endpoint.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pyrtcstack.cli import main
from pyrtcstack.interop.endpoint import Endpoint
from pyrtcstack.interop.httpserver import HttpServer, Request, Response
from pyrtcstack.interop.remote import PROTOCOL, EndpointError, http_json, plan_for, run_url
from tests.peers import PROJECT, free_tcp_port, require_binary, require_module

pytestmark = pytest.mark.timeout(240)

#: Seconds for an endpoint process to print its URL (a loaded 2-core machine).
START_TIMEOUT = 60


def _start_endpoint(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=PROJECT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    # readline blocks; the pytest timeout bounds it, and a dead process gives "".
    line = proc.stdout.readline()
    if not line.startswith("endpoint: "):
        _stop(proc)
        pytest.fail(f"endpoint did not start: {line!r}")
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def our_endpoint() -> Iterator[str]:
    proc, url = _start_endpoint([sys.executable, "-m", "pyrtcstack", "interop", "--endpoint"])
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def aiortc_endpoint() -> Iterator[str]:
    require_module("aiortc")
    script = str(PROJECT / "examples" / "interop_endpoint_aiortc.py")
    proc, url = _start_endpoint([sys.executable, script, "--loopback"])
    try:
        yield url
    finally:
        _stop(proc)


def _table_counts(out: str) -> tuple[int, int]:
    last = [line for line in out.splitlines() if " passed, " in line][-1]
    passed, _, rest = last.partition(" passed, ")
    return int(passed), int(rest.split()[0])


@pytest.mark.interop
def test_interop_url_against_our_endpoint_process(
    our_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two pyrtcstack processes test each other: both roles, trickle + ICE restart and
    non-trickle + PCMU both ways, every data channel check."""
    assert main(["interop", our_endpoint]) == 0
    out = capsys.readouterr().out
    print(out)
    passed, failed = _table_counts(out)
    assert failed == 0, out
    assert passed >= 4 * 13 + 2, out  # 13 checks per scenario, + ice-restart in two
    assert out.count("pyrtcstack 0.1.0.dev0  ") == 4, out  # one row per scenario
    assert "we-offer (no trickle)" in out and "peer-offers (no trickle)" in out
    assert "ice-restart" in out and "audio-to-peer" in out
    assert "peer logs" not in out  # nothing was launched locally


@pytest.mark.interop
def test_interop_url_against_the_aiortc_reference_endpoint(
    aiortc_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """aiortc announces no trickle and no restart: the two non-trickle scenarios, both
    roles, with PCMU audio both ways."""
    assert main(["interop", aiortc_endpoint]) == 0
    out = capsys.readouterr().out
    print(out)
    passed, failed = _table_counts(out)
    assert failed == 0 and passed >= 2 * 14, out
    assert "aiortc " in out and "(no trickle)" in out and "ice-restart" not in out


@pytest.mark.interop
def test_interop_url_relay_scenarios_through_coturn(our_endpoint: str) -> None:
    """With a TURN server and ``relay`` in the hello, two more scenarios force the endpoint
    to iceTransportPolicy "relay" through coturn on loopback: its selected local candidate
    must be a relay one."""
    require_binary("turnserver", "coturn")
    from pyrtcstack.interop.launchers import start_coturn
    from pyrtcstack.interop.matrix import format_table, summary

    async def scenario() -> list[Any]:
        coturn = await start_coturn()
        try:
            turn = {"urls": coturn.url, "username": coturn.user, "credential": coturn.password}
            return await run_url(our_endpoint, turn=turn)
        finally:
            await coturn.stop()

    results = asyncio.run(asyncio.wait_for(scenario(), 180))
    table = format_table(results)
    print(table)
    passed, failed = summary(results)
    assert failed == 0 and passed >= 6 * 12, table
    relayed = [r for r in results if r.name == "dc+turn"]
    assert [r.role for r in relayed] == ["we-offer", "peer-offers"], table
    for r in relayed:
        assert [c.ok for c in r.checks if c.name == "turn-relay"] == [True], table


def test_plan_for_follows_the_capabilities() -> None:
    full = {"offer": True, "answer": True, "trickle": True, "restart": True, "audio": True}
    plans = plan_for(full)
    assert [(p["role"], p["trickle"], p["restart"], p["audio"]) for p in plans] == [
        ("we-offer", True, True, False),
        ("we-offer", False, False, True),
        ("peer-offers", True, True, False),
        ("peer-offers", False, False, True),
    ]
    assert [p["role"] for p in plan_for({"answer": True})] == ["we-offer"]
    assert [p["name"] for p in plan_for({"offer": True, "trickle": True})] == ["dc", "dc"]
    assert plan_for({}) == []
    turn = {"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "p"}
    assert len(plan_for(full, turn)) == 4  # no "relay" in the hello
    relayed = [p for p in plan_for({**full, "relay": True}, turn) if p["relay"]]
    assert [p["role"] for p in relayed] == ["we-offer", "peer-offers"]
    assert relayed[0]["pcConfig"] == {"iceServers": [turn], "iceTransportPolicy": "relay"}


def test_a_server_that_is_not_an_endpoint_is_refused() -> None:
    async def handler(request: Request) -> Response:
        return Response.json({"protocol": "something-else"})

    async def scenario() -> None:
        server = HttpServer(handler)
        url = await server.start()
        try:
            with pytest.raises(EndpointError, match=PROTOCOL):
                await run_url(url)
        finally:
            await server.close()
        with pytest.raises(EndpointError):
            await run_url(f"http://127.0.0.1:{free_tcp_port()}/")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_interop_command_fails_cleanly_on_an_unreachable_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["interop", f"http://127.0.0.1:{free_tcp_port()}/"]) == 1
    assert "http://127.0.0.1:" in capsys.readouterr().err


def test_our_endpoint_refuses_bad_requests() -> None:
    async def scenario() -> None:
        endpoint = Endpoint()
        url = await endpoint.start()
        try:
            hello: dict[str, Any] = await http_json("GET", url)
            assert hello["protocol"] == PROTOCOL and hello["offer"] and hello["answer"]
            for body in ({"role": "sideways"}, [1, 2], None):
                with pytest.raises(EndpointError, match="HTTP 400"):
                    await http_json("POST", url + "scenarios", body)
            with pytest.raises(EndpointError, match="HTTP 404"):
                await http_json("GET", url + "scenarios/nope/messages?after=0")
            with pytest.raises(EndpointError, match="HTTP 404"):
                await http_json("GET", url + "elsewhere")
            # A scenario ends on "end": the endpoint then posts "ended".
            sid = (await http_json("POST", url + "scenarios", plan_for({"answer": True})[0]))["id"]
            with pytest.raises(EndpointError, match="HTTP 400"):
                await http_json("POST", url + f"scenarios/{sid}/messages", {"no": "kind"})
            await http_json("POST", url + f"scenarios/{sid}/messages", {"kind": "end"})
            kinds: list[str] = []
            after = 0
            while "ended" not in kinds:
                got = await http_json("GET", url + f"scenarios/{sid}/messages?after={after}")
                for message in got["messages"]:
                    kinds.append(message["kind"])
                    after = message["seq"]
            assert kinds[-1] == "ended"
            # A spec the endpoint cannot use ends the scenario with an error, not silence.
            spec = {**plan_for({"answer": True})[0], "timeoutMs": "soon"}
            sid = (await http_json("POST", url + "scenarios", spec))["id"]
            got: dict[str, Any] = {"messages": []}
            while not got["messages"] or got["messages"][-1]["kind"] != "ended":
                got = await http_json("GET", url + f"scenarios/{sid}/messages?after=0")
            assert [m["kind"] for m in got["messages"]] == ["error", "ended"]
        finally:
            await endpoint.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_help_shows_the_url_endpoint_and_browser_forms(capsys: pytest.CaptureFixture[str]) -> None:
    expected = {
        "interop": ["PEER|URL", "--endpoint", "--serve", "http://HOST:PORT/"],
        "send": ["--browser", "--window", "crypto.subtle", "bufferedamountlow"],
        "receive": ["--browser", "pick a file", "SHA-256"],
    }
    for command, words in expected.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        for word in words:
            assert word in text, (command, word)
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "or an endpoint URL; or serve as an endpoint" in top
    assert "send a file over a data channel (room, copy-paste or browser page)" in top
