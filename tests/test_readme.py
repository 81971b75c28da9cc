"""The README's API example runs as written, against a real Chromium 156 offer.

The first ```python block of README.md is executed with ``open("offer.sdp")`` pointed at
the bundled browser SDP, so the README cannot drift from the API.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from peers import PROJECT


def _first_python_block() -> str:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md has no ```python block"
    return match.group(1)


def test_readme_example_runs_on_a_real_browser_offer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp")
    (tmp_path / "offer.sdp").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = _first_python_block()
    assert 'open("offer.sdp")' in code
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    # The example walks both sections of the Chromium offer.
    assert "audio 0 sendrecv" in out
    assert "application 1 None" in out
    assert "ice: cZML setup: actpass" in out
    assert "fingerprint: sha-256 A5:9B:FB:9F:E6:DE:89:61 ..." in out
    assert "candidate: host udp 127.0.0.1 33802" in out
    assert "codec: 111 opus 48000 {'minptime': '10', 'useinbandfec': '1'}" in out


def test_readme_peer_connection_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    code = next(b for b in blocks if "PeerConnection" in b)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert "hello" in capsys.readouterr().out
