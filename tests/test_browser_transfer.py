"""``pyrtcstack send --browser`` / ``receive --browser``: the tool serves
``assets/transfer.html`` and headless Chromium, opening the printed URL, is the other peer.

Both directions check the actual bytes: we send a random file and the page reports the
SHA-256 it computed (``crypto.subtle``, or the page's JavaScript SHA-256) over what it
received; the page sends a file it generates (xorshift32, regenerated here) and the file
we write must be identical. Both also check that the sender waited for
``bufferedamountlow`` (a 64 KiB window on either side).
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyrtcstack.interop import PeerUnavailableError
from pyrtcstack.interop.launchers import find_peer, launch
from tests.peers import peer_missing

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

#: Seconds for a whole transfer, page load included (a loaded 2-core machine).
TRANSFER_TIMEOUT = 90
#: A small back-pressure window on both sides, so the senders certainly wait for
#: bufferedamountlow (each queues more than this between two turns of its event loop).
WINDOW = 64 * 1024


def _need_chromium() -> None:
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))


def generated(size: int) -> bytes:
    """The page's test file: xorshift32 words (seed 0x2545F491), little-endian."""
    x = 0x2545F491
    words = array.array("I")
    for _ in range((size + 3) // 4):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        words.append(x)
    if sys.byteorder == "big":
        words.byteswap()
    return words.tobytes()[:size]


def _run_with_browser(cmd: list[str], query: str, log_dir: Path) -> tuple[int, str, str]:
    """Start the tool, open its URL (+ query) in headless Chromium, wait for the tool."""
    tool = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    async def main() -> tuple[int, str, str]:
        assert tool.stdout is not None
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, tool.stdout.readline)
        assert line.startswith("open http://127.0.0.1:"), line
        browser = await launch("chromium", line.split()[1] + query, log_dir=str(log_dir))
        try:
            out, err = await loop.run_in_executor(
                None, lambda: tool.communicate(timeout=TRANSFER_TIMEOUT)
            )
            return tool.returncode, out, err
        finally:
            await browser.stop()

    try:
        return asyncio.run(main())
    finally:
        if tool.poll() is None:
            os.killpg(tool.pid, signal.SIGKILL)
        tool.wait(10)


@pytest.mark.parametrize(
    ("query", "impl", "size"),
    [
        ("?auto=1", "crypto.subtle", 3_000_000),
        ("?auto=1&jssha=1", "javascript", 200_000),
        ("?auto=1", "crypto.subtle", 0),
    ],
    ids=["crypto-subtle", "javascript-sha256", "empty-file"],
)
def test_send_to_the_browser_page(tmp_path: Path, query: str, impl: str, size: int) -> None:
    _need_chromium()
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(size))
    expected = hashlib.sha256(payload.read_bytes()).hexdigest()
    code, out, err = _run_with_browser(
        ["send", str(payload), "--browser", "--loopback", "--window", str(WINDOW)],
        query,
        tmp_path,
    )
    assert code == 0, out + err
    # The page's own digest over the bytes it received, and its verdict.
    assert f"the receiver computed sha-256 {expected} over {size} bytes ({impl})" in out, out
    assert f"sha-256 {expected} verified by the receiver" in out
    # Our progress line: the final one with the average rate (no ETA before a rate is
    # known).
    assert re.search(r"100\.0% [^\r\n]*MB/s" if size else r"100\.0% 0\.0 of 0\.0 MB", err), err
    assert not re.search(r" 0\.0% [^\r\n]*ETA", err), err
    waits = re.search(r"waited for bufferedamountlow (\d+) times", err)
    assert waits and (int(waits.group(1)) > 0) == (size > WINDOW), err


def test_receive_from_the_browser_page(tmp_path: Path) -> None:
    _need_chromium()
    size = 2_500_003  # not a multiple of the chunk or of a word
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = _run_with_browser(
        ["receive", "--browser", "--loopback", "--out", str(out_dir)],
        f"?auto=1&gen={size}&window={WINDOW}",
        tmp_path,
    )
    assert code == 0, out + err
    data = (out_dir / "generated.bin").read_bytes()
    assert data == generated(size)
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha-256 {digest}" in out and "sha-256 verified" in out, out
    assert re.search(r"receive generated.bin 100.0% .* MB/s", err), err
    # an intermediate line shows a rate and ETA only once 0.2 s have passed (how many do
    # depends on the machine's speed: tests/test_cli_args.py checks the format itself)
    for line in re.findall(r"receive generated.bin +\d+\.\d%[^\r\n]*", err):
        assert "ETA" not in line or re.search(r"MB/s, ETA \d+:\d\d$", line), line
    assert not re.search(r" 0\.0% [^\r\n]*ETA", err), err
    assert not list(out_dir.glob("*.part"))
    # The page queued at most WINDOW bytes, then waited for bufferedamountlow.
    waits = re.search(r"the sender waited for bufferedamountlow (\d+) times \(window (\d+)", out)
    assert waits and int(waits.group(1)) > 0 and int(waits.group(2)) == WINDOW, out
