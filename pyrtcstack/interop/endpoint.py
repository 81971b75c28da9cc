"""``pyrtcstack interop --endpoint``: our PeerConnection as an endpoint under test.

This serves the endpoint side of the protocol of docs/interop.md ("Testing your
endpoint"), so another machine's ``pyrtcstack interop URL`` (or any harness speaking it)
can test this stack: ``GET /`` the hello with our capabilities, ``POST /scenarios`` a
fresh :class:`~pyrtcstack.aio.peerconnection.PeerConnection` per scenario, and
``POST``/long-poll ``GET /scenarios/ID/messages`` for the scenario's messages. The
behaviour is the browser page's (``assets/peer.js``) in Python: echo every data channel
message, ``__close__`` closes the channel, ``__stats__`` posts the stats summary.

Bounded: at most :data:`MAX_SCENARIOS` live scenarios, :data:`MAX_QUEUED_MESSAGES`
messages per scenario and direction, each scenario ends after its ``timeoutMs`` (at most
:data:`MAX_SCENARIO_SECONDS`) and is forgotten :data:`LINGER` seconds after it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
from collections.abc import Callable
from typing import Any

from ..aio import DataChannel, PeerConnection, RemoteTrack
from ..media import G711Track, ToneSource
from ..peerconnection import Configuration, Description, IceCandidateInit, IceServer, Settings
from .httpserver import HttpServer, Request, Response
from .remote import PROTOCOL
from .session import MAX_QUEUED_MESSAGES, POLL_WAIT

__all__ = [
    "LINGER",
    "MAX_SCENARIOS",
    "MAX_SCENARIO_SECONDS",
    "Endpoint",
    "summarize_stats",
]

#: Scenarios that may run at once (a harness runs one at a time).
MAX_SCENARIOS = 4
#: Upper bound on a scenario's ``timeoutMs``.
MAX_SCENARIO_SECONDS = 600.0
#: Seconds an ended scenario stays readable (the harness's last poll fetches ``ended``).
LINGER = 30.0


def summarize_stats(report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``stats`` shape of the protocol from a webrtc-stats report (as ``peer.js``
    ``summarizeStats``): transport, selected pair, its two candidates, RTP, codecs."""
    out: dict[str, Any] = {
        "transport": None,
        "pair": None,
        "local": None,
        "remote": None,
        "inbound": [],
        "outbound": [],
        "codecs": [],
    }
    for entry in report.values():
        kind = entry.get("type")
        if kind == "transport":
            out["transport"] = entry
        elif kind == "inbound-rtp":
            out["inbound"].append(entry)
        elif kind == "outbound-rtp":
            out["outbound"].append(entry)
        elif kind == "codec":
            out["codecs"].append(entry)
    pair = report.get(str((out["transport"] or {}).get("selectedCandidatePairId")))
    if pair is not None:
        out["pair"] = pair
        out["local"] = report.get(str(pair.get("localCandidateId")))
        out["remote"] = report.get(str(pair.get("remoteCandidateId")))
    return out


def _configuration(spec: dict[str, Any]) -> Configuration | None:
    """The scenario's ``pcConfig`` (W3C RTCConfiguration JSON: iceServers, policy)."""
    config = spec.get("pcConfig")
    if not isinstance(config, dict):
        return None
    servers = [
        IceServer(s["urls"], s.get("username"), s.get("credential"))
        for s in config.get("iceServers") or []
    ]
    return Configuration(
        ice_servers=servers, ice_transport_policy=str(config.get("iceTransportPolicy", "all"))
    )


