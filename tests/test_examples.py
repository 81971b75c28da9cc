"""Every example in examples/ runs as a learner would run it, and does what it says.

Each runs as a subprocess (``python examples/NAME.py``, the way its docstring says) and
its printed outcome is checked; the browser page is also opened by headless Chromium.
(``interop_endpoint_aiortc.py`` is tested by tests/test_interop_url.py.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from peers import PROJECT, peer_missing

from pyrtcstack.interop import PeerUnavailableError
from pyrtcstack.interop.launchers import find_peer, launch

EXAMPLES = PROJECT / "examples"


def _run(name: str, *args: str, timeout: float = 60) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def test_every_example_is_tested_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for path in EXAMPLES.glob("*.py"):
        if path.name != "interop_endpoint_aiortc.py":
            assert f'"{path.name}"' in source, path.name


def test_sans_io_dtls_sctp_pair_in_memory() -> None:
    assert _run("sans_io_dtls_sctp.py") == [
        "alice: DTLS handshake done",
        "alice: received 'hello from bob'",
        "alice: received b'\\x00\\x01binary reply'",
        "bob: DTLS handshake done",
        "bob: the peer opened channel 'chat'",
        "bob: received 'hello from alice'",
        "bob: received b'\\x00\\x01binary reply'",
    ]
    # no asyncio and no socket: the point of the example
    text = (EXAMPLES / "sans_io_dtls_sctp.py").read_text(encoding="utf-8")
    assert "import asyncio" not in text and "socket" not in text.split('"""')[2]


def test_dtls_to_srtp() -> None:
    out = _run("dtls_to_srtp.py")
    assert out[:2] == [
        "client: DTLS done, SRTP profile SRTP_AES128_CM_HMAC_SHA1_80",
        "server: DTLS done, SRTP profile SRTP_AES128_CM_HMAC_SHA1_80",
    ]
    assert "RTP 172 B -> SRTP 182 B (+10 B tag)" in out
    assert out[-1] == "the server unprotected the packet: identical to what the client sent"


@pytest.mark.parametrize("size", [0, 1, 300_000])
def test_file_sender_delivers_the_bytes(tmp_path: Path, size: int) -> None:
    source = tmp_path / "in" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(os.urandom(size))
    out = tmp_path / "out"
    out.mkdir()
    (line,) = _run("file_sender.py", str(source), "--out", str(out))
    assert line == f"data.bin: {size:,} bytes, SHA-256 ok -> {out}"
    assert (out / "data.bin").read_bytes() == source.read_bytes()


def test_relay_forwards_both_ways() -> None:
    assert _run("relay.py") == [
        'bob got "hi bob, it\'s alice"',
        "bob got b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07'",
        "alice got 'hi alice'",
        "relay: 3 relayed, 0 dropped",
    ]


def test_browser_page_self_test() -> None:
    out = _run("browser_page.py", "--self-test")
    assert out[0].startswith("open http://127.0.0.1:")
    assert out[1:] == ["< hello from the browser", "< echo: hi from python"]


@pytest.mark.interop
@pytest.mark.timeout(90)
def test_browser_page_with_chromium(tmp_path: Path) -> None:
    try:
        find_peer("chromium")
    except PeerUnavailableError as exc:
        peer_missing(str(exc))

    async def main() -> list[str]:
        example = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "browser_page.py"),
            "--once",
            stdout=asyncio.subprocess.PIPE,
        )
        assert example.stdout is not None
        try:
            first = (await example.stdout.readline()).decode()
            assert first.startswith("open http://127.0.0.1:"), first
            browser = await launch("chromium", first.split()[1], log_dir=str(tmp_path))
            try:
                async with asyncio.timeout(40):
                    rest = (await example.stdout.read()).decode().splitlines()
                    assert await example.wait() == 0
            finally:
                await browser.stop()
            return rest
        finally:
            if example.returncode is None:
                example.kill()
                await example.wait()

    assert asyncio.run(main()) == ["< hello from the browser", "< echo: hi from python"]


def test_whip_loopback() -> None:
    pytest.importorskip("aiohttp")  # the whip extra (installed by the test extra)
    out = _run("whip_loopback.py")
    assert out[0].startswith("published: 201 Created, Location /whip/")
    assert out[1:] == [
        "recorded 60 frames",
        "played back: True (first frame a keyframe: True)",
        "the recording was .ivf (True)",
    ]
