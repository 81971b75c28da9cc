"""Shared harness of the peer connection tests: one side is ours or aiortc, both
expose the same small surface so every data channel scenario runs in both roles."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pyrtcstack.aio.peerconnection import PeerConnection
from pyrtcstack.peerconnection import (
    ALLOWED_CONNECTION_TRANSITIONS,
    ALLOWED_ICE_TRANSITIONS,
    ALLOWED_SIGNALING_TRANSITIONS,
    Configuration,
    Description,
    Settings,
)

#: Upper bound on any single wait in these tests (they finish in well under a second).
WAIT = 15.0

_LOOPBACK_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (127\.0\.0\.1|::1) ")


def loopback_only(sdp: str) -> str:
    """Drop every a=candidate line not on loopback (INTEROP.md belt and braces)."""
    lines = sdp.splitlines()
    kept = [
        ln for ln in lines if not ln.startswith("a=candidate:") or _LOOPBACK_CANDIDATE.match(ln)
    ]
    return "\r\n".join(kept) + "\r\n"


class Side:
    """What a scenario needs from one peer."""

    name = "?"
    max_message_size = 65536

    async def offer(self) -> dict[str, str]:
        raise NotImplementedError

    async def answer(self, offer: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError

    async def accept(self, answer: dict[str, str]) -> None:
        raise NotImplementedError

    def channel(self, label: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def on_datachannel(self, callback: Any) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Ours(Side):
    name = "ours"
    max_message_size = 262144

    def __init__(
        self, configuration: Configuration | None = None, settings: Settings | None = None
    ) -> None:
        self.pc = PeerConnection(configuration, settings or Settings(host_addresses=["127.0.0.1"]))
        self.log: dict[str, list[str]] = {}
        for name in ("signalingstatechange", "iceconnectionstatechange", "connectionstatechange"):
            self.pc.on(name, lambda state, name=name: self.log.setdefault(name, []).append(state))

    def check_w3c(self) -> None:
        """Every state change seen is a transition the W3C spec allows."""
        tables = {
            "signalingstatechange": ("stable", ALLOWED_SIGNALING_TRANSITIONS),
            "iceconnectionstatechange": ("new", ALLOWED_ICE_TRANSITIONS),
            "connectionstatechange": ("new", ALLOWED_CONNECTION_TRANSITIONS),
        }
        for name, (initial, allowed) in tables.items():
            states = self.log.get(name, [])
            for t in zip([initial, *states], states, strict=False):
                assert t in allowed, (name, t)

    async def offer(self) -> dict[str, str]:
        await self.pc.set_local_description()
        await self.pc.wait_gathering_complete()
        assert self.pc.local_description is not None
        return self.pc.local_description.to_dict()

    async def answer(self, offer: dict[str, str]) -> dict[str, str]:
        await self.pc.set_remote_description(Description.from_dict(offer))
        await self.pc.set_local_description()
        await self.pc.wait_gathering_complete()
        assert self.pc.local_description is not None
        return self.pc.local_description.to_dict()

    async def accept(self, answer: dict[str, str]) -> None:
        await self.pc.set_remote_description(Description.from_dict(answer))

    def channel(self, label: str, **kwargs: Any) -> Any:
        return self.pc.create_data_channel(label, **kwargs)

    def on_datachannel(self, callback: Any) -> None:
        self.pc.on("datachannel", callback)

    async def close(self) -> None:
        await self.pc.close()
        self.check_w3c()


class Aiortc(Side):
    name = "aiortc"

    def __init__(self, aiortc: Any) -> None:
        self.aiortc = aiortc
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        desc = self.pc.localDescription
        return {"type": desc.type, "sdp": desc.sdp}

    async def answer(self, offer: dict[str, str]) -> dict[str, str]:
        desc = self.aiortc.RTCSessionDescription(sdp=loopback_only(offer["sdp"]), type="offer")
        await self.pc.setRemoteDescription(desc)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        local = self.pc.localDescription
        return {"type": local.type, "sdp": local.sdp}

    async def accept(self, answer: dict[str, str]) -> None:
        desc = self.aiortc.RTCSessionDescription(sdp=loopback_only(answer["sdp"]), type="answer")
        await self.pc.setRemoteDescription(desc)

    def channel(self, label: str, **kwargs: Any) -> Any:
        mapping = {
            "max_retransmits": "maxRetransmits",
            "max_packet_life_time": "maxPacketLifeTime",
        }
        return self.pc.createDataChannel(label, **{mapping.get(k, k): v for k, v in kwargs.items()})

    def on_datachannel(self, callback: Any) -> None:
        self.pc.on("datachannel", callback)

    async def close(self) -> None:
        await self.pc.close()


def ready_state(channel: Any) -> str:
    return str(getattr(channel, "ready_state", None) or channel.readyState)


async def wait_open(channel: Any) -> None:
    if ready_state(channel) == "open":
        return
    opened = asyncio.Event()
    channel.on("open", lambda *a: opened.set())
    if ready_state(channel) != "open":
        await asyncio.wait_for(opened.wait(), WAIT)


async def connect(offerer: Side, answerer: Side) -> None:
    offer = await offerer.offer()
    answer = await answerer.answer(offer)
    await offerer.accept(answer)


async def data_channel_scenario(offerer: Side, answerer: Side, closer: str) -> dict[str, Any]:
    """The data channel checks of issue 8, with ``closer`` ("offerer"/"answerer") closing
    the reliable channel at the end. Returns what each side saw."""
    size = min(offerer.max_message_size, answerer.max_message_size)
    big = bytes(i % 251 for i in range(size))
    payloads: list[Any] = ["hello", b"\x00\x01\x02binary", "", b"", big, "é✓ unicode"]
    payloads += [f"n{i}" for i in range(1000)]
    echoed: list[Any] = []
    all_echoed = asyncio.Event()
    seen: dict[str, Any] = {"answerer_got": [], "negotiated": {}, "unreliable": []}
    answerer_channels: dict[str, Any] = {}
    remote_closed = asyncio.Event()
    greeting = asyncio.Event()
    unreliable_done = asyncio.Event()

    def on_datachannel(channel: Any) -> None:
        answerer_channels[channel.label] = channel
        if channel.label == "chat":

            def echo(message: Any) -> None:
                seen["answerer_got"].append(message)
                channel.send(message)

            channel.on("message", echo)
            channel.on("close", lambda *a: remote_closed.set())
            channel.send("greeting from the answerer")
        elif channel.label == "unrel":

            def unrel(message: Any) -> None:
                seen["unreliable"].append(message)
                if len(seen["unreliable"]) == 10:
                    unreliable_done.set()

            channel.on("message", unrel)

    answerer.on_datachannel(on_datachannel)
    chat = offerer.channel("chat")
    unrel = offerer.channel("unrel", ordered=False, max_retransmits=0)
    neg_offerer = offerer.channel("neg", negotiated=True, id=6)
    neg_answerer = answerer.channel("neg", negotiated=True, id=6)
    negotiated_done = asyncio.Event()

    def neg_got(side: str) -> Any:
        def handler(message: Any) -> None:
            seen["negotiated"][side] = message
            if len(seen["negotiated"]) == 2:
                negotiated_done.set()

        return handler

    neg_offerer.on("message", neg_got("offerer"))
    neg_answerer.on("message", neg_got("answerer"))

    def on_echo(message: Any) -> None:
        if message == "greeting from the answerer":
            greeting.set()
            return
        echoed.append(message)
        if len(echoed) == len(payloads):
            all_echoed.set()

    chat.on("message", on_echo)
    chat_closed = asyncio.Event()
    chat.on("close", lambda *a: chat_closed.set())

    await connect(offerer, answerer)
    await wait_open(neg_offerer)
    await wait_open(neg_answerer)
    neg_offerer.send("neg from offerer")
    neg_answerer.send("neg from answerer")
    await asyncio.wait_for(negotiated_done.wait(), WAIT)
    # The unreliable channel first, on an idle association: with max_retransmits=0 a
    # sender may abandon messages whenever a timer fires under load (aiortc does).
    await wait_open(unrel)
    for i in range(10):
        unrel.send(f"u{i}")
    await asyncio.wait_for(unreliable_done.wait(), WAIT)
    await wait_open(chat)
    for p in payloads:
        chat.send(p)
    await asyncio.wait_for(all_echoed.wait(), WAIT)
    await asyncio.wait_for(greeting.wait(), WAIT)
    seen["echoed"] = echoed
    seen["payloads"] = payloads
    # close from one side: both see "close"
    if closer == "offerer":
        chat.close()
    else:
        answerer_channels["chat"].close()
    await asyncio.wait_for(chat_closed.wait(), WAIT)
    await asyncio.wait_for(remote_closed.wait(), WAIT)
    seen["chat_state"] = ready_state(chat)
    seen["answer_chat_state"] = ready_state(answerer_channels["chat"])
    return seen


def check_scenario(seen: dict[str, Any]) -> None:
    assert seen["echoed"] == seen["payloads"]
    assert seen["answerer_got"] == seen["payloads"]
    assert seen["negotiated"] == {"offerer": "neg from answerer", "answerer": "neg from offerer"}
    assert sorted(seen["unreliable"]) == sorted(f"u{i}" for i in range(10))
    assert seen["chat_state"] == "closed"
    assert seen["answer_chat_state"] == "closed"
