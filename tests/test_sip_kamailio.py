"""Two of our SIP agents through Kamailio (Debian ``kamailio``) as registrar and proxy,
inside ``unshare -n`` on loopback: Bob registers, Alice calls ``sip:bob@127.0.0.1`` at
Kamailio, which looks Bob up and relays; Kamailio record-routes, so the ACK and the BYE
take the route set through it too (RFC 3261 §12, §16.12). The configuration is
tests/data/sip/kamailio/proxy.cfg."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

from peers import require_binary

from pyrtcstack.aio.sip import SipPhone

CONFIG = Path(__file__).parent / "data" / "sip" / "kamailio" / "proxy.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_agents_call_through_kamailio(tmp_path: Path) -> None:
    kamailio = require_binary("kamailio", "kamailio")
    port = free_udp_port()
    proc = subprocess.Popen(
        [kamailio, "-f", str(CONFIG), "-L", str(MODULES), "-Y", str(tmp_path), "-DD", "-E",
         "-l", f"udp:127.0.0.1:{port}", "-m", "16", "-M", "4", "-w", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    proxy = ("127.0.0.1", port)

    async def main() -> None:
        await asyncio.sleep(1.0)  # Kamailio forks its workers
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        bob = await SipPhone.open(user="bob")
        alice = await SipPhone.open(user="alice")
        try:
            assert await bob.register(f"sip:127.0.0.1:{port}", proxy) > 0
            calling = asyncio.ensure_future(alice.call("sip:bob@127.0.0.1", proxy, OFFER))
            incoming = await asyncio.wait_for(bob.incoming(), 10)
            assert incoming.offer == OFFER
            # Kamailio added its Via and a Record-Route naming itself
            vias = incoming.request.vias
            assert len(vias) == 2 and vias[0].port == port
            assert f"127.0.0.1:{port}" in (incoming.request.get("Record-Route") or "")
            established = asyncio.ensure_future(bob.answer(incoming.call_id, ANSWER))
            call_id, answer = await asyncio.wait_for(calling, 10)
            assert answer == ANSWER
            await asyncio.wait_for(established, 10)  # Bob got the ACK through Kamailio
            await alice.hang_up(call_id)
            assert await bob.wait_ended(incoming.call_id, 10) is True
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
