"""Every subcommand's ``--help``: its own description, help text for every option, no reST
markup; ``--version``; every server says where it listens by default."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from pyrtcstack import __version__
from pyrtcstack.cli import build_parser

MARKUP = re.compile(r"``|:(mod|func|class|meth|data|attr|exc|obj):`")
SERVERS = ["stun-server", "turn-server", "signaling-server", "dtls listen", "whip-server"]


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command parser by its name, e.g. ``"dtls connect"``."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return found


COMMANDS = _commands()


def test_every_command_is_found() -> None:
    expected = "stun stun-server turn turn-server send receive chat signaling-server demo interop"
    for name in [*expected.split(), "dtls connect", "dtls listen", "sdp check", "sdp explain"]:
        assert name in COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_has_a_description_and_help_for_every_option(name: str) -> None:
    parser = COMMANDS[name]
    assert parser.description and len(parser.description) > 40, name
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    text = parser.format_help()
    assert not MARKUP.search(text), (name, MARKUP.search(text))


def test_descriptions_are_their_own() -> None:
    """No two commands share a description (``stun``/``stun-server`` did)."""
    seen: dict[str, str] = {}
    for name, parser in COMMANDS.items():
        if name in ("dtls", "sdp"):  # the groups; their actions have their own
            continue
        assert parser.description not in seen, (name, seen.get(str(parser.description)))
        seen[str(parser.description)] = name


@pytest.mark.parametrize("name", SERVERS)
def test_servers_say_they_listen_on_loopback_by_default(name: str) -> None:
    text = " ".join(COMMANDS[name].format_help().split())
    assert "127.0.0.1" in text and "0.0.0.0" in text, text


def test_dtls_is_not_described_as_1_2_only() -> None:
    top = build_parser().format_help()
    assert "DTLS 1.2/1.3" in top
    assert "1.3" in COMMANDS["dtls"].description  # type: ignore[operator]


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pyrtcstack", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert out == f"pyrtcstack {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|a\d+|b\d+|rc\d+)?", __version__)


def test_version_has_one_source_of_truth() -> None:
    """pyproject.toml reads the version from pyrtcstack/__init__.py (no second copy)."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pyrtcstack.__version__"}
