"""A WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) server on aiohttp and our
:class:`~pyrtcstack.aio.peerconnection.PeerConnection`.

Resources (docs/whip.md has the exchange step by step)::

    POST    /whip            application/sdp offer → 201, Location, ETag, answer (§4.2)
    PATCH   /whip/<id>       application/trickle-ice-sdpfrag: trickle (204) or, with
                             If-Match: *, an ICE restart (200 + new ETag + fragment) (§4.3)
    DELETE  /whip/<id>       ends the session (200) (§4.2)
    OPTIONS /whip            204, Accept-Post; with a valid token also the ICE servers
    POST/PATCH/DELETE/OPTIONS /whep[/<id>]   the same for playback: live while a publisher
                             is live, else the last recording
    GET     /                a page that plays /whep in a browser

What is ingested is recorded (Opus → Ogg, VP8 → IVF, H.264 → Annex B, G.711 → WAV) in the
recording folder and, while the publisher is live, relayed to every WHEP player
(:mod:`.relay`: one bounded queue per player, video from the next keyframe, a PLI to the
publisher when a player joins). When no publisher is live, WHEP players get the recordings
of the last WHIP session that ended, looped.

Errors are one line of ``text/plain`` with the status the RFC asks for: 400 (malformed
SDP or fragment), 401 (no or wrong bearer token, §4.7), 403 (a playback token used to
publish), 404 (no such session), 405 (method), 409 (a publisher is already live; nothing
live nor recorded to play), 412/428 (If-Match wrong/missing, §4.3.1), 413 (body over
the limit), 415 (content type), 422 (well-formed but not acceptable: no media, a trickle
for another ICE generation, §4.3.1), 503 (session or live-player cap, with Retry-After,
§4.5).

Limits (docs/security.md, "WHIP/WHEP server"): :attr:`ServerOptions.max_sessions`,
``max_body``, ``idle_timeout`` (a session without media or connection is ended),
``max_recording_bytes``, ``max_live_players``, ``live_queue_frames``. Tokens are compared
in constant time and never logged or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict

from ..aio import PeerConnection, RemoteTrack
from ..common.errors import ParseError, PyrtcstackError
from ..media import LIVE_QUEUE_FRAMES, EncodedFrame
from ..peerconnection import Description, Settings
from .links import IceServerLink
from .page import PLAYER_PAGE
from .relay import LiveRelay
from .sdpfrag import (
    SDPFRAG_TYPE,
    SdpFrag,
    SdpFragError,
    frag_from_sdp,
    parse_sdpfrag,
    replace_ice,
)
from .sessions import (
    AUDIO_PREFERENCES,
    EXTENSIONS,
    Session,
    live_preference,
    new_etag,
    open_recorder,
    open_track,
    video_preference,
)

__all__ = ["ServerOptions", "WhipServer"]

log = logging.getLogger(__name__)

_KINDS = ("whip", "whep")


@dataclass
class ServerOptions:
    """What a :class:`WhipServer` does and its limits (see docs/security.md)."""

    #: folder the recordings go to
    record_dir: Path = field(default_factory=lambda: Path("."))
    #: bearer token to publish (RFC 9725 §4.7); None: no authentication (loopback use)
    token: str | None = field(default=None, repr=False)
    #: bearer token to play (WHEP); None: the publish token also plays
    play_token: str | None = field(default=None, repr=False)
    #: STUN/TURN servers told to clients in Link headers (§4.6); none by default
    ice_servers: list[IceServerLink] = field(default_factory=list)
    #: host addresses our ICE gathers on (None: every interface's, Settings' default)
    host_addresses: list[str] | None = None
    #: sessions (WHIP + WHEP) at once; more get 503
    max_sessions: int = 16
    #: largest request body (an offer with every codec of a browser is ~6 KiB)
    max_body: int = 64 * 1024
    #: seconds a session may go without media in (WHIP) or a connection (WHEP)
    idle_timeout: float = 30.0
    #: bytes one WHIP session may write to disk; frames past it are dropped
    max_recording_bytes: int = 1 << 30
    #: largest recording re-served to WHEP players (read once into memory and shared)
    max_replay_bytes: int = 64 << 20
    #: serve /whep and the player page
    whep: bool = True
    #: WHEP players of the live stream at once (each costs a sender and a queue); more
    #: get 503
    max_live_players: int = 8
    #: frames queued per live player track; a player that falls further behind loses
    #: frames (counted in ``LiveTrack.dropped``), never the publisher or other players
    live_queue_frames: int = LIVE_QUEUE_FRAMES


class WhipServer:
    """The server: ``await start(host, port)`` returns its base URL; ``await close()``."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.sessions: dict[str, Session] = {}
        #: the recordings WHEP players get, by media kind, with their bytes (read once,
        #: checked to parse, shared by every player)
        self.latest: dict[str, Path] = {}
        self._replay: dict[str, bytes] = {}
        #: the live stream by media kind, while a publisher is live
        self.relays: dict[str, LiveRelay] = {}
        self._publisher: Session | None = None
        #: every WHIP session that ended, with its reason (for tests and logs)
        self.finished: list[Session] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=self.options.max_body)
        routes = [web.post("/whip", self._post_whip), web.options("/whip", self._options)]
        routes += [
            web.patch("/whip/{id}", self._patch),
            web.delete("/whip/{id}", self._delete),
        ]
        if self.options.whep:
            routes += [web.post("/whep", self._post_whep), web.options("/whep", self._options)]
            routes += [
                web.patch("/whep/{id}", self._patch),
                web.delete("/whep/{id}", self._delete),
                web.get("/", self._page),
            ]
        self.app.add_routes(routes)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        bound = server.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        return f"http://{shown}:{bound[1]}"

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await self._end(session, "server closing")
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ HTTP helpers
    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, text=message + "\n", headers=headers)

    def _check_token(self, request: web.Request, kind: str) -> web.Response | None:
        """RFC 9725 §4.7 / RFC 6750 §2.1: ``Authorization: Bearer <token>``."""
        options = self.options
        needed = options.token if kind == "whip" else (options.play_token or options.token)
        if needed is None:
            return None
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            return self._error(
                401, "a bearer token is needed", {"WWW-Authenticate": f'Bearer realm="{kind}"'}
            )
        given = value.encode("utf-8", "replace")
        if hmac.compare_digest(given, needed.encode()):
            return None
        if (
            kind == "whip"
            and options.play_token is not None
            and hmac.compare_digest(given, options.play_token.encode())
        ):
            return self._error(403, "this token may play (WHEP), not publish")
        return self._error(
            401,
            "the bearer token is not valid",
            {"WWW-Authenticate": f'Bearer realm="{kind}", error="invalid_token"'},
        )

    def _links(self) -> list[str]:
        return [server.to_header() for server in self.options.ice_servers]

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PLAYER_PAGE, content_type="text/html", charset="utf-8")

    async def _options(self, request: web.Request) -> web.Response:
        kind = request.path.strip("/")
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Allow"] = "POST, OPTIONS"
        headers["Accept-Post"] = "application/sdp"
        # §4.6: the ICE servers go with the 201; an authenticated OPTIONS gets them too
        # (so a client can configure them before making its offer), never an anonymous one
        if "Authorization" in request.headers and self._check_token(request, kind) is None:
            for link in self._links():
                headers.add("Link", link)
        return web.Response(status=204, headers=headers)

    # ------------------------------------------------------------------ POST (§4.2)
    async def _post_whip(self, request: web.Request) -> web.Response:
        return await self._post(request, "whip")

    async def _post_whep(self, request: web.Request) -> web.Response:
        return await self._post(request, "whep")

    async def _post(self, request: web.Request, kind: str) -> web.Response:
        denied = self._check_token(request, kind)
        if denied is not None:
            return denied
        if request.content_type != "application/sdp":
            return self._error(
                415, "the offer must be application/sdp", {"Accept-Post": "application/sdp"}
            )
        body = await request.read()  # over client_max_size: 413 from aiohttp
        if len(self.sessions) >= self.options.max_sessions:
            # §4.5: a busy endpoint may answer 503 with Retry-After
            return self._error(503, "too many sessions", {"Retry-After": "10"})
        if kind == "whip" and any(s.kind == "whip" for s in self.sessions.values()):
            return self._error(409, "a publisher is already live on this endpoint")
        live = kind == "whep" and bool(self.relays)
        if live and self.live_players() >= self.options.max_live_players:
            return self._error(503, "too many players of the live stream", {"Retry-After": "10"})
        if kind == "whep" and not live and not self.latest:
            return self._error(409, "nothing is live and nothing has been recorded yet to play")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._error(400, "the offer is not UTF-8")
        settings = Settings()
        if self.options.host_addresses is not None:
            settings = Settings(host_addresses=list(self.options.host_addresses))
        pc = PeerConnection(None, settings)
        session = Session(secrets.token_urlsafe(16), kind, pc, new_etag(), time.monotonic())
        if kind == "whip":  # the track event fires while the offer is applied
            pc.on("track", lambda track: self._on_track(session, track))
        try:
            try:
                await pc.set_remote_description(Description("offer", text))
            except ParseError as exc:
                await pc.close()
                return self._error(400, f"bad SDP offer: {exc}")
            except PyrtcstackError as exc:
                await pc.close()
                return self._error(422, f"cannot use this offer: {exc}")
            media = [t for t in pc.get_transceivers() if t.kind in ("audio", "video")]
            if not media:
                await pc.close()
                return self._error(422, "the offer has no audio or video")
            if kind == "whip":
                for tr in media:
                    if tr.kind == "audio":
                        tr.set_codec_preferences(list(AUDIO_PREFERENCES))
            elif live:
                self._add_live_tracks(session)
                if not session.live_tracks:
                    await pc.close()
                    return self._error(422, "the offer receives nothing the live stream has")
            else:
                self._add_playback_tracks(pc)
            await pc.set_local_description()
            await pc.wait_gathering_complete(timeout=10.0)
        except PyrtcstackError as exc:
            await pc.close()
            return self._error(422, f"cannot answer this offer: {exc}")
        local = pc.local_description
        assert local is not None
        session.remote_ufrag = frag_from_sdp(text).ufrag
        self.sessions[session.id] = session
        pc.on("connectionstatechange", lambda state: self._on_state(session, state))
        if kind == "whip":
            self._start_relays(session)
        self._spawn(self._watch(session))
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Location"] = f"/{kind}/{session.id}"
        headers["ETag"] = session.etag
        headers["Content-Type"] = "application/sdp"
        for link in self._links():
            headers.add("Link", link)
        log.info("%s session %s created", kind, session.id[:8])
        return web.Response(status=201, body=local.sdp.encode(), headers=headers)

    def _add_playback_tracks(self, pc: PeerConnection) -> None:
        for tr in pc.get_transceivers():
            path = self.latest.get(tr.kind)
            if path is None or tr.track is not None:
                continue
            track = open_track(path, self._replay[tr.kind])
            if tr.kind == "audio":
                tr.set_codec_preferences([AUDIO_PREFERENCES[0]])
            else:
                tr.set_codec_preferences(video_preference(track))
            pc.add_track(track)

    def live_players(self) -> int:
        """WHEP sessions playing the live stream now."""
        return sum(1 for s in self.sessions.values() if s.live_tracks)

    def _add_live_tracks(self, session: Session) -> None:
        """A player of the live stream: one live track per kind the publisher sends, in
        the publisher's codec; fed once the player is connected (``_on_state``)."""
        for tr in session.pc.get_transceivers():
            relay = self.relays.get(tr.kind)
            if relay is None or tr.track is not None:
                continue
            tr.set_codec_preferences(live_preference(relay.codec))
            track = relay.new_track(self.options.live_queue_frames)
            session.live_tracks.append((relay, track))
            session.pc.add_track(track)

    def _start_relays(self, session: Session) -> None:
        """The publisher's answer is made: one relay per kind it sends, in the codec
        negotiated for it."""
        self._publisher = session
        self.relays = {}
        for tr in session.pc.get_transceivers():
            remote = session.remote_tracks.get(tr.kind)
            if remote is None or tr.codec is None or tr.kind in self.relays:
                continue
            self.relays[tr.kind] = LiveRelay(tr.codec, remote.request_keyframe)

    # ------------------------------------------------------------------ media in
    def _on_track(self, session: Session, track: RemoteTrack) -> None:
        session.remote_tracks.setdefault(track.kind, track)
        track.on("frame", lambda frame: self._record(session, track, frame))

    def _record(self, session: Session, track: RemoteTrack, frame: EncodedFrame) -> None:
        if session.ended:
            return
        session.last_activity = time.monotonic()
        kind = track.kind
        relay = self.relays.get(kind)
        if relay is not None and self._publisher is session:
            relay.push(frame)
        recorder = session.recorders.get(kind)
        if recorder is None:
            codec = track.transceiver.codec
            if codec is None or codec.name.lower() not in EXTENSIONS:
                return
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"whip-{stamp}-{session.id[:8]}-{kind}.{EXTENSIONS[codec.name.lower()]}"
            path = self.options.record_dir / name
            recorder = session.recorders[kind] = open_recorder(path, codec.name)
            session.files[kind] = path
            session.frames[kind] = 0
        if session.bytes_recorded + len(frame.data) > self.options.max_recording_bytes:
            return  # over the disk quota: dropped (counted nowhere else on purpose)
        session.bytes_recorded += len(frame.data)
        recorder.write(frame)
        session.frames[kind] += 1

    # ------------------------------------------------------------------ lifetime
    def _spawn(self, coro: object) -> None:
        assert asyncio.iscoroutine(coro)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_state(self, session: Session, state: str) -> None:
        if state == "connected":
            session.last_activity = time.monotonic()
            for relay, track in session.live_tracks:
                relay.attach(track)
        elif state in ("failed", "closed") and not session.ended:
            self._spawn(self._end(session, f"connection {state}"))

    async def _watch(self, session: Session) -> None:
        """End the session when it has been idle for ``idle_timeout`` seconds: no frame
        in (WHIP), or not connected (WHEP)."""
        timeout = self.options.idle_timeout
        while not session.ended:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = time.monotonic()
            if session.kind == "whep" and session.pc.connection_state == "connected":
                session.last_activity = now
            if now - session.last_activity > timeout:
                await self._end(session, "idle timeout")

    async def _end(self, session: Session, reason: str) -> None:
        if session.ended:
            return
        session.ended = True
        session.end_reason = reason
        self.sessions.pop(session.id, None)
        if session.kind == "whip":
            # in ``finished`` as it leaves ``sessions``: never in neither while the peer
            # connection closes below
            self.finished.append(session)
            del self.finished[:-64]
        session.close_recorders()
        for relay, track in session.live_tracks:
            relay.detach(track)
        if self._publisher is session:
            self._publisher = None
            relays, self.relays = self.relays, {}
            for relay in relays.values():
                relay.end()
            # the live stream is over: its players' sessions end with it (their
            # tracks sent a BYE); a new POST /whep gets the recording
            for other in list(self.sessions.values()):
                if other.live_tracks:
                    self._spawn(self._end(other, "publisher ended"))
        with contextlib.suppress(Exception):
            await session.pc.close()
        if session.kind == "whip":
            recorded = {k: p for k, p in session.files.items() if session.frames.get(k)}
            playable = {k: p for k, p in recorded.items() if p.suffix != ".wav"}
            replay = await asyncio.to_thread(self._load_replay, playable)
            if replay:
                self.latest = {k: playable[k] for k in replay}
                self._replay = replay
        log.info(
            "%s session %s ended: %s; %s",
            session.kind,
            session.id[:8],
            reason,
            ", ".join(f"{n} {k} frames in {session.files[k]}" for k, n in session.frames.items())
            or "no media",
        )

    def _load_replay(self, paths: dict[str, Path]) -> dict[str, bytes]:
        """The recordings that may be re-served: at most ``max_replay_bytes`` each, and
        readable by their track (a recording cut short by the disk quota still is)."""
        out = {}
        for kind, path in paths.items():
            try:
                if path.stat().st_size > self.options.max_replay_bytes:
                    log.info("%s is over max_replay_bytes: not re-served", path.name)
                    continue
                data = path.read_bytes()
                open_track(path, data)
            except (OSError, PyrtcstackError) as exc:
                log.info("%s cannot be re-served: %s", path.name, exc)
                continue
            out[kind] = data
        return out

    # ------------------------------------------------------------------ resources
    def _lookup(self, request: web.Request) -> Session | web.Response:
        kind = request.path.split("/")[1]
        session = self.sessions.get(request.match_info["id"])
        if session is None or session.kind != kind:
            return self._error(404, "no such session")
        denied = self._check_token(request, kind)
        return denied if denied is not None else session

    async def _delete(self, request: web.Request) -> web.Response:
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        await self._end(found, "DELETE")
        return web.Response(status=200)

    async def _patch(self, request: web.Request) -> web.Response:
        """RFC 9725 §4.3.1: trickle (If-Match: the ETag → 204) or ICE restart (If-Match: *
        → 200 with our new credentials and candidates and a new ETag)."""
        found = self._lookup(request)
        if isinstance(found, web.Response):
            return found
        session = found
        if request.content_type != SDPFRAG_TYPE:
            return self._error(
                415, f"a PATCH body must be {SDPFRAG_TYPE}", {"Accept-Patch": SDPFRAG_TYPE}
            )
        if_match = request.headers.get("If-Match")
        if if_match is None:
            # RFC 6585 §3: the resource needs a conditional request
            return self._error(428, "If-Match is required (the ETag, or * to restart ICE)")
        body = await request.read()
        try:
            frag = parse_sdpfrag(body)
        except SdpFragError as exc:
            return self._error(400, str(exc))
        if if_match.strip() == "*":
            return await self._restart(session, frag)
        if if_match.strip() != session.etag:
            return self._error(412, "the ETag does not match this session's ICE state")
        if frag.ufrag is not None and frag.ufrag != session.remote_ufrag:
            return self._error(
                422, "these candidates are for another ICE ufrag (restart with If-Match: *)"
            )
        try:
            for media in frag.media:
                where: dict[str, str | int] = (
                    {"sdpMid": media.mid} if media.mid is not None else {"sdpMLineIndex": 0}
                )
                for candidate in media.candidates:
                    await session.pc.add_ice_candidate({"candidate": str(candidate), **where})
                if media.end_of_candidates or frag.end_of_candidates:
                    # RFC 8840 §4.4 / RFC 8838 §13: the client gathers no more candidates
                    await session.pc.add_ice_candidate({"candidate": "", **where})
        except PyrtcstackError as exc:
            return self._error(422, f"cannot use a candidate: {exc}")
        count = sum(len(m.candidates) for m in frag.media)
        log.info("%s session %s: %d candidates trickled", session.kind, session.id[:8], count)
        return web.Response(status=204)

    async def _restart(self, session: Session, frag: SdpFrag) -> web.Response:
        """RFC 9725 §4.3.2: new credentials from the client; we restart too and answer
        with ours. The rest of the session's SDP stays as negotiated."""
        if frag.ufrag is None or frag.pwd is None:
            return self._error(400, "an ICE restart needs a=ice-ufrag and a=ice-pwd")
        if frag.ufrag == session.remote_ufrag:
            return self._error(422, "an ICE restart needs new ICE credentials")
        pc = session.pc
        remote = pc.remote_description
        if remote is None or pc.signaling_state != "stable":
            return self._error(409, "the session is not in a state to restart ICE")
        try:
            await pc.set_remote_description(Description("offer", replace_ice(remote.sdp, frag)))
            await pc.set_local_description()
            await pc.wait_gathering_complete(timeout=10.0)
        except PyrtcstackError as exc:
            return self._error(422, f"cannot restart ICE: {exc}")
        local = pc.local_description
        assert local is not None
        session.remote_ufrag = frag.ufrag
        session.etag = new_etag()
        headers = {"ETag": session.etag, "Content-Type": SDPFRAG_TYPE}
        return web.Response(status=200, body=frag_from_sdp(local.sdp).to_text(), headers=headers)