class _Scenario:
    """One scenario at the endpoint: its peer connection and both message queues."""

    def __init__(self, sid: str, spec: dict[str, Any], settings: Settings) -> None:
        self.id = sid
        self.spec = spec
        self.settings = settings
        self.outbox: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED_MESSAGES)
        self.ended = False
        self.held: list[dict[str, Any]] | None = None
        self.mic_added = False
        self.pc: PeerConnection | None = None
        self.tasks: set[asyncio.Future[None]] = set()
        self.task = asyncio.ensure_future(self._run())

    def post(self, **message: Any) -> None:
        if len(self.outbox) >= MAX_QUEUED_MESSAGES:
            return
        self.outbox.append({**message, "seq": len(self.outbox) + 1})
        self.changed.set()

    async def _run(self) -> None:
        try:
            limit = min(float(self.spec.get("timeoutMs") or 60000) / 1000, MAX_SCENARIO_SECONDS)
            async with asyncio.timeout(limit):
                await self._drive()
        except Exception as exc:
            self.post(kind="error", error=f"{type(exc).__name__}: {exc}")
        finally:
            for task in self.tasks:
                task.cancel()
            if self.pc is not None:
                await self.pc.close()
            self.ended = True
            self.post(kind="ended")

    async def _drive(self) -> None:
        spec = self.spec
        trickle = bool(spec.get("trickle"))
        pc = self.pc = PeerConnection(_configuration(spec), self.settings)

        def on_candidate(cand: IceCandidateInit | None) -> None:
            if not trickle:
                return
            message = {"kind": "candidate", "candidate": cand.to_dict() if cand else None}
            if self.held is not None:
                self.held.append(message)  # must follow the description
            else:
                self.post(**message)

        pc.on("icecandidate", on_candidate)
        pc.on("connectionstatechange", lambda state: self.post(kind="state", state=state))
        pc.on("datachannel", self._wire)
        if spec.get("audio"):
            pc.on("track", self._on_track)
        for channel in spec.get("peerChannels") or []:
            self._create_channel(channel)
        if spec.get("role") == "peer-offers":
            self._add_mic()
            await self._describe()
        while True:
            message = await self.inbox.get()
            kind = message.get("kind")
            if kind == "description":
                await pc.set_remote_description(Description.from_dict(message["description"]))
                if message["description"].get("type") == "offer":
                    self._add_mic()
                    await self._describe()
                else:  # our answer is in force: the renegotiation is over here too
                    self.post(kind="applied", type=message["description"].get("type"))
            elif kind == "candidate":
                cand = message.get("candidate")
                try:
                    init = IceCandidateInit.from_dict(cand) if cand else None
                    await pc.add_ice_candidate(init if init and init.candidate else None)
                except Exception as exc:
                    self.post(kind="log", text=f"addIceCandidate failed: {exc}")
            elif kind == "channel":
                self._create_channel(message.get("spec") or {})
            elif kind == "restart":
                pc.restart_ice()
                await self._describe()
            elif kind == "stats":
                await self._post_stats("asked")
            elif kind == "end":
                return

    def _add_mic(self) -> None:
        """A 440 Hz tone as PCMU, added after an offer is applied (JSEP §5.10: it reuses
        the offered m=audio) or before our own offer."""
        if self.spec.get("audio") and not self.mic_added:
            assert self.pc is not None
            self.pc.add_track(G711Track(ToneSource(440.0, amplitude=0.3)))
            self.mic_added = True

    def _on_track(self, track: RemoteTrack) -> None:
        async def drain() -> None:  # keep the queue moving; stats count the packets
            while True:
                await track.recv()

        self.tasks.add(asyncio.ensure_future(drain()))

    async def _describe(self) -> None:
        """setLocalDescription (offer or answer), then send it; held candidates follow."""
        assert self.pc is not None
        self.held = []
        try:
            await self.pc.set_local_description()
            if not self.spec.get("trickle"):
                await self.pc.wait_gathering_complete()
            desc = self.pc.local_description
            assert desc is not None
            self.post(kind="description", description=desc.to_dict())
        finally:
            held, self.held = self.held, None
            for message in held:
                self.post(**message)

    async def _post_stats(self, why: str) -> None:
        assert self.pc is not None
        summary = summarize_stats(await self.pc.get_stats())
        self.post(
            kind="stats",
            why=why,
            stats=summary,
            maxMessageSize=self.pc.settings.sctp_max_message_size,
        )

    def _create_channel(self, channel: dict[str, Any]) -> None:
        assert self.pc is not None
        options = channel.get("options") or {}
        self._wire(
            self.pc.create_data_channel(
                str(channel.get("label", "")),
                ordered=bool(options.get("ordered", True)),
                max_packet_life_time=options.get("maxPacketLifeTime"),
                max_retransmits=options.get("maxRetransmits"),
                protocol=str(options.get("protocol", "")),
                negotiated=bool(options.get("negotiated", False)),
                id=options.get("id"),
            )
        )

    def _wire(self, channel: DataChannel) -> None:
        def opened() -> None:
            self.post(kind="open", label=channel.label, id=channel.id)

        def on_message(data: str | bytes) -> None:
            if data == "__close__":
                channel.close()
                return
            if data == "__stats__":
                self.tasks.add(asyncio.ensure_future(self._post_stats("channel")))
                return
            try:
                channel.send(data)
            except Exception as exc:
                self.post(kind="echo-error", label=channel.label, error=str(exc))

        channel.on("open", opened)
        channel.on("close", lambda: self.post(kind="closed", label=channel.label, id=channel.id))
        channel.on("message", on_message)
        if channel.ready_state == "open":
            opened()


