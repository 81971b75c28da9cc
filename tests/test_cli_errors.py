"""A person's mistake at the command line: one clear line on stderr, a non-zero exit, never
a traceback or a hang. Each case runs the real entry point (``python -m pyrtcstack``) as a
process (the suite runs inside ``unshare -n``: loopback only), with a timeout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import require_module

pytestmark = pytest.mark.timeout(120)
CLI = [sys.executable, "-m", "pyrtcstack"]
WHIP_IVF = Path(__file__).parent / "data" / "vp8_testsrc_160x120.ivf"


def run(args: list[str], stdin: str = "", timeout: float = 30.0) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "TURN_PASSWORD"}
    proc = subprocess.run(
        CLI + args,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,  # a hang fails the test
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def check(args: list[str], expected: str, stdin: str = "", timeout: float = 30.0) -> str:
    """Exit non-zero, no traceback, and exactly one ``pyrtcstack …:`` error line, the last
    one, saying ``expected``."""
    code, text = run(args, stdin, timeout)
    assert code != 0, text
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("pyrtcstack")]
    assert len(errors) == 1, text
    assert lines[-1] == errors[0], text
    assert expected.lower() in errors[0].lower(), text
    assert len(errors[0]) < 400, errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def signaling_url() -> Iterator[str]:
    require_module("websockets")
    proc = subprocess.Popen(
        [*CLI, "signaling-server", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# (arguments, what the line must say)
CASES = [
    # an argument the (sub)command does not take: said with that command's own --help
    (
        ["demo", "--sdp", "/etc/hostname"],
        "unrecognized arguments: /etc/hostname (see pyrtcstack demo --help)",
    ),
    (["sdp", "explain", "-", "--bogus"], "(see pyrtcstack sdp explain --help)"),
    (["--bogus"], "unrecognized arguments: --bogus (see pyrtcstack --help)"),
    # nothing listens there: the ICMP port unreachable, not 39.5 s of RFC 8489 schedule
    (["stun", "127.0.0.1:1"], "no answer from 127.0.0.1:1: port unreachable"),
    (["dtls", "connect", "127.0.0.1:1"], "no answer from 127.0.0.1:1: port unreachable"),
    (["whip", "ftp://127.0.0.1/whip", "/etc/hostname"], "not an http:// or https:// URL"),
    (["whip", "http://127.0.0.1:1/whip", "/nonexistent/a.ivf"], "is not a file"),
    (["whip", "http://127.0.0.1:1/whip", "/etc/hostname"], "publish .ogg (Opus), .ivf"),
    (["whip", "http://127.0.0.1:1/whip", str(WHIP_IVF), "--loop"], "--loop needs --duration"),
    (["whip", "http://127.0.0.1:1/whip", str(WHIP_IVF), str(WHIP_IVF)], "one video file"),
    (
        ["whip", "http://127.0.0.1:1/whip", str(WHIP_IVF), "--host-address", "127.0.0.1"],
        "cannot connect to host 127.0.0.1:1",
    ),
    (["whep", "http://127.0.0.1:1/whep", "--out", "/nonexistent"], "not a folder"),
    (["whep", "127.0.0.1:1/whep"], "not an http:// or https:// URL"),
    (["whip-server", "--out", "/nonexistent"], "not a folder"),
    (["whip-server", "--listen", "0.0.0.0:0"], "without a token"),
    (["whip-server", "--ice-server", "http://stun.example"], "not a stun: or turn: URL"),
    (["whip-server", "--token-file", "/nonexistent/token"], "cannot read --token-file"),
    (["whip-server", "--max-sessions", "0"], "at least"),
    (["stun", "not a host!!"], "is not a host name or IP address"),
    (["stun", "127.0.0.1:-5"], "from 1 to 65535"),
    (["stun", "127.0.0.1:99999"], "from 1 to 65535"),  # not wrapped to 34463
    (["stun", "127.0.0.1:0"], "from 1 to 65535"),
    (["stun", "stuns:127.0.0.1"], "not supported"),
    (["stun", "127.0.0.1", "--timeout", "-1"], "more than 0"),
    (["stun", "127.0.0.1", "--timeout", "nan"], "finite"),
    (["stun", "127.0.0.1", "--local", "foo:bar"], "port"),
    (["stun", "127.0.0.1", "--user", "alicepw"], "USER:PASSWORD"),
    (["stun", "no-such-host.invalid"], "cannot resolve"),
    (["stun-server", "--listen", "foo"], "cannot resolve 'foo'"),
    (["stun-server", "--listen", "127.0.0.1:70000"], "to 65535"),  # not 4464
    (["stun-server", "--user", "alicepw"], "USER:PASSWORD"),
    (["stun-server", "--listen", "127.0.0.1:3478", "--other", "127.0.0.1:3479"], "different IP"),
    (["stun-server", "--listen", "192.0.2.1:3478"], "cannot listen on 192.0.2.1:3478"),
    (["turn", "turn:127.0.0.1:99999", "-u", "a", "-p", "b"], "port"),
    (["turn-server", "--user", "alicepw"], "NAME:PASSWORD"),
    (["turn-server", "--user", "a:b", "--tls-port", "5349"], "--tls-port needs --cert"),
    (["turn", "turn:127.0.0.1", "-u", "alice"], "give --password or set $TURN_PASSWORD"),
    (["turn-server", "--user", "a:b", "--listen", "127.0.0.1:99999"], "to 65535"),
    (["turn-server", "--user", "a:b", "--relay-ip", "foo"], "not an IP address"),
    (
        [
            "turn-server",
            "--user",
            "a:b",
            "--tls-port",
            "5349",
            "--cert",
            "/nonexistent/c.pem",
            "--key",
            "/nonexistent/k.pem",
        ],
        "no such certificate",
    ),
    (["send", "/etc/hostname", "--room", "htp://127.0.0.1:8765"], "ws:// or wss://"),
    (["send", "/etc/hostname", "--room", "127.0.0.1:8765"], "did you mean ws://127.0.0.1:8765"),
    (["send", "/nonexistent/file"], "cannot read"),
    (["send", "/tmp"], "is a folder"),
    (["send", "/etc/hostname", "--window", "10"], "at least"),
    (["send", "/etc/hostname", "--browser", "127.0.0.1:99999"], "to 65535"),
    (["receive", "--out", "/nonexistent"], "not a folder"),
    (["receive", "--room", "ws://127.0.0.1:1"], "needs --join"),
    (["chat", "--ca-file", "x.pem"], "--ca-file goes with a wss://"),
    (["chat", "--room", "wss://127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"], "no such CA"),
    (["chat", "--room", "wss://127.0.0.1:1", "--ca-file", "/etc/hostname"], "cannot load CA"),
    (["dtls", "connect", "127.0.0.1"], "port is missing"),
    (
        ["dtls", "connect", "127.0.0.1:4444", "--cert", "/nonexistent/c.pem", "--key", "/x"],
        "cannot read /nonexistent/c.pem",
    ),
    (["dtls", "connect", "127.0.0.1:4444", "--cert", "/etc/hostname"], "--cert needs --key"),
    (
        ["dtls", "connect", "127.0.0.1:4444", "--cert", "/etc/hostname", "--key", "/etc/hostname"],
        "cannot load",
    ),
    (["dtls", "connect", "127.0.0.1:4444", "--fingerprint", "sha-256 zz"], "not hex"),
    (["dtls", "connect", "127.0.0.1:4444", "--srtp", "bogus"], "unknown SRTP profile"),
    (["dtls", "connect", "127.0.0.1:4444", "--versions", "1.9"], "unknown DTLS version"),
    (["dtls", "connect", "127.0.0.1:4444", "--keylog", "/nonexistent/k.log"], "no such file"),
    (["dtls", "connect", "127.0.0.1:4444", "--mtu", "10"], "at least"),
    (["dtls", "listen", "99999"], "to 65535"),
    (["dtls", "listen", "192.0.2.1:4444"], "cannot listen on 192.0.2.1:4444"),
    (
        ["signaling-server", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k.pem"],
        "no such certificate",
    ),
    (["signaling-server", "--cert", "/etc/hostname", "--key", "/etc/hostname"], "cannot load"),
    (["signaling-server", "--cert", "/etc/hostname"], "go together"),
    (["signaling-server", "--port", "99999"], "at most 65535"),
    (["signaling-server", "--host", "no such host"], "cannot listen on"),
    (["demo", "--pcap", "/nonexistent/d.pcap"], "no such folder"),
    (["demo", "--size", "300000"], "at most 262144"),
    (["demo", "--messages", "-1"], "at least 0"),
    (["interop", "nosuchpeer"], "unknown peer"),
    (["sdp", "check", "/nonexistent/offer.sdp"], "cannot read /nonexistent/offer.sdp"),
    (["sdp", "explain", "/etc/hostname"], "not a valid SDP"),
    (["interop", "--endpoint", "--port", "99999"], "at most 65535"),
    (["nosuchcommand"], "invalid choice"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_mistake(args: list[str], expected: str) -> None:
    check(args, expected)


def test_stun_accepts_the_url_form() -> None:
    """``stun:127.0.0.1:PORT`` (RFC 7064) is the server 127.0.0.1:PORT: against silence it
    says "no answer from 127.0.0.1:PORT" (not a name-resolution traceback)."""
    port = _free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", port))
        code, text = run(["stun", f"stun:127.0.0.1:{port}?transport=udp", "--timeout", "1"])
    assert code == 1 and f"no answer from 127.0.0.1:{port}" in text, text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "server",
    [
        ["stun-server", "--listen", "127.0.0.1:{port}"],
        ["turn-server", "--user", "a:b", "--listen", "127.0.0.1:{port}"],
        ["dtls", "listen", "127.0.0.1:{port}"],
    ],
    ids=lambda s: s[0] if s[0] != "dtls" else "dtls listen",
)
def test_udp_port_in_use(server: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        args = [a.format(port=port) for a in server]
        check(args, f"cannot listen on 127.0.0.1:{port}: the address is already in use")


@pytest.mark.parametrize(
    "server",
    [
        ["signaling-server", "--port", "{port}"],
        ["interop", "--endpoint", "--port", "{port}"],
        ["chat", "--browser", "127.0.0.1:{port}"],
    ],
    ids=lambda s: s[0],
)
def test_tcp_port_in_use(server: list[str]) -> None:
    if server[0] == "signaling-server":
        require_module("websockets")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [a.format(port=port) for a in server]
        check(args, f"cannot listen on 127.0.0.1:{port}: the address is already in use")


def test_signaling_server_nobody_listens_on() -> None:
    require_module("websockets")
    port = _free_port(socket.SOCK_STREAM)
    check(
        ["send", "/etc/hostname", "--room", f"ws://127.0.0.1:{port}"],
        f"cannot reach the signaling server ws://127.0.0.1:{port}",
    )


def test_join_a_room_that_does_not_exist(signaling_url: str) -> None:
    check(["receive", "--room", signaling_url, "--join", "NOPE"], "no such room")


def test_not_a_websocket_server() -> None:
    """An HTTP server that is not a WebSocket server answers 404."""
    require_module("websockets")
    import threading

    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]

        def answer() -> None:
            conn, _ = plain.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        check(["chat", "--room", f"ws://127.0.0.1:{port}"], "did not accept a WebSocket")
        thread.join(5)


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("", "no blob was pasted"),
        ("RTC1o.this-is-not-a-blob!!\n\n", "characters that base64url does not use"),
        ("hello there\n\n", "not a pyrtcstack blob"),
    ],
    ids=["empty", "damaged", "not-a-blob"],
)
def test_pasted_blob(pasted: str, expected: str) -> None:
    check(["receive", "--loopback"], expected, stdin=pasted)


def test_pasted_blob_cut_short() -> None:
    """A real offer blob with its end cut off (a chat app truncated it)."""
    proc = subprocess.Popen(
        [*CLI, "send", "/etc/hostname", "--loopback"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        offer = proc.stdout.readline().strip()
        assert offer.startswith("RTC1o.")
    finally:
        proc.kill()
        proc.wait(10)
    check(["receive", "--loopback"], "blob", stdin=offer[: len(offer) // 2] + "\n\n")


def test_pasted_blob_of_the_wrong_kind() -> None:
    """Pasting an offer where the answer is expected: said, not a state-machine traceback."""
    proc = subprocess.Popen(
        [*CLI, "send", "/etc/hostname", "--loopback"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        offer = proc.stdout.readline().strip()
        proc.stdin.write(offer + "\n\n")
        proc.stdin.close()
        code = proc.wait(30)
    finally:
        proc.kill()
        proc.wait(10)
    assert code != 0
    check(["send", "/etc/hostname", "--loopback"], "paste the answer blob", stdin=offer + "\n\n")


def test_tls_certificate_not_trusted(tmp_path: Path) -> None:
    """A wss:// server whose certificate the system trust store does not know: a clear
    certificate line (not an ssl traceback)."""
    require_module("websockets")
    from tests.test_cli_wss import make_ca, start_server

    _ca, cert, key = make_ca(tmp_path)
    with start_server(cert, key) as url:
        check(["chat", "--room", url], "certificate verify failed")


def test_whip_commands_without_aiohttp_say_what_to_install(tmp_path: Path) -> None:
    """``pyrtcstack.whip``'s HTTP side needs the ``whip`` extra: without aiohttp the
    commands say so in one line (an import of aiohttp that fails, as on a bare install)."""
    fake = tmp_path / "aiohttp"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'aiohttp'\", name='aiohttp')\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    for args in (["whip-server"], ["whip", "http://127.0.0.1:1/whip", str(WHIP_IVF)]):
        proc = subprocess.run(
            CLI + args,
            env=dict(os.environ, PYTHONPATH=path),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().endswith("pip install 'pyrtcstack[whip]'"), proc.stderr


def _loopback_only() -> bool:
    from pyrtcstack.aio.ice import host_addresses

    return not host_addresses()


def test_whip_and_whep_without_an_address_say_which_option(tmp_path: Path) -> None:
    """On a machine with no address but loopback (the suite's namespace, an offline
    laptop) a WHIP/WHEP client towards another machine, or a server listening beyond
    loopback, names ``--host-address`` in one line; before, the session failed with the
    library's "no usable host address (Settings.host_addresses or allow_loopback)"."""
    require_module("aiohttp")
    if not _loopback_only():
        pytest.skip("needs a machine with loopback only (the suite runs in unshare -n)")
    # 192.0.2.1 (TEST-NET-1) is never contacted: the error comes before any socket
    for args in (
        ["whip", "http://192.0.2.1:1/whip", str(WHIP_IVF)],
        ["whep", "http://192.0.2.1:1/whep", "--out", str(tmp_path)],
        ["whip-server", "--listen", "0.0.0.0:0", "--no-auth", "--out", str(tmp_path)],
    ):
        check(args, "give --host-address IP")


def test_whip_to_a_server_on_this_machine_needs_no_address(tmp_path: Path) -> None:
    """With loopback only, ``whip-server`` on 127.0.0.1 and ``whip`` to it gather on
    loopback by themselves: the file is published and recorded."""
    require_module("aiohttp")
    if not _loopback_only():
        pytest.skip("needs a machine with loopback only (the suite runs in unshare -n)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [*CLI, "whip-server", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        code = 1
        for _ in range(50):  # until the server listens
            code, text = run(["whip", f"http://127.0.0.1:{port}/whip", str(WHIP_IVF)])
            if "Cannot connect" not in text:
                break
            time.sleep(0.2)
        assert code == 0, text
    finally:
        server.terminate()
        server.wait(timeout=10)
    recorded = list(tmp_path.glob("whip-*-video.ivf"))
    assert len(recorded) == 1 and recorded[0].stat().st_size > 1000, recorded
