"""The scenarios: our :class:`~pyrtcstack.PeerConnection` on one side, the peer on the other.

A scenario is a JSON-able spec (sent to the peer in ``/config``) plus the Python coroutine
that drives our side and checks everything (:func:`run_scenario`). One scenario makes one
connection and runs many checks over it (each a row of the table): data channel strings,
binary, empty messages, 64 KiB, the peer's max-message-size, 1,000 ordered messages, an
unordered unreliable channel, a negotiated channel, close from each side, getStats
agreement, and optionally an ICE restart.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import random
import tempfile
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..aio import DataChannel, PeerConnection, RemoteTrack
from ..media import Codec, EncodedFrame, G711Track, ToneSource, WavRecorder
from ..peerconnection import Description, IceCandidateInit, Settings
from ..sdp import SessionDescription, remote_max_message_size
from .audit import setup_counters
from .opus import OPUS_SECONDS, check_opus_frames, prefer_opus
from .session import PeerSession

__all__ = [
    "CHECK_TIMEOUT",
    "CheckResult",
    "ScenarioResult",
    "run_scenario",
    "scenario_spec",
]

#: Seconds one check may take (a 256 KiB echo, 1,000 messages...).
CHECK_TIMEOUT = 10.0
#: Seconds from the scenario start to an open data channel.
CONNECT_TIMEOUT = 10.0
#: Seconds given to a check listed in KNOWN_GAPS.
KNOWN_GAP_TIMEOUT = 2.0
#: The negotiated channel's id (both sides create it, RFC 8832 §6: no DCEP).
NEGOTIATED_ID = 7
#: Messages sent on the unordered, unreliable (maxRetransmits 0) channel.
UNRELIABLE_COUNT = 200
#: Messages in the ordered burst.
ORDERED_COUNT = 1000
#: Seconds to wait for the peer's "applied" after our answer to its offer (ICE restart).
APPLIED_WAIT = 5.0
#: Seconds the ice-restart check may take: werift, controlling after its own restart,
#: nominates only when one of our checks prods it (our consent check comes every ~5 s),
#: so its restart takes up to ~5 s on a quiet machine (measured 0.5-4.3 s).
RESTART_TIMEOUT = 20.0


#: Checks that cannot pass yet, by (peer, role or "*", check): shown as "not yet" (a gap
#: in our stack, with a request to its owner) or "quirk" (the peer's bug) with the reason,
#: instead of failing. docs/interop.md explains each. A check listed here that passes is
#: shown as a pass: delete its line then.
KNOWN_GAPS: dict[tuple[str, str, str], str] = {
    ("werift", "*", "empty-string"): (
        "quirk: werift SACKs an empty message (PPID 56/57) but never delivers it, which "
        "also stalls that ordered stream"
    ),
    ("werift", "*", "empty-binary"): "quirk: as empty-string",
    # GStreamer webrtcbin 1.22 (docs/interop.md): it receives empty messages (with PPIDs
    # 56/57 swapped), but sends one as a zero-length buffer, which its sctpenc fails to
    # send ("Failed to send data"): "Internal data stream error", and the channel closes.
    ("gstreamer", "*", "empty-string"): (
        "quirk: webrtcbin 1.22 sends an empty message as zero bytes; its sctpenc fails "
        "and the channel closes"
    ),
    ("gstreamer", "*", "empty-binary"): "quirk: as empty-string",
}


def apply_known_gaps(result: ScenarioResult) -> None:
    """Turn the failures listed in :data:`KNOWN_GAPS` into "not yet"/"quirk" rows."""

    def gap(check: str) -> str | None:
        return KNOWN_GAPS.get((result.peer, result.role, check)) or KNOWN_GAPS.get(
            (result.peer, "*", check)
        )

    if result.error and not result.checks:
        reason = gap("connect")
        if reason:
            result.checks.append(CheckResult("connect", None, f"{reason} ({result.error})"))
            result.error = ""
        return
    for check in result.checks:
        reason = gap(check.name)
        if check.ok is False and reason:
            check.ok = None
            check.detail = reason


@dataclass
class CheckResult:
    name: str
    ok: bool | None  # None: not run (say why in detail)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ScenarioResult:
    peer: str
    name: str
    role: str
    trickle: bool
    checks: list[CheckResult] = field(default_factory=list)
    setup_time: float | None = None
    #: our side's counters once set up and a few messages echoed (.audit.setup_counters)
    setup_counters: dict[str, int] | None = None
    dtls_version: str = ""
    cipher: str = ""
    srtp: str = ""
    peer_stats: dict[str, Any] | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(c.ok is not False for c in self.checks)


def scenario_spec(
    name: str,
    role: str,
    *,
    trickle: bool = True,
    restart: bool = False,
    expect_failure: bool = False,
    audio: bool = False,
    relay: bool = False,
    opus: bool = False,
) -> dict[str, Any]:
    """A scenario as the peer sees it in ``/config`` (unknown keys are the Python side's)."""
    peer_channels: list[dict[str, Any]] = [
        {"label": "neg", "options": {"negotiated": True, "id": NEGOTIATED_ID}}
    ]
    if role == "peer-offers":
        peer_channels += [
            {"label": "chat", "options": {}},
            {"label": "lossy", "options": {"ordered": False, "maxRetransmits": 0}},
        ]
    return {
        "name": name,
        "role": role,
        "trickle": trickle,
        "restart": restart,
        "expectFailure": expect_failure,
        "audio": audio,
        # Filled in by the runner with coturn's URL: the peer uses iceTransportPolicy relay.
        "relay": relay,
        # The peer offers Opus audio (send only); we answer Opus, receive only (opus.py).
        "opus": opus,
        "peerChannels": peer_channels,
        "timeoutMs": 60000,
    }


def _clock() -> float:
    """The event loop's clock (the one the peer connection runs on), for check timings."""
    return asyncio.get_running_loop().time()


class _Run:
    """Our side of one scenario."""

    def __init__(self, session: PeerSession, index: int, spec: dict[str, Any], peer: str) -> None:
        #: Payloads of the checks: seeded by peer and scenario, so a failing check sends
        #: the same bytes when it is run again.
        self.rng = random.Random(f"{peer}/{index}")
        self.peer = peer
        self.session = session
        self.index = index
        self.spec = spec
        self.inbox = session.inbox(index)
        self.pc: PeerConnection | None = None
        self.channels: dict[str, DataChannel] = {}
        self.queues: dict[str, asyncio.Queue[str | bytes]] = {}
        self.channel_added = asyncio.Event()
        self.peer_open: set[str] = set()
        self.peer_closed: set[str] = set()
        self.peer_event = asyncio.Event()
        self.peer_states: list[str] = []
        self.peer_errors: list[str] = []
        self.stats_future: asyncio.Future[dict[str, Any]] | None = None
        self.ended = asyncio.Event()
        self.descriptions = 0
        self.description_event = asyncio.Event()
        #: Our answers the peer reports applied ("applied"): its renegotiation is over.
        self.answers_applied = 0
        #: Our trickled candidates wait here while a local description is being applied.
        self.held_candidates: list[dict[str, Any]] | None = None
        self.audio_added = False
        self.frames: list[EncodedFrame] = []
        self.audio_tasks: list[asyncio.Future[None]] = []
        self.audio_track: RemoteTrack | None = None
        self.audio_info = ""

    def add_audio(self) -> None:
        """Our 440 Hz tone as PCMU (after an offer: reuses its m=audio, JSEP §5.10)."""
        if self.spec.get("audio") and not self.audio_added:
            assert self.pc is not None
            self.pc.add_track(G711Track(ToneSource(440.0, amplitude=0.3)))
            self.audio_added = True

    def on_track(self, track: RemoteTrack) -> None:
        async def pull() -> None:
            while True:
                self.frames.append(await track.recv())

        self.audio_track = track
        self.audio_tasks.append(asyncio.ensure_future(pull()))

    def send(self, **message: Any) -> None:
        self.session.send(self.index, message)

    def track(self, ch: DataChannel) -> None:
        queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.channels[ch.label] = ch
        self.queues[ch.label] = queue
        ch.on("message", queue.put_nowait)
        self.channel_added.set()

    async def pump(self) -> None:
        """Apply the peer's messages as they come."""
        assert self.pc is not None
        pc = self.pc
        while True:
            msg = await self.inbox.get()
            kind = msg.get("kind")
            if kind == "description":
                await pc.set_remote_description(Description.from_dict(msg["description"]))
                if msg["description"]["type"] == "offer" and self.spec.get("opus"):
                    prefer_opus(pc)
                if msg["description"]["type"] == "offer":
                    self.add_audio()
                    self.held_candidates = self.held_candidates or []
                    await pc.set_local_description()
                    await self.send_description()
                self.descriptions += 1
                self.description_event.set()
            elif kind == "candidate":
                cand = msg.get("candidate")
                if cand and cand.get("candidate"):
                    with contextlib.suppress(Exception):
                        await pc.add_ice_candidate(IceCandidateInit.from_dict(cand))
                elif cand is None or not cand.get("candidate"):
                    with contextlib.suppress(Exception):
                        await pc.add_ice_candidate(None)
            elif kind == "open":
                self.peer_open.add(str(msg.get("label")))
                self.peer_event.set()
            elif kind == "closed":
                self.peer_closed.add(str(msg.get("label")))
                self.peer_event.set()
            elif kind == "state":
                self.peer_states.append(str(msg.get("state")))
                self.peer_event.set()
            elif kind == "applied":
                if msg.get("type") == "answer":
                    self.answers_applied += 1
                self.peer_event.set()
            elif kind == "stats":
                if self.stats_future is not None and not self.stats_future.done():
                    self.stats_future.set_result(msg)
            elif kind in ("echo-error", "error"):
                self.peer_errors.append(str(msg.get("error")))
                self.peer_event.set()
            elif kind == "ended":
                self.ended.set()

    async def send_description(self) -> None:
        assert self.pc is not None
        if not self.spec["trickle"]:
            await self.pc.wait_gathering_complete()
        desc = self.pc.local_description
        assert desc is not None
        self.send(kind="description", description=desc.to_dict())
        held, self.held_candidates = self.held_candidates or [], None
        for message in held:
            self.send(**message)

    async def wait_channel(self, label: str) -> DataChannel:
        while label not in self.channels:
            self.channel_added.clear()
            await self.channel_added.wait()
        ch = self.channels[label]
        await ch.wait_open(CONNECT_TIMEOUT)
        return ch

    async def recv(self, label: str) -> str | bytes:
        return await self.queues[label].get()

    async def wait_peer(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self.peer_event.clear()
            await self.peer_event.wait()

    async def peer_stats(self) -> dict[str, Any]:
        self.stats_future = asyncio.get_running_loop().create_future()
        self.send(kind="stats")
        return await self.stats_future


def _QUIRK_UNORDERED_LOST(run: _Run) -> bool:  # noqa: N802
    """werift's DCEP OPEN drops the unordered bit when a reliability limit is set (its
    channel type is 0x01, not 0x81; docs/interop.md): the channel we see is ordered."""
    return bool(run.peer == "werift" and run.spec["role"] == "peer-offers")


def _remote_max_message_size(pc: PeerConnection) -> int:
    """The peer's a=max-message-size (RFC 8841 §6; absent: 64 KiB), 0 meaning unlimited."""
    desc = pc.remote_description
    assert desc is not None
    for media in SessionDescription.parse(desc.sdp).media:
        if media.kind == "application":
            return remote_max_message_size(media)
    return 65536


async def _echo(run: _Run, label: str, payloads: list[str | bytes]) -> str:
    ch = run.channels[label]
    queue = run.queues[label]
    while not queue.empty():  # late echoes of an earlier, failed check
        queue.get_nowait()
    for p in payloads:
        ch.send(p)
    for i, p in enumerate(payloads):
        got = await run.recv(label)
        if got != p or type(got) is not type(p):
            return f"message {i}: sent {_show(p)}, echoed {_show(got)}"
    return ""


def _show(data: str | bytes) -> str:
    kind = "str" if isinstance(data, str) else "bytes"
    return f"{kind}[{len(data)}]{data[:16]!r}"


async def run_scenario(
    session: PeerSession,
    index: int,
    peer: str,
    settings_factory: Callable[[], Settings],
) -> ScenarioResult:
    """Run scenario ``index`` of ``session`` against the launched peer."""
    spec = session.scenarios[index]
    result = ScenarioResult(peer, spec["name"], spec["role"], spec["trickle"])
    run = _Run(session, index, spec, peer)
    t0 = _clock()
    pc = run.pc = PeerConnection(settings=settings_factory())
    pump = asyncio.ensure_future(run.pump())
    try:
        await _drive(run, pc, result, t0)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        if run.peer_errors:
            result.error += f" (peer: {run.peer_errors[-1]})"
    finally:
        run.send(kind="end")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.ended.wait(), 5.0)
        for task in [pump, *run.audio_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await pc.close()
    return result


async def _check(
    result: ScenarioResult,
    name: str,
    coro: Callable[[], Awaitable[str]],
    timeout: float = CHECK_TIMEOUT,
) -> None:
    t = _clock()
    # A check known to fail with this peer gets a short timeout (it is not waited for).
    known = (result.peer, result.role, name) in KNOWN_GAPS or (
        result.peer,
        "*",
        name,
    ) in KNOWN_GAPS
    limit = KNOWN_GAP_TIMEOUT if known else timeout
    try:
        async with asyncio.timeout(limit):
            problem = await coro()
    except TimeoutError:
        problem = f"timed out after {limit:.0f} s"
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    result.checks.append(CheckResult(name, not problem, problem, _clock() - t))


async def _drive(run: _Run, pc: PeerConnection, result: ScenarioResult, t0: float) -> None:
    spec = run.spec
    pc.on("datachannel", run.track)

    def on_candidate(cand: IceCandidateInit | None) -> None:
        if spec["trickle"]:
            message = {"kind": "candidate", "candidate": cand.to_dict() if cand else None}
            if run.held_candidates is not None:
                # Gathered during set_local_description: they must follow the description
                # (a peer rejects candidates whose ufrag it has not seen yet).
                run.held_candidates.append(message)
            else:
                run.send(**message)

    pc.on("icecandidate", on_candidate)
    neg = pc.create_data_channel("neg", negotiated=True, id=NEGOTIATED_ID)
    run.track(neg)
    pc.on("track", run.on_track)
    if spec["role"] == "we-offer":
        run.add_audio()
        run.track(pc.create_data_channel("chat"))
        run.track(pc.create_data_channel("lossy", ordered=False, max_retransmits=0))
        run.held_candidates = []
        await pc.set_local_description()
        await run.send_description()

    if spec.get("expectFailure"):
        await _expect_failure(run, pc, result)
        return

    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await run.wait_channel("chat")
    except TimeoutError:
        raise TimeoutError(
            f"no open channel after {CONNECT_TIMEOUT:.0f} s: ice {pc.ice_connection_state}, "
            f"dtls {pc.core.dtls_state}, connection {pc.connection_state}, "
            f"peer states {run.peer_states}"
        ) from None
    result.setup_time = _clock() - t0
    stats = await pc.get_stats()
    transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
    result.dtls_version = {"FEFD": "1.2", "FEFC": "1.3"}.get(
        str(transport.get("tlsVersion", "")), str(transport.get("tlsVersion", ""))
    )
    result.cipher = str(transport.get("dtlsCipher", ""))
    result.srtp = str(transport.get("srtpCipher", ""))

    async def strings() -> str:
        return await _echo(run, "chat", ["hello", "héllo ✓ 𝄞", "x" * 1000])

    async def binary() -> str:
        return await _echo(run, "chat", [bytes([0, 1, 2, 255]), run.rng.randbytes(1200)])

    async def empty_string() -> str:
        return await _echo(run, "chat", [""])

    async def empty_binary() -> str:
        return await _echo(run, "chat", [b""])

    async def big() -> str:
        return await _echo(run, "chat", [run.rng.randbytes(65536)])

    async def max_size() -> str:
        theirs = _remote_max_message_size(pc)
        ours = pc.settings.sctp_max_message_size
        size = min(x for x in (theirs, ours) if x > 0)
        problem = await _echo(run, "chat", [run.rng.randbytes(size)])
        return problem or ""

    async def ordered() -> str:
        return await _echo(run, "chat", [f"m{i}" for i in range(ORDERED_COUNT)])

    async def unreliable() -> str:
        ch = await run.wait_channel("lossy")
        if (ch.ordered and not _QUIRK_UNORDERED_LOST(run)) or ch.max_retransmits != 0:
            return f"channel options ordered={ch.ordered} maxRetransmits={ch.max_retransmits}"
        sent = {f"u{i}" for i in range(UNRELIABLE_COUNT)}
        for m in sorted(sent):
            ch.send(m)
        got: set[str | bytes] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3.0):
                while len(got) < len(sent):
                    got.add(await run.recv("lossy"))
        # Loopback loses nothing in practice; the channel may, so demand most, not all.
        if len(got & sent) < len(sent) * 9 // 10:
            return f"only {len(got)} of {len(sent)} echoed"
        return ""

    async def negotiated() -> str:
        await run.wait_channel("neg")
        return await _echo(run, "neg", ["on a negotiated channel", b"\x07"])

    await _check(result, "strings", strings)
    await _check(result, "binary", binary)
    result.setup_counters = setup_counters(pc)  # set up, a little data each way
    await _check(result, "64KiB", big)
    await _check(result, "max-message-size", max_size)
    await _check(result, f"{ORDERED_COUNT}-ordered", ordered)
    await _check(result, "unordered-unreliable", unreliable)
    await _check(result, "negotiated", negotiated)

    async def stats_agree() -> str:
        msg = await run.peer_stats()
        result.peer_stats = msg.get("stats")
        return _compare_stats(await pc.get_stats(), result.peer_stats or {}, run.session)

    await _check(result, "getStats-agree", stats_agree)

    if spec.get("relay"):

        async def relay_used() -> str:
            local = (result.peer_stats or {}).get("local") or {}
            if local.get("candidateType") != "relay":
                return f"the peer's selected local candidate is {local.get('candidateType')!r}"
            return ""

        await _check(result, "turn-relay", relay_used)

    if spec.get("audio"):

        async def audio_from_peer() -> str:
            return await _audio_from_peer(run)

        async def audio_to_peer() -> str:
            return await _audio_to_peer(run)

        await _check(result, "audio-from-peer", audio_from_peer)
        await _check(result, "audio-to-peer", audio_to_peer)

    if spec.get("opus"):

        async def opus_from_peer() -> str:
            while len(run.frames) < OPUS_SECONDS * 50:
                await asyncio.sleep(0.05)
            codec = run.audio_track.transceiver.codec if run.audio_track else None
            return await check_opus_frames(list(run.frames), codec.name if codec else None)

        await _check(result, "opus-from-peer", opus_from_peer)

    if spec.get("restart"):

        async def restart() -> str:
            return await _restart(run, pc)

        await _check(result, "ice-restart", restart, RESTART_TIMEOUT)

    async def close_theirs() -> str:
        ch = run.channels["lossy"]
        # The request travels on the unreliable channel it closes (maxRetransmits 0), so a
        # single lost datagram would fail the check: send it three times (close() on a
        # closing channel is a no-op in every peer).
        for _ in range(3):
            ch.send("__close__")
        await ch.wait_closed(CHECK_TIMEOUT)
        return ""

    async def close_ours() -> str:
        ch = run.channels["neg"]
        ch.close()
        try:
            await ch.wait_closed(CHECK_TIMEOUT / 2)
        except TimeoutError:
            return f"our channel is still {ch.ready_state} (stream reset unanswered?)"
        try:
            async with asyncio.timeout(CHECK_TIMEOUT / 2):
                await run.wait_peer(lambda: "neg" in run.peer_closed)
        except TimeoutError:
            return "the peer never reported its channel closed"
        # The rest of the association still works.
        return await _echo(run, "chat", ["still here"])

    await _check(result, "close-by-peer", close_theirs)
    await _check(result, "close-by-us", close_ours)
    # Last: a peer that mishandles empty messages may stall the stream (werift does).
    await _check(result, "empty-string", empty_string)
    await _check(result, "empty-binary", empty_binary)


#: Seconds of the peer's audio we record and check.
AUDIO_SECONDS = 1.5


async def _audio_from_peer(run: _Run) -> str:
    """The browser's fake microphone (Chromium: beeps; Firefox: a 1 kHz tone) arrives as
    PCMU: record it to WAV and check frames, duration and that the sound is there."""
    while len(run.frames) < AUDIO_SECONDS * 50:
        await asyncio.sleep(0.05)
    codec = run.audio_track.transceiver.codec if run.audio_track else None
    problem, run.audio_info = check_pcmu_frames(run.frames, codec)
    return problem


def check_pcmu_frames(frames: list[EncodedFrame], codec: Codec | None) -> tuple[str, str]:
    """PCMU frames recorded to WAV (8 kHz): ``(problem, info)``, the problem empty when
    there are at least 90 % of :data:`AUDIO_SECONDS` of sound (peak amplitude ≥ 1000)."""
    if codec is None or codec.name != "PCMU":
        return f"codec {codec.name if codec else None}, expected PCMU", ""
    with tempfile.TemporaryDirectory(prefix="pyrtcstack-audio-") as folder:
        path = os.path.join(folder, "audio.wav")
        recorder = WavRecorder(path, codec)
        for frame in list(frames):
            recorder.write(frame)
        recorder.close()
        with wave.open(path, "rb") as wav:
            rate, count = wav.getframerate(), wav.getnframes()
            samples = array.array("h", wav.readframes(count))
    duration = count / rate
    peak = max((abs(x) for x in samples), default=0)
    if rate != 8000 or duration < AUDIO_SECONDS * 0.9:
        return f"WAV {rate} Hz, {duration:.2f} s", ""
    if peak < 1000:
        return f"silence: peak amplitude {peak} in {duration:.2f} s", ""
    return "", f"recorded {duration:.2f} s, peak {peak}"


async def _audio_to_peer(run: _Run) -> str:
    """Our tone, as the browser's getStats sees it: packets, PCMU, audio energy."""
    for _ in range(40):
        msg = await run.peer_stats()
        inbound = [
            s for s in (msg.get("stats") or {}).get("inbound", []) if s.get("kind") == "audio"
        ]
        if inbound and inbound[0].get("packetsReceived", 0) >= 50:
            break
        await asyncio.sleep(0.1)
    else:
        return f"the peer's inbound audio: {inbound[:1]}"
    stream = inbound[0]
    codecs = {c.get("id"): c for c in (msg.get("stats") or {}).get("codecs", [])}
    mime = (codecs.get(stream.get("codecId")) or {}).get("mimeType", "")
    if mime.lower() != "audio/pcmu":
        return f"the peer decodes {mime!r}"
    energy = stream.get("totalAudioEnergy")
    if energy is None and run.peer in ("chromium", "firefox"):
        return "the browser reported no totalAudioEnergy"
    if energy is not None and energy <= 0:
        return f"no audio energy at the peer ({stream.get('packetsReceived')} packets)"
    run.audio_info = f"peer got {stream.get('packetsReceived')} packets, energy {energy}"
    return ""


_WERIFT_TLS_VERSIONS = {"DTLS 1.0": "FEFF", "DTLS 1.2": "FEFD"}


def _compare_stats(ours: dict[str, Any], theirs: dict[str, Any], session: PeerSession) -> str:
    """The peer's selected pair must be ours mirrored, and both name the same DTLS cipher
    and version (``tlsVersion`` "FEFD" for 1.2, "FEFC" for 1.3)."""
    transport: dict[str, Any] = next((s for s in ours.values() if s.get("type") == "transport"), {})
    pair = ours.get(str(transport.get("selectedCandidatePairId")))
    if pair is None:
        return "we have no selected candidate pair"
    local = ours[pair["localCandidateId"]]
    remote = ours[pair["remoteCandidateId"]]
    tl, tr = theirs.get("local") or {}, theirs.get("remote") or {}
    problems = []
    if not tl or not tr:
        return "the peer reported no selected pair"
    if (tl.get("port"), tr.get("port")) != (remote.get("port"), local.get("port")):
        problems.append(
            f"pair: ours {local.get('port')}->{remote.get('port')}, "
            f"theirs {tl.get('port')}->{tr.get('port')}"
        )
    their_cipher = (theirs.get("transport") or {}).get("dtlsCipher")
    if their_cipher is not None and their_cipher != transport.get("dtlsCipher"):
        problems.append(f"cipher: ours {transport.get('dtlsCipher')}, theirs {their_cipher}")
    their_version = (theirs.get("transport") or {}).get("tlsVersion")
    # werift 0.24.4 reports "DTLS 1.2" where the W3C stats name the record version (FEFD)
    their_version = _WERIFT_TLS_VERSIONS.get(str(their_version), their_version)
    if their_version is not None and their_version != transport.get("tlsVersion"):
        problems.append(f"tlsVersion: ours {transport.get('tlsVersion')}, theirs {their_version}")
    return "; ".join(problems)


async def _restart(run: _Run, pc: PeerConnection) -> str:
    """ICE restart (RFC 8445 §2.4, JSEP §4.1.1): new credentials, same DTLS/SCTP.

    Done means done on both sides: the offer/answer is applied at the peer too (when the
    peer offers, it reports our answer applied) and ICE selected a pair with the new
    credentials. Checking less let the next checks run while the peer was still
    renegotiating, and Chromium 156 loses a stream reset that arrives during its
    setRemoteDescription (docs/interop.md, Chromium quirks)."""
    before = run.descriptions
    applied = run.answers_applied
    stats = await pc.get_stats()
    transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
    old_ufrag = transport.get("iceLocalUsernameFragment")
    if run.spec["role"] == "we-offer":
        pc.restart_ice()
        run.held_candidates = []
        await pc.set_local_description()
        await run.send_description()
    else:
        run.send(kind="restart")
    while run.descriptions <= before:
        run.description_event.clear()
        await run.description_event.wait()
    if run.spec["role"] == "peer-offers":
        # The peer sent its offer and got our answer: wait until it has applied it (an
        # endpoint that does not send "applied" costs APPLIED_WAIT, then we go on).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(APPLIED_WAIT):
                await run.wait_peer(lambda: run.answers_applied > applied)
    # Wait until ICE selected a pair of the new generation (new credentials both ways).
    deadline = _clock() + RESTART_TIMEOUT - 2.0
    while _clock() < deadline:
        stats = await pc.get_stats()
        transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
        if (
            transport.get("iceLocalUsernameFragment") != old_ufrag
            and pc.ice_connection_state in ("connected", "completed")
            and pc.signaling_state == "stable"
            and _new_generation_selected(pc)
        ):
            break
        await asyncio.sleep(0.05)
    else:
        return (
            f"after restart: ice {pc.ice_connection_state}, signaling {pc.signaling_state}, "
            f"new generation selected: {_new_generation_selected(pc)}"
        )
    return await _echo(run, "chat", ["after restart"])


def _new_generation_selected(pc: PeerConnection) -> bool:
    """Our ICE agent selected a pair in its current generation (the one after the restart;
    until then data stays on the old pair, RFC 8445 §9)."""
    agent = getattr(pc.core, "agent", None)
    generation = getattr(agent, "generation", None)
    return getattr(generation, "selected", None) is not None


async def _expect_failure(run: _Run, pc: PeerConnection, result: ScenarioResult) -> None:
    """A peer we cannot talk to (Chromium with DTLS 1.3 forced): the failure must be clean."""
    t = _clock()
    state = ""
    try:
        state = await pc.wait_connection_state("failed", "connected", timeout=CONNECT_TIMEOUT)
    except ConnectionError as exc:
        state = str(exc)
    except TimeoutError:
        state = f"still {pc.connection_state} after {CONNECT_TIMEOUT:.0f} s"
    stats = await pc.get_stats()
    transport = next((s for s in stats.values() if s.get("type") == "transport"), {})
    ok = pc.connection_state == "failed" and transport.get("dtlsState") == "failed"
    detail = f"connection {pc.connection_state}, dtls {transport.get('dtlsState')} ({state})"
    error = getattr(pc.core, "dtls_error", None) or getattr(pc.core.dtls, "error", None)
    if error is not None:
        detail += f"; error {type(error).__name__}: {error}"
    result.checks.append(CheckResult("fails-cleanly", ok, detail, _clock() - t))
