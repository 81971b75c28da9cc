"""SIPp (Debian ``sip-tester``) beside our :class:`~pyrtcstack.aio.sip.SipPhone` in the
tests: start SIPp on a scenario, open the phone, stop both whatever happens.
:func:`sipp_session` is the one way the SIPp tests of the agent (test_sip_sipp_agent.py,
test_sip_sipp_reinvite.py) do it. SIPp exits 0 only when its scenario ran to the end with
every check passed: :meth:`Sipp.finished` asserts it and shows SIPp's error log if not."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers import require_binary

from pyrtcstack.aio.sip import SipPhone

SCENARIOS = Path(__file__).parent / "data" / "sip" / "sipp"
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def sipp(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    """SIPp with ``args`` for one call (``-m 1``) on 127.0.0.1, a 30 s timeout that is an
    error, its errors in ``cwd``/err.log."""
    binary = require_binary("sipp", "sip-tester")
    return await asyncio.create_subprocess_exec(
        binary, *args, "-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "30s",
        "-timeout_error", "-mp", str(free_udp_port()), "-trace_err", "-error_file",
        str(cwd / "err.log"), cwd=cwd, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finished(proc: asyncio.subprocess.Process, cwd: Path) -> None:
    rc = await asyncio.wait_for(proc.wait(), 40)
    err = (cwd / "err.log").read_text() if (cwd / "err.log").exists() else ""
    assert rc == 0, f"SIPp exited {rc}: {err[-2000:]}"


@dataclass
class Sipp:
    """A running SIPp: ``port`` is where it listens when we call it (else 0)."""

    proc: asyncio.subprocess.Process
    cwd: Path
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def uri(self, user: str, params: str = "") -> str:
        return f"sip:{user}@127.0.0.1:{self.port}{params}"

    async def finished(self) -> None:
        await finished(self.proc, self.cwd)


@asynccontextmanager
async def sipp_session(
    cwd: Path, *args: str, calls_us: bool = False, **phone_options: Any
) -> AsyncIterator[tuple[SipPhone, Sipp]]:
    """Our phone (``SipPhone.open(**phone_options)``) and SIPp running ``args``. SIPp
    listens on a free port and we call it; or, with ``calls_us``, SIPp calls our phone
    (its address follows ``args``). SIPp is killed and the phone closed at the end."""
    if calls_us:
        phone = await SipPhone.open(**phone_options)
        try:
            proc = await sipp(*args, f"127.0.0.1:{phone.local[1]}", "-p", "0", cwd=cwd)
        except BaseException:
            phone.close()
            raise
        port = 0
    else:
        port = free_udp_port()
        proc = await sipp(*args, "-p", str(port), cwd=cwd)
        try:
            phone = await SipPhone.open(**phone_options)
            await asyncio.sleep(0.3)  # SIPp binds its port
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
    try:
        yield phone, Sipp(proc, cwd, port)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        phone.close()
