"""How tests find their real peers, the shared corpus, and what happens when one is missing.

Outside CI a missing peer *skips* with a clear reason. With ``CI=true`` every interop peer is
mandatory: a missing one *fails* the test, so a green CI run proves the interop happened.
The shared conformance corpus (``../shared/corpus``) is optional everywhere: tests that
read it skip when it is absent.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"


def peer_missing(reason: str) -> NoReturn:
    """Skip (or, in CI, fail) because an interop peer is not available."""
    if IN_CI:
        pytest.fail(f"interop peer missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, debian_package: str) -> str:
    """Return the path of executable ``name`` or skip/fail naming the package to install."""
    path = shutil.which(name)
    if path is None:
        peer_missing(
            f"{name} not found (Debian package {debian_package!r}; "
            "`bash scripts/setup.sh --system` as root installs it)"
        )
    return path


def require_module(name: str, pip_name: str | None = None) -> ModuleType:
    """Import and return a Python peer module (aiortc, aioice, ...) or skip/fail."""
    try:
        return importlib.import_module(name)
    except ImportError:
        peer_missing(
            f"Python package {pip_name or name!r} is not installed "
            "(`bash scripts/setup.sh` installs the test extras)"
        )


def corpus(*parts: str) -> Path:
    """Path inside ../shared/corpus; skips the test when the corpus is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared corpus not present at {path}")
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    """An ephemeral UDP port that is free right now on ``host`` (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
