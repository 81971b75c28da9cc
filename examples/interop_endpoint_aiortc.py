"""A reference endpoint for ``pyrtcstack interop URL``, built on aiortc alone.

It implements the endpoint protocol of docs/interop.md ("Testing your endpoint") from the
document, with no pyrtcstack code: the HTTP server is plain asyncio streams, the WebRTC
side is aiortc (``pip install aiortc``). Use it as a template for your own endpoint::

    python examples/interop_endpoint_aiortc.py --port 8080      # prints "endpoint: URL"
    pyrtcstack interop http://127.0.0.1:8080/                   # on this or another machine

Capabilities announced: both roles, PCMU audio both ways; no trickle (aiortc gathers
every candidate inside setLocalDescription) and no ICE restart (aiortc has none), so the
harness runs the two non-trickle scenarios.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import fractions
import json
import math
import secrets
import sys
import time
import traceback
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROTOCOL = "pyrtcstack-interop/1"
POLL_WAIT = 5.0  # seconds a GET .../messages waits when there is nothing new
MAX_BODY = 4 * 1024 * 1024
MAX_MESSAGES = 10_000  # per scenario and direction
MAX_SCENARIOS = 4
LINGER = 30.0  # seconds an ended scenario stays readable

# OpenSSL cipher names (what aiortc's pyOpenSSL reports) to the IANA names of getStats.
IANA_CIPHERS = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}


def make_tone_track() -> Any:
    """A 440 Hz tone, 20 ms frames of 8 kHz s16 mono, paced in real time."""
    from aiortc.mediastreams import AudioStreamTrack
    from av import AudioFrame

    class Tone(AudioStreamTrack):
        async def recv(self) -> Any:
            frame: Any = await super().recv()  # paces, sets pts/time_base
            n = frame.samples
            start = frame.pts or 0
            samples = array.array(
                "h",
                (int(9000 * math.sin(2 * math.pi * 440 * (start + i) / 8000)) for i in range(n)),
            )
            out = AudioFrame(format="s16", layout="mono", samples=n)
            out.planes[0].update(samples.tobytes())
            out.pts, out.sample_rate = frame.pts, 8000
            out.time_base = fractions.Fraction(1, 8000)
            return out

    return Tone()


class Scenario:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.outbox: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_MESSAGES)
        self.ended = False
        self.pc: Any = None
        self.audio_packets = 0
        self.audio_energy = 0.0
        self.audio_codec = ""
        self.tasks: set[asyncio.Future[Any]] = set()
        self.task = asyncio.ensure_future(self.run())

    def post(self, **message: Any) -> None:
        if len(self.outbox) < MAX_MESSAGES:
            self.outbox.append({**message, "seq": len(self.outbox) + 1})
            self.changed.set()

    async def run(self) -> None:
        limit = min(float(self.spec.get("timeoutMs") or 60000) / 1000, 600)
        try:
            async with asyncio.timeout(limit):
                await self.drive()
        except Exception as exc:
            traceback.print_exc()
            self.post(kind="error", error=f"{type(exc).__name__}: {exc}")
        finally:
            for task in self.tasks:
                task.cancel()
            if self.pc is not None:
                await self.pc.close()
            self.ended = True
            self.post(kind="ended")

    async def drive(self) -> None:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
        from aiortc import RTCSessionDescription as Desc

        config = self.spec.get("pcConfig") or {}
        servers = [
            RTCIceServer(s["urls"], s.get("username"), s.get("credential"))
            for s in config.get("iceServers") or []
        ]
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        pc.on("connectionstatechange", lambda: self.post(kind="state", state=pc.connectionState))
        pc.on("datachannel", self.wire)
        if self.spec.get("audio"):
            pc.on("track", self.on_track)
        for ch in self.spec.get("peerChannels") or []:
            self.create_channel(ch)
        if self.spec.get("role") == "peer-offers":
            if self.spec.get("audio"):
                self.add_mic()
            await pc.setLocalDescription(await pc.createOffer())
            self.describe()
        while True:
            msg = await self.inbox.get()
            kind = msg.get("kind")
            if kind == "description":
                desc = msg["description"]
                await pc.setRemoteDescription(Desc(desc["sdp"], desc["type"]))
                if desc["type"] == "offer":
                    if self.spec.get("audio"):
                        self.add_mic()
                    await pc.setLocalDescription(await pc.createAnswer())
                    self.describe()
                else:  # the harness's answer is applied: renegotiation over
                    self.post(kind="applied", type=desc["type"])
            elif kind == "candidate":
                pass  # non-trickle only: candidates are inside the descriptions
            elif kind == "channel":
                self.create_channel(msg.get("spec") or {})
            elif kind == "stats":
                self.post_stats("asked")
            elif kind == "restart":
                self.post(kind="error", error="ICE restart is not supported by this endpoint")
            elif kind == "end":
                return

    def describe(self) -> None:
        d = self.pc.localDescription  # aiortc: gathering is complete here
        self.post(kind="description", description={"type": d.type, "sdp": d.sdp})

    def add_mic(self) -> None:
        track = make_tone_track()
        offered = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if offered:
            offered[0].sender.replaceTrack(track)
            offered[0].direction = "sendrecv"
        else:
            self.pc.addTransceiver(track, direction="sendrecv")
        from aiortc.rtcrtpsender import RTCRtpSender

        pcmu = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "PCMU"]
        for t in self.pc.getTransceivers():
            if t.kind == "audio":
                t.setCodecPreferences(pcmu)

    def on_track(self, track: Any) -> None:
        async def pull() -> None:
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                self.audio_packets += 1
                samples = array.array("h", bytes(frame.planes[0])[: frame.samples * 2])
                mean_square = sum((s / 32768) ** 2 for s in samples) / max(len(samples), 1)
                self.audio_energy += mean_square * frame.samples / frame.sample_rate

        self.tasks.add(asyncio.ensure_future(pull()))

    def create_channel(self, spec: dict[str, Any]) -> None:
        o = spec.get("options") or {}
        self.wire(
            self.pc.createDataChannel(
                spec.get("label", ""),
                ordered=o.get("ordered", True),
                maxPacketLifeTime=o.get("maxPacketLifeTime"),
                maxRetransmits=o.get("maxRetransmits"),
                protocol=o.get("protocol", ""),
                negotiated=o.get("negotiated", False),
                id=o.get("id"),
            )
        )

    def wire(self, ch: Any) -> None:
        def opened() -> None:
            self.post(kind="open", label=ch.label, id=ch.id)

        def on_message(data: Any) -> None:
            if data == "__close__":
                ch.close()
            elif data == "__stats__":
                self.post_stats("channel")
            else:
                try:
                    ch.send(data)
                except Exception as exc:
                    self.post(kind="echo-error", label=ch.label, error=str(exc))

        ch.on("open", opened)
        ch.on("close", lambda: self.post(kind="closed", label=ch.label, id=ch.id))
        ch.on("message", on_message)
        if ch.readyState == "open":
            opened()

    def post_stats(self, why: str) -> None:
        """The protocol's stats summary from aiortc internals (it has no candidate-pair or
        cipher in getStats): the nominated aioice pair and pyOpenSSL's cipher name."""
        stats: dict[str, Any] = {"transport": {}, "local": None, "remote": None}
        dtls = self.pc.sctp.transport if self.pc.sctp else None
        if dtls is None:
            dtls = next((t.receiver.transport for t in self.pc.getTransceivers()), None)
        if dtls is not None:
            ssl = getattr(dtls, "_ssl", None)
            name = ssl.get_cipher_name() if ssl is not None else None
            if name in IANA_CIPHERS:
                stats["transport"]["dtlsCipher"] = IANA_CIPHERS[name]
            pair = getattr(dtls.transport, "_connection", None)
            nominated = getattr(pair, "_nominated", {}).get(1)
            if nominated is not None:
                lc, rc = nominated.local_candidate, nominated.remote_candidate
                stats["local"] = {"address": lc.host, "port": lc.port, "candidateType": lc.type}
                stats["remote"] = {"address": rc.host, "port": rc.port, "candidateType": rc.type}
        stats["inbound"] = [
            {
                "kind": "audio",
                "packetsReceived": self.audio_packets,
                "codecId": "pcmu",
                "totalAudioEnergy": self.audio_energy,
            }
        ]
        stats["codecs"] = [{"id": "pcmu", "mimeType": "audio/PCMU"}]
        sctp = self.pc.sctp
        self.post(
            kind="stats", why=why, stats=stats, maxMessageSize=getattr(sctp, "maxMessageSize", None)
        )


