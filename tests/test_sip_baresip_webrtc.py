"""baresip with its ``ice`` and ``dtls_srtp`` modules calls our PeerConnection through our
SIP agent, and we call it: ICE + DTLS-SRTP (RFC 5763/8842), PCMU both ways.

baresip 1.0's ``ice`` module gathers no candidate on a loopback address (127.0.0.0/8), so
the test, already in its own ``unshare -n`` namespace, adds 10.99.0.1/32 to ``lo`` there
(packets still never leave the namespace). baresip writes no ``a=mid`` and offers
``a=rtcp`` beside ``a=rtcp-mux``: :mod:`pyrtcstack.aio.sip_media` adds the mids by position.
Proof of media: our inbound-rtp counter (SRTP received and decrypted) and frames, and
baresip's ``rtp_stats`` receive count (what it decrypted of ours)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from peers import require_binary
from test_sip_baresip import baresip_home, baresip_received, free_udp_port

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.aio.sip_media import answer_with_peerconnection, call_with_peerconnection
from pyrtcstack.media import G711Track, ToneSource
from pyrtcstack.peerconnection import Settings

pytestmark = pytest.mark.interop

IP = "10.99.0.1"


def _address_on_lo() -> None:
    """Give ``lo`` of this namespace an address baresip's ICE will use, only when the
    namespace is a private one (``lo`` is its only interface): never on a real host."""
    ip = require_binary("ip", "iproute2")
    links = subprocess.run([ip, "-o", "link"], check=False, capture_output=True, text=True)
    if [line.split(":")[1].strip() for line in links.stdout.splitlines()] != ["lo"]:
        pytest.skip("needs a private network namespace (unshare -n) to add an address to lo")
    shown = subprocess.run(
        [ip, "-4", "addr", "show", "lo"], check=False, capture_output=True, text=True
    )
    if IP not in shown.stdout:
        done = subprocess.run(
            [ip, "addr", "add", f"{IP}/32", "dev", "lo"], check=False, capture_output=True
        )
        if done.returncode != 0:
            pytest.skip("cannot add an address to lo in this namespace")


def _home(tmp: Path, port: int) -> Path:
    home = baresip_home(tmp, port)
    config = (home / "config").read_text().replace("127.0.0.1", IP)
    config = config.replace("module account.so\n", "module ice.so\nmodule dtls_srtp.so\n"
                            "module account.so\n")  # fmt: skip
    (home / "config").write_text(config + "rtcp_mux yes\n")
    (home / "accounts").write_text(
        f"<sip:alice@{IP}>;regint=0;answermode=auto;audio_codecs=PCMU;"
        "medianat=ice;mediaenc=dtls_srtp\n"
    )
    return home


def _start(home: Path, *commands: str) -> subprocess.Popen[bytes]:
    args = [require_binary("baresip", "baresip"), "-f", str(home), "-n", IP, "-t", "30"]
    for command in commands:
        args += ["-e", command]
    return subprocess.Popen(args, stdout=open(home / "baresip.log", "wb"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _media(pc: PeerConnection, got: list[Any]) -> tuple[int, int]:
    await pc.wait_connection_state("connected", timeout=15)
    for _ in range(60):
        if got and got[0].frames_received >= 50:
            break
        await asyncio.sleep(0.05)
    report = await pc.get_stats()
    packets = sum(int(s.get("packetsReceived", 0)) for s in report.values()
                  if s.get("type") == "inbound-rtp")  # fmt: skip
    return packets, got[0].frames_received if got else 0


def _pc() -> tuple[PeerConnection, list[Any]]:
    pc = PeerConnection(settings=Settings(host_addresses=[IP]))
    pc.add_track(G711Track(ToneSource(440)))
    got: list[Any] = []
    pc.on("track", got.append)
    return pc, got


def test_we_call_baresip_with_ice_and_dtls_srtp(tmp_path: Path) -> None:
    _address_on_lo()
    port = free_udp_port()
    home = _home(tmp_path, port)
    proc = _start(home)

    async def main() -> tuple[int, int]:
        await asyncio.sleep(1.0)
        phone = await SipPhone.open((IP, 0))
        pc, got = _pc()
        try:
            call_id = await call_with_peerconnection(
                phone, pc, f"sip:alice@{IP}:{port}", (IP, port)
            )
            counts = await _media(pc, got)
            await asyncio.sleep(0.5)
            await phone.hang_up(call_id)
            return counts
        finally:
            await pc.close()
            phone.close()

    try:
        packets, frames = asyncio.run(main())
    finally:
        _stop(proc)
    log = (home / "baresip.log").read_text()
    assert "DTLS-SRTP complete" in log, log[-2000:]
    assert packets >= 50 and frames >= 50
    assert baresip_received(home) >= 50


def test_baresip_calls_our_peerconnection(tmp_path: Path) -> None:
    _address_on_lo()
    home = _home(tmp_path, free_udp_port())

    async def main() -> tuple[int, int]:
        phone = await SipPhone.open((IP, 0), user="service")
        proc = _start(home, f"/dial sip:service@{IP}:{phone.local[1]}")
        pc, got = _pc()
        try:
            call = await asyncio.wait_for(phone.incoming(), 15)
            await answer_with_peerconnection(phone, pc, call)
            counts = await _media(pc, got)
            await asyncio.sleep(0.5)
            await phone.hang_up(call.call_id)
            await asyncio.sleep(0.5)
            return counts
        finally:
            await pc.close()
            phone.close()
            _stop(proc)

    packets, frames = asyncio.run(main())
    log = (home / "baresip.log").read_text()
    assert "DTLS-SRTP complete" in log, log[-2000:]
    assert packets >= 50 and frames >= 50
    assert baresip_received(home) >= 50
