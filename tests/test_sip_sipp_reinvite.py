"""re-INVITE (RFC 3261 §14) and digest inside the dialog (§22.2) between our agent and
SIPp (Debian ``sip-tester``) on loopback: SIPp re-INVITEs us with a new offer and checks
our 200 and answer; we re-INVITE SIPp and it checks the request is in the dialog and
carries our new offer; SIPp challenges our re-INVITE (401) and BYE (407) and checks the
credentials with its own ``verifyauth``. The scenarios are in tests/data/sip/sipp/;
SIPp exits 0 only when its scenario ran to the end with every check passed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyrtcstack.aio.sip import SipCallError, SipPhone
from pyrtcstack.common.core import Event
from pyrtcstack.sip import DigestClient, ReInvited
from tests.test_sip_sipp_agent import SCENARIOS, SDP, finished, free_udp_port, sipp

SDP2 = SDP.replace(b"m=audio 6000", b"m=audio 6100")
ANSWER2 = SDP.replace(b"m=audio 6000", b"m=audio 6010")


def test_sipp_reinvites_our_agent(tmp_path: Path) -> None:
    async def main() -> None:
        phone = await SipPhone.open(user="service")
        offers: list[bytes | None] = []

        def on_event(event: Event) -> None:
            if isinstance(event, ReInvited):
                offers.append(event.offer)
                phone.answer_reinvite(event.call_id, ANSWER2)

        phone.listeners.append(on_event)
        proc = await sipp(
            "-sf", str(SCENARIOS / "uac_reinvite.xml"), f"127.0.0.1:{phone.local[1]}", "-p", "0",
            cwd=tmp_path,
        )  # fmt: skip
        try:
            call = await asyncio.wait_for(phone.incoming(), 20)
            await phone.answer(call.call_id, SDP)
            assert await phone.wait_ended(call.call_id) is True  # SIPp hangs up
            await finished(proc, tmp_path)  # SIPp saw our 200 with m=audio 6010
            assert len(offers) == 1 and offers[0] is not None and b"m=audio 6102" in offers[0]
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


def test_our_agent_reinvites_sipp(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp("-sf", str(SCENARIOS / "uas_reinvite.xml"), "-p", str(port), cwd=tmp_path)
        phone = await SipPhone.open()
        try:
            await asyncio.sleep(0.3)
            call_id, answer = await phone.call(
                f"sip:service@127.0.0.1:{port}", ("127.0.0.1", port), SDP
            )
            assert answer is not None and b"m=audio 6200" in answer
            answer2 = await phone.reinvite(call_id, SDP2)
            assert answer2 is not None and b"m=audio 6202" in answer2
            await asyncio.sleep(0.2)
            await phone.hang_up(call_id)
            await finished(proc, tmp_path)
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())


@pytest.mark.parametrize(("password", "accepted"), [("s3cret", True), ("wrong", False)])
def test_sipp_challenges_our_reinvite_and_bye(
    tmp_path: Path, password: str, accepted: bool
) -> None:
    async def main() -> None:
        port = free_udp_port()
        proc = await sipp(
            "-sf", str(SCENARIOS / "uas_reinvite_auth.xml"), "-p", str(port), cwd=tmp_path
        )
        phone = await SipPhone.open(user="alice", credentials=DigestClient("alice", password))
        try:
            await asyncio.sleep(0.3)
            call_id, _ = await phone.call(f"sip:service@127.0.0.1:{port}", ("127.0.0.1", port), SDP)
            if accepted:
                answer2 = await phone.reinvite(call_id, SDP2)
                assert answer2 is not None and b"m=audio 6202" in answer2
            else:
                with pytest.raises(SipCallError) as refused:
                    await phone.reinvite(call_id, SDP2)
                assert refused.value.status == 403  # SIPp's verifyauth said no
            await phone.hang_up(call_id)
            await finished(proc, tmp_path)
            ended = [e for e in phone.events if type(e).__name__ in ("CallFailed", "CallEnded")]
            assert [type(e).__name__ for e in ended] == ["CallEnded"]
        finally:
            if proc.returncode is None:
                proc.kill()
            phone.close()

    asyncio.run(main())
