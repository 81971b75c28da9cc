"""Our ICE agent through real kernel NATs (nftables in network namespaces) with coturn as
the STUN/TURN server: full-cone ↔ symmetric connects directly, symmetric ↔ symmetric only
through the relay. Needs root and `ip netns` (the suite runs as root inside `unshare -n`);
every namespace made here has a unique name and is deleted in teardown.

Topology (as in ../shared/INTEROP.md §4, built here independently):

    host L 10.0.1.2 ── router L (wan 203.0.113.101) ─┐
                                                       br0 203.0.113.10 (coturn) in "pub"
    host R 10.0.2.2 ── router R (wan 203.0.113.102) ─┘
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import PROJECT, peer_missing, require_binary, require_module

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SERVER_IP = "203.0.113.10"

# nftables rule sets, one per RFC 4787 behaviour we build with the kernel:
#  full-cone: masquerade keeps the port (EIM) and every inbound port is forwarded (EIF);
#  port-restricted: plain masquerade (EIM + conntrack = address-and-port filtering);
#  symmetric: "masquerade random" picks a new port per 5-tuple (APDM + APDF).
# The prerouting guard drops unsolicited inbound UDP before conntrack can confirm an entry
# for it (an early ICE check would otherwise create one and break the mapping).
_GUARD = 'iifname "wan" ct state new meta l4proto udp drop'


def _ruleset(kind: str, index: int) -> str:
    masq, dnat, guard = "masquerade", "", _GUARD
    if kind == "full-cone":
        dnat = f'iifname "wan" udp dport 1024-65535 dnat to 10.0.{index}.2'
        guard = ""
    elif kind == "symmetric":
        masq = "masquerade random"
    elif kind != "port-restricted":
        raise ValueError(kind)
    return f"""table ip pyi {{
  chain guard {{ type filter hook prerouting priority -150; policy accept; {guard}; }}
  chain pre {{ type nat hook prerouting priority dstnat; policy accept; {dnat}; }}
  chain post {{ type nat hook postrouting priority srcnat; policy accept; oifname "wan" {masq}; }}
  chain filt {{ type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
    iifname "wan" oifname "lan" ct status dnat accept
  }}
}}
"""


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


class Topology:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []

    def ns(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        _ip("netns", "add", full)
        self.namespaces.append(full)
        _ip("link", "set", "lo", "up", ns=full)
        return full

    def build(self, left: str, right: str) -> tuple[str, str, str]:
        pub = self.ns("pub")
        _ip("link", "add", "br0", "type", "bridge", ns=pub)
        _ip("addr", "add", f"{SERVER_IP}/24", "dev", "br0", ns=pub)
        _ip("link", "set", "br0", "up", ns=pub)
        # a default route to a silent neighbour: packets to private peers vanish as on the
        # internet instead of failing coturn's relay with ENETUNREACH (INTEROP.md §4)
        _ip("route", "add", "default", "via", "203.0.113.254", "dev", "br0", ns=pub)
        hosts = []
        for index, kind in ((1, left), (2, right)):
            router, host = self.ns(f"r{index}"), self.ns(f"h{index}")
            _ip("link", "add", "wan", "type", "veth", "peer", "name", f"p{index}", "netns", pub,
                ns=router)  # fmt: skip
            _ip("link", "set", f"p{index}", "master", "br0", "up", ns=pub)
            _ip("addr", "add", f"203.0.113.{100 + index}/24", "dev", "wan", ns=router)
            _ip("link", "set", "wan", "up", ns=router)
            _ip("link", "add", "eth0", "type", "veth", "peer", "name", "lan", "netns", router,
                ns=host)  # fmt: skip
            _ip("addr", "add", f"10.0.{index}.1/24", "dev", "lan", ns=router)
            _ip("link", "set", "lan", "up", ns=router)
            _ip("addr", "add", f"10.0.{index}.2/24", "dev", "eth0", ns=host)
            _ip("link", "set", "eth0", "up", ns=host)
            _ip("route", "add", "default", "via", f"10.0.{index}.1", ns=host)
            subprocess.run(
                ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                check=True,
                capture_output=True,
                timeout=10,
            )
            subprocess.run(
                ["ip", "netns", "exec", router, "nft", "-f", "-"],
                input=_ruleset(kind, index).encode(),
                check=True,
                capture_output=True,
                timeout=10,
            )
            hosts.append(host)
        return pub, hosts[0], hosts[1]

    def destroy(self) -> None:
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)
        self.namespaces.clear()


@pytest.fixture
def topology() -> Iterator[Topology]:
    require_binary("ip", "iproute2")
    require_binary("nft", "nftables")
    if os.geteuid() != 0:
        peer_missing("network namespaces need root")
    topo = Topology(f"pyi{os.getpid() % 100000}{random.randrange(1000)}")
    try:
        topo.ns("probe")
    except (subprocess.CalledProcessError, OSError) as exc:
        topo.destroy()
        peer_missing(f"cannot create network namespaces here: {exc}")
    try:
        yield topo
    finally:
        topo.destroy()


def _start_coturn(pub: str, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    turnserver = require_binary("turnserver", "coturn")
    port = random.randrange(20000, 30000)
    cmd = [
        "ip", "netns", "exec", pub, turnserver, "-n", "--no-cli", "--no-tls", "--no-dtls",
        "-L", SERVER_IP, "--relay-ip", SERVER_IP, "--listening-port", str(port),
        "-a", "-u", "user:pass", "-r", "pyrtcstack", "--userdb", str(tmp / "turndb"),
        "--pidfile", str(tmp / "turn.pid"), "--log-file", "stdout",
        "--min-port", "40000", "--max-port", "49999",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["ip", "netns", "exec", pub, "ss", "-Hlun", f"sport = :{port}"],
            check=False,
            capture_output=True,
            timeout=10,
        ).stdout
        if out.strip():
            return proc, port
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    pytest.fail("coturn did not start")


def _run_peers(
    left_ns: str, right_ns: str, tmp: Path, extra: list[str]
) -> tuple[dict[str, object], dict[str, object]]:
    folder = tmp / "signal"
    folder.mkdir()
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    procs = []
    for ns, role in ((left_ns, "controlling"), (right_ns, "controlled")):
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "pyrtcstack.testing.ice_peer",
               role, str(folder), "--timeout", "15", *extra]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            lines = out.decode().strip().splitlines()
            assert lines, err.decode()[-2000:]
            results.append(json.loads(lines[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    return results[0], results[1]


def test_full_cone_to_symmetric_connects_directly(topology: Topology, tmp_path: Path) -> None:
    pub, left, right = topology.build("full-cone", "symmetric")
    coturn, port = _start_coturn(pub, tmp_path)
    try:
        a, b = _run_peers(left, right, tmp_path, ["--stun", f"{SERVER_IP}:{port}"])
    finally:
        coturn.kill()
        coturn.wait(5)
    assert a["ok"] and b["ok"], (a, b)
    assert a["selected"] == ["srflx", "prflx"]
    assert b["selected"] == ["prflx", "srflx"]


def test_symmetric_to_symmetric_needs_the_relay(topology: Topology, tmp_path: Path) -> None:
    pub, left, right = topology.build("symmetric", "symmetric")
    coturn, port = _start_coturn(pub, tmp_path)
    server = f"{SERVER_IP}:{port}"
    try:
        a, b = _run_peers(left, right, tmp_path, ["--stun", server, "--turn", server])
    finally:
        coturn.kill()
        coturn.wait(5)
    assert a["ok"] and b["ok"], (a, b)
    assert "relay" in a["selected"], a  # type: ignore[operator]
    assert "relay" in b["selected"], b  # type: ignore[operator]


# A peer built on aioice (the real third-party agent), speaking ice_peer's file protocol.
_AIOICE_PEER = r"""
import asyncio, json, os, sys
import aioice

