"""``pyrtcstack chat --browser``: the tool serves its page and headless Chromium, opening
the printed URL, is the other peer (the page's ``?auto=1`` greets and echoes)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyrtcstack.interop import PeerUnavailableError
from pyrtcstack.interop.launchers import find_peer, launch
from tests.peers import peer_missing

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def test_chat_with_chromium_through_the_served_page(tmp_path: Path) -> None:
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))
    chat = subprocess.Popen(
        [sys.executable, "-m", "pyrtcstack", "chat", "--browser", "--loopback"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )

    async def main() -> None:
        assert chat.stdout and chat.stdin
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, chat.stdout.readline)
        assert line.startswith("open http://127.0.0.1:"), line
        url = line.split()[1] + "?auto=1"
        browser = await launch("chromium", url, log_dir=str(tmp_path))
        try:
            async with asyncio.timeout(30):
                got = await loop.run_in_executor(None, chat.stdout.readline)
                assert got == "< hello from the browser\n"
                chat.stdin.write("hi browser\n")
                chat.stdin.flush()
                got = await loop.run_in_executor(None, chat.stdout.readline)
                assert got == "< echo: hi browser\n"
                chat.stdin.close()  # Ctrl-D: we leave
                assert await loop.run_in_executor(None, chat.wait, 20) == 0
        finally:
            await browser.stop()

    try:
        asyncio.run(main())
    finally:
        if chat.poll() is None:
            os.killpg(chat.pid, signal.SIGKILL)
        chat.wait(10)
