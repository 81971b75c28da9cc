"""The pure parts of the GStreamer and Janus peers: configuration, command lines, plans,
and the one-line CLI error when Janus cannot gather (no peer is started here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyrtcstack.interop import PeerUnavailableError, default_plan
from pyrtcstack.interop import janus as janus_module
from pyrtcstack.interop.janus import ECHO_PREFIX, janus_config
from pyrtcstack.interop.launchers import gstreamer_command


def test_janus_config_is_loopback_api_and_one_plugin(tmp_path: Path) -> None:
    files = janus_config(str(tmp_path), 18088, "10.213.0.1")
    assert set(files) == {"janus.jcfg", "janus.transport.http.jcfg", "janus.plugin.echotest.jcfg"}
    http = files["janus.transport.http.jcfg"]
    assert 'ip = "127.0.0.1"' in http and "port = 18088" in http
    assert "admin_http = false" in http and "https = false" in http
    core = files["janus.jcfg"]
    assert 'ice_enforce_list = "10.213.0.1"' in core
    assert f'plugins_folder = "{tmp_path}/plugins"' in core
    assert "stun_server" not in core and "turn_server" not in core  # no default STUN
    assert "broadcast = false" in core  # no event handlers
    assert ECHO_PREFIX == "Janus EchoTest here! You wrote: "


def test_janus_without_a_non_loopback_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(janus_module, "host_addresses", lambda: ["::1"])
    with pytest.raises(PeerUnavailableError, match="non-loopback IPv4"):
        janus_module.ice_address()


def test_cli_janus_without_an_address_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyrtcstack.cli import main

    monkeypatch.setattr(janus_module, "host_addresses", list)
    assert main(["interop", "janus"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("janus: "), err


def test_gstreamer_command_runs_the_system_python_without_our_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setenv("VIRTUAL_ENV", "/venv")
    cmd, env = gstreamer_command("/usr/bin/python3", "http://127.0.0.1:1/")
    assert cmd[0] == "/usr/bin/python3" and cmd[-1] == "http://127.0.0.1:1/"
    assert os.path.isfile(cmd[1]) and cmd[1].endswith("gst_peer.py")
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env


def test_plans() -> None:
    gst = default_plan("gstreamer")
    specs = [s for item in gst for s in item.scenarios]
    assert not any(s["restart"] for s in specs)  # webrtcbin 1.22 has no ICE restart
    assert {s["role"] for s in specs} == {"we-offer", "peer-offers"}
    assert sum(bool(s["relay"]) for s in specs) == 2
    assert sum(bool(s["audio"]) for s in specs) == 2
    # our default is 1.3-capable (webrtcbin falls back); the second launch forces 1.2
    assert gst[1].label == "dtls1.2" and gst[1].dtls_versions == ("1.2",)
    (janus,) = default_plan("janus")
    assert {s["role"] for s in janus.scenarios} == {"we-offer"}  # echotest only answers
    assert {s["trickle"] for s in janus.scenarios} == {True, False}
    assert sum(bool(s["relay"]) for s in janus.scenarios) == 1


def test_opus_check_refuses_what_is_not_opus_sound() -> None:
    import asyncio

    from pyrtcstack.interop.opus import check_opus_frames
    from pyrtcstack.media import EncodedFrame

    assert "expected opus" in asyncio.run(check_opus_frames([], "PCMU"))
    # Packets that are not Opus speech: ffmpeg fails or decodes silence, never a pass.
    frames = [EncodedFrame(b"\xfc\xff\xfe", 960 * i) for i in range(100)]
    problem = asyncio.run(check_opus_frames(frames, "opus"))
    assert problem, problem
