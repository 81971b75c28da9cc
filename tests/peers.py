"""How tests find their real peers, the shared corpus, and what happens when one is missing.

Outside CI a missing peer *skips* with a clear reason. With ``CI=true`` every interop peer is
mandatory: a missing one *fails* the test, so a green CI run proves the interop happened.
The project's own test data lives in ``tests/data`` and is always there: RFC vectors in
``tests/data/rfc`` and what real peers sent us in ``tests/data/recorded`` (written by
``tests/record_peers.py``). The shared conformance corpus (``../shared/corpus``) is an extra:
tests that read it are marked ``corpus`` and are left out of the run (deselected, with one
line saying so) when it is absent, so a fresh clone runs with no skip for missing data.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
DATA = PROJECT / "tests" / "data"
RECORDED = DATA / "recorded"


def peer_missing(reason: str) -> NoReturn:
    """Skip (or, in CI, fail) because an interop peer is not available."""
    if IN_CI:
        pytest.fail(f"interop peer missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, debian_package: str) -> str:
    """Return the path of executable ``name`` or skip/fail naming the package to install."""
    path = shutil.which(name)
    if path is None:
        peer_missing(
            f"{name} not found (Debian package {debian_package!r}; "
            "`bash scripts/setup.sh --system` as root installs it)"
        )
    return path


def require_module(name: str, pip_name: str | None = None) -> ModuleType:
    """Import and return a Python peer module (aiortc, aioice, ...) or skip/fail."""
    try:
        return importlib.import_module(name)
    except ImportError:
        peer_missing(
            f"Python package {pip_name or name!r} is not installed "
            "(`bash scripts/setup.sh` installs the test extras)"
        )


def data(*parts: str) -> Path:
    """Path inside tests/data (the project's own test data, always present)."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path}", pytrace=False)
    return path


def corpus(*parts: str) -> Path:
    """Path inside ../shared/corpus, for tests marked ``corpus`` (deselected when the
    corpus is absent); skips if a single file is missing from a corpus that is present."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared corpus not present at {path}")
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    """An ephemeral UDP port that is free right now on ``host`` (loopback only; "::1"
    for IPv6)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ipv6_loopback() -> bool:
    """Whether ::1 can be bound here (a namespace or a host may have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def multicast_namespace_pair(prefix: str, subnet: str) -> Iterator[tuple[str, str]]:
    """Two fresh network namespaces joined by a veth pair (``subnet``.1 and ``subnet``.2,
    e.g. ``"10.77.0"``) with a multicast route on each side, for mDNS tests; both are
    deleted afterwards. Skips (fails under CI=true) without root or ``ip``."""
    require_binary("ip", "iproute2")
    if os.geteuid() != 0:
        peer_missing("network namespaces need root")
    tag = f"{prefix}{os.getpid() % 100000}{random.randrange(1000)}"
    names = [f"{tag}-r", f"{tag}-q"]
    made: list[str] = []
    try:
        for ns in names:
            subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=10)
            made.append(ns)
    except (subprocess.CalledProcessError, OSError) as exc:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        peer_missing(f"cannot create network namespaces here: {exc}")
    r, q = names
    try:
        for cmd in (
            ["ip", "-n", r, "link", "set", "lo", "up"],
            ["ip", "-n", q, "link", "set", "lo", "up"],
            ["ip", "-n", r, "link", "add", "m0", "type", "veth", "peer", "name", "m1", "netns", q],
            ["ip", "-n", r, "addr", "add", f"{subnet}.1/24", "dev", "m0"],
            ["ip", "-n", q, "addr", "add", f"{subnet}.2/24", "dev", "m1"],
            ["ip", "-n", r, "link", "set", "m0", "up"],
            ["ip", "-n", q, "link", "set", "m1", "up"],
            ["ip", "-n", r, "route", "add", "224.0.0.0/4", "dev", "m0"],
            ["ip", "-n", q, "route", "add", "224.0.0.0/4", "dev", "m1"],
        ):
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        yield r, q
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def recorded(peer: str) -> dict[str, Any]:
    """What ``peer`` sent us in a recorded session (tests/data/recorded/PEER.json, written
    by tests/record_peers.py: SDPs, STUN, DTLS, SCTP, RTP, each with tshark's reading)."""
    return dict(json.loads(data("recorded", f"{peer}.json").read_text()))


def recorded_descriptions() -> list[tuple[str, int, dict[str, str]]]:
    """Every recorded description as ``(peer, index, {"from", "type", "sdp"})``, in the
    order of the session: each answer follows the offer it answers."""
    out = []
    for path in sorted(RECORDED.glob("*.json")):
        for i, desc in enumerate(json.loads(path.read_text())["descriptions"]):
            out.append((path.stem, i, desc))
    return out


def recorded_client_hello(browser: str) -> list[bytes]:
    """The datagrams of the first ClientHello ``browser`` sent us (Chromium and Firefox cut
    theirs in two: an ML-KEM key share does not fit one datagram), as recorded."""
    out = []
    for item in recorded(browser)["dtls"]:
        out.append(bytes.fromhex(item["hex"]))
        if item["tshark"].get("cipher_suites"):  # tshark had the whole message here
            return out
    pytest.fail(f"no whole ClientHello recorded from {browser}", pytrace=False)
