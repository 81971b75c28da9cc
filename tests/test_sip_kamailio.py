"""Two of our SIP agents through Kamailio (Debian ``kamailio``) as registrar and proxy,
inside ``unshare -n`` on loopback: Bob registers, Alice calls ``sip:bob@127.0.0.1`` at
Kamailio, which looks Bob up and relays; Kamailio record-routes, so the ACK and the BYE
take the route set through it too (RFC 3261 §12, §16.12). The configuration is
tests/data/sip/kamailio/proxy.cfg. The registrar also sees our agent refresh a binding
and remove it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import PROJECT, require_binary

from pyrtcstack.aio.sip import SipCallError, SipPhone
from pyrtcstack.common.core import Address
from pyrtcstack.sip import Registered

CONFIG = Path(__file__).parent / "data" / "sip" / "kamailio" / "proxy.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = b"v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def kamailio(tmp_path: Path) -> Iterator[Address]:
    """Kamailio with proxy.cfg on a free loopback port; its address."""
    binary = require_binary("kamailio", "kamailio")
    port = free_udp_port()
    proc = subprocess.Popen(
        [binary, "-f", str(CONFIG), "-L", str(MODULES), "-Y", str(tmp_path), "-DD", "-E",
         "-l", f"udp:127.0.0.1:{port}", "-m", "16", "-M", "4", "-w", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # Kamailio forks its workers
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        yield ("127.0.0.1", port)
    finally:
        # Kamailio forks its workers: end the whole process group it leads
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_two_agents_call_through_kamailio(tmp_path: Path) -> None:
    async def main(proxy: Address) -> None:
        port = proxy[1]
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

    with kamailio(tmp_path) as proxy:
        asyncio.run(main(proxy))


def test_registration_is_refreshed_and_removed_at_kamailio(tmp_path: Path) -> None:
    """RFC 3261 §10.2.4 and §10.2.2 against Kamailio's registrar: Bob registers for 4 s;
    Kamailio's lookup still finds him after those 4 s only because the agent refreshed
    the binding (at 2 s: halfway, for so short an expiry); after unregister() the lookup
    fails (404 from proxy.cfg) and no REGISTER follows."""

    async def main(proxy: Address) -> None:
        bob = await SipPhone.open(user="bob")
        alice = await SipPhone.open(user="alice")
        try:
            assert await bob.register(f"sip:127.0.0.1:{proxy[1]}", proxy, expires=4) == 4
            await asyncio.sleep(5.0)
            registered = [e for e in bob.events if isinstance(e, Registered)]
            assert len(registered) >= 2 and all(e.expires == 4 for e in registered)
            assert len({e.call_id for e in registered}) == 1  # the same registration
            # the binding outlived its first 4 s: Kamailio relays Alice's call to Bob
            calling = asyncio.ensure_future(alice.call("sip:bob@127.0.0.1", proxy, OFFER))
            incoming = await asyncio.wait_for(bob.incoming(), 10)
            bob.reject(incoming.call_id, 486, "Busy Here")
            with pytest.raises(SipCallError) as busy:
                await asyncio.wait_for(calling, 10)
            assert busy.value.status == 486
            await bob.unregister(timeout=10)
            assert bob.agent.registrations == []
            with pytest.raises(SipCallError) as gone:
                await alice.call("sip:bob@127.0.0.1", proxy, OFFER, timeout=10)
            assert gone.value.status == 404
            before = len(bob.events)
            await asyncio.sleep(2.5)  # past the next refresh time: none is sent
            assert bob.events[before:] == []
        finally:
            alice.close()
            bob.close()

    with kamailio(tmp_path) as proxy:
        asyncio.run(main(proxy))


@pytest.fixture
def _ctrl_c_reaches_the_cli() -> Iterator[None]:
    """A background job inherits SIGINT ignored; while the test runs, this process handles
    SIGINT itself, which exec resets to the default in the child (as in a terminal)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("_ctrl_c_reaches_the_cli")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sip_listen_registers_and_unregisters_when_it_ends(
    tmp_path: Path, signum: int, code: int
) -> None:
    """``pyrtcstack sip listen --register`` at Kamailio: the AOR reaches the listener while
    it runs; Ctrl-C (or SIGTERM) removes the binding before it exits, so Kamailio's lookup
    then fails with 404."""
    with kamailio(tmp_path) as proxy, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        listen = subprocess.Popen(
            [sys.executable, "-m", "pyrtcstack", "sip", "listen", f"127.0.0.1:{port}",
             "--user", "carol", "--register", f"sip:127.0.0.1:{proxy[1]}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT,
        )  # fmt: skip
        try:
            assert listen.stdout is not None
            assert listen.stdout.readline().decode().startswith("listening on sip:carol@")
            line = listen.stdout.readline().decode()
            registrar = f"sip:127.0.0.1:{proxy[1]}"
            assert line == f"registered at {registrar} for 3600 s (refreshed before it lapses)\n"

            async def call() -> int:
                alice = await SipPhone.open(user="alice")
                try:
                    call_id, _ = await alice.call("sip:carol@127.0.0.1", proxy, OFFER, timeout=10)
                    await alice.hang_up(call_id, timeout=10)
                    return 200
                except SipCallError as exc:
                    return exc.status
                finally:
                    alice.close()

            assert asyncio.run(call()) == 200  # Kamailio found carol's binding
            listen.send_signal(signum)
            rest, err = listen.communicate(timeout=30)
            assert listen.returncode == code, err.decode()
            assert rest.decode().splitlines()[-1] == "unregistered", rest
            assert b"Traceback" not in err
            assert asyncio.run(call()) == 404  # the binding is gone
        finally:
            if listen.poll() is None:
                listen.kill()
                listen.wait()
