"""Our PeerConnection against Pion WebRTC 3.1.56 (Go, Debian's golang-github-pion-webrtc.v3-dev).

The peer program (pyrtcstack/interop/pion/*.go) is built offline from Debian's Go
sources into the gitignored .pion/ (or ``$PYRTCSTACK_PION_DIR``) the first time, inside the
suite's private network namespace (so nothing can be downloaded), and reused while its
sources, Go and the packaged Pion are unchanged. One Pion process runs every scenario:
both roles, trickle with ICE restart, non-trickle with PCMU both ways, both roles through
coturn, and both roles against our DTLS-1.3-capable side (Pion speaks 1.2: we fall back).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from pyrtcstack.interop import PeerUnavailableError, launchers
from pyrtcstack.interop.launchers import build_pion_peer, find_peer
from tests.peers import peer_missing
from tests.test_browser_interop import run_matrix

pytestmark = [pytest.mark.interop, pytest.mark.timeout(600)]


def _pion() -> Path:
    try:
        return Path(find_peer("pion"))
    except PeerUnavailableError as exc:
        peer_missing(str(exc))


def test_pion_matrix() -> None:
    # The main launch has 80 checks (6 scenarios: ice-restart, audio both ways and
    # turn-relay included), the DTLS fallback launch 24; no quirk rows.
    run_matrix("pion", min_passed=104)


def test_pion_build_is_cached() -> None:
    """A second lookup reuses the binary: same file, not rebuilt (mtime unchanged)."""
    binary = _pion()
    before = binary.stat().st_mtime_ns
    assert Path(build_pion_peer()) == binary
    assert binary.stat().st_mtime_ns == before


def test_pion_stamp_follows_the_sources() -> None:
    """The cache key changes with the peer's sources, so an edited main.go is rebuilt."""
    go = "/usr/bin/go"
    if not Path(go).exists():
        peer_missing("go not found (Debian package 'golang-go')")
    one = launchers._pion_stamp(go, {"main.go": b"package main\n", "go.mod": b"module a\n"})
    two = launchers._pion_stamp(go, {"main.go": b"package main // x\n", "go.mod": b"module a\n"})
    assert one != two
    assert one == launchers._pion_stamp(go, {"go.mod": b"module a\n", "main.go": b"package main\n"})


def test_pion_sources_are_listed() -> None:
    """Every file of the peer program is copied to the build (a new .go file must be listed)."""
    folder = Path(launchers.__file__).parent / "pion"
    on_disk = {p.name for p in folder.iterdir() if p.suffix in (".go", ".mod")}
    assert on_disk == set(launchers.PION_SOURCES)


def test_pion_missing_go_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without Go the peer is unavailable (a skip outside CI, a failure in CI), with the
    Debian package to install; nothing is built."""
    monkeypatch.setattr(launchers.shutil, "which", lambda name: None)
    with pytest.raises(PeerUnavailableError, match="golang-go"):
        build_pion_peer(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_pion_peer_usage() -> None:
    """The peer program refuses a missing or bad argument with one line and exit status 2."""
    binary = _pion()
    bad = (["-self-bench", "x", "1"], ["-pair-bench", "1", "x"], ["-pair-sink", "0"])
    for argv in ([], ["not a url"], ["ftp://127.0.0.1/"], *bad):
        done = subprocess.run([str(binary), *argv], capture_output=True, timeout=10, check=False)
        assert done.returncode == 2
        assert len(done.stderr.decode().strip().splitlines()) == 1


def test_pion_peer_exits_when_the_harness_is_gone() -> None:
    """A harness that served /config and went away: the peer gives up after 5 failed polls
    in a row (a few seconds), with one line on stderr, instead of polling for minutes."""
    binary = _pion()
    spec = {
        "name": "x",
        "role": "we-offer",
        "trickle": True,
        "peerChannels": [],
        "timeoutMs": 60000,
    }

    class Once(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"scenarios": [spec]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            threading.Thread(target=gone).start()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Once)

    def gone() -> None:
        server.shutdown()
        server.server_close()

    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    done = subprocess.run([str(binary), url], capture_output=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == (
        "pion peer: 5 failed polls in a row: the harness does not answer"
    )


def test_pion_cpu_profile_is_opt_in_and_splits_the_ends(tmp_path: Path) -> None:
    """``PYRTCSTACK_PION_CPUPROFILE=PREFIX``: -self-bench writes a CPU profile that ``go
    tool pprof`` reads, its samples labelled by end, and the transfer's bytes and CPU
    beside it; unset, nothing is written."""
    binary = _pion()
    total = 16 << 20
    argv = [str(binary), "-self-bench", str(total), "16384"]
    off = tmp_path / "off"
    off.mkdir()
    subprocess.run(argv, capture_output=True, timeout=120, check=True, cwd=off)
    assert list(off.iterdir()) == []
    env = {**os.environ, "PYRTCSTACK_PION_CPUPROFILE": str(tmp_path / "p")}
    done = subprocess.run(argv, capture_output=True, timeout=120, check=True, env=env)
    assert json.loads(done.stdout)["bytes"] == total
    (profile,) = tmp_path.glob("p-*-1-self-16384.pprof")
    sidecar = json.loads(profile.with_suffix(".json").read_text())
    assert sidecar["bytes"] == total and sidecar["cpuSeconds"] > 0
    go = shutil.which("go")
    assert go is not None  # the peer was built with it
    tags = subprocess.run(
        [go, "tool", "pprof", "-tags", str(profile)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert "sender" in tags and "receiver" in tags


def test_pion_pair_bench_runs_pion_to_pion_in_two_processes() -> None:
    """-pair-bench: Pion → Pion with the receiver in a child process (as Pion → us), each
    end's CPU apart; the child is gone afterwards."""
    binary = _pion()
    total = 4 << 20
    done = subprocess.run(
        [str(binary), "-pair-bench", str(total), "1200"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["bytes"] == total and result["seconds"] > 0
    assert result["senderCpuSeconds"] > 0 and result["receiverCpuSeconds"] > 0
    both = result["senderCpuSeconds"] + result["receiverCpuSeconds"]
    assert result["cpuSeconds"] == pytest.approx(both)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert f"{binary} -pair-sink {total}" not in ps.stdout
