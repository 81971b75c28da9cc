"""Our SIP user agent (pyrtcstack.sip.UserAgent through pyrtcstack.aio.sip) against SIPp
(Debian ``sip-tester``) on loopback, in both roles: SIPp's built-in uac and uas, and the
scenarios in tests/data/sip/sipp/ for the error and retransmission cases (a 486 and its
ACK, an INVITE SIPp ignores until it is retransmitted, a digest challenge SIPp verifies
with its own ``verifyauth``). SIPp exits 0 only when its scenario ran to the end
(tests/sipp_util.py starts and stops it)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sipp_util import SCENARIOS, SDP, sipp_session

from pyrtcstack.aio.sip import SipCallError
from pyrtcstack.sip import CallProgress, DigestClient


def test_sipp_uac_calls_our_agent(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sn", "uac", calls_us=True, user="service") as (
            phone,
            sipp,
        ):
            call = await asyncio.wait_for(phone.incoming(), 20)
            assert call.offer is not None and call.offer.startswith(b"v=0")
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True  # SIPp hangs up
            await sipp.finished()

    asyncio.run(main())


def test_our_agent_calls_sipp_uas(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sn", "uas") as (phone, sipp):
            call_id, answer = await phone.call(sipp.uri("service"), sipp.address, SDP)
            assert answer is not None and answer.startswith(b"v=0")
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await sipp.finished()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("scenario", "status", "reason"),
    [("uas_busy.xml", 486, "Busy Here"), ("uas_unavailable.xml", 503, "Service Unavailable")],
)
def test_a_failure_is_acknowledged_inside_the_transaction(
    tmp_path: Path, scenario: str, status: int, reason: str
) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sf", str(SCENARIOS / scenario)) as (phone, sipp):
            with pytest.raises(SipCallError) as exc:
                await phone.call(sipp.uri("busy"), sipp.address, SDP)
            assert (exc.value.status, exc.value.reason) == (status, reason)
            await sipp.finished()  # SIPp got the ACK

    asyncio.run(main())


def test_an_ignored_invite_is_retransmitted(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(
            tmp_path, "-sf", str(SCENARIOS / "uas_retransmit.xml"), "-trace_msg",
            "-message_file", str(tmp_path / "msg.log"),
        ) as (phone, sipp):  # fmt: skip
            loop = asyncio.get_running_loop()
            start = loop.time()
            call_id, answer = await phone.call(sipp.uri("late"), sipp.address, None)
            # Timer A: the retransmission came T1 (500 ms) after the INVITE
            assert loop.time() - start >= 0.45
            assert answer is not None  # an offerless INVITE: the offer is in the 200
            phone.agent.ack(call_id, SDP, loop.time())
            phone.endpoint.drain()
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await sipp.finished()
            # Timer A: the INVITE at 0, 0.5 and 1.5 s, before SIPp's 1.8 s pause ended
            log = (tmp_path / "msg.log").read_text()
            invites = re.findall(r"message received \[\d+\] bytes :\s+INVITE ", log)
            assert len(invites) == 3, log[:3000]

    asyncio.run(main())


@pytest.mark.parametrize(("password", "registered"), [("s3cret", True), ("wrong", False)])
def test_register_with_a_digest_sipp_verifies(
    tmp_path: Path, password: str, registered: bool
) -> None:
    async def main() -> None:
        async with sipp_session(
            tmp_path, "-sf", str(SCENARIOS / "registrar_digest.xml"), user="alice",
            credentials=DigestClient("alice", password),
        ) as (phone, sipp):  # fmt: skip
            registrar = f"sip:127.0.0.1:{sipp.port}"
            if registered:
                assert await phone.register(registrar, sipp.address) == 300
            else:
                with pytest.raises(SipCallError) as exc:
                    await phone.register(registrar, sipp.address)
                assert exc.value.status == 403
            await sipp.finished()

    asyncio.run(main())


def test_over_tcp_both_ways(tmp_path: Path) -> None:
    """RFC 3261 §18.3: Content-Length framing on a stream, no retransmissions (reliable)."""

    async def main() -> None:
        # SIPp calls us over TCP
        async with sipp_session(
            tmp_path, "-sn", "uac", "-t", "t1", calls_us=True, user="service", transport="TCP"
        ) as (phone, sipp):
            call = await asyncio.wait_for(phone.incoming(), 20)
            assert call.request.vias[0].transport == "TCP"
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True
            await sipp.finished()
        # we call SIPp over TCP
        async with sipp_session(tmp_path, "-sn", "uas", "-t", "t1", transport="TCP") as (
            phone,
            sipp,
        ):
            target = sipp.uri("service", ";transport=tcp")
            call_id, answer = await phone.call(target, sipp.address, SDP)
            assert answer is not None and answer.startswith(b"v=0")
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await sipp.finished()

    asyncio.run(main())


def test_cancel_gets_487_and_its_ack(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sf", str(SCENARIOS / "uas_cancel.xml")) as (
            phone,
            sipp,
        ):
            phone.listeners.append(
                lambda e: phone.cancel(e.call_id) if isinstance(e, CallProgress) else None
            )
            with pytest.raises(SipCallError) as exc:
                await phone.call(sipp.uri("x"), sipp.address, SDP)
            assert exc.value.status == 487
            await sipp.finished()

    asyncio.run(main())


def test_a_cancel_that_loses_the_race_ends_with_ack_and_bye(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sf", str(SCENARIOS / "uas_cancel_race.xml")) as (
            phone,
            sipp,
        ):
            phone.listeners.append(
                lambda e: phone.cancel(e.call_id) if isinstance(e, CallProgress) else None
            )
            call_id, _ = await phone.call(sipp.uri("x"), sipp.address, SDP)
            assert await phone.wait_ended(call_id) is False  # our BYE, answered
            await sipp.finished()

    asyncio.run(main())


def test_sipp_malformed_requests_get_400_and_505(tmp_path: Path) -> None:
    """SIPp sends an OPTIONS with a Max-Forwards that is not a number, then one in SIP/3.0:
    it needs our 400 naming Max-Forwards and our 505 (tests/data/sip/sipp/uac_malformed.xml)."""

    async def main() -> None:
        async with sipp_session(
            tmp_path, "-sf", str(SCENARIOS / "uac_malformed.xml"), calls_us=True, user="service"
        ) as (phone, sipp):
            await sipp.finished()
            layer = phone.agent.layer
            assert layer.errors_answered == 2 and layer.dropped == 2

    asyncio.run(main())
