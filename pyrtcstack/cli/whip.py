"""``pyrtcstack whip-server``, ``pyrtcstack whip URL FILE…``, ``pyrtcstack whep URL``:
WebRTC ingest (RFC 9725) and playback (draft-ietf-wish-whep) over HTTP.

    pyrtcstack whip-server --out recordings/            # http://127.0.0.1:8080/whip, /whep, /
    pyrtcstack whip http://127.0.0.1:8080/whip talk.ogg cam.ivf   # publish files
    pyrtcstack whep http://127.0.0.1:8080/whep --out got/ --duration 10   # play into files

Tokens (RFC 9725 §4.7 bearer tokens) are never read from the command line: they come from
a file (``--token-file``, first line) or the environment (``$PYRTCSTACK_WHIP_TOKEN`` to
publish, ``$PYRTCSTACK_WHEP_TOKEN`` to play). The server refuses to listen beyond loopback
without a token unless ``--no-auth`` is given. These commands need the ``whip`` extra
(``pip install 'pyrtcstack[whip]'``). docs/whip.md explains the exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

from ..media import AnnexBTrack, IvfTrack, MediaFormatError, OggOpusTrack, Track
from ._args import LOOPBACK, CliError, host_port, listening, number

__all__ = ["register"]

WHIP_TOKEN_ENV = "PYRTCSTACK_WHIP_TOKEN"
WHEP_TOKEN_ENV = "PYRTCSTACK_WHEP_TOKEN"
_MISSING = "this command needs aiohttp: pip install 'pyrtcstack[whip]'"
_SECRETS = """
Tokens come from a file (first line) or the environment, never from the command line.
Needs the whip extra (pip install 'pyrtcstack[whip]'); docs/whip.md explains the exchange.
"""
SERVER_HELP = (
    """``pyrtcstack whip-server``: a WHIP (RFC 9725) ingest and WHEP playback server.

    pyrtcstack whip-server --out recordings/      # http://127.0.0.1:8080/whip, /whep, /

Records what is published (Opus to Ogg, VP8 to IVF, H.264 to Annex B) in --out; once a
publisher ends, WHEP players (and the page at /) get its recording, looped. Listens on
127.0.0.1 unless --listen 0.0.0.0:PORT, which needs a token (or --no-auth).
"""
    + _SECRETS
)
WHIP_HELP = (
    """``pyrtcstack whip URL FILE…``: publish recorded media to a WHIP endpoint (RFC 9725).

    pyrtcstack whip http://127.0.0.1:8080/whip talk.ogg cam.ivf

At most one audio file (.ogg Opus) and one video file (.ivf VP8, .h264 Annex B); they are
sent as recorded (nothing is re-encoded), then the session is ended with DELETE.
"""
    + _SECRETS
)
WHEP_HELP = (
    """``pyrtcstack whep URL``: play a WHEP stream into files.

    pyrtcstack whep http://127.0.0.1:8080/whep --out got/ --duration 10