class Endpoint:
    def __init__(self, name: str) -> None:
        self.name = name
        self.scenarios: dict[str, Scenario] = {}

    def hello(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL,
            "name": self.name,
            "offer": True,
            "answer": True,
            "trickle": False,
            "restart": False,
            "audio": True,
        }

    async def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        """Returns a JSON-able answer, or (status, text) for an error."""
        parts = [p for p in path.split("/") if p]
        if method == "GET" and not parts:
            return self.hello()
        if method == "POST" and parts == ["scenarios"]:
            if not isinstance(body, dict) or body.get("role") not in ("we-offer", "peer-offers"):
                return (400, "bad scenario")
            if sum(not s.ended for s in self.scenarios.values()) >= MAX_SCENARIOS:
                return (503, "too many scenarios")
            sid = secrets.token_urlsafe(9)
            created = self.scenarios[sid] = Scenario(body)
            created.task.add_done_callback(
                lambda _t: asyncio.get_running_loop().call_later(
                    LINGER, self.scenarios.pop, sid, None
                )
            )
            return {"id": sid}
        if len(parts) != 3 or parts[0] != "scenarios" or parts[2] != "messages":
            return (404, "not found")
        scenario = self.scenarios.get(parts[1])
        if scenario is None:
            return (404, "no such scenario")
        if method == "POST":
            if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
                return (400, "bad message")
            if not scenario.ended:
                scenario.inbox.put_nowait(body)
            return {}
        after = int(query.get("after", "0"))
        if len(scenario.outbox) <= after:
            scenario.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_WAIT):
                    await scenario.changed.wait()
        return {"messages": scenario.outbox[after:]}

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One request per connection (HTTP/1.1, Content-Length bodies, Connection: close)."""
        try:
            async with asyncio.timeout(30):
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                length = 0
                for line in head[1:]:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                if not 0 <= length <= MAX_BODY:
                    raise ValueError("body too large")
                raw = await reader.readexactly(length) if length else b""
            url = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = json.loads(raw or b"null")
            answer = await self.handle(method, url.path, query, body)
        except Exception as exc:
            answer = (400, f"bad request: {exc}")
        if isinstance(answer, tuple):
            status, content, ctype = answer[0], answer[1].encode(), "text/plain"
        else:
            status, content, ctype = 200, json.dumps(answer).encode(), "application/json"
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n".encode()
            + content
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="gather on 127.0.0.1 only (aioice skips loopback otherwise); tests use it",
    )
    args = parser.parse_args()
    import aiortc

    if args.loopback:
        import aioice.ice

        aioice.ice.get_host_addresses = lambda *a, **k: ["127.0.0.1"]
    endpoint = Endpoint(f"aiortc {aiortc.__version__}")
    server = await asyncio.start_server(endpoint.serve_connection, args.host, args.port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"endpoint: http://{host}:{port}/", flush=True)
    print(f"started {time.strftime('%H:%M:%S')}; Ctrl-C to stop", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
