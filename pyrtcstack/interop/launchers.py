"""Start and stop the remote peers: headless Chromium, headless Firefox ESR, werift (Node),
Pion (Go; the peer program is built here, offline, from Debian's Pion sources).

Each launcher runs the peer in its own process group with a fresh profile directory, with
every flag/pref that keeps it on loopback (docs/interop.md, "leak prevention"), and
:meth:`PeerProcess.stop` kills the whole group and removes the profile. Command lines are
built by pure functions (:func:`chromium_command`, :func:`firefox_command`,
:func:`werift_command`, :func:`pion_command`) so they can be read and tested without
starting anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = [
    "CHROMIUM_FLAGS",
    "FIREFOX_PREFS",
    "PEERS",
    "PeerProcess",
    "PeerUnavailableError",
    "build_pion_peer",
    "chromium_command",
    "find_peer",
    "firefox_command",
    "launch",
    "pion_command",
    "pion_dir",
    "werift_command",
    "werift_dir",
]

PEERS = ("chromium", "firefox", "werift", "pion", "gstreamer", "janus")

#: Chromium flags: headless, no first-run noise, no background networking, loopback ICE
#: with raw host addresses (no mDNS), fake microphone, and DNS/proxy sinks so nothing leaves.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
    "--password-store=basic",
    "--use-mock-keychain",
    "--disable-dev-shm-usage",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--allow-loopback-in-peer-connection",  # otherwise no candidate on lo
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # raw 127.0.0.1, not *.local
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",  # the fake microphone beeps
    "--autoplay-policy=no-user-gesture-required",
    "--enable-logging=stderr",
    "--v=0",
)

#: Firefox prefs (user.js of a fresh profile). The first block is what WebRTC on loopback
#: needs; the rest keeps Firefox from any network access but the harness's.
FIREFOX_PREFS: dict[str, object] = {
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "media.peerconnection.ice.no_host": False,
    "media.peerconnection.ice.proxy_only_if_behind_proxy": False,
    "media.navigator.permission.disabled": True,
    "media.navigator.streams.fake": True,
    # A live *fake* getUserMedia stream then counts as capturing, which lifts Firefox's
    # default-route-only gathering (the page calls getUserMedia before the first PC).
    "media.navigator.permission.fake": True,
    "media.autoplay.default": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "browser.newtabpage.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/v1",
    "browser.region.network.url": "",
    "browser.search.geoip.url": "",
    "geo.provider.network.url": "",
    "network.trr.mode": 5,
    # Release builds look up firefox.settings.services.mozilla.com whatever the server
    # pref says; this stops every non-literal DNS lookup (IP literals still load).
    "network.dns.disabled": True,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "127.0.0.1,localhost",
    "network.proxy.allow_hijacking_localhost": False,
}

#: Where scripts/setup.sh installs werift (npm ci from pyrtcstack/interop/werift).
WERIFT_DIR_ENV = "PYRTCSTACK_WERIFT_DIR"


class PeerUnavailableError(RuntimeError):
    """The peer's program is not installed (the message says how to install it)."""


