"""WebRTC-style media for SIP calls: a
:class:`~pyrtcstack.aio.peerconnection.PeerConnection`'s offer and answer carried in the
INVITE/200/ACK of a :class:`~pyrtcstack.aio.sip.SipPhone`.

RFC 5763 (DTLS-SRTP framework for SIP) and RFC 8842 (DTLS offer/answer): the SDP is the
PeerConnection's own (ICE ufrag/pwd and candidates, ``a=fingerprint``, ``a=setup:actpass``
in the offer), so the call's media is ICE + DTLS-SRTP instead of plain RTP/AVP. SIP has no
trickle here (RFC 8840 is not implemented): each side waits for gathering to complete and
sends every candidate in its description, as baresip and the SIP gateways expect.

    pc = PeerConnection()
    pc.add_track(G711Track(ToneSource(440)))
    call_id = await call_with_peerconnection(phone, pc, "sip:bob@127.0.0.1:5070", server)

    incoming = await phone.incoming()
    await answer_with_peerconnection(phone, pc, incoming)
"""

from __future__ import annotations

import asyncio

from ..common.core import Event
from ..common.errors import PyrtcstackError
from ..peerconnection import Description
from ..sip import IncomingCall, ReInvited
from .peerconnection import PeerConnection
from .sip import SipCallError, SipPhone

__all__ = [
    "accept_reinvites",
    "answer_with_peerconnection",
    "call_with_peerconnection",
    "local_sdp",
    "restart_ice",
    "with_default_destinations",
    "with_mids",
]


async def local_sdp(pc: PeerConnection, *, timeout: float = 10.0) -> bytes:
    """The local description once gathering is complete, as SIP body bytes."""
    await pc.wait_gathering_complete(timeout)
    description = pc.local_description
    assert description is not None
    return with_default_destinations(description.sdp).encode()


def with_mids(sdp: str, mids: list[str]) -> str:
    """Give each m-section without ``a=mid`` the mid ``mids[index]`` (or its index).

    Classic SIP peers (baresip 1.0) write no ``a=mid``; JSEP matches m-sections by mid,
    and RFC 9429 §5.10 has the receiver of a description without one generate it. Our
    PeerConnection matches by mid only, so the SIP layer adds them by position."""
    sections = _sections(sdp)
    out = sections[0]
    for index, section in enumerate(sections[1:]):
        out.append(section[0])
        if not any(line.startswith("a=mid:") for line in section):
            out.append(f"a=mid:{mids[index] if index < len(mids) else index}")
        out += section[1:]
    return "\r\n".join(out)


def _sections(sdp: str) -> list[list[str]]:
    """The session lines, then each m-section's lines (its m= line first)."""
    sections: list[list[str]] = [[]]
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def _mids(sdp: str) -> list[str]:
    mids: list[str] = []
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            mids.append(str(len(mids)))
        elif line.startswith("a=mid:") and mids:
            mids[-1] = line[6:].strip()
    return mids


def with_default_destinations(sdp: str) -> str:
    """Put each m-section's first RTP candidate in its ``m=`` port, ``c=`` and ``a=rtcp``.

    JSEP writes the trickle placeholders ``9`` and ``0.0.0.0``; a SIP peer without trickle
    compares the default destination with the candidates and, finding none, answers
    ``a=ice-mismatch`` (RFC 8839 §4.2.1.1 chooses a default candidate; §5.1 the mismatch).
    """
    sections = _sections(sdp)
    out = sections[0]
    for section in sections[1:]:
        default: tuple[str, str] | None = None
        for line in section:
            fields = line.split()
            if line.startswith("a=candidate:") and len(fields) >= 6 and fields[1] == "1":
                default = fields[4], fields[5]
                break
        if default is None:
            out += section
            continue
        host, port = default
        family = "IP6" if ":" in host else "IP4"
        for line in section:
            if line.startswith("m="):
                fields = line.split(" ")
                out.append(" ".join([fields[0], port, *fields[2:]]))
            elif line.startswith("c="):
                out.append(f"c=IN {family} {host}")
            elif line.startswith("a=rtcp:"):
                out.append(f"a=rtcp:{port} IN {family} {host}")
            else:
                out.append(line)
    return "\r\n".join(out)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipCallError(488, "the SDP is not UTF-8") from None


