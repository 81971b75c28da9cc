"""``pyrtcstack send`` / ``receive`` as real processes on loopback: through a room on
``pyrtcstack signaling-server``, and by copy-paste blobs (stdin/stdout). The file arrives
byte-identical and both sides report the verified SHA-256."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import require_module

pytestmark = pytest.mark.timeout(120)
CLI = [sys.executable, "-m", "pyrtcstack"]


def _start(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        CLI + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _stop(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(1_500_000))
    (tmp_path / "out").mkdir()
    return path


def test_send_receive_through_a_room(payload: Path) -> None:
    require_module("websockets")
    server = _start(["signaling-server", "--port", "0"])
    procs = [server]
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        sender = _start(["send", str(payload), "--room", url, "--loopback", "--timeout", "30"])
        procs.append(sender)
        assert sender.stdout is not None
        line = sender.stdout.readline()
        assert line.startswith("room: "), line + sender.stderr.read()  # type: ignore[union-attr]
        room = line.split()[1]
        out = payload.parent / "out"
        receiver = _start(
            ["receive", "--room", url, "--join", room, "--loopback", "--out", str(out)]
        )
        procs.append(receiver)
        r_out, r_err = receiver.communicate(timeout=60)
        s_out, s_err = sender.communicate(timeout=30)
        assert receiver.returncode == 0, r_err
        assert sender.returncode == 0, s_err
        assert "sha-256 verified" in r_out and "verified by the receiver" in s_out
        assert (out / payload.name).read_bytes() == payload.read_bytes()
        assert "MB/s" in s_err and "100.0%" in s_err  # progress with rate
    finally:
        _stop(*procs)


def test_send_receive_by_copy_paste(payload: Path) -> None:
    out = payload.parent / "out"
    sender = _start(["send", str(payload), "--loopback", "--timeout", "30"], stdin=subprocess.PIPE)
    receiver = _start(["receive", "--loopback", "--out", str(out)], stdin=subprocess.PIPE)
    try:
        assert sender.stdout and sender.stdin and receiver.stdout and receiver.stdin
        offer = sender.stdout.readline()
        assert offer.startswith("RTC1o."), offer
        # As pasted through a chat app: wrapped lines.
        wrapped = "\n".join(offer.strip()[i : i + 60] for i in range(0, len(offer.strip()), 60))
        receiver.stdin.write(wrapped + "\n\n")
        receiver.stdin.flush()
        answer = receiver.stdout.readline()
        assert answer.startswith("RTC1a."), answer
        sender.stdin.write(answer + "\n")
        sender.stdin.flush()
        _, r_err = receiver.communicate(timeout=60)
        _, s_err = sender.communicate(timeout=30)
        assert receiver.returncode == 0, r_err
        assert sender.returncode == 0, s_err
        assert (out / payload.name).read_bytes() == payload.read_bytes()
    finally:
        _stop(sender, receiver)


def test_chat_through_a_room() -> None:
    """Two ``pyrtcstack chat`` processes: lines go both ways; EOF on one side ends the chat
    and the other prints ``* peer left``."""
    require_module("websockets")
    server = _start(["signaling-server", "--port", "0"])
    procs = [server]
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        alice = _start(["chat", "--room", url, "--loopback"], stdin=subprocess.PIPE)
        procs.append(alice)
        assert alice.stdout and alice.stdin
        room = alice.stdout.readline().split()[1]
        bob = _start(["chat", "--room", url, "--join", room, "--loopback"], stdin=subprocess.PIPE)
        procs.append(bob)
        assert bob.stdout and bob.stdin
        alice.stdin.write("hello bob\n")
        alice.stdin.flush()
        assert bob.stdout.readline() == "< hello bob\n"
        bob.stdin.write("hi alice ✓\n")
        bob.stdin.flush()
        assert alice.stdout.readline() == "< hi alice ✓\n"
        alice.stdin.close()  # Ctrl-D
        assert bob.stdout.readline() == "* peer left\n"
        assert alice.wait(20) == 0 and bob.wait(20) == 0
    finally:
        _stop(*procs)
