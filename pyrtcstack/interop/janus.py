"""Janus WebRTC gateway (Debian ``janus``) as a peer: its echotest plugin over the HTTP API.

Janus is a server people deploy, not a browser: it does not run the harness's page, so
this module drives it the way a Janus client does (https://janus.conf.meetecho.com/docs/
rest.html) and checks what comes back:

1. :func:`start_janus` writes a configuration into a fresh temporary folder and starts
   ``janus`` on it: the HTTP transport only (libmicrohttpd, 127.0.0.1, a free port), the
   echotest plugin only (the folders Janus loads plugins and transports from hold just
   those two), ICE on loopback only, no STUN server, no event handlers, no admin API.
2. Per scenario: ``create`` a session, ``attach`` to ``janus.plugin.echotest``, send our
   offer in a ``message`` (Janus only answers: the echotest plugin does not offer), get
   Janus's answer from the session's long poll, trickle our candidates (``trickle``)
   or put them all in the offer.
3. Checks: binary messages come back as they were sent; text comes back with Janus's
   prefix (``"Janus EchoTest here! You wrote: "``, janus_echotest.c); 1,000 ordered
   messages; a message of 60,000 bytes (Janus's plugin API carries a data message's
   length in 16 bits); Janus's ``webrtcup`` event (its DTLS is up); our PCMU tone comes
   back from the echo (recorded and checked for sound); Janus's ``media`` event (it
   receives our audio); our hang-up: closing our peer connection makes Janus report
   ``hangup`` (it read our DTLS close_notify); and, in the relay scenario, the same with
   our side only through coturn (on the address Janus gathers on).

Only "we offer" exists here; GStreamer, the browsers and werift cover the other role.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import secrets
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..aio import DataChannel, PeerConnection, host_addresses
from ..media import EncodedFrame, G711Track, ToneSource
from ..peerconnection import Configuration, Description, IceCandidateInit, IceServer, Settings
from .audit import setup_counters
from .launchers import Coturn, PeerUnavailableError, _free_udp_tcp_port, start_coturn
from .remote import EndpointError
from .scenarios import (
    AUDIO_SECONDS,
    CHECK_TIMEOUT,
    CONNECT_TIMEOUT,
    ORDERED_COUNT,
    CheckResult,
    ScenarioResult,
    check_pcmu_frames,
    scenario_spec,
)

__all__ = [
    "ECHO_PREFIX",
    "JANUS_LIB",
    "Janus",
    "janus_config",
    "janus_plan",
    "run_janus",
    "start_janus",
]

#: What janus_echotest.c puts before every text message it sends back.
ECHO_PREFIX = "Janus EchoTest here! You wrote: "
#: Where Debian's ``janus`` keeps its plugins and transports.
JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus"
#: Seconds from starting janus to its HTTP API answering ``GET /janus/info``.
START_TIMEOUT = 15.0
#: Seconds a long poll (``GET /janus/SESSION``) waits on Janus's side (its default, 30).
LONG_POLL = 30.0
#: Largest data message the check sends: echotest relays through ``janus_plugin_data``,
#: whose ``length`` is a uint16_t.
LARGE_MESSAGE = 60000


def janus_config(folder: str, port: int, address: str) -> dict[str, str]:
    """The configuration files (name → text) for a Janus with the HTTP transport on
    127.0.0.1:``port``, ICE on ``address`` only, the echotest plugin and nothing else
    (jcfg is libconfig's syntax)."""
    return {
        "janus.jcfg": f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder}/plugins"
    transports_folder = "{folder}/transports"
    events_folder = "{folder}/events"
    loggers_folder = "{folder}/loggers"
    debug_level = 4
    server_name = "pyrtcstack-interop"
    session_timeout = 60
    hide_dependencies = true
}}
certificates: {{
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{address}"
    ignore_mdns = true
    nice_debug = false
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
loggers: {{
}}
""",
        "janus.transport.http.jcfg": f"""general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
cors: {{
}}
""",
        "janus.plugin.echotest.jcfg": "general: {\n    events = false\n}\n",
    }


@dataclass
class Janus:
    """A running janus (its own process group) and its temporary folder."""

    process: asyncio.subprocess.Process
    folder: str
    port: int
    log_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus"

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 3.0)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def find_janus() -> str:
    exe = shutil.which("janus") or ("/usr/bin/janus" if os.access("/usr/bin/janus", 1) else None)
    if exe is None:
        raise PeerUnavailableError("janus not found (Debian package 'janus')")
    for kind, name in (("plugins", "libjanus_echotest.so"), ("transports", "libjanus_http.so")):
        if not os.path.exists(os.path.join(JANUS_LIB, kind, name)):
            raise PeerUnavailableError(f"{JANUS_LIB}/{kind}/{name} missing (Debian 'janus')")
    return exe


def ice_address() -> str:
    """The address Janus and we gather on: Janus skips loopback interfaces when it lists
    local addresses, so it needs this machine's first non-loopback IPv4 address (packets
    between two local addresses never leave the machine). Raises
    :class:`PeerUnavailableError` when there is none."""
    addresses = [a for a in host_addresses() if ":" not in a]
    if not addresses:
        raise PeerUnavailableError(
            "Janus gathers no ICE candidate on loopback: it needs one non-loopback IPv4 "
            "address (in a private network namespace, a veth pair with one address: "
            "docs/interop.md, Janus)"
        )
    return addresses[0]


async def start_janus(log_dir: str, address: str) -> Janus:
    """Janus with a fresh configuration, its API on 127.0.0.1, ICE on ``address``; raises
    :class:`PeerUnavailableError` when it is not installed and ``RuntimeError`` when it
    does not come up."""
    exe = find_janus()
    folder = tempfile.mkdtemp(prefix="pyrtcstack-janus-")
    port = _free_udp_tcp_port()
    for kind, name in (("plugins", "libjanus_echotest.so"), ("transports", "libjanus_http.so")):
        os.mkdir(os.path.join(folder, kind))
        os.symlink(os.path.join(JANUS_LIB, kind, name), os.path.join(folder, kind, name))
    for kind in ("events", "loggers"):
        os.mkdir(os.path.join(folder, kind))
    for name, text in janus_config(folder, port, address).items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    log_path = os.path.join(log_dir, "janus.log")
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the child)
    try:
        process = await asyncio.create_subprocess_exec(
            exe,
            "--config", os.path.join(folder, "janus.jcfg"),
            "--configs-folder", folder,
            "--disable-colors",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()
    janus = Janus(process, folder, port, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            info = await http_json("GET", f"{janus.url}/info", timeout=2.0)
            if isinstance(info, dict) and "janus.plugin.echotest" in (info.get("plugins") or {}):
                return janus
        except EndpointError:
            pass
        if process.returncode is not None or time.monotonic() > deadline:
            tail = janus.log_tail()
            await janus.stop()
            raise RuntimeError(f"janus did not come up within {START_TIMEOUT:.0f} s:\n{tail}")
        await asyncio.sleep(0.1)


#: Events kept per session (queued, and already looked at): Janus sends a handful.
MAX_EVENTS = 1000
#: Largest response read from Janus.
MAX_RESPONSE_BYTES = 1 << 20


async def http_json(
    method: str, url: str, body: Any = None, *, timeout: float = CHECK_TIMEOUT
) -> Any:
    """One request to Janus's HTTP API (libmicrohttpd answers with chunked encoding, which
    :func:`.remote.http_json` refuses by design): urllib in a worker thread."""

    def call() -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
        if len(raw) > MAX_RESPONSE_BYTES:
            raise EndpointError(f"{method} {url}: response over {MAX_RESPONSE_BYTES} bytes")
        return json.loads(raw)

    try:
        return await asyncio.to_thread(call)
    except (OSError, ValueError) as exc:  # URLError is an OSError; JSONDecodeError a ValueError
        raise EndpointError(f"{method} {url}: {exc}") from None


class JanusClient:
    """One Janus session with one echotest handle (the HTTP API, JSON both ways)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = 0
        self.handle = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_EVENTS)
        #: The last MAX_EVENTS events taken from the queue (what wait_event looks through).
        self.seen: list[dict[str, Any]] = []
        self._poller: asyncio.Task[None] | None = None

    async def request(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(8)}
        answer = await http_json("POST", self.base + path, body)
        if not isinstance(answer, dict) or answer.get("janus") == "error":
            raise EndpointError(f"janus {body.get('janus')}: {str(answer)[:200]}")
        return answer

    async def open(self) -> None:
        created = await self.request("", {"janus": "create"})
        self.session = int(created["data"]["id"])
        attached = await self.request(
            f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.echotest"}
        )
        self.handle = int(attached["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                answer = await http_json(
                    "GET", f"{self.base}/{self.session}?maxev=10", timeout=LONG_POLL + 5
                )
            except EndpointError:
                await asyncio.sleep(0.2)
                continue
            for event in answer if isinstance(answer, list) else [answer]:
                if isinstance(event, dict) and event.get("janus") != "keepalive":
                    with contextlib.suppress(asyncio.QueueFull):
                        self.events.put_nowait(event)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None) -> None:
        payload: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        await self.request(f"/{self.session}/{self.handle}", payload)

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        await self.request(
            f"/{self.session}/{self.handle}",
            {"janus": "trickle", "candidate": candidate or {"completed": True}},
        )

    async def wait_event(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (seen before or still to come) that ``predicate`` accepts."""
        while True:
            for event in self.seen:
                if predicate(event):
                    return event
            self.seen.append(await self.events.get())
            del self.seen[:-MAX_EVENTS]

    async def close(self) -> None:
        if self.session:
            with contextlib.suppress(EndpointError):
                await self.request(f"/{self.session}", {"janus": "destroy"})
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller


def janus_plan() -> list[dict[str, Any]]:
    """We offer (Janus answers): trickle, non-trickle with PCMU audio echoed, and trickle
    with our side relayed through coturn (``ice_transport_policy="relay"``)."""
    return [
        scenario_spec("echotest", "we-offer", trickle=True),
        scenario_spec("echotest+audio", "we-offer", trickle=False, audio=True),
        scenario_spec("echotest+turn", "we-offer", trickle=True, relay=True),
    ]


@dataclass
class _Run:
    pc: PeerConnection
    client: JanusClient
    queue: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    frames: list[EncodedFrame] = field(default_factory=list)
    tasks: list[asyncio.Future[None]] = field(default_factory=list)
    chat: DataChannel | None = None


async def run_janus(
    scenarios: list[dict[str, Any]] | None = None,
    *,
    settings_factory: Callable[[], Settings],
    log_dir: str,
    verbose: Callable[[str], None] | None = None,
) -> list[ScenarioResult]:
    """Start Janus, run each scenario against its echotest plugin, stop it."""
    address = ice_address()
    plan = scenarios or janus_plan()
    janus = await start_janus(log_dir, address)
    coturn: Coturn | None = None
    results: list[ScenarioResult] = []

    def factory() -> Settings:
        return dataclasses.replace(settings_factory(), host_addresses=[address])

    try:
        if any(spec.get("relay") for spec in plan):
            coturn = await start_coturn(address)  # on the one address Janus and we use
        for spec in plan:
            result = await _scenario(janus, spec, factory, coturn)
            if not result.ok:
                result.error = result.error or f"see {janus.log_path}"
            results.append(result)
            if verbose:
                from .matrix import format_table

                verbose(format_table([result]))
    finally:
        await janus.stop()
        if coturn is not None:
            await coturn.stop()
    return results


async def _scenario(
    janus: Janus,
    spec: dict[str, Any],
    settings_factory: Callable[[], Settings],
    coturn: Coturn | None,
) -> ScenarioResult:
    result = ScenarioResult("janus", spec["name"], spec["role"], spec["trickle"])
    t0 = asyncio.get_running_loop().time()
    client = JanusClient(janus.url)
    configuration = None
    if spec.get("relay") and coturn is not None:
        # Our side only through coturn (Janus has no relay-only policy of its own).
        server = IceServer(coturn.url, coturn.user, coturn.password)
        configuration = Configuration(ice_servers=[server], ice_transport_policy="relay")
    pc = PeerConnection(configuration, settings=settings_factory())
    run = _Run(pc, client)
    try:
        await client.open()
        await _connect(run, spec, result, t0)
        await _checks(run, spec, result)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        for task in run.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await pc.close()
        if result.setup_time is not None and not result.error:
            await _check(result, "hangup", lambda: _hangup(run))
        await client.close()
    return result


async def _connect(run: _Run, spec: dict[str, Any], result: ScenarioResult, t0: float) -> None:
    pc, client = run.pc, run.client
    trickled: list[IceCandidateInit | None] = []
    pc.on("icecandidate", trickled.append)
    if spec.get("audio"):
        pc.add_track(G711Track(ToneSource(440.0, amplitude=0.3)))

        def on_track(track: Any) -> None:
            async def pull() -> None:
                while True:
                    run.frames.append(await track.recv())

            run.tasks.append(asyncio.ensure_future(pull()))

        pc.on("track", on_track)
    chat = run.chat = pc.create_data_channel("chat")
    chat.on("message", run.queue.put_nowait)
    await pc.set_local_description()
    if not spec["trickle"]:
        await pc.wait_gathering_complete()
    offer = pc.local_description
    assert offer is not None
    body = {"audio": bool(spec.get("audio")), "video": False, "data": True}
    await client.message(body, {"type": "offer", "sdp": offer.sdp, "trickle": spec["trickle"]})
    if spec["trickle"]:
        run.tasks.append(asyncio.ensure_future(_trickle(pc, client, trickled)))
    async with asyncio.timeout(CONNECT_TIMEOUT):
        event = await client.wait_event(lambda e: "jsep" in e)
        jsep = event["jsep"]
        if not isinstance(jsep, dict) or jsep.get("type") != "answer":
            raise EndpointError(f"janus sent {str(jsep)[:100]} where an answer belongs")
        await pc.set_remote_description(Description("answer", str(jsep.get("sdp"))))
        await chat.wait_open(CONNECT_TIMEOUT)
    result.setup_time = asyncio.get_running_loop().time() - t0
    stats = await pc.get_stats()
    transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
    result.dtls_version = {"FEFD": "1.2", "FEFC": "1.3"}.get(
        str(transport.get("tlsVersion", "")), str(transport.get("tlsVersion", ""))
    )
    result.cipher = str(transport.get("dtlsCipher", ""))
    result.srtp = str(transport.get("srtpCipher", ""))


async def _trickle(
    pc: PeerConnection, client: JanusClient, gathered: list[IceCandidateInit | None]
) -> None:
    """Send our candidates to Janus as they come, then ``completed``."""
    sent = 0
    while True:
        while sent < len(gathered):
            cand = gathered[sent]
            sent += 1
            await client.trickle(cand.to_dict() if cand is not None else None)
            if cand is None:
                return
        await asyncio.sleep(0.02)


async def _check(result: ScenarioResult, name: str, coro: Callable[[], Any]) -> None:
    loop = asyncio.get_running_loop()
    t = loop.time()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            problem = await coro()
    except TimeoutError:
        problem = f"timed out after {CHECK_TIMEOUT:.0f} s"
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    result.checks.append(CheckResult(name, not problem, problem, loop.time() - t))


async def _echo(run: _Run, payloads: list[str | bytes]) -> str:
    chat = run.chat
    assert chat is not None
    while not run.queue.empty():
        run.queue.get_nowait()
    for p in payloads:
        chat.send(p)
    for i, p in enumerate(payloads):
        got = await run.queue.get()
        want = ECHO_PREFIX + p if isinstance(p, str) else p
        if got != want or type(got) is not type(want):
            return f"message {i}: sent {_show(p)}, echoed {_show(got)}"
    return ""


def _show(data: str | bytes) -> str:
    kind = "str" if isinstance(data, str) else "bytes"
    return f"{kind}[{len(data)}]{data[:40]!r}"


async def _checks(run: _Run, spec: dict[str, Any], result: ScenarioResult) -> None:
    rng = random.Random(f"janus/{spec['name']}")

    async def strings() -> str:
        return await _echo(run, ["hello", "héllo ✓ 𝄞", "x" * 1000])

    async def binary() -> str:
        return await _echo(run, [bytes([0, 1, 2, 255]), rng.randbytes(1200)])

    async def large() -> str:
        return await _echo(run, [rng.randbytes(LARGE_MESSAGE)])

    async def ordered() -> str:
        return await _echo(run, [f"m{i}" for i in range(ORDERED_COUNT)])

    async def webrtcup() -> str:
        await run.client.wait_event(lambda e: e.get("janus") == "webrtcup")
        return ""

    await _check(result, "webrtcup", webrtcup)
    await _check(result, "strings", strings)
    await _check(result, "binary", binary)
    result.setup_counters = setup_counters(run.pc)  # set up, a little data each way
    await _check(result, f"binary-{LARGE_MESSAGE}", large)
    await _check(result, f"{ORDERED_COUNT}-ordered", ordered)
    if spec.get("relay"):

        async def relay_used() -> str:
            stats = await run.pc.get_stats()
            transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
            pair = stats.get(str(transport.get("selectedCandidatePairId")))
            local = stats.get(str(pair.get("localCandidateId"))) if pair else None
            kind = local.get("candidateType") if local else None
            return "" if kind == "relay" else f"our selected local candidate is {kind!r}"

        await _check(result, "turn-relay", relay_used)
    if spec.get("audio"):

        async def media_event() -> str:
            # Janus tells the client when it starts receiving a medium.
            await run.client.wait_event(
                lambda e: (
                    e.get("janus") == "media"
                    and e.get("type") == "audio"
                    and e.get("receiving") is True
                )
            )
            return ""

        async def audio_echo() -> str:
            return await _audio_echo(run)

        await _check(result, "media-event", media_event)
        await _check(result, "audio-echo", audio_echo)


async def _audio_echo(run: _Run) -> str:
    """Our 440 Hz PCMU tone, echoed by Janus: record it to WAV, check it is there."""
    while len(run.frames) < AUDIO_SECONDS * 50:
        await asyncio.sleep(0.05)
    transceiver = next(iter(run.pc.get_transceivers()), None)
    problem, _info = check_pcmu_frames(run.frames, transceiver.codec if transceiver else None)
    return problem


async def _hangup(run: _Run) -> str:
    """After our close (DTLS close_notify), Janus reports the PeerConnection gone."""
    await run.client.wait_event(lambda e: e.get("janus") == "hangup")
    return ""
