"""re-INVITE (RFC 3261 §14) and digest inside the dialog (§22.2) between our agent and
SIPp (Debian ``sip-tester``) on loopback: SIPp re-INVITEs us with a new offer and checks
our 200 and answer; we re-INVITE SIPp and it checks the request is in the dialog and
carries our new offer; SIPp challenges our re-INVITE (401) and BYE (407) and checks the
credentials with its own ``verifyauth``; SIPp answers our re-INVITE 481 and checks we end
the call without a BYE (§12.2.1.2). The scenarios are in tests/data/sip/sipp/; SIPp exits
0 only when its scenario ran to the end with every check passed (tests/sipp_util.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sipp_util import SCENARIOS, SDP, sipp_session

from pyrtcstack.aio.sip import SipCallError
from pyrtcstack.common.core import Event
from pyrtcstack.sip import CallEnded, DigestClient, ReInvited, ReInviteFailed

SDP2 = SDP.replace(b"m=audio 6000", b"m=audio 6100")
ANSWER2 = SDP.replace(b"m=audio 6000", b"m=audio 6010")


def test_sipp_reinvites_our_agent(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(
            tmp_path, "-sf", str(SCENARIOS / "uac_reinvite.xml"), calls_us=True, user="service"
        ) as (phone, sipp):
            offers: list[bytes | None] = []

            def on_event(event: Event) -> None:
                if isinstance(event, ReInvited):
                    offers.append(event.offer)
                    phone.answer_reinvite(event.call_id, ANSWER2)

            phone.listeners.append(on_event)
            call = await asyncio.wait_for(phone.incoming(), 20)
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True  # SIPp hangs up
            await sipp.finished()  # SIPp saw our 200 with m=audio 6010
            assert len(offers) == 1 and offers[0] is not None and b"m=audio 6102" in offers[0]

    asyncio.run(main())


def test_our_agent_reinvites_sipp(tmp_path: Path) -> None:
    async def main() -> None:
        async with sipp_session(tmp_path, "-sf", str(SCENARIOS / "uas_reinvite.xml")) as (
            phone,
            sipp,
        ):
            call_id, answer = await phone.call(sipp.uri("service"), sipp.address, SDP)
            assert answer is not None and b"m=audio 6200" in answer
            answer2 = await phone.reinvite(call_id, SDP2)
            assert answer2 is not None and b"m=audio 6202" in answer2
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await sipp.finished()

    asyncio.run(main())


def test_a_481_to_our_reinvite_ends_the_call_without_a_bye(tmp_path: Path) -> None:
    """RFC 3261 §12.2.1.2, §14.1: SIPp answers our re-INVITE 481 (it lost the dialog);
    we hear ReInviteFailed(481) then CallEnded, and send no BYE: SIPp's scenario ends
    with a pause in which a BYE would be an unexpected message (and a failure)."""

    async def main() -> None:
        async with sipp_session(tmp_path, "-sf", str(SCENARIOS / "uas_reinvite_481.xml")) as (
            phone,
            sipp,
        ):
            call_id, _ = await phone.call(sipp.uri("service"), sipp.address, SDP)
            with pytest.raises(SipCallError) as refused:
                await phone.reinvite(call_id, SDP2)
            assert refused.value.status == 481
            assert await phone.wait_ended(call_id) is False
            await sipp.finished()  # the ACK of the 481 came, and no BYE
            ours = [e for e in phone.events if getattr(e, "call_id", None) == call_id]
            assert ours[-2:] == [
                ReInviteFailed(call_id, 481, "Call/Transaction Does Not Exist"),
                CallEnded(call_id, by_remote=False),
            ]

    asyncio.run(main())


@pytest.mark.parametrize(("password", "accepted"), [("s3cret", True), ("wrong", False)])
def test_sipp_challenges_our_reinvite_and_bye(
    tmp_path: Path, password: str, accepted: bool
) -> None:
    async def main() -> None:
        async with sipp_session(
            tmp_path, "-sf", str(SCENARIOS / "uas_reinvite_auth.xml"), user="alice",
            credentials=DigestClient("alice", password),
        ) as (phone, sipp):  # fmt: skip
            call_id, _ = await phone.call(sipp.uri("service"), sipp.address, SDP)
            if accepted:
                answer2 = await phone.reinvite(call_id, SDP2)
                assert answer2 is not None and b"m=audio 6202" in answer2
            else:
                with pytest.raises(SipCallError) as refused:
                    await phone.reinvite(call_id, SDP2)
                assert refused.value.status == 403  # SIPp's verifyauth said no
            await phone.hang_up(call_id)
            await sipp.finished()
            ended = [e for e in phone.events if type(e).__name__ in ("CallFailed", "CallEnded")]
            assert [type(e).__name__ for e in ended] == ["CallEnded"]

    asyncio.run(main())
