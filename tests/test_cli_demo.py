"""`pyrtcstack demo` — the README's first command — runs the live session by default."""

from __future__ import annotations

import pytest

from pyrtcstack.cli import main


def test_demo_runs_a_live_session_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--messages", "100", "--audio", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "summary" in out
    assert "DTLS: 1.2" in out
    assert "data channel: 100 messages" in out
    assert "audio frames received: A " in out


def test_demo_sdp_option_explains_the_bundled_offer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--sdp"]) == 0
    assert "probably an OFFER — inferred" in capsys.readouterr().out
