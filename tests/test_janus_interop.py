"""Our PeerConnection against the Janus WebRTC gateway 1.1 (Debian ``janus``): its
echotest plugin over Janus's HTTP API, the way a Janus client uses it
(:mod:`pyrtcstack.interop.janus`): we offer, Janus answers, trickle and not; data channel
echo (binary as is, text with Janus's prefix), 1,000 ordered messages, 60,000 bytes,
Janus's ``webrtcup``/``media``/``hangup`` events, our PCMU tone echoed back, and all of
it again with our side relayed through coturn.

Janus leaves loopback interfaces out when it gathers ICE candidates, so in the suite's
private namespace (``lo`` only) the test adds a veth pair with one address, inside that
namespace (nothing leaves it), and removes it afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from pyrtcstack.aio.ice import host_addresses
from pyrtcstack.interop import PeerUnavailableError, default_plan, format_table, run_launch
from pyrtcstack.interop.launchers import find_peer
from pyrtcstack.interop.matrix import summary
from tests.peers import peer_missing, require_binary

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@contextlib.contextmanager
def one_address() -> Iterator[None]:
    """A non-loopback IPv4 address for Janus's ICE: the machine's own if it has one,
    otherwise (the suite's private namespace) a veth pair with 10.213.<pid>.1/24."""
    if [a for a in host_addresses() if ":" not in a]:
        yield
        return
    ip = require_binary("ip", "iproute2")
    if os.geteuid() != 0:
        peer_missing("Janus needs a non-loopback address; adding one needs root")
    name = f"pj{os.getpid() % 100000}"
    commands = [
        [ip, "link", "add", name, "type", "veth", "peer", "name", f"{name}b"],
        [ip, "addr", "add", f"10.213.{os.getpid() % 250}.1/24", "dev", name],
        [ip, "link", "set", name, "up"],
        [ip, "link", "set", f"{name}b", "up"],
    ]
    try:
        for cmd in commands:
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        yield
    except subprocess.CalledProcessError as exc:
        peer_missing(f"cannot add a veth pair here: {exc.stderr!r}")
    finally:
        subprocess.run([ip, "link", "del", name], check=False, capture_output=True, timeout=10)


def test_janus_echotest() -> None:
    try:
        find_peer("janus")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    require_binary("turnserver", "coturn")  # the relay scenario
    log_dir = tempfile.mkdtemp(prefix="pyrtcstack-janus-")

    async def main() -> list:  # type: ignore[type-arg]
        results = []
        for item in default_plan("janus"):
            results += await run_launch(item, log_dir=log_dir)
        return results

    with one_address():
        results = asyncio.run(main())
    table = format_table(results)
    print(f"\n{table}\n(logs in {log_dir})")
    passed, failed = summary(results)
    assert failed == 0, f"{failed} failing checks against Janus:\n{table}\nlogs: {log_dir}"
    names = [c.name for r in results for c in r.checks]
    assert passed == len(names) == 21, table
    assert {"webrtcup", "hangup", "media-event", "audio-echo", "binary-60000", "turn-relay"} <= set(
        names
    )
    assert {r.trickle for r in results} == {True, False}, table
    for r in results:
        assert r.dtls_version == "1.2" and r.srtp, table
    shutil.rmtree(log_dir, ignore_errors=True)
