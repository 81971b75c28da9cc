"""Ending a transfer early, with real ``pyrtcstack send`` / ``receive`` processes on
loopback: each side interrupted (SIGINT, as Ctrl-C) and each side killed (SIGKILL), through
a room on ``pyrtcstack signaling-server``; and the receiver killed in copy-paste mode,
where only ICE consent (RFC 7675) can tell the sender. Each time the other side notices
within seconds, says what happened, exits non-zero, and the partial ``.part`` file is
removed (except when the receiver itself is killed: nothing can run then)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import require_module

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
CLI = [sys.executable, "-m", "pyrtcstack"]
#: Large enough that the transfer is still running when we interrupt it.
SIZE = 400_000_000
#: The other side must notice within this many seconds (ICE consent: a check every
#: 4-6 s, unanswered for 1.5 s, then DISCONNECTED_GRACE 3 s).
NOTICE = 15.0
PROGRESS = re.compile(r"(send|receive) big\.bin +\d+\.\d% \d+\.\d of \d+\.\d MB(, [^,]+)*")


class Proc:
    """A CLI process whose stdout/stderr are collected by threads (the progress line has
    no newline, so readline() would block)."""

    def __init__(self, args: list[str], stdin: bool = False) -> None:
        self.popen = subprocess.Popen(
            CLI + args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.out = bytearray()
        self.err = bytearray()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.popen.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: object, into: bytearray) -> None:
        while chunk := os.read(stream.fileno(), 65536):  # type: ignore[attr-defined]
            into += chunk

    @property
    def text(self) -> str:
        return (self.out + self.err).decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            if self.popen.poll() is not None:
                time.sleep(0.2)
                found = re.search(pattern, self.text)
                if found:
                    return found
                raise AssertionError(
                    f"exited {self.popen.returncode} before {pattern!r}:\n{self.text}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.text}")

    def write(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode())
        self.popen.stdin.flush()

    def wait(self, timeout: float) -> int:
        code = self.popen.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_the_cli() -> Iterator[None]:
    """A shell starts a background job with SIGINT ignored (POSIX, without job control),
    and an ignored signal is inherited across fork and exec: run that way (``.ci/run &``),
    the CLI processes here would ignore the Ctrl-C these tests send, finish the transfer
    and exit 0. While a test runs, this process handles SIGINT itself, which exec resets
    to the default in each child, as a terminal's Ctrl-C would find it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(SIZE)  # sparse: no disk for the source, the same bytes on the wire
    (tmp_path / "out").mkdir()
    return path


def _start_pair(payload: Path) -> tuple[Proc, Proc, Proc]:
    require_module("websockets")
    server = Proc(["signaling-server", "--port", "0"])
    url = server.wait_for(r"listening on (\S+)").group(1)
    sender = Proc(["send", str(payload), "--room", url, "--loopback", "--timeout", "30"])
    room = sender.wait_for(r"room: (\S+)").group(1)
    out = payload.parent / "out"
    receiver = Proc(["receive", "--room", url, "--join", room, "--loopback", "--out", str(out)])
    # Under way: the receiver's progress shows some megabytes.
    receiver.wait_for(r"receive big\.bin\s+\d+\.\d% ([1-9]\d*\.\d|0\.[1-9]) of", 60)
    return server, sender, receiver


def _assert_clean(proc: Proc) -> None:
    text = proc.text
    assert "Traceback" not in text and "write to closed file" not in text, text
    err = proc.err.decode(errors="replace")
    for line in err.split("\n"):
        shown = [part for part in line.split("\r") if part]
        # A message never lands on the progress line: a line that holds progress holds
        # only progress redraws.
        if any(PROGRESS.match(part) for part in shown):
            assert all(PROGRESS.fullmatch(part) for part in shown), line
        # No ETA before a rate is known.
        assert not re.search(r" 0\.0% [^\r]*ETA", line), line


def _notices(proc: Proc, started: float) -> int:
    code = proc.wait(NOTICE)
    elapsed = time.monotonic() - started
    print(f"noticed in {elapsed:.1f} s")
    assert elapsed < NOTICE
    return code


def test_receiver_interrupted(payload: Path) -> None:
    procs = _start_pair(payload)
    _server, sender, receiver = procs
    try:
        receiver.popen.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert receiver.wait(20) == 130
        assert _notices(sender, started) == 1
        for proc in (sender, receiver):
            _assert_clean(proc)
        assert "receive: interrupted after" in receiver.text
        assert "removed the partial file" in receiver.text
        assert "the receiver went away" in sender.text
        assert "the transfer is incomplete" in sender.text
        assert list((payload.parent / "out").iterdir()) == []
    finally:
        for proc in procs:
            proc.stop()


def test_receiver_killed(payload: Path) -> None:
    procs = _start_pair(payload)
    _server, sender, receiver = procs
    try:
        receiver.popen.send_signal(signal.SIGKILL)
        started = time.monotonic()
        assert _notices(sender, started) == 1
        _assert_clean(sender)
        assert "the receiver went away" in sender.text
    finally:
        for proc in procs:
            proc.stop()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["interrupted", "killed"])
def test_sender_ends(payload: Path, how: signal.Signals) -> None:
    procs = _start_pair(payload)
    _server, sender, receiver = procs
    try:
        sender.popen.send_signal(how)
        started = time.monotonic()
        assert _notices(receiver, started) == 1
        _assert_clean(receiver)
        if how == signal.SIGINT:
            assert sender.wait(20) == 130
            _assert_clean(sender)
            assert "send: interrupted after" in sender.text
        assert "the sender went away" in receiver.text
        assert "removed the partial file" in receiver.text
        assert list((payload.parent / "out").iterdir()) == []
    finally:
        for proc in procs:
            proc.stop()


def test_receiver_killed_without_signaling_consent_tells(payload: Path) -> None:
    """Copy-paste mode: no signaling server to announce the receiver's death; the
    sender's ICE consent checks go unanswered and it gives up within seconds."""
    out = payload.parent / "out"
    sender = Proc(["send", str(payload), "--loopback", "--timeout", "30"], stdin=True)
    receiver = Proc(["receive", "--loopback", "--out", str(out)], stdin=True)
    try:
        offer = sender.wait_for(r"RTC1o\.\S+").group(0)
        receiver.write(offer + "\n")
        answer = receiver.wait_for(r"RTC1a\.\S+").group(0)
        sender.write(answer + "\n")
        receiver.wait_for(r"receive big\.bin\s+\d+\.\d% ([1-9]\d*\.\d|0\.[1-9]) of", 60)
        receiver.popen.send_signal(signal.SIGKILL)
        started = time.monotonic()
        assert _notices(sender, started) == 1
        _assert_clean(sender)
        assert "the receiver went away" in sender.text
        assert "ICE consent" in sender.text
    finally:
        sender.stop()
        receiver.stop()