Offers to receive audio and video and writes what arrives: Opus to Ogg, VP8 to IVF,
H.264 to Annex B, G.711 to WAV.
"""
    + _SECRETS
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = subparsers.add_parser(
        "whip-server",
        help="a WHIP/WHEP server that records what is published and plays it back",
        description=SERVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument(
        "--listen",
        type=host_port(default_host=LOOPBACK, listen=True),
        default=(LOOPBACK, 8080),
        metavar="HOST:PORT",
        help="HTTP address (default 127.0.0.1:8080; 0.0.0.0:PORT serves the network; port 0: "
        "any free port)",
    )
    server.add_argument("--out", default=".", metavar="DIR", help="recordings folder")
    server.add_argument(
        "--token-file", metavar="PATH", help=f"publish token (or ${WHIP_TOKEN_ENV})"
    )
    server.add_argument(
        "--play-token-file", metavar="PATH", help=f"play token (or ${WHEP_TOKEN_ENV})"
    )
    server.add_argument(
        "--no-auth", action="store_true", help="allow no token on a non-loopback address"
    )
    server.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="stun:/turn: URL sent to clients in Link headers (repeatable; none by default)",
    )
    server.add_argument(
        "--host-address",
        action="append",
        default=None,
        metavar="IP",
        help="address our ICE gathers on (repeatable; default: the interfaces')",
    )
    server.add_argument(
        "--max-sessions",
        type=number(int, low=1, high=10000),
        default=16,
        metavar="N",
        help="WHIP + WHEP sessions at once; more get 503 (default 16)",
    )
    server.add_argument(
        "--max-body",
        type=number(int, low=1024, high=1 << 20),
        default=64 * 1024,
        metavar="BYTES",
        help="largest request body; more gets 413 (default 65536)",
    )
    server.add_argument(
        "--idle-timeout",
        type=number(float, above=0),
        default=30.0,
        metavar="SECONDS",
        help="end a session without media in (WHIP) or a connection (WHEP) (default 30)",
    )
    server.add_argument(
        "--max-recording-bytes",
        type=number(int, low=1),
        default=1 << 30,
        metavar="BYTES",
        help="disk one WHIP session may fill; later frames are dropped (default 1 GiB)",
    )
    server.set_defaults(func=_run_server)

    whip = subparsers.add_parser(
        "whip",
        help="publish Ogg Opus / IVF VP8 / Annex B H.264 files to a WHIP endpoint",
        description=WHIP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    whip.add_argument("url", metavar="URL", help="the WHIP endpoint (http:// or https://)")
    whip.add_argument("files", metavar="FILE", nargs="+", help=".ogg, .ivf, .h264 files")
    whip.add_argument("--loop", action="store_true", help="replay the files until --duration")
    whip.add_argument(
        "--duration",
        type=number(float, above=0),
        metavar="SECONDS",
        help="how long to publish (default: the longest file)",
    )
    _client_args(whip, WHIP_TOKEN_ENV)
    whip.set_defaults(func=_run_whip)

    whep = subparsers.add_parser(
        "whep",
        help="play a WHEP stream into files (Ogg, IVF, Annex B)",
        description=WHEP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    whep.add_argument("url", metavar="URL", help="the WHEP endpoint")
    whep.add_argument("--out", default=".", metavar="DIR", help="folder for the files")
    whep.add_argument(
        "--duration",
        type=number(float, above=0),
        default=10.0,
        metavar="SECONDS",
        help="how long to play (default 10)",
    )
    _client_args(whep, WHEP_TOKEN_ENV)
    whep.set_defaults(func=_run_whep)


def _client_args(parser: argparse.ArgumentParser, env: str) -> None:
    parser.add_argument("--token-file", metavar="PATH", help=f"bearer token (or ${env})")
    parser.add_argument(
        "--host-address", action="append", default=None, metavar="IP", help="ICE address"
    )
    parser.add_argument(
        "--timeout",
        type=number(float, above=0),
        default=20.0,
        metavar="SECONDS",
        help="most seconds to wait for the answer and the connection (default 20)",
    )
    parser.add_argument(
        "--no-trickle",
        dest="trickle",
        action="store_false",
        help="POST a complete offer instead of trickling candidates by PATCH",
    )


def _whip_module() -> Any:
    try:
        import aiohttp  # noqa: F401

        from .. import whip
    except ImportError as exc:
        if exc.name in ("aiohttp", "multidict", "yarl"):
            raise CliError(_MISSING, 1) from None
        raise
    return whip


def _read_token(path: str | None, env: str, option: str) -> str | None:
    """The first line of ``path``, else ``$env``; never from argv (ps shows argv)."""
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                token = handle.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {option} {path!r}: {exc}", 1) from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            print(f"warning: {path} is readable by other users (chmod 600 it)", file=sys.stderr)
        if not token:
            raise CliError(f"{option} {path!r} is empty")
        return token
    token = os.environ.get(env, "").strip()
    return token or None


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) < 10:
        raise CliError(f"{url!r} is not an http:// or https:// URL")
    return url


# ---------------------------------------------------------------------- whip-server
def _run_server(args: argparse.Namespace) -> int:
    whip = _whip_module()
    out = Path(args.out)
    if not out.is_dir():
        raise CliError(f"{args.out!r} is not a folder")
    token = _read_token(args.token_file, WHIP_TOKEN_ENV, "--token-file")
    play = _read_token(args.play_token_file, WHEP_TOKEN_ENV, "--play-token-file")
    host = args.listen[0]
    loopback = _is_loopback(host)
    if not loopback and token is None and not args.no_auth:
        raise CliError(
            f"listening on {host} without a token: give --token-file or ${WHIP_TOKEN_ENV} "
            "(or --no-auth)"
        )
    servers = []
    for url in args.ice_server:
        if not url.lower().startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise CliError(f"--ice-server {url!r} is not a stun: or turn: URL")
        servers.append(whip.IceServerLink(url))
    options = whip.ServerOptions(
        record_dir=out,
        token=token,
        play_token=play,
        ice_servers=servers,
        host_addresses=_ice_addresses(args.host_address, host),
        max_sessions=args.max_sessions,
        max_body=args.max_body,
        idle_timeout=args.idle_timeout,
        max_recording_bytes=args.max_recording_bytes,
    )
    return asyncio.run(_serve(whip, options, args.listen))


async def _serve(whip: Any, options: Any, listen: tuple[str, int]) -> int:
    # one line per session created/ended on stderr (never a token: none is logged)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("pyrtcstack.whip")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    server = whip.WhipServer(options)
    with listening(listen):
        base = await server.start(*listen)
    print(f"WHIP on {base}/whip, WHEP on {base}/whep, player page {base}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()
    return 0


# ---------------------------------------------------------------------- whip
def _open_file(path: str, loop: bool) -> Track:
    suffix = Path(path).suffix.lower()
    if not os.path.isfile(path):
        raise CliError(f"{path!r} is not a file")
    try:
        if suffix in (".ogg", ".opus"):
            return OggOpusTrack(path, loop=loop)
        if suffix == ".ivf":
            return IvfTrack(path, loop=loop)
        if suffix in (".h264", ".264", ".annexb"):
            return AnnexBTrack(path, loop=loop)
    except MediaFormatError as exc:
        raise CliError(f"{path}: {exc}", 1) from None
    raise CliError(f"{path!r}: publish .ogg (Opus), .ivf (VP8) or .h264 (Annex B) files")


def _seconds(track: Track) -> float:
    if isinstance(track, OggOpusTrack):
        from ..media import opus_packet_samples

        return sum(opus_packet_samples(p) or 960 for p in track.file.packets) / 48000
    if isinstance(track, IvfTrack):
        return len(track.file.frames) * track.frame_duration
    if isinstance(track, AnnexBTrack):
        return len(track.units) * track.frame_duration
    return 0.0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _ice_addresses(given: list[str] | None, peer_host: str) -> list[str] | None:
    """The addresses ICE gathers on: ``--host-address`` if given, else the interfaces'
    (None); on a machine with no address but loopback (offline, a network namespace),
    loopback when the other end is on this machine, else a clear error (not the
    library's "no usable host address" in the middle of a session)."""
    from ..aio import host_addresses

    if given:
        return list(given)
    if host_addresses():
        return None
    if _is_loopback(peer_host):
        return [LOOPBACK]
    raise CliError(
        "this machine has no network address but loopback: give --host-address IP "
        "(127.0.0.1 when the other end runs here)"
    )


def _settings(args: argparse.Namespace) -> Any:
    from urllib.parse import urlsplit

    from ..peerconnection import Settings

    addresses = _ice_addresses(args.host_address, urlsplit(args.url).hostname or "")
    return Settings() if addresses is None else Settings(host_addresses=addresses)


def _run_whip(args: argparse.Namespace) -> int:
    whip = _whip_module()
    url = _check_url(args.url)
    tracks = [_open_file(path, args.loop) for path in args.files]
    kinds = [t.codec.kind for t in tracks]
    if kinds.count("audio") > 1 or kinds.count("video") > 1:
        raise CliError("publish at most one audio file and one video file")
    if args.loop and args.duration is None:
        raise CliError("--loop needs --duration")
    token = _read_token(args.token_file, WHIP_TOKEN_ENV, "--token-file")
    duration = args.duration or max(_seconds(t) for t in tracks) + 0.5
    return asyncio.run(_publish(whip, args, url, token, tracks=tracks, seconds=duration))


async def _publish(
    whip: Any,
    args: argparse.Namespace,
    url: str,
    token: str | None,
    *,
    tracks: list[Track],
    seconds: float,
) -> int:
    from ..aio import PeerConnection
    from ..sdp import CodecCapability

    pc = PeerConnection(None, _settings(args))
    for track in tracks:
        tr = pc.add_transceiver(track.codec.kind, direction="sendonly", track=track)
        if track.codec.kind == "audio":
            tr.set_codec_preferences([CodecCapability("opus", 48000, 2)])
        else:
            tr.set_codec_preferences(whip.video_preference(track))
    client = whip.WhipClient(url, token=token, trickle=args.trickle)
    try:
        async with asyncio.timeout(args.timeout):
            await client.publish(pc)
            await pc.wait_connection_state("connected")
        print(f"publishing to {client.location} for {seconds:.1f} s", flush=True)
        await asyncio.sleep(seconds)
        print("done", flush=True)
        return 0
    except TimeoutError:
        raise CliError(f"no connection to {url} within {args.timeout:g} s", 1) from None
    except ConnectionError as exc:
        raise CliError(f"the connection ended: {exc}", 1) from None
    finally:
        try:
            await client.close()
        finally:
            await pc.close()


# ---------------------------------------------------------------------- whep
def _run_whep(args: argparse.Namespace) -> int:
    whip = _whip_module()
    url = _check_url(args.url)
    if not os.path.isdir(args.out):
        raise CliError(f"{args.out!r} is not a folder")
    token = _read_token(args.token_file, WHEP_TOKEN_ENV, "--token-file")
    if token is None:
        token = os.environ.get(WHIP_TOKEN_ENV, "").strip() or None
    return asyncio.run(_play(whip, args, url, token))


async def _play(whip: Any, args: argparse.Namespace, url: str, token: str | None) -> int:
    from ..aio import PeerConnection

    pc = PeerConnection(None, _settings(args))
    recorders: dict[str, Any] = {}
    counts: dict[str, int] = {}
    paths: dict[str, Path] = {}
    stamp = time.strftime("%Y%m%d-%H%M%S")

    def on_frame(track: Any, frame: Any) -> None:
        kind = track.kind
        if kind not in recorders:
            codec = track.transceiver.codec
            if codec is None or codec.name.lower() not in whip.EXTENSIONS:
                return
            path = Path(args.out) / f"whep-{stamp}-{kind}.{whip.EXTENSIONS[codec.name.lower()]}"
            recorders[kind] = whip.open_recorder(path, codec.name)
            paths[kind] = path
            counts[kind] = 0
        recorders[kind].write(frame)
        counts[kind] += 1

    pc.on("track", lambda track: track.on("frame", lambda f: on_frame(track, f)))
    tr = pc.add_transceiver("audio", direction="recvonly")
    tr.set_codec_preferences(list(whip.AUDIO_PREFERENCES))
    pc.add_transceiver("video", direction="recvonly")
    client = whip.WhepClient(url, token=token, trickle=args.trickle)
    try:
        async with asyncio.timeout(args.timeout):
            await client.publish(pc)
            await pc.wait_connection_state("connected")
        print(f"playing {client.location} for {args.duration:g} s", flush=True)
        await asyncio.sleep(args.duration)
    except TimeoutError:
        raise CliError(f"no connection to {url} within {args.timeout:g} s", 1) from None
    except ConnectionError as exc:
        raise CliError(f"the connection ended: {exc}", 1) from None
    finally:
        for recorder in recorders.values():
            recorder.close()
        try:
            await client.close()
        finally:
            await pc.close()
    for kind, path in paths.items():
        print(f"{kind}: {counts[kind]} frames in {path}", flush=True)
    if not paths:
        raise CliError("no media arrived", 1)
    return 0
