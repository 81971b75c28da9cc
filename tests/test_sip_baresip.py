"""Our SIP agent and baresip (Debian ``baresip``) call each other with audio, inside
``unshare -n`` on loopback: plain RTP/AVP with G.711 µ-law, the classic SIP media.

baresip runs with its ``menu`` (the ``/dial`` command), ``g711`` and ``aufile`` modules: it sends a
440 Hz tone read from a WAV file. Each test checks the SIP exchange (INVITE, 180/200 with
SDP, ACK, BYE), that baresip's SDP parses with :mod:`pyrtcstack.sdp`, that baresip's RTP
reaches the port our SDP named (PCMU, one SSRC, consecutive sequence numbers), and that
baresip counts the RTP we send it (its ``rtp_stats`` summary; baresip 1.0's aufile has no
player, so what it decodes is not recorded)."""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import socket
import struct
import subprocess
import wave
from pathlib import Path

from peers import require_binary

from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.media.g711 import ulaw_encode
from pyrtcstack.rtp import RtpPacket
from pyrtcstack.sdp import SessionDescription

MODULES = Path("/usr/lib/baresip/modules")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tone(samples: int, rate: int = 8000) -> bytes:
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(samples)
    )


def baresip_home(tmp: Path, port: int) -> Path:
    with wave.open(str(tmp / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(tone(8000 * 10))
    (tmp / "config").write_text(
        f"poll_method epoll\nsip_listen 127.0.0.1:{port}\nmodule_path {MODULES}\n"
        "module g711.so\nmodule aufile.so\nmodule menu.so\nmodule account.so\n"
        f"audio_source aufile,{tmp / 'tone.wav'}\n"
        "rtp_stats yes\n"
    )
    (tmp / "accounts").write_text(
        "<sip:alice@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU\n"
    )
    return tmp


def start_baresip(home: Path, *commands: str) -> subprocess.Popen[bytes]:
    binary = require_binary("baresip", "baresip")
    args = [binary, "-f", str(home), "-n", "127.0.0.1", "-t", "30"]
    for command in commands:
        args += ["-e", command]
    return subprocess.Popen(args, stdout=open(home / "baresip.log", "wb"), stderr=subprocess.STDOUT)


def our_sdp(rtp_port: int) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode()


async def exchange_audio(
    rtp: socket.socket, remote: tuple[str, int], seconds: float
) -> list[RtpPacket]:
    """Send our tone as PCMU RTP to ``remote`` (20 ms packets) and collect what comes."""
    pcm = tone(int(8000 * seconds))
    received: list[RtpPacket] = []
    for n, i in enumerate(range(0, len(pcm), 320)):
        payload = ulaw_encode(pcm[i : i + 320])
        packet = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160, 0x1234) + payload
        rtp.sendto(packet, remote)
        await asyncio.sleep(0.02)
        while True:
            try:
                received.append(RtpPacket.parse(rtp.recv(2048)))
            except BlockingIOError:
                break
    return received


def baresip_received(home: Path) -> int:
    """The RTP packets baresip says it received (its ``rtp_stats`` summary at call end:
    ``packets: <transmit> <receive>``)."""
    found = re.findall(r"packets:\s+(\d+)\s+(\d+)", (home / "baresip.log").read_text())
    assert found, (home / "baresip.log").read_text()[-2000:]
    return int(found[-1][1])


def check_rtp(packets: list[RtpPacket]) -> None:
    assert len(packets) >= 25, len(packets)  # 1.5 s of 20 ms packets, with slack
    assert {p.payload_type for p in packets} == {0}
    assert len({p.ssrc for p in packets}) == 1
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))


def test_we_call_baresip_with_audio(tmp_path: Path) -> None:
    port = free_udp_port()
    home = baresip_home(tmp_path, port)
    proc = start_baresip(home)

    async def main() -> None:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.setblocking(False)
        await asyncio.sleep(1.0)
        phone = await SipPhone.open()
        try:
            call_id, answer = await phone.call(
                f"sip:alice@127.0.0.1:{port}", ("127.0.0.1", port), our_sdp(rtp.getsockname()[1])
            )
            assert answer is not None
            media = SessionDescription.parse(answer.decode()).media[0]
            assert (media.kind, media.protocol, media.formats) == ("audio", "RTP/AVP", ["0"])
            packets = await exchange_audio(rtp, ("127.0.0.1", media.port), 1.5)
            check_rtp(packets)
            await phone.hang_up(call_id)
        finally:
            phone.close()
            rtp.close()

    try:
        asyncio.run(main())
    finally:
        proc.terminate()  # baresip closes its recording on SIGTERM
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert baresip_received(tmp_path) >= 70  # we sent 75 packets of our tone


def test_baresip_calls_us_with_audio(tmp_path: Path) -> None:
    port = free_udp_port()
    home = baresip_home(tmp_path, port)

    async def main() -> None:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.setblocking(False)
        phone = await SipPhone.open(user="service")
        proc = start_baresip(home, f"/dial sip:service@127.0.0.1:{phone.local[1]}")
        try:
            call = await asyncio.wait_for(phone.incoming(), 15)
            assert call.offer is not None
            media = SessionDescription.parse(call.offer.decode()).media[0]
            assert media.kind == "audio" and "0" in media.formats
            await phone.answer(call.call_id, our_sdp(rtp.getsockname()[1]))
            packets = await exchange_audio(rtp, ("127.0.0.1", media.port), 1.5)
            check_rtp(packets)
            await phone.hang_up(call.call_id)
            await asyncio.sleep(0.5)
        finally:
            phone.close()
            rtp.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    asyncio.run(main())
    assert baresip_received(tmp_path) >= 70  # we sent 75 packets of our tone
