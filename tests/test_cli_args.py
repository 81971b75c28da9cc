"""The command line's text parsers (``cli/_args.py``): addresses, ports, URLs and numbers
give a valid value or their documented refusal; properties with hypothesis, and the fuzz
harness (fuzz/fuzz_cli_args.py) over seeds."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrtcstack.cli._args import CliError, format_address, number, parse_host_port, ws_url
from pyrtcstack.cli.stun import parse_hostport


def test_forms() -> None:
    assert parse_host_port("example.org:19302") == ("example.org", 19302)
    assert parse_host_port("[2001:db8::1]:5000") == ("2001:db8::1", 5000)
    assert parse_host_port("2001:db8::1", default_port=3478) == ("2001:db8::1", 3478)
    assert parse_host_port("4444", default_host="127.0.0.1", listen=True) == ("127.0.0.1", 4444)
    assert parse_host_port("0.0.0.0:0", listen=True) == ("0.0.0.0", 0)
    assert parse_hostport("stun:stun.example.org") == ("stun.example.org", 3478)
    assert parse_hostport("stun:[::1]:3479?transport=udp") == ("::1", 3479)
    assert parse_host_port("[fe80::1%eth0]:80") == ("fe80::1%eth0", 80)


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1:99999",
        "127.0.0.1:-5",
        "127.0.0.1:0",
        "host:",
        ":80",
        "not a host!!:1",
        "[::1",
        "[::1]x",
        "1.2.3:80",
        "a..b:80",
        "",
        "127.0.0.1:+80",
        "127.0.0.1: 80",
        "127.0.0.1:²",  # a digit to str.isdigit(), not to int()
        "127.0.0.1:٣٤٧٨",
        "host\n:80",
        "[::%7:x]y]:1",  # an IPv6 zone is a name, not any text
        "[fe80::1%a b]:1",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(CliError):
        parse_host_port(text)


def test_urls_and_numbers() -> None:
    assert ws_url("wss://signal.example:8765/x") == "wss://signal.example:8765/x"
    for bad in ("htp://x", "127.0.0.1:8765", "ws://", "ws://host:99999"):
        with pytest.raises(argparse.ArgumentTypeError):
            ws_url(bad)
    for bad in ("nan", "inf", "-1", "0", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            number(above=0)(bad)


hosts = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{1,8}){0,3}", fullmatch=True).filter(
        lambda h: not h.replace(".", "").isdigit()
    ),
)


@settings(max_examples=300)
@given(hosts, st.integers(1, 65535))
def test_round_trip(host: str, port: int) -> None:
    assert parse_host_port(format_address((host, port))) == (host, port)


@settings(max_examples=300)
@given(st.text(max_size=80), st.booleans())
def test_hostile_text_gives_only_cli_error(text: str, listen: bool) -> None:
    try:
        host, port = parse_host_port(text, default_port=3478, listen=listen)
    except CliError:
        return
    assert host and (0 if listen else 1) <= port <= 65535


@settings(max_examples=200)
@given(st.integers(-(10**6), 10**6))
def test_ports_are_never_wrapped(port: int) -> None:
    try:
        _, got = parse_host_port(f"127.0.0.1:{port}")
    except CliError:
        assert not 1 <= port <= 65535
        return
    assert got == port


def test_fuzz_harness_over_seeds() -> None:
    path = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_cli_args.py"
    spec = importlib.util.spec_from_file_location("fuzz_cli_args", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for seed in (
        b"",
        b"127.0.0.1:3478",
        b"[::1]:0",
        b"stun:x:99999",
        b"wss://a:1/",
        b"\xff",
        b"1e309",
        b"0.0.0.0:65535",
        b"ws://[::1]:80",
    ):
        module.TestOneInput(seed)


def test_progress_shows_a_rate_and_eta_once_known(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No rate or ETA before 0.2 s (nothing to tell yet); then both; the final line has the
    rate and no ETA (tests/test_browser_transfer.py sees a real transfer's lines)."""
    from pyrtcstack.cli import _transfer

    clock = [100.0]
    monkeypatch.setattr(_transfer.time, "monotonic", lambda: clock[0])
    progress = _transfer.Progress(10_000_000, "send x")
    progress.update(0)
    clock[0] += 0.15
    progress.update(1_000_000)
    clock[0] += 0.85
    progress.update(4_000_000)
    clock[0] += 1.0
    progress.update(10_000_000, final=True)
    lines = [ln.strip() for ln in re.split(r"[\r\n]", capsys.readouterr().err) if ln.strip()]
    assert lines[0].endswith("0.0 of 10.0 MB, starting")
    assert "MB/s" not in lines[1] and "ETA" not in lines[1]
    assert lines[2].endswith("4.0 of 10.0 MB, 4.0 MB/s, ETA 0:01")
    assert lines[3].endswith("10.0 of 10.0 MB, 5.0 MB/s")