def _default_settings(host: str) -> Callable[[], Settings]:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return lambda: Settings(host_addresses=["127.0.0.1"], allow_loopback=True)
    return Settings


class Endpoint:
    """Serves the endpoint protocol with our PeerConnection::

    endpoint = Endpoint()
    url = await endpoint.start("0.0.0.0", 8080)   # give this URL to the harness
    """

    def __init__(
        self, settings_factory: Callable[[], Settings] | None = None, name: str = ""
    ) -> None:
        from .. import __version__

        self.name = name or f"pyrtcstack {__version__}"
        self.settings_factory = settings_factory
        self.server = HttpServer(self._handle)
        self.scenarios: dict[str, _Scenario] = {}
        self.started = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self.settings_factory is None:
            self.settings_factory = _default_settings(host)
        return await self.server.start(host, port)

    @property
    def url(self) -> str:
        return self.server.url

    async def close(self) -> None:
        await self.server.close()
        for scenario in list(self.scenarios.values()):
            scenario.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await scenario.task
        self.scenarios.clear()

    def hello(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL,
            "name": self.name,
            "offer": True,
            "answer": True,
            "trickle": True,
            "restart": True,
            "audio": True,
            "relay": True,
        }

    async def _handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET" and not parts:
            return Response.json(self.hello())
        if parts[:1] != ["scenarios"]:
            return Response(404, b"not found", "text/plain")
        if request.method == "POST" and len(parts) == 1:
            return self._create(request.json())
        scenario = self.scenarios.get(parts[1]) if len(parts) == 3 else None
        if scenario is None or parts[2] != "messages":
            return Response(404, b"no such scenario", "text/plain")
        if request.method == "POST":
            message = request.json()
            if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
                raise ValueError("a message is a JSON object with a string 'kind'")
            if scenario.ended:
                return Response.json({})  # e.g. "end" after a failure: nothing to do
            if scenario.inbox.full():
                return Response(503, b"too many messages", "text/plain")
            scenario.inbox.put_nowait(message)
            return Response.json({})
        if request.method == "GET":
            after = int(request.query.get("after", "0"))
            if len(scenario.outbox) <= after:
                scenario.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_WAIT):
                        await scenario.changed.wait()
            return Response.json({"messages": scenario.outbox[after:]})
        return Response(405, b"method not allowed", "text/plain")

    def _create(self, spec: Any) -> Response:
        if not isinstance(spec, dict) or spec.get("role") not in ("we-offer", "peer-offers"):
            raise ValueError("a scenario needs role 'we-offer' or 'peer-offers'")
        if sum(not s.ended for s in self.scenarios.values()) >= MAX_SCENARIOS:
            return Response(503, b"too many scenarios", "text/plain")
        assert self.settings_factory is not None
        sid = secrets.token_urlsafe(9)
        scenario = self.scenarios[sid] = _Scenario(sid, spec, self.settings_factory())
        self.started += 1

        def forget(_task: asyncio.Future[None]) -> None:
            asyncio.get_running_loop().call_later(LINGER, self.scenarios.pop, sid, None)

        scenario.task.add_done_callback(forget)
        return Response.json({"id": sid})