async def call_with_peerconnection(
    phone: SipPhone, pc: PeerConnection, target: str, server: tuple[str, int], *,
    timeout: float = 60.0,
) -> str:  # fmt: skip
    """INVITE ``target`` with ``pc``'s offer and apply the 200's answer; the call id.

    :class:`SipCallError` when the call fails or the 200 carries no answer (the call is
    then hung up)."""
    await pc.set_local_description(await pc.create_offer())
    call_id, answer = await phone.call(target, server, await local_sdp(pc), timeout=timeout)
    if not answer:
        await phone.hang_up(call_id)
        raise SipCallError(488, "the 200 carried no SDP answer")
    try:
        offer = pc.local_description
        assert offer is not None
        text = with_mids(_text(answer), _mids(offer.sdp))
        await pc.set_remote_description(Description("answer", text))
    except (SipCallError, PyrtcstackError) as exc:
        await phone.hang_up(call_id)
        raise SipCallError(488, f"the answer cannot be applied: {exc}") from None
    return call_id


async def answer_with_peerconnection(
    phone: SipPhone, pc: PeerConnection, call: IncomingCall, *, ring: bool = True,
    timeout: float = 40.0,
) -> None:  # fmt: skip
    """Answer ``call`` with ``pc``: its offer (in the INVITE) is applied and the 200
    carries the answer. An offerless INVITE is rejected with 488 (the offer would come
    back in the ACK, after ICE could have started)."""
    if call.offer is None:
        phone.reject(call.call_id, 488, "Not Acceptable Here")
        raise SipCallError(488, "offerless INVITE")
    try:
        await pc.set_remote_description(Description("offer", with_mids(_text(call.offer), [])))
        await pc.set_local_description(await pc.create_answer())
    except (SipCallError, PyrtcstackError) as exc:  # an SDP we cannot answer: RFC 3261 §13.3.1.3
        phone.reject(call.call_id, 488, "Not Acceptable Here")
        raise SipCallError(488, f"the offer cannot be answered: {exc}") from None
    await phone.answer(call.call_id, await local_sdp(pc), ring=ring, timeout=timeout)


async def restart_ice(phone: SipPhone, pc: PeerConnection, call_id: str, *,
                      timeout: float = 40.0) -> None:  # fmt: skip
    """An ICE restart (RFC 8445 §2.4, JSEP ``iceRestart``) carried by a re-INVITE
    (RFC 3261 §14.1): new ufrag/pwd and candidates offered, the answer applied. A refused
    re-INVITE raises :class:`SipCallError` and rolls the offer back."""
    await pc.set_local_description(await pc.create_offer(ice_restart=True))
    try:
        answer = await phone.reinvite(call_id, await local_sdp(pc), timeout=timeout)
    except (SipCallError, TimeoutError):
        await pc.set_local_description(Description("rollback"))
        raise
    offer = pc.local_description
    assert offer is not None
    if not answer:
        raise SipCallError(488, "the 200 to the re-INVITE carried no SDP answer")
    text = with_mids(_text(answer), _mids(offer.sdp))
    await pc.set_remote_description(Description("answer", text))


def accept_reinvites(phone: SipPhone, pc: PeerConnection, call_id: str) -> None:
    """Answer every re-INVITE of ``call_id`` with ``pc`` (an ICE restart or any new
    offer); an offer ``pc`` refuses gets 488 and the call goes on (RFC 3261 §14.2)."""
    tasks: set[asyncio.Task[None]] = set()

    async def answer(offer: bytes | None) -> None:
        try:
            if offer is None:
                raise SipCallError(488, "offerless re-INVITE")
            await pc.set_remote_description(Description("offer", with_mids(_text(offer), [])))
            await pc.set_local_description(await pc.create_answer())
            phone.answer_reinvite(call_id, await local_sdp(pc))
        except (SipCallError, PyrtcstackError, TimeoutError):
            phone.reject_reinvite(call_id)

    def on_event(event: Event) -> None:
        if isinstance(event, ReInvited) and event.call_id == call_id:
            task = asyncio.ensure_future(answer(event.offer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    phone.listeners.append(on_event)