def werift_dir() -> Path:
    """The folder whose node_modules holds werift (``$PYRTCSTACK_WERIFT_DIR`` or .werift/)."""
    env = os.environ.get(WERIFT_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".werift"


def find_peer(name: str) -> str:
    """The executable for peer ``name``; raises :class:`PeerUnavailableError`."""
    if name == "chromium":
        # The real binary, not the /usr/bin wrapper (which sources /etc/chromium.d).
        for path in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
            if path and os.access(path, os.X_OK):
                return path
        raise PeerUnavailableError("chromium not found (Debian package 'chromium')")
    if name == "firefox":
        for exe in ("firefox-esr", "firefox"):
            path = shutil.which(exe)
            if path:
                return path
        raise PeerUnavailableError("firefox-esr not found (Debian package 'firefox-esr')")
    if name == "gstreamer":
        return find_gstreamer()
    if name == "janus":
        from .janus import find_janus

        return find_janus()
    if name == "werift":
        node = shutil.which("node")
        if node is None:
            raise PeerUnavailableError("node not found (Debian package 'nodejs')")
        if not (werift_dir() / "node_modules" / "werift").is_dir():
            raise PeerUnavailableError(
                f"werift not installed in {werift_dir()} (`bash scripts/setup.sh --system`)"
            )
        return node
    if name == "pion":
        return str(build_pion_peer())
    raise PeerUnavailableError(f"unknown peer {name!r} (one of {', '.join(PEERS)})")


def chromium_command(
    exe: str, profile: str, url: str, field_trials: str | None = None
) -> list[str]:
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    if field_trials:
        cmd.append(f"--force-fieldtrials={field_trials}")
    return [*cmd, url]


def firefox_command(exe: str, profile: str, url: str) -> list[str]:
    return [exe, "--headless", "--no-remote", "--profile", profile, url]


def werift_command(node: str, folder: Path, url: str) -> list[str]:
    return [node, str(folder / "werift_peer.mjs"), url]


# --- Pion (Go) ---------------------------------------------------------------------------
# Debian's golang-github-pion-webrtc.v3-dev puts Pion's sources (and its pion/* and x/*
# dependencies) under /usr/share/gocode. pion/*.go + its one-line go.mod are copied to
# .pion/src/<module>/ and built in GOPATH mode (GO111MODULE=off): the go.mod makes GOPATH
# mode resolve "github.com/pion/webrtc/v3" to the packaged github.com/pion/webrtc (minimal
# module compatibility). Nothing is downloaded (GOPROXY=off). The binary is cached in
# .pion/ (gitignored) and rebuilt when the sources, Go or the packaged Pion change.

#: Overrides where the Pion peer is built and cached (default: .pion/ in the checkout).
PION_DIR_ENV = "PYRTCSTACK_PION_DIR"
#: Debian's Go source tree (golang-github-*-dev packages).
GOCODE = Path("/usr/share/gocode")
PION_MODULE = "pyrtcstack-pion-peer"
#: The peer program's files (pyrtcstack/interop/pion/): one Go package.
PION_SOURCES = ("main.go", "media.go", "bench.go", "go.mod")
#: Seconds a build may take (the first one compiles Pion and its dependencies: 20-40 s here).
PION_BUILD_TIMEOUT = 600.0


def pion_dir() -> Path:
    """The folder holding the built Pion peer (``$PYRTCSTACK_PION_DIR`` or .pion/)."""
    env = os.environ.get(PION_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".pion"


def pion_command(exe: str, url: str) -> list[str]:
    return [exe, url]


def _pion_stamp(go: str, sources: dict[str, bytes]) -> str:
    """What the cached binary was built from: our sources, the Go toolchain, packaged Pion."""
    digest = hashlib.sha256()
    for name, data in sorted(sources.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    real_go = os.path.realpath(go)
    digest.update(f"{real_go}:{os.stat(real_go).st_mtime_ns}".encode())
    for module in ("webrtc", "sctp", "dtls", "ice/v2", "datachannel", "srtp/v2"):
        path = GOCODE / "src/github.com/pion" / module
        with contextlib.suppress(OSError):
            digest.update(f"{module}:{path.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def build_pion_peer(folder: Path | None = None) -> Path:
    """Build (or reuse) the Pion peer program; raises :class:`PeerUnavailableError` when Go
    or Debian's Pion sources are missing, RuntimeError when the build fails."""
    go = shutil.which("go")
    if go is None:
        raise PeerUnavailableError("go not found (Debian package 'golang-go')")
    if not (GOCODE / "src/github.com/pion/webrtc").is_dir():
        raise PeerUnavailableError(
            f"Pion sources not found under {GOCODE} "
            "(Debian package 'golang-github-pion-webrtc.v3-dev')"
        )
    folder = (folder or pion_dir()).resolve()  # GOPATH entries must be absolute
    assets = resources.files("pyrtcstack.interop")
    sources = {name: assets.joinpath("pion", name).read_bytes() for name in PION_SOURCES}
    stamp = _pion_stamp(go, sources)
    binary = folder / "pion-peer"
    stamp_path = folder / "pion-peer.stamp"

    def fresh() -> bool:
        with contextlib.suppress(OSError):
            return binary.is_file() and stamp_path.read_text() == stamp
        return False

    if fresh():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same
        if fresh():
            return binary
        src = folder / "src" / PION_MODULE
        shutil.rmtree(src, ignore_errors=True)  # no file of an older version stays
        src.mkdir(parents=True)
        for name, data in sources.items():
            (src / name).write_bytes(data)
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": f"{folder}:{GOCODE}",
            "GOFLAGS": "",
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
            "GOCACHE": str(folder / "cache"),
        }
        tmp = folder / f"pion-peer.{os.getpid()}.tmp"
        try:
            done = subprocess.run(
                [go, "build", "-o", str(tmp), "."],
                cwd=src,
                env=env,
                capture_output=True,
                timeout=PION_BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"building the Pion peer took more than {PION_BUILD_TIMEOUT:.0f} s"
            ) from None
        if done.returncode != 0:
            with contextlib.suppress(OSError):
                tmp.unlink()
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"building the Pion peer failed in {src}:\n{output}")
        os.replace(tmp, binary)
        stamp_path.write_text(stamp)
    return binary


@dataclass
class PeerProcess:
    """A running peer: its process (group leader), profile dir and captured stderr."""

    name: str
    process: asyncio.subprocess.Process
    profile: str | None
    log_path: str
    _cleanup: list[Path] = field(default_factory=list)

    async def stop(self) -> None:
        """Kill the whole process group (browsers fork helpers) and remove the profile."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 3.0)
        # Helpers may outlive the leader: SIGKILL the group regardless.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 3.0)
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
        for path in self._cleanup:
            with contextlib.suppress(OSError):
                path.unlink()

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


async def launch(
    name: str,
    url: str,
    *,
    log_dir: str,
    field_trials: str | None = None,
    prefs: dict[str, object] | None = None,
) -> PeerProcess:
    """Start peer ``name`` pointed at the harness ``url``; raises :class:`PeerUnavailableError`."""
    # Pion's peer program may have to be built first (tens of seconds): off the loop.
    exe = await asyncio.to_thread(find_peer, name) if name == "pion" else find_peer(name)
    profile: str | None = None
    cleanup: list[Path] = []
    env = dict(os.environ)
    if name == "chromium":
        profile = tempfile.mkdtemp(prefix="pyrtcstack-chromium-")
        cmd = chromium_command(exe, profile, url, field_trials)
    elif name == "firefox":
        profile = tempfile.mkdtemp(prefix="pyrtcstack-firefox-")
        with open(os.path.join(profile, "user.js"), "w") as f:
            for key, value in {**FIREFOX_PREFS, **(prefs or {})}.items():
                f.write(f"user_pref({json.dumps(key)}, {json.dumps(value)});\n")
        env["MOZ_CRASHREPORTER_DISABLE"] = "1"
        cmd = firefox_command(exe, profile, url)
    elif name == "pion":
        cmd = pion_command(exe, url)
    elif name == "gstreamer":
        cmd, env = gstreamer_command(exe, url)
    else:
        # ES modules ignore NODE_PATH: the scripts must sit next to node_modules/werift.
        folder = werift_dir()
        assets = resources.files("pyrtcstack.interop")
        for src, dst in (
            ("werift/werift_peer.mjs", "werift_peer.mjs"),
            ("assets/peer.js", "peer.js"),
        ):
            target = folder / dst
            target.write_bytes(assets.joinpath(src).read_bytes())
        cmd = werift_command(exe, folder, url)
    log_path = os.path.join(log_dir, f"{name}-stderr.log")
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the child)
    try:
        process = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,  # own process group: stop() kills every helper
        )
    finally:
        log.close()
    return PeerProcess(name, process, profile, log_path, cleanup)


@dataclass
class Coturn:
    """coturn (``turnserver``) on 127.0.0.1 (or ``host``) for the relay scenarios."""

    process: asyncio.subprocess.Process
    port: int
    folder: str
    user: str = "user"
    password: str = "pass"
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5.0)
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
        return port
    raise OSError("no free port")


def _answers_binding(port: int, deadline: float, host: str = "127.0.0.1") -> bool:
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            s.sendto(request, (host, port))
            try:
                s.recvfrom(2048)
                return True
            except OSError:
                continue
    return False


async def start_coturn(host: str = "127.0.0.1") -> Coturn:
    """coturn on ``host`` (listening and relaying) with long-term credentials user/pass,
    loopback peers allowed (INTEROP recipe: ``--allow-loopback-peers`` needs ``--no-cli``);
    raises :class:`PeerUnavailableError`."""
    exe = shutil.which("turnserver")
    if exe is None:
        raise PeerUnavailableError("turnserver not found (Debian package 'coturn')")
    folder = tempfile.mkdtemp(prefix="pyrtcstack-coturn-")
    port = _free_udp_tcp_port(host)
    cmd = [
        exe, "-n", "--no-cli", "--no-dtls", "--no-tls", "--no-tcp",
        "-L", host, "--relay-ip", host, "--listening-port", str(port),
        "--allow-loopback-peers", "-a", "-u", "user:pass", "-r", "pyrtcstack",
        "--userdb", os.path.join(folder, "turndb"), "--pidfile", os.path.join(folder, "pid"),
        "--log-file", "stdout", "--min-port", "40000", "--max-port", "60000",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    server = Coturn(process, port, folder, host=host)
    if not await asyncio.to_thread(_answers_binding, port, time.monotonic() + 10, host):
        await server.stop()
        raise RuntimeError("coturn did not answer a Binding request within 10 s")
    return server


# -- GStreamer webrtcbin (gstreamer/gst_peer.py, run by the system python3) -------------

#: The interpreter that has ``gi`` (Debian ``python3-gi``); the project's venv has not.
SYSTEM_PYTHON = "/usr/bin/python3"
#: Debian packages the GStreamer peer needs (scripts/system-packages.txt lists them).
GSTREAMER_PACKAGES = (
    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-plugins-base "
    "gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1 python3-gi"
)
_GSTREAMER_PROBE = (
    "import gi\n"
    "for n, v in (('Gst', '1.0'), ('GstWebRTC', '1.0'), ('GstSdp', '1.0'), ('Nice', '0.1')):\n"
    "    gi.require_version(n, v)\n"
    "from gi.repository import Gst, GstWebRTC, GstSdp, Nice\n"
    "Gst.init(None)\n"
    "missing = [e for e in ('webrtcbin', 'nicesrc', 'audiotestsrc', 'mulawenc', 'rtppcmupay',"
    " 'rtppcmudepay', 'mulawdec') if Gst.ElementFactory.find(e) is None]\n"
    "print(' '.join(missing))\n"
)
_gstreamer_checked: str | None = None


def _gstreamer_env() -> dict[str, str]:
    """The environment of the system python3: no venv, no PYTHONPATH of ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("PYTHONHOME", None)
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def find_gstreamer() -> str:
    """The system python3 once it has shown it can import GStreamer's WebRTC bindings and
    find every element the peer uses; raises :class:`PeerUnavailableError`."""
    global _gstreamer_checked
    if _gstreamer_checked is not None:
        return _gstreamer_checked
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        raise PeerUnavailableError(f"{SYSTEM_PYTHON} not found (Debian package 'python3')")
    try:
        probe = subprocess.run(
            [SYSTEM_PYTHON, "-c", _GSTREAMER_PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env=_gstreamer_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailableError(f"GStreamer probe failed: {exc}") from None
    if probe.returncode != 0 or probe.stdout.strip():
        detail = probe.stdout.strip() or probe.stderr.strip().splitlines()[-1:]
        raise PeerUnavailableError(
            f"GStreamer webrtcbin not usable from {SYSTEM_PYTHON} ({detail}; Debian packages "
            f"{GSTREAMER_PACKAGES})"
        )
    _gstreamer_checked = SYSTEM_PYTHON
    return SYSTEM_PYTHON


def gstreamer_command(python: str, url: str) -> tuple[list[str], dict[str, str]]:
    """The peer program (kept in the package, run by the system python3) and its env."""
    script = resources.files("pyrtcstack.interop").joinpath("gstreamer", "gst_peer.py")
    return [python, str(script), url], _gstreamer_env()
