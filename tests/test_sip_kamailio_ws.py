"""Kamailio's websocket module (Debian ``kamailio-websocket-modules``) as registrar and
proxy between one of our agents on WebSocket (RFC 7118) and one on UDP, inside
``unshare -n`` on loopback. Bob registers over ``ws://`` (his Via and Contact name a
random ``.invalid`` host, §5.2, so Kamailio must remember his connection), Alice over
UDP; Alice calls Bob, Bob hangs up; then Bob calls Alice and Alice hangs up. Every
request to Bob reaches him over the connection he opened. The configuration is
tests/data/sip/kamailio/proxy-ws.cfg."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from peers import peer_missing, require_binary

from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.sip import Request

CONFIG = Path(__file__).parent / "data" / "sip" / "kamailio" / "proxy-ws.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _websocket_module() -> None:
    """The module is a separate Debian package: missing, the test skips (fails in CI)."""
    if not (MODULES / "websocket.so").exists():
        peer_missing("Kamailio's websocket.so not found (Debian kamailio-websocket-modules)")


async def _call(caller: SipPhone, callee: SipPhone, target: str, proxy: tuple[str, int]) -> Request:
    """``caller`` calls ``target`` through the proxy, ``callee`` answers and hangs up;
    the INVITE as the callee saw it."""
    calling = asyncio.ensure_future(caller.call(target, proxy, OFFER, timeout=15))
    incoming = await asyncio.wait_for(callee.incoming(), 15)
    assert incoming.offer == OFFER
    established = asyncio.ensure_future(callee.answer(incoming.call_id, ANSWER, timeout=15))
    call_id, answer = await asyncio.wait_for(calling, 15)
    assert answer == ANSWER
    await asyncio.wait_for(established, 15)  # the ACK came through Kamailio
    await callee.hang_up(incoming.call_id, timeout=15)  # the BYE goes back through it
    assert await caller.wait_ended(call_id, 15) is True
    return incoming.request


def test_a_websocket_agent_and_a_udp_agent_through_kamailio(tmp_path: Path) -> None:
    _websocket_module()
    kamailio = require_binary("kamailio", "kamailio")
    udp_port, ws_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [kamailio, "-f", str(CONFIG), "-L", str(MODULES), "-Y", str(tmp_path), "-DD", "-E",
         "-l", f"udp:127.0.0.1:{udp_port}", "-l", f"tcp:127.0.0.1:{ws_port}",
         "-m", "16", "-M", "4", "-w", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    udp_proxy, ws_proxy = ("127.0.0.1", udp_port), ("127.0.0.1", ws_port)

    async def main() -> None:
        await asyncio.sleep(1.0)  # Kamailio forks its workers
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        bob = await SipPhone.open(user="bob", transport="WS")
        alice = await SipPhone.open(user="alice")
        try:
            assert await bob.register(f"sip:127.0.0.1:{udp_port}", ws_proxy) > 0
            assert await alice.register(f"sip:127.0.0.1:{udp_port}", udp_proxy) > 0
            # Alice (UDP) calls Bob (WebSocket): Kamailio finds him by his connection
            invite = await _call(alice, bob, "sip:bob@127.0.0.1", udp_proxy)
            # the Request-URI is Bob's registered Contact, its host the .invalid one
            assert invite.uri.split(";")[0].endswith(".invalid"), invite.uri
            # Kamailio's double Record-Route: its WebSocket side first, toward Bob
            assert "transport=ws" in invite.get_all("Record-Route")[0]
            # and back: Bob calls Alice over his connection, Alice hangs up
            invite = await _call(bob, alice, "sip:alice@127.0.0.1", ws_proxy)
            assert invite.vias[-1].host.endswith(".invalid")  # Bob's Via, below Kamailio's
            assert invite.vias[-1].transport == "WS"
            assert list(bob.endpoint.connections) == [ws_proxy]  # type: ignore[union-attr]
        finally:
            alice.close()
            bob.close()

    try:
        asyncio.run(main())
    finally:
        # Kamailio forks its workers: end the whole process group it leads
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
