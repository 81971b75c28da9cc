"""``pyrtcstack sdp explain|check`` and ``pyrtcstack demo`` on real browser SDPs."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from peers import PROJECT, corpus

from pyrtcstack.cli import main
from pyrtcstack.sdp import SessionDescription

CHROMIUM = resources.files("pyrtcstack").joinpath("data/chromium-offer.sdp").read_bytes()


@pytest.fixture
def offer_file(tmp_path: Path) -> Path:
    path = tmp_path / "offer.sdp"
    path.write_bytes(CHROMIUM)
    return path


def test_explain_walks_every_line_with_rfc_references(
    offer_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sdp", "explain", str(offer_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("This SDP has 2 media section(s); it is probably an OFFER — inferred")
    for line in CHROMIUM.decode().split("\r\n")[:-1]:
        assert line[:90] in out
    assert "RFC 9143 §7" in out and "RFC 8839 §5.1" in out and "RFC 8841 §5" in out
    assert "payload type 111 means opus at 48000 Hz, 2 channel(s)" in out
    assert "media section 2: application section, mid '1'" in out


def test_explain_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CHROMIUM)))
    assert main(["sdp", "explain", "-"]) == 0
    assert "DTLS role" in capsys.readouterr().out


def test_check_clean_browser_offer(offer_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdp", "check", str(offer_file)]) == 0
    assert "no interop problems found" in capsys.readouterr().out


def _edit(tmp_path: Path, old: str, new: str) -> Path:
    text = CHROMIUM.decode()
    assert old in text
    path = tmp_path / "edited.sdp"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2", "names mid '2', which no section has"),
        ("a=setup:actpass\r\na=mid:1", "a=setup:active\r\na=mid:1", "disagree on the DTLS role"),
        ("a=ice-ufrag:cZML\r\n", "", "no ICE credentials"),
        ("a=ice-pwd:HjipbC7eBIOE9/porG5DXX1v", "a=ice-pwd:short", "ice-pwd is 5 chars"),
        ("a=rtcp-mux\r\n", "", "no a=rtcp-mux"),
        ("a=mid:1", "a=mid:0", "mid '0' used by 2 sections"),
        ("a=rtpmap:110 telephone-event/48000\r\n", "", "dynamic payload type 110 has no a=rtpmap"),
    ],
)
def test_check_finds_interop_breakers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    assert main(["sdp", "check", str(_edit(tmp_path, old, new))]) == 1
    out = capsys.readouterr().out
    assert expected in out and "error(s) that break interop" in out


def test_check_missing_fingerprint_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "\r\n".join(
        x for x in CHROMIUM.decode().split("\r\n") if not x.startswith("a=fingerprint")
    )
    path = tmp_path / "nofp.sdp"
    path.write_text(text)
    assert main(["sdp", "check", str(path)]) == 1
    assert capsys.readouterr().out.count("no a=fingerprint") == 2


def test_check_answer_with_actpass(offer_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sdp", "check", "--type", "answer", str(offer_file)]) == 1
    assert "an answer must say active or passive" in capsys.readouterr().out


@pytest.mark.corpus
def test_check_corpus_answer_and_no_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    ok = corpus("sdp", "044-webrtc-sdp-firefox55-simulcast-answer.sdp")
    assert main(["sdp", "check", str(ok)]) == 0
    bad = corpus("sdp", "004-aiortc-freeswitch-no-fingerprint.sdp")
    assert main(["sdp", "check", str(bad)]) == 1
    assert "no a=fingerprint" in capsys.readouterr().out


def test_unparsable_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.sdp"
    bad.write_text("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n")
    assert main(["sdp", "check", str(bad)]) == 1
    assert main(["sdp", "explain", str(bad)]) == 1
    assert "line 5: m= port 70000 out of range" in capsys.readouterr().err
    assert main(["sdp", "explain", str(tmp_path / "missing.sdp")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_demo_explains_the_bundled_offer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--sdp"]) == 0
    out = capsys.readouterr().out
    assert "Chromium 156" in out and "live session" in out
    assert "probably an OFFER — inferred" in out and "Lossless round trip" in out


def test_demo_entry_point_runs_as_a_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "demo", "--sdp"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "a=group:BUNDLE 0 1" in result.stdout
    # The bundled file is the real browser SDP, unchanged by our writer.
    assert str(SessionDescription.parse(CHROMIUM)).encode() == CHROMIUM