async def main(role, folder, stun):
    host, port = stun.rsplit(":", 1)
    conn = aioice.Connection(ice_controlling=role == "controlling",
                             stun_server=(host, int(port)), use_ipv6=False)
    await conn.gather_candidates()
    me = {"ufrag": conn.local_username, "pwd": conn.local_password,
          "candidates": ["candidate:" + c.to_sdp() for c in conn.local_candidates]}
    with open(os.path.join(folder, role + ".tmp"), "w") as f:
        json.dump(me, f)
    os.replace(os.path.join(folder, role + ".tmp"), os.path.join(folder, role + ".json"))
    other = "controlled" if role == "controlling" else "controlling"
    path = os.path.join(folder, other + ".json")
    for _ in range(300):
        if os.path.exists(path):
            break
        await asyncio.sleep(0.05)
    theirs = json.load(open(path))
    conn.remote_username, conn.remote_password = theirs["ufrag"], theirs["pwd"]
    for text in theirs["candidates"]:
        await conn.add_remote_candidate(aioice.Candidate.from_sdp(text.split(":", 1)[1]))
    await conn.add_remote_candidate(None)
    result = {"role": role}
    try:
        await asyncio.wait_for(conn.connect(), 15)
        payload = ("\x17hello from " + role).encode()
        recv = asyncio.ensure_future(conn.recv())
        for _ in range(100):
            await conn.send(payload)
            done, _ = await asyncio.wait([recv], timeout=0.2)
            if done:
                break
        data = recv.result()
        for _ in range(5):
            await conn.send(payload)
            await asyncio.sleep(0.05)
        result["ok"] = data == ("\x17hello from " + other).encode()
    except Exception as exc:
        result["ok"] = False
        result["error"] = repr(exc)
    await conn.close()
    print(json.dumps(result), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


def test_our_agent_behind_symmetric_nat_with_aioice_behind_full_cone(
    topology: Topology, tmp_path: Path
) -> None:
    require_module("aioice")
    pub, left, right = topology.build("symmetric", "full-cone")
    coturn, port = _start_coturn(pub, tmp_path)
    server = f"{SERVER_IP}:{port}"
    folder = tmp_path / "signal"
    folder.mkdir()
    script = tmp_path / "aioice_peer.py"
    script.write_text(_AIOICE_PEER)
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    ours_cmd = ["ip", "netns", "exec", left, sys.executable, "-m", "pyrtcstack.testing.ice_peer",
                "controlling", str(folder), "--timeout", "15", "--stun", server]  # fmt: skip
    theirs_cmd = ["ip", "netns", "exec", right, sys.executable, str(script), "controlled",
                  str(folder), server]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for cmd in (ours_cmd, theirs_cmd)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            lines = out.decode().strip().splitlines()
            assert lines, err.decode()[-2000:]
            results.append(json.loads(lines[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        coturn.kill()
        coturn.wait(5)
    ours, theirs = results
    assert ours["ok"] and theirs["ok"], (ours, theirs)
    assert ours["selected"] == ["prflx", "srflx"]
