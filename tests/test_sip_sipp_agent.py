"""Our SIP user agent (pyrtcstack.sip.UserAgent through pyrtcstack.aio.sip) against SIPp
(Debian ``sip-tester``) on loopback, in both roles: SIPp's built-in uac and uas, and the
scenarios in tests/data/sip/sipp/ for the error and retransmission cases (a 486 and its
ACK, an INVITE SIPp ignores until it is retransmitted, a digest challenge SIPp verifies
with its own ``verifyauth``). SIPp exits 0 only when its scenario ran to the end."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest
from peers import require_binary

from pyrtcstack.aio.sip import SipCallError, SipPhone
from pyrtcstack.sip import CallProgress, DigestClient

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


def test_sipp_uac_calls_our_agent(tmp_path: Path) -> None:
    async def main() -> None:
        phone = await SipPhone.open(user="service")
        proc = await sipp("-sn", "uac", f"127.0.0.1:{phone.local[1]}", "-p", "0", cwd=tmp_path)
        try:
            call = await asyncio.wait_for(phone.incoming(), 20)
            assert call.offer is not None and call.offer.startswith(b"v=0")
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True  # SIPp hangs up
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_our_agent_calls_sipp_uas(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp("-sn", "uas", "-p", str(port), cwd=tmp_path)
        phone = await SipPhone.open()
        try:
            await asyncio.sleep(0.3)
            call_id, answer = await phone.call(
                f"sip:service@127.0.0.1:{port}", ("127.0.0.1", port), SDP
            )
            assert answer is not None and answer.startswith(b"v=0")
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("scenario", "status", "reason"),
    [("uas_busy.xml", 486, "Busy Here"), ("uas_unavailable.xml", 503, "Service Unavailable")],
)
def test_a_failure_is_acknowledged_inside_the_transaction(
    tmp_path: Path, scenario: str, status: int, reason: str
) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp(
            "-sf", str(SCENARIOS / scenario), "-p", str(port), cwd=tmp_path
        )  # fmt: skip
        phone = await SipPhone.open()
        try:
            await asyncio.sleep(0.3)
            with pytest.raises(SipCallError) as exc:
                await phone.call(f"sip:busy@127.0.0.1:{port}", ("127.0.0.1", port), SDP)
            assert (exc.value.status, exc.value.reason) == (status, reason)
            await finished(proc, tmp_path)  # SIPp got the ACK
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_an_ignored_invite_is_retransmitted(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp(
            "-sf", str(SCENARIOS / "uas_retransmit.xml"), "-p", str(port), "-trace_msg",
            "-message_file", str(tmp_path / "msg.log"), cwd=tmp_path,
        )  # fmt: skip
        phone = await SipPhone.open()
        try:
            await asyncio.sleep(0.3)
            loop = asyncio.get_running_loop()
            start = loop.time()
            call_id, answer = await phone.call(
                f"sip:late@127.0.0.1:{port}", ("127.0.0.1", port), None
            )
            # Timer A: the retransmission came T1 (500 ms) after the INVITE
            assert loop.time() - start >= 0.45
            assert answer is not None  # an offerless INVITE: the offer is in the 200
            phone.agent.ack(call_id, SDP, loop.time())
            phone.endpoint.drain()
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await finished(proc, tmp_path)
            # Timer A: the INVITE at 0, 0.5 and 1.5 s, before SIPp's 1.8 s pause ended
            log = (tmp_path / "msg.log").read_text()
            invites = re.findall(r"message received \[\d+\] bytes :\s+INVITE ", log)
            assert len(invites) == 3, log[:3000]
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


@pytest.mark.parametrize(("password", "registered"), [("s3cret", True), ("wrong", False)])
def test_register_with_a_digest_sipp_verifies(
    tmp_path: Path, password: str, registered: bool
) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp(
            "-sf", str(SCENARIOS / "registrar_digest.xml"), "-p", str(port), cwd=tmp_path
        )
        phone = await SipPhone.open(user="alice", credentials=DigestClient("alice", password))
        try:
            await asyncio.sleep(0.3)
            if registered:
                assert await phone.register(f"sip:127.0.0.1:{port}", ("127.0.0.1", port)) == 300
            else:
                with pytest.raises(SipCallError) as exc:
                    await phone.register(f"sip:127.0.0.1:{port}", ("127.0.0.1", port))
                assert exc.value.status == 403
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_over_tcp_both_ways(tmp_path: Path) -> None:
    """RFC 3261 §18.3: Content-Length framing on a stream, no retransmissions (reliable)."""

    async def main() -> None:
        # SIPp calls us over TCP
        phone = await SipPhone.open(user="service", transport="TCP")
        proc = await sipp(
            "-sn", "uac", "-t", "t1", f"127.0.0.1:{phone.local[1]}", "-p", "0", cwd=tmp_path
        )
        try:
            call = await asyncio.wait_for(phone.incoming(), 20)
            assert call.request.vias[0].transport == "TCP"
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()
        # we call SIPp over TCP
        port = free_udp_port()
        proc = await sipp("-sn", "uas", "-t", "t1", "-p", str(port), cwd=tmp_path)
        phone = await SipPhone.open(transport="TCP")
        try:
            await asyncio.sleep(0.3)
            target = f"sip:service@127.0.0.1:{port};transport=tcp"
            call_id, answer = await phone.call(target, ("127.0.0.1", port), SDP)
            assert answer is not None and answer.startswith(b"v=0")
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_cancel_gets_487_and_its_ack(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp("-sf", str(SCENARIOS / "uas_cancel.xml"), "-p", str(port), cwd=tmp_path)
        phone = await SipPhone.open()
        phone.listeners.append(
            lambda e: phone.cancel(e.call_id) if isinstance(e, CallProgress) else None
        )
        try:
            await asyncio.sleep(0.3)
            with pytest.raises(SipCallError) as exc:
                await phone.call(f"sip:x@127.0.0.1:{port}", ("127.0.0.1", port), SDP)
            assert exc.value.status == 487
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_a_cancel_that_loses_the_race_ends_with_ack_and_bye(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp(
            "-sf", str(SCENARIOS / "uas_cancel_race.xml"), "-p", str(port), cwd=tmp_path
        )
        phone = await SipPhone.open()
        phone.listeners.append(
            lambda e: phone.cancel(e.call_id) if isinstance(e, CallProgress) else None
        )
        try:
            await asyncio.sleep(0.3)
            call_id, _ = await phone.call(f"sip:x@127.0.0.1:{port}", ("127.0.0.1", port), SDP)
            assert await phone.wait_ended(call_id) is False  # our BYE, answered
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_sipp_malformed_requests_get_400_and_505(tmp_path: Path) -> None:
    """SIPp sends an OPTIONS with a Max-Forwards that is not a number, then one in SIP/3.0:
    it needs our 400 naming Max-Forwards and our 505 (tests/data/sip/sipp/uac_malformed.xml)."""

    async def main() -> None:
        phone = await SipPhone.open(user="service")
        proc = await sipp(
            "-sf", str(SCENARIOS / "uac_malformed.xml"), f"127.0.0.1:{phone.local[1]}",
            "-p", "0", cwd=tmp_path,
        )  # fmt: skip
        try:
            await finished(proc, tmp_path)
            layer = phone.agent.layer
            assert layer.errors_answered == 2 and layer.dropped == 2
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())
