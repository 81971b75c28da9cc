"""re-INVITE (RFC 3261 §14) between our agent and baresip 1.0 (Debian ``baresip``) in a
call with G.711 RTP, inside ``unshare -n`` on loopback, both ways:

* baresip's ``hold`` and ``resume`` commands (sent through its ``ctrl_tcp`` module:
  netstring JSON on a TCP port) make it re-INVITE us with ``a=sendonly`` and then
  ``a=sendrecv`` (RFC 3264 §8.4); we answer each (``recvonly``, then ``sendrecv``) and
  baresip reports the answer applied (its ``CALL_REMOTE_SDP`` event);
* we re-INVITE baresip with a new RTP port: baresip answers, and its RTP then arrives at
  the new port (the new offer is in force, not only acknowledged)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path

from test_sip_baresip import baresip_home, free_udp_port, our_sdp, start_baresip

from pyrtcstack.aio.sip import SipPhone
from pyrtcstack.common.core import Event
from pyrtcstack.rtp import RtpPacket
from pyrtcstack.sip import ReInvited


class Ctrl:
    """baresip's ctrl_tcp: commands out, responses and events in (netstrings of JSON)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.events: list[dict[str, object]] = []

    @classmethod
    async def open(cls, port: int) -> Ctrl:
        for _ in range(50):
            try:
                return cls(*await asyncio.open_connection("127.0.0.1", port))
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError("baresip's ctrl_tcp did not listen")

    async def _read(self) -> dict[str, object]:
        length = int((await self.reader.readuntil(b":"))[:-1])
        data = await self.reader.readexactly(length + 1)
        message: dict[str, object] = json.loads(data[:-1])
        return message

    async def command(self, command: str) -> None:
        data = json.dumps({"command": command, "params": "", "token": command}).encode()
        self.writer.write(str(len(data)).encode() + b":" + data + b",")
        await self.writer.drain()
        while True:
            message = await asyncio.wait_for(self._read(), 10)
            if message.get("response"):
                assert message.get("ok") is True, message
                return
            self.events.append(message)

    async def event(self, kind: str, param: str) -> None:
        """Wait for a baresip event (``type`` and ``param``) not seen yet."""
        while True:
            for event in self.events:
                if event.get("type") == kind and event.get("param") == param:
                    self.events.remove(event)
                    return
            self.events.append(await asyncio.wait_for(self._read(), 10))

    def close(self) -> None:
        self.writer.close()


async def rtp_arrivals(sock: socket.socket, seconds: float) -> list[RtpPacket]:
    out = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.02)
        while True:
            try:
                out.append(RtpPacket.parse(sock.recv(2048)))
            except BlockingIOError:
                break
    return out


def test_reinvites_both_ways_with_baresip(tmp_path: Path) -> None:
    port = free_udp_port()
    ctrl_port = free_udp_port()
    home = baresip_home(tmp_path, port)
    config = home / "config"
    config.write_text(
        config.read_text() + f"module ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\n"
    )

    async def main() -> None:
        rtp1, rtp2 = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        for sock in (rtp1, rtp2):
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        sdp1, sdp2 = our_sdp(rtp1.getsockname()[1]), our_sdp(rtp2.getsockname()[1])
        phone = await SipPhone.open(user="service")
        offers: list[bytes] = []

        def on_event(event: Event) -> None:
            if isinstance(event, ReInvited):  # answer each: recvonly to a hold, else sendrecv
                offers.append(event.offer or b"")
                hold = b"a=sendonly" in (event.offer or b"")
                answer = sdp1.replace(b"a=sendrecv", b"a=recvonly") if hold else sdp1
                phone.answer_reinvite(event.call_id, answer)

        phone.listeners.append(on_event)
        proc = start_baresip(home, f"/dial sip:service@127.0.0.1:{phone.local[1]}")
        ctrl = await Ctrl.open(ctrl_port)
        try:
            call = await asyncio.wait_for(phone.incoming(), 15)
            await phone.answer(call.call_id, sdp1)
            assert len(await rtp_arrivals(rtp1, 0.5)) >= 10
            # baresip re-INVITEs us: hold, then resume
            await ctrl.command("hold")
            await ctrl.event("CALL_REMOTE_SDP", "answer")  # our answer applied
            await ctrl.command("resume")
            await ctrl.event("CALL_REMOTE_SDP", "answer")
            assert len(offers) == 2, offers
            assert b"a=sendonly" in offers[0] and b"a=sendonly" not in offers[1]
            assert b"m=audio " in offers[1]
            # we re-INVITE baresip with a new RTP port: its media moves there
            answer = await phone.reinvite(call.call_id, sdp2)
            assert answer is not None and b"m=audio " in answer
            moved = await rtp_arrivals(rtp2, 1.0)
            assert len(moved) >= 20, len(moved)  # 1 s of 20 ms packets, with slack
            assert {p.payload_type for p in moved} == {0}
            await phone.hang_up(call.call_id)
        finally:
            ctrl.close()
            phone.close()
            rtp1.close()
            rtp2.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    asyncio.run(main())
